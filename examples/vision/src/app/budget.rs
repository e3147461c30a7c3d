//! `--latency-budget` and `--mac-budget`: structural plans within a measured latency or a MAC
//! count (hardware-aware widths), recorded with the run so that `report` shows the target
//! next to the measurement.

use super::context::Context;
use super::error::Result;
use super::network::{Network, forward};
use super::spec::PruneSpec;
use burn::module::Module;
use burn_prune::metrics::hardware::{HardwareConfig, LatencyCost, LatencyTable, MacCost};
use burn_prune::structure::{BudgetPlan, DependencyGraph, GroupCost, trace};
use std::collections::BTreeMap;

/// The file under the runs directory that keeps the measured layer latencies.
pub const TABLE_FILE: &str = "latency-table.json";

/// A cost model and the budget a spec asks of it.
pub struct Budget {
    /// The cost of kept widths.
    pub cost: Box<dyn GroupCost>,
    /// The most the pruned network may cost.
    pub budget: f64,
    /// The dense network's cost.
    pub dense: f64,
}

/// The budget of `spec`, if it has one: a latency measured on the run's device (the layer
/// table loaded from and saved to the runs directory), or the MACs of the traced network.
pub fn of_spec(
    ctx: &Context,
    model: &Network,
    graph: &DependencyGraph,
    spec: &PruneSpec,
) -> Result<Option<Budget>> {
    let model = model.valid();
    if let Some(fraction) = spec.latency_budget {
        let path = ctx.runs.join(TABLE_FILE);
        let mut table = LatencyTable::load_or_default(&path)?;
        let cost = LatencyCost::measure(
            &model,
            ctx.input(spec.budget_batch),
            &ctx.device,
            forward,
            graph,
            &mut table,
            &HardwareConfig::new(),
        )?;
        table.save(&path)?;
        let dense = cost.measured_dense();
        return Ok(Some(Budget {
            cost: Box::new(cost),
            budget: fraction * dense,
            dense,
        }));
    }
    if let Some(fraction) = spec.mac_budget {
        let traced = trace(&model, ctx.input(1), forward)?;
        let cost = MacCost::new(&traced, graph);
        let full: Vec<usize> = graph.groups.iter().map(|g| g.n_units).collect();
        let dense = cost.cost(&full);
        return Ok(Some(Budget {
            cost: Box::new(cost),
            budget: fraction * dense,
            dense,
        }));
    }
    Ok(None)
}

/// Record a budget plan in a run's values and print it.
pub fn record(plan: &BudgetPlan, spec: &PruneSpec, values: &mut BTreeMap<String, f64>) {
    let prefix = if spec.latency_budget.is_some() {
        values.insert("budget_batch".into(), spec.budget_batch as f64);
        "latency"
    } else {
        "macs"
    };
    values.insert(format!("{prefix}_target"), plan.budget);
    values.insert(format!("{prefix}_predicted"), plan.predicted);
    values.insert(format!("{prefix}_dense"), plan.dense);
    println!("{plan}");
}

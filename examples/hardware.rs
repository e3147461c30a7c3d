//! Hardware-aware structural pruning: widths chosen from measured latency, and latency
//! budgets, against the uniform 50% plan, on ResNet-56 (option-B shortcuts).
//!
//! `cargo run --release --example hardware` (CPU, flex backend; about a minute the first time,
//! to measure the layers; the table is kept in `target/latency-flex.json` and reused)
//!
//! For batch 64 and batch 1 it measures the layers and the dense model, calibrates the cost on
//! the uniform plan's compacted model (`LatencyCost::calibrate`), and prints, for each plan, its
//! MACs and MAC ratio, the latency the calibrated cost model predicts (split into the measured
//! layers and the rest) and the uncalibrated one, the measured latency and speedup (dense and
//! pruned timed alternately in the same run), and the share of the MAC ratio the measured
//! speedup reaches:
//!
//! - `uniform 50%`: half of every group's channels by L1 norm (`GroupPruner::plan`), the
//!   calibration point;
//! - `latency = uniform`: the uniform plan's measured latency as a budget, spent where the
//!   measured table says channels cost least per importance (`GroupPruner::plan_within` on
//!   the calibrated `LatencyCost`);
//! - `latency 40%`: a budget of 40% of the dense model's measured latency;
//! - `uncalibrated`: `latency = uniform` planned with the uncalibrated cost;
//! - `MACs = uniform`: the uniform plan's MACs as a budget (`MacCost`), for comparison.

use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::metrics::hardware::{
    HardwareConfig, LatencyCost, LatencyTable, MacCost, forward_ms,
};
use burn_prune::metrics::{Convention, LatencyConfig, ModelMetrics};
use burn_prune::models::{ResNetCifar, ResNetCifarConfig, ShortcutKind, initialized};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupCost, GroupPrunerConfig, StructuralPlan, trace,
};
use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let device = Device::flex();
    device.seed(0);
    let table_path = std::path::Path::new("target").join("latency-flex.json");
    let mut table = LatencyTable::load_or_default(&table_path)?;
    let model = initialized(
        ResNetCifarConfig::new(56)
            .with_shortcut(ShortcutKind::B)
            .init(&device)?,
    );
    let forward = |m: &ResNetCifar, x: Tensor<4>| m.forward(x);
    let dense_macs = ModelMetrics::of_model(&model, [1, 3, 32, 32], forward)?;
    let pruner = GroupPrunerConfig::new(0.5).init(Magnitude::l1())?;

    for batch in [64, 1] {
        let shape = [batch, 3, 32, 32];
        let traced = trace(&model, shape, forward)?;
        let graph = DependencyGraph::build(&traced, &GraphOptions::default())?;
        let mut latency = LatencyCost::measure(
            &model,
            shape,
            &device,
            forward,
            &graph,
            &mut table,
            &HardwareConfig::new(),
        )?;
        table.save(&table_path)?;
        let macs = MacCost::new(&traced, &graph);

        let keep = pruner.keep(&model, &graph)?;
        let uniform_kept: Vec<usize> = keep
            .iter()
            .map(|k| k.iter().filter(|&&k| k).count())
            .collect();
        let uniform = StructuralPlan::from_groups(&graph, &keep)?;
        // Calibrate on the uniform plan's compacted model, measured at this batch.
        let uncalibrated = latency.clone();
        let uniform_ms = forward_ms(
            &uniform.apply(model.clone())?,
            shape,
            &device,
            forward,
            &HardwareConfig::new(),
        )?;
        latency.calibrate(&uniform_kept, uniform_ms)?;
        let within = |cost: &dyn GroupCost, budget: f64| -> Result<_, Box<dyn Error>> {
            let p = pruner.plan_within(&model, &graph, cost, budget)?;
            Ok((p.plan, p.kept))
        };
        let plans: Vec<(&str, (StructuralPlan, Vec<usize>))> = vec![
            ("uniform 50%", (uniform, uniform_kept.clone())),
            (
                "latency = uniform",
                within(&latency, latency.cost(&uniform_kept))?,
            ),
            (
                "latency 40%",
                within(&latency, 0.4 * latency.measured_dense())?,
            ),
            (
                "  uncalibrated",
                within(&uncalibrated, uncalibrated.cost(&uniform_kept))?,
            ),
            ("MACs = uniform", within(&macs, macs.cost(&uniform_kept))?),
        ];
        let full: Vec<usize> = graph.groups.iter().map(|g| g.n_units).collect();
        let (layers, rest) = latency.split(&full);
        println!(
            "\nResNet-56-B, batch {batch}: dense {:.2} ms measured ({:.2} M MACs per image): \
             {layers:.2} ms in the measured conv/linear layers, {rest:.2} ms in the rest",
            latency.measured_dense(),
            dense_macs.macs(Convention::Papers) as f64 / 1e6
        );
        println!(
            "{:<18} {:>7} {:>9} {:>12} {:>15} {:>12} {:>12} {:>8} {:>12}",
            "plan",
            "M MACs",
            "MAC ratio",
            "predicted ms",
            "(layers + rest)",
            "uncalibrated",
            "measured ms",
            "speedup",
            "of MAC ratio"
        );
        for (name, (plan, kept)) in plans {
            let predicted = latency.cost(&kept);
            let (layers, rest) = latency.split(&kept);
            let raw = uncalibrated.cost(&kept);
            let small = plan.apply(model.clone())?;
            let small_macs = ModelMetrics::of_model(&small, [1, 3, 32, 32], forward)?;
            let ratio = dense_macs.macs(Convention::Papers) as f64
                / small_macs.macs(Convention::Papers) as f64;
            let runs = if batch == 1 { 60 } else { 15 };
            let cmp = LatencyConfig::new(batch)
                .with_runs(runs)
                .with_warmup(3)
                .compare(
                    (&model, forward),
                    (&small, forward),
                    [3, 32, 32],
                    &device,
                    ratio,
                )?;
            println!(
                "{:<18} {:>7.2} {:>8.2}× {:>12.2} {:>15} {:>12.2} {:>12.2} {:>7.2}× {:>11.0}%",
                name,
                small_macs.macs(Convention::Papers) as f64 / 1e6,
                ratio,
                predicted,
                format!("({layers:.1} + {rest:.1})"),
                raw,
                cmp.pruned.median().as_secs_f64() * 1e3,
                cmp.measured_speedup,
                100.0 * cmp.efficiency()
            );
        }
    }
    Ok(())
}

//! Hardware-aware widths on wgpu: a MAC budget chooses the same plan as on the CPU, and the
//! layer latencies are measured on the GPU itself.

use crate::common::SmallCnn;
use crate::wgpu;
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::metrics::hardware::{
    HardwareConfig, LatencyCost, LatencyTable, MacCost, device_name,
};
use burn_prune::structure::{DependencyGraph, GraphOptions, GroupCost, GroupPrunerConfig, trace};

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn mac_budget_plans_on_wgpu_equal_cpu_and_latency_is_measured_on_the_gpu() {
    let cpu = Device::flex();
    cpu.seed(11);
    let model = SmallCnn::new(&[3, 8, 16], 4, &cpu);
    let on_gpu = model.clone().to_device(&wgpu());
    let shape = [2, 3, 8, 8];
    let forward = |m: &SmallCnn, x| m.forward(x);
    let pruner = GroupPrunerConfig::new(0.0).init(Magnitude::l1()).unwrap();
    let plan_on = |m: &SmallCnn| {
        let t = trace(m, shape, forward).unwrap();
        let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
        let cost = MacCost::new(&t, &graph);
        let full: Vec<usize> = graph.groups.iter().map(|g| g.n_units).collect();
        let budget = 0.5 * cost.cost(&full);
        (pruner.plan_within(m, &graph, &cost, budget).unwrap(), graph)
    };
    let (cpu_plan, _) = plan_on(&model);
    let (gpu_plan, graph) = plan_on(&on_gpu);
    assert_eq!(gpu_plan.plan, cpu_plan.plan);
    assert_eq!(gpu_plan.predicted, cpu_plan.predicted);

    let mut table = LatencyTable::default();
    let config = HardwareConfig::new().with_points_per_axis(2).with_runs(1);
    let cost = LatencyCost::measure(
        &on_gpu,
        shape,
        &wgpu(),
        forward,
        &graph,
        &mut table,
        &config,
    )
    .unwrap();
    assert!(table.entries.contains_key(&device_name(&wgpu())));
    assert!(!table.entries.contains_key(&device_name(&cpu)));
    let full: Vec<usize> = graph.groups.iter().map(|g| g.n_units).collect();
    assert!(cost.cost(&full).is_finite() && cost.cost(&full) > 0.0);
}

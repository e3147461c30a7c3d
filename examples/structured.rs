//! Structural pruning: remove half of ResNet-56's channels for real, save the smaller model,
//! load it again and run it.
//!
//! `cargo run --release --example structured` (CPU, flex backend; no set-up, no download)
//!
//! 1. trace one forward pass and find the dependency groups (every parameter dimension that
//!    must lose the same channels: a conv's filters, its BatchNorm, the next conv's inputs,
//!    everything joined by residual adds);
//! 2. rank each group's channels by the L1 norm of their weights and keep the best half;
//! 3. compact: a `ResNetCifar` with smaller tensors, saved with Burn's records;
//! 4. replay the JSON plan on a freshly built ResNet-56, load the saved record, run it;
//! 5. measure: per-layer report (params, MACs), plots, and measured vs theoretical speedup.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::criterion::Magnitude;
use burn_prune::metrics::{Convention, LatencyConfig, ModelMetrics, PruningReport};
use burn_prune::models::{ResNetCifar, ResNetCifarConfig, param_count};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupPrunerConfig, StructuralPlan, trace,
};
use std::error::Error;
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    let device = Device::flex();
    device.seed(0);
    let config = ResNetCifarConfig::new(56);
    let model = config.init(&device)?;
    let dense_params = param_count(&model);
    let forward = |m: &ResNetCifar, x: Tensor<4>| m.forward(x);
    let dense_metrics = ModelMetrics::of_model(&model, [1, 3, 32, 32], forward)?;

    // 1. Trace and group.
    let started = Instant::now();
    let traced = trace(&model, [1, 3, 32, 32], |m, x| m.forward(x))?;
    let graph = DependencyGraph::build(&traced, &GraphOptions::default())?;

    // 2. Rank and select: half of every group's free channels, by L1 norm.
    let pruner = GroupPrunerConfig::new(0.5).init(Magnitude::l1())?;
    let keep = pruner.keep(&model, &graph)?;
    let plan = StructuralPlan::from_groups(&graph, &keep)?;
    println!(
        "{} operations traced, {} dependency groups; planned in {:.0?}\n",
        traced.operations().len(),
        graph.groups.len(),
        started.elapsed()
    );
    print_groups(&graph, &keep);

    // 3. Compact: the same Rust type with smaller tensors.
    let small = plan.apply(model)?;
    let small_params = param_count(&small);
    println!(
        "\nparameters: {dense_params} -> {small_params} ({:.1}% removed)",
        100.0 * (dense_params - small_params) as f64 / dense_params as f64
    );

    let dir = std::env::temp_dir().join("burn-prune-structured");
    std::fs::create_dir_all(&dir)?;
    let plan_path = dir.join("resnet56-plan.json");
    let model_path = dir.join("resnet56-pruned.bpk");
    // Written atomically (temporary file, synced, renamed): a crash leaves no half file.
    burn_prune::write_atomic(&plan_path, plan.to_json()?.as_bytes())?;
    burn_prune::write_atomic(&model_path, &small.clone().into_record().into_bytes()?)?;
    println!("saved {} and {}", plan_path.display(), model_path.display());

    // 4. Reload: a fresh ResNet-56, cut to the planned shapes, then the saved weights.
    let plan = StructuralPlan::from_json(&std::fs::read_to_string(&plan_path)?)?;
    let reloaded: ResNetCifar = plan
        .apply(config.init(&device)?)?
        .try_load_file(&model_path)?;
    let x = Tensor::<4>::random([8, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let a = small.forward(x.clone());
    let b = reloaded.forward(x);
    let diff = (a - b.clone()).abs().max().into_scalar::<f32>();
    println!(
        "reloaded model: logits {:?}, max difference to the saved one {diff:e}",
        b.dims()
    );

    // 5. Measure: per-layer table, plots, and forward latency at batch 64 (median of 5).
    let small_metrics = ModelMetrics::of_model(&reloaded, [1, 3, 32, 32], forward)?;
    let report = PruningReport::new(&dense_metrics, &small_metrics, Convention::Papers);
    let rows: Vec<String> = report.to_string().lines().map(String::from).collect();
    println!("\n{}", rows[..6].join("\n"));
    println!(
        "... {} layers in all\n{}",
        report.rows.len(),
        rows[rows.len() - 1]
    );
    let plots = report.plot(&dir, "svg")?;
    burn_prune::write_atomic(dir.join("report.csv"), report.to_csv().as_bytes())?;
    println!(
        "plots and CSV in {}: {} files",
        dir.display(),
        plots.len() + 1
    );
    let dense = config.init(&device)?;
    let latency = LatencyConfig::new(64).with_warmup(1).with_runs(5).compare(
        (&dense, forward),
        (&reloaded, forward),
        [3, 32, 32],
        &device,
        report.totals.theoretical_speedup,
    )?;
    println!("forward, {latency}");
    Ok(())
}

/// One line per group with prunable channels: its first layer, size, and what is kept.
fn print_groups(graph: &DependencyGraph, keep: &[Vec<bool>]) {
    println!(
        "{:<4} {:<32} {:>7} {:>6} {:>6} {:>5}",
        "grp", "first layer", "members", "units", "pinned", "kept"
    );
    let mut shown = 0;
    for (i, (g, k)) in graph.groups.iter().zip(keep).enumerate() {
        if g.prunable() == 0 {
            continue;
        }
        shown += 1;
        if shown > 12 {
            continue;
        }
        println!(
            "{i:<4} {:<32} {:>7} {:>6} {:>6} {:>5}",
            g.root(),
            g.members.len(),
            g.n_units,
            g.pinned.len(),
            k.iter().filter(|&&k| k).count()
        );
    }
    if shown > 12 {
        println!("... and {} more groups like these", shown - 12);
    }
    let fixed = graph.groups.len() - shown;
    println!("{fixed} groups are fixed (the classifier's outputs and similar)");
}

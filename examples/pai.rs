//! Pruning at initialization: the layer-wise densities that SNIP, GraSP, SynFlow, ERK,
//! uniform, random and PreCrop give ResNet-20 at 90% sparsity, side by side and plotted.
//!
//! `cargo run --release --example pai` (CPU, flex backend; no set-up, no download)
//!
//! SNIP and GraSP need data: this example feeds them synthetic CIFAR-shaped batches (noise
//! images, random labels), which is enough to show how each method distributes the budget;
//! the CIFAR-10 pipeline feeds them real images. SynFlow, the baselines and PreCrop need no
//! data at all. PreCrop is shown twice: its layer densities (unstructured, weights chosen at
//! random) and its channel allocation (structured: the network becomes narrower).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::metrics::plot::{Series, line_plot};
use burn_prune::models::{ResNetCifar, ResNetCifarConfig, param_count};
use burn_prune::pai::{Baseline, GraspConfig, PreCropConfig, Snip, SynFlowConfig};
use burn_prune::{MaskSet, ParamSelector, PrunerConfig, criterion::Random, param_addresses};
use std::collections::BTreeMap;
use std::error::Error;
use std::time::Instant;

const SPARSITY: f64 = 0.9;
const INPUT: [usize; 4] = [1, 3, 32, 32];

fn main() -> Result<(), Box<dyn Error>> {
    // SNIP and GraSP differentiate the loss: the model lives on an autodiff device.
    let device = Device::flex().autodiff();
    device.seed(0);
    let model = ResNetCifarConfig::new(20).init(&device)?;
    let forward = |m: &ResNetCifar, x: Tensor<4>| m.forward(x);
    let selector = ParamSelector::default();
    let batches = synthetic_batches(4, 32, &device);
    let mut methods: Vec<(&str, BTreeMap<String, f64>)> = Vec::new();
    let timed = |name: &str, started: Instant| println!("{name:<18} {:>8.2?}", started.elapsed());

    let started = Instant::now();
    let snip = PrunerConfig::new(SPARSITY).init(Snip)?.masks_with_data(
        &model,
        batches.iter().take(1).cloned(),
        |m, (x, y)| {
            CrossEntropyLossConfig::new()
                .init(&x.device())
                .forward(m.forward(x), y)
        },
    )?;
    methods.push(("SNIP", densities(&snip)));
    timed("SNIP", started);

    let started = Instant::now();
    let grasp = GraspConfig::new()
        .init()?
        .scores(&model, &batches, |m, (x, y)| (m.forward(x), y))?;
    let masks = PrunerConfig::new(SPARSITY)
        .init(grasp.criterion())?
        .masks(&model)?;
    methods.push(("GraSP", densities(&masks)));
    timed("GraSP", started);

    let started = Instant::now();
    let (_, masks) = SynFlowConfig::new()
        .init()?
        .prune(model.clone(), SPARSITY, INPUT, forward)?;
    methods.push(("SynFlow (100 rounds)", densities(&masks)));
    timed("SynFlow", started);

    for (name, baseline) in [
        ("ERK", Baseline::Erk),
        ("uniform", Baseline::Uniform),
        ("random", Baseline::Random),
    ] {
        let masks = baseline
            .pruner(&model, SPARSITY, &selector, 1)?
            .masks(&model)?;
        methods.push((name, densities(&masks)));
    }

    let started = Instant::now();
    let precrop = PreCropConfig::new()
        .with_params(Some(1.0 - SPARSITY))
        .init()?;
    let allocation = precrop.densities(&model, INPUT, forward)?;
    let masks = PrunerConfig::new(0.0)
        .with_scope(allocation.scope())
        .init(Random::new(1))?
        .masks(&model)?;
    methods.push(("PreCrop (densities)", densities(&masks)));
    timed("PreCrop densities", started);

    let started = Instant::now();
    let channels = precrop.channels(&model, INPUT, forward)?;
    let narrow = channels.plan()?.apply(model.clone())?;
    methods.push(("PreCrop (channels)", channels.densities()));
    timed("PreCrop channels", started);

    // Network order (the order Burn visits parameters), not alphabetical.
    let order: Vec<String> = param_addresses(&model)
        .into_iter()
        .map(|a| a.path)
        .filter(|p| methods[0].1.contains_key(p))
        .collect();
    print_table(&order, &methods);
    println!(
        "\nPreCrop (channels): {} -> {} parameters, a physically smaller ResNet-20; stage 3's \
         first block is now {:?}",
        param_count(&model),
        param_count(&narrow),
        narrow.layer3[0].conv1.conv.weight.dims()
    );

    let series: Vec<Series> = methods
        .iter()
        .map(|(name, d)| {
            let points = order
                .iter()
                .enumerate()
                .map(|(i, p)| (i as f64, d[p]))
                .collect();
            Series::new(*name, points)
        })
        .collect();
    let path = std::env::temp_dir()
        .join("burn-prune-pai")
        .join("resnet20-densities.png");
    line_plot(
        &path,
        "ResNet-20 at 90% sparsity: layer densities at initialization",
        "layer (conv and linear weights, network order)",
        "density (fraction kept)",
        &series,
    )?;
    println!("plot: {}", path.display());
    Ok(())
}

/// `n` batches of `size` noise images `[size, 3, 32, 32]` with random labels.
fn synthetic_batches(n: usize, size: usize, device: &Device) -> Vec<(Tensor<4>, Tensor<1, Int>)> {
    (0..n)
        .map(|_| {
            let x = Tensor::random([size, 3, 32, 32], Distribution::Normal(0.0, 1.0), device);
            let y = Tensor::<1>::random([size], Distribution::Uniform(0.0, 10.0), device).int();
            (x, y)
        })
        .collect()
}

/// The fraction of each masked parameter's weights kept.
fn densities(masks: &MaskSet) -> BTreeMap<String, f64> {
    masks
        .iter()
        .map(|m| (m.path.clone(), m.density()))
        .collect()
}

/// One row per layer, one column per method.
fn print_table(order: &[String], methods: &[(&str, BTreeMap<String, f64>)]) {
    let short: Vec<String> = methods
        .iter()
        .map(|(n, _)| n.split(' ').next().unwrap_or(n).to_string())
        .collect();
    print!("\n{:<28}", "layer");
    for (name, (full, _)) in short.iter().zip(methods) {
        let suffix = if full.contains("channels") { "-ch" } else { "" };
        print!(" {:>9}", format!("{name}{suffix}"));
    }
    println!();
    for path in order {
        print!("{:<28}", path.trim_end_matches(".weight"));
        for (_, d) in methods {
            print!(" {:>9.3}", d.get(path).copied().unwrap_or(f64::NAN));
        }
        println!();
    }
}

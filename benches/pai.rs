//! Pruning at initialization at CIFAR shapes on the flex backend (f64 passes).
//!
//! `cargo bench --bench pai`
//!
//! - `synflow_100_rounds/*`: the whole iterative SynFlow to 99% sparsity (100 rounds of
//!   forward + backward on the linearised `f64` copy, scoring and global selection, masks
//!   installed) on ResNet-56 and VGG-16 (32×32 input);
//! - `synflow_round/*`: one round's scores alone;
//! - `precrop/*`: PreCrop on ResNet-110 (10% of the weights, 20% of the MACs): the layer-wise
//!   densities (`densities`: trace, count, solve 109 variables) and the channel allocation
//!   (`channels`: trace, dependency graph, condensation rounds of the geometric program over
//!   the channel groups, rounding).

use burn::prelude::*;
use burn_prune::models::{ResNetCifar, ResNetCifarConfig, Vgg, VggConfig};
use burn_prune::pai::{PreCropConfig, SynFlowConfig};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    device.seed(0);
    let resnet = ResNetCifarConfig::new(56).init(&device).unwrap();
    let vgg = VggConfig::vgg16().init(&device).unwrap();
    let resnet_forward = |m: &ResNetCifar, x| m.forward(x);
    let vgg_forward = |m: &Vgg, x| m.forward(x);
    let synflow = SynFlowConfig::new().init().unwrap();

    let mut group = c.benchmark_group("synflow_round");
    group.sample_size(10);
    group.bench_function("resnet56", |b| {
        b.iter(|| {
            synflow
                .scores(&resnet, [1, 3, 32, 32], resnet_forward)
                .unwrap()
        })
    });
    group.bench_function("vgg16", |b| {
        b.iter(|| synflow.scores(&vgg, [1, 3, 32, 32], vgg_forward).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("synflow_100_rounds");
    group.sample_size(10);
    group.bench_function("resnet56", |b| {
        b.iter_batched(
            || resnet.clone(),
            |m| {
                synflow
                    .prune(m, 0.99, [1, 3, 32, 32], resnet_forward)
                    .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("vgg16", |b| {
        b.iter_batched(
            || vgg.clone(),
            |m| synflow.prune(m, 0.99, [1, 3, 32, 32], vgg_forward).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let resnet110 = ResNetCifarConfig::new(110).init(&device).unwrap();
    let precrop = PreCropConfig::new()
        .with_params(Some(0.1))
        .with_macs(Some(0.2))
        .init()
        .unwrap();
    let mut group = c.benchmark_group("precrop");
    group.sample_size(10);
    group.bench_function("resnet110_densities", |b| {
        b.iter(|| {
            precrop
                .densities(&resnet110, [1, 3, 32, 32], resnet_forward)
                .unwrap()
        })
    });
    group.bench_function("resnet110_channels", |b| {
        b.iter(|| {
            precrop
                .channels(&resnet110, [1, 3, 32, 32], resnet_forward)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

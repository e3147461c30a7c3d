//! Structural pruning end to end, and what it buys at inference.
//!
//! `cargo bench --bench structured` (`-- plan` for the plan alone)
//!
//! - `plan/vgg16_cifar`: only the plan of VGG-16 for CIFAR (14.7M weights): score every
//!   dependency group by L1 and keep 50% of its free channels; the model is traced and grouped
//!   outside the timed part. 3.98 ms on this 2-core CPU with nothing else running
//!   (2026-12-05; 93–97 ms in a loaded run before the weights were read a parameter at a
//!   time, in parallel, and reduced in lockstep);
//! - `prune/resnet56_32x32`, `prune/vgg16_32x32`, `prune/resnet50_224x224`: trace one forward
//!   pass, build the dependency groups, rank by L1 and keep 50% of every group's free
//!   channels, compact the model (what Torch-Pruning's `MetaPruner` + `step()` do: 63–99 ms,
//!   118 ms and 536 ms on this kind of CPU); the model is built and initialised outside the
//!   timed part. Same run: 3.3 ms, 15.4 ms and 96.9 ms;
//! - `forward/resnet56_b64_{dense,pruned50}`: forward latency at batch 64 on the flex backend
//!   (same run: 249.7 ms and 121.6 ms).

use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{
    ResNetCifar, ResNetCifarConfig, ResNetImagenetConfig, Vgg, VggConfig, VggHead, initialized,
};
use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::time::Duration;

/// Trace, group, plan 50% by L1, compact.
fn prune_half<M: Module, const D: usize>(
    model: M,
    shape: [usize; D],
    forward: impl FnOnce(&M, Tensor<D>) -> Tensor<2>,
) -> M {
    let t = trace(&model, shape, forward).expect("trace");
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).expect("groups");
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .expect("plan");
    plan.apply(model).expect("compaction")
}

/// VGG-16 for CIFAR with the linear head: 14.7M weights.
fn vgg16(device: &Device) -> Vgg {
    let config = VggConfig::vgg16().with_head(VggHead::Linear);
    initialized(config.init(device).expect("model"))
}

/// Only the plan: score every group by L1, keep 50% of every group's free channels (the model
/// is traced and grouped outside the timing).
fn plan(c: &mut Criterion) {
    let device = Device::flex();
    let model = vgg16(&device);
    let t = trace(&model, [1, 3, 32, 32], |m, x| m.forward(x)).expect("trace");
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).expect("groups");
    let pruner = GroupPrunerConfig::new(0.5).init(Magnitude::l1()).unwrap();
    let mut group = c.benchmark_group("plan");
    group.sample_size(30);
    group.bench_function("vgg16_cifar", |b| {
        b.iter(|| pruner.plan(&model, &graph).expect("plan"))
    });
    group.finish();
}

fn prune(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("prune");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("resnet56_32x32", |b| {
        b.iter_batched(
            || initialized(ResNetCifarConfig::new(56).init(&device).expect("model")),
            |m| prune_half(m, [1, 3, 32, 32], |m, x| m.forward(x)),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("vgg16_32x32", |b| {
        b.iter_batched(
            || vgg16(&device),
            |m| prune_half(m, [1, 3, 32, 32], |m, x| m.forward(x)),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("resnet50_224x224", |b| {
        b.iter_batched(
            || {
                initialized(
                    ResNetImagenetConfig::resnet50()
                        .init(&device)
                        .expect("model"),
                )
            },
            |m| prune_half(m, [1, 3, 224, 224], |m, x| m.forward(x)),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn forward(c: &mut Criterion) {
    let device = Device::flex();
    let dense = ResNetCifarConfig::new(56).init(&device).expect("model");
    let pruned = prune_half(
        ResNetCifarConfig::new(56).init(&device).expect("model"),
        [1, 3, 32, 32],
        |m: &ResNetCifar, x| m.forward(x),
    );
    let x = Tensor::<4>::random([64, 3, 32, 32], Distribution::Default, &device);
    let mut group = c.benchmark_group("forward");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (name, model) in [
        ("resnet56_b64_dense", &dense),
        ("resnet56_b64_pruned50", &pruned),
    ] {
        group.bench_function(name, |b| b.iter(|| model.forward(x.clone()).into_data()));
    }
    group.finish();
}

criterion_group!(benches, plan, prune, forward);
criterion_main!(benches);

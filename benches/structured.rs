//! Structural pruning end to end, and what it buys at inference.
//!
//! `cargo bench --bench structured`
//!
//! - `prune/resnet56_32x32`, `prune/resnet50_224x224`: trace one forward pass, build the
//!   dependency groups, rank by L1 and keep 50% of every group's free channels, compact the
//!   model (what Torch-Pruning's `MetaPruner` + `step()` do: 108 ms and 536 ms on this CPU);
//!   the model is built and initialised outside the timed part;
//! - `forward/resnet56_b64_{dense,pruned50}`: forward latency at batch 64 on the flex backend.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{ResNetCifar, ResNetCifarConfig, ResNetImagenetConfig};
use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::time::Duration;

/// `model` with every parameter initialised (Burn initialises lazily, on first use; a loaded
/// or trained model has its values already).
fn initialized<M: Module>(model: M) -> M {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
    model
}

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

criterion_group!(benches, prune, forward);
criterion_main!(benches);

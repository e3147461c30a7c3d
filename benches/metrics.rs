//! Measuring models: counting from the traced graph, and sampling pruning spaces.
//!
//! `cargo bench --bench metrics`
//!
//! - `count/resnet56_ops`, `count/resnet50_ops`: trace one forward pass and count the MACs
//!   and FLOPs of every op (no weight is read);
//! - `count/resnet56_params`: parameter statistics, reading every value for non-zeros;
//! - `space/resnet20_1000`: draw and measure 1000 subnetworks of a ResNet-20 pruning space
//!   (structural counting, the model is not run).

use burn::prelude::*;
use burn_prune::metrics::{OpCounts, ParamStats, PruningSpace, PruningSpaceConfig};
use burn_prune::models::{ResNetCifarConfig, ResNetImagenetConfig};
use burn_prune::structure::{DependencyGraph, GraphOptions, trace};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

fn counting(c: &mut Criterion) {
    let device = Device::flex();
    let r56 = ResNetCifarConfig::new(56).init(&device).expect("model");
    let r50 = ResNetImagenetConfig::resnet50()
        .init(&device)
        .expect("model");
    let mut g = c.benchmark_group("count");
    g.bench_function("resnet56_ops", |b| {
        b.iter(|| OpCounts::of_model(&r56, [1, 3, 32, 32], |m, x| m.forward(x)).expect("count"))
    });
    g.bench_function("resnet50_ops", |b| {
        b.iter(|| OpCounts::of_model(&r50, [1, 3, 224, 224], |m, x| m.forward(x)).expect("count"))
    });
    let _ = ParamStats::of_model(&r56); // initialise the lazy parameters outside the timing
    g.bench_function("resnet56_params", |b| {
        b.iter(|| ParamStats::of_model(&r56).expect("params"))
    });
    g.finish();
}

fn space(c: &mut Criterion) {
    let model = ResNetCifarConfig::new(20)
        .init(&Device::flex())
        .expect("model");
    let t = trace(&model, [1, 3, 32, 32], |m, x| m.forward(x)).expect("trace");
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).expect("groups");
    let params = ParamStats::of_model(&model).expect("params");
    let ops = OpCounts::of_trace(&t);
    let mut g = c.benchmark_group("space");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("resnet20_1000", |b| {
        b.iter(|| {
            let mut space =
                PruningSpace::new(graph.clone(), &params, &ops, PruningSpaceConfig::new())
                    .expect("space");
            (0..1000)
                .map(|_| space.sample().expect("sample").macs)
                .sum::<u64>()
        })
    });
    g.finish();
}

criterion_group!(benches, counting, space);
criterion_main!(benches);

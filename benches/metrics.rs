//! Measuring models: counting from the traced graph, and sampling pruning spaces.
//!
//! `cargo bench --bench metrics`
//!
//! - `count/resnet56_ops`, `count/resnet50_ops`: trace one forward pass and count the MACs
//!   and FLOPs of every op (no weight is read);
//! - `count/resnet56_params`: parameter statistics, reading every value for non-zeros;
//! - `space/resnet20_1000`: draw and measure 1000 subnetworks of a ResNet-20 pruning space
//!   (structural counting, the model is not run);
//! - `patterns/resnet20_grid20`: the activation patterns of a ResNet-20's 28 BatchNorm/ReLU
//!   layers over a 20 × 20 grid of CIFAR-sized inputs (400 forward passes, replayed on Flex
//!   in batches of 100), then its spline scores of every dependency group.

use burn::backend::{Flex, FlexDevice};
use burn::prelude::*;
use burn_prune::metrics::early_bird::PatternCaptureConfig;
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

fn patterns(c: &mut Criterion) {
    let device = Device::flex();
    device.seed(1);
    let model = ResNetCifarConfig::new(20).init(&device).expect("model");
    let capture = PatternCaptureConfig::new()
        .with_grid_side(20)
        .init(&model, [1, 3, 32, 32], |m, x| m.forward(x))
        .expect("capture");
    let t = trace(&model, [1, 3, 32, 32], |m, x| m.forward(x)).expect("trace");
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).expect("groups");
    let sample = |seed: u64| {
        let mut s = seed;
        let v: Vec<f32> = (0..3 * 32 * 32)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect();
        TensorData::new(v, [3, 32, 32])
    };
    let (x0, x1) = (sample(1), sample(2));
    let mut g = c.benchmark_group("patterns");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("resnet20_grid20", |b| {
        b.iter(|| {
            let p = capture
                .capture::<Flex, _>(&model, &x0, &x1, FlexDevice)
                .expect("patterns");
            capture.group_scores(&graph, &p).expect("scores").len()
        })
    });
    g.finish();
}

criterion_group!(benches, counting, space, patterns);
criterion_main!(benches);

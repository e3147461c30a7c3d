//! What scheduled pruning adds to a training step, on ResNet-56 for CIFAR-10 (0.85M
//! parameters) on the flex backend.
//!
//! `cargo bench --bench schedule`
//!
//! - `update/between_updates`: `ScheduledPruner::update` at a step where the schedule does
//!   not update (what most training steps pay);
//! - `update/agp_step`: an AGP update from 50% to 60% on a model with the 50% masks
//!   installed: read the weights, score, select, intersect with the installed masks, install;
//! - `prune/one_shot_60`: the core `Pruner::prune` to 60% on the dense model, the same work
//!   without the schedule and the intersection;
//! - `lottery/next_round`: one lottery-ticket round (prune 20% of the rest, rewind every
//!   parameter from a `ParamSnapshot`).

use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{ResNetCifar, ResNetCifarConfig};
use burn_prune::schedule::methods::LotteryTicketConfig;
use burn_prune::schedule::{Curve, GradualConfig, ScheduledPrunerConfig};
use burn_prune::{ParamSnapshot, PrunerConfig};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn resnet56(device: &Device) -> ResNetCifar {
    device.seed(0);
    ResNetCifarConfig::new(56).init(device).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule_resnet56");
    group.sample_size(10);
    let device = Device::flex();
    let dense = resnet56(&device);

    // Linear ramp 0 → 90% over 9 updates of 100 steps: step 500 is 50%, step 600 is 60%.
    let pruner = ScheduledPrunerConfig::new(
        GradualConfig::new(0.9, 9)
            .with_interval(100)
            .with_curve(Curve::Polynomial { power: 1.0 })
            .into(),
    )
    .init(Magnitude::l1())
    .unwrap();
    let (at_half, event) = pruner.update(dense.clone(), 500).unwrap();
    let event = event.expect("step 500 is an update");
    assert!((event.target - 0.5).abs() < 1e-9, "{}", event.target);

    group.bench_function("update/between_updates", |b| {
        b.iter_batched(
            || at_half.clone(),
            |m| pruner.update(m, 550).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("update/agp_step", |b| {
        b.iter_batched(
            || at_half.clone(),
            |m| pruner.update(m, 600).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let one_shot = PrunerConfig::new(0.6).init(Magnitude::l1()).unwrap();
    group.bench_function("prune/one_shot_60", |b| {
        b.iter_batched(
            || dense.clone(),
            |m| one_shot.prune(m).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let at_init = ParamSnapshot::capture(&dense).unwrap();
    let lottery = LotteryTicketConfig::new().init().unwrap();
    group.bench_function("lottery/next_round", |b| {
        b.iter_batched(
            || at_half.clone(),
            |m| lottery.next_round(m, &at_init).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

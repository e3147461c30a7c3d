//! Masked training overhead: one SGD training step of a CIFAR ResNet-20 on the flex backend
//! with autodiff, dense and with pruning masks installed (as the `prune_mask`
//! reparameterization).
//!
//! `cargo bench --bench training`
//!
//! A step is what the example programs do per batch: forward, cross-entropy loss, backward,
//! `GradientsParams`, and an SGD step with momentum 0.9 and weight decay 1e-4, on a batch of
//! random `3×32×32` images with random labels (the model and the optimizer state carry over
//! from step to step, as in training). Variants, built from the same initial weights:
//!
//! - `dense`: no masks;
//! - `masked_unstructured_90`: 90% of the conv/linear weights masked by global L1 magnitude;
//! - `masked_filter_50`: 50% of each conv layer's filters masked (local scope; the classifier
//!   keeps its outputs).
//!
//! The masked steps run the same dense kernels as the dense one (masks only zero weights), so
//! their extra cost is the mask itself: one `mask_fill` per masked weight in the forward pass
//! and one in its backward, over ResNet-20's 0.27M weights. A `perf` profile of the masked
//! steps puts 0.02% (batch 64) and 0.15% (batch 8) of the samples in them; nothing else
//! differs. The goal (a masked step at most 5% slower than the dense one) holds.
//!
//! The machine noise is larger than that cost. Criterion measures the variants one after the
//! other, over minutes, and load from other builds comes in bursts; so with
//! `TRAINING_PAIRED_ROUNDS=N` the bench then also runs N rounds of one step of every variant
//! in turn (rotating the order) and prints each variant's median next to the dense one's:
//! `TRAINING_PAIRED_ROUNDS=20 cargo bench --bench training`. Every variant is warmed up by
//! two steps before any is measured: without it the variant measured first was 10–30% slower
//! (glibc's allocator adjusts its mmap threshold as the first large blocks are freed; with
//! `MALLOC_MMAP_THRESHOLD_` and `MALLOC_TRIM_THRESHOLD_` fixed, dense and masked steps run
//! alone in fresh processes took the same time).
//!
//! On the 2-core CPU machine with nothing else running (2026-12-05, flex, release), two runs
//! (ms per step, criterion's median; the second run with `TRAINING_PAIRED_ROUNDS=20`, its
//! paired overhead in brackets):
//!
//! | batch, run | dense | masked_unstructured_90 | masked_filter_50 |
//! |---|---|---|---|
//! | 64, 1 | 318 | 338 | 325 |
//! | 64, 2 | 284 | 336 (paired +3.1%) | 343 (paired +2.9%) |
//! | 8, 1 | 43.3 | 42.6 | 43.6 |
//! | 8, 2 | 43.2 | 42.5 (paired −0.7%) | 42.1 (paired −1.2%) |
//!
//! Criterion's batch-64 dense median moved by 11% between the two runs, more than any
//! difference between the variants; the paired figures are the ones to read. In earlier runs
//! on the machine shared with other builds (load 3–5) the paired overheads were −1.0% and
//! −1.4% at batch 64, +0.7% and +0.2% at batch 8.

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{ResNetCifar, ResNetCifarConfig, initialized};
use burn_prune::{Granularity, PrunerConfig, Scope, masks_of};
use criterion::{Criterion, SamplingMode, criterion_group};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const CLASSES: usize = 10;
const LR: f64 = 0.01;
const VARIANTS: [&str; 3] = ["dense", "masked_unstructured_90", "masked_filter_50"];
const BATCHES: [usize; 2] = [64, 8];

/// The three variants, from the same seeded initial weights.
fn variant(name: &str, device: &Device) -> ResNetCifar {
    device.seed(20);
    let model = initialized(ResNetCifarConfig::new(20).init(device).expect("ResNet-20"));
    let pruner = match name {
        "dense" => return model,
        "masked_unstructured_90" => PrunerConfig::new(0.9).with_scope(Scope::Global),
        "masked_filter_50" => PrunerConfig::new(0.5)
            .with_granularity(Granularity::Filter)
            .with_scope(Scope::Local),
        other => unreachable!("unknown variant {other}"),
    };
    let (model, masks) = pruner
        .init(Magnitude::l1())
        .expect("pruner")
        .prune(model)
        .expect("masks");
    let installed = masks_of(&model).expect("installed masks");
    assert_eq!(installed.len(), masks.len(), "{name}: every mask installed");
    model
}

/// A training run in progress: the model and the optimizer state carry over between steps.
struct Run {
    model: Option<ResNetCifar>,
    optim: ModuleOptimizer,
    loss: CrossEntropyLoss,
    x: Tensor<4>,
    y: Tensor<1, Int>,
}

impl Run {
    fn new(model: ResNetCifar, batch: usize, device: &Device) -> Self {
        let optim = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
            .with_weight_decay(Some(WeightDecayConfig::new(1e-4)))
            .init();
        // The same batch for every variant.
        let mut rng = StdRng::seed_from_u64(batch as u64);
        let pixels: Vec<f32> = (0..batch * 3 * 32 * 32)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let labels: Vec<i64> = (0..batch)
            .map(|_| rng.random_range(0..CLASSES as i64))
            .collect();
        Self {
            model: Some(model),
            optim,
            loss: CrossEntropyLossConfig::new().init(device),
            x: Tensor::from_data(TensorData::new(pixels, [batch, 3, 32, 32]), device),
            y: Tensor::from_data(TensorData::new(labels, [batch]), device),
        }
    }

    /// Forward, loss, backward, optimizer step. Flex runs eagerly: when the step returns,
    /// its work is done.
    fn step(&mut self) {
        let model = self.model.take().expect("model");
        let logits = model.forward(self.x.clone());
        let loss = self.loss.forward(logits, self.y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(LR, model, grads));
    }
}

/// A run of every variant, each after two steps taken in turn: the first steps of a process
/// grow the allocator's pools (glibc raises its mmap threshold as large blocks are freed), so
/// the variant measured first would otherwise pay for that alone.
fn warm_runs(batch: usize, device: &Device) -> Vec<Run> {
    let mut runs: Vec<Run> = VARIANTS
        .iter()
        .map(|name| Run::new(variant(name, device), batch, device))
        .collect();
    for _ in 0..2 {
        runs.iter_mut().for_each(Run::step);
    }
    runs
}

fn training_step(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    for batch in BATCHES {
        let mut group = c.benchmark_group(format!("resnet20_step_b{batch}"));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(3))
            .measurement_time(Duration::from_secs(if batch == 64 { 20 } else { 10 }));
        let mut runs = warm_runs(batch, &device);
        for (name, run) in VARIANTS.iter().zip(&mut runs) {
            group.bench_function(*name, |b| b.iter(|| run.step()));
        }
        group.finish();
    }
}

/// The paired comparison: after the warm-up steps, `rounds` rounds of one step of every
/// variant, in an order that rotates each round; prints each variant's median step and its
/// overhead over the dense median. Variants measured side by side see the same machine load,
/// which separate criterion measurements (one variant after the other, over minutes) do not.
fn paired(rounds: usize) {
    let device = Device::flex().autodiff();
    for batch in BATCHES {
        let mut runs = warm_runs(batch, &device);
        let mut times = vec![Vec::with_capacity(rounds); VARIANTS.len()];
        for round in 0..rounds {
            for k in 0..VARIANTS.len() {
                let i = (round + k) % VARIANTS.len();
                let start = Instant::now();
                runs[i].step();
                times[i].push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        let medians: Vec<f64> = times.into_iter().map(median).collect();
        for (name, m) in VARIANTS.iter().zip(&medians) {
            println!(
                "paired resnet20_step_b{batch}/{name}: median {m:.1} ms over {rounds} steps, {:+.1}% vs dense",
                (m / medians[0] - 1.0) * 100.0
            );
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

criterion_group!(benches, training_step);

/// The criterion benches; then, with `TRAINING_PAIRED_ROUNDS=N`, the paired comparison.
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if let Some(rounds) = std::env::var("TRAINING_PAIRED_ROUNDS")
        .ok()
        .and_then(|r| r.parse::<usize>().ok())
        .filter(|r| *r > 0)
    {
        paired(rounds);
    }
}

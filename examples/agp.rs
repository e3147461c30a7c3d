//! AGP (Zhu & Gupta 2017) from 0 to 90% sparsity while training an MLP on a generated
//! 4-class task, on the CPU: a progress bar over the training steps, the sparsity at every
//! mask update, and the final per-layer report.
//!
//! ```text
//! cargo run --example agp
//! ```

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::models::MlpConfig;
use burn_prune::schedule::{GradualConfig, ScheduledPrunerConfig};
use burn_prune::{SparsityReport, masks_of};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FEATURES: usize = 16;
const CLASSES: usize = 4;

/// `n` points of 4 Gaussian blobs in 16 dimensions (class `k` centred on `+2` along axis
/// `k` and `−2` along axis `k + 4`).
fn blobs(n: usize, seed: u64, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * FEATURES);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let k = rng.random_range(0..CLASSES);
        for f in 0..FEATURES {
            let centre = if f == k {
                2.0
            } else if f == k + 4 {
                -2.0
            } else {
                0.0
            };
            x.push(centre + rng.random_range(-1.0f32..1.0));
        }
        y.push(k as i64);
    }
    (
        Tensor::<2>::from_data(TensorData::new(x, [n, FEATURES]), device),
        Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = MlpConfig::new(FEATURES, vec![128, 128], CLASSES).init(&device)?;
    let (x, y) = blobs(2048, 1, &device);
    let batches = 2048 / 64;

    // AGP: 0 → 90% over 10 updates, 30 steps apart, from step 30; 450 steps in all.
    let schedule = GradualConfig::agp(0.9, 10).with_interval(30).with_begin(30);
    let pruner = ScheduledPrunerConfig::new(schedule.into()).init(Magnitude::l1())?;
    let steps = 450u64;
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);

    let bar = ProgressBar::new(steps).with_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
    )?);
    for step in 1..=steps {
        let b = (step as usize - 1) % batches;
        let xb = x.clone().slice(b * 64..(b + 1) * 64);
        let yb = y.clone().slice(b * 64..(b + 1) * 64);
        let loss = loss_fn.forward(model.forward(xb), yb);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        let (pruned, event) = pruner.update(model, step)?;
        model = pruned;
        if let Some(e) = event {
            bar.suspend(|| {
                println!(
                    "step {:>3}: target {:>5.1}%  pruned {:>5.1}% of the weights",
                    e.step,
                    100.0 * e.target,
                    100.0 * e.sparsity
                )
            });
            bar.set_message(format!("sparsity {:.1}%", 100.0 * e.sparsity));
        }
        bar.inc(1);
    }
    bar.finish();

    let (xt, yt) = blobs(1024, 2, &Device::flex());
    let eval = model.valid();
    let correct = eval
        .forward(xt)
        .argmax(1)
        .reshape([1024])
        .equal(yt)
        .int()
        .sum()
        .into_scalar::<i64>();
    let masks = masks_of(&model)?;
    println!("\n{}", SparsityReport::of_model(&model, &masks)?);
    println!(
        "final sparsity {:.1}% (schedule: {:.1}%), held-out accuracy {:.1}%",
        100.0 * masks.counts().1 as f64 / masks.counts().0 as f64,
        100.0 * pruner.schedule().final_sparsity(),
        100.0 * correct as f64 / 1024.0
    );
    Ok(())
}

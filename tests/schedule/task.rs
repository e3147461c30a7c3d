//! A small learning task generated in the test: 4 classes of 8×8 RGB images, the class being
//! the bright quadrant, plus noise. A 2-block CNN learns it in a few dozen Adam steps.

use crate::common::SmallCnn;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

pub use crate::common::{QUADRANT_CLASSES as CLASSES, QUADRANT_SIZE as SIZE, quadrants};

/// Cross-entropy of the model's logits.
pub fn loss(model: &SmallCnn, x: Tensor<4>, y: Tensor<1, Int>) -> Tensor<1> {
    let logits = model.forward(x);
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, y)
}

/// Fraction of correct predictions.
pub fn accuracy(model: &SmallCnn, x: Tensor<4>, y: Tensor<1, Int>) -> f64 {
    let n = y.dims()[0];
    let predicted = model.valid().forward(x.inner()).argmax(1).reshape([n]);
    let correct = predicted.equal(y.inner()).int().sum().into_scalar::<i64>();
    correct as f64 / n as f64
}

/// The training set, cut into batches of 32.
pub struct Batches {
    pub batches: Vec<(Tensor<4>, Tensor<1, Int>)>,
}

impl Batches {
    pub fn new(n: usize, seed: u64, device: &Device) -> Self {
        let (x, y) = quadrants(n, seed, device);
        let batches = (0..n.div_ceil(32))
            .map(|b| {
                let r = b * 32..((b + 1) * 32).min(n);
                (x.clone().slice(r.clone()), y.clone().slice(r))
            })
            .collect();
        Self { batches }
    }
}

/// Train for `epochs` epochs with Adam (lr 1e-2); after every optimizer step `after_step`
/// gets the model and the step count (from 1), and may change the model; after every epoch
/// `after_epoch` gets it and the epoch (from 1).
pub fn train(
    mut model: SmallCnn,
    data: &Batches,
    epochs: usize,
    mut after_step: impl FnMut(SmallCnn, u64) -> SmallCnn,
    mut after_epoch: impl FnMut(SmallCnn, usize) -> SmallCnn,
) -> SmallCnn {
    let mut optim = AdamConfig::new().init();
    let mut step = 0u64;
    for epoch in 1..=epochs {
        for (x, y) in &data.batches {
            let l = loss(&model, x.clone(), y.clone());
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(1e-2, model, grads);
            step += 1;
            model = after_step(model, step);
        }
        model = after_epoch(model, epoch);
    }
    model
}

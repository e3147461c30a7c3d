//! Masked training in a hand-written loop: pruned effective weights stay exactly zero under
//! SGD with momentum (and weight decay), Adam, and AdamW with weight decay; the others train.

use crate::common::{SmallCnn, batch, values};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::{Granularity, MaskSet, PrunerConfig, Scope};

const STEPS: usize = 50;

/// Effective values of every masked parameter, by path.
fn effective(model: &SmallCnn) -> Vec<(String, Vec<f32>)> {
    let mut out: Vec<(String, Vec<f32>)> = model
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (
                format!("blocks.{i}.conv.weight"),
                values(b.conv.weight.val()),
            )
        })
        .collect();
    out.push(("fc.weight".into(), values(model.fc.weight.val())));
    out
}

fn train_masked(mut optim: ModuleOptimizer, granularity: Granularity, lr: f64) {
    let device = Device::flex().autodiff();
    device.seed(5);
    let model = SmallCnn::new(&[3, 8, 8], 4, &device);
    let (mut model, masks): (SmallCnn, MaskSet) = PrunerConfig::new(0.5)
        .with_granularity(granularity)
        .with_scope(Scope::Local)
        .init(Magnitude::l1())
        .unwrap()
        .prune(model)
        .unwrap();
    let before = effective(&model);
    let (x, y) = batch(16, 3, 8, 4, 3, &device);
    let ce = CrossEntropyLossConfig::new().init(&device);
    let first_loss = ce
        .forward(model.forward(x.clone()), y.clone())
        .into_scalar::<f32>();
    for _ in 0..STEPS {
        let loss = ce.forward(model.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    let last_loss = ce.forward(model.forward(x), y).into_scalar::<f32>();
    assert!(
        last_loss < first_loss,
        "the masked model trains: {first_loss} -> {last_loss}"
    );
    // A kept weight can only learn if its input channel still carries signal: after filter
    // pruning, the inputs fed by a fully pruned upstream filter are constant zero.
    let live_inputs = |layer: usize| -> Option<Vec<bool>> {
        let upstream = match layer {
            0 => return None,
            l => &before[l - 1].0,
        };
        let m = masks.get(upstream).unwrap();
        let per = m.numel() / m.shape[0];
        Some(
            m.keep
                .to_bools()
                .chunks(per)
                .map(|f| f.iter().any(|k| *k))
                .collect(),
        )
    };
    for (layer, ((path, old), (_, new))) in before.iter().zip(effective(&model)).enumerate() {
        let m = masks.get(path).unwrap();
        let keep = m.keep.to_bools();
        let live = live_inputs(layer);
        let (mut moved, mut learnable) = (0, 0);
        for i in 0..keep.len() {
            if !keep[i] {
                assert_eq!(
                    new[i].to_bits(),
                    0f32.to_bits(),
                    "{path}[{i}] must stay exactly 0"
                );
                continue;
            }
            // input index of element i: conv [out, in, 3, 3] → (i / 9) % in; linear [in, out] → i / out
            let input = if m.shape.len() == 4 {
                (i / 9) % m.shape[1]
            } else {
                i / m.shape[1]
            };
            if live.as_ref().is_none_or(|l| l[input]) {
                learnable += 1;
                moved += (new[i] != old[i]) as usize;
            }
        }
        assert!(learnable > 0, "{path}: nothing left to learn");
        assert!(
            moved * 10 >= learnable * 9,
            "{path}: only {moved} of {learnable} learnable weights moved"
        );
    }
}

#[test]
fn sgd_with_momentum_and_weight_decay() {
    let optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init();
    train_masked(optim, Granularity::Element, 0.05);
}

#[test]
fn adam() {
    train_masked(AdamConfig::new().init(), Granularity::Filter, 1e-2);
}

#[test]
fn adamw_with_weight_decay() {
    train_masked(
        AdamWConfig::new().with_weight_decay(0.05).init(),
        Granularity::Kernel,
        1e-2,
    );
}

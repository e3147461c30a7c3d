//! SynFlow: the conservation law, layer collapse, exact counts, overflow.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{ResNetCifarConfig, VggConfig};
use burn_prune::pai::{Precision, SynFlowConfig};
use burn_prune::{ParamSnapshot, PrunerConfig, masks_of};

#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(widths: &[usize], device: &Device) -> Self {
        let layers = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).with_bias(false).init(device))
            .collect();
        Self { layers }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |x, (i, l)| {
            let y = l.forward(x);
            if i < last { Relu::new().forward(y) } else { y }
        })
    }
}

#[derive(Module, Debug)]
struct PlainCnn {
    convs: Vec<Conv2d>,
    fc: Linear,
}

impl PlainCnn {
    fn new(device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device)
        };
        Self {
            convs: vec![conv(3, 8), conv(8, 16), conv(16, 8)],
            fc: LinearConfig::new(8 * 6 * 6, 5)
                .with_bias(false)
                .init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self
            .convs
            .iter()
            .fold(x, |x, c| Relu::new().forward(c.forward(x)));
        let [n, c, h, w] = x.dims();
        self.fc.forward(x.reshape([n, c * h * w]))
    }
}

fn assert_conserved(sums: &std::collections::BTreeMap<String, f64>, flow: f64) {
    assert!(sums.len() >= 3);
    for (path, s) in sums {
        assert!(
            ((s - flow) / flow).abs() < 1e-4,
            "{path}: summed score {s}, flow {flow}"
        );
    }
}

#[test]
fn summed_scores_of_every_layer_equal_the_flow_in_bias_free_relu_networks() {
    let device = Device::flex();
    device.seed(11);
    let synflow = SynFlowConfig::new().init().unwrap();
    let mlp = Mlp::new(&[8, 32, 16, 16, 4], &device);
    let s = synflow
        .scores(&mlp, [1, 8], |m: &Mlp, x| m.forward(x))
        .unwrap();
    assert_eq!(s.dtype, burn::tensor::FloatDType::F64);
    assert_conserved(&s.sums(), s.flow);
    let cnn = PlainCnn::new(&device);
    let s = synflow
        .scores(&cnn, [1, 3, 6, 6], |m: &PlainCnn, x| m.forward(x))
        .unwrap();
    assert_conserved(&s.sums(), s.flow);
    // Also after pruning: masked weights carry no flow, the law still holds.
    let (pruned, _) = SynFlowConfig::new()
        .with_rounds(5)
        .init()
        .unwrap()
        .prune(cnn, 0.7, [1, 3, 6, 6], |m: &PlainCnn, x| m.forward(x))
        .unwrap();
    let s = synflow
        .scores(&pruned, [1, 3, 6, 6], |m: &PlainCnn, x| m.forward(x))
        .unwrap();
    assert_conserved(&s.sums(), s.flow);
}

#[test]
fn pruning_reaches_the_exact_count_and_masks_only_grow() {
    let device = Device::flex();
    device.seed(12);
    let cnn = PlainCnn::new(&device);
    let forward = |m: &PlainCnn, x| m.forward(x);
    let synflow = SynFlowConfig::new().with_rounds(4).init().unwrap();
    let (half, masks_half) = synflow.prune(cnn, 0.5, [1, 3, 6, 6], forward).unwrap();
    let (total, pruned) = masks_half.counts();
    assert_eq!(pruned, (0.5 * total as f64).round() as usize);
    let (more, masks_more) = synflow.prune(half, 0.9, [1, 3, 6, 6], forward).unwrap();
    let (_, pruned_more) = masks_more.counts();
    assert_eq!(pruned_more, (0.9 * total as f64).round() as usize);
    for m in masks_more.iter() {
        let before = masks_half.get(&m.path).unwrap().keep.to_bools();
        for (now, was) in m.keep.to_bools().into_iter().zip(before) {
            assert!(was || !now, "{} revived a weight", m.path);
        }
    }
    assert_eq!(masks_of(&more).unwrap().counts(), masks_more.counts());
}

/// Tanaka et al.'s claim: at extreme compression, single-shot global magnitude pruning empties
/// whole layers (layer collapse), iterative SynFlow keeps every layer connected.
#[test]
fn synflow_keeps_every_vgg16_layer_at_a_thousandth_of_the_weights_where_magnitude_collapses() {
    let device = Device::flex();
    device.seed(13);
    let vgg = VggConfig::vgg16().init(&device).unwrap();
    let sparsity = 1.0 - 1e-3;
    let magnitude = PrunerConfig::new(sparsity)
        .with_min_kept(0)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&vgg)
        .unwrap();
    let empty = magnitude
        .iter()
        .filter(|m| m.keep.count_ones() == 0)
        .count();
    assert!(empty > 0, "magnitude pruning left every layer non-empty");

    let (_, masks) = SynFlowConfig::new()
        .with_rounds(20)
        .init()
        .unwrap()
        .prune(
            vgg,
            sparsity,
            [1, 3, 32, 32],
            |m: &burn_prune::models::Vgg, x| m.forward(x),
        )
        .unwrap();
    let (total, pruned) = masks.counts();
    assert_eq!(pruned, (sparsity * total as f64).round() as usize);
    for m in masks.iter() {
        assert!(m.keep.count_ones() > 0, "{} emptied by SynFlow", m.path);
    }
}

#[test]
fn deep_residual_networks_overflow_f32_and_are_scored_in_f64() {
    let device = Device::flex();
    device.seed(14);
    let model = ResNetCifarConfig::new(56).init(&device).unwrap();
    let before = ParamSnapshot::capture(&model).unwrap();
    let forward = |m: &burn_prune::models::ResNetCifar, x| m.forward(x);
    let err = SynFlowConfig::new()
        .with_precision(Precision::F32)
        .init()
        .unwrap()
        .scores(&model, [1, 3, 32, 32], forward)
        .unwrap_err()
        .to_string();
    assert!(err.contains("overflow"), "{err}");
    let s = SynFlowConfig::new()
        .init()
        .unwrap()
        .scores(&model, [1, 3, 32, 32], forward)
        .unwrap();
    assert!(s.flow > f64::from(f32::MAX), "R = {}", s.flow);
    assert!(s.scores.values().flatten().all(|v| v.is_finite()));
    // The model passed in is unchanged (BatchNorm statistics included).
    assert_eq!(ParamSnapshot::capture(&model).unwrap(), before);
}

#[test]
fn bad_settings_are_errors() {
    assert!(SynFlowConfig::new().with_rounds(0).init().is_err());
    let device = Device::flex();
    let mlp = Mlp::new(&[4, 4, 2], &device);
    let synflow = SynFlowConfig::new().with_rounds(2).init().unwrap();
    for s in [1.0, -0.1, f64::NAN] {
        let err = synflow
            .prune(mlp.clone(), s, [1, 4], |m: &Mlp, x| m.forward(x))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SynFlow sparsity"), "{err}");
    }
}

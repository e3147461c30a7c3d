//! Compression ratio and theoretical speedup of masked and compacted models.

use crate::device;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_prune_core::criterion::Magnitude;
use burn_prune_core::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use burn_prune_core::{Granularity, OutputLayers, PrunerConfig, Scope};
use burn_prune_metrics::{
    Convention, ModelMetrics, ParamRole, ParamStats, macs_reduction, params_reduction,
    theoretical_speedup,
};
use burn_prune_models::{ResNetCifarConfig, param_count};

#[derive(Module, Debug)]
pub struct TwoConvs {
    pub a: Conv2d,
    pub b: Conv2d,
    pub fc: Linear,
}

impl TwoConvs {
    pub fn new(device: &Device) -> Self {
        Self {
            a: Conv2dConfig::new([3, 8], [3, 3])
                .with_bias(false)
                .init(device),
            b: Conv2dConfig::new([8, 6], [3, 3])
                .with_bias(false)
                .init(device),
            fc: LinearConfig::new(6, 2).with_bias(false).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let y = self.b.forward(self.a.forward(x));
        self.fc.forward(y.mean_dims(&[2, 3]).reshape([0, -1]))
    }
}

fn metrics(net: &TwoConvs) -> ModelMetrics {
    ModelMetrics::of_model(net, [1, 3, 10, 10], |m, x| m.forward(x)).unwrap()
}

#[test]
fn masked_model_counts_unmasked_weights() {
    let net = TwoConvs::new(&device());
    let dense = metrics(&net);
    // a: 8 filters × 27 at 8×8; b: 6 × 72 at 6×6; fc: 6 × 2.
    let dense_macs = 8 * 27 * 64 + 6 * 72 * 36 + 12;
    assert_eq!(dense.macs(Convention::Papers), dense_macs);
    assert_eq!(dense.sparse_speedup(Convention::Papers), 1.0);

    // Half the filters of every layer (fc outputs included) by L1 norm, installed as masks.
    let (masked, masks) = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Local)
        .with_output_layers(OutputLayers::None)
        .init(Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap();
    let m = metrics(&masked);
    // The graph is the same: masking is parameter preprocessing, not counted.
    assert_eq!(m.macs(Convention::Papers), dense_macs);
    let kept = |path: &str| {
        let mask = masks.get(path).unwrap();
        (mask.numel() - mask.pruned()) as u64
    };
    let effective = kept("a.weight") * 64 + kept("b.weight") * 36 + kept("fc.weight");
    assert_eq!(kept("a.weight"), 4 * 27);
    assert_eq!(m.effective_macs(Convention::Papers), effective);
    assert_eq!(
        theoretical_speedup(&dense, &m, Convention::Papers),
        dense_macs as f64 / effective as f64
    );
    // Masked counts come from the installed masks; non-zeros from the values.
    assert_eq!(m.params.get("a.weight").unwrap().masked, 4 * 27);
    assert_eq!(m.params.total(), dense.params.total());
    assert_eq!(m.params.nonzero(), m.params.unmasked());
    assert_eq!(
        m.compression_ratio(),
        m.params.total() as f64 / m.params.unmasked() as f64
    );
    // Full convention: every saved MAC saves two FLOPs.
    let saved = dense_macs - effective;
    assert_eq!(
        m.effective_flops(Convention::Full),
        dense.flops(Convention::Full) - 2 * saved
    );
}

#[test]
fn compacted_resnet_equals_its_zeroed_twin() {
    let model = ResNetCifarConfig::new(20).init(&device()).unwrap();
    let forward = |m: &burn_prune_models::ResNetCifar, x| m.forward(x);
    let t = trace(&model, [1, 3, 32, 32], forward).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let dense = ModelMetrics::of_model(&model, [1, 3, 32, 32], forward).unwrap();
    let record = model.clone().into_record();
    let zeroed = plan
        .apply_as_zeros(model.clone().fork(&device()).load_record(record))
        .unwrap();
    let zeroed = ModelMetrics::of_model(&zeroed, [1, 3, 32, 32], forward).unwrap();
    let small_model = plan.apply(model).unwrap();
    let small = ModelMetrics::of_model(&small_model, [1, 3, 32, 32], forward).unwrap();

    // The compacted graph does exactly the work of the zeroed model's non-zero weights.
    assert!(small.macs(Convention::Papers) < dense.macs(Convention::Papers));
    assert_eq!(
        small.macs(Convention::Papers),
        zeroed.effective_macs(Convention::Papers)
    );
    assert_eq!(
        theoretical_speedup(&dense, &small, Convention::Papers),
        theoretical_speedup(&dense, &zeroed, Convention::Papers)
    );
    // Parameters, counted independently by the models crate.
    assert_eq!(small.params.total(), param_count(&small_model) as u64);
    assert!(params_reduction(&dense, &small) > 0.0);
    assert!(
        (macs_reduction(&dense, &small, Convention::Papers)
            - (1.0 - 1.0 / theoretical_speedup(&dense, &small, Convention::Papers)))
        .abs()
            < 1e-12
    );
}

#[test]
fn roles_of_parameters() {
    let device = device().autodiff();
    let net = TwoConvs::new(&device);
    let stats = ParamStats::of_model(&net).unwrap();
    assert!(stats.params.iter().all(|p| p.role == ParamRole::Trainable));
    assert_eq!(stats.trainable(), stats.total());
    let frozen = TwoConvs {
        a: net.a.clone().no_grad(),
        ..net
    };
    let stats = ParamStats::of_model(&frozen).unwrap();
    assert_eq!(stats.get("a.weight").unwrap().role, ParamRole::Frozen);
    assert_eq!(stats.trainable(), stats.total() - 8 * 27);

    let model = ResNetCifarConfig::new(20).init(&Device::flex()).unwrap();
    let stats = ParamStats::of_model(&model).unwrap();
    assert_eq!(stats.total(), 269_722);
    // 688 BatchNorm channels, each with a running mean and variance.
    assert_eq!(stats.buffers(), 2 * 688);
    assert_eq!(stats.total() + stats.buffers(), model.num_params() as u64);
}

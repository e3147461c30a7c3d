//! Which BatchNorm a criterion reads for each layer: from the traced graph or by path, not
//! from the order the model declares its fields in.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn_prune::criterion::BatchNormScale;
use burn_prune::structure::{BatchNormPairs, DependencyGraph, GraphOptions, trace};
use burn_prune::{Granularity, ParamSelector, PruneError, PrunerConfig, Scope};

/// `bn_x` is declared after `conv_a` but normalises `conv_b`'s output, and `bn_y` the other
/// way round: declaration order pairs both convs with the wrong BatchNorm.
#[derive(Module, Debug)]
struct Swapped {
    conv_a: Conv2d,
    bn_x: BatchNorm,
    conv_b: Conv2d,
    bn_y: BatchNorm,
    pool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl Swapped {
    fn new(device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        let bn = |gamma: [f32; 4]| {
            let mut bn: BatchNorm = BatchNormConfig::new(4).init(device);
            bn.gamma = Param::from_tensor(Tensor::from_data(gamma, device));
            bn
        };
        Self {
            conv_a: conv(3, 4),
            bn_x: bn([1.0, 2.0, 3.0, 4.0]),
            conv_b: conv(4, 4),
            bn_y: bn([4.0, 3.0, 2.0, 1.0]),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(4, 2).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.bn_y.forward(self.conv_a.forward(x)));
        let x = relu(self.bn_x.forward(self.conv_b.forward(x)));
        let [n, c, _, _] = x.dims();
        self.fc.forward(self.pool.forward(x).reshape([n, c]))
    }
}

/// Filters kept per conv when half of each conv's filters go by their BatchNorm's `|γ|`.
fn kept_filters(
    model: &Swapped,
    pairs: Option<BatchNormPairs>,
) -> burn_prune::Result<[Vec<usize>; 2]> {
    let masks = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Local)
        .with_selector(ParamSelector::paths(["conv_a.weight", "conv_b.weight"]))
        .with_batch_norm_pairs(pairs)
        .init(BatchNormScale)?
        .masks(model)?;
    let kept = |path: &str| {
        let m = masks.get(path).unwrap();
        let bits = m.keep.to_bools();
        let per = bits.len() / 4;
        (0..4).filter(|f| bits[f * per]).collect::<Vec<usize>>()
    };
    Ok([kept("conv_a.weight"), kept("conv_b.weight")])
}

#[test]
fn batch_norms_pair_from_the_graph_not_the_declaration_order() {
    let device = Device::flex();
    let model = Swapped::new(&device);
    let t = trace(&model, [1, 3, 6, 6], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let pairs = BatchNormPairs::from_graph(&model, &graph).unwrap();
    // Read off the forward pass by hand: conv_a → bn_y → conv_b → bn_x → fc.
    assert_eq!(pairs.after["conv_a.weight"], "bn_y.gamma");
    assert_eq!(pairs.after["conv_b.weight"], "bn_x.gamma");
    assert_eq!(pairs.before["conv_b.weight"], "bn_y.gamma");
    assert_eq!(pairs.before["fc.weight"], "bn_x.gamma");
    assert!(!pairs.after.contains_key("fc.weight")); // the output has no BatchNorm

    // bn_y's γ = (4, 3, 2, 1): conv_a keeps filters 0 and 1; bn_x's γ = (1, 2, 3, 4): conv_b
    // keeps 2 and 3.
    let by_graph = kept_filters(&model, Some(pairs)).unwrap();
    assert_eq!(by_graph, [vec![0, 1], vec![2, 3]]);
    // The same pairs given by path.
    let by_path = BatchNormPairs::new()
        .with_after("conv_a.weight", "bn_y.gamma")
        .with_after("conv_b.weight", "bn_x.gamma");
    assert_eq!(kept_filters(&model, Some(by_path)).unwrap(), by_graph);
    // Declaration order reads the other BatchNorm for each conv: the opposite filters.
    assert_eq!(
        kept_filters(&model, None).unwrap(),
        [vec![2, 3], vec![0, 1]]
    );

    // A pair naming a BatchNorm the model does not have is an error naming it.
    let typo = BatchNormPairs::new().with_after("conv_a.weight", "bn_z.gamma");
    let err = kept_filters(&model, Some(typo)).unwrap_err();
    assert!(
        matches!(&err, PruneError::UnknownParam { path, .. } if path == "bn_z.gamma"),
        "{err}"
    );
    // A layer without a pair, when pairs are given, has no BatchNorm: an error naming it.
    let partial = BatchNormPairs::new().with_after("conv_a.weight", "bn_y.gamma");
    let err = kept_filters(&model, Some(partial)).unwrap_err();
    assert!(err.to_string().contains("conv_b.weight"), "{err}");
}

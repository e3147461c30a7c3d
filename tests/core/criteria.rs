//! Built-in criteria against hand-computed cases.

use crate::common::SmallCnn;
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn_prune::criterion::{BatchNormScale, Fpgm, GradientMagnitude, Magnitude, Random, Taylor};
use burn_prune::{
    Granularity, LayerKind, OutputLayers, ParamSelector, PruneError, PrunerConfig, Scope,
};

#[derive(Module, Debug)]
struct Tiny {
    fc: Linear,
}

/// `W = [[1, -2, 3], [0.5, 4, -1]]`, Burn layout `[d_input = 2, d_output = 3]`, no bias.
fn tiny(device: &Device) -> Tiny {
    let w = Tensor::<2>::from_data([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], device);
    Tiny {
        fc: Linear {
            weight: Param::from_tensor(w),
            bias: None,
        },
    }
}

/// Two batches; loss = Σ x·W, so ∂L/∂W[i][o] = Σ_b x[b][i]: g1 = rows (1, 2), g2 = rows (-3, 1).
fn batches(device: &Device) -> Vec<Tensor<2>> {
    vec![
        Tensor::<2>::from_data([[1.0, 2.0]], device),
        Tensor::<2>::from_data([[-3.0, 1.0]], device),
    ]
}

fn sum_loss(m: &Tiny, x: Tensor<2>) -> Tensor<1> {
    m.fc.forward(x).sum()
}

fn keep(masks: &burn_prune::MaskSet, path: &str) -> Vec<bool> {
    masks.get(path).unwrap().keep.to_bools()
}

#[test]
fn gradient_magnitude_by_hand() {
    let device = Device::flex().autodiff();
    let model = tiny(&device);
    // mean |g| = [[2, 2, 2], [1.5, 1.5, 1.5]]: the second input row goes.
    let masks = PrunerConfig::new(0.5)
        .init(GradientMagnitude)
        .unwrap()
        .masks_with_data(&model, batches(&device), sum_loss)
        .unwrap();
    assert_eq!(
        keep(&masks, "fc.weight"),
        [true, true, true, false, false, false]
    );
}

#[test]
fn taylor_element_and_unit_by_hand() {
    let device = Device::flex().autodiff();
    let model = tiny(&device);
    // |w|·mean|g| = [2, 4, 6, 0.75, 6, 1.5]: indices 3, 5, 0 go.
    let masks = PrunerConfig::new(0.5)
        .init(Taylor::element())
        .unwrap()
        .masks_with_data(&model, batches(&device), sum_loss)
        .unwrap();
    assert_eq!(
        keep(&masks, "fc.weight"),
        [false, true, true, false, true, false]
    );

    // Unit form over columns: batch 1 sums (2, 6, 1), batch 2 sums (-2.5, 10, -10);
    // mean of squares (5.125, 68, 50.5): column 0 goes first.
    let masks = PrunerConfig::new(0.34)
        .with_granularity(Granularity::Filter)
        .with_output_layers(OutputLayers::None) // `fc` is the output layer
        .init(Taylor::unit())
        .unwrap()
        .masks_with_data(&model, batches(&device), sum_loss)
        .unwrap();
    assert_eq!(
        keep(&masks, "fc.weight"),
        [false, true, true, false, true, true]
    );
    // Two of three columns: 5.125 < 50.5 < 68, so columns 0 and 2.
    let masks = PrunerConfig::new(0.6)
        .with_granularity(Granularity::Filter)
        .with_output_layers(OutputLayers::None) // `fc` is the output layer
        .init(Taylor::unit())
        .unwrap()
        .masks_with_data(&model, batches(&device), sum_loss)
        .unwrap();
    assert_eq!(
        keep(&masks, "fc.weight"),
        [false, true, false, false, true, false]
    );
}

#[test]
fn gradient_criteria_need_batches() {
    let device = Device::flex().autodiff();
    let model = tiny(&device);
    let pruner = PrunerConfig::new(0.5).init(GradientMagnitude).unwrap();
    assert!(matches!(
        pruner.masks(&model),
        Err(PruneError::MissingBatches { .. })
    ));
    let none: Vec<Tensor<2>> = Vec::new();
    let err = pruner.masks_with_data(&model, none, sum_loss).unwrap_err();
    assert!(
        matches!(err, PruneError::MissingBatches { ref criterion } if criterion == "gradient-magnitude"),
        "{err}"
    );
    // A model on a device without autodiff: a clear error, not a panic.
    let plain = tiny(&Device::flex());
    let err = pruner
        .masks_with_data(&plain, batches(&Device::flex()), sum_loss)
        .unwrap_err();
    assert!(matches!(err, PruneError::MissingGradient { .. }), "{err}");
}

#[test]
fn fpgm_prunes_the_filter_nearest_the_median() {
    let device = Device::flex();
    // Columns (filters) c0 = (0, 0), c1 = (1, 0), c2 = (3, 4):
    // g = (1 + 5, 1 + √20, 5 + √20) = (6, 5.47, 9.47) → c1 goes, though c0 is smallest.
    let w = Tensor::<2>::from_data([[0.0, 1.0, 3.0], [0.0, 0.0, 4.0]], &device);
    let model = Tiny {
        fc: Linear {
            weight: Param::from_tensor(w),
            bias: None,
        },
    };
    let fpgm = PrunerConfig::new(0.34)
        .with_granularity(Granularity::Filter)
        .with_output_layers(OutputLayers::None) // `fc` is the output layer
        .init(Fpgm)
        .unwrap();
    assert_eq!(
        keep(&fpgm.masks(&model).unwrap(), "fc.weight"),
        [true, false, true, true, false, true]
    );
    let l1 = PrunerConfig::new(0.34)
        .with_granularity(Granularity::Filter)
        .with_output_layers(OutputLayers::None)
        .init(Magnitude::l1())
        .unwrap();
    assert_eq!(
        keep(&l1.masks(&model).unwrap(), "fc.weight"),
        [false, true, true, false, true, true]
    );
    let err = PrunerConfig::new(0.5)
        .init(Fpgm)
        .and_then(|p| p.masks(&model))
        .unwrap_err();
    assert!(
        matches!(err, PruneError::UnsupportedCriterion { .. }),
        "{err}"
    );
}

fn set_gamma(bn: &mut burn::nn::BatchNorm, gamma: &[f32], device: &Device) {
    bn.gamma = Param::from_tensor(Tensor::<1>::from_data(
        TensorData::new(gamma.to_vec(), [gamma.len()]),
        device,
    ));
}

#[test]
fn batch_norm_scale_pairs_layers_with_their_batch_norms() {
    let device = Device::flex();
    let mut model = SmallCnn::new(&[3, 4, 4], 2, &device);
    set_gamma(&mut model.blocks[0].bn, &[0.5, -0.1, 2.0, 0.3], &device);
    set_gamma(&mut model.blocks[1].bn, &[1.0, 0.2, -3.0, 0.05], &device);
    let convs = ParamSelector::default().kinds([LayerKind::Conv]);
    let masks = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Local)
        .with_selector(convs.clone())
        .init(BatchNormScale)
        .unwrap()
        .masks(&model)
        .unwrap();
    let filters_kept = |path: &str, per: usize| -> Vec<bool> {
        keep(&masks, path).chunks(per).map(|c| c[0]).collect()
    };
    assert_eq!(
        filters_kept("blocks.0.conv.weight", 27),
        [true, false, true, false]
    );
    assert_eq!(
        filters_kept("blocks.1.conv.weight", 36),
        [true, false, true, false]
    );

    // Channels of blocks.1.conv follow blocks.0.bn; blocks.0.conv has no BatchNorm before it.
    let by_channel = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Channel)
        .with_scope(Scope::Local)
        .with_selector(ParamSelector::paths(["blocks.1.conv.weight"]))
        .init(BatchNormScale)
        .unwrap()
        .masks(&model)
        .unwrap();
    let k = keep(&by_channel, "blocks.1.conv.weight");
    let channels_kept: Vec<bool> = (0..4).map(|c| k[c * 9]).collect();
    assert_eq!(channels_kept, [true, false, true, false]);
    let err = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Channel)
        .with_selector(convs)
        .init(BatchNormScale)
        .and_then(|p| p.masks(&model))
        .unwrap_err();
    assert!(
        matches!(&err, PruneError::MissingBatchNorm { path, relation: "before", .. } if path == "blocks.0.conv.weight"),
        "{err}"
    );
    // The linear head has no BatchNorm after it: an error once its filters may be pruned ...
    let err = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_output_layers(OutputLayers::None)
        .init(BatchNormScale)
        .and_then(|p| p.masks(&model))
        .unwrap_err();
    assert!(
        matches!(&err, PruneError::MissingBatchNorm { path, .. } if path == "fc.weight"),
        "{err}"
    );
    // ... but by default its filters are the model's outputs: kept, and not scored.
    let masks = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .init(BatchNormScale)
        .and_then(|p| p.masks(&model))
        .unwrap();
    assert_eq!(masks.get("fc.weight").unwrap().pruned(), 0);
    // Pruning the BatchNorm scales themselves (network slimming).
    let masks = PrunerConfig::new(0.25)
        .with_selector(ParamSelector::default().include("**.gamma"))
        .init(BatchNormScale)
        .unwrap()
        .masks(&model)
        .unwrap();
    // Global over all 8 scales: the two smallest |γ| are 0.05 (blocks.1) and 0.1 (blocks.0).
    assert_eq!(keep(&masks, "blocks.0.bn.gamma"), [true, false, true, true]);
    assert_eq!(keep(&masks, "blocks.1.bn.gamma"), [true, true, true, false]);
}

#[test]
fn random_is_deterministic_per_seed_and_path() {
    let device = Device::flex();
    let model = SmallCnn::new(&[3, 8, 8], 4, &device);
    let local = |seed, selector: ParamSelector| {
        PrunerConfig::new(0.5)
            .with_scope(Scope::Local)
            .with_selector(selector)
            .init(Random::new(seed))
            .unwrap()
            .masks(&model)
            .unwrap()
    };
    let a = local(1, ParamSelector::default());
    let b = local(1, ParamSelector::default());
    let c = local(2, ParamSelector::default());
    let only_fc = local(1, ParamSelector::paths(["fc.weight"]));
    assert_eq!(a, b);
    assert_ne!(a.get("fc.weight"), c.get("fc.weight"));
    assert_eq!(a.get("fc.weight"), only_fc.get("fc.weight"));
    assert_eq!(a.get("fc.weight").unwrap().keep.count_zeros(), 16);
}

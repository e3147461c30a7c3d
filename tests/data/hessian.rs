//! Layer-wise second-order pruning on real models: unfolded conv inputs against the conv
//! itself, OBD/OBS as core criteria against hand-computed cases, OBS pruning with its weight
//! update against magnitude pruning.

use crate::common::{SmallCnn, batch, host_floats, values};
use burn::backend::{Flex, FlexDevice};
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_prune::data::{
    ActivationCapture, CaptureBatch, HessianCriterion, Saliency, TapPoint, layer_rows,
    obs_prune_model,
};
use burn_prune::{Granularity, PrunerConfig, Scope};

/// The unfolded input of a 3×3 "same" conv, times its weights, plus its bias, is the conv's
/// output (captured by the replay).
#[test]
fn unfolded_conv_input_times_the_weights_is_the_conv_output() {
    let device = Device::flex();
    device.seed(2);
    let model = SmallCnn::new(&[3, 4, 5], 2, &device);
    let capture = ActivationCapture::new(&model, [2, 3, 6, 6], |m, x| m.forward(x)).unwrap();
    let (x, _) = batch(2, 3, 6, 2, 4, &device);
    let tap = capture.taps()[1].clone();
    let mut got = Vec::new();
    capture
        .run::<Flex, _>(
            &model,
            [x.to_data()],
            FlexDevice,
            &[(1, TapPoint::Input), (1, TapPoint::Output)],
            |_, point, v, shape| got.push((point, v.to_vec(), shape.to_vec())),
        )
        .unwrap();
    let (_, input, in_shape) = &got[0];
    let (_, output, out_shape) = &got[1];
    let rows = layer_rows(&tap, input, in_shape).unwrap();
    assert_eq!((rows.rows, rows.cols), (2 * 36, 4 * 9));
    let w = values(model.blocks[1].conv.weight.val());
    let bias = values(model.blocks[1].conv.bias.as_ref().unwrap().val());
    let [n, o, h, wd] = [out_shape[0], out_shape[1], out_shape[2], out_shape[3]];
    for s in 0..n {
        for f in 0..o {
            for p in 0..h * wd {
                let r = rows.row(s * h * wd + p);
                let dot: f64 = r
                    .iter()
                    .zip(&w[f * 36..(f + 1) * 36])
                    .map(|(a, b)| a * *b as f64)
                    .sum();
                let expected = output[(s * o + f) * h * wd + p] as f64;
                assert!(
                    (dot + bias[f] as f64 - expected).abs() < 1e-4,
                    "{s} {f} {p}"
                );
            }
        }
    }
}

#[derive(Module, Debug)]
struct Layer {
    fc: Linear,
}

fn layer_forward(m: &Layer, x: Tensor<2>) -> Tensor<2> {
    m.fc.forward(x)
}

/// Calibration inputs `[n, 4]` where input 0 has scale 10 and input 1 scale 0.1, inputs 2 and
/// 3 repeat 0 and 1 with a little noise.
fn scaled_inputs(n: usize) -> Vec<f32> {
    let r = host_floats(4 * n, 9);
    (0..n)
        .flat_map(|i| {
            let a = 10.0 * r[4 * i];
            let b = 0.1 * r[4 * i + 1];
            [a, b, a + 0.05 * r[4 * i + 2], b + 0.0005 * r[4 * i + 3]]
        })
        .collect()
}

/// OBD keeps the small weight on the large input: with `h = diag(E x²)`, `½·h·w²` of
/// `w₀ = 0.5` on an input of scale 10 dwarfs that of `w₁ = 1` on an input of scale 0.1;
/// magnitude pruning removes `w₀` instead.
#[test]
fn obd_and_obs_weigh_weights_by_their_inputs() {
    let device = Device::flex();
    let mut fc: Linear = LinearConfig::new(2, 1).with_bias(false).init(&device);
    fc.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![0.5f32, 1.0], [2, 1]),
        &device,
    ));
    let model = Layer { fc };
    let capture = ActivationCapture::new(&model, [64, 2], layer_forward).unwrap();
    let x: Vec<f32> = scaled_inputs(64)
        .chunks(4)
        .flat_map(|c| [c[0], c[1]])
        .collect();
    let moments = capture
        .input_moments::<Flex, _>(
            &model,
            [CaptureBatch::new(TensorData::new(x.clone(), [64, 2]))],
            FlexDevice,
            &[],
        )
        .unwrap();
    let m = &moments["fc.weight"];
    // The moments are E[x xᵀ] of the inputs fed in.
    let e00 = x.chunks(2).map(|c| (c[0] as f64).powi(2)).sum::<f64>() / 64.0;
    assert!((m.sum_xxt().get(0, 0) / m.n() as f64 - e00).abs() < 1e-6 * e00);
    for saliency in [Saliency::Obd, Saliency::Obs] {
        let criterion = HessianCriterion::new(saliency, &moments, 0.0).unwrap();
        let masks = PrunerConfig::new(0.5)
            .init(criterion)
            .unwrap()
            .masks(&model)
            .unwrap();
        assert_eq!(
            masks.get("fc.weight").unwrap().keep.to_bools(),
            [true, false],
            "{saliency:?}"
        );
    }
    let magnitude = PrunerConfig::new(0.5)
        .init(burn_prune::criterion::Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_eq!(
        magnitude.get("fc.weight").unwrap().keep.to_bools(),
        [false, true]
    );
}

/// OBS with its weight update loses far less of the layer's output than magnitude pruning at
/// the same sparsity when inputs are correlated: removing `w` on input 2 is compensated by
/// input 0, which carries almost the same signal.
#[test]
fn obs_pruning_with_updates_beats_magnitude_pruning() {
    let device = Device::flex();
    device.seed(8);
    let model = Layer {
        fc: LinearConfig::new(4, 3).init(&device),
    };
    let n = 256;
    let x = TensorData::new(scaled_inputs(n), [n, 4]);
    let capture = ActivationCapture::new(&model, [n, 4], layer_forward).unwrap();
    let moments = capture
        .input_moments::<Flex, _>(&model, [CaptureBatch::new(x.clone())], FlexDevice, &[])
        .unwrap();
    let xt = Tensor::<2>::from_data(x, &device);
    let dense = model.fc.forward(xt.clone());
    let error = |y: Tensor<2>| {
        (y - dense.clone())
            .powf_scalar(2.0)
            .mean()
            .into_scalar::<f32>()
    };
    let (magnitude, _) = PrunerConfig::new(0.5)
        .with_scope(Scope::Local)
        .init(burn_prune::criterion::Magnitude::l1())
        .unwrap()
        .prune(Layer {
            fc: model.fc.clone(),
        })
        .unwrap();
    let (obs, masks) = obs_prune_model(
        Layer {
            fc: model.fc.clone(),
        },
        &moments,
        0.5,
        1e-6,
    )
    .unwrap();
    assert_eq!(masks.counts(), (12, 6));
    // Each output keeps exactly 2 of its 4 weights, and pruned weights are 0 in the model.
    let w = values(obs.fc.weight.val());
    for out in 0..3 {
        assert_eq!((0..4).filter(|i| w[i * 3 + out] != 0.0).count(), 2);
    }
    let (e_obs, e_mag) = (
        error(obs.fc.forward(xt.clone())),
        error(magnitude.fc.forward(xt)),
    );
    assert!(e_obs * 20.0 < e_mag, "OBS {e_obs} vs magnitude {e_mag}");
}

/// OBS scores a whole conv network through the core pruner at element and filter
/// granularity; a parameter without moments and a masked model are errors.
#[test]
fn hessian_criteria_on_a_cnn_and_their_errors() {
    let device = Device::flex();
    device.seed(4);
    let model = SmallCnn::new(&[3, 4, 6], 3, &device);
    let capture = ActivationCapture::new(&model, [4, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let (x, _) = batch(4, 3, 8, 3, 2, &device);
    let moments = capture
        .input_moments::<Flex, _>(&model, [CaptureBatch::new(x.to_data())], FlexDevice, &[])
        .unwrap();
    assert_eq!(moments.len(), 3);
    assert_eq!(moments["blocks.1.conv.weight"].d(), 4 * 9);
    let criterion = HessianCriterion::new(Saliency::Obs, &moments, 1e-2).unwrap();
    for granularity in [Granularity::Element, Granularity::Filter] {
        let masks = PrunerConfig::new(0.5)
            .with_granularity(granularity)
            .init(criterion.clone())
            .unwrap()
            .masks(&model)
            .unwrap();
        assert!(masks.counts().1 > 0);
    }
    let partial: std::collections::BTreeMap<_, _> = moments
        .iter()
        .take(1)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let err = PrunerConfig::new(0.5)
        .init(HessianCriterion::new(Saliency::Obd, &partial, 1e-2).unwrap())
        .and_then(|p| p.masks(&model))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no input moments"), "{err}");
    let (masked, _) = PrunerConfig::new(0.5)
        .init(burn_prune::criterion::Magnitude::l1())
        .unwrap()
        .prune(model)
        .unwrap();
    let err = obs_prune_model(masked, &moments, 0.5, 1e-2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mask"), "{err}");
}

/// OBD with the empirical Fisher of the network loss, worked by hand: `y = w·x`, loss `y²`,
/// `w = [1, 0.5, 0.2]`, two one-sample batches `x_a = [1, 0, 10]`, `x_b = [0.1, 4, 0]`.
/// Gradients `2y·x`: `g_a = [6, 0, 60]`, `g_b = [0.42, 16.8, 0]`; `F = mean g²` =
/// `[18.088, 141.12, 1800]`; `½F·w²` = `[9.04, 17.64, 36]`: the ranking is the reverse of
/// the magnitudes'.
#[test]
fn fisher_obd_ranks_by_hand_computed_saliency() {
    use burn_prune::data::FisherObd;
    let device = Device::flex().autodiff();
    let mut fc: Linear = LinearConfig::new(3, 1).with_bias(false).init(&device);
    fc.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![1.0f32, 0.5, 0.2], [3, 1]),
        &device,
    ));
    let model = Layer { fc };
    let batches = || {
        [[1.0f32, 0.0, 10.0], [0.1, 4.0, 0.0]]
            .map(|x| Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, 3]), &device))
    };
    let loss = |m: &Layer, x: Tensor<2>| m.fc.forward(x).powf_scalar(2.0).mean().reshape([1]);
    let keep = |sparsity: f64| {
        PrunerConfig::new(sparsity)
            .init(FisherObd)
            .unwrap()
            .masks_with_data(&model, batches(), loss)
            .unwrap()
            .get("fc.weight")
            .unwrap()
            .keep
            .to_bools()
    };
    assert_eq!(keep(1.0 / 3.0), [false, true, true]);
    assert_eq!(keep(2.0 / 3.0), [false, false, true]);
    let magnitude = PrunerConfig::new(2.0 / 3.0)
        .init(burn_prune::criterion::Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_eq!(
        magnitude.get("fc.weight").unwrap().keep.to_bools(),
        [true, false, false]
    );
    // Without batches the criterion has no gradients: a typed error.
    let err = PrunerConfig::new(0.5)
        .init(FisherObd)
        .and_then(|p| p.masks(&model))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OBD (empirical Fisher)") && err.contains("masks_with_data"),
        "{err}"
    );
}

/// The second-order criteria serve whole channels through the core's structural pruner:
/// OBS (layer-wise Hessians) with `keep`, OBD with the empirical Fisher with
/// `keep_with_data`; the plans compact the model.
#[test]
fn hessian_criteria_rank_dependency_groups() {
    use burn_prune::data::FisherObd;
    use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
    let device = Device::flex().autodiff();
    device.seed(6);
    let model = SmallCnn::new(&[3, 6, 8], 3, &device);
    let forward = |m: &SmallCnn, x: Tensor<4>| m.forward(x);
    let graph = DependencyGraph::build(
        &trace(&model, [1, 3, 8, 8], forward).unwrap(),
        &GraphOptions::default(),
    )
    .unwrap();
    let (x, y) = batch(4, 3, 8, 3, 3, &device);
    let capture = ActivationCapture::new(&model, [4, 3, 8, 8], forward).unwrap();
    let moments = capture
        .input_moments::<Flex, _>(&model, [CaptureBatch::new(x.to_data())], FlexDevice, &[])
        .unwrap();
    let obs = HessianCriterion::new(Saliency::Obs, &moments, 1e-2).unwrap();
    let keep = GroupPrunerConfig::new(0.5)
        .init(obs)
        .unwrap()
        .keep(&model, &graph)
        .unwrap();
    let loss = |m: &SmallCnn, (x, y): (Tensor<4>, Tensor<1, Int>)| {
        burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&x.device())
            .forward(m.forward(x), y)
    };
    let fisher = GroupPrunerConfig::new(0.5)
        .init(FisherObd)
        .unwrap()
        .keep_with_data(&model, &graph, [(x, y)], loss)
        .unwrap();
    for keep in [keep, fisher] {
        let plan = burn_prune::structure::StructuralPlan::from_groups(&graph, &keep).unwrap();
        let small = plan.apply(model.valid()).unwrap();
        assert_eq!(small.blocks[0].conv.weight.dims()[0], 3);
        assert_eq!(small.blocks[1].conv.weight.dims(), [4, 3, 3, 3]);
    }
}

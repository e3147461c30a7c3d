//! Activation capture and the activation criteria (APoZ, mean activation, mutual information).

use crate::common::{SmallCnn, batch, values};
use burn::backend::{Flex, FlexDevice};
use burn::module::Param;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use burn_prune::data::{
    ActivationCapture, ActivationCriterion, CaptureBatch, TapPoint, mutual_information,
};
use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig};
use burn_prune::{Granularity, PrunerConfig};

fn cnn_forward(m: &SmallCnn, x: Tensor<4>) -> Tensor<2> {
    m.forward(x)
}

/// A SmallCnn whose second block's channel 2 never fires: zero filter, BatchNorm shift −1.
fn cnn_with_dead_channel(device: &Device) -> SmallCnn {
    device.seed(3);
    let mut model = SmallCnn::new(&[3, 6, 8], 4, device);
    let block = &mut model.blocks[1];
    let w = block.conv.weight.val();
    let [o, i, kh, kw] = w.dims();
    let mut v = values(w);
    v[2 * i * kh * kw..3 * i * kh * kw].fill(0.0);
    block.conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(v, [o, i, kh, kw]),
        device,
    ));
    let mut beta = values(block.bn.beta.val());
    beta[2] = -1.0;
    block.bn.beta = Param::from_tensor(Tensor::from_data(TensorData::new(beta, [8]), device));
    if let Some(b) = block.conv.bias.as_mut() {
        let mut bias = values(b.val());
        bias[2] = 0.0;
        *b = Param::from_tensor(Tensor::from_data(TensorData::new(bias, [8]), device));
    }
    model
}

/// The captured post-activation values are the model's own `relu(bn(conv(x)))`, and the
/// statistics over three batches (the last one smaller, padded in the replay) equal those
/// computed directly from the forward pass.
#[test]
fn captured_activations_equal_the_forward_pass() {
    let device = Device::flex();
    let model = cnn_with_dead_channel(&device);
    let capture = ActivationCapture::new(&model, [8, 3, 8, 8], cnn_forward).unwrap();
    let paths: Vec<&str> = capture.taps().iter().map(|t| t.path.as_str()).collect();
    assert_eq!(
        paths,
        ["blocks.0.conv.weight", "blocks.1.conv.weight", "fc.weight"]
    );
    assert!(capture.taps()[1].has_activation && !capture.taps()[2].has_activation);

    let sizes = [8, 8, 5];
    let batches: Vec<(Tensor<4>, Vec<usize>)> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            let (x, y) = batch(n, 3, 8, 4, 10 + k as u64, &device);
            let labels = values(y.float()).iter().map(|&v| v as usize).collect();
            (x, labels)
        })
        .collect();
    // Direct: the second block's activation, computed by the model's own layers.
    let mut direct: Vec<f32> = Vec::new();
    for (x, _) in &batches {
        let b0 = &model.blocks[0];
        let h = b0.act.forward(b0.bn.forward(b0.conv.forward(x.clone())));
        let b1 = &model.blocks[1];
        direct.extend(values(b1.act.forward(b1.bn.forward(b1.conv.forward(h)))));
    }
    let mut captured = Vec::new();
    capture
        .run::<Flex, _>(
            &model,
            batches.iter().map(|(x, _)| x.to_data()),
            FlexDevice,
            &[(1, TapPoint::Activation)],
            |_, _, v, shape| {
                assert_eq!(&shape[1..], [8, 8, 8]);
                captured.extend_from_slice(v);
            },
        )
        .unwrap();
    crate::common::assert_close(&captured, &direct);

    let stats = capture
        .statistics::<Flex, _>(
            &model,
            batches
                .iter()
                .map(|(x, y)| CaptureBatch::new(x.to_data()).with_labels(y.clone())),
            FlexDevice,
            TapPoint::Activation,
            &["blocks.1.conv.weight".to_string()],
        )
        .unwrap();
    let s = &stats[0];
    assert_eq!((s.samples, s.positions, s.channels), (21, 64, 8));
    for c in 0..8 {
        let channel: Vec<f32> = direct
            .chunks(64)
            .enumerate()
            .filter(|(k, _)| k % 8 == c)
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        let zeros = channel.iter().filter(|v| **v == 0.0).count() as u64;
        let mean = channel.iter().map(|v| *v as f64).sum::<f64>() / channel.len() as f64;
        assert_eq!(s.zeros[c], zeros, "channel {c}");
        assert!((s.mean()[c] - mean).abs() < 1e-5, "channel {c}");
    }
    // The dead channel: every value is 0.
    assert_eq!(s.apoz()[2], 1.0);
    assert_eq!(s.labels.as_ref().unwrap().len(), 21);
}

/// APoZ and mean activation remove the dead channel first, at filter granularity through the
/// core pruner and as group scores through the structural pruner.
#[test]
fn activation_criteria_remove_the_dead_channel() {
    let device = Device::flex();
    let model = cnn_with_dead_channel(&device);
    let capture = ActivationCapture::new(&model, [8, 3, 8, 8], cnn_forward).unwrap();
    let (x, _) = batch(8, 3, 8, 4, 1, &device);
    let stats = capture
        .statistics::<Flex, _>(
            &model,
            [CaptureBatch::new(x.to_data())],
            FlexDevice,
            TapPoint::Activation,
            &["blocks.0.conv.weight".into(), "blocks.1.conv.weight".into()],
        )
        .unwrap();
    for criterion in [
        ActivationCriterion::apoz(&stats),
        ActivationCriterion::mean_activation(&stats),
    ] {
        let masks = PrunerConfig::new(1.0 / 8.0)
            .with_granularity(Granularity::Filter)
            .with_scope(burn_prune::Scope::Local)
            .with_selector(burn_prune::ParamSelector::paths(["blocks.1.conv.weight"]))
            .init(criterion.clone())
            .unwrap()
            .masks(&model)
            .unwrap();
        let keep = masks.get("blocks.1.conv.weight").unwrap().keep.to_bools();
        let per_filter = keep.len() / 8;
        let removed: Vec<usize> = (0..8).filter(|f| !keep[f * per_filter]).collect();
        assert_eq!(removed, [2]);

        let traced = burn_prune::structure::trace(&model, [1, 3, 8, 8], cnn_forward).unwrap();
        let graph = DependencyGraph::build(&traced, &GraphOptions::default()).unwrap();
        let scores = criterion.group_scores(&graph).unwrap();
        let plan = GroupPrunerConfig::new(0.125)
            .plan_from_scores(&model, &graph, &scores)
            .unwrap();
        let filters = plan.params["blocks.1.conv.weight"]
            .keep
            .iter()
            .find(|k| k.axis == 0)
            .unwrap();
        let kept = &filters.indices;
        assert!(!kept.contains(&2) && kept.len() == 7, "{kept:?}");
    }
}

#[derive(Module, Debug)]
struct Probe {
    fc: Linear,
}

/// Mutual information: a unit that copies the label-bearing feature tells more about the
/// class than a unit that copies noise; the estimate of a deterministic relation is log 2.
#[test]
fn mutual_information_ranks_the_informative_unit_first() {
    let device = Device::flex();
    // Unit 0 = x₀ (= the label plus small noise), unit 1 = x₁ (noise), unit 2 = x₀ + x₁.
    let mut fc: Linear = LinearConfig::new(2, 3).with_bias(false).init(&device);
    fc.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0, 1.0, 1.0], [2, 3]),
        &device,
    ));
    let model = Probe { fc };
    let forward = |m: &Probe, x: Tensor<2>| Relu::new().forward(m.fc.forward(x));
    let capture = ActivationCapture::new(&model, [64, 2], forward).unwrap();
    let n = 256;
    let noise = crate::common::host_floats(2 * n, 5);
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let x: Vec<f32> = (0..n)
        .flat_map(|i| {
            [
                labels[i] as f32 + 1.0 + 0.1 * noise[2 * i],
                1.0 + noise[2 * i + 1],
            ]
        })
        .collect();
    let batches: Vec<CaptureBatch> = (0..n / 64)
        .map(|b| {
            let xs = x[b * 128..(b + 1) * 128].to_vec();
            CaptureBatch::new(TensorData::new(xs, [64, 2]))
                .with_labels(labels[b * 64..(b + 1) * 64].to_vec())
        })
        .collect();
    let stats = capture
        .statistics::<Flex, _>(&model, batches, FlexDevice, TapPoint::Output, &[])
        .unwrap();
    let mi = ActivationCriterion::mutual_information(&stats, 8).unwrap();
    let s = &mi.scores()["fc.weight"];
    // Balanced labels, unit 0 separates them: I ≈ log 2; the noise unit: near 0.
    assert!((s[0] as f64 - 2f64.ln()).abs() < 1e-6, "{s:?}");
    assert!(s[1] < 0.1, "{s:?}");
    assert!(s[0] > s[2] && s[2] > s[1], "{s:?}");
    assert!(mutual_information(&[1.0, 2.0], &[0], 2).is_err());
}

#[test]
fn data_driven_errors_name_the_layer() {
    let device = Device::flex();
    let model = cnn_with_dead_channel(&device);
    let capture = ActivationCapture::new(&model, [4, 3, 8, 8], cnn_forward).unwrap();
    let (x, _) = batch(4, 3, 8, 4, 1, &device);
    let run = |point, paths: &[String]| {
        capture
            .statistics::<Flex, _>(
                &model,
                [CaptureBatch::new(x.to_data())],
                FlexDevice,
                point,
                paths,
            )
            .unwrap_err()
            .to_string()
    };
    let err = run(TapPoint::Activation, &["fc.weight".into()]);
    assert!(
        err.contains("fc.weight") && err.contains("activation"),
        "{err}"
    );
    let err = run(TapPoint::Output, &["nope.weight".into()]);
    assert!(err.contains("nope.weight"), "{err}");
    // A batch of the wrong sample shape, one too large, labels of the wrong length.
    let (big, _) = batch(5, 3, 8, 4, 1, &device);
    let err = capture
        .statistics::<Flex, _>(
            &model,
            [CaptureBatch::new(big.to_data())],
            FlexDevice,
            TapPoint::Output,
            &[],
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch 0"), "{err}");
    let err = capture
        .statistics::<Flex, _>(
            &model,
            [CaptureBatch::new(x.to_data()).with_labels(vec![0; 3])],
            FlexDevice,
            TapPoint::Output,
            &[],
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("labels"), "{err}");
    // Statistics without labels cannot give the mutual information; other granularities
    // are refused by the criterion.
    let stats = capture
        .statistics::<Flex, _>(
            &model,
            [CaptureBatch::new(x.to_data())],
            FlexDevice,
            TapPoint::Output,
            &[],
        )
        .unwrap();
    let err = ActivationCriterion::mutual_information(&stats, 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("labels"), "{err}");
    let err = PrunerConfig::new(0.5)
        .init(ActivationCriterion::apoz(&stats))
        .and_then(|p| p.masks(&model))
        .unwrap_err()
        .to_string();
    assert!(err.contains("filter granularity"), "{err}");
}

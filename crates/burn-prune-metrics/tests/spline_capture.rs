//! Activation patterns captured from real models by replaying their traced graph, the
//! partition they draw, and the spline criterion driving the structural pruner.

use burn::backend::{Flex, FlexDevice};
use burn::module::{Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn_prune_core::criterion::Magnitude;
use burn_prune_core::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig};
use burn_prune_metrics::MetricsError;
use burn_prune_metrics::early_bird::{
    PatternCapture, PatternCaptureConfig, SplineEarlyBirdConfig, grid_coefficients,
    partition_boundaries, partition_change,
};
use burn_prune_models::{Mlp, MlpConfig, ResNetCifarConfig};

fn mlp_capture(model: &Mlp, inputs: usize, side: usize, batch: usize) -> PatternCapture {
    PatternCaptureConfig::new()
        .with_grid_side(side)
        .with_batch_size(batch)
        .init(model, [1, inputs], |m, x| m.forward(x))
        .unwrap()
}

fn set_linear(layer: &mut burn::nn::Linear, w: &[f32], b: &[f32], device: &Device) {
    let [i, o] = layer.weight.dims();
    layer.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(w.to_vec(), [i, o]),
        device,
    ));
    layer.bias = Some(Param::from_tensor(Tensor::from_floats(b, device)));
}

#[test]
fn dense_patterns_are_the_signs_of_the_pre_activations() {
    let device = Device::flex();
    let mut model = MlpConfig::new(3, vec![4, 3], 2).init(&device).unwrap();
    // fc1 (inputs × outputs): unit j's pre-activation at α·x₀ + β·x₁ = (α, β, 0) is
    // α·W[0][j] + β·W[1][j] + b[j]; no grid point (multiples of 1/4) lies on a boundary.
    let w = [
        [1.0, -1.0, 0.5, 2.0],
        [-1.0, -1.0, 0.5, 1.0],
        [3.0, 3.0, 3.0, 3.0],
    ];
    let b = [0.1, 0.3, -0.6, 5.0];
    set_linear(&mut model.layers[0], &w.concat(), &b, &device);
    let x0 = TensorData::new(vec![1.0f32, 0.0, 0.0], [3]);
    let x1 = TensorData::new(vec![0.0f32, 1.0, 0.0], [1, 3]);
    // Batches of 7 over 25 points: the last batch is padded.
    let capture = mlp_capture(&model, 3, 5, 7);
    let names: Vec<&str> = capture.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["layers.0", "layers.1"]);
    assert_eq!(
        capture.layers()[0].owner,
        Some(("layers.0.weight".into(), 1))
    );
    let patterns = capture
        .capture::<Flex, _>(&model, &x0, &x1, FlexDevice)
        .unwrap();
    let grid = grid_coefficients(5);
    let first = &patterns.layers[0];
    assert_eq!((first.units, first.points), (4, 25));
    for (p, &(alpha, beta)) in grid.iter().enumerate() {
        for j in 0..4 {
            let pre = alpha * w[0][j] + beta * w[1][j] + b[j];
            assert_eq!(first.get(j, p), Some(pre > 0.0), "unit {j} at point {p}");
        }
    }
    // Unit 3 is active everywhere, unit 2 only where α + β > 1.2.
    assert_eq!(
        (0..25).filter(|&p| first.get(3, p) == Some(true)).count(),
        25
    );
    assert_eq!(
        (0..25).filter(|&p| first.get(2, p) == Some(true)).count(),
        10
    );

    // The second layer against the model's own forward pass on the whole grid at once.
    let xs: Vec<f32> = grid.iter().flat_map(|&(a, b)| [a, b, 0.0]).collect();
    let x = Tensor::<2>::from_data(TensorData::new(xs, [25, 3]), &device);
    let hidden = burn::tensor::activation::relu(model.layers[0].forward(x));
    let pre2: Vec<f32> = model.layers[1]
        .forward(hidden)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let second = &patterns.layers[1];
    for p in 0..25 {
        for u in 0..3 {
            assert_eq!(second.get(u, p), Some(pre2[p * 3 + u] > 0.0));
        }
    }
}

#[test]
fn resnet_patterns_cover_every_batch_norm_and_relu() {
    let device = Device::flex();
    device.seed(3);
    let model = ResNetCifarConfig::new(20).init(&device).unwrap();
    let capture = PatternCaptureConfig::new()
        .with_grid_side(4)
        .with_batch_size(16)
        .init(&model, [1, 3, 8, 8], |m, x| m.forward(x))
        .unwrap();
    // The stem and each block's first BatchNorm feed a ReLU (one pattern each); each block's
    // second BatchNorm feeds the residual add, and the ReLU after the add is its own layer.
    let layers = capture.layers();
    assert_eq!(layers.len(), 1 + 9 * 3);
    assert_eq!(layers[0].name, "stem.bn");
    assert_eq!((layers[0].channels, layers[0].positions), (16, 64));
    assert_eq!(layers[1].name, "layer1.0.conv1.bn");
    assert_eq!(layers[2].name, "layer1.0.conv2.bn");
    assert!(
        layers[3].name.starts_with("layer1.0.conv2.bn:relu"),
        "{}",
        layers[3].name
    );
    assert!(layers.iter().all(|l| l.owner.is_some()));

    let x0 = TensorData::new(uniform(3 * 64, -2.0, 2.0, 1), [3, 8, 8]);
    let x1 = TensorData::new(uniform(3 * 64, -2.0, 2.0, 2), [3, 8, 8]);
    let patterns = capture
        .capture::<Flex, _>(&model, &x0, &x1, FlexDevice)
        .unwrap();
    // The stem's pattern against the stem run directly on the 16 grid inputs.
    let a = Tensor::<3>::from_data(x0, &device);
    let b = Tensor::<3>::from_data(x1, &device);
    let grid: Vec<Tensor<4>> = grid_coefficients(4)
        .iter()
        .map(|&(alpha, beta)| (a.clone() * alpha + b.clone() * beta).unsqueeze())
        .collect();
    let stem: Vec<f32> = model
        .stem
        .forward(Tensor::cat(grid, 0))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let units = 16 * 64;
    for p in 0..16 {
        for u in 0..units {
            assert_eq!(
                patterns.layers[0].get(u, p),
                Some(stem[p * units + u] > 0.0)
            );
        }
    }
}

/// Seeded uniform floats in `[lo, hi)`, made on the host.
fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

#[test]
fn the_spline_detector_fires_on_captures_of_a_settled_model() {
    let device = Device::flex();
    device.seed(9);
    let model = MlpConfig::new(4, vec![16], 3).init(&device).unwrap();
    let capture = mlp_capture(&model, 4, 12, 50);
    let x0 = TensorData::new(vec![1.0f32, -0.5, 0.25, 2.0], [4]);
    let x1 = TensorData::new(vec![-1.0f32, 1.5, 0.75, -0.5], [4]);
    let mut detector = SplineEarlyBirdConfig::new().init().unwrap();
    for epoch in 0..4 {
        let status = detector
            .observe(
                capture
                    .capture::<Flex, _>(&model, &x0, &x1, FlexDevice)
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(status.emerged, epoch == 3, "epoch {epoch}");
    }
    // Other weights (a later epoch) draw another partition.
    let other = MlpConfig::new(4, vec![16], 3).init(&device).unwrap();
    let moved = capture
        .capture::<Flex, _>(&other, &x0, &x1, FlexDevice)
        .unwrap();
    let same = capture
        .capture::<Flex, _>(&model, &x0, &x1, FlexDevice)
        .unwrap();
    assert!(partition_change(&same, &moved, 12).unwrap() > 0.0);
    assert_eq!(partition_change(&same, &same, 12).unwrap(), 0.0);
}

#[test]
fn capture_errors_name_what_is_wrong() {
    let device = Device::flex();
    let model = MlpConfig::new(3, vec![4], 2).init(&device).unwrap();
    let capture = mlp_capture(&model, 3, 4, 8);
    let ok = TensorData::new(vec![1.0f32, 0.0, 0.0], [3]);
    let long = TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [4]);
    let nan = TensorData::new(vec![f32::NAN, 0.0, 0.0], [3]);
    let err = capture
        .capture::<Flex, _>(&model, &long, &ok, FlexDevice)
        .unwrap_err();
    assert!(
        matches!(&err, MetricsError::Mismatch { context, .. } if context.contains("x0")),
        "{err}"
    );
    assert!(matches!(
        capture.capture::<Flex, _>(&model, &ok, &nan, FlexDevice),
        Err(MetricsError::InvalidArgument { what, .. }) if what == "x1"
    ));
    // Another architecture than the traced one.
    let wider = MlpConfig::new(3, vec![5], 2).init(&device).unwrap();
    assert!(matches!(
        capture.capture::<Flex, _>(&wider, &ok, &ok, FlexDevice),
        Err(MetricsError::Prune(_))
    ));
    for bad in [
        PatternCaptureConfig::new().with_grid_side(1),
        PatternCaptureConfig::new().with_batch_size(0),
        PatternCaptureConfig::new().with_lo(1.0).with_hi(0.0),
    ] {
        assert!(bad.init(&model, [1, 3], |m, x| m.forward(x)).is_err());
    }
    // No ReLU and no BatchNorm: nothing to record.
    let linear = MlpConfig::new(3, vec![], 2).init(&device).unwrap();
    assert!(matches!(
        PatternCaptureConfig::new().init(&linear, [1, 3], |m, x| m.forward(x)),
        Err(MetricsError::InvalidArgument { .. })
    ));
    // Patterns of another capture do not score this one's groups.
    let t = burn_prune_core::structure::trace(&model, [1, 3], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let other = mlp_capture(&model, 3, 5, 8)
        .capture::<Flex, _>(&model, &ok, &ok, FlexDevice)
        .unwrap();
    assert!(matches!(
        capture.group_scores(&graph, &other),
        Err(MetricsError::Mismatch { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// The spline criterion on a trained model

/// Two classes in the plane of the first two of 6 features: inside or outside a ring.
fn ring_data(n: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>, Vec<Vec<f32>>) {
    let v = uniform(n * 6, -1.5, 1.5, 7);
    let x = TensorData::new(v.clone(), [n, 6]);
    let rows: Vec<Vec<f32>> = v.chunks(6).map(|r| r.to_vec()).collect();
    let y: Vec<i64> = rows
        .iter()
        .map(|r| i64::from(r[0] * r[0] + r[1] * r[1] < 1.0))
        .collect();
    (
        Tensor::from_data(x, device),
        Tensor::from_data(TensorData::new(y, [n]), device),
        rows,
    )
}

/// Every weight and bias of a linear layer from `U(−1/√fan_in, 1/√fan_in)` (Burn's default
/// bound; Burn's linear weight is `[fan_in, fan_out]`), seeded per parameter on the host.
fn host_init(model: Mlp, seed: u64) -> Mlp {
    struct HostInit {
        seed: u64,
        fan_in: usize,
    }
    impl burn::module::ModuleMapper for HostInit {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let shape = param.lazy_shape();
            if D == 2 {
                self.fan_in = shape[0];
            }
            let bound = 1.0 / (self.fan_in as f32).sqrt();
            self.seed += 1;
            let values = uniform(shape.num_elements(), -bound, bound, self.seed);
            param.map(|old| {
                Tensor::from_data(TensorData::new(values, shape), &old.device()).require_grad()
            })
        }
    }
    model.map(&mut HostInit { seed, fan_in: 1 })
}

fn train(device: &Device) -> (Mlp, Vec<Vec<f32>>, Vec<i64>) {
    let ad = device.clone().autodiff();
    // The device's RNG is shared by the tests running in parallel in this binary: draw the
    // initial values on the host so that the trained model does not depend on test order.
    let mut model = host_init(MlpConfig::new(6, vec![32, 32], 2).init(&ad).unwrap(), 21);
    let (x, y, rows) = ring_data(256, &ad);
    let labels: Vec<i64> = y.to_data().convert::<i64>().try_to_vec::<i64>().unwrap();
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let mut optim = AdamConfig::new().init();
    let first = ce
        .forward(model.forward(x.clone()), y.clone())
        .into_scalar::<f32>();
    for _ in 0..300 {
        let loss = ce.forward(model.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.01, model, grads);
    }
    let last = ce.forward(model.forward(x), y).into_scalar::<f32>();
    assert!(
        last < 0.5 * first,
        "the model learns the ring: {first} -> {last}"
    );
    (model.valid(), rows, labels)
}

#[test]
fn removing_spline_redundant_units_changes_the_partition_less_than_l1() {
    let device = Device::flex();
    let (model, rows, labels) = train(&device);
    // x₀ and x₁: a sample of each class.
    let x0 = rows[labels.iter().position(|&l| l == 0).unwrap()].clone();
    let x1 = rows[labels.iter().position(|&l| l == 1).unwrap()].clone();
    let (x0, x1) = (TensorData::new(x0, [6]), TensorData::new(x1, [6]));
    let side = 40;
    let patterns_of = |m: &Mlp| {
        mlp_capture(m, 6, side, 400)
            .capture::<Flex, _>(m, &x0, &x1, FlexDevice)
            .unwrap()
    };
    let capture = mlp_capture(&model, 6, side, 400);
    let dense = capture
        .capture::<Flex, _>(&model, &x0, &x1, FlexDevice)
        .unwrap();

    let t = burn_prune_core::structure::trace(&model, [1, 6], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let scores = capture.group_scores(&graph, &dense).unwrap();
    let free: usize = graph.groups.iter().map(|g| g.prunable()).sum();
    let redundant: usize = graph
        .groups
        .iter()
        .zip(&scores)
        .filter(|(g, _)| g.prunable() > 0)
        .map(|(_, s)| s.iter().filter(|&&v| v == 0.0).count())
        .sum();
    assert!(
        redundant >= 4,
        "{redundant} of {free} units are redundant in the region"
    );
    // The same number of units, once by spline score and once by L1 norm, ranked globally.
    let ratio = redundant as f64 / free as f64;
    let config = GroupPrunerConfig::new(ratio).with_scope(burn_prune_core::Scope::Global);
    let spline_plan = config.plan_from_scores(&model, &graph, &scores).unwrap();
    let l1_plan = config
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert_eq!(
        spline_plan.removed_elements() > 0,
        l1_plan.removed_elements() > 0
    );
    let removed_units = |plan: &burn_prune_core::structure::StructuralPlan| {
        (0..2)
            .map(|l| {
                let path = format!("layers.{l}.weight");
                32 - plan.params.get(&path).map_or(32, |s| s.new_shape()[1])
            })
            .sum::<usize>()
    };
    assert_eq!(removed_units(&spline_plan), redundant);
    assert_eq!(removed_units(&l1_plan), redundant);

    let by_spline = partition_change(
        &dense,
        &patterns_of(&spline_plan.apply(model.clone()).unwrap()),
        side,
    )
    .unwrap();
    let by_l1 = partition_change(
        &dense,
        &patterns_of(&l1_plan.apply(model.clone()).unwrap()),
        side,
    )
    .unwrap();
    let boundary = partition_boundaries(&dense, side).unwrap().count_ones() as f64
        / (2 * side * (side - 1)) as f64;
    eprintln!(
        "{redundant} of {free} units removed: partition change {by_spline:.4} (spline) vs {by_l1:.4} (L1); dense boundary density {boundary:.4}"
    );
    assert!(
        by_spline < by_l1,
        "spline {by_spline} should change the partition less than L1 {by_l1}"
    );
}

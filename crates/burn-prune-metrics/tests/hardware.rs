//! Hardware-aware widths: MAC and latency costs of kept widths, budgets, the latency table.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn_prune_core::PruneError;
use burn_prune_core::criterion::Magnitude;
use burn_prune_core::structure::{
    DependencyGraph, GraphOptions, GroupCost, GroupPrunerConfig, trace,
};
use burn_prune_metrics::hardware::{
    HardwareConfig, LatencyCost, LatencyTable, LayerCurve, LayerShape, MacCost, device_name,
};
use burn_prune_metrics::{Convention, MetricsError, ModelMetrics};
use burn_prune_models::{
    MobileNetV2, MobileNetV2Config, ResNetCifar, ResNetCifarConfig, ShortcutKind,
};

/// The MACs a `MacCost` predicts for a budget plan equal the compacted model's counted MACs.
fn check_mac_prediction<M: Module>(
    model: M,
    shape: [usize; 4],
    forward: impl Fn(&M, Tensor<4>) -> Tensor<2> + Copy,
    apply: impl Fn(&burn_prune_core::structure::StructuralPlan, M) -> M,
) {
    let traced = trace(&model, shape, forward).unwrap();
    let graph = DependencyGraph::build(&traced, &GraphOptions::default()).unwrap();
    let cost = MacCost::new(&traced, &graph);
    let dense = ModelMetrics::of_model(&model, shape, forward)
        .unwrap()
        .macs(Convention::Papers) as f64;
    let full: Vec<usize> = graph.groups.iter().map(|g| g.n_units).collect();
    assert_eq!(cost.cost(&full), dense);
    let pruner = GroupPrunerConfig::new(0.0).init(Magnitude::l1()).unwrap();
    for fraction in [0.9, 0.6, 0.35] {
        let p = pruner
            .plan_within(&model, &graph, &cost, fraction * dense)
            .unwrap();
        assert!(p.predicted <= fraction * dense, "{p}");
        let small = apply(&p.plan, model.clone());
        let counted = ModelMetrics::of_model(&small, shape, forward)
            .unwrap()
            .macs(Convention::Papers) as f64;
        assert!(
            (counted - p.predicted).abs() <= 1e-9 * dense,
            "{fraction}: predicted {} MACs, the compacted model has {counted}",
            p.predicted
        );
    }
}

#[test]
fn mac_cost_predicts_the_compacted_resnets_macs() {
    let device = Device::flex();
    for shortcut in [ShortcutKind::A, ShortcutKind::B] {
        let model = ResNetCifarConfig::new(20)
            .with_shortcut(shortcut)
            .init(&device)
            .unwrap();
        check_mac_prediction(
            model,
            [1, 3, 32, 32],
            |m: &ResNetCifar, x| m.forward(x),
            |p, m| p.apply(m).unwrap(),
        );
    }
}

#[test]
fn mac_cost_predicts_depthwise_convolutions() {
    let model = MobileNetV2Config::cifar()
        .with_width_mult(0.25)
        .init(&Device::flex())
        .unwrap();
    check_mac_prediction(
        model,
        [1, 3, 32, 32],
        |m: &MobileNetV2, x| m.forward(x),
        |p, m| p.apply_with_constants(m).unwrap(),
    );
}

#[test]
fn a_layer_curve_interpolates_bilinearly() {
    let curve = LayerCurve {
        widths_in: vec![2, 4],
        widths_out: vec![4, 8],
        ms: vec![vec![1.0, 3.0], vec![2.0, 8.0]],
    };
    assert_eq!(curve.at(2.0, 4.0), 1.0);
    assert_eq!(curve.at(4.0, 8.0), 8.0);
    // Halfway on both axes: the mean of the four corners.
    assert_eq!(curve.at(3.0, 6.0), (1.0 + 3.0 + 2.0 + 8.0) / 4.0);
    // (3, 5): rows at in=2: 1 + (3-1)/4 = 1.5; at in=4: 2 + 6/4 = 3.5; halfway: 2.5.
    assert_eq!(curve.at(3.0, 5.0), 2.5);
    // Below the grid: the smallest measured width's value; above: the largest's.
    assert_eq!(curve.at(1.0, 1.0), 1.0);
    assert_eq!(curve.at(9.0, 9.0), 8.0);
    assert_eq!(curve.spacing(true, 8), 4);
    assert_eq!(curve.spacing(false, 2), 2);
}

#[test]
fn measured_widths_are_evenly_spaced_with_the_full_width() {
    let c = HardwareConfig::new();
    assert_eq!(c.widths(5), vec![1, 2, 3, 4, 5]);
    assert_eq!(c.widths(64), vec![8, 16, 24, 32, 40, 48, 56, 64]);
    assert_eq!(c.widths(12), vec![2, 3, 5, 6, 8, 9, 11, 12]);
}

/// conv(3→8) → BN → ReLU → conv(8→8) → BN → ReLU → mean → linear(8→4).
#[derive(Module, Debug)]
struct Small {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    fc: Linear,
}

impl Small {
    fn new(device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            conv1: conv(3, 8),
            bn1: BatchNormConfig::new(8).init(device),
            conv2: conv(8, 8),
            bn2: BatchNormConfig::new(8).init(device),
            fc: LinearConfig::new(8, 4).init(device),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        let x = relu(self.bn2.forward(self.conv2.forward(x)));
        self.fc.forward(x.mean_dims(&[2, 3]).flatten(1, 3))
    }
}

/// The input shape the `Small` tests trace and time at.
const SMALL_SHAPE: [usize; 4] = [4, 3, 12, 12];

/// `Small` on flex and its dependency groups, traced at [`SMALL_SHAPE`].
fn small_and_graph(device: &Device) -> (Small, DependencyGraph) {
    let model = Small::new(device);
    let traced = trace(&model, SMALL_SHAPE, |m: &Small, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&traced, &GraphOptions::default()).unwrap();
    (model, graph)
}

#[test]
fn latency_cost_measures_once_reuses_its_table_and_meets_a_budget() {
    let device = Device::flex();
    let (model, graph) = small_and_graph(&device);
    let shape = SMALL_SHAPE;
    let forward = |m: &Small, x| m.forward(x);
    let config = HardwareConfig::new().with_points_per_axis(4).with_runs(3);
    let mut table = LatencyTable::default();
    let cost =
        LatencyCost::measure(&model, shape, &device, forward, &graph, &mut table, &config).unwrap();
    // Two conv shapes and the linear layer, under the device's name.
    let curves = &table.entries[&device_name(&device)];
    assert_eq!(curves.len(), 3, "{:?}", curves.keys().collect::<Vec<_>>());
    assert!(
        curves
            .keys()
            .any(|k| k.starts_with("conv2d b4 8x12x12 -> 8 k3x3"))
    );

    let dir = std::env::temp_dir().join(format!("burn-prune-latency-{}", std::process::id()));
    let path = dir.join("table.json");
    table.save(&path).unwrap();
    let mut reloaded = LatencyTable::load_or_default(&path).unwrap();
    // JSON keeps every latency to within a rounding of its last digit.
    for (device, curves) in &table.entries {
        for (key, curve) in curves {
            let back = &reloaded.entries[device][key];
            assert_eq!(
                (&back.widths_in, &back.widths_out),
                (&curve.widths_in, &curve.widths_out)
            );
            for (a, b) in back.ms.iter().flatten().zip(curve.ms.iter().flatten()) {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs(),
                    "{key}: {a} read back as {b}"
                );
            }
        }
    }
    let before = reloaded.clone();
    LatencyCost::measure(
        &model,
        shape,
        &device,
        forward,
        &graph,
        &mut reloaded,
        &config,
    )
    .unwrap();
    assert_eq!(
        reloaded, before,
        "a second measure reuses the table's curves"
    );

    // The dense prediction is the measured dense time (the layers' curves plus the rest).
    let full: Vec<usize> = graph.groups.iter().map(|g| g.n_units).collect();
    let (layers, rest) = cost.split(&full);
    if layers <= cost.measured_dense() {
        assert!((cost.cost(&full) - cost.measured_dense()).abs() < 1e-9);
    } else {
        assert_eq!(rest, 0.0);
    }
    // A budget between the dense cost and the lowest the selection reaches is met. (The
    // layers of this small model take microseconds, so how low the measured cost can go
    // depends on the machine's load: ask the selection first.)
    let pruner = GroupPrunerConfig::new(0.0).init(Magnitude::l1()).unwrap();
    let lowest = match pruner.plan_within(&model, &graph, &cost, 1e-12) {
        Err(PruneError::BudgetUnreachable { reached, dense, .. }) => {
            assert_eq!(dense, cost.cost(&full));
            reached
        }
        other => panic!("a budget of 1e-12 ms: {other:?}"),
    };
    let budget = 0.5 * (lowest + cost.cost(&full));
    let plan = pruner.plan_within(&model, &graph, &cost, budget).unwrap();
    assert!(plan.predicted <= budget);
    assert!(plan.kept.iter().zip(&full).all(|(k, n)| k <= n));
    let small = plan.plan.apply(model).unwrap();
    assert_eq!(small.forward(Tensor::zeros(shape, &device)).dims(), [4, 4]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn calibration_matches_both_measurements() {
    let device = Device::flex();
    let (model, graph) = small_and_graph(&device);
    let shape = SMALL_SHAPE;
    let forward = |m: &Small, x| m.forward(x);
    let config = HardwareConfig::new().with_points_per_axis(3).with_runs(1);
    let mut cost = LatencyCost::measure(
        &model,
        shape,
        &device,
        forward,
        &graph,
        &mut LatencyTable::default(),
        &config,
    )
    .unwrap();
    let full: Vec<usize> = graph.groups.iter().map(|g| g.n_units).collect();
    let half: Vec<usize> = full.iter().map(|n| n.div_ceil(2)).collect();
    let dense = cost.measured_dense();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * dense.max(b.abs());

    // Bad calibration points are errors, and leave the cost as it was.
    let before = (cost.cost(&full), cost.cost(&half));
    let short = cost.calibrate(&half[1..], 1.0).unwrap_err();
    assert!(matches!(short, MetricsError::Mismatch { .. }), "{short}");
    let mut wide = half.clone();
    wide[0] = full[0] + 1;
    let e = cost.calibrate(&wide, 1.0).unwrap_err();
    assert!(e.to_string().contains("group 0 keeps"), "{e}");
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = cost.calibrate(&half, bad).unwrap_err();
        assert!(e.to_string().contains("measured latency"), "{e}");
    }
    let e = cost.calibrate(&full, dense).unwrap_err();
    assert!(e.to_string().contains("narrower"), "{e}");
    assert_eq!((cost.cost(&full), cost.cost(&half)), before);

    // A narrow model measured slower than predicted (what large batches show): the cost then
    // goes through both measurements, or, where the narrow model's rest outlasts the dense
    // model's, keeps the dense time and a rest that no longer follows the channels.
    for slower in [1.05, 1.3, 3.0] {
        let measured = slower * before.1;
        cost.calibrate(&half, measured).unwrap();
        // (Layers timed alone can outlast a short forward pass timed once: no rest is left.)
        if cost.split(&full).0 <= dense {
            assert!(close(cost.cost(&full), dense), "{slower}: dense {dense}");
        }
        let (rest_full, rest_half) = (cost.split(&full).1, cost.split(&half).1);
        assert!(
            close(cost.cost(&half), measured) || close(rest_full, rest_half),
            "{slower}: {} predicted for {measured} measured",
            cost.cost(&half)
        );
        // More units never cost less.
        assert!(rest_half <= rest_full + 1e-12);
    }
}

#[test]
fn a_broken_latency_table_is_an_error_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("burn-prune-latency-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(
        LatencyTable::load_or_default(dir.join("missing.json")).unwrap(),
        LatencyTable::default()
    );
    let path = dir.join("bad.json");
    std::fs::write(&path, "{ not json").unwrap();
    let e = LatencyTable::load_or_default(&path).unwrap_err();
    assert!(
        matches!(e, MetricsError::Json { .. }) && e.to_string().contains("bad.json"),
        "{e}"
    );
    // One latency missing from a row.
    std::fs::write(
        &path,
        r#"{"entries":{"Flex":{"linear 4x8 -> 2":{"widths_in":[4,8],"widths_out":[1,2],"ms":[[1.0,2.0],[3.0]]}}}}"#,
    )
    .unwrap();
    let e = LatencyTable::load_or_default(&path).unwrap_err();
    assert!(
        e.to_string().contains("linear 4x8 -> 2") && e.to_string().contains("bad.json"),
        "{e}"
    );
    let layer = LayerShape::Linear {
        rows: 4,
        d_input: 8,
        d_output: 2,
        bias: false,
    };
    let e = LatencyTable::default()
        .curve(
            &layer,
            &Device::flex(),
            &HardwareConfig::new().with_points_per_axis(1),
        )
        .unwrap_err();
    assert!(e.to_string().contains("points_per_axis"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

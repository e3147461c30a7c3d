//! PreCrop's channel allocation and PreConfig's widths: the continuous optimum against
//! brute-force grids of the program written out by hand, the budgets measured on the compacted
//! model, training after compaction, and the wider configurations.

use crate::common::{QUADRANT_CLASSES, quadrants};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn_prune::metrics::{Convention, OpCounts, ParamStats};
use burn_prune::models::{ResNetCifar, ResNetCifarConfig, ShortcutKind};
use burn_prune::pai::{ChannelAllocation, PreCropConfig};
use std::collections::BTreeMap;

#[derive(Module, Debug)]
struct Mlp {
    a: Linear,
    b: Linear,
    c: Linear,
}

fn mlp_forward(m: &Mlp, x: Tensor<2>) -> Tensor<2> {
    let x = Relu::new().forward(m.a.forward(x));
    m.c.forward(Relu::new().forward(m.b.forward(x)))
}

fn resnet_forward(m: &ResNetCifar, x: Tensor<4>) -> Tensor<2> {
    m.forward(x)
}

/// `n` points of `[lo, hi]` evenly spaced in log scale.
fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp())
        .collect()
}

/// Weights and MACs of the selected layers of `model`, measured by the metrics crate.
fn measured<M: Module, F: Fn(&M, Tensor<4>) -> Tensor<2>>(
    model: &M,
    paths: &[&String],
    forward: F,
) -> (u64, u64) {
    let stats = ParamStats::of_model(model).unwrap();
    let params = paths.iter().map(|p| stats.get(p).unwrap().numel).sum();
    let counts = OpCounts::of_model(model, [1, 3, 32, 32], forward).unwrap();
    let macs = counts
        .ops
        .iter()
        .filter(|op| op.param.as_ref().is_some_and(|p| paths.contains(&p)))
        .map(|op| op.macs(Convention::Papers))
        .sum();
    (params, macs)
}

/// A 16→24→20→4 MLP: `p_a = c₁`, `p_b = c₁c₂`, `p_c = c₂`, so PreCrop maximises
/// `2 log c₁ + 2 log c₂` subject to `384c₁ + 480c₁c₂ + 80c₂ ≤ 0.15 · 944`. Stationarity
/// (`∇f = λ∇g` in log variables) gives `384c₁ = 80c₂`, so `c₂ = 4.8c₁` with
/// `768c₁ + 2304c₁² = 141.6` at an interior optimum. The allocation equals that closed form,
/// beats every feasible point of a fine grid, and its rounded channels are the best integer
/// counts (exhaustive search).
#[test]
fn mlp_channels_equal_brute_force() {
    let device = Device::flex();
    let mlp = Mlp {
        a: LinearConfig::new(16, 24).init(&device),
        b: LinearConfig::new(24, 20).init(&device),
        c: LinearConfig::new(20, 4).init(&device),
    };
    let allocation = PreCropConfig::new()
        .with_params(Some(0.15))
        .init()
        .unwrap()
        .channels(&mlp, [1, 16], mlp_forward)
        .unwrap();
    // Groups: the two hidden layers (free) and the output (pinned: no variable).
    let hidden = |path: &str| allocation.graph.group_of(path, 1).unwrap().0;
    let (g1, g2) = (hidden("a.weight"), hidden("b.weight"));
    let (c1, c2) = (allocation.ratios[g1], allocation.ratios[g2]);
    let cost = |c1: f64, c2: f64| 384.0 * c1 + 480.0 * c1 * c2 + 80.0 * c2;
    let objective = |c1: f64, c2: f64| 2.0 * c1.ln() + 2.0 * c2.ln();
    let limit = 0.15 * 944.0;
    let closed_c1 = (-768.0 + (768.0f64 * 768.0 + 4.0 * 2304.0 * limit).sqrt()) / (2.0 * 2304.0);
    assert!((c1 / closed_c1 - 1.0).abs() < 1e-7, "{c1} vs {closed_c1}");
    assert!(
        (c2 / (4.8 * closed_c1) - 1.0).abs() < 1e-7,
        "{c2} vs {}",
        4.8 * closed_c1
    );
    assert!(cost(c1, c2) <= limit * (1.0 + 1e-9));
    let mut best = f64::NEG_INFINITY;
    for &a in &log_grid(1.0 / 24.0, 1.0, 800) {
        for &b in &log_grid(1.0 / 20.0, 1.0, 800) {
            if cost(a, b) <= limit {
                best = best.max(objective(a, b));
            }
        }
    }
    let ours = objective(c1, c2);
    assert!(ours >= best - 1e-9, "grid {best} beats {ours}");
    assert!(ours - best < 1e-2, "grid {best} far below {ours}");

    // Rounded: the best whole channel counts (exhaustive), budget met.
    let (k1, k2) = (allocation.kept[g1], allocation.kept[g2]);
    let int_cost = |k1: usize, k2: usize| (16 * k1 + k1 * k2 + k2 * 4) as f64;
    let int_objective = |k1: usize, k2: usize| objective(k1 as f64 / 24.0, k2 as f64 / 20.0);
    assert!(int_cost(k1, k2) <= limit);
    let best_int = (1..=24)
        .flat_map(|a| (1..=20).map(move |b| (a, b)))
        .filter(|&(a, b)| int_cost(a, b) <= limit)
        .map(|(a, b)| int_objective(a, b))
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        (int_objective(k1, k2) - best_int).abs() < 1e-12,
        "({k1}, {k2}) is not the best integer point"
    );
    assert!((allocation.kept_params() - int_cost(k1, k2)).abs() < 1e-9);
    let small = allocation.plan().unwrap().apply(mlp).unwrap();
    assert_eq!(small.a.weight.dims(), [16, k1]);
    assert_eq!(small.b.weight.dims(), [k1, k2]);
    assert_eq!(small.c.weight.dims(), [k2, 4]);
}

/// ResNet-8 with stage widths 4/8/16 and option-A shortcuts: the residual group has 4 free
/// channels (stage 1's) and 12 pinned (the zero padding), so `log p` of the layers after the
/// padding is `log(a + b·c)`, not linear. The program is written out here by hand from the
/// architecture; the allocation beats every feasible point of a 4-dimensional grid.
#[test]
fn option_a_resnet_channels_beat_a_grid_of_the_hand_written_program() {
    let device = Device::flex();
    let config = ResNetCifarConfig::new(8).with_stage_widths(Some(vec![4, 8, 16]));
    let model = config.init(&device).unwrap();
    let allocation = PreCropConfig::new()
        .with_params(Some(0.5))
        .with_macs(Some(0.4))
        .init()
        .unwrap()
        .channels(&model, [1, 3, 32, 32], resnet_forward)
        .unwrap();
    let group = |path: &str| allocation.graph.group_of(path, 0).unwrap().0;
    let gr = group("stem.conv.weight");
    let gm: Vec<usize> = (1..=3)
        .map(|s| group(&format!("layer{s}.0.conv1.conv.weight")))
        .collect();
    assert_eq!(allocation.free[gr], 4);
    assert_eq!(
        gm.iter().map(|&g| allocation.free[g]).collect::<Vec<_>>(),
        [4, 8, 16]
    );
    // (weights, output positions, fraction kept) of each conv/linear weight.
    let layers = |r: f64, m: [f64; 3]| {
        let s2 = (4.0 + 4.0 * r) / 8.0;
        let s3 = (12.0 + 4.0 * r) / 16.0;
        [
            (4.0 * 3.0 * 9.0, 1024.0, r),
            (4.0 * 4.0 * 9.0, 1024.0, m[0] * r),
            (4.0 * 4.0 * 9.0, 1024.0, r * m[0]),
            (8.0 * 4.0 * 9.0, 256.0, m[1] * r),
            (8.0 * 8.0 * 9.0, 256.0, s2 * m[1]),
            (16.0 * 8.0 * 9.0, 64.0, m[2] * s2),
            (16.0 * 16.0 * 9.0, 64.0, s3 * m[2]),
            (16.0 * 10.0, 1.0, s3),
        ]
    };
    let dense = layers(1.0, [1.0; 3]);
    let param_limit = 0.5 * dense.iter().map(|l| l.0).sum::<f64>();
    let mac_limit = 0.4 * dense.iter().map(|l| l.0 * l.1).sum::<f64>();
    let evaluate = |r: f64, m: [f64; 3]| {
        let ls = layers(r, m);
        let params: f64 = ls.iter().map(|l| l.0 * l.2).sum();
        let macs: f64 = ls.iter().map(|l| l.0 * l.1 * l.2).sum();
        let feasible = params <= param_limit && macs <= mac_limit;
        (feasible, ls.iter().map(|l| l.2.ln()).sum::<f64>())
    };
    let ratio = |g: usize| allocation.ratios[g];
    let (feasible, ours) = evaluate(ratio(gr), [ratio(gm[0]), ratio(gm[1]), ratio(gm[2])]);
    assert!(feasible);
    let mut best = f64::NEG_INFINITY;
    let r_grid = log_grid(0.25, 1.0, 24);
    let grids = [
        log_grid(0.25, 1.0, 24),
        log_grid(0.125, 1.0, 28),
        log_grid(1.0 / 16.0, 1.0, 32),
    ];
    for &r in &r_grid {
        for &a in &grids[0] {
            for &b in &grids[1] {
                for &c in &grids[2] {
                    let (ok, f) = evaluate(r, [a, b, c]);
                    if ok {
                        best = best.max(f);
                    }
                }
            }
        }
    }
    assert!(ours >= best - 1e-9, "grid {best} beats {ours}");
    assert!(ours - best < 0.1, "grid {best} far below {ours}");
}

/// The rounded ResNet-20 allocation, compacted by the core, keeps at most each budget and
/// spends one within 1%, measured on the smaller model by the metrics crate; the model is
/// physically smaller and trains (Adam, synthetic quadrant task) to well above chance.
#[test]
fn a_precropped_resnet20_meets_its_budgets_and_trains() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let model = ResNetCifarConfig::new(20).init(&device).unwrap();
    let allocation = PreCropConfig::new()
        .with_params(Some(0.3))
        .with_macs(Some(0.35))
        .init()
        .unwrap()
        .channels(&model, [1, 3, 32, 32], resnet_forward)
        .unwrap();
    let paths: Vec<&String> = allocation.params.keys().collect();
    let (dense_params, dense_macs) = measured(&model, &paths, resnet_forward);
    let small = allocation.plan().unwrap().apply(model).unwrap();
    let (params, macs) = measured(&small, &paths, resnet_forward);
    assert_eq!(params as f64, allocation.kept_params());
    assert_eq!(macs as f64, allocation.kept_macs());
    let p = params as f64 / dense_params as f64;
    let f = macs as f64 / dense_macs as f64;
    assert!(
        p <= 0.3 && f <= 0.35,
        "kept {p} of the weights, {f} of the MACs"
    );
    assert!(
        p > 0.3 * 0.99 || f > 0.35 * 0.99,
        "no budget spent: {p} {f}"
    );
    assert!(small.layer3[0].conv1.conv.weight.dims()[0] < 64);

    // Train the compacted network on a synthetic task.
    let mut model = small;
    let (x, y) = quadrants(256, 31, &device);
    let (test_x, test_y) = quadrants(128, 32, &device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let first = loss_fn
        .forward(model.forward(x.clone()), y.clone())
        .into_scalar::<f32>();
    // The 10-way classifier learns the 4 quadrant classes.
    const { assert!(QUADRANT_CLASSES <= 10) };
    for _epoch in 0..6 {
        for b in 0..8 {
            let r = b * 32..(b + 1) * 32;
            let logits = model.forward(x.clone().slice(r.clone()));
            let loss = loss_fn.forward(logits, y.clone().slice(r));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-2, model, grads);
        }
    }
    let last = loss_fn
        .forward(model.forward(x.clone()), y.clone())
        .into_scalar::<f32>();
    let predicted = model
        .valid()
        .forward(test_x.inner())
        .argmax(1)
        .reshape([128]);
    let accuracy = predicted
        .equal(test_y.inner())
        .int()
        .sum()
        .into_scalar::<i64>() as f64
        / 128.0;
    assert!(last < first / 2.0, "loss {first} -> {last}");
    assert!(accuracy > 0.8, "test accuracy {accuracy}");
}

/// PreConfig at the dense model's MACs with groups up to twice as wide: some groups widen,
/// the budget holds, the configuration builds a model whose selected weights and MACs are
/// exactly the allocation's, and a plan (which can only remove channels) is refused.
#[test]
fn preconfig_gives_a_wider_resnet_config_within_the_budget() {
    let device = Device::flex();
    let base = ResNetCifarConfig::new(20).with_shortcut(ShortcutKind::B);
    let model = base.init(&device).unwrap();
    let allocation = PreCropConfig::new()
        .with_macs(Some(1.0))
        .with_max_widening(2.0)
        .init()
        .unwrap()
        .channels(&model, [1, 3, 32, 32], resnet_forward)
        .unwrap();
    assert!(allocation.is_widened());
    let widened: BTreeMap<_, _> = allocation
        .densities()
        .into_iter()
        .filter(|(_, d)| *d > 1.0)
        .collect();
    assert!(!widened.is_empty());
    let err = allocation.plan().unwrap_err().to_string();
    assert!(err.contains("widens"), "{err}");
    let paths: Vec<&String> = allocation.params.keys().collect();
    let (_, dense_macs) = measured(&model, &paths, resnet_forward);
    let config = base.with_widths_of(&allocation).unwrap();
    assert_ne!(config.resolved_stage_widths().unwrap(), [16, 32, 64]);
    let wider = config.init(&device).unwrap();
    let (params, macs) = measured(&wider, &paths, resnet_forward);
    assert_eq!(params as f64, allocation.kept_params());
    assert_eq!(macs as f64, allocation.kept_macs());
    assert!(macs <= dense_macs && macs as f64 > 0.99 * dense_macs as f64);
    // The objective: at the same MACs, a larger Σ log p than the dense model's 0.
    assert!(allocation.log_density_sum() > 0.0);
}

/// Bad configurations and impossible budgets are errors, not panics.
#[test]
fn channel_errors() {
    let device = Device::flex();
    let model = ResNetCifarConfig::new(8).init(&device).unwrap();
    let err = PreCropConfig::new()
        .with_params(Some(1e-4))
        .init()
        .unwrap()
        .channels(&model, [1, 3, 32, 32], resnet_forward)
        .unwrap_err()
        .to_string();
    assert!(err.contains("parameters"), "{err}");
    assert!(PreCropConfig::new().with_params(Some(1.5)).init().is_err());
    let err = PreCropConfig::new()
        .with_params(Some(0.5))
        .with_max_widening(2.0)
        .init()
        .unwrap()
        .densities(&model, [1, 3, 32, 32], resnet_forward)
        .unwrap_err()
        .to_string();
    assert!(err.contains("channels"), "{err}");
    // An allocation of one model does not configure another.
    let allocation: ChannelAllocation = PreCropConfig::new()
        .with_params(Some(0.5))
        .init()
        .unwrap()
        .channels(&model, [1, 3, 32, 32], resnet_forward)
        .unwrap();
    let err = ResNetCifarConfig::new(20)
        .with_widths_of(&allocation)
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer1.1.conv1"), "{err}");
}

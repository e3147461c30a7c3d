//! PreCrop's density allocation: budgets met, the optimality conditions of the convex program.

use burn::prelude::*;
use burn_prune::PrunerConfig;
use burn_prune::criterion::Random;
use burn_prune::metrics::{Convention, ModelMetrics};
use burn_prune::models::{ResNetCifar, ResNetCifarConfig};
use burn_prune::pai::PreCropConfig;

fn resnet20(device: &Device) -> ResNetCifar {
    device.seed(41);
    ResNetCifarConfig::new(20).init(device).unwrap()
}

fn forward(m: &ResNetCifar, x: Tensor<4>) -> Tensor<2> {
    m.forward(x)
}

/// With the parameter budget alone the optimum is `p_l = min(1, 1/(λ P_l))`: every layer that
/// is not dense keeps the same number of weights `1/λ`. With the MAC budget alone, the same
/// MACs.
#[test]
fn single_budgets_give_equal_kept_weights_or_equal_kept_macs_per_layer() {
    let device = Device::flex();
    let model = resnet20(&device);
    let by_params = PreCropConfig::new()
        .with_params(Some(0.1))
        .init()
        .unwrap()
        .densities(&model, [1, 3, 32, 32], forward)
        .unwrap();
    let total: u64 = by_params.params.values().sum();
    assert!((by_params.kept_params() / total as f64 - 0.1).abs() < 1e-6);
    let kept: Vec<f64> = by_params
        .densities
        .iter()
        .filter(|(_, d)| **d < 1.0 - 1e-6)
        .map(|(p, d)| d * by_params.params[p] as f64)
        .collect();
    assert!(kept.len() >= 15, "{kept:?}");
    for k in &kept {
        assert!((k / kept[0] - 1.0).abs() < 1e-5, "{kept:?}");
    }
    // The smallest layer (the first conv: 3·16·3·3 = 432 weights, fewer than 1/λ) stays dense.
    let (smallest, _) = by_params.params.iter().min_by_key(|(_, n)| **n).unwrap();
    assert_eq!(by_params.params[smallest], 432);
    assert!(by_params.densities[smallest] > 1.0 - 1e-6);

    let by_macs = PreCropConfig::new()
        .with_macs(Some(0.2))
        .init()
        .unwrap()
        .densities(&model, [1, 3, 32, 32], forward)
        .unwrap();
    let total: u64 = by_macs.macs.values().sum();
    assert!((by_macs.kept_macs() / total as f64 - 0.2).abs() < 1e-6);
    let kept: Vec<f64> = by_macs
        .densities
        .iter()
        .filter(|(_, d)| **d < 1.0 - 1e-6)
        .map(|(p, d)| d * by_macs.macs[p] as f64)
        .collect();
    for k in &kept {
        assert!((k / kept[0] - 1.0).abs() < 1e-5, "{kept:?}");
    }
}

/// Both budgets: the pruned model meets each within 1%, measured on the model by the metrics
/// crate (non-zero weights, effective MACs), not by the allocation's own sums.
#[test]
fn a_pruned_resnet20_meets_both_budgets_within_one_percent() {
    let device = Device::flex();
    let model = resnet20(&device);
    let allocation = PreCropConfig::new()
        .with_params(Some(0.1))
        .with_macs(Some(0.15))
        .init()
        .unwrap()
        .densities(&model, [1, 3, 32, 32], forward)
        .unwrap();
    let dense = ModelMetrics::of_model(&model, [1, 3, 32, 32], forward).unwrap();
    let (pruned, masks) = PrunerConfig::new(0.0)
        .with_scope(allocation.scope())
        .init(Random::new(3))
        .unwrap()
        .prune(model)
        .unwrap();
    let (total, removed) = masks.counts();
    let kept = (total - removed) as f64 / total as f64;
    assert!(kept <= 0.1 * 1.01, "weights kept {kept}");
    let after = ModelMetrics::of_model(&pruned, [1, 3, 32, 32], forward).unwrap();
    let conv_macs: f64 = allocation.macs.values().sum::<u64>() as f64;
    let saved = (dense.macs(Convention::Papers) - after.effective_macs(Convention::Papers)) as f64;
    let kept_macs = (conv_macs - saved) / conv_macs;
    assert!(kept_macs <= 0.15 * 1.01, "MACs kept {kept_macs}");
    // The optimum spends a budget: at least one is met with equality (within rounding).
    assert!(
        (kept / 0.1 - 1.0).abs() < 0.01 || (kept_macs / 0.15 - 1.0).abs() < 0.01,
        "neither budget binds: {kept} {kept_macs}"
    );
}

#[test]
fn impossible_budgets_are_errors() {
    let device = Device::flex();
    let model = resnet20(&device);
    // One weight per layer is the least PreCrop keeps: 1e-6 of 270k weights is below it.
    let err = PreCropConfig::new()
        .with_params(Some(1e-6))
        .init()
        .unwrap()
        .densities(&model, [1, 3, 32, 32], forward)
        .unwrap_err()
        .to_string();
    assert!(err.contains("infeasible"), "{err}");
}

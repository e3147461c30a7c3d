//! Uniform, random and ERK baselines.

use burn::prelude::*;
use burn_prune::ParamSelector;
use burn_prune::models::VggConfig;
use burn_prune::pai::{Baseline, erk_densities};

fn densities(masks: &burn_prune::MaskSet) -> Vec<(String, f64)> {
    masks
        .iter()
        .map(|m| {
            (
                m.path.clone(),
                m.keep.count_ones() as f64 / m.keep.len() as f64,
            )
        })
        .collect()
}

#[test]
fn erk_keeps_the_budget_and_favours_small_layers() {
    let device = Device::flex();
    let vgg = VggConfig::vgg16().init(&device).unwrap();
    let selector = ParamSelector::default();
    let addresses = burn_prune::param_addresses(&vgg);
    let sizes: std::collections::BTreeMap<String, f64> = selector
        .select(&addresses)
        .unwrap()
        .into_iter()
        .map(|a| (a.path.clone(), a.numel() as f64))
        .collect();
    let total: f64 = sizes.values().sum();
    let convs: Vec<&String> = sizes.keys().filter(|p| p.contains("conv")).collect();
    let first_conv = convs
        .iter()
        .min_by_key(|p| sizes[**p] as usize)
        .unwrap()
        .as_str();
    let last_conv = convs
        .iter()
        .max_by_key(|p| sizes[**p] as usize)
        .unwrap()
        .as_str();
    for density in [0.5, 0.1, 0.01] {
        let d = erk_densities(&vgg, &selector, density).unwrap();
        let kept: f64 = d.iter().map(|(p, d)| d * sizes[p]).sum();
        assert!((kept / total - density).abs() < 1e-9, "{kept} of {total}");
        assert!(d.values().all(|&v| v > 0.0 && v <= 1.0));
        // Among non-dense layers, the density is ε·Σn/Πn: larger layers are sparser.
        assert!(d[first_conv] >= d[last_conv], "{d:?}");
    }
    // At density 0.5 the 3-channel first conv would exceed 1 and is kept dense.
    assert_eq!(
        erk_densities(&vgg, &selector, 0.5).unwrap()[first_conv],
        1.0
    );
    assert!(erk_densities(&vgg, &selector, 0.0).is_err());
    assert!(erk_densities(&vgg, &selector, 1.5).is_err());
}

#[test]
fn baselines_prune_exact_counts_with_their_layer_densities() {
    let device = Device::flex();
    device.seed(3);
    let model = crate::common::SmallCnn::new(&[3, 16, 32], 10, &device);
    let selector = ParamSelector::default();
    let uniform = Baseline::Uniform
        .pruner(&model, 0.8, &selector, 1)
        .unwrap()
        .masks(&model)
        .unwrap();
    for (path, d) in densities(&uniform) {
        assert!((d - 0.2).abs() < 0.01, "{path}: {d}");
    }
    let random = Baseline::Random
        .pruner(&model, 0.8, &selector, 1)
        .unwrap()
        .masks(&model)
        .unwrap();
    let (total, pruned) = random.counts();
    assert_eq!(pruned, (0.8 * total as f64).round() as usize);
    // Same seed, same masks; another seed, other masks.
    let again = Baseline::Random
        .pruner(&model, 0.8, &selector, 1)
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_eq!(random, again);
    let other = Baseline::Random
        .pruner(&model, 0.8, &selector, 2)
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_ne!(random, other);
    let erk = Baseline::Erk
        .pruner(&model, 0.8, &selector, 1)
        .unwrap()
        .masks(&model)
        .unwrap();
    let expected = erk_densities(&model, &selector, 0.2).unwrap();
    for (path, d) in densities(&erk) {
        assert!((d - expected[&path]).abs() < 0.01, "{path}: {d}");
    }
    assert!(Baseline::Erk.pruner(&model, 1.0, &selector, 1).is_err());
}

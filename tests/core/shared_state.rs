//! Burn 0.22.1 clones of a module share BatchNorm running statistics (`RunningState` keeps
//! them behind an `Arc`). The library's functions must not change a model through that
//! sharing: not one passed by reference, not a clone of one passed by value.

use crate::common::{SmallCnn, assert_close, values};
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::criterion::{Magnitude, Taylor};
use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use burn_prune::{ParamSnapshot, PrunerConfig, deep_clone};

/// Every BatchNorm's running mean and variance, in order.
fn statistics(model: &SmallCnn) -> Vec<Vec<f32>> {
    model
        .blocks
        .iter()
        .flat_map(|b| [&b.bn.running_mean, &b.bn.running_var])
        .map(|s| values(s.value_sync()))
        .collect()
}

fn input(seed: u64, device: &Device) -> Tensor<4> {
    Tensor::<4>::random([4, 3, 8, 8], Distribution::Normal(seed as f64, 1.0), device)
}

/// A model on an autodiff device whose statistics moved away from their initial values.
fn trained(device: &Device) -> SmallCnn {
    let model = SmallCnn::new(&[3, 4, 6], 2, device);
    for seed in 0..3 {
        let _ = model.forward(input(seed, device));
    }
    model
}

#[test]
fn clones_share_statistics_and_deep_clones_do_not() {
    let device = Device::flex().autodiff();
    let model = trained(&device);
    let before = statistics(&model);
    assert_ne!(
        before[0],
        vec![0.0; 4],
        "the forward passes updated the running mean"
    );

    // Burn's fact this file is about: a training-mode pass on a clone moves the original.
    let _ = model.clone().forward(input(7, &device));
    assert_ne!(statistics(&model), before);

    let before = statistics(&model);
    let copy = deep_clone(&model);
    assert_eq!(
        statistics(&copy),
        before,
        "a deep clone holds the trained statistics"
    );
    let _ = copy.forward(input(8, &device));
    assert_eq!(statistics(&model), before, "and has its own");
    assert_ne!(statistics(&copy), before);
    assert!(copy.devices().iter().all(|d| d.is_autodiff()));
    assert!(copy.fc.weight.is_require_grad());

    // On a plain device it stays there (in inference mode).
    let cpu = Device::flex();
    let plain = SmallCnn::new(&[3, 4], 2, &cpu);
    assert!(!deep_clone(&plain).devices().iter().any(|d| d.is_autodiff()));

    // Moving a clone to another device moves the original's statistics with it; moving a
    // deep clone does not.
    #[allow(deprecated)]
    let other = Device::ndarray();
    let mean_device = |m: &SmallCnn| m.blocks[0].bn.running_mean.value().device();
    let _ = deep_clone(&plain).to_device(&other);
    assert_eq!(mean_device(&plain), cpu);
    let _ = plain.clone().to_device(&other);
    assert_eq!(mean_device(&plain), other);
}

#[test]
fn gathering_gradients_leaves_the_models_statistics() {
    let device = Device::flex().autodiff();
    let model = trained(&device);
    let before = statistics(&model);
    let batches: Vec<Tensor<4>> = (10..13).map(|s| input(s, &device)).collect();
    let loss = |m: &SmallCnn, x: Tensor<4>| m.forward(x).sum();
    let masks = PrunerConfig::new(0.5)
        .init(Taylor::element())
        .unwrap()
        .masks_with_data(&model, batches.clone(), loss)
        .unwrap();
    assert_eq!(statistics(&model), before);
    // The masks come from the model as it is: the same call again gives the same masks.
    let again = PrunerConfig::new(0.5)
        .init(Taylor::element())
        .unwrap()
        .masks_with_data(&model, batches, loss)
        .unwrap();
    assert_eq!(masks, again);
}

#[test]
fn compacting_or_restoring_a_clone_leaves_the_original() {
    let device = Device::flex().autodiff();
    let model = trained(&device).valid();
    let x = input(20, &Device::flex());
    let before = (statistics(&model), model.forward(x.clone()));

    let t = trace(&model, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let small = plan.apply(model.clone()).unwrap();
    assert_eq!(small.blocks[1].bn.running_mean.value().dims(), [3]);
    assert_eq!(
        statistics(&model),
        before.0,
        "the original keeps its 4 and 6 channels"
    );
    assert_close(&values(model.forward(x.clone())), &values(before.1.clone()));

    // Restoring a snapshot of a fresh model into a clone does not rewind the original.
    let fresh = ParamSnapshot::capture(&SmallCnn::new(&[3, 4, 6], 2, &Device::flex())).unwrap();
    let rewound = fresh.restore(model.clone()).unwrap();
    assert_eq!(statistics(&rewound)[0], vec![0.0; 4]);
    assert_eq!(statistics(&model), before.0);
}

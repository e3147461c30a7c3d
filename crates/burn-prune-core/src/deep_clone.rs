//! Copies of a model that share no state with it.

use burn::module::Module;

/// A copy of `model` that shares nothing with it, on the same devices, with the same
/// parameter ids, values, masks and gradient requirements.
///
/// In Burn 0.22.1 `Clone` on a module shares its BatchNorm running statistics: `RunningState`
/// keeps them behind an `Arc`, so a forward pass in training mode on a clone, a
/// `ModuleMapper` run over it or `to_device` changes the original's statistics too (moving a
/// clone to another device moves the original's statistics there). This copy gets its own
/// (holding the same values, synchronised across threads first). The library makes one itself
/// wherever it would otherwise change a model you still hold: gathering gradients
/// (`masks_with_data`), compacting ([`StructuralPlan::apply`](crate::structure::StructuralPlan::apply)),
/// restoring a [`ParamSnapshot`](crate::ParamSnapshot).
///
/// On an autodiff device this is `model.valid().train()`; elsewhere `model.valid()`.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{BatchNorm, BatchNormConfig};
/// use burn_prune_core::deep_clone;
///
/// let device = Device::flex().autodiff();
/// let bn: BatchNorm = BatchNormConfig::new(2).init(&device);
/// let mean = |bn: &BatchNorm| bn.running_mean.value_sync().into_data().try_into_vec::<f32>().unwrap();
///
/// let copy = deep_clone(&bn);
/// let _ = copy.forward(Tensor::<2>::ones([4, 2], &device)); // training mode: updates statistics
/// assert_eq!(mean(&bn), [0.0, 0.0]);                          // the original's are untouched
/// assert_eq!(mean(&copy), [0.1, 0.1]);                        // (momentum 0.1 towards 1)
/// ```
pub fn deep_clone<M: Module>(model: &M) -> M {
    let copy = model.valid();
    if model.devices().iter().any(|d| d.is_autodiff()) {
        copy.train()
    } else {
        copy
    }
}

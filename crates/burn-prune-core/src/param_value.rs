//! Replacing a parameter's value inside a `ModuleMapper` without breaking its training.

use burn::prelude::*;

/// `new` (computed from detached or host values) made to train like `old`: on `old`'s
/// autodiff device a fresh leaf, requiring a gradient when `old` did, with `old`'s
/// gradient-checkpointing strategy. Without this a value written into a parameter of an
/// autodiff model is untracked (or a non-leaf) and the next `backward` fails.
pub(crate) fn trained_like<const D: usize>(old: &Tensor<D>, new: Tensor<D>) -> Tensor<D> {
    // Off the autodiff graph entirely, then back on as a fresh leaf.
    let mut new = new.inner();
    if old.is_autodiff() {
        new = new.autodiff();
        if let Some(strategy) = old.gradient_checkpointing_strategy() {
            new = new.with_gradient_checkpointing_strategy(strategy);
        }
    }
    if old.is_require_grad() {
        new = new.require_grad();
    }
    new
}

/// A new value for a parameter whose current value is `old`, from host `data` (converted to
/// `old`'s dtype, put on `old`'s device), that trains like `old`: on an autodiff device a
/// fresh leaf that requires a gradient when `old` did, with `old`'s gradient-checkpointing
/// strategy. Use it inside `Param::map` in a `ModuleMapper` that writes values into a model:
/// a tensor made with `Tensor::from_data` alone is untracked, and the next `backward` fails.
///
/// ```
/// use burn::prelude::*;
///
/// let old = Tensor::<1>::zeros([2], &Device::flex().autodiff()).require_grad();
/// let new = burn_prune_core::param_value_from(&old, TensorData::new(vec![1.0f32, 2.0], [2]));
/// assert!(new.is_require_grad());
/// ```
pub fn param_value_from<const D: usize>(old: &Tensor<D>, data: TensorData) -> Tensor<D> {
    let value = Tensor::<D>::from_data(data.convert_dtype(old.dtype()), &old.device());
    trained_like(old, value)
}

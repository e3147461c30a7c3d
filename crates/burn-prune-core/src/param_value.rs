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

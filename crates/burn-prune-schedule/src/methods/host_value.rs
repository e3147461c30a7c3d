//! Writing host values into a parameter tensor without changing its autodiff state.

use burn::prelude::*;

/// A tensor holding `data` (converted to `old`'s dtype) on `old`'s device, with `old`'s
/// gradient requirement and gradient-checkpointing strategy, to put in place of `old` inside
/// `Param::map`: the parameter keeps training after the write.
pub(crate) fn replace_value<const D: usize>(old: Tensor<D>, data: TensorData) -> Tensor<D> {
    let data = data.convert_dtype(old.dtype());
    let mut new = Tensor::<D>::from_data(data, &old.device());
    if let Some(strategy) = old.gradient_checkpointing_strategy() {
        new = new
            .autodiff()
            .with_gradient_checkpointing_strategy(strategy);
    }
    if old.is_require_grad() {
        new = new.require_grad();
    }
    new
}

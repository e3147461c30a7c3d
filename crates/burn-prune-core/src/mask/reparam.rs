//! The pruning mask as a Burn reparameterization.

use burn::module::{Module, Param, Reparameterization};
use burn::prelude::*;

/// A pruning mask attached to a parameter as a Burn [`Reparameterization`].
///
/// The parameter keeps its stored (base) value; its effective value `val()` is the base with
/// every pruned position set to exactly `0.0`. Consequences, all from Burn itself:
/// gradients at pruned positions are zero, optimizers never see the mask (a `Bool` tensor),
/// the mask is saved in the model record and reloaded with it, moves with the model across
/// devices, and `Module::materialize` folds it into the weight.
///
/// Its path inside the model is `<param path>.prune_mask.pruned`.
#[derive(Module, Debug)]
pub struct PruneMask {
    /// `true` where the weight is pruned, flattened in row-major order.
    pub pruned: Param<Tensor<1, Bool>>,
}

impl PruneMask {
    /// The name under which the mask appears in paths and records.
    pub const PATH_NAME: &'static str = "prune_mask";
}

impl Reparameterization for PruneMask {
    const NAME: &'static str = PruneMask::PATH_NAME;

    fn apply<const D: usize>(&self, base: Tensor<D>) -> Tensor<D> {
        let pruned = self.pruned.val().reshape(base.shape());
        base.mask_fill(pruned, 0.0)
    }
}

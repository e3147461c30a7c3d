//! The pruning mask as a Burn reparameterization.

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
    Param, Reparameterization,
};
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
///
/// `Module` is implemented by hand, as `#[derive(Module)]` would write it, except for moves
/// between devices: Burn 0.22.1 cannot move a boolean tensor from a CPU backend to a CubeCL
/// one (wgpu, CUDA) directly (`bool_from_data` rejects the CPU's native booleans), so the mask
/// travels as integers.
#[derive(Clone, Debug)]
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

impl PruneMask {
    const CONTAINER: &'static str = "Struct:PruneMask";
}

impl Module for PruneMask {
    fn collect_devices(&self, devices: Devices) -> Devices {
        self.pruned.collect_devices(devices)
    }

    fn fork(self, device: &Device) -> Self {
        self.to_device(device)
    }

    fn to_device(self, device: &Device) -> Self {
        Self {
            pruned: Param::map(self.pruned, |t| t.int().to_device(device).bool()),
        }
    }

    fn train(self) -> Self {
        Self {
            pruned: self.pruned.train(),
        }
    }

    fn valid(&self) -> Self {
        Self {
            pruned: self.pruned.valid(),
        }
    }

    fn materialize(self) -> Self {
        Self {
            pruned: self.pruned.materialize(),
        }
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        visitor.enter_module("pruned", Self::CONTAINER);
        Module::visit(&self.pruned, visitor);
        visitor.exit_module("pruned", Self::CONTAINER);
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        mapper.enter_module("pruned", Self::CONTAINER);
        let pruned = Module::map(self.pruned, mapper);
        mapper.exit_module("pruned", Self::CONTAINER);
        Self { pruned }
    }
}

impl ModuleDisplayDefault for PruneMask {
    fn content(&self, content: Content) -> Option<Content> {
        content
            .set_top_level_type("PruneMask")
            .add("pruned", &self.pruned)
            .optional()
    }
}

impl ModuleDisplay for PruneMask {}

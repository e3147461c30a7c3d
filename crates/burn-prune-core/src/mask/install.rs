//! Installing, updating, reading and removing masks in a model.

use super::{BitMask, MaskSet, ParamMask, PruneMask};
use crate::address::{PathStack, param_addresses};
use crate::error::{PruneError, Result};
use crate::granularity::{Granularity, Layout};
use crate::host::read_masks;
use crate::param_value::trained_like;
use burn::module::{Module, ModuleMapper, Param, ParamId, Reparameterizer};
use burn::prelude::*;
use std::collections::{HashMap, HashSet};

/// Install `masks` in `model`: every listed parameter gets a [`PruneMask`] (or has its
/// existing one replaced). Parameters not in the set are left as they are.
///
/// Errors, with the model untouched: a path the model does not have, a shape that differs,
/// a parameter that already carries another reparameterization (Burn allows one).
pub fn install_masks<M: Module>(model: M, masks: &MaskSet) -> Result<M> {
    let params = param_addresses(&model);
    masks.validate(&params)?;
    let mut fresh = HashMap::new();
    let mut update = HashMap::new();
    for m in masks.iter() {
        let addr = params
            .iter()
            .find(|p| p.path == m.path)
            .expect("validated above");
        let pruned: Vec<bool> = m.keep.to_bools().into_iter().map(|k| !k).collect();
        match addr.reparameterization.as_deref() {
            None => {
                fresh.insert(m.path.clone(), pruned);
            }
            Some(PruneMask::PATH_NAME) => {
                update.insert(m.path.clone(), pruned);
            }
            Some(other) => {
                return Err(PruneError::ForeignReparameterization {
                    path: m.path.clone(),
                    name: other.to_string(),
                });
            }
        }
    }
    let model = if update.is_empty() {
        model
    } else {
        model.map(&mut MaskUpdater {
            stack: PathStack::default(),
            masks: update,
        })
    };
    Ok(if fresh.is_empty() {
        model
    } else {
        model.apply_reparameterization(MaskInstaller { masks: fresh })
    })
}

/// Remove every pruning mask, restoring each parameter's stored (base) value as its effective
/// value. Use `Module::materialize` instead to fold the masks in (pruned weights become zero
/// for good).
///
/// Burn offers no way to detach a reparameterization other than folding it, so this replaces
/// each mask by one that prunes nothing and then materializes; a model with any other
/// reparameterization (LoRA, ...) is refused, since materializing would fold that too.
pub fn remove_masks<M: Module>(model: M) -> Result<M> {
    let params = param_addresses(&model);
    if let Some(p) = params.iter().find(|p| {
        p.reparameterization
            .as_deref()
            .is_some_and(|n| n != PruneMask::PATH_NAME)
    }) {
        return Err(PruneError::ForeignReparameterization {
            path: p.path.clone(),
            name: p.reparameterization.clone().unwrap_or_default(),
        });
    }
    let masks: HashMap<String, Vec<bool>> = params
        .iter()
        .filter(|p| p.reparameterization.is_some())
        .map(|p| (p.path.clone(), vec![false; p.numel()]))
        .collect();
    if masks.is_empty() {
        return Ok(model);
    }
    Ok(model
        .map(&mut MaskUpdater {
            stack: PathStack::default(),
            masks,
        })
        .materialize())
}

/// Write zeros into the stored values of `model` at every position `masks` prunes, without
/// installing masks: the weights are zero now but receive gradients and may grow back (soft
/// pruning). Parameters not in the set are left as they are.
///
/// Errors, with the model untouched: a path the model does not have, a shape that differs.
pub fn zero_pruned<M: Module>(model: M, masks: &MaskSet) -> Result<M> {
    masks.validate(&param_addresses(&model))?;
    let pruned: HashMap<String, Vec<bool>> = masks
        .iter()
        .map(|m| {
            (
                m.path.clone(),
                m.keep.to_bools().into_iter().map(|k| !k).collect(),
            )
        })
        .collect();
    Ok(model.map(&mut Zeroer {
        stack: PathStack::default(),
        pruned,
    }))
}

struct Zeroer {
    stack: PathStack,
    pruned: HashMap<String, Vec<bool>>,
}

impl ModuleMapper for Zeroer {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.pruned.remove(&self.stack.path()) {
            None => param,
            Some(pruned) => param.map(|t| {
                let mask = bool_tensor(&pruned, &t.device()).reshape(t.shape());
                let zeroed = t.clone().inner().mask_fill(mask.inner(), 0.0);
                trained_like(&t, zeroed)
            }),
        }
    }
}

/// Read the masks installed in a model as a [`MaskSet`].
///
/// The model does not record the granularity a mask was computed at, so entries are reported
/// at [`Granularity::Element`] with the parameter's conventional [`Layout`].
pub fn masks_of<M: Module>(model: &M) -> Result<MaskSet> {
    let params = param_addresses(model);
    let masked: Vec<_> = params
        .iter()
        .filter(|p| p.reparameterization.as_deref() == Some(PruneMask::PATH_NAME))
        .collect();
    let paths: HashSet<String> = masked.iter().map(|p| p.path.clone()).collect();
    let mut host = read_masks(model, &paths)?;
    let mut set = MaskSet::new();
    for p in masked {
        let pruned = host.remove(&p.path).ok_or_else(|| PruneError::Data {
            path: p.path.clone(),
            reason: "its mask could not be read".into(),
        })?;
        let keep: Vec<bool> = pruned.into_iter().map(|x| !x).collect();
        set.insert(ParamMask {
            path: p.path.clone(),
            shape: p.shape.clone(),
            granularity: Granularity::Element,
            layout: Layout::of(p),
            keep: BitMask::from_bools(&keep),
        })?;
    }
    Ok(set)
}

fn bool_tensor(pruned: &[bool], device: &Device) -> Tensor<1, Bool> {
    Tensor::<1, Bool>::from_data(TensorData::new(pruned.to_vec(), [pruned.len()]), device)
}

struct MaskInstaller {
    masks: HashMap<String, Vec<bool>>,
}

impl Reparameterizer for MaskInstaller {
    type Reparam = PruneMask;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<PruneMask>) {
        match self.masks.remove(path) {
            None => (param, None),
            Some(pruned) => {
                let device = param.lazy_device();
                let mask = PruneMask {
                    pruned: Param::initialized(ParamId::new(), bool_tensor(&pruned, &device)),
                };
                (param, Some(mask))
            }
        }
    }
}

struct MaskUpdater {
    stack: PathStack,
    masks: HashMap<String, Vec<bool>>,
}

impl ModuleMapper for MaskUpdater {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn map_bool<const D: usize>(
        &mut self,
        param: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        let Some(owner) = self.stack.mask_owner() else {
            return param;
        };
        match self.masks.remove(&owner) {
            None => param,
            Some(pruned) => param.map(|old| {
                let device = old.device();
                let shape = old.shape();
                Tensor::<D, Bool>::from_data(TensorData::new(pruned, shape), &device)
            }),
        }
    }
}

//! Reading parameters (and their installed masks) to host buffers.

use crate::address::PathStack;
use crate::error::{PruneError, Result};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use std::collections::{HashMap, HashSet};

/// Float values read off a device.
///
/// Where the tensor is `f32` its own host buffer is kept (no second copy, which matters for
/// 100M-weight models); other float types are converted.
pub(crate) struct HostFloats(Repr);

enum Repr {
    /// `f32` data whose bytes were checked to view as a mutable `f32` slice.
    Data(TensorData),
    Vec(Vec<f32>),
}

impl HostFloats {
    /// The values as an owned vector (reusing the buffer where its layout allows).
    pub fn into_vec(self) -> Vec<f32> {
        match self.0 {
            Repr::Vec(v) => v,
            Repr::Data(d) => d
                .try_into_vec::<f32>()
                .unwrap_or_else(|_| unreachable!("checked to be f32 at construction")),
        }
    }
}

impl std::ops::Deref for HostFloats {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match &self.0 {
            Repr::Vec(v) => v,
            Repr::Data(d) => d
                .as_slice::<f32>()
                .unwrap_or_else(|_| unreachable!("checked to view as f32 at construction")),
        }
    }
}

impl std::ops::DerefMut for HostFloats {
    fn deref_mut(&mut self) -> &mut [f32] {
        match &mut self.0 {
            Repr::Vec(v) => v,
            Repr::Data(d) => d
                .as_mut_slice::<f32>()
                .unwrap_or_else(|_| unreachable!("checked to view as f32 at construction")),
        }
    }
}

/// Read a float tensor to host memory (converting from f16/bf16/f64 if needed).
pub(crate) fn to_f32<const D: usize>(tensor: Tensor<D>, path: &str) -> Result<HostFloats> {
    let err = |e: &dyn std::fmt::Debug| PruneError::Data {
        path: path.to_string(),
        reason: format!("{e:?}"),
    };
    let mut data = tensor.try_into_data().map_err(|e| err(&e))?;
    if data.as_mut_slice::<f32>().is_ok() {
        return Ok(HostFloats(Repr::Data(data)));
    }
    data.try_into_vec_as::<f32>()
        .map(|v| HostFloats(Repr::Vec(v)))
        .map_err(|e| err(&e))
}

/// Read a bool tensor to a host `Vec<bool>`.
pub(crate) fn to_bool<const D: usize>(tensor: Tensor<D, Bool>, path: &str) -> Result<Vec<bool>> {
    tensor
        .into_data()
        .try_into_vec_as::<bool>()
        .map_err(|e| PruneError::Data {
            path: path.to_string(),
            reason: format!("{e:?}"),
        })
}

/// What [`read_params`] found for one parameter.
pub(crate) struct HostParam {
    /// The stored (base) value.
    pub base: HostFloats,
    /// `true` where an installed pruning mask prunes the element.
    pub pruned: Option<Vec<bool>>,
}

impl HostParam {
    /// The effective value: the base with masked elements at zero.
    pub fn effective(mut self) -> HostFloats {
        if let Some(pruned) = &self.pruned {
            // Branch-free (random masks defeat the branch predictor; this vectorises):
            // all-ones bits keep the value, all-zero bits make it exactly `+0.0`.
            for (w, &p) in self.base.iter_mut().zip(pruned) {
                *w = f32::from_bits(w.to_bits() & u32::from(!p).wrapping_neg());
            }
        }
        self.base
    }
}

/// Read the base values and installed masks of the parameters at `paths`.
pub(crate) fn read_params<M: Module>(
    model: &M,
    paths: &HashSet<String>,
) -> Result<HashMap<String, HostParam>> {
    let (values, mut masks) = read(model, paths, true)?;
    Ok(values
        .into_iter()
        .map(|(path, base)| {
            let pruned = masks.remove(&path);
            (path, HostParam { base, pruned })
        })
        .collect())
}

/// Read only the installed masks (`true` where pruned) of the parameters at `paths`, without
/// their values.
pub(crate) fn read_masks<M: Module>(
    model: &M,
    paths: &HashSet<String>,
) -> Result<HashMap<String, Vec<bool>>> {
    Ok(read(model, paths, false)?.1)
}

/// The base values (when `values`) and the installed masks of the parameters at `paths`.
type Read = (HashMap<String, HostFloats>, HashMap<String, Vec<bool>>);

fn read<M: Module>(model: &M, paths: &HashSet<String>, values: bool) -> Result<Read> {
    let mut v = Reader {
        paths,
        read_values: values,
        stack: PathStack::default(),
        values: HashMap::new(),
        masks: HashMap::new(),
        error: None,
    };
    model.visit(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok((v.values, v.masks)),
    }
}

struct Reader<'a> {
    paths: &'a HashSet<String>,
    read_values: bool,
    stack: PathStack,
    values: HashMap<String, HostFloats>,
    masks: HashMap<String, Vec<bool>>,
    error: Option<PruneError>,
}

impl ModuleVisitor for Reader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.stack.path();
        if !self.read_values || self.error.is_some() || !self.paths.contains(&path) {
            return;
        }
        match to_f32(param.val().inner(), &path) {
            Ok(base) => {
                self.values.insert(path, base);
            }
            Err(e) => self.error = Some(e),
        }
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        let Some(owner) = self.stack.mask_owner().filter(|_| self.error.is_none()) else {
            return;
        };
        if self.paths.contains(&owner) {
            match to_bool(param.val(), &owner) {
                Ok(bits) => {
                    self.masks.insert(owner, bits);
                }
                Err(e) => self.error = Some(e),
            }
        }
    }
}

//! Reading parameters (and their installed masks) to host buffers.
//!
//! Parameters are first gathered as [`DeviceParam`]s (views of their values, nothing read),
//! then read whole or in pieces, several at a time. Reading a piece, using it and dropping it
//! before the next keeps memory use small and the memory hot: a fresh buffer of every weight
//! costs a page fault per 4 KiB, more than the copy itself.

use crate::address::PathStack;
use crate::error::{PruneError, Result};
use crate::threshold::{Segments, largest_first, par_map};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

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

/// One parameter still on its device, with its installed mask: read whole or in pieces.
pub(crate) struct DeviceParam {
    /// Its path.
    pub path: String,
    /// The stored (base) value, flattened (a view: nothing is copied).
    values: Tensor<1>,
    /// The installed pruning mask, `true` where pruned.
    pruned: Option<Tensor<1, Bool>>,
}

impl DeviceParam {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.values.dims()[0]
    }

    /// The base values and mask of elements `range` (flattened, row-major).
    pub fn read_parts(&self, range: Range<usize>) -> Result<HostParam> {
        if range.is_empty() {
            let pruned = self.pruned.as_ref().map(|_| Vec::new());
            return Ok(HostParam {
                base: HostFloats(Repr::Vec(Vec::new())),
                pruned,
            });
        }
        let whole = range.start == 0 && range.end == self.len();
        let piece = |t: Tensor<1>| if whole { t } else { t.slice([range.clone()]) };
        let base = to_f32(owned(piece(self.values.clone())), &self.path)?;
        let pruned = match &self.pruned {
            Some(mask) if mask.dims()[0] != self.len() => {
                return Err(PruneError::Data {
                    path: self.path.clone(),
                    reason: format!(
                        "its installed mask has {} entries for {} elements",
                        mask.dims()[0],
                        self.len()
                    ),
                });
            }
            Some(mask) => {
                let mask = if whole {
                    mask.clone()
                } else {
                    mask.clone().slice([range])
                };
                Some(to_bool(mask, &self.path)?)
            }
            None => None,
        };
        Ok(HostParam { base, pruned })
    }

    /// The effective values of elements `range`: pruned elements at `+0.0`.
    pub fn read(&self, range: Range<usize>) -> Result<HostFloats> {
        self.read_parts(range).map(HostParam::effective)
    }

    /// Every effective value.
    pub fn read_all(&self) -> Result<HostFloats> {
        self.read(0..self.len())
    }
}

/// `tensor` in a buffer of its own.
///
/// A parameter's value shares its buffer with the `Param` (`val()` hands out a reference), and
/// Burn copies a shared buffer to read it: flex copies it twice, to a byte vector and again to
/// align that vector. The element-wise identity `x · 1` (exact for every float, signed zeros,
/// infinities and NaN included) writes a fresh buffer in one pass, which the read then takes
/// over without copying (flex, ndarray); on a GPU it is one more small kernel before the
/// transfer.
fn owned(tensor: Tensor<1>) -> Tensor<1> {
    tensor.mul_scalar(1.0)
}

/// Parameters on their device, in pieces: segments of a selection that reads each piece as
/// it ranks it (see [`Segments`]).
impl Segments for [DeviceParam] {
    type Error = PruneError;

    fn count(&self) -> usize {
        <[DeviceParam]>::len(self)
    }

    fn len(&self, s: usize) -> usize {
        self[s].len()
    }

    fn read<R>(&self, s: usize, range: Range<usize>, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
        Ok(f(&self[s].read(range)?))
    }
}

/// The parameters at `paths` with their installed masks, in model order, without reading
/// them.
pub(crate) fn device_params<M: Module>(model: &M, paths: &HashSet<String>) -> Vec<DeviceParam> {
    let mut v = Collector {
        paths,
        values: true,
        stack: PathStack::default(),
        found: Vec::new(),
        masks: Vec::new(),
    };
    model.visit(&mut v);
    let mut masks: HashMap<String, Tensor<1, Bool>> = v.masks.into_iter().collect();
    v.found
        .into_iter()
        .map(|(path, values)| DeviceParam {
            pruned: masks.remove(&path),
            path,
            values,
        })
        .collect()
}

/// Read the base values and installed masks of the parameters at `paths`, several at a time.
pub(crate) fn read_params<M: Module>(
    model: &M,
    paths: &HashSet<String>,
) -> Result<HashMap<String, HostParam>> {
    let params = device_params(model, paths);
    let read = par_read(&params, |p| p.read_parts(0..p.len()));
    params
        .iter()
        .zip(read)
        .map(|(p, h)| Ok((p.path.clone(), h?)))
        .collect()
}

/// `read(p)` of every parameter, spread over the cores (largest first); results in the order
/// of `params`.
pub(crate) fn par_read<T: Send>(
    params: &[DeviceParam],
    read: impl Fn(&DeviceParam) -> T + Sync,
) -> Vec<T> {
    let sizes: Vec<usize> = params.iter().map(DeviceParam::len).collect();
    let order = largest_first(&sizes);
    let mut slots: Vec<Option<T>> = (0..params.len()).map(|_| None).collect();
    let jobs: Vec<usize> = order.clone();
    for (i, r) in order.into_iter().zip(par_map(jobs, |i| read(&params[i]))) {
        slots[i] = Some(r);
    }
    slots
        .into_iter()
        .map(|s| s.expect("every parameter is read"))
        .collect()
}

/// Read only the installed masks (`true` where pruned) of the parameters at `paths`, without
/// their values.
pub(crate) fn read_masks<M: Module>(
    model: &M,
    paths: &HashSet<String>,
) -> Result<HashMap<String, Vec<bool>>> {
    let mut v = Collector {
        paths,
        values: false,
        stack: PathStack::default(),
        found: Vec::new(),
        masks: Vec::new(),
    };
    model.visit(&mut v);
    v.masks
        .into_iter()
        .map(|(path, mask)| {
            let bits = to_bool(mask, &path)?;
            Ok((path, bits))
        })
        .collect()
}

/// Gathers the values (when `values`) and installed masks of the parameters at `paths`.
struct Collector<'a> {
    paths: &'a HashSet<String>,
    values: bool,
    stack: PathStack,
    found: Vec<(String, Tensor<1>)>,
    masks: Vec<(String, Tensor<1, Bool>)>,
}

impl ModuleVisitor for Collector<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.stack.path();
        if self.values && self.paths.contains(&path) {
            let value = param.val().inner();
            let n = value.shape().num_elements();
            self.found.push((path, value.reshape([n])));
        }
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        if let Some(owner) = self.stack.mask_owner().filter(|o| self.paths.contains(o)) {
            let mask = param.val();
            let n = mask.shape().num_elements();
            self.masks.push((owner, mask.reshape([n])));
        }
    }
}

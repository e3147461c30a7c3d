//! Parameter counts: total, trainable, buffers and non-zero, per parameter and in total.

use crate::error::{MetricsError, Result};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn_prune_core::{MaskSet, PathStack, masks_of};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a float tensor of a module is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ParamRole {
    /// A parameter the optimiser updates.
    Trainable,
    /// A parameter that does not require gradients (frozen with `no_grad`, or
    /// `set_require_grad(false)`); only visible on an autodiff device.
    Frozen,
    /// A buffer: a BatchNorm running statistic (`running_mean`, `running_var`). Papers and
    /// PyTorch do not count these as parameters.
    Buffer,
}

/// One float tensor of a module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamStat {
    /// Path (`layer1.0.conv1.conv.weight`).
    pub path: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Role.
    pub role: ParamRole,
    /// Elements.
    pub numel: u64,
    /// Non-zero elements of the effective value (an installed mask applied).
    pub nonzero: u64,
    /// Elements held at zero by an installed mask ([`burn_prune_core::PruneMask`]).
    pub masked: u64,
}

impl ParamStat {
    /// Fraction of non-zero elements (1 for an empty tensor).
    pub fn density(&self) -> f64 {
        if self.numel == 0 {
            1.0
        } else {
            self.nonzero as f64 / self.numel as f64
        }
    }
}

/// The float tensors of a model, in module order.
///
/// Counts follow the papers and PyTorch: [`ParamStats::total`] is every parameter except
/// buffers (BatchNorm running statistics), which Burn's `Module::num_params` includes.
///
/// ```
/// use burn::nn::{BatchNorm, BatchNormConfig};
/// use burn::prelude::*;
/// use burn_prune_metrics::ParamStats;
///
/// let bn: BatchNorm = BatchNormConfig::new(16).init(&Device::flex());
/// let stats = ParamStats::of_model(&bn).unwrap();
/// assert_eq!(stats.total(), 32); // γ and β
/// assert_eq!(stats.buffers(), 32); // running mean and variance
/// assert_eq!(stats.nonzero(), 16); // β starts at zero
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamStats {
    /// One entry per float tensor.
    pub params: Vec<ParamStat>,
}

impl ParamStats {
    /// Visit `model` and count every float tensor, reading its effective value (with any
    /// installed mask applied) to count non-zeros, and its installed masks.
    pub fn of_model<M: Module>(model: &M) -> Result<Self> {
        // Burn visits a reparameterized parameter by its stored base value: the installed
        // masks are read separately and applied while counting.
        let masks = masks_of(model)?;
        let mut visitor = StatVisitor {
            masks: &masks,
            path: PathStack::default(),
            params: Vec::new(),
            error: None,
        };
        model.visit(&mut visitor);
        match visitor.error {
            Some(e) => Err(e),
            None => Ok(Self {
                params: visitor.params,
            }),
        }
    }

    fn sum(&self, keep: impl Fn(&ParamStat) -> bool, value: impl Fn(&ParamStat) -> u64) -> u64 {
        self.params.iter().filter(|p| keep(p)).map(value).sum()
    }

    /// Parameters (buffers excluded).
    pub fn total(&self) -> u64 {
        self.sum(|p| p.role != ParamRole::Buffer, |p| p.numel)
    }

    /// Trainable parameters.
    pub fn trainable(&self) -> u64 {
        self.sum(|p| p.role == ParamRole::Trainable, |p| p.numel)
    }

    /// Buffer elements (running statistics).
    pub fn buffers(&self) -> u64 {
        self.sum(|p| p.role == ParamRole::Buffer, |p| p.numel)
    }

    /// Non-zero parameters (buffers excluded).
    pub fn nonzero(&self) -> u64 {
        self.sum(|p| p.role != ParamRole::Buffer, |p| p.nonzero)
    }

    /// Parameters not held at zero by an installed mask (buffers excluded): what a masked model
    /// keeps, and all of a dense or compacted one.
    pub fn unmasked(&self) -> u64 {
        self.sum(|p| p.role != ParamRole::Buffer, |p| p.numel - p.masked)
    }

    /// Compression ratio: total / non-zero parameters (1 for a dense model). A model whose
    /// parameters are all zero has an infinite ratio.
    pub fn compression_ratio(&self) -> f64 {
        self.total() as f64 / self.nonzero() as f64
    }

    /// Non-zero elements per parameter path, for [`OpCounts::with_nonzero_weights`](crate::OpCounts::with_nonzero_weights).
    pub fn nonzero_by_path(&self) -> HashMap<String, u64> {
        self.params
            .iter()
            .map(|p| (p.path.clone(), p.nonzero))
            .collect()
    }

    /// The entry for `path`.
    pub fn get(&self, path: &str) -> Option<&ParamStat> {
        self.params.iter().find(|p| p.path == path)
    }
}

struct StatVisitor<'a> {
    masks: &'a MaskSet,
    path: PathStack,
    params: Vec<ParamStat>,
    error: Option<MetricsError>,
}

impl ModuleVisitor for StatVisitor<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_some() {
            return;
        }
        let path = self.path.path();
        let value = param.val();
        let role = if self.path.at_running_stat() {
            ParamRole::Buffer
        } else if value.device().is_autodiff() && !value.is_require_grad() {
            ParamRole::Frozen
        } else {
            ParamRole::Trainable
        };
        let shape = value.dims().to_vec();
        let numel = shape.iter().product::<usize>() as u64;
        let mask = self.masks.get(&path);
        let nonzero = match value.into_data().convert::<f32>().try_into_vec::<f32>() {
            Ok(v) => match mask {
                Some(m) => v
                    .iter()
                    .enumerate()
                    .filter(|&(i, &x)| x != 0.0 && m.keep.get(i) == Some(true))
                    .count() as u64,
                None => v.iter().filter(|&&x| x != 0.0).count() as u64,
            },
            Err(e) => {
                self.error = Some(MetricsError::Mismatch {
                    context: format!("reading `{path}`"),
                    reason: format!("{e:?}"),
                });
                return;
            }
        };
        self.params.push(ParamStat {
            path,
            shape,
            role,
            numel,
            nonzero,
            masked: mask.map_or(0, |m| m.pruned() as u64),
        });
    }
}

//! Host copies of a model's float parameters, restored exactly (rewinding, re-initialising).

use crate::address::{PathStack, param_addresses};
use crate::error::{PruneError, Result};
use crate::param_value::param_value_from;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use std::collections::BTreeMap;

/// The stored (base) values of a model's float parameters, copied to the host by path.
///
/// [`ParamSnapshot::restore`] writes them back bit for bit, keeping each parameter's
/// `ParamId`, its installed pruning mask and whether it requires a gradient: this is the
/// "rewind" of lottery-ticket training (weights reset to their values at the rewind step,
/// masks kept) and, with a snapshot of a freshly initialised twin, its random
/// re-initialisation control. Integer and boolean tensors (masks, counters) are not part of
/// it.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{Linear, LinearConfig};
/// use burn_prune_core::ParamSnapshot;
///
/// #[derive(Module, Debug)]
/// struct Net { fc: Linear }
///
/// let device = Device::flex();
/// let net = Net { fc: LinearConfig::new(4, 2).init(&device) };
/// let at_init = ParamSnapshot::capture(&net).unwrap();
/// let trained = Net { fc: LinearConfig::new(4, 2).init(&device) }; // other values
/// let rewound = at_init.restore(trained).unwrap();
/// assert_eq!(rewound.fc.weight.val().into_data(), net.fc.weight.val().into_data());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamSnapshot {
    values: BTreeMap<String, TensorData>,
}

impl ParamSnapshot {
    /// Copy the base value of every float parameter of `model`.
    pub fn capture<M: Module>(model: &M) -> Result<Self> {
        let mut reader = Reader {
            stack: PathStack::default(),
            values: BTreeMap::new(),
        };
        model.visit(&mut reader);
        Ok(Self {
            values: reader.values,
        })
    }

    /// A snapshot of values computed elsewhere (updated weights, a perturbed copy), by
    /// parameter path, in any float dtype ([`ParamSnapshot::restore`] converts each value to
    /// its parameter's dtype, after checking every path and shape).
    ///
    /// ```
    /// use burn::prelude::*;
    /// use burn::nn::{Linear, LinearConfig};
    /// use burn_prune_core::ParamSnapshot;
    /// use std::collections::BTreeMap;
    ///
    /// #[derive(Module, Debug)]
    /// struct Net { fc: Linear }
    ///
    /// let net = Net { fc: LinearConfig::new(2, 1).init(&Device::flex()) };
    /// let values = BTreeMap::from([("fc.weight".to_string(), TensorData::new(vec![0.5f64, -1.0], [2, 1]))]);
    /// let net = ParamSnapshot::from_values(values).restore(net).unwrap();
    /// assert_eq!(net.fc.weight.val().into_data().try_into_vec::<f32>().unwrap(), [0.5, -1.0]);
    ///
    /// // A shape the model does not have is an error naming the parameter.
    /// let wrong = BTreeMap::from([("fc.weight".to_string(), TensorData::new(vec![0.0f32; 3], [3, 1]))]);
    /// assert!(ParamSnapshot::from_values(wrong).restore(net).unwrap_err().to_string().contains("fc.weight"));
    /// ```
    pub fn from_values(values: BTreeMap<String, TensorData>) -> Self {
        Self { values }
    }

    /// The stored value of a parameter.
    pub fn get(&self, path: &str) -> Option<&TensorData> {
        self.values.get(path)
    }

    /// The parameter paths held, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Number of parameters held.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no parameter is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Keep only the parameters whose path satisfies `keep` (e.g. leave BatchNorm statistics
    /// out of a rewind).
    pub fn retain(mut self, mut keep: impl FnMut(&str) -> bool) -> Self {
        self.values.retain(|path, _| keep(path));
        self
    }

    /// Write the stored values into `model`'s parameters of the same paths (others are left
    /// as they are), on each parameter's own device.
    ///
    /// The values are written into a [`deep_clone`](crate::deep_clone) of `model`, so clones
    /// of it you still hold keep their BatchNorm running statistics.
    ///
    /// Errors, with nothing written: a stored path the model does not have, or a shape that
    /// differs (a compacted model cannot take values of its dense original).
    pub fn restore<M: Module>(&self, model: M) -> Result<M> {
        let shapes: BTreeMap<String, Vec<usize>> = param_addresses(&model)
            .into_iter()
            .map(|p| (p.path, p.shape))
            .collect();
        for (path, data) in &self.values {
            match shapes.get(path) {
                None => {
                    return Err(PruneError::UnknownParam {
                        path: path.clone(),
                        hint: " (the snapshot was taken from a model with other parameters)".into(),
                    });
                }
                Some(shape) if *shape != data.shape().to_vec() => {
                    return Err(PruneError::SnapshotMismatch {
                        path: path.clone(),
                        reason: format!(
                            "the snapshot holds shape {:?}, the model has {:?}",
                            data.shape().to_vec(),
                            shape
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        // Written into a copy: clones of `model` share its BatchNorm running statistics.
        Ok(crate::deep_clone(&model).map(&mut Writer {
            stack: PathStack::default(),
            values: &self.values,
        }))
    }
}

struct Reader {
    stack: PathStack,
    values: BTreeMap<String, TensorData>,
}

impl ModuleVisitor for Reader {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.values
            .insert(self.stack.path(), param.val().inner().into_data());
    }
}

struct Writer<'a> {
    stack: PathStack,
    values: &'a BTreeMap<String, TensorData>,
}

impl ModuleMapper for Writer<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.values.get(&self.stack.path()) {
            None => param,
            Some(data) => param.map(|old| param_value_from(&old, data.clone())),
        }
    }
}

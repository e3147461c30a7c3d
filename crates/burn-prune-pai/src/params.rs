//! Reading and rewriting selected parameters by path, in `f64` (the precision SynFlow needs).

use crate::error::{PaiError, Result};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use burn_prune_core::{ParamSelector, PathStack, param_addresses};
use std::collections::{BTreeMap, BTreeSet};

/// The paths `selector` picks in `model`, with their shapes.
pub(crate) fn selected<M: Module>(
    model: &M,
    selector: &ParamSelector,
) -> Result<BTreeMap<String, Vec<usize>>> {
    let addresses = param_addresses(model);
    Ok(selector
        .select(&addresses)?
        .into_iter()
        .map(|a| (a.path.clone(), a.shape.clone()))
        .collect())
}

/// Values (effective: installed masks applied) of the parameters at `paths`, and their
/// gradients in `grads` when given.
pub(crate) struct Read {
    /// Values by path.
    pub values: BTreeMap<String, Vec<f64>>,
    /// Gradients by path (only when gradients were asked for and exist).
    pub grads: BTreeMap<String, Vec<f64>>,
}

/// Read the values (and, with `grads`, the gradients) of the parameters at `paths` to the
/// host as `f64`. A path without a value, or without a gradient when gradients were asked
/// for, is an error for `method`.
pub(crate) fn read<M: Module>(
    model: &M,
    paths: &BTreeSet<String>,
    grads: Option<&Gradients>,
    method: &'static str,
) -> Result<Read> {
    let mut reader = Reader {
        paths,
        grads,
        stack: PathStack::default(),
        out: Read {
            values: BTreeMap::new(),
            grads: BTreeMap::new(),
        },
        error: None,
    };
    model.visit(&mut reader);
    if let Some(e) = reader.error {
        return Err(e);
    }
    for path in paths {
        if !reader.out.values.contains_key(path) {
            return Err(PaiError::Model {
                method,
                reason: format!("{path}: no such float parameter in the model"),
            });
        }
        if grads.is_some() && !reader.out.grads.contains_key(path) {
            return Err(PaiError::Model {
                method,
                reason: format!(
                    "{path}: no gradient (the output does not depend on it, or the model is \
                     not on an autodiff device)"
                ),
            });
        }
    }
    Ok(reader.out)
}

struct Reader<'a> {
    paths: &'a BTreeSet<String>,
    grads: Option<&'a Gradients>,
    stack: PathStack,
    out: Read,
    error: Option<PaiError>,
}

fn host<const D: usize>(t: Tensor<D>, path: &str) -> Result<Vec<f64>> {
    t.into_data()
        .try_into_vec_as::<f64>()
        .map_err(|e| PaiError::Model {
            method: "reading parameters",
            reason: format!("{path}: {e:?}"),
        })
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
        if self.error.is_some() || !self.paths.contains(&path) {
            return;
        }
        let value = param.val();
        if let Some(grads) = self.grads
            && let Some(g) = value.grad(grads)
        {
            match host(g, &path) {
                Ok(g) => {
                    self.out.grads.insert(path.clone(), g);
                }
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
        }
        match host(value.inner(), &path) {
            Ok(v) => {
                self.out.values.insert(path, v);
            }
            Err(e) => self.error = Some(e),
        }
    }
}

//! Gathering gradients of selected parameters over user-supplied batches.

use crate::address::PathStack;
use crate::criterion::{Criterion, GradientNeed, GradientStats};
use crate::error::{PruneError, Result};
use crate::host::to_f32;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use std::collections::{HashMap, HashSet};

struct Accumulator {
    sum: Vec<f64>,
    sum_abs: Vec<f64>,
    per_batch: Vec<Vec<f32>>,
}

/// The gradients `criterion` needs for `paths()`, gathered over `batches`; `None` when it
/// needs none (then `batches` is not touched). No batch at all is
/// [`PruneError::MissingBatches`].
pub(crate) fn gradients_for<M, B, I, F>(
    criterion: &dyn Criterion,
    model: &M,
    paths: impl FnOnce() -> Result<HashSet<String>>,
    batches: I,
    loss: F,
) -> Result<Option<HashMap<String, GradientStats>>>
where
    M: Module,
    I: IntoIterator<Item = B>,
    F: FnMut(&M, B) -> Tensor<1>,
{
    let need = criterion.needs().gradients;
    if need == GradientNeed::None {
        return Ok(None);
    }
    let grads = gather_gradients(
        model,
        &paths()?,
        batches,
        loss,
        need == GradientNeed::PerBatch,
    )?;
    if grads.is_empty() {
        return Err(PruneError::MissingBatches {
            criterion: criterion.name(),
        });
    }
    Ok(Some(grads))
}

/// For each batch, evaluate `loss(model, batch)`, back-propagate, and accumulate the gradient
/// of every parameter in `paths`. Returns an empty map when `batches` is empty.
pub(crate) fn gather_gradients<M, B, I, F>(
    model: &M,
    paths: &HashSet<String>,
    batches: I,
    mut loss: F,
    keep_per_batch: bool,
) -> Result<HashMap<String, GradientStats>>
where
    M: Module,
    I: IntoIterator<Item = B>,
    F: FnMut(&M, B) -> Tensor<1>,
{
    // The passes run on a copy: a BatchNorm in training mode would otherwise update the
    // running statistics of the caller's model (and of every clone sharing them).
    let work = crate::deep_clone(model);
    let model = &work;
    let mut acc: HashMap<String, Accumulator> = HashMap::new();
    let mut batches_seen = 0usize;
    for batch in batches {
        let l = loss(model, batch);
        if !l.is_autodiff() {
            return Err(PruneError::MissingGradient {
                path: paths.iter().min().cloned().unwrap_or_default(),
                reason:
                    "the loss is not on an autodiff device; build the model on `device.autodiff()`"
                        .into(),
            });
        }
        let grads = l.backward();
        let mut v = GradReader {
            grads: &grads,
            paths,
            stack: PathStack::default(),
            out: HashMap::new(),
            error: None,
        };
        model.visit(&mut v);
        if let Some(e) = v.error {
            return Err(e);
        }
        for path in paths {
            let g = v
                .out
                .remove(path)
                .ok_or_else(|| PruneError::MissingGradient {
                    path: path.clone(),
                    reason: "the loss does not depend on it, or it does not require gradients"
                        .into(),
                })?;
            let a = acc.entry(path.clone()).or_insert_with(|| Accumulator {
                sum: vec![0.0; g.len()],
                sum_abs: vec![0.0; g.len()],
                per_batch: Vec::new(),
            });
            for ((s, sa), &x) in a.sum.iter_mut().zip(a.sum_abs.iter_mut()).zip(&g) {
                *s += x as f64;
                *sa += x.abs() as f64;
            }
            if keep_per_batch {
                a.per_batch.push(g);
            }
        }
        batches_seen += 1;
    }
    let n = batches_seen.max(1) as f64;
    Ok(acc
        .into_iter()
        .map(|(path, a)| {
            let stats = GradientStats {
                batches: batches_seen,
                mean: a.sum.iter().map(|s| (s / n) as f32).collect(),
                mean_abs: a.sum_abs.iter().map(|s| (s / n) as f32).collect(),
                per_batch: a.per_batch,
            };
            (path, stats)
        })
        .collect())
}

struct GradReader<'a> {
    grads: &'a Gradients,
    paths: &'a HashSet<String>,
    stack: PathStack,
    out: HashMap<String, Vec<f32>>,
    error: Option<PruneError>,
}

impl ModuleVisitor for GradReader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.stack.path();
        if self.error.is_some() || !self.paths.contains(&path) || self.out.contains_key(&path) {
            return;
        }
        if let Some(g) = param.val().grad(self.grads) {
            match to_f32(g, &path) {
                Ok(v) => {
                    self.out.insert(path, v.into_vec());
                }
                Err(e) => self.error = Some(e),
            }
        }
    }
}

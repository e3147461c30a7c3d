//! GraSP: gradient signal preservation (Wang et al. 2020).

use crate::error::{self, PaiError};
use crate::params::{read, selected};
use crate::scores::ElementScores;
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn_prune_core::{MaskSet, ParamSelector, ParamSnapshot, PrunerConfig, Scope};
use std::collections::{BTreeMap, BTreeSet};

const METHOD: &str = "GraSP";

/// Configuration of [`Grasp`].
///
/// ```
/// use burn_prune_pai::GraspConfig;
///
/// let grasp = GraspConfig::new().init().unwrap();
/// assert_eq!(grasp.config().temperature, 200.0);
/// assert!(GraspConfig::new().with_temperature(0.0).init().is_err());
/// ```
#[derive(Config, Debug)]
pub struct GraspConfig {
    /// Temperature `T`: the logits are divided by it before the cross-entropy (200 in the
    /// paper).
    #[config(default = 200.0)]
    pub temperature: f64,
    /// Finite-difference step, relative to the weights: the Hessian-gradient product is taken
    /// between `θ ± ε·g` with `ε·‖g‖ = relative_step·‖θ‖`.
    #[config(default = 1e-3)]
    pub relative_step: f64,
    /// Which parameters are scored and pruned (default: conv and linear weights).
    #[config(default = "ParamSelector::default()")]
    pub selector: ParamSelector,
}

impl GraspConfig {
    /// Check the settings (positive, finite temperature and step).
    pub fn init(&self) -> error::Result<Grasp> {
        for (what, v) in [
            ("GraSP temperature", self.temperature),
            ("GraSP relative step", self.relative_step),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(PaiError::invalid(
                    what,
                    format!("{v} must be finite and positive"),
                ));
            }
        }
        Ok(Grasp {
            config: self.clone(),
        })
    }
}

/// GraSP (Wang et al. 2020): keep the weights that preserve the gradient flow.
///
/// With `g = ∇L(θ)` the gradient of the cross-entropy of the logits divided by the
/// temperature over the given batches (the paper uses 10 samples per class), the score is
/// `S = −θ ⊙ H g`, and **the weights with the largest scores are removed**. Burn's autodiff
/// is first order, so `H g` is a central finite difference of two gradients:
///
/// ```text
/// H g ≈ (∇L(θ + ε g) − ∇L(θ − ε g)) / 2ε,    ε = relative_step · ‖θ‖ / ‖g‖
/// ```
///
/// (exact for a quadratic loss; the error is `O(ε²)` otherwise). The passes run on a copy of
/// the model in training mode, so the model's BatchNorm running statistics are not changed.
/// The model must be on an autodiff device.
#[derive(Clone, Debug)]
pub struct Grasp {
    config: GraspConfig,
}

/// GraSP scores of the selected parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct GraspScores {
    /// `−θ ⊙ H g` by path, row-major. The largest are pruned first.
    pub scores: BTreeMap<String, Vec<f64>>,
    /// The finite-difference step `ε` used.
    pub step: f64,
}

impl GraspScores {
    /// The scores as a criterion for the core pruner (which prunes the *lowest* scores first):
    /// `θ ⊙ H g`, the negated GraSP score.
    pub fn criterion(&self) -> ElementScores {
        let mut out = ElementScores::new("grasp");
        for (path, s) in &self.scores {
            out.insert(path.clone(), s.iter().map(|v| (-v) as f32).collect());
        }
        out
    }
}

impl Grasp {
    /// The configuration.
    pub fn config(&self) -> &GraspConfig {
        &self.config
    }

    /// GraSP scores of `model`. `logits` runs the model on one batch and returns the logits
    /// `[batch, classes]` and the class indices `[batch]`.
    ///
    /// Errors: no batch; labels that do not match the logits; a zero gradient; non-finite
    /// scores; no parameter selected.
    pub fn scores<M, B, F>(
        &self,
        model: &M,
        batches: &[B],
        mut logits: F,
    ) -> error::Result<GraspScores>
    where
        M: Module,
        B: Clone,
        F: FnMut(&M, B) -> (Tensor<2>, Tensor<1, Int>),
    {
        let shapes = selected(model, &self.config.selector)?;
        let paths: BTreeSet<String> = shapes.keys().cloned().collect();
        if batches.is_empty() {
            return Err(model_error("no batch given; GraSP needs data".into()));
        }
        // Fresh BatchNorm running states: the passes below must not change the caller's.
        let work = model.valid().train();
        let theta = read(&work, &paths, None, METHOD)?.values;
        let g = self.gradient(&work, &paths, batches, &mut logits)?;
        let (norm_theta, norm_g) = (norm(&theta), norm(&g));
        if norm_g == 0.0 || !norm_g.is_finite() {
            return Err(model_error(format!("the gradient norm is {norm_g}")));
        }
        let eps = self.config.relative_step * norm_theta.max(f64::MIN_POSITIVE) / norm_g;
        // θ ± ε·g, written into copies of the model (`theta`'s paths are `shapes`' keys).
        let moved = |sign: f64| -> ParamSnapshot {
            ParamSnapshot::from_values(
                theta
                    .iter()
                    .map(|(p, t)| {
                        let v: Vec<f64> = t
                            .iter()
                            .zip(&g[p])
                            .map(|(t, g)| t + sign * eps * g)
                            .collect();
                        (p.clone(), TensorData::new(v, shapes[p].clone()))
                    })
                    .collect(),
            )
        };
        let plus = self.gradient(
            &moved(1.0).restore(work.clone())?,
            &paths,
            batches,
            &mut logits,
        )?;
        let minus = self.gradient(&moved(-1.0).restore(work)?, &paths, batches, &mut logits)?;
        let mut scores = BTreeMap::new();
        for (path, t) in &theta {
            let s: Vec<f64> = t
                .iter()
                .zip(plus[path].iter().zip(&minus[path]))
                .map(|(t, (p, m))| -t * (p - m) / (2.0 * eps))
                .collect();
            if let Some(i) = s.iter().position(|v| !v.is_finite()) {
                return Err(model_error(format!("{path}[{i}]: the score is not finite")));
            }
            scores.insert(path.clone(), s);
        }
        Ok(GraspScores { scores, step: eps })
    }

    /// Prune `model` to `sparsity` (globally over the selected weights, largest GraSP scores
    /// first) and install the masks.
    pub fn prune<M, B, F>(
        &self,
        model: M,
        sparsity: f64,
        batches: &[B],
        logits: F,
    ) -> error::Result<(M, MaskSet)>
    where
        M: Module,
        B: Clone,
        F: FnMut(&M, B) -> (Tensor<2>, Tensor<1, Int>),
    {
        let scores = self.scores(&model, batches, logits)?;
        let pruner = PrunerConfig::new(sparsity)
            .with_scope(Scope::Global)
            .with_selector(self.config.selector.clone())
            .init(scores.criterion())?;
        Ok(pruner.prune(model)?)
    }

    /// Mean over `batches` of the gradient of the tempered cross-entropy.
    fn gradient<M, B, F>(
        &self,
        model: &M,
        paths: &BTreeSet<String>,
        batches: &[B],
        logits: &mut F,
    ) -> error::Result<BTreeMap<String, Vec<f64>>>
    where
        M: Module,
        B: Clone,
        F: FnMut(&M, B) -> (Tensor<2>, Tensor<1, Int>),
    {
        let mut sum: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for batch in batches {
            let (z, y) = logits(model, batch.clone());
            let [n, _] = z.dims();
            if y.dims() != [n] {
                return Err(model_error(format!(
                    "{} labels for {n} rows of logits",
                    y.dims()[0]
                )));
            }
            if !z.is_autodiff() {
                return Err(model_error(
                    "the logits are not on an autodiff device; build the model on \
                     `device.autodiff()`"
                        .into(),
                ));
            }
            let log_p = log_softmax(z.div_scalar(self.config.temperature), 1);
            let loss = log_p.gather(1, y.reshape([n, 1])).mean().neg();
            let grads = loss.backward();
            for (path, g) in read(model, paths, Some(&grads), METHOD)?.grads {
                match sum.get_mut(&path) {
                    Some(acc) => acc.iter_mut().zip(&g).for_each(|(a, g)| *a += g),
                    None => {
                        sum.insert(path, g);
                    }
                }
            }
        }
        let n = batches.len() as f64;
        sum.values_mut()
            .for_each(|g| g.iter_mut().for_each(|v| *v /= n));
        Ok(sum)
    }
}

fn norm(values: &BTreeMap<String, Vec<f64>>) -> f64 {
    values
        .values()
        .flat_map(|v| v.iter())
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
}

fn model_error(reason: String) -> PaiError {
    PaiError::Model {
        method: METHOD,
        reason,
    }
}

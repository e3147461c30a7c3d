//! The data-free baselines of pruning at initialization: uniform, random and ERK.

use crate::error::{PaiError, Result};
use crate::params::selected;
use burn::module::Module;
use burn_prune_core::criterion::Random;
use burn_prune_core::{ParamSelector, Pruner, PrunerConfig, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A baseline: which weights survive is random (seeded); how many per layer is what differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Baseline {
    /// Every layer keeps the same fraction of its weights.
    Uniform,
    /// One random draw over all selected weights (every layer keeps about the same fraction,
    /// up to sampling noise).
    Random,
    /// Erdős–Rényi-Kernel densities (Evci et al. 2020, RigL): layer `l` of shape
    /// `(n₁, …, n_k)` keeps `ε·Σ nᵢ / Π nᵢ` of its weights, `ε` set by the global budget, layers
    /// that would exceed 1 kept dense (see [`erk_densities`]).
    Erk,
}

impl Baseline {
    /// A pruner for `sparsity` over the parameters `selector` picks in `model`, with weights
    /// chosen at random from `seed`.
    ///
    /// ```
    /// use burn::prelude::*;
    /// use burn::nn::{Linear, LinearConfig};
    /// use burn_prune_core::ParamSelector;
    /// use burn_prune_pai::Baseline;
    ///
    /// #[derive(Module, Debug)]
    /// struct Net { a: Linear, b: Linear }
    ///
    /// let device = Device::flex();
    /// let net = Net { a: LinearConfig::new(64, 64).init(&device), b: LinearConfig::new(64, 4).init(&device) };
    /// let pruner = Baseline::Erk.pruner(&net, 0.9, &ParamSelector::default(), 7).unwrap();
    /// let masks = pruner.masks(&net).unwrap();
    /// // The small output layer is kept denser than the square one.
    /// let density = |p: &str| masks.get(p).unwrap().keep.count_ones() as f64 / masks.get(p).unwrap().keep.len() as f64;
    /// assert!(density("b.weight") > density("a.weight"));
    /// ```
    pub fn pruner<M: Module>(
        &self,
        model: &M,
        sparsity: f64,
        selector: &ParamSelector,
        seed: u64,
    ) -> Result<Pruner> {
        check_sparsity(sparsity)?;
        let scope = match self {
            Self::Uniform => Scope::Local,
            Self::Random => Scope::Global,
            Self::Erk => Scope::Densities(erk_densities(model, selector, 1.0 - sparsity)?),
        };
        Ok(PrunerConfig::new(sparsity)
            .with_scope(scope)
            .with_selector(selector.clone())
            .init(Random::new(seed))?)
    }
}

fn check_sparsity(sparsity: f64) -> Result<()> {
    if (0.0..1.0).contains(&sparsity) {
        Ok(())
    } else {
        Err(PaiError::invalid(
            "baseline sparsity",
            format!("{sparsity} is outside [0, 1)"),
        ))
    }
}

/// Erdős–Rényi-Kernel densities of the parameters `selector` picks in `model` for a global
/// `density` (fraction of the selected weights kept), as in RigL's code: a parameter of shape
/// `(n₁, …, n_k)` (a convolution's `[out, in, kh, kw]`, a linear layer's `[in, out]`) gets
/// `ε·(Σ nᵢ)/(Π nᵢ)`; `ε` is solved so that the kept weights add up to `density` of the
/// total, and a parameter whose density would exceed 1 is kept dense and `ε` solved again on
/// the rest.
///
/// Errors: `density` outside `(0, 1]`; no parameter selected.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{Linear, LinearConfig};
/// use burn_prune_core::ParamSelector;
/// use burn_prune_pai::erk_densities;
///
/// #[derive(Module, Debug)]
/// struct Net { a: Linear, b: Linear }
///
/// let device = Device::flex();
/// let net = Net { a: LinearConfig::new(10, 10).init(&device), b: LinearConfig::new(10, 40).init(&device) };
/// let d = erk_densities(&net, &ParamSelector::default(), 0.5).unwrap();
/// // raw: a 20/100 = 0.2, b 50/400 = 0.125; ε = 250 / (0.2·100 + 0.125·400) = 250/70
/// assert!((d["a.weight"] - 0.2 * 250.0 / 70.0).abs() < 1e-12);
/// assert!((d["b.weight"] - 0.125 * 250.0 / 70.0).abs() < 1e-12);
/// ```
pub fn erk_densities<M: Module>(
    model: &M,
    selector: &ParamSelector,
    density: f64,
) -> Result<BTreeMap<String, f64>> {
    if !(density > 0.0 && density <= 1.0) {
        return Err(PaiError::invalid(
            "ERK density",
            format!("{density} is outside (0, 1]"),
        ));
    }
    let shapes = selected(model, selector)?;
    if shapes.is_empty() {
        return Err(PaiError::invalid(
            "ERK parameters",
            "the selector picks none",
        ));
    }
    let layers: Vec<(String, f64, f64)> = shapes
        .into_iter()
        .map(|(path, shape)| {
            let n: f64 = shape.iter().map(|&d| d as f64).product();
            let raw = shape.iter().map(|&d| d as f64).sum::<f64>() / n;
            (path, n, raw)
        })
        .collect();
    let total: f64 = layers.iter().map(|(_, n, _)| n).sum();
    let mut dense = vec![false; layers.len()];
    let eps = loop {
        let kept_dense: f64 = layers
            .iter()
            .zip(&dense)
            .filter(|(_, d)| **d)
            .map(|((_, n, _), _)| n)
            .sum();
        let divisor: f64 = layers
            .iter()
            .zip(&dense)
            .filter(|(_, d)| !**d)
            .map(|((_, n, raw), _)| raw * n)
            .sum();
        if divisor == 0.0 {
            break 0.0; // every layer dense: density 1
        }
        let eps = (density * total - kept_dense) / divisor;
        let max = layers
            .iter()
            .zip(&dense)
            .filter(|(_, d)| !**d)
            .map(|((_, _, raw), _)| raw * eps)
            .fold(0.0, f64::max);
        if max <= 1.0 {
            break eps;
        }
        for ((_, _, raw), d) in layers.iter().zip(dense.iter_mut()) {
            if !*d && raw * eps == max {
                *d = true;
            }
        }
    };
    Ok(layers
        .into_iter()
        .zip(dense)
        .map(|((path, _, raw), d)| (path, if d { 1.0 } else { raw * eps }))
        .collect())
}

//! PreCrop's layer-wise density allocation (Cai et al., arXiv 2203.02549).

use crate::error::{self, PaiError};
use crate::params::selected;
use crate::solver::allocate_densities;
use burn::module::Module;
use burn::prelude::*;
use burn_prune_core::structure::{Trace, trace};
use burn_prune_core::{ParamSelector, Scope};
use burn_prune_metrics::{Convention, OpCounts};
use std::collections::BTreeMap;

/// Configuration of [`PreCrop`] (and of PreConfig, its widening variant): the budgets, as
/// fractions of the dense model's selected weights and of their multiply-accumulates, which
/// parameters take part, and how much a channel group may widen.
///
/// ```
/// use burn_prune_pai::PreCropConfig;
///
/// let precrop = PreCropConfig::new().with_params(Some(0.1)).init().unwrap();
/// assert!(PreCropConfig::new().init().is_err()); // no budget at all
/// assert!(PreCropConfig::new().with_macs(Some(1.5)).init().is_err());
/// // PreConfig: the same MACs as the dense model, groups up to twice as wide.
/// let preconfig = PreCropConfig::new().with_macs(Some(1.0)).with_max_widening(2.0).init().unwrap();
/// assert!(PreCropConfig::new().with_macs(Some(1.0)).with_max_widening(0.5).init().is_err());
/// # let _ = (precrop, preconfig);
/// ```
#[derive(Config, Debug)]
pub struct PreCropConfig {
    /// Fraction of the selected weights kept: in `(0, 1]` for PreCrop, any positive number
    /// for PreConfig.
    pub params: Option<f64>,
    /// Fraction of the selected layers' MACs kept (papers' convention): in `(0, 1]` for
    /// PreCrop, any positive number for PreConfig.
    pub macs: Option<f64>,
    /// Which parameters are pruned (default: conv and linear weights).
    #[config(default = "ParamSelector::default()")]
    pub selector: ParamSelector,
    /// The largest factor by which [`PreCrop::channels`] may multiply a channel group's free
    /// channels: 1 (the default) is PreCrop, which only removes channels; above 1 is
    /// PreConfig, which may make layers wider than the model's configuration.
    #[config(default = 1.0)]
    pub max_widening: f64,
}

impl PreCropConfig {
    /// Check the budgets (at least one, each a positive fraction, at most 1 unless widening)
    /// and the widening factor (finite, at least 1).
    pub fn init(&self) -> error::Result<PreCrop> {
        if !(self.max_widening.is_finite() && self.max_widening >= 1.0) {
            return Err(PaiError::invalid(
                "PreConfig max_widening",
                format!("{} is not a finite factor ≥ 1", self.max_widening),
            ));
        }
        if self.params.is_none() && self.macs.is_none() {
            return Err(PaiError::invalid(
                "PreCrop budget",
                "set a parameter budget, a MAC budget or both",
            ));
        }
        let widening = self.max_widening > 1.0;
        for (what, v) in [("PreCrop params", self.params), ("PreCrop MACs", self.macs)] {
            if let Some(v) = v {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(PaiError::invalid(
                        what,
                        format!("the kept fraction {v} is not a finite number > 0"),
                    ));
                }
                if v > 1.0 && !widening {
                    return Err(PaiError::invalid(
                        what,
                        format!(
                            "the kept fraction {v} is above 1: only PreConfig (max_widening > 1) \
                             may exceed the dense model"
                        ),
                    ));
                }
            }
        }
        Ok(PreCrop {
            config: self.clone(),
        })
    }
}

/// PreCrop's allocation: the accuracy of a network pruned at initialization depends on its
/// layer-wise densities `p_l`, not on which weights are kept, and the expected SynFlow score
/// of random masks of densities `p_l` is proportional to `Π_l p_l`. So PreCrop chooses the
/// densities by the convex program
///
/// ```text
/// maximise Σ_l log p_l   subject to   Σ_l p_l·P_l ≤ P,   Σ_l p_l·F_l ≤ F,   1/P_l ≤ p_l ≤ 1
/// ```
///
/// (`P_l` weights and `F_l` MACs of layer `l`; each layer keeps at least one weight), solved
/// exactly by [`crate::solver`]. With the parameter budget alone every layer that is not
/// dense keeps the same number of weights; with the MAC budget alone, the same MACs.
///
/// Use the densities with [`Scope::Densities`] and any criterion (random, magnitude):
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{Linear, LinearConfig, Relu};
/// use burn_prune_core::{PrunerConfig, criterion::Random};
/// use burn_prune_pai::PreCropConfig;
///
/// #[derive(Module, Debug)]
/// struct Mlp { a: Linear, b: Linear }
///
/// let device = Device::flex();
/// let mlp = Mlp { a: LinearConfig::new(32, 64).init(&device), b: LinearConfig::new(64, 8).init(&device) };
/// let forward = |m: &Mlp, x: Tensor<2>| m.b.forward(Relu::new().forward(m.a.forward(x)));
/// let allocation = PreCropConfig::new().with_params(Some(0.2)).init().unwrap()
///     .densities(&mlp, [1, 32], forward).unwrap();
/// // 20% of 2560 weights = 512: 256 in each layer.
/// assert!((allocation.densities["a.weight"] - 256.0 / 2048.0).abs() < 1e-6);
/// assert!((allocation.densities["b.weight"] - 256.0 / 512.0).abs() < 1e-6);
/// let (mlp, masks) = PrunerConfig::new(0.0).with_scope(allocation.scope())
///     .init(Random::new(0)).unwrap().prune(mlp).unwrap();
/// assert_eq!(masks.counts(), (2560, 2048));
/// # let _ = mlp;
/// ```
#[derive(Clone, Debug)]
pub struct PreCrop {
    config: PreCropConfig,
}

/// Layer-wise densities chosen by [`PreCrop::densities`].
#[derive(Clone, Debug, PartialEq)]
pub struct DensityAllocation {
    /// Density (fraction kept) per parameter path.
    pub densities: BTreeMap<String, f64>,
    /// Weights of each parameter.
    pub params: BTreeMap<String, u64>,
    /// MACs of each parameter's layer at the traced input (papers' convention).
    pub macs: BTreeMap<String, u64>,
}

impl DensityAllocation {
    /// The densities as a scope for the core pruner.
    pub fn scope(&self) -> Scope {
        Scope::Densities(self.densities.clone())
    }

    /// Weights kept: `Σ_l p_l·P_l`.
    pub fn kept_params(&self) -> f64 {
        self.densities
            .iter()
            .map(|(p, d)| d * self.params[p] as f64)
            .sum()
    }

    /// MACs kept: `Σ_l p_l·F_l`.
    pub fn kept_macs(&self) -> f64 {
        self.densities
            .iter()
            .map(|(p, d)| d * self.macs[p] as f64)
            .sum()
    }
}

impl PreCrop {
    /// The configuration.
    pub fn config(&self) -> &PreCropConfig {
        &self.config
    }

    /// The layer-wise densities of `model`, whose MACs are counted by tracing `forward` on an
    /// input of `input_shape` (batch 1 for per-sample MACs; only the ratio matters here).
    ///
    /// Errors: a PreConfig configuration (`max_widening > 1`: densities cannot exceed 1); no
    /// parameter selected; a selected parameter no traced op multiplies by (with a MAC
    /// budget); budgets below one weight per layer; tracing errors.
    pub fn densities<M, F, const D: usize, const O: usize>(
        &self,
        model: &M,
        input_shape: [usize; D],
        forward: F,
    ) -> error::Result<DensityAllocation>
    where
        M: Module,
        F: Fn(&M, Tensor<D>) -> Tensor<O>,
    {
        if self.config.max_widening != 1.0 {
            return Err(PaiError::invalid(
                "PreCrop layer densities",
                "a density cannot exceed 1: widening (PreConfig) needs `channels`",
            ));
        }
        let trace = trace(model, input_shape, forward)?;
        let costs = self.layer_costs(model, &trace)?;
        let p: Vec<f64> = costs.params.values().map(|&n| n as f64).collect();
        let f: Vec<f64> = costs.macs.values().map(|&n| n as f64).collect();
        let min: Vec<f64> = p.iter().map(|n| 1.0 / n).collect();
        let (param_budget, mac_budget) = self.limits(&costs);
        // Without a parameter budget the dense count never binds (densities are at most 1).
        let param_budget = param_budget.unwrap_or_else(|| p.iter().sum());
        let densities = allocate_densities(&p, &f, param_budget, mac_budget, &min)?;
        Ok(DensityAllocation {
            densities: costs.params.keys().cloned().zip(densities).collect(),
            params: costs.params,
            macs: costs.macs,
        })
    }

    /// The parameter and MAC budgets that are set, in weights and MACs.
    pub(crate) fn limits(&self, costs: &LayerCosts) -> (Option<f64>, Option<f64>) {
        let total_p: u64 = costs.params.values().sum();
        let total_f: u64 = costs.macs.values().sum();
        let param_budget = self.config.params.map(|p| p * total_p as f64);
        let mac_budget = self.config.macs.map(|m| m * total_f as f64);
        (param_budget, mac_budget)
    }

    /// The selected weights of `model` with their shapes, weight counts and traced MACs.
    pub(crate) fn layer_costs<M: Module>(
        &self,
        model: &M,
        trace: &Trace,
    ) -> error::Result<LayerCosts> {
        let shapes = selected(model, &self.config.selector)?;
        if shapes.is_empty() {
            return Err(PaiError::invalid(
                "PreCrop parameters",
                "the selector picks none",
            ));
        }
        let counts = OpCounts::of_trace(trace);
        let mut macs: BTreeMap<String, u64> = shapes.keys().map(|p| (p.clone(), 0)).collect();
        for op in &counts.ops {
            if let Some(m) = op.param.as_ref().and_then(|p| macs.get_mut(p)) {
                *m += op.macs(Convention::Papers);
            }
        }
        if self.config.macs.is_some()
            && let Some((path, _)) = macs.iter().find(|(_, m)| **m == 0)
        {
            return Err(PaiError::Model {
                method: "PreCrop",
                reason: format!("{path}: no traced multiply-accumulate uses it"),
            });
        }
        let params = shapes
            .iter()
            .map(|(p, s)| (p.clone(), s.iter().product::<usize>() as u64))
            .collect();
        Ok(LayerCosts {
            shapes,
            params,
            macs,
        })
    }
}

/// The selected weights of a model and what they cost at full size.
pub(crate) struct LayerCosts {
    /// Shape of each selected parameter.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Weights of each selected parameter.
    pub params: BTreeMap<String, u64>,
    /// MACs of each selected parameter's layer (papers' convention).
    pub macs: BTreeMap<String, u64>,
}

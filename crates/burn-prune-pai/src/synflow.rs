//! SynFlow: iterative synaptic flow pruning (Tanaka et al. 2020), data-free.

use crate::error::{self, PaiError};
use crate::params::{read, selected};
use crate::scores::ElementScores;
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn_prune_core::{MaskSet, ParamSelector, PathStack, PrunerConfig, Scope, masks_of};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const METHOD: &str = "SynFlow";

/// The floating-point precision SynFlow's forward and backward passes run in.
///
/// The synaptic flow `R` is a sum over input-output paths of products of `|θ|`: it grows by
/// roughly `√fan_in` per layer and overflows `f32` (3.4·10³⁸) in deep networks (ResNet-56 at
/// Kaiming initialisation reaches about 10⁷⁰). No rescaling is exact for networks with
/// residual additions (paths of different lengths would be scaled differently), so SynFlow
/// computes in `f64` (10³⁰⁸) where the backend supports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// `f64` when the model's device supports it (flex, ndarray; wgpu where the adapter has
    /// 64-bit floats, as Mesa's lavapipe does), `f32` otherwise.
    #[default]
    Auto,
    /// Always `f32`: fast, exact enough for shallow networks; an overflow is an error.
    F32,
    /// Always `f64`; an error on a device without `f64`.
    F64,
}

/// Configuration of [`SynFlow`].
///
/// ```
/// use burn_prune_pai::{Precision, SynFlowConfig};
///
/// let synflow = SynFlowConfig::new().with_rounds(20).with_precision(Precision::F64).init().unwrap();
/// assert_eq!(synflow.config().rounds, 20);
/// assert!(SynFlowConfig::new().with_rounds(0).init().is_err());
/// ```
#[derive(Config, Debug)]
pub struct SynFlowConfig {
    /// Pruning rounds `n`; round `k` keeps a global density `ρ^{k/n}`.
    #[config(default = 100)]
    pub rounds: usize,
    /// Precision of the passes.
    #[config(default = "Precision::Auto")]
    pub precision: Precision,
    /// Which parameters are scored and pruned (default: conv and linear weights).
    #[config(default = "ParamSelector::default()")]
    pub selector: ParamSelector,
    /// Weights every selected parameter keeps at least (the core pruner's `min_kept`). `0`
    /// is SynFlow as published: any layer may be emptied, and the point of SynFlow is that it
    /// does not happen.
    #[config(default = 0)]
    pub min_kept: usize,
}

impl SynFlowConfig {
    /// Check the settings (at least one round).
    pub fn init(&self) -> error::Result<SynFlow> {
        if self.rounds == 0 {
            return Err(PaiError::invalid("SynFlow rounds", "must be at least 1"));
        }
        Ok(SynFlow {
            config: self.clone(),
        })
    }
}

/// SynFlow (Tanaka et al. 2020): prune without data by conserving synaptic flow.
///
/// One round: every parameter (BatchNorm statistics included) is replaced by its absolute
/// value, normalisation layers run in inference mode, installed masks are folded in, an
/// all-ones input of the given shape goes through the network, `R` is the sum of the
/// outputs, and each selected weight scores `|θ ⊙ ∂R/∂θ|`. [`SynFlow::prune`] repeats this
/// `n` times, keeping a global density `ρ^{k/n}` after round `k` (exponential schedule);
/// weights pruned in a round stay pruned.
///
/// The passes run on the model's device in the configured [`Precision`]; the model passed
/// in is not changed (the passes run on a copy).
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{Linear, LinearConfig, Relu};
/// use burn_prune_pai::SynFlowConfig;
///
/// #[derive(Module, Debug)]
/// struct Mlp { a: Linear, b: Linear }
///
/// let device = Device::flex();
/// let mlp = Mlp {
///     a: LinearConfig::new(8, 16).init(&device),
///     b: LinearConfig::new(16, 4).init(&device),
/// };
/// let forward = |m: &Mlp, x: Tensor<2>| m.b.forward(Relu::new().forward(m.a.forward(x)));
/// let synflow = SynFlowConfig::new().with_rounds(10).init().unwrap();
/// let (mlp, masks) = synflow.prune(mlp, 0.9, [1, 8], forward).unwrap();
/// assert_eq!(masks.counts(), (192, 173)); // 90% of 8·16 + 16·4 weights
/// # let _ = mlp;
/// ```
#[derive(Clone, Debug)]
pub struct SynFlow {
    config: SynFlowConfig,
}

/// One round of SynFlow scores.
#[derive(Clone, Debug, PartialEq)]
pub struct SynFlowScores {
    /// `|θ ⊙ ∂R/∂θ|` of every selected parameter, by path, row-major.
    pub scores: BTreeMap<String, Vec<f64>>,
    /// The synaptic flow `R` (sum of the outputs).
    pub flow: f64,
    /// The precision the passes ran in.
    pub dtype: FloatDType,
}

impl SynFlowScores {
    /// The summed score of each parameter. In a bias-free ReLU network these are all equal
    /// to `R` (the conservation law of Tanaka et al.).
    pub fn sums(&self) -> BTreeMap<String, f64> {
        self.scores
            .iter()
            .map(|(p, s)| (p.clone(), s.iter().sum()))
            .collect()
    }
}

impl SynFlow {
    /// The configuration.
    pub fn config(&self) -> &SynFlowConfig {
        &self.config
    }

    /// One round of scores for `model` as it is (installed masks folded in): `forward` maps
    /// the model and an all-ones input of shape `input_shape` (batch of 1 in the paper) to the
    /// outputs.
    ///
    /// Errors: no parameter selected; a device without `f64` when [`Precision::F64`] was asked
    /// for; a flow that is not finite (overflow: use `f64`) or zero.
    pub fn scores<M, F, const D: usize, const O: usize>(
        &self,
        model: &M,
        input_shape: [usize; D],
        forward: F,
    ) -> error::Result<SynFlowScores>
    where
        M: Module,
        F: Fn(&M, Tensor<D>) -> Tensor<O>,
    {
        let paths: BTreeSet<String> = selected(model, &self.config.selector)?
            .into_keys()
            .collect();
        let device = model_device(model)?;
        let dtype = self.dtype(&device)?;
        // `valid().train()` is a copy with fresh BatchNorm running states on the device's
        // autodiff twin (the caller's model is never touched); `freeze` turns training
        // behaviour off, so normalisation layers run in inference mode.
        let linear = model
            .valid()
            .train()
            .materialize()
            .freeze()
            .map(&mut Linearize {
                paths: &paths,
                dtype,
                stack: PathStack::default(),
            });
        let autodiff = model_device(&linear)?;
        let input = Tensor::<D>::ones(input_shape, &autodiff).cast(dtype);
        let flow = forward(&linear, input).sum();
        let r = flow
            .clone()
            .into_data()
            .try_into_vec_as::<f64>()
            .map_err(|e| model_error(format!("cannot read the flow R: {e:?}")))?[0];
        if !r.is_finite() {
            return Err(model_error(format!(
                "the flow R overflowed {dtype:?} ({r}); run SynFlow in f64 (Precision::F64 on \
                 a CPU backend: flex or ndarray)"
            )));
        }
        if r <= 0.0 {
            return Err(model_error(
                "the flow R is zero: no path from the input to the output is left".into(),
            ));
        }
        let grads = flow.backward();
        let read = read(&linear, &paths, Some(&grads), METHOD)?;
        let mut scores = BTreeMap::new();
        for (path, values) in read.values {
            let g = &read.grads[&path];
            let s: Vec<f64> = values.iter().zip(g).map(|(w, g)| (w * g).abs()).collect();
            if let Some(i) = s.iter().position(|v| !v.is_finite()) {
                return Err(model_error(format!(
                    "{path}[{i}]: the score overflowed {dtype:?}; run SynFlow in f64"
                )));
            }
            scores.insert(path, s);
        }
        Ok(SynFlowScores {
            scores,
            flow: r,
            dtype,
        })
    }

    /// Prune `model` to `sparsity` (of the selected weights, globally) in
    /// [`rounds`](SynFlowConfig::rounds) rounds and install the masks. Returns the masked model
    /// and the final masks.
    ///
    /// Errors: `sparsity` outside `[0, 1)`; those of [`SynFlow::scores`] and of the core
    /// pruner.
    pub fn prune<M, F, const D: usize, const O: usize>(
        &self,
        model: M,
        sparsity: f64,
        input_shape: [usize; D],
        forward: F,
    ) -> error::Result<(M, MaskSet)>
    where
        M: Module,
        F: Fn(&M, Tensor<D>) -> Tensor<O>,
    {
        if !(0.0..1.0).contains(&sparsity) {
            return Err(PaiError::invalid(
                "SynFlow sparsity",
                format!("{sparsity} is outside [0, 1)"),
            ));
        }
        let density = 1.0 - sparsity;
        let n = self.config.rounds;
        let mut model = model;
        let mut masks = MaskSet::new();
        for k in 1..=n {
            let keep = density.powf(k as f64 / n as f64);
            let scores = self.scores(&model, input_shape, &forward)?;
            let criterion = ranked(&scores, &masks_of(&model)?);
            let pruner = PrunerConfig::new((1.0 - keep).clamp(0.0, 1.0 - f64::EPSILON))
                .with_scope(Scope::Global)
                .with_selector(self.config.selector.clone())
                .with_min_kept(self.config.min_kept)
                .init(criterion)?;
            (model, masks) = pruner.prune(model)?;
        }
        Ok((model, masks))
    }

    fn dtype(&self, device: &Device) -> error::Result<FloatDType> {
        let f64_ok = device.supports_dtype(FloatDType::F64);
        match self.config.precision {
            Precision::F32 => Ok(FloatDType::F32),
            Precision::Auto if f64_ok => Ok(FloatDType::F64),
            Precision::Auto => Ok(FloatDType::F32),
            Precision::F64 if f64_ok => Ok(FloatDType::F64),
            Precision::F64 => Err(PaiError::invalid(
                "SynFlow precision",
                format!("the device {device:?} has no f64; use Precision::Auto or F32"),
            )),
        }
    }
}

/// The round's scores as a criterion: divided by the largest (so that `f64` scores far
/// beyond `f32`'s range keep their order), with every weight already pruned at `-1`, below
/// every live weight, so that masks only grow.
fn ranked(scores: &SynFlowScores, installed: &MaskSet) -> ElementScores {
    let max = scores
        .scores
        .values()
        .flat_map(|s| s.iter().copied())
        .fold(0.0f64, f64::max);
    let mut out = ElementScores::new("synflow");
    for (path, s) in &scores.scores {
        let pruned = installed.get(path).map(|m| m.keep.to_bools());
        let v = s
            .iter()
            .enumerate()
            .map(|(i, &x)| match &pruned {
                Some(keep) if !keep[i] => -1.0,
                _ if max > 0.0 => (x / max) as f32,
                _ => 0.0,
            })
            .collect();
        out.insert(path.clone(), v);
    }
    out
}

fn model_device<M: Module>(model: &M) -> error::Result<Device> {
    model
        .devices()
        .into_iter()
        .next()
        .ok_or_else(|| model_error("the model has no parameters".into()))
}

fn model_error(reason: String) -> PaiError {
    PaiError::Model {
        method: METHOD,
        reason,
    }
}

/// `|θ|` in the pass's dtype for every float (statistics included); the selected parameters
/// become leaves that require gradients, the rest constants.
struct Linearize<'a> {
    paths: &'a BTreeSet<String>,
    dtype: FloatDType,
    stack: PathStack,
}

impl ModuleMapper for Linearize<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let selected = self.paths.contains(&self.stack.path());
        let dtype = self.dtype;
        param
            .map(|t| t.abs().cast(dtype).detach())
            .set_require_grad(selected)
    }
}

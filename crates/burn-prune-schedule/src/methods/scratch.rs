//! Scratch-E / Scratch-B (Liu et al. 2019, "Rethinking the Value of Network Pruning"): train
//! the pruned architecture from a random initialisation, for the dense model's epochs
//! (Scratch-E) or for the same computation budget (Scratch-B), with the learning-rate drops
//! at the same fractions of training.

use crate::error::{self, ScheduleError};
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn_prune_core::param_value_from;
use burn_prune_core::{LayerKind, ParamAddress, PathStack, param_addresses};
use burn_prune_metrics::{Convention, ModelMetrics};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// Which of Liu et al.'s from-scratch baselines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scratch {
    /// Same epochs as the dense model.
    E,
    /// Same computation: epochs × MACs(dense) / MACs(pruned).
    B,
}

/// Configuration of a [`ScratchBudget`]: the MACs of the dense and the pruned model and the
/// dense model's epochs.
///
/// ```
/// use burn_prune_schedule::methods::{Scratch, ScratchBudgetConfig};
///
/// // Dense 100M MACs, pruned 40M, trained 160 epochs.
/// let budget = ScratchBudgetConfig::new(100_000_000, 40_000_000, 160).init().unwrap();
/// assert_eq!(budget.scratch_e(), 160);
/// assert_eq!(budget.scratch_b(), 400); // 160 × 2.5
/// assert_eq!(budget.milestones(Scratch::B, &[0.5, 0.75]).unwrap(), vec![200, 300]);
/// // Liu et al.'s ImageNet code doubles the epochs once the pruned model saves 2× or more.
/// let capped = ScratchBudgetConfig::new(100_000_000, 40_000_000, 90)
///     .with_max_extension(Some(2.0))
///     .init()
///     .unwrap();
/// assert_eq!(capped.scratch_b(), 180);
/// ```
#[derive(Config, Debug)]
pub struct ScratchBudgetConfig {
    /// MACs of the dense (unpruned) model.
    pub dense_macs: u64,
    /// MACs of the pruned architecture.
    pub pruned_macs: u64,
    /// Epochs the dense model was trained for.
    pub epochs: usize,
    /// Largest Scratch-B extension `MACs(dense) / MACs(pruned)` used: `None` (the default, as
    /// Liu et al.'s CIFAR code) never caps; `Some(2.0)` is their ImageNet code, which trains a
    /// pruned model saving 2× or more for exactly twice the epochs.
    pub max_extension: Option<f64>,
}

impl ScratchBudgetConfig {
    /// The budget of `pruned` against `dense` from their measured MACs in `convention`
    /// (papers count a multiply-add once: [`Convention::Papers`]).
    pub fn from_metrics(
        dense: &ModelMetrics,
        pruned: &ModelMetrics,
        epochs: usize,
        convention: Convention,
    ) -> Self {
        Self::new(dense.macs(convention), pruned.macs(convention), epochs)
    }

    /// Checks the values: positive MACs, pruned MACs at most the dense ones, at least one
    /// epoch, a cap (if any) finite and at least 1.
    pub fn init(&self) -> error::Result<ScratchBudget> {
        if self.dense_macs == 0 || self.pruned_macs == 0 {
            return Err(ScheduleError::invalid(
                "scratch budget MACs",
                format!(
                    "dense {} and pruned {} must both be positive",
                    self.dense_macs, self.pruned_macs
                ),
            ));
        }
        if self.pruned_macs > self.dense_macs {
            return Err(ScheduleError::invalid(
                "scratch budget MACs",
                format!(
                    "the pruned model ({}) costs more than the dense one ({})",
                    self.pruned_macs, self.dense_macs
                ),
            ));
        }
        if self.epochs == 0 {
            return Err(ScheduleError::invalid(
                "scratch budget epochs",
                "must be at least 1",
            ));
        }
        if let Some(cap) = self.max_extension
            && !(cap.is_finite() && cap >= 1.0)
        {
            return Err(ScheduleError::invalid(
                "scratch budget max_extension",
                format!("{cap} must be finite and at least 1"),
            ));
        }
        Ok(ScratchBudget {
            config: self.clone(),
        })
    }
}

/// How long to train a pruned architecture from scratch, and when to drop the learning rate.
///
/// Rounding follows Liu et al.'s code: Scratch-B trains `⌊epochs × MACs(dense) /
/// MACs(pruned)⌋` epochs (`int(160 * flops_std / flops_small)`, computed here exactly in
/// integers), or `⌊epochs × cap⌋` when the ratio reaches the cap; a drop at fraction `f` of
/// `n` epochs happens at the start of epoch `⌊n × f⌋` (`int(args.epochs * 0.5)`, the same
/// `f64` product).
#[derive(Clone, Debug)]
pub struct ScratchBudget {
    config: ScratchBudgetConfig,
}

impl ScratchBudget {
    /// Scratch-E: the dense model's epochs.
    pub fn scratch_e(&self) -> usize {
        self.config.epochs
    }

    /// Scratch-B: the epochs that cost what the dense model's training cost.
    pub fn scratch_b(&self) -> usize {
        let c = &self.config;
        if let Some(cap) = c.max_extension
            && self.extension() >= cap
        {
            return (c.epochs as f64 * cap) as usize;
        }
        let epochs = c.epochs as u128 * c.dense_macs as u128 / c.pruned_macs as u128;
        usize::try_from(epochs).unwrap_or(usize::MAX)
    }

    /// The uncapped extension `MACs(dense) / MACs(pruned)` (at least 1).
    pub fn extension(&self) -> f64 {
        self.config.dense_macs as f64 / self.config.pruned_macs as f64
    }

    /// The epochs of `variant`.
    pub fn epochs(&self, variant: Scratch) -> usize {
        match variant {
            Scratch::E => self.scratch_e(),
            Scratch::B => self.scratch_b(),
        }
    }

    /// The epochs (0-based) at whose start the learning rate drops, at the same `fractions`
    /// of `variant`'s training as in the dense schedule (`[0.5, 0.75]` for Liu et al.'s CIFAR
    /// runs): `⌊epochs × f⌋` each.
    ///
    /// Errors: a fraction outside `(0, 1)` or fractions not strictly increasing.
    pub fn milestones(&self, variant: Scratch, fractions: &[f64]) -> error::Result<Vec<usize>> {
        if let Some(f) = fractions.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
            return Err(ScheduleError::invalid(
                "learning-rate drop fraction",
                format!("{f} is outside (0, 1)"),
            ));
        }
        if fractions.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ScheduleError::invalid(
                "learning-rate drop fractions",
                format!("{fractions:?} are not strictly increasing"),
            ));
        }
        let epochs = self.epochs(variant) as f64;
        Ok(fractions.iter().map(|f| (epochs * f) as usize).collect())
    }
}

/// How [`reinitialize`] treated one parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Reinit {
    /// Drawn from `U(−bound, bound)`, `bound = 1/√fan_in` (Burn's default Kaiming-uniform
    /// with gain `1/√3`).
    Uniform {
        /// `1/√fan_in`.
        bound: f64,
        /// The layer's fan-in: `in/groups · k…` for a convolution (`out/groups · k…` for a
        /// transposed one), `d_input` for a linear layer.
        fan_in: usize,
    },
    /// Set to a constant (normalisation `γ`, `β` and running statistics).
    Constant(f32),
    /// Left as it was (a layer kind without a known default).
    Unchanged,
}

/// One parameter of a [`ReinitReport`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReinitParam {
    /// The parameter's path.
    pub path: String,
    /// The kind of layer holding it.
    pub kind: LayerKind,
    /// What was done.
    pub init: Reinit,
}

/// What [`reinitialize`] did to every float parameter, in the model's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReinitReport {
    /// One entry per parameter (running statistics included).
    pub params: Vec<ReinitParam>,
}

impl ReinitReport {
    /// The entry of `path`.
    pub fn get(&self, path: &str) -> Option<&ReinitParam> {
        self.params.iter().find(|p| p.path == path)
    }

    /// The parameters left as they were.
    pub fn unchanged(&self) -> impl Iterator<Item = &ReinitParam> {
        self.params.iter().filter(|p| p.init == Reinit::Unchanged)
    }
}

/// Re-initialise every parameter of `model` (a pruned, compacted architecture, say) with
/// Burn's default initialisation for its layer kind, from `seed`:
///
/// - convolutions (transposed included) and linear layers: weight and bias from
///   `U(−1/√fan_in, 1/√fan_in)`, Burn's default `KaimingUniform { gain: 1/√3 }`, with
///   `fan_in = weight.shape[1] · k…` for a convolution (`in/groups · k…`; `out/groups · k…`
///   for a transposed one, whose weight is `[in, out/groups, k…]`) and `d_input` for a linear
///   layer (weight `[d_input, d_output]`);
/// - BatchNorm, LayerNorm, GroupNorm: `γ = 1`, `β = 0`; running mean 0, running variance 1;
/// - anything else (embeddings, a user's own parameters, learned block scales) is left as
///   it was and listed as [`Reinit::Unchanged`].
///
/// The values are drawn on the host (`StdRng` seeded from `seed` and the parameter's path,
/// so each parameter's values depend only on the seed, its path and its shape) and are the
/// same on every backend. Each parameter keeps its id, device, gradient requirement and
/// installed pruning mask: masked positions stay exactly zero.
///
/// Errors, with nothing changed: a convolution or linear weight of the wrong rank, a bias
/// without its layer's weight, or a fan-in of zero.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::conv::{Conv2d, Conv2dConfig};
/// use burn_prune_schedule::methods::{Reinit, reinitialize};
///
/// #[derive(Module, Debug)]
/// struct Net { conv: Conv2d }
///
/// let net = Net { conv: Conv2dConfig::new([4, 8], [3, 3]).init(&Device::flex()) };
/// let (net, report) = reinitialize(net, 7).unwrap();
/// let bound = 1.0 / 36f64.sqrt(); // fan_in = 4 · 3 · 3
/// assert_eq!(report.get("conv.weight").unwrap().init, Reinit::Uniform { bound, fan_in: 36 });
/// let w: Vec<f32> = net.conv.weight.val().into_data().to_vec().unwrap();
/// assert!(w.iter().all(|v| f64::from(v.abs()) <= bound));
/// ```
pub fn reinitialize<M: Module>(model: M, seed: u64) -> error::Result<(M, ReinitReport)> {
    let addresses = param_addresses(&model);
    let by_path: HashMap<&str, &ParamAddress> =
        addresses.iter().map(|a| (a.path.as_str(), a)).collect();
    let mut report = ReinitReport::default();
    for address in &addresses {
        report.params.push(ReinitParam {
            path: address.path.clone(),
            kind: address.kind.clone(),
            init: plan(address, &by_path)?,
        });
    }
    let inits: HashMap<String, Reinit> = report
        .params
        .iter()
        .map(|p| (p.path.clone(), p.init.clone()))
        .collect();
    // A copy of its own: clones of `model` share its BatchNorm running statistics.
    let model = burn_prune_core::deep_clone(&model).map(&mut Reinitializer {
        path: PathStack::default(),
        inits: &inits,
        seed,
    });
    Ok((model, report))
}

/// The initialisation of one parameter.
fn plan(address: &ParamAddress, by_path: &HashMap<&str, &ParamAddress>) -> error::Result<Reinit> {
    let name = address.name();
    match &address.kind {
        LayerKind::Conv | LayerKind::ConvTranspose | LayerKind::Linear => {
            let weight = match name {
                "weight" => address,
                "bias" => {
                    let owner = &address.path[..address.path.len() - name.len()];
                    let path = format!("{owner}weight");
                    by_path.get(path.as_str()).copied().ok_or_else(|| {
                        reinit_error(address, format!("no weight `{path}` for this bias"))
                    })?
                }
                _ => return Ok(Reinit::Unchanged),
            };
            let fan_in = fan_in(weight)?;
            Ok(Reinit::Uniform {
                bound: 1.0 / (fan_in as f64).sqrt(),
                fan_in,
            })
        }
        kind if kind.is_norm() => Ok(match name {
            "gamma" | "running_var" => Reinit::Constant(1.0),
            "beta" | "running_mean" => Reinit::Constant(0.0),
            _ => Reinit::Unchanged,
        }),
        _ => Ok(Reinit::Unchanged),
    }
}

/// Burn's fan-in of a convolution or linear weight.
fn fan_in(weight: &ParamAddress) -> error::Result<usize> {
    let shape = &weight.shape;
    let fan_in = match weight.kind {
        LayerKind::Linear if shape.len() == 2 => shape[0],
        LayerKind::Conv | LayerKind::ConvTranspose if shape.len() >= 3 => {
            shape[1..].iter().product()
        }
        _ => {
            return Err(reinit_error(
                weight,
                format!("a {} weight of shape {shape:?}", weight.kind),
            ));
        }
    };
    if fan_in == 0 {
        return Err(reinit_error(weight, "the fan-in is zero".to_string()));
    }
    Ok(fan_in)
}

fn reinit_error(address: &ParamAddress, reason: String) -> ScheduleError {
    ScheduleError::Model {
        method: "reinitialisation",
        reason: format!("{}: {reason}", address.path),
    }
}

/// Writes the planned values, parameter by parameter.
struct Reinitializer<'a> {
    path: PathStack,
    inits: &'a HashMap<String, Reinit>,
    seed: u64,
}

impl ModuleMapper for Reinitializer<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.path();
        let values = |n: usize| -> Option<Vec<f32>> {
            match self.inits.get(&path)? {
                Reinit::Uniform { bound, .. } => {
                    let bound = f32_within(*bound);
                    let mut rng = StdRng::seed_from_u64(mix(self.seed, &path));
                    Some((0..n).map(|_| rng.random_range(-bound..bound)).collect())
                }
                Reinit::Constant(c) => Some(vec![*c; n]),
                Reinit::Unchanged => None,
            }
        };
        let shape = param.lazy_shape();
        match values(shape.num_elements()) {
            Some(v) => param.map(|old| param_value_from(&old, TensorData::new(v, shape))),
            None => param,
        }
    }
}

/// The largest `f32` not above `bound > 0`, so that every `f32` drawn from
/// `[−that, that)` lies inside `[−bound, bound]` as the report states.
fn f32_within(bound: f64) -> f32 {
    let b = bound as f32;
    if f64::from(b) > bound {
        f32::from_bits(b.to_bits() - 1)
    } else {
        b
    }
}

/// A 64-bit seed from the user's seed and a parameter path (FNV-1a of the path, then the
/// SplitMix64 finaliser), so that every parameter gets its own stream.
fn mix(seed: u64, path: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in path.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

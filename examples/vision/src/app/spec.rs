//! What `prune` does, as flags or as the `[prune]` table of a recipe.

use super::error::{AppError, Result};
use super::network::Arch;
use burn_prune::Granularity;
use burn_prune::structure::GroupReduction;
use serde::{Deserialize, Serialize};

/// The pruning method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Rank units with `criterion` and prune them (masks, or removed channels with
    /// `structural`), once or on a schedule.
    #[default]
    Criterion,
    /// Network slimming (Liu et al. 2017): remove the channels with the smallest BatchNorm
    /// scales, globally (train with `--slimming λ` first).
    Slimming,
    /// Soft filter pruning (He et al. 2018): zero the weakest filters after every epoch of
    /// training, then remove them.
    SoftFilter,
    /// ThiNet (Luo et al. 2017): remove input channels chosen from sampled outputs, rescale
    /// the rest.
    Thinet,
    /// LASSO channel selection and least-squares reconstruction (He et al. 2017).
    Lasso,
    /// Layer-wise OBS with its optimal weight updates (Hassibi & Stork 1993).
    Obs,
    /// Sparse structure selection (Huang & Wang 2018): remove the residual blocks whose
    /// learned scale reached zero (train with `--sparse-structure γ` first); `sparsity` is
    /// not used, the penalty decides.
    SparseStructure,
}

/// A criterion by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CriterionName {
    /// `|w|` (filters: L1 norm; Li et al.).
    #[default]
    L1,
    /// `w²` (filters: L2 norm).
    L2,
    /// Seeded random scores (the control).
    Random,
    /// `|w·g|`, element-wise Taylor (Molchanov et al. 2017), gradients from training batches.
    Taylor,
    /// `(Σ w·g)²` over each unit (Molchanov et al. 2019).
    TaylorUnit,
    /// `|g|`.
    Gradient,
    /// Filters far from the geometric median kept (He et al. 2019).
    Fpgm,
    /// The following BatchNorm's `|γ|`.
    BnScale,
    /// SNIP's connection sensitivity `|w·g|` on a batch.
    Snip,
    /// Average percentage of zeros after the ReLU (Hu et al. 2016); filters.
    Apoz,
    /// Mean post-ReLU activation; filters.
    MeanActivation,
    /// Mutual information of a channel's mean activation with the label; filters.
    MutualInformation,
    /// OBD from layer-wise input Hessians (`½ h_jj w²`).
    Obd,
    /// One-shot OBS saliency `w² / 2[H⁻¹]_jj` (no weight updates; see the `obs` method).
    Obs,
    /// OBD with the empirical Fisher of the loss.
    Fisher,
}

impl CriterionName {
    /// Whether the criterion scores channels from their post-ReLU activations (APoZ, mean
    /// activation, mutual information), rather than weights (OBD and OBS read input Hessians
    /// but score weights).
    pub fn scores_activations(self) -> bool {
        matches!(
            self,
            Self::Apoz | Self::MeanActivation | Self::MutualInformation
        )
    }
}

/// A scope by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeName {
    /// Each layer loses the same fraction.
    #[default]
    Local,
    /// One threshold over all layers.
    Global,
    /// Layer-adaptive magnitude pruning scores, one threshold.
    Lamp,
}

/// When pruning happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleName {
    /// All at once, no training (fine-tune afterwards).
    #[default]
    OneShot,
    /// `rounds` equal rounds of prune-then-train (geometric: each removes the same fraction
    /// of what remains).
    Iterative,
    /// Automated gradual pruning (Zhu & Gupta 2017): the cubic curve over the first 3/4 of
    /// training, `rounds` updates.
    Agp,
}

/// How members of a dependency group combine, by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReductionName {
    /// Mean over the group's members.
    #[default]
    Mean,
    /// Sum over members.
    Sum,
    /// Maximum over members.
    Max,
    /// The producing layer's filter alone (Li et al.).
    First,
}

impl From<ReductionName> for GroupReduction {
    fn from(r: ReductionName) -> Self {
        match r {
            ReductionName::Mean => GroupReduction::Mean,
            ReductionName::Sum => GroupReduction::Sum,
            ReductionName::Max => GroupReduction::Max,
            ReductionName::First => GroupReduction::First,
        }
    }
}

/// A complete description of one pruning step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PruneSpec {
    /// The method.
    pub method: Method,
    /// The criterion (method `criterion`).
    pub criterion: CriterionName,
    /// `element`, `kernel`, `filter`, `channel`, `N:M` (e.g. `2:4`) or `block:OxI` (e.g.
    /// `block:4x4`).
    pub granularity: String,
    /// Local, global or LAMP.
    pub scope: ScopeName,
    /// Fraction of units (or, for structural pruning, of free channels) removed.
    pub sparsity: f64,
    /// Remove channels physically through the dependency groups (a smaller model) instead of
    /// masking.
    pub structural: bool,
    /// Structural: one ranking over all groups instead of one per group.
    pub global: bool,
    /// Structural: how a group's members combine.
    pub reduction: ReductionName,
    /// Structural: prune to the layer widths of this architecture (Li et al.'s pruned-A/B).
    pub to_arch: Option<Arch>,
    /// Path patterns of layers whose output channels are never cut.
    pub ignore: Vec<String>,
    /// Structural: prune widths a LayerNorm normalises too (approximate; see
    /// `GraphOptions::with_approximate_norms`).
    pub approximate_norms: bool,
    /// Structural, in place of `sparsity`: the fraction of the dense network's latency,
    /// measured on the run's device at `budget_batch`, the pruned network may take
    /// (hardware-aware widths).
    pub latency_budget: Option<f64>,
    /// Structural, in place of `sparsity`: the fraction of the dense network's MACs the
    /// pruned network may take.
    pub mac_budget: Option<f64>,
    /// The batch size the latency budget is measured at.
    pub budget_batch: usize,
    /// One-shot, iterative or AGP (masks only; the last two train while pruning).
    pub schedule: ScheduleName,
    /// Iterative rounds or AGP updates.
    pub rounds: u64,
    /// Batches used by data-driven criteria and methods.
    pub calibration_batches: usize,
    /// Sparse structure selection: remove the blocks whose learned scale is at most this in
    /// magnitude (0: exactly zero, which changes no output).
    pub block_tolerance: f64,
}

impl Default for PruneSpec {
    fn default() -> Self {
        Self {
            method: Method::Criterion,
            criterion: CriterionName::L1,
            granularity: "element".into(),
            scope: ScopeName::Local,
            sparsity: 0.5,
            structural: false,
            global: false,
            reduction: ReductionName::Mean,
            to_arch: None,
            ignore: Vec::new(),
            approximate_norms: false,
            latency_budget: None,
            mac_budget: None,
            budget_batch: 64,
            schedule: ScheduleName::OneShot,
            rounds: 10,
            calibration_batches: 4,
            block_tolerance: 0.0,
        }
    }
}

impl PruneSpec {
    /// The granularity. Errors: an unknown name or malformed `N:M` / `block:OxI`.
    pub fn granularity(&self) -> Result<Granularity> {
        parse_granularity(&self.granularity)
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        if self.method == Method::SparseStructure {
            return self.method_label();
        }
        let (what, how, when) = self.parts();
        let target = match (self.to_arch, self.latency_budget, self.mac_budget) {
            (Some(a), ..) => format!("to {}", a.name()),
            (_, Some(b), _) => format!(
                "to {:.0}% of the latency at batch {}",
                100.0 * b,
                self.budget_batch
            ),
            (_, _, Some(b)) => format!("to {:.0}% of the MACs", 100.0 * b),
            _ => format!("{:.0}%", 100.0 * self.sparsity),
        };
        format!("{what} {target}, {how}{when}")
    }

    /// The method without its target (sparsity or architecture), e.g. `l1, channels removed`
    /// or `l1, element, global, agp (4 rounds)`: the name of a curve through runs of several
    /// sparsities.
    pub fn method_label(&self) -> String {
        if self.method == Method::SparseStructure {
            return if self.block_tolerance == 0.0 {
                "sparse structure selection, zero-scale blocks removed".into()
            } else {
                format!(
                    "sparse structure selection, blocks with |scale| <= {} removed",
                    self.block_tolerance
                )
            };
        }
        let (what, how, when) = self.parts();
        format!("{what}, {how}{when}")
    }

    /// What (criterion or method), how (granularity and scope, or channels removed) and when
    /// (schedule).
    fn parts(&self) -> (String, String, String) {
        let what = match self.method {
            Method::Criterion => format!("{:?}", self.criterion).to_lowercase(),
            m => format!("{m:?}").to_lowercase(),
        };
        let how =
            if self.structural || self.method != Method::Criterion && self.method != Method::Obs {
                "channels removed".to_string()
            } else {
                format!("{}, {:?}", self.granularity, self.scope).to_lowercase()
            };
        let when = match self.schedule {
            ScheduleName::OneShot => String::new(),
            s => format!(", {s:?} ({} rounds)", self.rounds).to_lowercase(),
        };
        (what, how, when)
    }

    /// Errors: a sparsity outside `[0, 1)`, a schedule with zero rounds, combinations that
    /// do not exist (a schedule with structural pruning or a non-criterion method).
    pub fn check(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.sparsity) {
            return Err(AppError::invalid(
                "sparsity",
                format!("{} is outside [0, 1)", self.sparsity),
            ));
        }
        self.granularity()?;
        if self.schedule != ScheduleName::OneShot {
            if self.rounds == 0 {
                return Err(AppError::invalid(
                    "rounds",
                    "a schedule needs at least one round",
                ));
            }
            if self.structural || self.method != Method::Criterion {
                return Err(AppError::invalid(
                    "schedule",
                    "iterative and AGP schedules update masks during training: use them with \
                     `--method criterion` without `--structural`",
                ));
            }
        }
        if self.to_arch.is_some() && !self.structural {
            return Err(AppError::invalid(
                "to-arch",
                "explicit layer widths are structural pruning: add `--structural`",
            ));
        }
        for (what, budget) in [
            ("latency budget", self.latency_budget),
            ("MAC budget", self.mac_budget),
        ] {
            let Some(b) = budget else { continue };
            if !(b > 0.0 && b <= 1.0) {
                return Err(AppError::invalid(
                    what,
                    format!("{b} is not a fraction of the dense network in (0, 1]"),
                ));
            }
            if !self.structural || self.method != Method::Criterion || self.to_arch.is_some() {
                return Err(AppError::invalid(
                    what,
                    "a budget sets how many channels `--structural` removes with a criterion \
                     (not with --to-arch or another method)",
                ));
            }
        }
        if self.latency_budget.is_some() && self.mac_budget.is_some() {
            return Err(AppError::invalid(
                "budget",
                "give a latency budget or a MAC budget, not both",
            ));
        }
        if self.budget_batch == 0 {
            return Err(AppError::invalid("budget batch", "must be at least 1"));
        }
        if !(self.block_tolerance.is_finite() && self.block_tolerance >= 0.0) {
            return Err(AppError::invalid(
                "block tolerance",
                format!("{} must be finite and non-negative", self.block_tolerance),
            ));
        }
        if self.calibration_batches == 0 {
            return Err(AppError::invalid(
                "calibration batches",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Parse `element`, `weight`, `kernel`, `filter`, `channel`, `N:M`, `block:OxI`.
pub fn parse_granularity(text: &str) -> Result<Granularity> {
    let bad = |reason: &str| {
        AppError::invalid(
            format!("granularity `{text}`"),
            format!(
                "{reason}; use element, kernel, filter, channel, N:M (2:4) or block:OxI (block:4x4)"
            ),
        )
    };
    let number = |s: &str| s.trim().parse::<usize>().map_err(|_| bad("not a number"));
    let g = match text.trim().to_lowercase().as_str() {
        "element" | "weight" | "unstructured" => Granularity::Element,
        "kernel" => Granularity::Kernel,
        "filter" => Granularity::Filter,
        "channel" => Granularity::Channel,
        other => {
            if let Some(block) = other.strip_prefix("block:") {
                let (o, i) = block
                    .split_once('x')
                    .ok_or_else(|| bad("block needs OxI"))?;
                Granularity::Block {
                    out: number(o)?,
                    input: number(i)?,
                }
            } else if let Some((n, m)) = other.split_once(':') {
                Granularity::NM {
                    n: number(n)?,
                    m: number(m)?,
                }
            } else {
                return Err(bad("unknown granularity"));
            }
        }
    };
    g.validate().map_err(|e| bad(&e.to_string()))?;
    Ok(g)
}

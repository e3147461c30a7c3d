//! The methods each section compares, with the pruning step and run names of each.

use super::super::commands::PaiMethod;
use super::super::spec::{CriterionName, Method, PruneSpec, ReductionName, ScopeName};
use super::config::{StudyConfig, pct};

/// A method of "Rethinking the Value of Network Pruning" (Liu et al. 2019).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RethinkingMethod {
    /// L1-norm filter pruning, the same ratio in every layer (Li et al. 2017): predefined.
    L1,
    /// ThiNet (Luo et al. 2017): predefined.
    ThiNet,
    /// LASSO channel selection (He et al. 2017): predefined.
    Lasso,
    /// Network slimming (Liu et al. 2017): automatic (one global BatchNorm threshold).
    Slimming,
    /// Soft filter pruning (He et al. 2018): predefined, trained while pruning.
    SoftFilter,
    /// Unstructured magnitude pruning, one global threshold (Han et al. 2015).
    Magnitude,
}

impl RethinkingMethod {
    /// Every method, in the page's order.
    pub const ALL: [Self; 6] = [
        Self::L1,
        Self::ThiNet,
        Self::Lasso,
        Self::Slimming,
        Self::SoftFilter,
        Self::Magnitude,
    ];

    /// Prefix of its run names.
    pub fn name(self) -> &'static str {
        match self {
            Self::L1 => "l1",
            Self::ThiNet => "thinet",
            Self::Lasso => "lasso",
            Self::Slimming => "slimming",
            Self::SoftFilter => "sfp",
            Self::Magnitude => "magnitude",
        }
    }

    /// Its name on the page.
    pub fn label(self) -> &'static str {
        match self {
            Self::L1 => "L1-norm filters",
            Self::ThiNet => "ThiNet",
            Self::Lasso => "LASSO",
            Self::Slimming => "Network slimming",
            Self::SoftFilter => "Soft filter pruning",
            Self::Magnitude => "Magnitude (unstructured)",
        }
    }

    /// How the pruned architecture is decided, in the paper's words.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Slimming => "automatic",
            Self::Magnitude => "unstructured",
            _ => "predefined",
        }
    }

    /// Its two ratios: of channels for the structured methods, of weights for magnitude.
    pub fn ratios(self, config: &StudyConfig) -> &[f64] {
        match self {
            Self::Magnitude => &config.unstructured_ratios,
            _ => &config.structured_ratios,
        }
    }

    /// The dense run it prunes: network slimming needs the one trained with the penalty.
    pub fn source(self) -> &'static str {
        match self {
            Self::Slimming => DENSE_SLIM,
            _ => DENSE,
        }
    }

    /// The pruning step at `ratio`.
    pub fn spec(self, ratio: f64) -> PruneSpec {
        let base = PruneSpec {
            sparsity: ratio,
            ..PruneSpec::default()
        };
        match self {
            Self::L1 => PruneSpec {
                criterion: CriterionName::L1,
                granularity: "filter".into(),
                structural: true,
                reduction: ReductionName::First,
                ignore: residual_channels(),
                ..base
            },
            Self::ThiNet => PruneSpec {
                method: Method::Thinet,
                ..base
            },
            Self::Lasso => PruneSpec {
                method: Method::Lasso,
                ..base
            },
            Self::Slimming => PruneSpec {
                method: Method::Slimming,
                ..base
            },
            Self::SoftFilter => PruneSpec {
                method: Method::SoftFilter,
                ..base
            },
            Self::Magnitude => PruneSpec {
                criterion: CriterionName::L1,
                scope: ScopeName::Global,
                ..base
            },
        }
    }

    /// Soft filter pruning trains while it prunes: its pruning run is its fine-tuned one.
    pub fn trains_while_pruning(self) -> bool {
        self == Self::SoftFilter
    }

    /// The pruning run at `ratio`.
    pub fn pruned(self, ratio: f64) -> String {
        format!("{}-{}", self.name(), pct(ratio))
    }

    /// The fine-tuned run at `ratio`.
    pub fn finetuned(self, ratio: f64) -> String {
        if self.trains_while_pruning() {
            self.pruned(ratio)
        } else {
            format!("{}-ft", self.pruned(ratio))
        }
    }

    /// The Scratch-E (`b = false`) or Scratch-B run at `ratio`.
    pub fn scratch(self, ratio: f64, b: bool) -> String {
        format!(
            "{}-scratch-{}",
            self.pruned(ratio),
            if b { "b" } else { "e" }
        )
    }
}

/// The dense run of every seed.
pub const DENSE: &str = "dense";

/// The runs of sparse structure selection, on the deeper network (`sss_depth`).
pub mod sss {
    /// The deeper network trained plainly: the dense reference of the others.
    pub const DENSE: &str = "deep-dense";
    /// The deeper network trained with block scales under the penalty.
    pub const TRAINED: &str = "deep-sss";
    /// Its zero-scale blocks removed.
    pub const PRUNED: &str = "sss";
    /// The pruned network fine-tuned.
    pub const FINETUNED: &str = "sss-ft";
    /// The pruned architecture re-initialised and trained for the dense epochs.
    pub const SCRATCH_E: &str = "sss-scratch-e";
    /// ... and for the dense computation budget.
    pub const SCRATCH_B: &str = "sss-scratch-b";
}
/// The dense run trained with network slimming's penalty (also the early-bird run).
pub const DENSE_SLIM: &str = "dense-slim";

/// The criteria of the taxonomy comparison, each removing filters through the dependency
/// groups (members' scores averaged).
pub const CRITERIA: [CriterionName; 9] = [
    CriterionName::L1,
    CriterionName::L2,
    CriterionName::Random,
    CriterionName::Fpgm,
    CriterionName::TaylorUnit,
    CriterionName::BnScale,
    CriterionName::Apoz,
    CriterionName::MutualInformation,
    CriterionName::Obd,
];

/// A criterion's name in run names (`--criterion` spelling).
pub fn criterion_name(c: CriterionName) -> String {
    clap::ValueEnum::to_possible_value(&c)
        .map(|v| v.get_name().to_string())
        .unwrap_or_else(|| format!("{c:?}").to_lowercase())
}

/// A criterion's name on the page.
pub fn criterion_label(c: CriterionName) -> &'static str {
    match c {
        CriterionName::L1 => "L1 norm",
        CriterionName::L2 => "L2 norm",
        CriterionName::Random => "random",
        CriterionName::Fpgm => "FPGM",
        CriterionName::TaylorUnit => "Taylor (first order)",
        CriterionName::BnScale => "BatchNorm scale",
        CriterionName::Apoz => "APoZ",
        CriterionName::MutualInformation => "mutual information",
        CriterionName::Obd => "OBD",
        _ => "other",
    }
}

/// The layers whose output channels are the residual stream (the stem and every block's
/// second convolution): kept whole, so the predefined methods and the criteria cut the
/// inner channel of every block, as Li et al. do on CIFAR ResNets. (Activation criteria
/// could not score the residual stream anyway: its ReLU comes after the addition.)
pub fn residual_channels() -> Vec<String> {
    vec!["**stem.**".into(), "**.conv2.**".into()]
}

/// The structural pruning step of criterion `c` at channel ratio `ratio` (of every block's
/// inner channels).
pub fn criterion_spec(c: CriterionName, ratio: f64) -> PruneSpec {
    PruneSpec {
        criterion: c,
        granularity: "filter".into(),
        structural: true,
        reduction: ReductionName::Mean,
        ignore: residual_channels(),
        sparsity: ratio,
        ..PruneSpec::default()
    }
}

/// The pruning-at-initialization methods, at one parameter budget.
pub const PAI: [PaiMethod; 7] = [
    PaiMethod::Snip,
    PaiMethod::Grasp,
    PaiMethod::Synflow,
    PaiMethod::Random,
    PaiMethod::Erk,
    PaiMethod::Precrop,
    PaiMethod::Preconfig,
];

/// A pruning-at-initialization method's run name.
pub fn pai_name(m: PaiMethod) -> String {
    clap::ValueEnum::to_possible_value(&m)
        .map(|v| v.get_name().to_string())
        .unwrap_or_else(|| format!("{m:?}").to_lowercase())
}

/// A pruning-at-initialization method's name on the page.
pub fn pai_label(m: PaiMethod) -> &'static str {
    match m {
        PaiMethod::Snip => "SNIP",
        PaiMethod::Grasp => "GraSP",
        PaiMethod::Synflow => "SynFlow",
        PaiMethod::Random => "random",
        PaiMethod::Erk => "ERK (random within layers)",
        PaiMethod::Precrop => "PreCrop (channels)",
        PaiMethod::Preconfig => "PreConfig (widths)",
        PaiMethod::Uniform => "uniform",
    }
}

/// Whether the method removes channels (a smaller dense network) rather than masking
/// weights.
pub fn pai_is_structural(m: PaiMethod) -> bool {
    matches!(m, PaiMethod::Precrop | PaiMethod::Preconfig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_valid() {
        let config = StudyConfig::preset(super::super::config::StudyScale::Full);
        for m in RethinkingMethod::ALL {
            for &r in m.ratios(&config) {
                m.spec(r).check().unwrap();
            }
        }
        for c in CRITERIA {
            for &r in &config.criteria_ratios {
                criterion_spec(c, r).check().unwrap();
            }
        }
    }

    #[test]
    fn run_names_are_distinct() {
        let config = StudyConfig::preset(super::super::config::StudyScale::Full);
        let mut names = std::collections::BTreeSet::new();
        for m in RethinkingMethod::ALL {
            for &r in m.ratios(&config) {
                for n in [m.pruned(r), m.scratch(r, false), m.scratch(r, true)] {
                    assert!(names.insert(n.clone()), "{n}");
                }
                if !m.trains_while_pruning() {
                    assert!(names.insert(m.finetuned(r)));
                }
            }
        }
        assert_eq!(
            criterion_name(CriterionName::MutualInformation),
            "mutual-information"
        );
        assert_eq!(pai_name(PaiMethod::Preconfig), "preconfig");
    }
}

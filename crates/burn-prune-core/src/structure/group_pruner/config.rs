//! The group pruner's configuration, checked once by [`GroupPrunerConfig::init`].

use super::scoring::{GroupPruner, addresses};
use crate::criterion::Criterion;
use crate::error::{PruneError, Result};
use crate::granularity::Reduction;
use crate::pattern::PathPattern;
use crate::scope::Scope;
use crate::structure::graph::DependencyGraph;
use crate::structure::plan::StructuralPlan;
use burn::config::Config;
use burn::module::Module;
use serde::{Deserialize, Serialize};

/// How the members' scores of a unit are combined into the group's score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupReduction {
    /// Mean over members.
    #[default]
    Mean,
    /// Sum over members.
    Sum,
    /// Maximum over members.
    Max,
    /// The first member only (the layer that creates the channels).
    First,
}

/// How a group's unit scores are scaled before ranking (matters for global ranking).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupNormalization {
    /// As they are.
    None,
    /// Divided by the group's mean (Torch-Pruning's default `normalizer="mean"`).
    #[default]
    Mean,
    /// Divided by the group's maximum.
    Max,
    /// LAMP (Lee et al. 2021) within the group: a unit's score divided by the sum of the
    /// scores ranked at or above it, `s_u / Σ_{v: s_v ≥ s_u} s_v` (ties ranked by index).
    /// The group's strongest unit scores 1; makes groups of different sizes comparable.
    Lamp,
}

/// An explicit number of output channels to keep for the layers a path pattern matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepChannels {
    /// Pattern of the parameter whose output dimension is counted (a conv or linear
    /// `weight`, e.g. `layer1.*.conv1.conv.weight`).
    pub path: String,
    /// Output channels it keeps. Its whole dependency group keeps as many units; sparsity,
    /// `round_to` and `max_ratio` do not apply to that group.
    pub channels: usize,
}

impl KeepChannels {
    /// `channels` output channels kept in the layers matching `path`.
    pub fn new(path: impl Into<String>, channels: usize) -> Self {
        Self {
            path: path.into(),
            channels,
        }
    }
}

/// Configuration of a [`GroupPruner`].
///
/// # Conventions (Torch-Pruning's `MagnitudeImportance` defaults)
///
/// With [`Magnitude::l2`](crate::criterion::Magnitude::l2) (or `l1`) and the defaults, a unit
/// of a group scores as Torch-Pruning 1.6's `MagnitudeImportance(p=2)` (or `p=1`) scores the
/// same channel, so the same weights lose the same channels:
///
/// - **members**: every coupled parameter slice of the unit — a conv's or linear layer's
///   output filter, the next layer's input channel, a BatchNorm's scale `γ` — scores
///   `Σ|w|^p` over its slice (`|γ|^p` for a scale). `L2` is the sum of squares, not its
///   square root ([`Norm::Euclidean`](crate::criterion::Norm::Euclidean) keeps the root);
/// - **biases** (a conv's or linear layer's `bias`, a BatchNorm's shift `β`) are not scored
///   ([`score_biases`](Self::score_biases) = `false`, Torch-Pruning's `bias=False`); running
///   statistics are never scored;
/// - **reduction** [`GroupReduction::Mean`]: the members' scores are averaged;
///   [`GroupReduction::First`] reads the group's root layer alone (Li et al.'s filter norm,
///   Torch-Pruning's `group_reduction="first"`);
/// - **normalisation** [`GroupNormalization::Mean`]: a group's scores are divided by their
///   mean, so that groups of different sizes and scales compare in a global ranking (within
///   one group it changes no ranking); [`GroupNormalization::None`] ranks raw scores.
///
/// Every other convention stays available by name (`score_biases`, `reduction`,
/// `normalization`, `Norm::Euclidean`).
#[derive(Config, Debug)]
pub struct GroupPrunerConfig {
    /// Fraction of the free units (channels) to remove, in `[0, 1)`, as the unstructured
    /// pruner's `sparsity` is of weights: of each group's (local), or of all groups' (global,
    /// LAMP). Free units are those neither pinned by the graph nor touched by an `ignored`
    /// parameter.
    pub sparsity: f64,
    /// How members' scores combine.
    #[config(default = "GroupReduction::Mean")]
    pub reduction: GroupReduction,
    /// How a group's scores are scaled (by their mean unless set: Torch-Pruning's default,
    /// and what makes a global ranking across groups of different sizes fair). Under
    /// [`Scope::Global`] raw scores are not comparable across groups: an L1 score sums over
    /// a slice whose size is the layer's fan-in, and layers are initialised and trained at
    /// different scales, so a wide or large-valued layer would keep all its channels and a
    /// small one lose nearly all. Divided by its group's mean, each unit's score says how it
    /// compares with its own layer, and every group takes part in the ranking.
    /// [`GroupNormalization::None`] restores raw scores (what network slimming's global
    /// threshold on `|γ|` wants).
    #[config(default = "GroupNormalization::Mean")]
    pub normalization: GroupNormalization,
    /// How the removed units are shared out, in the unstructured pruner's vocabulary:
    ///
    /// - [`Scope::Local`] (default): each group loses `sparsity` of its free units;
    /// - [`Scope::Global`]: one ranking over all groups' scores, normalised by default (each
    ///   group's divided by its mean, see [`normalization`](Self::normalization)), so that
    ///   layers of different sizes and scales all lose channels;
    /// - [`Scope::Lamp`]: one ranking over all groups, each group's scores LAMP-normalised
    ///   (whatever [`normalization`](Self::normalization) says);
    /// - [`Scope::Densities`]: the layers named by path keep that fraction of their output
    ///   channels (at least one; as [`keep_channels`](Self::keep_channels) with a count), the
    ///   other groups lose `sparsity` locally.
    #[config(default = "Scope::Local")]
    pub scope: Scope,
    /// Kept unit counts are rounded up to a multiple of this.
    #[config(default = 1)]
    pub round_to: usize,
    /// No group loses more than this fraction of its units.
    #[config(default = 1.0)]
    pub max_ratio: f64,
    /// Path patterns of parameters whose output channels are never cut (a conv's filters, a
    /// linear layer's outputs, a BatchNorm's entries: the whole group of those channels
    /// stays); their inputs may still shrink with the layer before. The model output is
    /// always kept. A pattern that matches no parameter of the model is an error when the
    /// plan is made ([`PruneError::PatternMatchesNothing`] with `which: "ignored"`), so a
    /// typo cannot silently leave a layer to the ratio.
    #[config(default = "Vec::new()")]
    pub ignored: Vec<String>,
    /// How element scores of a member are reduced to one score per index.
    #[config(default = "Reduction::L1")]
    pub element_reduction: Reduction,
    /// Explicit output-channel counts per layer (Li et al.'s per-layer configurations);
    /// the other groups follow `sparsity`.
    #[config(default = "Vec::new()")]
    pub keep_channels: Vec<KeepChannels>,
    /// Score biases too (a conv's or linear layer's `bias`, a BatchNorm's shift `β`).
    /// Off by default, as Torch-Pruning's `bias=False`: a channel's importance is its
    /// weights'.
    #[config(default = false)]
    pub score_biases: bool,
}

impl GroupPrunerConfig {
    /// Check the configuration once and make a pruner scoring members with `criterion`.
    ///
    /// Errors: a ratio outside `[0, 1)`, `max_ratio` outside `(0, 1]`, `round_to` of 0, an
    /// invalid `ignored` or `keep_channels` pattern, or a `keep_channels` count of 0
    /// ([`PruneError::InvalidSparsity`], [`PruneError::Config`],
    /// [`PruneError::InvalidPattern`]). What depends on the model is reported when a plan is
    /// made: an `ignored`, `keep_channels` or density pattern that matches no parameter of the
    /// model ([`PruneError::PatternMatchesNothing`], naming it, as the mask selector's), or a
    /// count a layer cannot keep.
    pub fn init<C: Criterion + 'static>(&self, criterion: C) -> Result<GroupPruner> {
        self.check()?;
        Ok(GroupPruner::new(self.clone(), Box::new(criterion)))
    }

    /// Which units to keep in each group (`keep[group][unit]`), from scores computed
    /// elsewhere: one score per unit of every group of `graph`, low scores removed first
    /// (activation statistics, spline scores, a user's own ranking). Everything else of the
    /// configuration applies as with a criterion: sparsity, scope, normalisation,
    /// `round_to`, `max_ratio`, ignored layers, explicit channel counts; pinned units stay.
    /// Groups with no removable unit may carry any scores.
    ///
    /// Errors: a configuration error, a score list whose length differs from the group's
    /// units, or a non-finite score of a removable unit ([`PruneError::ScoreCount`],
    /// [`PruneError::NonFiniteScore`], naming the group's first layer).
    pub fn keep_from_scores<M: Module>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        scores: &[Vec<f32>],
    ) -> Result<Vec<Vec<bool>>> {
        self.check()?;
        let addresses = addresses(model);
        let normalized = self.checked_scores(graph, scores, &addresses)?;
        self.select(&addresses, graph, &normalized)
    }

    /// External `scores` checked against `graph` (a count per group and per unit, finite for
    /// removable units) and normalised; groups with no removable unit score 0.
    pub(super) fn checked_scores(
        &self,
        graph: &DependencyGraph,
        scores: &[Vec<f32>],
        addresses: &super::scoring::Addresses,
    ) -> Result<Vec<Vec<f32>>> {
        if scores.len() != graph.groups.len() {
            return Err(PruneError::ScoreCount {
                criterion: "external scores".into(),
                path: "(dependency graph)".into(),
                expected: graph.groups.len(),
                got: scores.len(),
                what: "groups",
            });
        }
        let fixed = self.fixed_units(addresses, graph)?;
        let mut normalized = Vec::with_capacity(scores.len());
        for ((g, s), fixed) in graph.groups.iter().zip(scores).zip(&fixed) {
            if s.len() != g.n_units {
                return Err(PruneError::ScoreCount {
                    criterion: "external scores".into(),
                    path: g.root().to_string(),
                    expected: g.n_units,
                    got: s.len(),
                    what: "units of its group",
                });
            }
            if fixed.iter().all(|&f| f) {
                normalized.push(vec![0.0; g.n_units]);
                continue;
            }
            if let Some(index) = (0..s.len()).find(|&u| !fixed[u] && !s[u].is_finite()) {
                return Err(PruneError::NonFiniteScore {
                    criterion: "external scores".into(),
                    path: g.root().to_string(),
                    index,
                    value: s[index],
                });
            }
            normalized.push(self.normalize(s.clone()));
        }
        Ok(normalized)
    }

    /// The structural plan from scores computed elsewhere (see
    /// [`keep_from_scores`](Self::keep_from_scores)).
    pub fn plan_from_scores<M: Module>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        scores: &[Vec<f32>],
    ) -> Result<StructuralPlan> {
        let keep = self.keep_from_scores(model, graph, scores)?;
        StructuralPlan::from_groups(graph, &keep)
    }

    /// A group's scores scaled by [`normalization`](Self::normalization) (LAMP under
    /// [`Scope::Lamp`]).
    pub(super) fn normalize(&self, mut out: Vec<f32>) -> Vec<f32> {
        let normalization = match self.scope {
            Scope::Lamp => GroupNormalization::Lamp,
            _ => self.normalization,
        };
        let scale = match normalization {
            GroupNormalization::None => 1.0,
            GroupNormalization::Mean => out.iter().sum::<f32>() / out.len().max(1) as f32,
            GroupNormalization::Max => out.iter().copied().fold(0.0, f32::max),
            GroupNormalization::Lamp => return crate::scope::lamp(&out),
        };
        if scale > 0.0 && scale != 1.0 {
            out.iter_mut().for_each(|s| *s /= scale);
        }
        out
    }

    pub(super) fn check(&self) -> Result<()> {
        let c = self;
        if !(0.0..1.0).contains(&c.sparsity) {
            return Err(PruneError::InvalidSparsity {
                value: c.sparsity,
                context: "the group pruner's target".into(),
            });
        }
        if !(c.max_ratio > 0.0 && c.max_ratio <= 1.0) || c.round_to == 0 {
            return Err(PruneError::Config(format!(
                "max_ratio must be in (0, 1] and round_to at least 1 (got {} and {})",
                c.max_ratio, c.round_to
            )));
        }
        for pattern in c
            .ignored
            .iter()
            .chain(c.keep_channels.iter().map(|k| &k.path))
        {
            PathPattern::new(pattern)?;
        }
        if let Some(k) = c.keep_channels.iter().find(|k| k.channels == 0) {
            return Err(PruneError::Config(format!(
                "keep_channels asks `{}` to keep 0 channels: at least one stays",
                k.path
            )));
        }
        if let Scope::Densities(map) = &c.scope
            && let Some((path, &d)) = map.iter().find(|(_, d)| !(**d > 0.0 && **d <= 1.0))
        {
            return Err(PruneError::InvalidDensity {
                value: d,
                path: path.clone(),
            });
        }
        Ok(())
    }
}

//! Group importance and selection: which units of each dependency group to keep.

use super::graph::{DependencyGraph, Group, GroupMember};
use super::plan::StructuralPlan;
use crate::address::LayerKind;
use crate::address::{ParamAddress, param_addresses};
use crate::criterion::{Criterion, GradientNeed, GradientStats, ScoreContext, Scores};
use crate::error::{PruneError, Result};
use crate::gradients::gradients_for;
use crate::granularity::{Granularity, Layout, Reduction, UnitMap};
use crate::host::{HostFloats, read_params};
use crate::pattern::PathPattern;
use crate::scope::Scope;
use crate::threshold::{Keys, prune_lowest};
use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

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
    /// and what makes a global ranking across groups of different sizes fair).
    #[config(default = "GroupNormalization::Mean")]
    pub normalization: GroupNormalization,
    /// How the removed units are shared out, in the unstructured pruner's vocabulary:
    ///
    /// - [`Scope::Local`] (default): each group loses `sparsity` of its free units;
    /// - [`Scope::Global`]: one ranking over all groups' (normalised) scores;
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
    /// always kept.
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
    /// [`PruneError::InvalidPattern`]). What depends on the model (a pattern that matches no
    /// layer, a count a layer cannot keep) is reported when a plan is made.
    pub fn init<C: Criterion + 'static>(&self, criterion: C) -> Result<GroupPruner> {
        self.check()?;
        Ok(GroupPruner {
            config: self.clone(),
            criterion: Box::new(criterion),
        })
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
        if scores.len() != graph.groups.len() {
            return Err(PruneError::ScoreCount {
                criterion: "external scores".into(),
                path: "(dependency graph)".into(),
                expected: graph.groups.len(),
                got: scores.len(),
                what: "groups",
            });
        }
        let addresses = addresses(model);
        let fixed = self.fixed_units(&addresses, graph)?;
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
        self.select(&addresses, graph, &normalized)
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
    fn normalize(&self, mut out: Vec<f32>) -> Vec<f32> {
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

    fn check(&self) -> Result<()> {
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

    /// Units fixed in each group: pinned by the graph, or output channels of an ignored
    /// parameter.
    fn fixed_units(
        &self,
        addresses: &Addresses,
        graph: &DependencyGraph,
    ) -> Result<Vec<Vec<bool>>> {
        let ignored: Vec<PathPattern> = self
            .ignored
            .iter()
            .map(|p| PathPattern::new(p))
            .collect::<Result<_>>()?;
        let is_output = |path: &str, axis: usize| {
            addresses
                .get(path)
                .is_some_and(|a| Layout::of(a).out_axis == axis)
        };
        Ok(graph
            .groups
            .iter()
            .map(|g| {
                let mut f = vec![false; g.n_units];
                for &u in g.pinned.keys() {
                    f[u] = true;
                }
                for m in g.members.iter().filter(|m| {
                    ignored.iter().any(|p| p.matches(&m.path)) && is_output(&m.path, m.axis)
                }) {
                    for &u in &m.units {
                        f[u] = true;
                    }
                }
                f
            })
            .collect())
    }

    /// The explicit [`KeepChannels`] constraints of each group: (units of the layer, units
    /// to keep, layer path).
    fn explicit_counts(
        &self,
        addresses: &Addresses,
        graph: &DependencyGraph,
    ) -> Result<Vec<Vec<Constraint>>> {
        // (pattern, what the layer keeps, where the rule comes from)
        let mut rules: Vec<(&str, Keep, &str)> = self
            .keep_channels
            .iter()
            .map(|k| {
                (
                    k.path.as_str(),
                    Keep::Channels(k.channels),
                    "keep_channels pattern",
                )
            })
            .collect();
        if let Scope::Densities(map) = &self.scope {
            rules.extend(
                map.iter()
                    .map(|(path, &d)| (path.as_str(), Keep::Density(d), "density path")),
            );
        }
        let mut out: Vec<Vec<Constraint>> = vec![Vec::new(); graph.groups.len()];
        for (path, want, what) in rules {
            let pattern = PathPattern::new(path)?;
            let mut matched = false;
            for (gi, g) in graph.groups.iter().enumerate() {
                for m in g.members.iter().filter(|m| pattern.matches(&m.path)) {
                    let Some(addr) = addresses.get(&m.path) else {
                        continue;
                    };
                    if Layout::of(addr).out_axis != m.axis {
                        continue;
                    }
                    matched = true;
                    let channels = match want {
                        Keep::Channels(c) => c,
                        Keep::Density(d) => ((d * m.units.len() as f64).round() as usize).max(1),
                    };
                    let (units, keep) = kept_units(g, m, channels)?;
                    let same = out[gi].iter().find(|c| c.units == units);
                    if let Some(other) = same {
                        if other.keep != keep {
                            return Err(PruneError::Config(format!(
                                "`{}` and `{}` share their channels but ask for different counts",
                                m.path, other.path
                            )));
                        }
                        continue;
                    }
                    if let Some(other) = out[gi]
                        .iter()
                        .find(|c| c.units.iter().any(|u| units.contains(u)))
                    {
                        return Err(PruneError::Config(format!(
                            "`{}` and `{}` share some channels but not all: their counts cannot both hold",
                            m.path, other.path
                        )));
                    }
                    out[gi].push(Constraint {
                        units,
                        keep,
                        path: m.path.clone(),
                    });
                }
            }
            if !matched {
                return Err(PruneError::Config(format!(
                    "{what} `{path}` matches no output dimension of a traced layer"
                )));
            }
        }
        Ok(out)
    }

    /// Which units to keep, given every group's scores.
    fn select(
        &self,
        addresses: &Addresses,
        graph: &DependencyGraph,
        scores: &[Vec<f32>],
    ) -> Result<Vec<Vec<bool>>> {
        let c = self;
        let fixed = self.fixed_units(addresses, graph)?;
        let explicit = self.explicit_counts(addresses, graph)?;
        // The most each group may lose: max_ratio, at least one kept, kept a multiple of round_to.
        let cap = |g: &Group, fixed: &[bool]| {
            let n = g.n_units;
            let free = fixed.iter().filter(|&&f| !f).count();
            let most = ((c.max_ratio * n as f64).floor() as usize)
                .min(free)
                .min(n - 1);
            removable(n, most, c.round_to)
        };
        let mut remove: Vec<usize> = vec![0; graph.groups.len()];
        let ranked = |gi: &usize| explicit[*gi].is_empty();
        if matches!(c.scope, Scope::Global | Scope::Lamp) {
            let caps: Vec<usize> = graph
                .groups
                .iter()
                .zip(&fixed)
                .map(|(g, f)| cap(g, f))
                .collect();
            let taken =
                match lowest_within_caps(graph, scores, &fixed, &explicit, &caps, c.sparsity) {
                    Some(taken) => taken,
                    None => greedy_within_caps(graph, scores, &fixed, &explicit, &caps, c.sparsity),
                };
            for gi in (0..graph.groups.len()).filter(ranked) {
                remove[gi] = removable(graph.groups[gi].n_units, taken[gi], c.round_to);
            }
        } else {
            for gi in (0..graph.groups.len()).filter(ranked) {
                let g = &graph.groups[gi];
                let free = fixed[gi].iter().filter(|&&f| !f).count();
                let want = (c.sparsity * free as f64).round() as usize;
                remove[gi] = removable(g.n_units, want.min(cap(g, &fixed[gi])), c.round_to);
            }
        }
        graph
            .groups
            .iter()
            .enumerate()
            .map(|(gi, g)| {
                if explicit[gi].is_empty() {
                    return Ok(select_units(g, &scores[gi], &fixed[gi], remove[gi], c.round_to));
                }
                let mut keep = vec![true; g.n_units];
                for con in &explicit[gi] {
                    // Only this layer's free units compete; the rest of the group stays.
                    let mut only = vec![true; g.n_units];
                    for &u in &con.units {
                        only[u] = fixed[gi][u];
                    }
                    let want = con.units.len() - con.keep;
                    let k = select_units(g, &scores[gi], &only, want, 1);
                    let removed = k.iter().filter(|&&k| !k).count();
                    if removed != want {
                        return Err(PruneError::Config(format!(
                            "`{}` cannot keep {} of its channels: {} of them must stay (pinned, ignored, or the last of a layer)",
                            con.path,
                            con.keep,
                            con.units.len() - removed
                        )));
                    }
                    keep.iter_mut().zip(k).for_each(|(a, b)| *a &= b);
                }
                Ok(keep)
            })
            .collect()
    }
}

/// Ranks the units of dependency groups with a core [`Criterion`] and plans which to keep.
pub struct GroupPruner {
    config: GroupPrunerConfig,
    criterion: Box<dyn Criterion>,
}

impl std::fmt::Debug for GroupPruner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupPruner")
            .field("config", &self.config)
            .field("criterion", &self.criterion.name())
            .finish()
    }
}

impl GroupPruner {
    /// The score of every unit of every group (after reduction and normalisation). A criterion
    /// that needs gradients is an error here: use [`scores_with_data`](Self::scores_with_data).
    pub fn scores<M: Module>(&self, model: &M, graph: &DependencyGraph) -> Result<Vec<Vec<f32>>> {
        self.scores_at(model, &addresses(model), graph, None)
    }

    /// [`scores`](Self::scores), gathering gradients first when the criterion needs them: for
    /// each batch `loss(model, batch)` is evaluated and back-propagated (the model must be on
    /// an autodiff device). No batch at all is an error for a gradient criterion.
    pub fn scores_with_data<M, B, I, F>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        batches: I,
        loss: F,
    ) -> Result<Vec<Vec<f32>>>
    where
        M: Module,
        I: IntoIterator<Item = B>,
        F: FnMut(&M, B) -> Tensor<1>,
    {
        let grads = self.gradients(model, graph, batches, loss)?;
        self.scores_at(model, &addresses(model), graph, grads.as_ref())
    }

    /// Gradients of the members that learn (not running statistics), if the criterion needs
    /// them.
    fn gradients<M, B, I, F>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        batches: I,
        loss: F,
    ) -> Result<Option<HashMap<String, GradientStats>>>
    where
        M: Module,
        I: IntoIterator<Item = B>,
        F: FnMut(&M, B) -> Tensor<1>,
    {
        let paths = || {
            Ok(member_paths(graph)
                .into_iter()
                .filter(|p| !is_running_stat(p))
                .collect())
        };
        gradients_for(self.criterion.as_ref(), model, paths, batches, loss)
    }

    /// Every group's scores; `grads` must be given when the criterion needs gradients.
    fn scores_at<M: Module>(
        &self,
        model: &M,
        addresses: &Addresses,
        graph: &DependencyGraph,
        grads: Option<&HashMap<String, GradientStats>>,
    ) -> Result<Vec<Vec<f32>>> {
        if grads.is_none() && self.criterion.needs().gradients != GradientNeed::None {
            return Err(PruneError::MissingBatches {
                criterion: self.criterion.name(),
            });
        }
        let no_grads = HashMap::new();
        let grads = grads.unwrap_or(&no_grads);
        let paths = member_paths(graph);
        let mut host = read_params(model, &paths)?;
        let weights: HashMap<String, HostFloats> = paths
            .iter()
            .filter_map(|p| host.remove(p).map(|h| (p.clone(), h.effective())))
            .collect();
        graph
            .groups
            .iter()
            .map(|g| {
                if g.prunable() == 0 {
                    return Ok(vec![0.0; g.n_units]);
                }
                self.group_scores(g, addresses, &weights, grads)
            })
            .collect()
    }

    fn group_scores(
        &self,
        g: &Group,
        addresses: &Addresses,
        weights: &HashMap<String, HostFloats>,
        grads: &HashMap<String, GradientStats>,
    ) -> Result<Vec<f32>> {
        let needs_bn = self.criterion.needs().batch_norm;
        let mut per_member: Vec<Vec<f32>> = Vec::with_capacity(g.members.len());
        let mut unscorable = None;
        for m in &g.members {
            let addr = addresses
                .get(&m.path)
                .ok_or_else(|| PruneError::PlanMismatch {
                    path: m.path.clone(),
                    reason: "the model has no such parameter".into(),
                })?;
            // Running statistics are not learned weights and carry no importance; biases are
            // scored only when asked for; a BatchNorm criterion reads the group's BatchNorm
            // scales only.
            if is_running_stat(&m.path)
                || (!self.config.score_biases && is_bias(addr))
                || (needs_bn && !(addr.kind == LayerKind::BatchNorm && m.path.ends_with("gamma")))
            {
                continue;
            }
            let w = weights.get(&m.path).ok_or_else(|| PruneError::Data {
                path: m.path.clone(),
                reason: "the parameter was not read".into(),
            })?;
            let per_index = match self.axis_scores(addr, w, m.axis, grads.get(&m.path)) {
                Ok(scores) => scores,
                // A criterion that compares whole units (FPGM) cannot score a vector member
                // (a BatchNorm scale or bias, a conv bias): the group is ranked by its other
                // members, as Torch-Pruning's FPGM ranks by conv and linear weights alone.
                Err(e @ PruneError::UnsupportedCriterion { .. }) if addr.shape.len() <= 1 => {
                    unscorable = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut units = vec![0f32; g.n_units];
            for (i, &u) in m.units.iter().enumerate() {
                units[u] += per_index[i];
            }
            per_member.push(units);
        }
        if let (true, Some(e)) = (per_member.is_empty(), unscorable) {
            return Err(e);
        }
        if per_member.is_empty() && !needs_bn {
            return Err(PruneError::UnsupportedCriterion {
                criterion: self.criterion.name(),
                granularity: "group".into(),
                path: g.root().to_string(),
                reason: "no member of its dependency group is a weight it scores (biases are \
                         scored only with score_biases)"
                    .into(),
            });
        }
        if per_member.is_empty() {
            return Err(PruneError::MissingBatchNorm {
                criterion: self.criterion.name(),
                path: g.root().to_string(),
                relation: "after",
                channels: g.n_units,
                hint: " (its dependency group has no BatchNorm)".into(),
            });
        }
        let mut out = vec![0f32; g.n_units];
        for (u, o) in out.iter_mut().enumerate() {
            let vals = per_member.iter().map(|v| v[u]);
            *o = match self.config.reduction {
                GroupReduction::Sum => vals.sum(),
                GroupReduction::Mean => vals.sum::<f32>() / per_member.len().max(1) as f32,
                GroupReduction::Max => vals.fold(f32::MIN, f32::max),
                GroupReduction::First => per_member.first().map_or(0.0, |v| v[u]),
            };
        }
        Ok(self.config.normalize(out))
    }

    /// One score per index along `axis` of a parameter.
    fn axis_scores(
        &self,
        addr: &ParamAddress,
        weight: &[f32],
        axis: usize,
        gradients: Option<&GradientStats>,
    ) -> Result<Vec<f32>> {
        let rank = addr.shape.len();
        // A vector (a BatchNorm scale, a bias) is read as one unit per entry, so that a norm
        // criterion gives `|γ|^p` as it gives `Σ|w|^p` for a filter.
        let (layout, granularity) = if rank <= 1 {
            (Layout::for_kind(&addr.kind, rank), Granularity::Filter)
        } else {
            let conventional = Layout::of(addr);
            let other = [conventional.in_axis.unwrap_or(0), conventional.out_axis]
                .into_iter()
                .find(|&a| a != axis)
                .unwrap_or(if axis == 0 { 1 } else { 0 });
            (
                Layout {
                    out_axis: axis,
                    in_axis: Some(other),
                },
                Granularity::Filter,
            )
        };
        let units = UnitMap::new(&addr.path, &addr.shape, layout, granularity)?;
        let ctx = ScoreContext {
            param: addr,
            weight,
            units: &units,
            reduction: self.config.element_reduction,
            gradients,
            batch_norm: None,
        };
        let name = self.criterion.name();
        let scores = match self.criterion.score(&ctx)? {
            Scores::WeightMagnitude => weight.iter().map(|w| w.abs()).collect(),
            Scores::Elements(v) if rank <= 1 => v,
            Scores::Elements(v) => units.reduce(&v, self.config.element_reduction),
            Scores::Units(v) => v,
        };
        if scores.len() != units.n_units() {
            return Err(PruneError::ScoreCount {
                criterion: name,
                path: addr.path.clone(),
                expected: units.n_units(),
                got: scores.len(),
                what: "units",
            });
        }
        if let Some(index) = scores.iter().position(|s| !s.is_finite()) {
            return Err(PruneError::NonFiniteScore {
                criterion: name,
                path: addr.path.clone(),
                index,
                value: scores[index],
            });
        }
        Ok(scores)
    }

    /// Which units to keep in each group (`keep[group][unit]`).
    pub fn keep<M: Module>(&self, model: &M, graph: &DependencyGraph) -> Result<Vec<Vec<bool>>> {
        let addresses = addresses(model);
        let scores = self.scores_at(model, &addresses, graph, None)?;
        self.config.select(&addresses, graph, &scores)
    }

    /// [`keep`](Self::keep) with gradients gathered over `batches` (see
    /// [`scores_with_data`](Self::scores_with_data)).
    pub fn keep_with_data<M, B, I, F>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        batches: I,
        loss: F,
    ) -> Result<Vec<Vec<bool>>>
    where
        M: Module,
        I: IntoIterator<Item = B>,
        F: FnMut(&M, B) -> Tensor<1>,
    {
        let grads = self.gradients(model, graph, batches, loss)?;
        let addresses = addresses(model);
        let scores = self.scores_at(model, &addresses, graph, grads.as_ref())?;
        self.config.select(&addresses, graph, &scores)
    }

    /// The structural plan for `model`.
    pub fn plan<M: Module>(&self, model: &M, graph: &DependencyGraph) -> Result<StructuralPlan> {
        let keep = self.keep(model, graph)?;
        StructuralPlan::from_groups(graph, &keep)
    }

    /// The structural plan for `model`, with gradients gathered over `batches`.
    pub fn plan_with_data<M, B, I, F>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        batches: I,
        loss: F,
    ) -> Result<StructuralPlan>
    where
        M: Module,
        I: IntoIterator<Item = B>,
        F: FnMut(&M, B) -> Tensor<1>,
    {
        let keep = self.keep_with_data(model, graph, batches, loss)?;
        StructuralPlan::from_groups(graph, &keep)
    }
}

/// What an explicit rule asks a layer to keep.
#[derive(Clone, Copy, Debug)]
enum Keep {
    /// This many output channels.
    Channels(usize),
    /// This fraction of its output channels (at least one).
    Density(f64),
}

/// An explicit channel count on a layer of a group.
#[derive(Clone, Debug)]
struct Constraint {
    /// The group's units the layer's output channels belong to.
    units: Vec<usize>,
    /// How many of them stay.
    keep: usize,
    /// The layer's parameter path.
    path: String,
}

/// The units member `m` of `g` touches, and how many of them stay when `m` keeps `channels`
/// indices (each unit must hold the same number of `m`'s indices).
fn kept_units(g: &Group, m: &GroupMember, channels: usize) -> Result<(Vec<usize>, usize)> {
    let mut hits = vec![0usize; g.n_units];
    m.units.iter().for_each(|&u| hits[u] += 1);
    let units: Vec<usize> = (0..g.n_units).filter(|&u| hits[u] > 0).collect();
    let per_unit = units.first().map_or(0, |&u| hits[u]);
    if per_unit == 0
        || units.iter().any(|&u| hits[u] != per_unit)
        || !channels.is_multiple_of(per_unit)
        || channels == 0
        || channels > m.units.len()
    {
        return Err(PruneError::Config(format!(
            "`{}` cannot keep {channels} of its {} output channels (they go {per_unit} at a time, at least one stays)",
            m.path,
            m.units.len()
        )));
    }
    Ok((units, channels / per_unit))
}

/// The model's parameters by path.
type Addresses = HashMap<String, ParamAddress>;

fn addresses<M: Module>(model: &M) -> Addresses {
    param_addresses(model)
        .into_iter()
        .map(|a| (a.path.clone(), a))
        .collect()
}

/// Every parameter path in a group.
fn member_paths(graph: &DependencyGraph) -> HashSet<String> {
    graph
        .groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| m.path.clone()))
        .collect()
}

/// A bias: a vector named `bias` (conv, linear) or `beta` (a normalisation's shift).
fn is_bias(addr: &ParamAddress) -> bool {
    addr.shape.len() <= 1 && matches!(addr.name(), "bias" | "beta")
}

/// A BatchNorm running statistic (`running_mean`, `running_var`), by its path.
fn is_running_stat(path: &str) -> bool {
    path.rsplit('.')
        .next()
        .is_some_and(crate::address::is_running_stat)
}

/// Remove up to `k` free units of `g`, lowest scores first (ties by index), skipping any unit
/// whose removal would leave a member with no index; the kept count stays a multiple of
/// `round_to` (or everything).
fn select_units(g: &Group, s: &[f32], fixed: &[bool], k: usize, round_to: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..s.len()).filter(|&u| !fixed[u]).collect();
    order.sort_by(|&a, &b| s[a].total_cmp(&s[b]).then(a.cmp(&b)));
    let mut left: Vec<usize> = g.members.iter().map(|m| m.units.len()).collect();
    // hits[m][u]: indices of member m that belong to unit u.
    let hits: Vec<Vec<usize>> = g
        .members
        .iter()
        .map(|m| {
            let mut h = vec![0usize; s.len()];
            for &u in &m.units {
                h[u] += 1;
            }
            h
        })
        .collect();
    let mut keep = vec![true; s.len()];
    let mut removed = Vec::new();
    for &u in &order {
        if removed.len() == k {
            break;
        }
        if hits.iter().zip(&left).any(|(h, &l)| h[u] > 0 && h[u] >= l) {
            continue;
        }
        for (l, h) in left.iter_mut().zip(&hits) {
            *l -= h[u];
        }
        keep[u] = false;
        removed.push(u);
    }
    // Skipped units may leave the kept count off the multiple: give back the best removed.
    let target = removable(s.len(), removed.len(), round_to);
    while removed.len() > target {
        let u = removed.pop().expect("more removed than the target");
        keep[u] = true;
    }
    keep
}

/// Groups ranked by the global selection: those without explicit channel counts.
fn ranked_groups(explicit: &[Vec<Constraint>]) -> impl Iterator<Item = usize> + '_ {
    (0..explicit.len()).filter(|&gi| explicit[gi].is_empty())
}

/// How many units the global ranking takes from each group: the `round(sparsity · free)` lowest
/// free units over all ranked groups (ties by group, then unit), found by the crate's one
/// O(n) selection ([`prune_lowest`], the unstructured pruner's), when that choice leaves every
/// group within its cap. `None` when some group would pass its cap (the greedy walk then
/// skips that group's surplus and takes the next lowest elsewhere), or when a score is not
/// finite.
fn lowest_within_caps(
    graph: &DependencyGraph,
    scores: &[Vec<f32>],
    fixed: &[Vec<bool>],
    explicit: &[Vec<Constraint>],
    caps: &[usize],
    sparsity: f64,
) -> Option<Vec<usize>> {
    let order: Vec<usize> = ranked_groups(explicit).collect();
    // Only free units compete: fixed ones are left out of each group's buffer.
    let free: Vec<Vec<f32>> = order
        .iter()
        .map(|&gi| {
            scores[gi]
                .iter()
                .zip(&fixed[gi])
                .filter(|&(_, &f)| !f)
                .map(|(&s, _)| s)
                .collect()
        })
        .collect();
    let pool: usize = free.iter().map(Vec::len).sum();
    let target = (sparsity * pool as f64).round() as usize;
    let segments: Vec<&[f32]> = free.iter().map(Vec::as_slice).collect();
    let keep = prune_lowest(&segments, target, Keys::Scores).ok()?;
    let mut taken = vec![0usize; graph.groups.len()];
    for (&gi, k) in order.iter().zip(&keep) {
        taken[gi] = k.len() - k.count_ones();
        if taken[gi] > caps[gi] {
            return None;
        }
    }
    Some(taken)
}

/// The global ranking walked in order, lowest first (ties by group, then unit), skipping the
/// units of groups at their cap, until `round(sparsity · free)` units are taken.
fn greedy_within_caps(
    graph: &DependencyGraph,
    scores: &[Vec<f32>],
    fixed: &[Vec<bool>],
    explicit: &[Vec<Constraint>],
    caps: &[usize],
    sparsity: f64,
) -> Vec<usize> {
    let mut pool: Vec<(f32, usize, usize)> = Vec::new();
    for gi in ranked_groups(explicit) {
        pool.extend(
            scores[gi]
                .iter()
                .enumerate()
                .filter(|&(u, _)| !fixed[gi][u])
                .map(|(u, &v)| (v, gi, u)),
        );
    }
    let target = (sparsity * pool.len() as f64).round() as usize;
    pool.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let mut taken = vec![0usize; graph.groups.len()];
    let mut count = 0;
    for &(_, gi, _) in &pool {
        if count == target {
            break;
        }
        if taken[gi] < caps[gi] {
            taken[gi] += 1;
            count += 1;
        }
    }
    taken
}

/// The largest count `≤ want` whose remaining `n - count` is a multiple of `round_to` (or `n`
/// itself when nothing smaller is).
fn removable(n: usize, want: usize, round_to: usize) -> usize {
    let kept = n - want;
    let rounded = kept.div_ceil(round_to) * round_to;
    n - rounded.min(n)
}

#[cfg(test)]
mod tests {
    use super::removable;

    #[test]
    fn round_to_keeps_multiples() {
        assert_eq!(removable(64, 32, 8), 32);
        assert_eq!(removable(64, 30, 8), 24); // 34 kept -> 40
        assert_eq!(removable(10, 9, 4), 6); // 1 kept -> 4
        assert_eq!(removable(3, 2, 4), 0); // 1 kept -> 4 > 3: keep all
        assert_eq!(removable(16, 5, 1), 5);
    }
}

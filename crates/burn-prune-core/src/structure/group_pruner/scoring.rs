//! A criterion's scores of the units of every dependency group.

use super::config::{GroupPrunerConfig, GroupReduction};
use crate::address::{LayerKind, ParamAddress, param_addresses};
use crate::criterion::{Criterion, GradientNeed, GradientStats, ScoreContext, Scores};
use crate::error::{PruneError, Result};
use crate::gradients::gradients_for;
use crate::granularity::{Granularity, Layout, UnitMap};
use crate::host::{device_params, par_read};
use crate::structure::graph::{DependencyGraph, Group, GroupMember};
use crate::structure::plan::StructuralPlan;
use burn::module::Module;
use burn::tensor::Tensor;
use std::collections::{HashMap, HashSet};

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
    pub(super) fn new(config: GroupPrunerConfig, criterion: Box<dyn Criterion>) -> Self {
        Self { config, criterion }
    }

    /// The configuration it was made from.
    pub fn config(&self) -> &GroupPrunerConfig {
        &self.config
    }

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
    pub(super) fn scores_at<M: Module>(
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
        let mut member_scores = self.member_scores(model, addresses, graph, grads)?;
        graph
            .groups
            .iter()
            .zip(&mut member_scores)
            .map(|(g, scores)| {
                if g.prunable() == 0 {
                    return Ok(vec![0.0; g.n_units]);
                }
                self.group_scores(g, addresses, scores)
            })
            .collect()
    }

    /// Whether member `m` (the parameter at `addr`) takes part in its group's score.
    ///
    /// Running statistics are not learned weights and carry no importance; biases are scored
    /// only when asked for; a BatchNorm criterion reads the group's BatchNorm scales only.
    fn is_scored(&self, addr: &ParamAddress, m: &GroupMember) -> bool {
        let needs_bn = self.criterion.needs().batch_norm;
        !(is_running_stat(&m.path)
            || (!self.config.score_biases && is_bias(addr))
            || (needs_bn && !(addr.kind == LayerKind::BatchNorm && m.path.ends_with("gamma"))))
    }

    /// The per-index scores of every scored member of every group with removable units
    /// (`[group][member]`, `None` for members not scored).
    ///
    /// Each parameter is read once, scored for every group it belongs to (a conv weight's
    /// outputs in its own group, its inputs in the previous one), and dropped before the
    /// next: no copy of every weight is held. Parameters are spread over the cores; a read
    /// error is reported for the first parameter in model order, scoring errors where the
    /// group walk meets them.
    fn member_scores<M: Module>(
        &self,
        model: &M,
        addresses: &Addresses,
        graph: &DependencyGraph,
        grads: &HashMap<String, GradientStats>,
    ) -> Result<Vec<Vec<MemberScores>>> {
        // Which (group, member) each parameter is scored for.
        let mut wanted: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (gi, g) in graph.groups.iter().enumerate() {
            if g.prunable() == 0 {
                continue;
            }
            for (mi, m) in g.members.iter().enumerate() {
                if addresses.get(&m.path).is_some_and(|a| self.is_scored(a, m)) {
                    wanted.entry(m.path.as_str()).or_default().push((gi, mi));
                }
            }
        }
        let paths: HashSet<String> = wanted.keys().map(|p| p.to_string()).collect();
        let params = device_params(model, &paths);
        let scored = par_read(&params, |param| {
            let weight = param.read_all()?;
            let scores: Vec<_> = wanted[param.path.as_str()]
                .iter()
                .map(|&(gi, mi)| {
                    let m = &graph.groups[gi].members[mi];
                    let addr = &addresses[&m.path];
                    let s = self.axis_scores(addr, &weight, m.axis, grads.get(&m.path));
                    (gi, mi, s)
                })
                .collect();
            Ok::<_, PruneError>(scores)
        });
        let mut out: Vec<Vec<MemberScores>> = graph
            .groups
            .iter()
            .map(|g| g.members.iter().map(|_| None).collect())
            .collect();
        for param in scored {
            for (gi, mi, s) in param? {
                out[gi][mi] = Some(s);
            }
        }
        Ok(out)
    }

    /// Group `g`'s unit scores from its members' per-index `scores` (taken out).
    fn group_scores(
        &self,
        g: &Group,
        addresses: &Addresses,
        scores: &mut [MemberScores],
    ) -> Result<Vec<f32>> {
        let needs_bn = self.criterion.needs().batch_norm;
        let mut per_member: Vec<Vec<f32>> = Vec::with_capacity(g.members.len());
        let mut unscorable = None;
        for (m, scores) in g.members.iter().zip(scores) {
            let addr = addresses
                .get(&m.path)
                .ok_or_else(|| PruneError::PlanMismatch {
                    path: m.path.clone(),
                    reason: "the model has no such parameter".into(),
                })?;
            if !self.is_scored(addr, m) {
                continue;
            }
            let scores = scores.take().unwrap_or_else(|| {
                Err(PruneError::Data {
                    path: m.path.clone(),
                    reason: "the parameter was not read".into(),
                })
            });
            let per_index = match scores {
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

/// One member's per-index scores (`None`: not scored, or already taken).
type MemberScores = Option<Result<Vec<f32>>>;

/// The model's parameters by path.
pub(super) type Addresses = HashMap<String, ParamAddress>;

pub(super) fn addresses<M: Module>(model: &M) -> Addresses {
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

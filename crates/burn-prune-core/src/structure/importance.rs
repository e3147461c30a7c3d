//! Group importance and selection: which units of each dependency group to keep.

use super::graph::{DependencyGraph, Group};
use super::plan::StructuralPlan;
use crate::address::{ParamAddress, param_addresses};
use crate::criterion::{Criterion, GradientNeed, ScoreContext, Scores};
use crate::error::{PruneError, Result};
use crate::granularity::{Granularity, Layout, Reduction, UnitMap};
use crate::host::{HostFloats, read_params};
use crate::pattern::PathPattern;
use burn::config::Config;
use burn::module::Module;
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
    #[default]
    None,
    /// Divided by the group's mean.
    Mean,
    /// Divided by the group's maximum.
    Max,
}

/// Configuration of a [`GroupPruner`].
#[derive(Config, Debug)]
pub struct GroupPrunerConfig {
    /// Fraction of units to remove: of each group's units (local), or of all units (global).
    pub ratio: f64,
    /// How members' scores combine.
    #[config(default = "GroupReduction::Mean")]
    pub reduction: GroupReduction,
    /// How a group's scores are scaled.
    #[config(default = "GroupNormalization::None")]
    pub normalization: GroupNormalization,
    /// One ranking over all groups instead of one per group.
    #[config(default = false)]
    pub global: bool,
    /// Kept unit counts are rounded up to a multiple of this.
    #[config(default = 1)]
    pub round_to: usize,
    /// No group loses more than this fraction of its units.
    #[config(default = 1.0)]
    pub max_ratio: f64,
    /// Path patterns of parameters whose dimensions are never cut (every unit they touch is
    /// kept). The model output is always kept.
    #[config(default = "Vec::new()")]
    pub ignored: Vec<String>,
    /// How element scores of a member are reduced to one score per index.
    #[config(default = "Reduction::L1")]
    pub element_reduction: Reduction,
}

impl GroupPrunerConfig {
    /// Make a pruner scoring members with `criterion`.
    pub fn init<C: Criterion + 'static>(&self, criterion: C) -> GroupPruner {
        GroupPruner {
            config: self.clone(),
            criterion: Box::new(criterion),
        }
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
    /// The score of every unit of every group (after reduction and normalisation).
    pub fn scores<M: Module>(&self, model: &M, graph: &DependencyGraph) -> Result<Vec<Vec<f32>>> {
        let name = self.criterion.name();
        if self.criterion.needs().gradients != GradientNeed::None {
            return Err(PruneError::MissingBatches { criterion: name });
        }
        let addresses = param_addresses(model);
        let paths: HashSet<String> = graph
            .groups
            .iter()
            .flat_map(|g| g.members.iter().map(|m| m.path.clone()))
            .collect();
        let mut host = read_params(model, &paths)?;
        let weights: HashMap<String, HostFloats> = paths
            .iter()
            .filter_map(|p| host.remove(p).map(|h| (p.clone(), h.effective())))
            .collect();
        graph
            .groups
            .iter()
            .map(|g| self.group_scores(g, &addresses, &weights))
            .collect()
    }

    fn group_scores(
        &self,
        g: &Group,
        addresses: &[ParamAddress],
        weights: &HashMap<String, HostFloats>,
    ) -> Result<Vec<f32>> {
        let mut per_member: Vec<Vec<f32>> = Vec::with_capacity(g.members.len());
        for m in &g.members {
            let addr = addresses.iter().find(|a| a.path == m.path).ok_or_else(|| {
                PruneError::PlanMismatch {
                    path: m.path.clone(),
                    reason: "the model has no such parameter".into(),
                }
            })?;
            let w = weights.get(&m.path).ok_or_else(|| PruneError::Data {
                path: m.path.clone(),
                reason: "the parameter was not read".into(),
            })?;
            let per_index = self.axis_scores(addr, w, m.axis)?;
            let mut units = vec![0f32; g.n_units];
            for (i, &u) in m.units.iter().enumerate() {
                units[u] += per_index[i];
            }
            per_member.push(units);
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
        let scale = match self.config.normalization {
            GroupNormalization::None => 1.0,
            GroupNormalization::Mean => out.iter().sum::<f32>() / out.len().max(1) as f32,
            GroupNormalization::Max => out.iter().copied().fold(0.0, f32::max),
        };
        if scale > 0.0 && scale != 1.0 {
            out.iter_mut().for_each(|s| *s /= scale);
        }
        Ok(out)
    }

    /// One score per index along `axis` of a parameter.
    fn axis_scores(&self, addr: &ParamAddress, weight: &[f32], axis: usize) -> Result<Vec<f32>> {
        let rank = addr.shape.len();
        let (layout, granularity) = if rank <= 1 {
            (Layout::for_kind(&addr.kind, rank), Granularity::Element)
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
            gradients: None,
            batch_norm: None,
        };
        let name = self.criterion.name();
        let scores = match self.criterion.score(&ctx)? {
            Scores::WeightMagnitude => weight.iter().map(|w| w.abs()).collect(),
            Scores::Elements(v) if granularity == Granularity::Element => v,
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

    /// Which units to keep in each group.
    pub fn keep<M: Module>(&self, model: &M, graph: &DependencyGraph) -> Result<Vec<Vec<bool>>> {
        let c = &self.config;
        if !(0.0..1.0).contains(&c.ratio) {
            return Err(PruneError::InvalidSparsity {
                value: c.ratio,
                context: "group pruning ratio".into(),
            });
        }
        if !(c.max_ratio > 0.0 && c.max_ratio <= 1.0) || c.round_to == 0 {
            return Err(PruneError::Config(format!(
                "max_ratio must be in (0, 1] and round_to at least 1 (got {} and {})",
                c.max_ratio, c.round_to
            )));
        }
        let ignored: Vec<PathPattern> = c
            .ignored
            .iter()
            .map(|p| PathPattern::new(p))
            .collect::<Result<_>>()?;
        let scores = self.scores(model, graph)?;
        // Fixed units: pinned by the graph, or touched by an ignored parameter.
        let fixed: Vec<Vec<bool>> = graph
            .groups
            .iter()
            .map(|g| {
                let mut f = vec![false; g.n_units];
                for &u in g.pinned.keys() {
                    f[u] = true;
                }
                for m in g
                    .members
                    .iter()
                    .filter(|m| ignored.iter().any(|p| p.matches(&m.path)))
                {
                    for &u in &m.units {
                        f[u] = true;
                    }
                }
                f
            })
            .collect();
        // The most each group may lose: max_ratio, at least one kept, kept a multiple of round_to.
        let cap = |g: &Group, fixed: &[bool]| {
            let n = g.n_units;
            let free = fixed.iter().filter(|&&f| !f).count();
            let most = ((c.max_ratio * n as f64).floor() as usize)
                .min(free)
                .min(n - 1);
            removable(n, most, c.round_to)
        };
        let mut remove: Vec<usize> = Vec::with_capacity(graph.groups.len());
        if c.global {
            let mut pool: Vec<(f32, usize, usize)> = Vec::new();
            for (gi, (s, f)) in scores.iter().zip(&fixed).enumerate() {
                pool.extend(
                    s.iter()
                        .enumerate()
                        .filter(|&(u, _)| !f[u])
                        .map(|(u, &v)| (v, gi, u)),
                );
            }
            let total: usize = graph.groups.iter().map(|g| g.n_units).sum();
            let target = (c.ratio * total as f64).round() as usize;
            pool.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
            let caps: Vec<usize> = graph
                .groups
                .iter()
                .zip(&fixed)
                .map(|(g, f)| cap(g, f))
                .collect();
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
            for (gi, g) in graph.groups.iter().enumerate() {
                remove.push(removable(g.n_units, taken[gi], c.round_to));
            }
        } else {
            for (g, f) in graph.groups.iter().zip(&fixed) {
                let want = (c.ratio * g.n_units as f64).round() as usize;
                remove.push(removable(g.n_units, want.min(cap(g, f)), c.round_to));
            }
        }
        Ok(graph
            .groups
            .iter()
            .zip(&scores)
            .zip(&fixed)
            .zip(&remove)
            .map(|(((g, s), f), &k)| select_units(g, s, f, k, c.round_to))
            .collect())
    }

    /// The structural plan for `model`.
    pub fn plan<M: Module>(&self, model: &M, graph: &DependencyGraph) -> Result<StructuralPlan> {
        let keep = self.keep(model, graph)?;
        StructuralPlan::from_groups(graph, &keep)
    }
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

//! Which units of each group go, given every group's scores.

use super::config::GroupPrunerConfig;
use super::scoring::Addresses;
use crate::error::{PruneError, Result};
use crate::granularity::Layout;
use crate::pattern::PathPattern;
use crate::scope::Scope;
use crate::structure::graph::{DependencyGraph, Group, GroupMember};
use crate::threshold::{Keys, prune_lowest};

impl GroupPrunerConfig {
    /// Units fixed in each group: pinned by the graph, or output channels of an ignored
    /// parameter.
    pub(super) fn fixed_units(
        &self,
        addresses: &Addresses,
        graph: &DependencyGraph,
    ) -> Result<Vec<Vec<bool>>> {
        let ignored: Vec<PathPattern> = self
            .ignored
            .iter()
            .map(|p| matching(p, addresses, "ignored"))
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
    pub(super) fn explicit_counts(
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
            let which = match want {
                Keep::Channels(_) => "keep_channels",
                Keep::Density(_) => "density",
            };
            let pattern = matching(path, addresses, which)?;
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

    /// The most units `g` may lose: `max_ratio` of them, only free ones, at least one kept,
    /// the kept count a multiple of `round_to`.
    pub(super) fn cap(&self, g: &Group, fixed: &[bool]) -> usize {
        let n = g.n_units;
        let free = fixed.iter().filter(|&&f| !f).count();
        let most = ((self.max_ratio * n as f64).floor() as usize)
            .min(free)
            .min(n.saturating_sub(1));
        removable(n, most, self.round_to)
    }

    /// Which units to keep, given every group's scores.
    pub(super) fn select(
        &self,
        addresses: &Addresses,
        graph: &DependencyGraph,
        scores: &[Vec<f32>],
    ) -> Result<Vec<Vec<bool>>> {
        let c = self;
        let fixed = self.fixed_units(addresses, graph)?;
        let explicit = self.explicit_counts(addresses, graph)?;
        let cap = |g: &Group, fixed: &[bool]| self.cap(g, fixed);
        let mut remove: Vec<usize> = vec![0; graph.groups.len()];
        let ranked = |gi: &usize| explicit[*gi].is_empty();
        if matches!(c.scope, Scope::Global | Scope::Lamp) {
            let caps: Vec<usize> = graph
                .groups
                .iter()
                .zip(&fixed)
                .map(|(g, f)| cap(g, f))
                .collect();
            let ranking = Ranking {
                groups: graph.groups.len(),
                scores,
                fixed: &fixed,
                explicit: &explicit,
                caps: &caps,
                sparsity: c.sparsity,
            };
            let taken = ranking
                .lowest_within_caps()
                .unwrap_or_else(|| ranking.greedy_within_caps());
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
                    return Ok(select_units(
                        g,
                        &scores[gi],
                        &fixed[gi],
                        remove[gi],
                        c.round_to,
                    ));
                }
                explicit_keep(g, &scores[gi], &fixed[gi], &explicit[gi])
            })
            .collect()
    }
}

/// The units `g` keeps under its explicit channel counts: each constrained layer keeps its
/// best-scored free units; the rest of the group stays.
pub(super) fn explicit_keep(
    g: &Group,
    scores: &[f32],
    fixed: &[bool],
    constraints: &[Constraint],
) -> Result<Vec<bool>> {
    let mut keep = vec![true; g.n_units];
    for con in constraints {
        // Only this layer's free units compete; the rest of the group stays.
        let mut only = vec![true; g.n_units];
        for &u in &con.units {
            only[u] = fixed[u];
        }
        let want = con.units.len() - con.keep;
        let k = select_units(g, scores, &only, want, 1);
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
}

/// `pattern` compiled, if it matches a parameter of the model; else
/// [`PruneError::PatternMatchesNothing`] naming it (a typo must not silently leave every
/// layer to the ratio).
fn matching(pattern: &str, addresses: &Addresses, which: &'static str) -> Result<PathPattern> {
    let compiled = PathPattern::new(pattern)?;
    if addresses.keys().any(|path| compiled.matches(path)) {
        Ok(compiled)
    } else {
        Err(PruneError::PatternMatchesNothing {
            which,
            pattern: pattern.to_string(),
        })
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
pub(super) struct Constraint {
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

/// Remove up to `k` free units of `g`, lowest scores first (ties by index), skipping any unit
/// whose removal would leave a member with no index; the kept count stays a multiple of
/// `round_to` (or everything).
fn select_units(g: &Group, s: &[f32], fixed: &[bool], k: usize, round_to: usize) -> Vec<bool> {
    let removed = removal_order(g, s, fixed, k);
    let mut keep = vec![true; s.len()];
    removed.iter().for_each(|&u| keep[u] = false);
    // Skipped units may leave the kept count off the multiple: give back the best removed.
    let target = removable(s.len(), removed.len(), round_to);
    for &u in &removed[target..] {
        keep[u] = true;
    }
    keep
}

/// Up to `k` free units of `g` in the order they go: lowest scores first (ties by index),
/// skipping any unit whose removal would leave a member with no index.
pub(super) fn removal_order(g: &Group, s: &[f32], fixed: &[bool], k: usize) -> Vec<usize> {
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
        removed.push(u);
    }
    removed
}

/// Groups ranked by the global selection: those without explicit channel counts.
fn ranked_groups(explicit: &[Vec<Constraint>]) -> impl Iterator<Item = usize> + '_ {
    (0..explicit.len()).filter(|&gi| explicit[gi].is_empty())
}

/// What the global ranking of units over all groups works from.
struct Ranking<'a> {
    /// Number of groups.
    groups: usize,
    /// Every group's unit scores.
    scores: &'a [Vec<f32>],
    /// Every group's fixed units (pinned or ignored), which never compete.
    fixed: &'a [Vec<bool>],
    /// Every group's explicit counts; groups with any are left out of the ranking.
    explicit: &'a [Vec<Constraint>],
    /// The most units each group may lose.
    caps: &'a [usize],
    /// The fraction of the competing units to take.
    sparsity: f64,
}

impl Ranking<'_> {
    /// How many units the global ranking takes from each group: the
    /// `round(sparsity · free)` lowest free units over all ranked groups (ties by group, then
    /// unit), found by the crate's one O(n) selection ([`prune_lowest`], the unstructured
    /// pruner's), when that choice leaves every group within its cap. `None` when some group
    /// would pass its cap (the greedy walk then skips that group's surplus and takes the next
    /// lowest elsewhere), or when a score is not finite.
    fn lowest_within_caps(&self) -> Option<Vec<usize>> {
        let order: Vec<usize> = ranked_groups(self.explicit).collect();
        // Only free units compete: fixed ones are left out of each group's buffer.
        let free: Vec<Vec<f32>> = order
            .iter()
            .map(|&gi| {
                self.scores[gi]
                    .iter()
                    .zip(&self.fixed[gi])
                    .filter(|&(_, &f)| !f)
                    .map(|(&s, _)| s)
                    .collect()
            })
            .collect();
        let pool: usize = free.iter().map(Vec::len).sum();
        let target = (self.sparsity * pool as f64).round() as usize;
        let segments: Vec<&[f32]> = free.iter().map(Vec::as_slice).collect();
        let keep = prune_lowest(&segments, target, Keys::Scores).ok()?;
        let mut taken = vec![0usize; self.groups];
        for (&gi, k) in order.iter().zip(&keep) {
            taken[gi] = k.len() - k.count_ones();
            if taken[gi] > self.caps[gi] {
                return None;
            }
        }
        Some(taken)
    }

    /// The global ranking walked in order, lowest first (ties by group, then unit), skipping
    /// the units of groups at their cap, until `round(sparsity · free)` units are taken.
    fn greedy_within_caps(&self) -> Vec<usize> {
        let mut pool: Vec<(f32, usize, usize)> = Vec::new();
        for gi in ranked_groups(self.explicit) {
            pool.extend(
                self.scores[gi]
                    .iter()
                    .enumerate()
                    .filter(|&(u, _)| !self.fixed[gi][u])
                    .map(|(u, &v)| (v, gi, u)),
            );
        }
        let target = (self.sparsity * pool.len() as f64).round() as usize;
        pool.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let mut taken = vec![0usize; self.groups];
        let mut count = 0;
        for &(_, gi, _) in &pool {
            if count == target {
                break;
            }
            if taken[gi] < self.caps[gi] {
                taken[gi] += 1;
                count += 1;
            }
        }
        taken
    }
}

/// The largest count `≤ want` whose remaining `n - count` is a multiple of `round_to` (or `n`
/// itself when nothing smaller is).
pub(super) fn removable(n: usize, want: usize, round_to: usize) -> usize {
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

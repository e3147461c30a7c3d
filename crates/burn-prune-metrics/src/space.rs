//! Pruning spaces (He et al. 2023, "Network Pruning Spaces"): populations of filter-pruned
//! subnetworks of one network, measured structurally, compared by their metric distributions.
//!
//! # Parameterisation
//!
//! The space is defined on the network's channel dependency groups
//! ([`DependencyGraph`]): every group with free units (channels not pinned by the graph and
//! not fixed by the user) is one coordinate. A subnetwork is a keep ratio `r_g` per group:
//!
//! * `r_g ~ Uniform[min_keep, max_keep]`, independently per group;
//! * kept units `k_g = clamp(round_to · round(r_g · f_g / round_to), 1, f_g)` of the group's
//!   `f_g` free units (pinned units are always kept on top), so `k_g ≥ 1`;
//! * groups whose root parameter matches a `fixed` pattern keep all their units.
//!
//! Which units are kept does not change the counts (every unit of a group has the same size
//! in every member), so a subnetwork is measured without choosing units or running the model:
//! its parameters are the dense count minus the elements its [`StructuralPlan`] cuts, and its
//! MACs (papers' convention) are, op by op, the MACs per weight element times the weight's new
//! size. A *pruning regime* is a window of MACs; sampling in a regime draws subnetworks until
//! that many fall inside it. Each subnetwork's FLOPs-to-parameters ratio is `MACs / params`.
//!
//! Given a score per sampled subnetwork (its error after training, supplied by the user),
//! [`Edf`] gives the empirical distribution; [`ratio_band`] reads the band of
//! FLOPs-to-parameters ratios of the best subnetworks, and [`PruningSpaceConfig::ratio_band`]
//! constrains later sampling to it (the paper's refined space).

use crate::count::{Convention, OpCounts};
use crate::error::{self, MetricsError};
use crate::params::{ParamRole, ParamStats};
use burn::config::Config;
use burn_prune_core::PathPattern;
use burn_prune_core::structure::{DependencyGraph, KeepChannels, StructuralPlan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// How subnetworks are drawn.
#[derive(Config, Debug)]
pub struct PruningSpaceConfig {
    /// Smallest keep ratio of a group.
    #[config(default = 0.1)]
    pub min_keep: f64,
    /// Largest keep ratio of a group.
    #[config(default = 1.0)]
    pub max_keep: f64,
    /// Kept units of a group are a multiple of this (unless the group is smaller).
    #[config(default = 1)]
    pub round_to: usize,
    /// Patterns of group roots (the parameter creating the channels, e.g. `stem.conv.weight`)
    /// that keep all their units.
    #[config(default = "Vec::new()")]
    pub fixed: Vec<String>,
    /// Only subnetworks whose MACs / params lies in `[lo, hi]` are drawn (a refined space).
    #[config(default = "None")]
    pub ratio_band: Option<(f64, f64)>,
    /// Seed of the sampler.
    #[config(default = 0)]
    pub seed: u64,
}

/// One coordinate of the space: a dependency group with free units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceGroup {
    /// Index of the group in the graph.
    pub index: usize,
    /// Its root parameter (the layer that creates the channels).
    pub root: String,
    /// Units that may be removed.
    pub free: usize,
}

/// A subnetwork of the space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subnetwork {
    /// The drawn keep ratio per space group.
    pub ratios: Vec<f64>,
    /// Free units kept per space group.
    pub kept: Vec<usize>,
    /// Parameters (buffers excluded).
    pub params: u64,
    /// MACs (papers' convention).
    pub macs: u64,
}

impl Subnetwork {
    /// The FLOPs-to-parameters ratio, `MACs / params`.
    pub fn flops_per_param(&self) -> f64 {
        self.macs as f64 / self.params as f64
    }
}

/// A window of MACs: a pruning regime.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Regime {
    /// Fewest MACs.
    pub min_macs: u64,
    /// Most MACs.
    pub max_macs: u64,
}

impl Regime {
    /// `target ± tolerance·target`.
    pub fn around(target: u64, tolerance: f64) -> Self {
        let d = (target as f64 * tolerance).round() as u64;
        Self {
            min_macs: target.saturating_sub(d),
            max_macs: target + d,
        }
    }

    /// Whether `macs` lies in the window.
    pub fn contains(&self, macs: u64) -> bool {
        (self.min_macs..=self.max_macs).contains(&macs)
    }
}

/// The subnetworks of one network, with everything needed to measure them without the model.
#[derive(Clone, Debug)]
pub struct PruningSpace {
    config: PruningSpaceConfig,
    graph: DependencyGraph,
    /// The coordinates.
    groups: Vec<SpaceGroup>,
    /// Dense parameters (buffers excluded).
    dense_params: u64,
    /// Buffer paths (their cut elements are not parameters).
    buffers: HashSet<String>,
    /// MACs per weight element and dense MACs, by parameter, for multiply-accumulate ops.
    weighted_macs: Vec<(String, u64, u64)>,
    /// MACs of ops whose weight is not cut.
    other_macs: u64,
    rng: StdRng,
}

impl PruningSpace {
    /// The space of `graph`'s network, whose dense counts are `params` and `ops` (see
    /// [`ParamStats::of_model`], [`OpCounts::of_trace`] on the trace the graph was built from).
    ///
    /// ```
    /// use burn::prelude::*;
    /// use burn_prune_core::structure::{trace, DependencyGraph, GraphOptions};
    /// use burn_prune_metrics::{OpCounts, ParamStats, PruningSpace, PruningSpaceConfig, Regime};
    /// use burn_prune_models::ResNetCifarConfig;
    ///
    /// let model = ResNetCifarConfig::new(20).init(&Device::flex()).unwrap();
    /// let t = trace(&model, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap();
    /// let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    /// let mut space = PruningSpace::new(
    ///     graph,
    ///     &ParamStats::of_model(&model).unwrap(),
    ///     &OpCounts::of_trace(&t),
    ///     PruningSpaceConfig::new(),
    /// )
    /// .unwrap();
    /// let regime = Regime::around(20_000_000, 0.1);
    /// let nets = space.sample_in(regime, 10, 10_000).unwrap();
    /// assert!(nets.iter().all(|n| regime.contains(n.macs)));
    /// ```
    pub fn new(
        graph: DependencyGraph,
        params: &ParamStats,
        ops: &OpCounts,
        config: PruningSpaceConfig,
    ) -> error::Result<Self> {
        let invalid = |reason: String| Err(MetricsError::invalid("pruning space", reason));
        if !(0.0 < config.min_keep && config.min_keep <= config.max_keep && config.max_keep <= 1.0)
        {
            return invalid(format!(
                "keep ratios [{}, {}] must satisfy 0 < min ≤ max ≤ 1",
                config.min_keep, config.max_keep
            ));
        }
        if config.round_to == 0 {
            return invalid("round_to must be at least 1".into());
        }
        if let Some((lo, hi)) = config.ratio_band
            && !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi)
        {
            return invalid(format!("ratio band [{lo}, {hi}] is empty or not finite"));
        }
        let fixed = config
            .fixed
            .iter()
            .map(|p| PathPattern::new(p))
            .collect::<Result<Vec<_>, _>>()?;
        let groups: Vec<SpaceGroup> = graph
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.prunable() > 0 && !fixed.iter().any(|p| p.matches(g.root())))
            .map(|(index, g)| SpaceGroup {
                index,
                root: g.root().to_string(),
                free: g.prunable(),
            })
            .collect();
        if groups.is_empty() {
            return invalid("the network has no group with prunable channels".into());
        }
        let mut weighted: HashMap<String, (u64, u64)> = HashMap::new();
        let mut other_macs = 0;
        for op in &ops.ops {
            let macs = op.macs(Convention::Papers);
            match &op.param {
                Some(p) if op.macs_per_weight > 0 && macs > 0 => {
                    let e = weighted.entry(p.clone()).or_default();
                    e.0 += op.macs_per_weight;
                    e.1 += macs;
                }
                _ => other_macs += macs,
            }
        }
        let seed = config.seed;
        Ok(Self {
            groups,
            dense_params: params.total(),
            buffers: params
                .params
                .iter()
                .filter(|p| p.role == ParamRole::Buffer)
                .map(|p| p.path.clone())
                .collect(),
            weighted_macs: weighted.into_iter().map(|(p, (w, m))| (p, w, m)).collect(),
            other_macs,
            graph,
            config,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// The coordinates of the space.
    pub fn groups(&self) -> &[SpaceGroup] {
        &self.groups
    }

    /// The dependency graph the space is defined on.
    pub fn graph(&self) -> &DependencyGraph {
        &self.graph
    }

    /// The structural plan keeping `kept[i]` free units of space group `i` (the first ones:
    /// counts do not depend on which), all pinned units, and every unit of other groups.
    pub fn plan(&self, kept: &[usize]) -> error::Result<StructuralPlan> {
        if kept.len() != self.groups.len() {
            return Err(MetricsError::Mismatch {
                context: "pruning space".into(),
                reason: format!(
                    "{} kept counts for {} groups",
                    kept.len(),
                    self.groups.len()
                ),
            });
        }
        let mut keep: Vec<Vec<bool>> = self
            .graph
            .groups
            .iter()
            .map(|g| vec![true; g.n_units])
            .collect();
        for (sg, &k) in self.groups.iter().zip(kept) {
            let g = &self.graph.groups[sg.index];
            if k == 0 || k > sg.free {
                return Err(MetricsError::invalid(
                    "kept units",
                    format!("{k} for group `{}` with {} free units", sg.root, sg.free),
                ));
            }
            let mut left = k;
            for (u, slot) in keep[sg.index].iter_mut().enumerate() {
                if g.pinned.contains_key(&u) {
                    continue;
                }
                *slot = left > 0;
                left = left.saturating_sub(1);
            }
        }
        Ok(StructuralPlan::from_groups(&self.graph, &keep)?)
    }

    /// Explicit channel counts that make [`GroupPrunerConfig`](burn_prune_core::structure::GroupPrunerConfig)
    /// build this subnetwork from a trained model with any criterion (which units survive is
    /// then the criterion's choice). A count is for the group's root layer: its kept free units
    /// plus its pinned ones.
    pub fn keep_channels(&self, subnetwork: &Subnetwork) -> Vec<KeepChannels> {
        self.groups
            .iter()
            .zip(&subnetwork.kept)
            .map(|(g, &k)| {
                let group = &self.graph.groups[g.index];
                let mut root_units: Vec<usize> = group
                    .members
                    .first()
                    .map(|m| m.units.clone())
                    .unwrap_or_default();
                root_units.sort_unstable();
                root_units.dedup();
                let pinned = root_units
                    .iter()
                    .filter(|u| group.pinned.contains_key(u))
                    .count();
                KeepChannels::new(g.root.clone(), k + pinned)
            })
            .collect()
    }

    /// Measure the subnetwork keeping `kept[i]` free units of space group `i`.
    pub fn measure(&self, kept: &[usize]) -> error::Result<Subnetwork> {
        let plan = self.plan(kept)?;
        let removed: usize = plan
            .params
            .iter()
            .filter(|(path, _)| !self.buffers.contains(path.as_str()))
            .map(|(_, s)| s.removed_elements())
            .sum();
        let macs = self.other_macs
            + self
                .weighted_macs
                .iter()
                .map(|(path, per_weight, dense)| match plan.params.get(path) {
                    Some(s) => per_weight * s.new_shape().iter().product::<usize>() as u64,
                    None => *dense,
                })
                .sum::<u64>();
        Ok(Subnetwork {
            ratios: kept
                .iter()
                .zip(&self.groups)
                .map(|(&k, g)| k as f64 / g.free as f64)
                .collect(),
            kept: kept.to_vec(),
            params: self.dense_params - removed as u64,
            macs,
        })
    }

    /// Draw one subnetwork (ignoring the ratio band).
    pub fn sample(&mut self) -> error::Result<Subnetwork> {
        let (lo, hi, step) = (
            self.config.min_keep,
            self.config.max_keep,
            self.config.round_to,
        );
        let ratios: Vec<f64> = (0..self.groups.len())
            .map(|_| {
                if lo == hi {
                    lo
                } else {
                    self.rng.random_range(lo..=hi)
                }
            })
            .collect();
        let kept: Vec<usize> = ratios
            .iter()
            .zip(&self.groups)
            .map(|(r, g)| {
                let units = r * g.free as f64;
                let rounded = (units / step as f64).round() as usize * step;
                rounded.clamp(1, g.free)
            })
            .collect();
        let mut net = self.measure(&kept)?;
        net.ratios = ratios;
        Ok(net)
    }

    /// Draw `n` subnetworks inside `regime` (and the ratio band, if set), trying at most
    /// `max_draws` in all; too few hits is an error saying how many were found.
    pub fn sample_in(
        &mut self,
        regime: Regime,
        n: usize,
        max_draws: usize,
    ) -> error::Result<Vec<Subnetwork>> {
        let band = self.config.ratio_band;
        let mut found = Vec::with_capacity(n);
        for _ in 0..max_draws {
            if found.len() == n {
                break;
            }
            let net = self.sample()?;
            let in_band = band.is_none_or(|(lo, hi)| (lo..=hi).contains(&net.flops_per_param()));
            if regime.contains(net.macs) && in_band {
                found.push(net);
            }
        }
        if found.len() < n {
            return Err(MetricsError::invalid(
                "pruning regime",
                format!(
                    "only {} of {n} subnetworks in [{}, {}] MACs after {max_draws} draws: widen the window, the keep range or the band",
                    found.len(),
                    regime.min_macs,
                    regime.max_macs
                ),
            ));
        }
        Ok(found)
    }
}

/// An empirical distribution function: the fraction of values at or below `x`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edf {
    sorted: Vec<f64>,
}

impl Edf {
    /// The EDF of `values` (NaN is an error).
    ///
    /// ```
    /// let edf = burn_prune_metrics::Edf::new(&[0.3, 0.1, 0.2, 0.4]).unwrap();
    /// assert_eq!(edf.at(0.2), 0.5);
    /// assert_eq!(edf.at(0.0), 0.0);
    /// assert_eq!(edf.quantile(0.25), 0.1);
    /// ```
    pub fn new(values: &[f64]) -> error::Result<Self> {
        if values.is_empty() {
            return Err(MetricsError::invalid("EDF values", "no values"));
        }
        if let Some(i) = values.iter().position(|v| v.is_nan()) {
            return Err(MetricsError::invalid(
                "EDF values",
                format!("value {i} is NaN"),
            ));
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Ok(Self { sorted })
    }

    /// Fraction of values `≤ x`.
    pub fn at(&self, x: f64) -> f64 {
        self.sorted.partition_point(|&v| v <= x) as f64 / self.sorted.len() as f64
    }

    /// The smallest value `v` with `at(v) ≥ p` (`p` clamped to `[0, 1]`).
    pub fn quantile(&self, p: f64) -> f64 {
        let n = self.sorted.len();
        let i = ((p.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n) - 1;
        self.sorted[i]
    }

    /// The step points `(value, fraction ≤ value)`, for plotting.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let n = self.sorted.len() as f64;
        self.sorted
            .iter()
            .enumerate()
            .map(|(i, &v)| (v, (i + 1) as f64 / n))
            .collect()
    }
}

/// The range of FLOPs-to-parameters ratios of the best `fraction` of `subnetworks` by
/// `error` (lower is better): the band to refine the space with.
pub fn ratio_band(
    subnetworks: &[Subnetwork],
    error: &[f64],
    fraction: f64,
) -> error::Result<(f64, f64)> {
    if subnetworks.len() != error.len() {
        return Err(MetricsError::Mismatch {
            context: "ratio band".into(),
            reason: format!("{} subnetworks, {} errors", subnetworks.len(), error.len()),
        });
    }
    if subnetworks.is_empty() || !(fraction > 0.0 && fraction <= 1.0) {
        return Err(MetricsError::invalid(
            "ratio band",
            format!(
                "need subnetworks and a fraction in (0, 1], got {} and {fraction}",
                subnetworks.len()
            ),
        ));
    }
    Edf::new(error)?;
    let mut order: Vec<usize> = (0..error.len()).collect();
    order.sort_by(|&a, &b| error[a].total_cmp(&error[b]));
    let best = ((fraction * error.len() as f64).ceil() as usize).max(1);
    let ratios = order[..best]
        .iter()
        .map(|&i| subnetworks[i].flops_per_param());
    Ok(
        ratios.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(r), hi.max(r))
        }),
    )
}

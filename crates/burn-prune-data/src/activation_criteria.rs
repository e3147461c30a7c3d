//! Criteria from captured activations: APoZ, mean activation, mutual information with the
//! labels. Channel scores for the core pruner (filter granularity) and for dependency groups.

use crate::error::{DataError, Result};
use crate::statistics::ChannelStatistics;
use burn_prune_core::structure::DependencyGraph;
use burn_prune_core::{Criterion, Granularity, ScoreContext, Scores};
use std::collections::BTreeMap;

/// Channel scores computed from captured activations, used as a core [`Criterion`] at filter
/// granularity (a conv's output channels, a linear layer's output columns) or as group
/// scores for the structural pruner ([`group_scores`](Self::group_scores)). Low scores go
/// first.
///
/// ```
/// use burn_prune_data::{ActivationCriterion, ChannelStatistics, TapPoint};
///
/// // Three channels over 100 values: channel 1 is zero 90 times, APoZ removes it first.
/// let stats = ChannelStatistics {
///     path: "fc.weight".into(),
///     point: TapPoint::Activation,
///     channels: 3,
///     samples: 100,
///     positions: 1,
///     zeros: vec![10, 90, 40],
///     sum: vec![90.0, 10.0, 60.0],
///     sum_squares: vec![90.0, 10.0, 60.0],
///     sample_means: vec![],
///     labels: None,
/// };
/// let apoz = ActivationCriterion::apoz(&[stats]);
/// let s = &apoz.scores()["fc.weight"];
/// assert!(s[1] < s[2] && s[2] < s[0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ActivationCriterion {
    name: &'static str,
    scores: BTreeMap<String, Vec<f32>>,
}

impl ActivationCriterion {
    /// APoZ (Hu et al. 2016): a channel whose values are often exactly 0 after the ReLU does
    /// little; the score is `1 − APoZ`, so the most often inactive channels go first. Use
    /// statistics at [`TapPoint::Activation`](crate::TapPoint::Activation).
    pub fn apoz(stats: &[ChannelStatistics]) -> Self {
        Self::from_fn("APoZ", stats, |s| {
            s.apoz().iter().map(|a| 1.0 - a).collect()
        })
    }

    /// Mean activation: channels with the smallest mean value go first (after a ReLU the
    /// mean is the mean magnitude).
    pub fn mean_activation(stats: &[ChannelStatistics]) -> Self {
        Self::from_fn("mean activation", stats, ChannelStatistics::mean)
    }

    /// Mutual information between each channel's per-sample mean activation and the labels
    /// (see [`mutual_information`]), `bins` equal-frequency bins: channels that tell the least
    /// about the class go first.
    ///
    /// Errors: statistics captured without labels; fewer than 2 bins.
    pub fn mutual_information(stats: &[ChannelStatistics], bins: usize) -> Result<Self> {
        let mut scores = BTreeMap::new();
        for s in stats {
            let labels = s.labels.as_ref().ok_or_else(|| DataError::Model {
                method: "mutual information",
                reason: format!("{}: the batches were captured without labels", s.path),
            })?;
            let mut out = Vec::with_capacity(s.channels);
            for c in 0..s.channels {
                let x: Vec<f32> = (0..s.samples)
                    .map(|i| s.sample_means[i * s.channels + c])
                    .collect();
                out.push(mutual_information(&x, labels, bins)? as f32);
            }
            scores.insert(s.path.clone(), out);
        }
        Ok(Self {
            name: "mutual information",
            scores,
        })
    }

    fn from_fn(
        name: &'static str,
        stats: &[ChannelStatistics],
        f: impl Fn(&ChannelStatistics) -> Vec<f64>,
    ) -> Self {
        let scores = stats
            .iter()
            .map(|s| (s.path.clone(), f(s).into_iter().map(|v| v as f32).collect()))
            .collect();
        Self { name, scores }
    }

    /// The channel scores per weight path.
    pub fn scores(&self) -> &BTreeMap<String, Vec<f32>> {
        &self.scores
    }

    /// One score per unit of every group of `graph`, for
    /// [`GroupPrunerConfig::keep_from_scores`](burn_prune_core::structure::GroupPrunerConfig::keep_from_scores):
    /// a unit's score is the mean over the scored layers whose output channels carry it.
    /// Groups no scored layer produces get 0 (with their units pinned or ignored, they are
    /// not ranked).
    ///
    /// Errors: a group with removable units that no scored layer produces.
    pub fn group_scores(&self, graph: &DependencyGraph) -> Result<Vec<Vec<f32>>> {
        let (scores, unscored) = self.partial_group_scores(graph);
        if let Some(&g) = unscored.first() {
            return Err(DataError::Model {
                method: self.name,
                reason: format!(
                    "group `{}`: no scored layer produces its channels; capture statistics \
                     for it",
                    graph.groups[g].root()
                ),
            });
        }
        Ok(scores)
    }

    /// [`group_scores`](Self::group_scores) without the error: groups with removable units
    /// that no scored layer produces score 0 and are listed (their indices in
    /// `graph.groups`), for a caller that keeps them whole (an ignored residual stream whose
    /// ReLU follows an addition, say).
    pub fn partial_group_scores(&self, graph: &DependencyGraph) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut out = Vec::with_capacity(graph.groups.len());
        let mut unscored = Vec::new();
        for (gi, g) in graph.groups.iter().enumerate() {
            let mut sum = vec![0f64; g.n_units];
            let mut count = vec![0u32; g.n_units];
            for m in &g.members {
                let Some(s) = self.scores.get(&m.path) else {
                    continue;
                };
                // The output axis: a conv weight's axis 0, a linear weight's axis 1.
                let out_axis = if graph.shapes.get(&m.path).is_some_and(|s| s.len() == 2) {
                    1
                } else {
                    0
                };
                if m.axis != out_axis || m.units.len() != s.len() {
                    continue;
                }
                for (channel, &u) in m.units.iter().enumerate() {
                    sum[u] += s[channel] as f64;
                    count[u] += 1;
                }
            }
            let free = (0..g.n_units).any(|u| !g.pinned.contains_key(&u));
            if free && count.iter().all(|&c| c == 0) {
                unscored.push(gi);
            }
            out.push(
                sum.iter()
                    .zip(&count)
                    .map(|(s, &c)| if c == 0 { 0.0 } else { (s / c as f64) as f32 })
                    .collect(),
            );
        }
        (out, unscored)
    }
}

impl Criterion for ActivationCriterion {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> burn_prune_core::Result<Scores> {
        if ctx.granularity() != Granularity::Filter {
            return Err(ctx.unsupported(
                self.name,
                "activation statistics score output channels: use filter granularity (or the \
                 structural pruner's group scores)",
            ));
        }
        let scores = self.scores.get(&ctx.param.path).ok_or_else(|| {
            ctx.unsupported(self.name, "no activation statistics were captured for it")
        })?;
        if scores.len() != ctx.units.n_units() {
            return Err(ctx.unsupported(
                self.name,
                format!(
                    "{} channels captured but {} filters",
                    scores.len(),
                    ctx.units.n_units()
                ),
            ));
        }
        Ok(Scores::Units(scores.clone()))
    }
}

/// The mutual information `I(X; Y)` in nats between a continuous value `x` (one per sample)
/// and integer labels `y`, by the plug-in estimate on `bins` equal-frequency bins of `x`:
/// `Σ_{b,y} p(b,y)·log(p(b,y) / (p(b)·p(y)))`.
///
/// Bin edges are the empirical quantiles of `x`; equal values always share a bin (a ReLU's
/// zeros form one bin however many there are), so there may be fewer than `bins` bins. The
/// plug-in estimate is biased upward by about `(bins − 1)(classes − 1)/(2n)`; compare
/// channels captured on the same samples.
///
/// Errors: lengths that differ, no sample, fewer than 2 bins, a non-finite value.
///
/// ```
/// use burn_prune_data::mutual_information;
///
/// // x determines the label exactly (two balanced classes): I = log 2.
/// let x = [0.1f32, 0.2, 0.9, 1.0];
/// let y = [0usize, 0, 1, 1];
/// assert!((mutual_information(&x, &y, 2).unwrap() - 2f64.ln()).abs() < 1e-12);
/// // A constant x says nothing.
/// assert_eq!(mutual_information(&[0.5; 4], &y, 4).unwrap(), 0.0);
/// ```
pub fn mutual_information(x: &[f32], y: &[usize], bins: usize) -> Result<f64> {
    if x.len() != y.len() {
        return Err(DataError::shape(
            "labels for the mutual information",
            x.len(),
            y.len(),
        ));
    }
    if x.is_empty() {
        return Err(DataError::invalid("mutual information", "no sample"));
    }
    if bins < 2 {
        return Err(DataError::invalid(
            "mutual information bins",
            format!("{bins} (need at least 2)"),
        ));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(DataError::invalid(
            "mutual information",
            format!("sample {i} is {}", x[i]),
        ));
    }
    let n = x.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    // Equal-frequency bins; a run of equal values is never split.
    let mut bin_of = vec![0usize; n];
    let mut bin = 0;
    for (rank, &i) in order.iter().enumerate() {
        if rank > 0 {
            let prev = order[rank - 1];
            let target = rank * bins / n;
            if x[i] != x[prev] && target > bin {
                bin = target;
            }
        }
        bin_of[i] = bin;
    }
    let classes = y.iter().max().map_or(0, |m| m + 1);
    let mut joint = vec![0usize; bins * classes];
    let mut pb = vec![0usize; bins];
    let mut py = vec![0usize; classes];
    for i in 0..n {
        joint[bin_of[i] * classes + y[i]] += 1;
        pb[bin_of[i]] += 1;
        py[y[i]] += 1;
    }
    let nf = n as f64;
    let mut mi = 0.0;
    for b in 0..bins {
        for c in 0..classes {
            let j = joint[b * classes + c];
            if j > 0 {
                let pj = j as f64 / nf;
                mi += pj * (pj / ((pb[b] as f64 / nf) * (py[c] as f64 / nf))).ln();
            }
        }
    }
    Ok(mi.max(0.0))
}

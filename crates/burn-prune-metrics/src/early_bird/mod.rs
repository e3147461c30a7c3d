//! Early-bird ticket detection and spline-partition analysis.
//!
//! Two detectors tell a training loop when the pruned structure of a network has settled, so
//! that it can stop training the dense model and prune early:
//!
//! - [`MaskDistanceDetector`] (You et al., *Drawing Early-Bird Tickets*, ICLR 2020): every epoch,
//!   a channel mask from a global threshold on BatchNorm `|γ|` ([`bn_channel_mask`]); the
//!   ticket is drawn when the newest mask is within a normalised Hamming distance of `0.1` of
//!   each of the previous four ([`EarlyBirdConfig`]).
//! - [`SplineEarlyBirdDetector`] (You, Balestriero et al., *Max-Affine Spline Insights Into Deep
//!   Network Pruning*, arXiv 2101.02338): every epoch, the binary activation patterns of the
//!   normalisation/ReLU layers over a 2-D grid of inputs `α·x₀ + β·x₁`
//!   ([`ActivationPatterns`], [`grid_coefficients`]); the ticket is drawn when the largest
//!   distance from the newest patterns to those of each of the previous three epochs is below
//!   `0.16` ([`SplineEarlyBirdConfig`]).
//!
//! [`PatternCapture`] records those patterns from a real model: it traces the model once and
//! replays the graph on the grid, on any backend with Burn's IR interpreter.
//!
//! [`spline_scores`] scores the units of one layer by the partition boundary they contribute in
//! the grid's region (redundant units score exactly `0`);
//! [`PatternCapture::group_scores`] turns them into scores of the structural pruner's
//! dependency groups (for
//! [`GroupPrunerConfig::plan_from_scores`](burn_prune_core::structure::GroupPrunerConfig::plan_from_scores)),
//! and [`partition_change`] measures how much pruning moved the partition.
//!
//! Both detectors number observations from `0` (the *epoch* of an [`EarlyBirdStatus`] is the
//! index of the observation); neither ever stops reporting: every observation is judged on its
//! own, and the first one that fires is remembered.

mod capture;
mod config;
mod mask_distance;
mod partition;
mod scores;
mod spline;

pub use capture::{PatternCapture, PatternCaptureConfig, PatternLayer};
pub use mask_distance::{
    BnChannelMask, BnLayer, EarlyBirdConfig, MaskDistanceDetector, bn_channel_mask, mask_distance,
};
pub use partition::{partition_boundaries, partition_change};
pub use scores::{
    Redundancy, UnitSplineScore, spline_channel_scores, spline_score_details, spline_scores,
};
pub use spline::{
    ActivationPatterns, DEFAULT_GRID_SIDE, LayerPattern, SplineEarlyBirdConfig,
    SplineEarlyBirdDetector, grid_coefficients, grid_coefficients_in, layer_distances,
    pattern_distance,
};

use burn_prune_core::BitMask;

/// What a detector concluded from one observation.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyBirdStatus {
    /// Index of this observation (`0` for the first one the detector saw).
    pub epoch: usize,
    /// Distances from this observation to each earlier one still held, oldest first. Shorter
    /// than the detector's look-back while its window is filling up.
    pub distances: Vec<f64>,
    /// Whether the window is full and the firing rule holds at this observation.
    pub emerged: bool,
    /// The first observation at which the rule held (this one or an earlier one), if any.
    pub first_emerged: Option<usize>,
}

impl EarlyBirdStatus {
    /// The largest of [`EarlyBirdStatus::distances`] (`None` when there is no earlier
    /// observation).
    pub fn max_distance(&self) -> Option<f64> {
        self.distances.iter().copied().reduce(f64::max)
    }
}

/// What both detectors remember besides the observations they compare: the newest
/// distances, how many observations there were and the first that fired.
#[derive(Clone, Debug, Default)]
struct Firing {
    distances: Vec<f64>,
    observations: usize,
    fired_at: Option<usize>,
}

impl Firing {
    /// Record one observation with its distances and whether the rule held.
    fn record(&mut self, distances: Vec<f64>, emerged: bool) -> EarlyBirdStatus {
        let epoch = self.observations;
        self.observations += 1;
        if emerged && self.fired_at.is_none() {
            self.fired_at = Some(epoch);
        }
        self.distances = distances;
        EarlyBirdStatus {
            epoch,
            distances: self.distances.clone(),
            emerged,
            first_emerged: self.fired_at,
        }
    }
}

/// Number of positions at which two equally long packed bit vectors differ.
///
/// `BitMask` keeps the unused bits of its last word zero, so a word-wise XOR counts exactly.
fn differing_bits(a: &BitMask, b: &BitMask) -> usize {
    debug_assert_eq!(a.len(), b.len());
    a.words()
        .iter()
        .zip(b.words())
        .map(|(x, y)| (x ^ y).count_ones() as usize)
        .sum()
}

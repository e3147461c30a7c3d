//! Iterative pruning: `k` rounds of prune-then-train.

use super::{SparsitySchedule, check_positive, check_sparsity, last_step};
use crate::error::{self, ScheduleError};
use burn::config::Config;
use serde::{Deserialize, Serialize};

/// How the sparsity grows from round to round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoundSpacing {
    /// Every round removes the same fraction of the weights that remain:
    /// sparsity `1 − (1 − s)^{j/k}` after round `j` of `k` (lottery-ticket IMP).
    Geometric,
    /// Every round removes the same fraction of all weights: sparsity `s·j/k`.
    Linear,
}

/// Configuration of an [`Iterative`] schedule.
///
/// Round `j` (`1..=k`) prunes at step `begin + (j − 1)·interval`; the steps in between are
/// the training of that round.
///
/// ```
/// use burn_prune_schedule::{IterativeConfig, SparsitySchedule};
///
/// // Lottery-ticket style: 20% of what remains, 3 rounds of 1000 steps.
/// let schedule = IterativeConfig::per_round(0.2, 3, 1000).init().unwrap();
/// assert!((schedule.sparsity(0) - 0.2).abs() < 1e-12);
/// assert!((schedule.sparsity(1000) - 0.36).abs() < 1e-12);
/// assert!((schedule.final_sparsity() - 0.488).abs() < 1e-12);
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct IterativeConfig {
    /// The sparsity after the last round, in `[0, 1)`.
    pub sparsity: f64,
    /// The number of rounds `k`.
    pub rounds: u64,
    /// Steps per round (the pruner runs at the start of each round).
    pub interval: u64,
    /// The step of the first round.
    #[config(default = 0)]
    pub begin: u64,
    /// How the sparsity grows from round to round.
    #[config(default = "RoundSpacing::Geometric")]
    pub spacing: RoundSpacing,
}

impl IterativeConfig {
    /// `rounds` rounds that each remove `fraction` of the weights that remain, `interval`
    /// steps apart: final sparsity `1 − (1 − fraction)^rounds`.
    pub fn per_round(fraction: f64, rounds: u64, interval: u64) -> Self {
        let rounds_i = i32::try_from(rounds).unwrap_or(i32::MAX);
        Self::new(1.0 - (1.0 - fraction).powi(rounds_i), rounds, interval)
    }

    /// Check the configuration and build the schedule.
    ///
    /// Errors: a sparsity outside `[0, 1)`, zero rounds or a zero interval, a last round past
    /// `u64::MAX`.
    pub fn init(&self) -> error::Result<Iterative> {
        check_sparsity(self.sparsity, "iterative final sparsity")?;
        check_positive(self.rounds, "iterative rounds")?;
        check_positive(self.interval, "iterative interval")?;
        last_step(
            self.begin,
            self.rounds - 1,
            self.interval,
            "iterative schedule",
        )?;
        if u32::try_from(self.rounds).is_err() {
            return Err(ScheduleError::invalid(
                "iterative rounds",
                format!("{} rounds is more than u32::MAX", self.rounds),
            ));
        }
        Ok(Iterative {
            config: self.clone(),
        })
    }
}

/// `k` rounds, each pruning at its first step; see [`IterativeConfig`].
#[derive(Clone, Debug)]
pub struct Iterative {
    config: IterativeConfig,
}

impl Iterative {
    /// The sparsity after round `round` (`0` = before the first round, `k` = the final one).
    pub fn after_round(&self, round: u64) -> f64 {
        let c = &self.config;
        let j = round.min(c.rounds) as f64;
        let k = c.rounds as f64;
        match c.spacing {
            RoundSpacing::Geometric => 1.0 - (1.0 - c.sparsity).powf(j / k),
            RoundSpacing::Linear => c.sparsity * j / k,
        }
    }
}

impl SparsitySchedule for Iterative {
    fn sparsity(&self, step: u64) -> f64 {
        let c = &self.config;
        if step < c.begin {
            return 0.0;
        }
        self.after_round((step - c.begin) / c.interval + 1)
    }

    fn is_update(&self, step: u64) -> bool {
        let c = &self.config;
        step >= c.begin
            && (step - c.begin).is_multiple_of(c.interval)
            && (step - c.begin) / c.interval < c.rounds
    }

    fn update_steps(&self) -> Vec<u64> {
        let c = &self.config;
        (0..c.rounds).map(|j| c.begin + j * c.interval).collect()
    }
}

//! Sparsity schedules: the target sparsity after each optimizer step.
//!
//! Every schedule answers two questions for a step `t` (the number of optimizer steps taken
//! so far, counted from 0 before the first step): which sparsity the masks should hold once
//! the pruner has run at `t` ([`SparsitySchedule::sparsity`]), and whether the masks are
//! recomputed at `t` ([`SparsitySchedule::is_update`]). Between updates the sparsity holds
//! its last value; before a schedule begins it is `0` (the model is dense).
//!
//! | schedule | config | sparsity at its `j`-th update |
//! |---|---|---|
//! | one-shot | [`OneShotConfig`] | `s` |
//! | iterative, geometric | [`IterativeConfig`] | `1 − (1 − s)^{j/k}`, `j = 1..k` |
//! | iterative, linear | [`IterativeConfig`] | `s·j/k` |
//! | AGP (Zhu & Gupta 2017) | [`GradualConfig::agp`] | `s_f + (s_i − s_f)(1 − j/n)^3`, `j = 0..n` |
//! | cosine | [`GradualConfig::cosine`] | `s_f + (s_i − s_f)(1 + cos(πj/n))/2` |
//! | one-cycle (fasterai) | [`GradualConfig::one_cycle`] | `s_i + (s_f − s_i)(1 + e^{β−α})/(1 + e^{β−αj/n})` |

mod gradual;
mod iterative;
mod one_shot;

pub use gradual::{Curve, Gradual, GradualConfig};
pub use iterative::{Iterative, IterativeConfig, RoundSpacing};
pub use one_shot::{OneShot, OneShotConfig};

use crate::error::{Result, ScheduleError};
use serde::{Deserialize, Serialize};

/// A sparsity schedule: the target sparsity at every optimizer step.
///
/// Implement it to add a schedule; [`crate::ScheduledPruner`] only calls these methods. The
/// answers must depend on `step` alone (no interior state), so that every worker of a
/// multi-device run computes the same masks.
pub trait SparsitySchedule: std::fmt::Debug + Send + Sync {
    /// The sparsity (fraction of pruned units, in `[0, 1)`) the masks hold once the pruner
    /// has run at `step`.
    fn sparsity(&self, step: u64) -> f64;

    /// Whether the masks are recomputed at `step`.
    fn is_update(&self, step: u64) -> bool;

    /// Every step at which the masks are recomputed, in increasing order.
    fn update_steps(&self) -> Vec<u64>;

    /// The sparsity once the schedule has ended.
    fn final_sparsity(&self) -> f64 {
        self.update_steps()
            .last()
            .map_or(0.0, |&last| self.sparsity(last))
    }
}

/// Any schedule of this crate, as a serializable configuration (for recipes and
/// checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScheduleConfig {
    /// Everything at one step.
    OneShot(OneShotConfig),
    /// `k` rounds of prune-then-train.
    Iterative(IterativeConfig),
    /// A curve sampled every `interval` steps (AGP, cosine, one-cycle).
    Gradual(GradualConfig),
}

impl ScheduleConfig {
    /// Check the configuration and build the schedule.
    pub fn init(&self) -> Result<Box<dyn SparsitySchedule>> {
        Ok(match self {
            Self::OneShot(c) => Box::new(c.init()?),
            Self::Iterative(c) => Box::new(c.init()?),
            Self::Gradual(c) => Box::new(c.init()?),
        })
    }
}

impl From<OneShotConfig> for ScheduleConfig {
    fn from(c: OneShotConfig) -> Self {
        Self::OneShot(c)
    }
}
impl From<IterativeConfig> for ScheduleConfig {
    fn from(c: IterativeConfig) -> Self {
        Self::Iterative(c)
    }
}
impl From<GradualConfig> for ScheduleConfig {
    fn from(c: GradualConfig) -> Self {
        Self::Gradual(c)
    }
}

pub(crate) fn check_sparsity(value: f64, what: &str) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(ScheduleError::invalid(
            what,
            format!("{value} is outside [0, 1)"),
        ))
    }
}

pub(crate) fn check_positive(value: u64, what: &str) -> Result<()> {
    if value == 0 {
        Err(ScheduleError::invalid(what, "it must be at least 1"))
    } else {
        Ok(())
    }
}

/// `begin + count·interval`, or an error naming the schedule when it overflows `u64`.
pub(crate) fn last_step(begin: u64, count: u64, interval: u64, what: &str) -> Result<u64> {
    count
        .checked_mul(interval)
        .and_then(|d| d.checked_add(begin))
        .ok_or_else(|| {
            ScheduleError::invalid(
                what,
                format!("begin {begin} + {count} × interval {interval} overflows a step count"),
            )
        })
}

//! One-shot: prune to the target at one step.

use super::{SparsitySchedule, check_sparsity};
use crate::error;
use burn::config::Config;

/// Configuration of a [`OneShot`] schedule.
///
/// ```
/// use burn_prune_schedule::{OneShotConfig, SparsitySchedule};
///
/// let schedule = OneShotConfig::new(0.8).with_step(100).init().unwrap();
/// assert_eq!(schedule.sparsity(99), 0.0);
/// assert!(schedule.is_update(100));
/// assert_eq!(schedule.sparsity(100), 0.8);
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct OneShotConfig {
    /// The sparsity, in `[0, 1)`.
    pub sparsity: f64,
    /// The step at which the masks are computed (`0`: before training).
    #[config(default = 0)]
    pub step: u64,
}

impl OneShotConfig {
    /// Check the configuration and build the schedule. Errors: a sparsity outside `[0, 1)`.
    pub fn init(&self) -> error::Result<OneShot> {
        check_sparsity(self.sparsity, "one-shot sparsity")?;
        Ok(OneShot {
            config: self.clone(),
        })
    }
}

/// Dense until [`OneShotConfig::step`], then the target sparsity.
#[derive(Clone, Debug)]
pub struct OneShot {
    config: OneShotConfig,
}

impl SparsitySchedule for OneShot {
    fn sparsity(&self, step: u64) -> f64 {
        if step < self.config.step {
            0.0
        } else {
            self.config.sparsity
        }
    }

    fn is_update(&self, step: u64) -> bool {
        step == self.config.step
    }

    fn update_steps(&self) -> Vec<u64> {
        vec![self.config.step]
    }
}

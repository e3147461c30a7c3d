//! The error type of `burn-prune-schedule`.

use burn_prune_core::PruneError;
use burn_prune_metrics::MetricsError;
use thiserror::Error;

/// Everything that can go wrong while scheduling or running a training-time method. Each
/// variant says what was wrong and where.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// Scoring, selecting, installing masks or compacting failed in the core crate.
    #[error(transparent)]
    Prune(#[from] PruneError),
    /// Measuring (MACs, early-bird masks) failed in the metrics crate.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A configuration value is out of its range (`what` names it, `reason` says why).
    #[error("invalid {what}: {reason}")]
    InvalidConfig {
        /// The setting (`"AGP final sparsity"`, `"iterative rounds"`, ...).
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The model does not fit the method (no BatchNorm for slimming, a stored state taken
    /// from another model, ...).
    #[error("{method}: {reason}")]
    Model {
        /// The method (`"network slimming"`, `"lottery rewinding"`, ...).
        method: &'static str,
        /// What is wrong with the model, naming the parameter.
        reason: String,
    },
}

impl ScheduleError {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// The result type of `burn-prune-schedule`.
pub type Result<T> = std::result::Result<T, ScheduleError>;

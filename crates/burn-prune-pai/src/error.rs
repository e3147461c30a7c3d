//! The error type of `burn-prune-pai`.

use burn_prune_core::PruneError;
use burn_prune_metrics::MetricsError;
use thiserror::Error;

/// Everything that can go wrong while pruning at initialization. Each variant says what was
/// wrong and where.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PaiError {
    /// Scoring, selecting, installing masks, tracing or compacting failed in the core crate.
    #[error(transparent)]
    Prune(#[from] PruneError),
    /// Measuring parameters or MACs failed in the metrics crate.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A configuration value is out of its range (`what` names it, `reason` says why).
    #[error("invalid {what}: {reason}")]
    InvalidConfig {
        /// The setting (`"SynFlow rounds"`, `"GraSP temperature"`, ...).
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The model or the data do not fit the method.
    #[error("{method}: {reason}")]
    Model {
        /// The method (`"SynFlow"`, `"GraSP"`, `"PreCrop"`, ...).
        method: &'static str,
        /// What is wrong, naming the parameter, layer or op.
        reason: String,
    },
    /// The convex program has no solution or the solver did not converge.
    #[error("{problem}: {reason}")]
    Solver {
        /// The problem (`"PreCrop"`, `"PreConfig"`, `"layer-wise densities"`).
        problem: String,
        /// Why: infeasible budgets (with the smallest feasible value), unbounded variables,
        /// no convergence.
        reason: String,
    },
}

impl PaiError {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// The result type of `burn-prune-pai`.
pub type Result<T> = std::result::Result<T, PaiError>;

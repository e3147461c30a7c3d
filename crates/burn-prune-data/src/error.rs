//! The error type of `burn-prune-data`.

use burn_prune_core::PruneError;
use thiserror::Error;

/// Everything that can go wrong while capturing activations or scoring with them. Each
/// variant says what was wrong and where.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// Tracing, replaying, selecting or installing masks failed in the core crate.
    #[error(transparent)]
    Prune(#[from] PruneError),
    /// A configuration value is out of its range (`what` names it, `reason` says why).
    #[error("invalid {what}: {reason}")]
    InvalidConfig {
        /// The setting (`"MI bins"`, `"OBS damping"`, ...).
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Inputs whose sizes do not fit together (`what` names them).
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// What was measured (`"contributions of layer2.conv"`, `"labels"`, ...).
        what: String,
        /// The expected size or shape.
        expected: String,
        /// The size or shape given.
        got: String,
    },
    /// The model, its captured activations or the data do not fit the method.
    #[error("{method}: {reason}")]
    Model {
        /// The method (`"APoZ"`, `"ThiNet"`, `"OBS"`, ...).
        method: &'static str,
        /// What is wrong, naming the layer, parameter or op.
        reason: String,
    },
    /// A linear system could not be solved (a matrix is not positive definite even after
    /// damping, or a value is not finite).
    #[error("{problem}: {reason}")]
    Numerical {
        /// The computation (`"OBS inverse Hessian of fc.weight"`, `"ThiNet least squares"`).
        problem: String,
        /// Why.
        reason: String,
    },
}

impl DataError {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn shape(
        what: impl Into<String>,
        expected: impl ToString,
        got: impl ToString,
    ) -> Self {
        Self::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}

/// The result type of `burn-prune-data`.
pub type Result<T> = std::result::Result<T, DataError>;

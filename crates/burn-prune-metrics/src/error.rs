//! The error type of `burn-prune-metrics`.

use burn_prune_core::PruneError;
use thiserror::Error;

/// Everything that can go wrong while measuring. Each variant says what was wrong and where.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// Tracing, reading parameters or planning failed in the core crate.
    #[error(transparent)]
    Prune(#[from] PruneError),
    /// An argument is out of its range (`what` names it, `reason` says why).
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// The argument (`"runs"`, `"keep ratio range"`, ...).
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Two things that must agree do not (a report row and a model, two counts, ...).
    #[error("mismatch in {context}: {reason}")]
    Mismatch {
        /// Where the mismatch was found.
        context: String,
        /// What differs.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done (`"writing"`, `"creating directory"`).
        action: String,
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Serialising to or from JSON failed.
    #[error("JSON {context}: {reason}")]
    Json {
        /// What was being (de)serialised.
        context: String,
        /// The serde error.
        reason: String,
    },
    /// Drawing a plot failed.
    #[error("plotting {plot}: {reason}")]
    Plot {
        /// The plot (`"density bars"`, ...).
        plot: String,
        /// What the drawing backend said.
        reason: String,
    },
}

/// `Result` with [`MetricsError`].
pub type Result<T> = std::result::Result<T, MetricsError>;

impl MetricsError {
    /// An [`MetricsError::InvalidArgument`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

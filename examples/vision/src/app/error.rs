//! Errors of the command line: those of every crate it drives, plus its own (recipes,
//! checkpoints, arguments), each saying what and where.

use std::path::PathBuf;
use thiserror::Error;

/// Anything a command can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AppError {
    /// Dataset files (CIFAR-10, Fashion-MNIST): missing or corrupt files, downloads.
    #[error(transparent)]
    Data(#[from] crate::DataError),
    /// The core pruner (masks, criteria, dependency graph, compaction).
    #[error("pruning: {0}")]
    Prune(#[from] burn_prune::PruneError),
    /// Schedules and training-time methods.
    #[error("schedule: {0}")]
    Schedule(#[from] burn_prune::schedule::ScheduleError),
    /// Pruning at initialization.
    #[error("pruning at initialization: {0}")]
    Pai(#[from] burn_prune::pai::PaiError),
    /// Data-driven criteria.
    #[error("data-driven criterion: {0}")]
    Criterion(#[from] burn_prune::data::DataError),
    /// Metrics, reports, plots.
    #[error("metrics: {0}")]
    Metrics(#[from] burn_prune::metrics::MetricsError),
    /// A model configuration.
    #[error("model: {0}")]
    Model(#[from] burn_prune::models::ModelError),
    /// A recipe file that cannot be read or does not describe a valid run.
    #[error("recipe {path}: {reason}")]
    Recipe {
        /// The recipe file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint that is missing, incomplete or from an incompatible run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Arguments that do not fit together or are out of range.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The argument or setting.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The device asked for is not available.
    #[error("device {device}: {reason}")]
    Device {
        /// The device name.
        device: String,
        /// What failed.
        reason: String,
    },
    /// Training stopped early as asked (`--stop-after-epochs`), its checkpoint saved: the same
    /// command continues it.
    #[error(
        "run `{run}` stopped after epoch {epochs_done} of {epochs} as asked (--stop-after-epochs); \
         its checkpoint is in {}: run the same command again to continue",
        dir.display()
    )]
    Stopped {
        /// The run.
        run: String,
        /// Epochs trained so far.
        epochs_done: usize,
        /// Epochs of the whole run.
        epochs: usize,
        /// Its directory.
        dir: PathBuf,
    },
}

impl AppError {
    /// An invalid argument or setting.
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// A checkpoint problem.
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// The command line's result type.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

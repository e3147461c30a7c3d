//! Errors of the datasets (CIFAR-10, Fashion-MNIST, generated) and the download.

use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong reading, fetching or batching a dataset. Each variant names
/// the file (and the record, where one is at fault) and says what was expected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file of the dataset is not there.
    #[error("{dataset} file {path} is missing ({hint})")]
    Missing {
        /// The dataset (`CIFAR-10`, `Fashion-MNIST`).
        dataset: &'static str,
        /// The file looked for.
        path: PathBuf,
        /// What was expected there and how to get it.
        hint: String,
    },
    /// A file is there but does not hold what the dataset's format says.
    #[error("{path} is corrupt{}: {reason}", record.map_or(String::new(), |r| format!(" at record {r}")))]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The record (0-based) at fault, when one is.
        record: Option<usize>,
        /// What was expected and what was found.
        reason: String,
    },
    /// Two files of one split disagree (an image file and its label file).
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Its item count.
        image_count: usize,
        /// The label file.
        labels: PathBuf,
        /// Its item count.
        label_count: usize,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Downloading failed.
    #[error("downloading {url}: {reason}")]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// An item index beyond the dataset.
    #[error("item {index} of a dataset of {len}")]
    IndexOutOfBounds {
        /// The index asked for.
        index: usize,
        /// The number of items.
        len: usize,
    },
    /// A setting is out of its range.
    #[error("invalid {what}: {reason}")]
    InvalidConfig {
        /// The setting.
        what: String,
        /// Why.
        reason: String,
    },
}

impl DataError {
    /// A [`DataError::Corrupt`] of a whole file.
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.into(),
            record: None,
            reason: reason.into(),
        }
    }

    /// A [`DataError::Io`] for `path`, or [`DataError::Missing`] when it does not exist.
    pub(crate) fn read(
        dataset: &'static str,
        path: &std::path::Path,
        hint: &str,
        source: std::io::Error,
    ) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => Self::Missing {
                dataset,
                path: path.to_path_buf(),
                hint: hint.to_string(),
            },
            _ => Self::Io {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

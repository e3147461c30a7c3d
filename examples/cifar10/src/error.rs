//! Errors of the CIFAR-10 data and tools.

use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong reading, fetching or using CIFAR-10. Each variant names the
/// file and says what was expected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Cifar10Error {
    /// A file of the dataset is not there.
    #[error(
        "CIFAR-10 file {path} is missing (expected the binary version: data_batch_1.bin … data_batch_5.bin and test_batch.bin; download it with `cifar10 download`)"
    )]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// A file is there but is not what the official archive holds.
    #[error("CIFAR-10 file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        reason: String,
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

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Cifar10Error>;

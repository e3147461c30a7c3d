//! # burn-prune-cifar10
//!
//! CIFAR-10 for the burn-prune examples: the official binary format read into Burn's
//! [`Dataset`](burn::data::dataset::Dataset), a [`Batcher`](burn::data::dataloader::batcher::Batcher)
//! with the usual normalisation and augmentation (random crop with 4-pixel padding,
//! horizontal flip), and a resumable, checksummed [`Download`] of the official archive.
//!
//! ```no_run
//! use burn::data::dataset::Dataset;
//! use burn_prune_cifar10::{Cifar10Dataset, Split};
//!
//! let train = Cifar10Dataset::new("data/cifar-10-batches-bin", Split::Train).unwrap();
//! assert_eq!(train.len(), 50_000);
//! ```
#![warn(missing_docs)]

pub mod app;
mod data;
mod download;
mod error;

pub use data::{
    Augmentation, CLASSES, Cifar10Batch, Cifar10Batcher, Cifar10Dataset, Cifar10Item, IMAGE_BYTES,
    MEAN, RECORD_BYTES, RECORDS_PER_FILE, SIDE, STD, Split, normalize, split_paths,
};
pub use download::{ARCHIVE, BATCHES_DIR, CIFAR10_MD5, CIFAR10_URL, Download, is_complete, md5_of};
pub use error::{Cifar10Error, Result};

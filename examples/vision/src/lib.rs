//! # burn-prune-vision
//!
//! Image data for the burn-prune examples and the `prune-vision` command line:
//!
//! - **CIFAR-10** (the official binary format, 3 × 32 × 32) with a resumable, checksummed
//!   [`Download`] of the official archive;
//! - **Fashion-MNIST** (the IDX format, raw or gzip, 1 × 28 × 28), which Debian installs
//!   offline (`apt-get install dataset-fashion-mnist`);
//!
//! each as Burn's [`Dataset`](burn::data::dataset::Dataset) of [`ImageItem`]s, with strict
//! checks that name the file and record at fault, and one
//! [`Batcher`](burn::data::dataloader::batcher::Batcher) ([`ImageBatcher`]) with the
//! dataset's normalisation and augmentation (random crop of the padded image, horizontal
//! flip). [`DatasetKind`] says what each dataset fixes.
//!
//! ```no_run
//! use burn::data::dataset::Dataset;
//! use burn_prune_vision::{Cifar10Dataset, FashionMnistDataset, Split, fashion_mnist};
//!
//! let train = Cifar10Dataset::new("data/cifar-10-batches-bin", Split::Train).unwrap();
//! assert_eq!(train.len(), 50_000);
//! let test = FashionMnistDataset::new(fashion_mnist::DEBIAN_DIR, Split::Test).unwrap();
//! assert_eq!(test.len(), 10_000);
//! ```
#![warn(missing_docs)]

pub mod app;
pub mod cifar10;
mod dataset;
mod download;
mod error;
pub mod fashion_mnist;
pub mod idx;
mod image;

pub use cifar10::{Cifar10Dataset, IMAGE_BYTES, RECORD_BYTES, RECORDS_PER_FILE, split_paths};
pub use dataset::{DatasetKind, Split};
pub use download::{ARCHIVE, BATCHES_DIR, CIFAR10_MD5, CIFAR10_URL, Download, is_complete, md5_of};
pub use error::{DataError, Result};
pub use fashion_mnist::FashionMnistDataset;
pub use image::{Augmentation, ImageBatch, ImageBatcher, ImageItem, ImageShape, Normalization};

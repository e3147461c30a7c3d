//! Where a command's images come from: the CIFAR-10 files (downloaded on request) or the
//! generated `--synthetic` set, optionally cut to the first `n` images.

use super::error::Result;
use super::synthetic::SyntheticCifar10;
use crate::{BATCHES_DIR, Cifar10Dataset, Cifar10Item, Download, Split, is_complete};
use burn::data::dataset::{Dataset, DatasetError};
use std::path::PathBuf;
use std::sync::Arc;

/// Images used by `--synthetic` unless limits say otherwise: enough for the accuracy to rise
/// well above chance, few enough for the whole pipeline to run in under a minute on a CPU.
pub const SYNTHETIC_TRAIN: usize = 192;
/// Test images of `--synthetic`.
pub const SYNTHETIC_TEST: usize = 96;

/// How to get the data.
#[derive(Clone, Debug)]
pub struct DataConfig {
    /// Generated images instead of CIFAR-10.
    pub synthetic: bool,
    /// Directory holding (or to receive) `cifar-10-batches-bin`.
    pub root: PathBuf,
    /// Fetch the archive when the files are missing.
    pub download: bool,
    /// Use only the first `n` training images.
    pub train_limit: Option<usize>,
    /// Use only the first `n` test images.
    pub test_limit: Option<usize>,
}

/// One split, shared cheaply between commands.
pub type Images = Arc<dyn Dataset<Cifar10Item>>;

/// The training and test images.
#[derive(Clone)]
pub struct Splits {
    /// Training images (augmented when batched for training).
    pub train: Images,
    /// Test images.
    pub test: Images,
    /// What the images are, for reports.
    pub label: String,
}

impl DataConfig {
    /// Open (or generate, or download then open) both splits.
    ///
    /// Errors: missing or corrupt files (naming the file and what was expected), download
    /// failures.
    pub fn load(&self) -> Result<Splits> {
        let (train, test): (Images, Images) = if self.synthetic {
            (
                Arc::new(SyntheticCifar10::new(
                    self.train_limit.unwrap_or(SYNTHETIC_TRAIN),
                    1,
                )),
                Arc::new(SyntheticCifar10::new(
                    self.test_limit.unwrap_or(SYNTHETIC_TEST),
                    2,
                )),
            )
        } else {
            let dir = self.root.join(BATCHES_DIR);
            if self.download && !is_complete(&self.root) {
                Download::default().fetch(&self.root)?;
            }
            (
                limit(
                    Arc::new(Cifar10Dataset::new(&dir, Split::Train)?),
                    self.train_limit,
                ),
                limit(
                    Arc::new(Cifar10Dataset::new(&dir, Split::Test)?),
                    self.test_limit,
                ),
            )
        };
        let label = format!(
            "{} ({} training / {} test images)",
            if self.synthetic {
                "synthetic CIFAR-shaped data"
            } else {
                "CIFAR-10"
            },
            train.len(),
            test.len()
        );
        Ok(Splits { train, test, label })
    }
}

fn limit(images: Images, n: Option<usize>) -> Images {
    match n {
        Some(n) if n < images.len() => Arc::new(First { images, n }),
        _ => images,
    }
}

/// The first `n` items of a dataset.
struct First {
    images: Images,
    n: usize,
}

impl Dataset<Cifar10Item> for First {
    fn get(&self, index: usize) -> std::result::Result<Cifar10Item, DatasetError> {
        if index < self.n {
            self.images.get(index)
        } else {
            Err(DatasetError::new(crate::Cifar10Error::IndexOutOfBounds {
                index,
                len: self.n,
            }))
        }
    }

    fn len(&self) -> usize {
        self.n
    }
}

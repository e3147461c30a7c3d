//! Where a command's images come from: the dataset's files (CIFAR-10 downloaded on request,
//! Fashion-MNIST from Debian's package) or the generated `--synthetic` set of the dataset's
//! shape, optionally cut to the first `n` images.

use super::error::Result;
use super::synthetic::SyntheticImages;
use crate::{
    BATCHES_DIR, Cifar10Dataset, DatasetKind, Download, FashionMnistDataset, ImageItem, Split,
    is_complete,
};
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
    /// The dataset.
    pub dataset: DatasetKind,
    /// Generated images of the dataset's shape instead of its files.
    pub synthetic: bool,
    /// Directory holding (or to receive) `cifar-10-batches-bin`, or holding Fashion-MNIST's
    /// four IDX files.
    pub root: PathBuf,
    /// Fetch the CIFAR-10 archive when the files are missing.
    pub download: bool,
    /// Use only the first `n` training images.
    pub train_limit: Option<usize>,
    /// Use only the first `n` test images.
    pub test_limit: Option<usize>,
}

/// One split, shared cheaply between commands.
pub type Images = Arc<dyn Dataset<ImageItem>>;

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
        let shape = self.dataset.shape();
        let (train, test): (Images, Images) = if self.synthetic {
            (
                Arc::new(SyntheticImages::new(
                    shape,
                    self.train_limit.unwrap_or(SYNTHETIC_TRAIN),
                    1,
                )),
                Arc::new(SyntheticImages::new(
                    shape,
                    self.test_limit.unwrap_or(SYNTHETIC_TEST),
                    2,
                )),
            )
        } else {
            let (train, test): (Images, Images) = match self.dataset {
                DatasetKind::Cifar10 => {
                    let dir = self.root.join(BATCHES_DIR);
                    if self.download && !is_complete(&self.root) {
                        Download::default().fetch(&self.root)?;
                    }
                    (
                        Arc::new(Cifar10Dataset::new(&dir, Split::Train)?),
                        Arc::new(Cifar10Dataset::new(&dir, Split::Test)?),
                    )
                }
                DatasetKind::FashionMnist => (
                    Arc::new(FashionMnistDataset::new(&self.root, Split::Train)?),
                    Arc::new(FashionMnistDataset::new(&self.root, Split::Test)?),
                ),
            };
            (limit(train, self.train_limit), limit(test, self.test_limit))
        };
        let label = format!(
            "{} ({} training / {} test images)",
            if self.synthetic {
                format!(
                    "synthetic {}-shaped data ({}×{}×{})",
                    self.dataset.title(),
                    shape.channels,
                    shape.side,
                    shape.side
                )
            } else {
                self.dataset.title().to_string()
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

impl Dataset<ImageItem> for First {
    fn get(&self, index: usize) -> std::result::Result<ImageItem, DatasetError> {
        if index < self.n {
            self.images.get(index)
        } else {
            Err(DatasetError::new(crate::DataError::IndexOutOfBounds {
                index,
                len: self.n,
            }))
        }
    }

    fn len(&self) -> usize {
        self.n
    }
}

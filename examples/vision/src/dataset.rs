//! The datasets the example handles, and what each one fixes: image shape, classes,
//! normalisation, augmentation and where its files are.

use crate::image::{Augmentation, ImageShape, Normalization};
use crate::{cifar10, fashion_mnist};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which part of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// The training images.
    Train,
    /// The test images.
    Test,
}

/// A dataset by name, as `--dataset` writes it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// CIFAR-10: 60,000 colour images 3 × 32 × 32 (binary version; `download` fetches it).
    #[default]
    Cifar10,
    /// Fashion-MNIST: 70,000 grayscale images 1 × 28 × 28 (IDX files; Debian's
    /// `dataset-fashion-mnist` installs them).
    FashionMnist,
}

impl DatasetKind {
    /// The name as written on the command line (`cifar10`, `fashion-mnist`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cifar10 => "cifar10",
            Self::FashionMnist => "fashion-mnist",
        }
    }

    /// The name as papers write it (`CIFAR-10`, `Fashion-MNIST`).
    pub fn title(self) -> &'static str {
        match self {
            Self::Cifar10 => "CIFAR-10",
            Self::FashionMnist => "Fashion-MNIST",
        }
    }

    /// The image layout.
    pub fn shape(self) -> ImageShape {
        match self {
            Self::Cifar10 => cifar10::SHAPE,
            Self::FashionMnist => fashion_mnist::SHAPE,
        }
    }

    /// The class names, by label.
    pub fn classes(self) -> &'static [&'static str; 10] {
        match self {
            Self::Cifar10 => &cifar10::CLASSES,
            Self::FashionMnist => &fashion_mnist::CLASSES,
        }
    }

    /// The per-channel normalisation of the training images.
    pub fn normalization(self) -> Normalization {
        match self {
            Self::Cifar10 => cifar10::normalization(),
            Self::FashionMnist => fashion_mnist::normalization(),
        }
    }

    /// The training augmentation: random crop of the zero-padded image and horizontal flip;
    /// padding 4 for CIFAR-10's 32-pixel images, 2 for Fashion-MNIST's 28 (both an eighth of
    /// the side, rounded down to what the papers use). Clothing is left-right symmetric, so
    /// the flip fits both.
    pub fn augmentation(self) -> Augmentation {
        match self {
            Self::Cifar10 => Augmentation::default(),
            Self::FashionMnist => Augmentation {
                padding: 2,
                flip: 0.5,
            },
        }
    }

    /// Where `--data` points when it is not given: `data` (CIFAR-10 is downloaded there) or
    /// Debian's [`fashion_mnist::DEBIAN_DIR`].
    pub fn default_dir(self) -> PathBuf {
        match self {
            Self::Cifar10 => PathBuf::from("data"),
            Self::FashionMnist => PathBuf::from(fashion_mnist::DEBIAN_DIR),
        }
    }

    /// The shape `[batch, channels, side, side]` of a batch of `batch` images.
    pub fn input(self, batch: usize) -> [usize; 4] {
        self.shape().batch(batch)
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title())
    }
}

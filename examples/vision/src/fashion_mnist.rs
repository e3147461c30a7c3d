//! Fashion-MNIST (Xiao et al. 2017): 70,000 grayscale 28 × 28 images of clothing in 10
//! classes, from its four IDX files (raw or gzip), as Burn's `Dataset`.
//!
//! Debian packages the full set offline: `apt-get install dataset-fashion-mnist` puts the
//! four `.gz` files under [`DEBIAN_DIR`].

use crate::dataset::Split;
use crate::error::{DataError, Result};
use crate::idx::IdxArray;
use crate::image::{ImageItem, ImageShape, Normalization};
use burn::data::dataset::{Dataset, DatasetError};
use std::path::{Path, PathBuf};

/// Where Debian's `dataset-fashion-mnist` installs the files.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Side of an image.
pub const SIDE: usize = 28;
/// The image layout: 1 channel of 28 × 28.
pub const SHAPE: ImageShape = ImageShape {
    channels: 1,
    side: SIDE,
};
/// The classes, by label.
pub const CLASSES: [&str; 10] = [
    "T-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];
/// Mean of the training pixels in `[0, 1]` (computed over all 47,040,000 of them: 0.28604).
pub const MEAN: f32 = 0.2860;
/// Standard deviation of the training pixels (0.35302).
pub const STD: f32 = 0.3530;
/// Images of the official training split.
pub const TRAIN_LEN: usize = 60_000;
/// Images of the official test split.
pub const TEST_LEN: usize = 10_000;

/// What to install when a file is missing.
const HINT: &str = "expected train-images-idx3-ubyte, train-labels-idx1-ubyte, \
t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or as .gz; on Debian and Ubuntu \
`apt-get install dataset-fashion-mnist` installs them under /usr/share/datasets/fashion-mnist";

/// Fashion-MNIST's normalisation ([`MEAN`], [`STD`]).
pub fn normalization() -> Normalization {
    Normalization {
        mean: vec![MEAN],
        std: vec![STD],
    }
}

/// The base names of a split's image and label files (`train-images-idx3-ubyte`, ...).
pub fn file_stems(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
}

/// The file of `stem` in `dir`: the `.gz` one when it exists, else the raw one (which may not
/// exist either; reading it then reports it missing).
pub fn locate(dir: &Path, stem: &str) -> PathBuf {
    let gz = dir.join(format!("{stem}.gz"));
    if gz.is_file() { gz } else { dir.join(stem) }
}

/// A split of Fashion-MNIST read into memory (47 MB for the training split).
///
/// The image file must be an IDX array of unsigned bytes `[n, 28, 28]` and the label file
/// `[n]` with the same `n` and every label below 10; anything else is a typed error naming
/// the file (and the record, for a truncated file or a bad label).
#[derive(Debug)]
pub struct FashionMnistDataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    split: Split,
}

impl FashionMnistDataset {
    /// Read `split` from `dir` (e.g. [`DEBIAN_DIR`]).
    ///
    /// ```no_run
    /// use burn::data::dataset::Dataset;
    /// use burn_prune_vision::{FashionMnistDataset, Split, fashion_mnist};
    ///
    /// let test = FashionMnistDataset::new(fashion_mnist::DEBIAN_DIR, Split::Test).unwrap();
    /// assert_eq!(test.len(), 10_000);
    /// ```
    pub fn new(dir: impl AsRef<Path>, split: Split) -> Result<Self> {
        let dir = dir.as_ref();
        let (image_stem, label_stem) = file_stems(split);
        let images = IdxArray::read(locate(dir, image_stem), 3, HINT)?;
        if images.dims[1..] != [SIDE, SIDE] {
            return Err(DataError::corrupt(
                &images.path,
                format!(
                    "images of {}×{}; Fashion-MNIST's are {SIDE}×{SIDE}",
                    images.dims[1], images.dims[2]
                ),
            ));
        }
        let labels = IdxArray::read(locate(dir, label_stem), 1, HINT)?;
        if labels.len() != images.len() {
            return Err(DataError::CountMismatch {
                images: images.path,
                image_count: images.dims[0],
                labels: labels.path,
                label_count: labels.dims[0],
            });
        }
        if let Some(record) = labels.data.iter().position(|&l| l >= CLASSES.len() as u8) {
            return Err(DataError::Corrupt {
                path: labels.path.clone(),
                record: Some(record),
                reason: format!("label {}; labels are 0..=9", labels.data[record]),
            });
        }
        Ok(Self {
            images: images.data,
            labels: labels.data,
            split,
        })
    }

    /// The split it holds.
    pub fn split(&self) -> Split {
        self.split
    }
}

impl Dataset<ImageItem> for FashionMnistDataset {
    fn get(&self, index: usize) -> std::result::Result<ImageItem, DatasetError> {
        let bytes = SHAPE.bytes();
        // The label first: an index beyond it must not reach `index * bytes`, which can
        // overflow.
        let image = |label: &u8| {
            let image = self.images.get(index * bytes..(index + 1) * bytes)?;
            Some((*label, image))
        };
        match self.labels.get(index).and_then(image) {
            Some((label, image)) => Ok(ImageItem {
                image: image.to_vec(),
                label,
            }),
            None => Err(DatasetError::new(DataError::IndexOutOfBounds {
                index,
                len: self.len(),
            })),
        }
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

//! The CIFAR-10 binary format: reading, Burn's `Dataset` and `Batcher`, normalisation and the
//! standard augmentation.

use crate::error::{Cifar10Error, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Side of a CIFAR-10 image.
pub const SIDE: usize = 32;
/// Bytes of one image: 1024 red, then 1024 green, then 1024 blue, each row-major.
pub const IMAGE_BYTES: usize = 3 * SIDE * SIDE;
/// Bytes of one record: the label, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Records in each file of the official archive.
pub const RECORDS_PER_FILE: usize = 10_000;
/// The classes, by label.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
/// Per-channel mean of the training images (in `[0, 1]`), the usual normalisation.
pub const MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// Per-channel standard deviation of the training images.
pub const STD: [f32; 3] = [0.2470, 0.2435, 0.2616];

/// Which part of CIFAR-10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// 50,000 images: `data_batch_1.bin` … `data_batch_5.bin`.
    Train,
    /// 10,000 images: `test_batch.bin`.
    Test,
}

impl Split {
    /// The files of the split, in order.
    pub fn files(self) -> Vec<String> {
        match self {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".to_string()],
        }
    }
}

/// One image and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cifar10Item {
    /// `3 × 32 × 32` bytes, channel-major (the file's layout).
    pub image: Vec<u8>,
    /// The class, `0..10` (see [`CLASSES`]).
    pub label: u8,
}

/// A split of CIFAR-10 read from the official binary files into memory (184 MB for the
/// training split).
///
/// Every file must hold exactly [`RECORDS_PER_FILE`] records of [`RECORD_BYTES`] bytes with
/// labels below 10: anything else is a [`Cifar10Error::Corrupt`] naming the file (and the
/// record for a bad label), a missing file a [`Cifar10Error::Missing`].
#[derive(Debug)]
pub struct Cifar10Dataset {
    records: Vec<u8>,
    split: Split,
}

impl Cifar10Dataset {
    /// Read `split` from `dir` (the `cifar-10-batches-bin` directory of the archive).
    pub fn new(dir: impl AsRef<Path>, split: Split) -> Result<Self> {
        let dir = dir.as_ref();
        let files = split.files();
        let mut records = Vec::with_capacity(files.len() * RECORDS_PER_FILE * RECORD_BYTES);
        for name in files {
            let path = dir.join(&name);
            let bytes = read(&path)?;
            check(&path, &bytes)?;
            records.extend_from_slice(&bytes);
        }
        Ok(Self { records, split })
    }

    /// The split it holds.
    pub fn split(&self) -> Split {
        self.split
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Cifar10Error::Missing {
            path: path.to_path_buf(),
        },
        _ => Cifar10Error::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Checks one file's size and labels.
fn check(path: &Path, bytes: &[u8]) -> Result<()> {
    let expected = RECORDS_PER_FILE * RECORD_BYTES;
    if bytes.len() != expected {
        return Err(Cifar10Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "{} bytes; expected {expected} ({RECORDS_PER_FILE} records of 1 label byte + \
                 {IMAGE_BYTES} pixel bytes){}",
                bytes.len(),
                if bytes.len() < expected {
                    " — truncated download?"
                } else {
                    ""
                }
            ),
        });
    }
    if let Some(record) = (0..RECORDS_PER_FILE).find(|r| bytes[r * RECORD_BYTES] > 9) {
        return Err(Cifar10Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "record {record} has label {}; labels are 0..=9",
                bytes[record * RECORD_BYTES]
            ),
        });
    }
    Ok(())
}

impl Dataset<Cifar10Item> for Cifar10Dataset {
    fn get(&self, index: usize) -> std::result::Result<Cifar10Item, DatasetError> {
        let len = self.len();
        let record = self
            .records
            .get(index * RECORD_BYTES..(index + 1) * RECORD_BYTES)
            .ok_or_else(|| DatasetError::new(Cifar10Error::IndexOutOfBounds { index, len }))?;
        Ok(Cifar10Item {
            label: record[0],
            image: record[1..].to_vec(),
        })
    }

    fn len(&self) -> usize {
        self.records.len() / RECORD_BYTES
    }
}

/// The standard CIFAR augmentation: a random `32 × 32` crop of the image zero-padded by
/// `padding` pixels on every side, then a horizontal flip with probability `flip`
/// (`transforms.RandomCrop(32, padding=4)` and `RandomHorizontalFlip()` in PyTorch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// Zero padding before the random crop (4 in the papers).
    pub padding: usize,
    /// Probability of a horizontal flip (0.5 in the papers).
    pub flip: f64,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            padding: 4,
            flip: 0.5,
        }
    }
}

impl Augmentation {
    /// The image shifted by `(dy, dx)` (the crop offset minus the padding), the pixels
    /// coming from outside the image 0, then mirrored left-right when `flip`.
    pub fn apply(image: &[u8], dy: isize, dx: isize, flip: bool) -> Vec<u8> {
        let mut out = vec![0u8; IMAGE_BYTES];
        for c in 0..3 {
            for y in 0..SIDE {
                let sy = y as isize + dy;
                if !(0..SIDE as isize).contains(&sy) {
                    continue;
                }
                for x in 0..SIDE {
                    let ox = if flip { SIDE - 1 - x } else { x };
                    let sx = x as isize + dx;
                    if (0..SIDE as isize).contains(&sx) {
                        out[(c * SIDE + y) * SIDE + ox] =
                            image[(c * SIDE + sy as usize) * SIDE + sx as usize];
                    }
                }
            }
        }
        out
    }

    /// A random crop offset and flip for one image.
    fn draw(&self, rng: &mut impl Rng) -> (isize, isize, bool) {
        let p = self.padding as i64;
        let dy = rng.random_range(0..=2 * p) - p;
        let dx = rng.random_range(0..=2 * p) - p;
        (dy as isize, dx as isize, rng.random_bool(self.flip))
    }
}

/// A batch of images `[N, 3, 32, 32]` (normalised) and their labels `[N]`.
#[derive(Clone, Debug)]
pub struct Cifar10Batch {
    /// The images, `(pixel/255 − mean)/std` per channel.
    pub images: Tensor<4>,
    /// The labels.
    pub targets: Tensor<1, Int>,
}

/// Turns [`Cifar10Item`]s into a [`Cifar10Batch`]: optional augmentation (seeded, so runs
/// repeat), then per-channel normalisation with [`MEAN`] and [`STD`].
#[derive(Debug)]
pub struct Cifar10Batcher {
    augmentation: Option<Augmentation>,
    rng: Mutex<StdRng>,
}

impl Cifar10Batcher {
    /// A batcher for evaluation: normalisation only.
    pub fn eval() -> Self {
        Self {
            augmentation: None,
            rng: Mutex::new(StdRng::seed_from_u64(0)),
        }
    }

    /// A batcher for training: `augmentation` drawn from `seed`, then normalisation.
    ///
    /// Errors: a flip probability outside `[0, 1]` or a padding above 32.
    pub fn train(augmentation: Augmentation, seed: u64) -> Result<Self> {
        if !(0.0..=1.0).contains(&augmentation.flip) || augmentation.padding > SIDE {
            return Err(Cifar10Error::InvalidConfig {
                what: "augmentation".into(),
                reason: format!(
                    "flip probability {} (in [0, 1]) and padding {} (at most {SIDE})",
                    augmentation.flip, augmentation.padding
                ),
            });
        }
        Ok(Self {
            augmentation: Some(augmentation),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        })
    }
}

/// Normalised `f32` values of one image: `(v/255 − MEAN[c])/STD[c]`.
pub fn normalize(image: &[u8]) -> Vec<f32> {
    image
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i / (SIDE * SIDE);
            (v as f32 / 255.0 - MEAN[c]) / STD[c]
        })
        .collect()
}

impl Batcher<Cifar10Item, Cifar10Batch> for Cifar10Batcher {
    fn batch(&self, items: Vec<Cifar10Item>, device: &Device) -> Cifar10Batch {
        let n = items.len();
        let mut pixels = Vec::with_capacity(n * IMAGE_BYTES);
        let mut labels = Vec::with_capacity(n);
        {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            for item in &items {
                let image = match &self.augmentation {
                    Some(a) => {
                        let (dy, dx, flip) = a.draw(&mut *rng);
                        Augmentation::apply(&item.image, dy, dx, flip)
                    }
                    None => item.image.clone(),
                };
                pixels.extend(normalize(&image));
                labels.push(item.label as i64);
            }
        }
        Cifar10Batch {
            images: Tensor::from_data(TensorData::new(pixels, [n, 3, SIDE, SIDE]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

/// Where the files of `split` are expected under `dir`, for messages and checks.
pub fn split_paths(dir: impl AsRef<Path>, split: Split) -> Vec<PathBuf> {
    split.files().iter().map(|f| dir.as_ref().join(f)).collect()
}

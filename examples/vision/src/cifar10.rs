//! The CIFAR-10 binary format read into Burn's `Dataset`, and its normalisation.

use crate::dataset::Split;
use crate::error::{DataError, Result};
use crate::image::{ImageItem, ImageShape, Normalization};
use burn::data::dataset::{Dataset, DatasetError};
use std::path::{Path, PathBuf};

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

/// The image layout: 3 channels of 32 × 32.
pub const SHAPE: ImageShape = ImageShape {
    channels: 3,
    side: SIDE,
};

/// The files of a CIFAR-10 split, in order: `data_batch_1.bin` … `data_batch_5.bin` (50,000
/// images) or `test_batch.bin` (10,000).
pub fn files(split: Split) -> Vec<String> {
    match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    }
}

/// CIFAR-10's normalisation ([`MEAN`], [`STD`]).
pub fn normalization() -> Normalization {
    Normalization {
        mean: MEAN.to_vec(),
        std: STD.to_vec(),
    }
}

/// A split of CIFAR-10 read from the official binary files into memory (184 MB for the
/// training split).
///
/// Every file must hold exactly [`RECORDS_PER_FILE`] records of [`RECORD_BYTES`] bytes with
/// labels below 10: anything else is a [`DataError::Corrupt`] naming the file (and the
/// record for a bad label), a missing file a [`DataError::Missing`].
#[derive(Debug)]
pub struct Cifar10Dataset {
    records: Vec<u8>,
    split: Split,
}

impl Cifar10Dataset {
    /// Read `split` from `dir` (the `cifar-10-batches-bin` directory of the archive).
    pub fn new(dir: impl AsRef<Path>, split: Split) -> Result<Self> {
        let dir = dir.as_ref();
        let files = files(split);
        let mut records = Vec::with_capacity(files.len() * RECORDS_PER_FILE * RECORD_BYTES);
        for name in files {
            let path = dir.join(&name);
            let bytes = read(&path)?;
            check_file(&path, &bytes)?;
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
    std::fs::read(path).map_err(|source| {
        DataError::read(
            "CIFAR-10",
            path,
            "expected the binary version: data_batch_1.bin … data_batch_5.bin and \
             test_batch.bin; download it with `prune-vision download`",
            source,
        )
    })
}

/// Check the bytes of one CIFAR-10 binary file (read from `path`, which errors name): exactly
/// [`RECORDS_PER_FILE`] records of [`RECORD_BYTES`] bytes, labels below 10.
///
/// Errors: [`DataError::Corrupt`] naming the file, and the record for a bad label.
pub fn check_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let expected = RECORDS_PER_FILE * RECORD_BYTES;
    if bytes.len() != expected {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            record: None,
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
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            record: Some(record),
            reason: format!("label {}; labels are 0..=9", bytes[record * RECORD_BYTES]),
        });
    }
    Ok(())
}

impl Dataset<ImageItem> for Cifar10Dataset {
    fn get(&self, index: usize) -> std::result::Result<ImageItem, DatasetError> {
        let len = self.len();
        let record = (index < len)
            .then(|| &self.records[index * RECORD_BYTES..(index + 1) * RECORD_BYTES])
            .ok_or_else(|| DatasetError::new(DataError::IndexOutOfBounds { index, len }))?;
        Ok(ImageItem {
            label: record[0],
            image: record[1..].to_vec(),
        })
    }

    fn len(&self) -> usize {
        self.records.len() / RECORD_BYTES
    }
}

/// Where the files of `split` are expected under `dir`, for messages and checks.
pub fn split_paths(dir: impl AsRef<Path>, split: Split) -> Vec<PathBuf> {
    files(split).iter().map(|f| dir.as_ref().join(f)).collect()
}

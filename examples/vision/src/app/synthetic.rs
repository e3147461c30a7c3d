//! `--synthetic`: images of the dataset's shape generated in memory, for runs without the
//! dataset (smoke tests, CI, trying the commands out).
//!
//! Every image has the dataset's layout (3×32×32 for CIFAR-10, 1×28×28 for Fashion-MNIST)
//! with a label in `0..10`, like the real records. The classes are learnable but not trivial:
//! class `k` has its own mean colour (its own grey level on one channel), classes 5–9 add a
//! bright diagonal stripe over it, and every pixel carries uniform noise of ±32, so a network
//! has to combine intensity and shape and reaches well above the 10% of chance within an
//! epoch or two.

use crate::{DataError, ImageItem, ImageShape};
use burn::data::dataset::{Dataset, DatasetError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The mean colour of each class (three channels).
const PALETTE: [[u8; 3]; 10] = [
    [200, 60, 60],
    [60, 200, 60],
    [60, 60, 200],
    [200, 200, 60],
    [60, 200, 200],
    [200, 60, 200],
    [120, 120, 120],
    [220, 140, 60],
    [60, 120, 220],
    [140, 60, 140],
];

/// Generated items of one shape, the same for the same `(shape, len, seed)`.
#[derive(Clone, Debug)]
pub struct SyntheticImages {
    items: Vec<ImageItem>,
}

impl SyntheticImages {
    /// `len` images of `shape`, labels cycling through the 10 classes, noise drawn from
    /// `seed`.
    pub fn new(shape: ImageShape, len: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let items = (0..len)
            .map(|i| {
                let label = (i % PALETTE.len()) as u8;
                ImageItem {
                    image: image(shape, label, &mut rng),
                    label,
                }
            })
            .collect();
        Self { items }
    }
}

/// The base intensity of channel `c` of `label`: the palette's colour on three channels, a
/// grey level of its own per class (40, 60, ..., 220) otherwise.
fn base(shape: ImageShape, label: u8, c: usize) -> i32 {
    if shape.channels == 3 {
        PALETTE[label as usize][c] as i32
    } else {
        40 + 20 * label as i32
    }
}

fn image(shape: ImageShape, label: u8, rng: &mut StdRng) -> Vec<u8> {
    let side = shape.side;
    let mut image = vec![0u8; shape.bytes()];
    for c in 0..shape.channels {
        for y in 0..side {
            for x in 0..side {
                let stripe = label >= 5 && (x + y) % 8 < 2;
                let base = if stripe { 250 } else { base(shape, label, c) };
                let v = base + rng.random_range(-32..=32);
                image[(c * side + y) * side + x] = v.clamp(0, 255) as u8;
            }
        }
    }
    image
}

impl Dataset<ImageItem> for SyntheticImages {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        self.items.get(index).cloned().ok_or_else(|| {
            DatasetError::new(DataError::IndexOutOfBounds {
                index,
                len: self.items.len(),
            })
        })
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

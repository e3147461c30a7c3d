//! `--synthetic`: CIFAR-shaped data generated in memory, for runs without the dataset (smoke
//! tests, CI, trying the commands out).
//!
//! Every image is 3×32×32 bytes with a label in `0..10`, like the real records. The classes are
//! learnable but not trivial: class `k` has its own mean colour, classes 5–9 add a bright
//! diagonal stripe over their colour, and every pixel carries uniform noise of ±32, so a
//! network has to combine colour and shape and reaches well above the 10% of chance within an
//! epoch or two.

use crate::{CLASSES, Cifar10Error, Cifar10Item, IMAGE_BYTES, SIDE};
use burn::data::dataset::{Dataset, DatasetError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The mean colour of each class.
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

/// Generated CIFAR-shaped items, the same for the same `(len, seed)`.
#[derive(Clone, Debug)]
pub struct SyntheticCifar10 {
    items: Vec<Cifar10Item>,
}

impl SyntheticCifar10 {
    /// `len` images, labels cycling through the 10 classes, noise drawn from `seed`.
    pub fn new(len: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let items = (0..len)
            .map(|i| {
                let label = (i % CLASSES.len()) as u8;
                Cifar10Item {
                    image: image(label, &mut rng),
                    label,
                }
            })
            .collect();
        Self { items }
    }
}

fn image(label: u8, rng: &mut StdRng) -> Vec<u8> {
    let colour = PALETTE[label as usize];
    let mut image = vec![0u8; IMAGE_BYTES];
    for c in 0..3 {
        for y in 0..SIDE {
            for x in 0..SIDE {
                let stripe = label >= 5 && (x + y) % 8 < 2;
                let base = if stripe { 250 } else { colour[c] as i32 };
                let v = base + rng.random_range(-32..=32);
                image[(c * SIDE + y) * SIDE + x] = v.clamp(0, 255) as u8;
            }
        }
    }
    image
}

impl Dataset<Cifar10Item> for SyntheticCifar10 {
    fn get(&self, index: usize) -> Result<Cifar10Item, DatasetError> {
        self.items.get(index).cloned().ok_or_else(|| {
            DatasetError::new(Cifar10Error::IndexOutOfBounds {
                index,
                len: self.items.len(),
            })
        })
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

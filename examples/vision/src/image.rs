//! Images of any of the datasets as bytes, their augmentation, and Burn's `Batcher` that turns
//! them into normalised tensors.

use crate::error::{DataError, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

/// The layout of a dataset's images: `channels × side × side` bytes, channel-major, each
/// channel row-major (CIFAR-10's file layout; Fashion-MNIST has one channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    /// Colour channels (3 for CIFAR-10, 1 for Fashion-MNIST).
    pub channels: usize,
    /// Height and width.
    pub side: usize,
}

impl ImageShape {
    /// Bytes of one image.
    pub fn bytes(&self) -> usize {
        self.channels * self.side * self.side
    }

    /// The shape of a batch of `n` images, `[n, channels, side, side]`.
    pub fn batch(&self, n: usize) -> [usize; 4] {
        [n, self.channels, self.side, self.side]
    }
}

/// One image and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageItem {
    /// `channels × side × side` bytes, channel-major (see [`ImageShape`]).
    pub image: Vec<u8>,
    /// The class, `0..10`.
    pub label: u8,
}

/// Per-channel normalisation: `(pixel/255 − mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    /// Mean of each channel over the training images, in `[0, 1]`.
    pub mean: Vec<f32>,
    /// Standard deviation of each channel.
    pub std: Vec<f32>,
}

impl Normalization {
    /// Normalised `f32` values of one image of `shape`.
    pub fn apply(&self, image: &[u8], shape: ImageShape) -> Vec<f32> {
        let plane = shape.side * shape.side;
        image
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = i / plane;
                (v as f32 / 255.0 - self.mean[c]) / self.std[c]
            })
            .collect()
    }
}

/// The standard augmentation of small images: a random `side × side` crop of the image
/// zero-padded by `padding` pixels on every side, then a horizontal flip with probability
/// `flip` (`transforms.RandomCrop(side, padding)` and `RandomHorizontalFlip(flip)` in
/// PyTorch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// Zero padding before the random crop (4 for CIFAR-10, 2 for Fashion-MNIST).
    pub padding: usize,
    /// Probability of a horizontal flip (0.5 in the papers).
    pub flip: f64,
}

impl Default for Augmentation {
    /// CIFAR-10's: padding 4, flip 0.5.
    fn default() -> Self {
        Self {
            padding: 4,
            flip: 0.5,
        }
    }
}

impl Augmentation {
    /// The image of `shape` shifted by `(dy, dx)` (the crop offset minus the padding), the
    /// pixels coming from outside the image 0, then mirrored left-right when `flip`.
    pub fn apply(image: &[u8], shape: ImageShape, dy: isize, dx: isize, flip: bool) -> Vec<u8> {
        let side = shape.side;
        let mut out = vec![0u8; shape.bytes()];
        for c in 0..shape.channels {
            for y in 0..side {
                let sy = y as isize + dy;
                if !(0..side as isize).contains(&sy) {
                    continue;
                }
                for x in 0..side {
                    let ox = if flip { side - 1 - x } else { x };
                    let sx = x as isize + dx;
                    if (0..side as isize).contains(&sx) {
                        out[(c * side + y) * side + ox] =
                            image[(c * side + sy as usize) * side + sx as usize];
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

/// A batch of images `[N, C, H, W]` (normalised) and their labels `[N]`.
#[derive(Clone, Debug)]
pub struct ImageBatch {
    /// The images, `(pixel/255 − mean)/std` per channel.
    pub images: Tensor<4>,
    /// The labels.
    pub targets: Tensor<1, Int>,
}

/// Turns [`ImageItem`]s of one shape into an [`ImageBatch`]: optional augmentation (seeded,
/// so runs repeat), then per-channel normalisation.
#[derive(Debug)]
pub struct ImageBatcher {
    shape: ImageShape,
    normalization: Normalization,
    augmentation: Option<Augmentation>,
    rng: Mutex<StdRng>,
}

impl ImageBatcher {
    /// A batcher for evaluation: normalisation only.
    ///
    /// Errors: a normalisation without one mean and one positive standard deviation per
    /// channel.
    pub fn eval(shape: ImageShape, normalization: Normalization) -> Result<Self> {
        let per_channel =
            normalization.mean.len() == shape.channels && normalization.std.len() == shape.channels;
        if !per_channel || normalization.std.iter().any(|s| s.is_nan() || *s <= 0.0) {
            return Err(DataError::InvalidConfig {
                what: "normalisation".into(),
                reason: format!(
                    "{} means and {} standard deviations (all > 0) for {} channels",
                    normalization.mean.len(),
                    normalization.std.len(),
                    shape.channels
                ),
            });
        }
        Ok(Self {
            shape,
            normalization,
            augmentation: None,
            rng: Mutex::new(StdRng::seed_from_u64(0)),
        })
    }

    /// A batcher for training: `augmentation` drawn from `seed`, then normalisation.
    ///
    /// Errors: those of [`ImageBatcher::eval`], a flip probability outside `[0, 1]` or a
    /// padding above the image side.
    pub fn train(
        shape: ImageShape,
        normalization: Normalization,
        augmentation: Augmentation,
        seed: u64,
    ) -> Result<Self> {
        if !(0.0..=1.0).contains(&augmentation.flip) || augmentation.padding > shape.side {
            return Err(DataError::InvalidConfig {
                what: "augmentation".into(),
                reason: format!(
                    "flip probability {} (in [0, 1]) and padding {} (at most {})",
                    augmentation.flip, augmentation.padding, shape.side
                ),
            });
        }
        Ok(Self {
            augmentation: Some(augmentation),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            ..Self::eval(shape, normalization)?
        })
    }

    /// The image shape it batches.
    pub fn shape(&self) -> ImageShape {
        self.shape
    }
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    /// Items of another size than the batcher's shape are cut or zero-filled to it (the
    /// datasets of this crate check every record's size when they read it).
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let n = items.len();
        let bytes = self.shape.bytes();
        let mut pixels = Vec::with_capacity(n * bytes);
        let mut labels = Vec::with_capacity(n);
        {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            for item in &items {
                let mut image = item.image.clone();
                image.resize(bytes, 0);
                if let Some(a) = &self.augmentation {
                    let (dy, dx, flip) = a.draw(&mut *rng);
                    image = Augmentation::apply(&image, self.shape, dy, dx, flip);
                }
                pixels.extend(self.normalization.apply(&image, self.shape));
                labels.push(item.label as i64);
            }
        }
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, self.shape.batch(n)), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

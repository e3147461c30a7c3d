//! MobileNetV2 (Sandler et al. 2018), torchvision layout, without the classifier dropout.

use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu6;
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::layers::{ConvBn, ConvSpec, nonzero};
use burn_prune_core::structure::ModuleConstants;

/// One row `(t, c, n, s)` of the MobileNetV2 table: `repeats` inverted-residual blocks with
/// expansion `expand_ratio` and `channels` outputs, the first with `stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvertedResidualSetting {
    /// Expansion factor `t` of the hidden width (1: no expansion conv).
    pub expand_ratio: usize,
    /// Output channels `c` (before the width multiplier).
    pub channels: usize,
    /// Number of blocks `n`.
    pub repeats: usize,
    /// Stride `s` of the first block.
    pub stride: usize,
}

impl InvertedResidualSetting {
    /// The row `(t, c, n, s)`.
    pub const fn new(expand_ratio: usize, channels: usize, repeats: usize, stride: usize) -> Self {
        Self {
            expand_ratio,
            channels,
            repeats,
            stride,
        }
    }
}

const fn row(t: usize, c: usize, n: usize, s: usize) -> InvertedResidualSetting {
    InvertedResidualSetting::new(t, c, n, s)
}

/// The ImageNet table: (1,16,1,1), (6,24,2,2), (6,32,3,2), (6,64,4,2), (6,96,3,1),
/// (6,160,3,2), (6,320,1,1).
pub const MOBILENET_V2_IMAGENET: [InvertedResidualSetting; 7] = [
    row(1, 16, 1, 1),
    row(6, 24, 2, 2),
    row(6, 32, 3, 2),
    row(6, 64, 4, 2),
    row(6, 96, 3, 1),
    row(6, 160, 3, 2),
    row(6, 320, 1, 1),
];

/// The CIFAR table: the ImageNet one with the second row's stride 1, (6,24,2,**1**) (as in the
/// widely used `kuangliu/pytorch-cifar` model). With the stem stride also 1, a `32×32` input
/// is reduced 8× to `4×4` before pooling (ImageNet: 32×, `224 → 7`).
pub const MOBILENET_V2_CIFAR: [InvertedResidualSetting; 7] = [
    row(1, 16, 1, 1),
    row(6, 24, 2, 1),
    row(6, 32, 3, 2),
    row(6, 64, 4, 2),
    row(6, 96, 3, 1),
    row(6, 160, 3, 2),
    row(6, 320, 1, 1),
];

/// Configuration of a [`MobileNetV2`]. [`MobileNetV2Config::new`] is the ImageNet network
/// (3,504,872 parameters); [`MobileNetV2Config::cifar`] the CIFAR-10 one.
#[derive(Config, Debug)]
pub struct MobileNetV2Config {
    /// Number of classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Width multiplier α: every width becomes `make_divisible(α·c, 8)`, the last conv
    /// `make_divisible(1280·max(1, α), 8)` (torchvision's rule).
    #[config(default = 1.0)]
    pub width_mult: f64,
    /// Stride of the stem conv3×3 (2 for ImageNet, 1 for CIFAR).
    #[config(default = 2)]
    pub stem_stride: usize,
    /// The `(t, c, n, s)` table.
    #[config(default = "MOBILENET_V2_IMAGENET.to_vec()")]
    pub settings: Vec<InvertedResidualSetting>,
}

impl MobileNetV2Config {
    /// The CIFAR-10 variant: 10 classes, stem stride 1, second stage stride 1
    /// ([`MOBILENET_V2_CIFAR`]); 2,236,682 parameters.
    pub fn cifar() -> Self {
        Self::new()
            .with_num_classes(10)
            .with_stem_stride(1)
            .with_settings(MOBILENET_V2_CIFAR.to_vec())
    }

    /// Checks the configuration and builds the model on `device`.
    pub fn init(&self, device: &Device) -> Result<MobileNetV2, ModelError> {
        let alpha = self.width_mult;
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(ModelError::InvalidWidthMultiplier(alpha));
        }
        nonzero(self.num_classes, "num_classes")?;
        if self.settings.is_empty() {
            return Err(ModelError::NoStages);
        }
        let mut channels = make_divisible(32.0 * alpha, 8);
        let stem = ConvSpec::new(3, channels, 3, self.stem_stride).conv_bn(device)?;
        let mut blocks = Vec::new();
        for setting in &self.settings {
            nonzero(setting.expand_ratio, "expand_ratio")?;
            nonzero(setting.channels, "stage channels")?;
            nonzero(setting.repeats, "stage repeats")?;
            let out = make_divisible(setting.channels as f64 * alpha, 8);
            for i in 0..setting.repeats {
                let stride = if i == 0 { setting.stride } else { 1 };
                blocks.push(InvertedResidual::new(
                    channels,
                    out,
                    stride,
                    setting.expand_ratio,
                    device,
                )?);
                channels = out;
            }
        }
        let last_channels = make_divisible(1280.0 * alpha.max(1.0), 8);
        Ok(MobileNetV2 {
            stem,
            blocks,
            last: ConvSpec::new(channels, last_channels, 1, 1).conv_bn(device)?,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            classifier: LinearConfig::new(last_channels, self.num_classes).init(device),
        })
    }
}

/// torchvision's `_make_divisible(v, divisor)`: round to the nearest multiple of `divisor`,
/// at least `divisor`, never more than 10% below `v`.
fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new = (((v + d / 2.0) / d).floor() * d).max(d);
    if new < 0.9 * v {
        new += d;
    }
    new as usize
}

/// MobileNetV2: conv3×3-BN-ReLU6 stem (32 channels), inverted-residual blocks, conv1×1-BN-ReLU6
/// to 1280 channels, global average pooling, `Linear(1280, classes)` (no dropout).
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct MobileNetV2 {
    /// Stem conv3×3 + BN (ReLU6 in `forward`).
    pub stem: ConvBn,
    /// The inverted-residual blocks, all stages in order.
    pub blocks: Vec<InvertedResidual>,
    /// Last conv1×1 + BN (ReLU6 in `forward`).
    pub last: ConvBn,
    /// Global average pooling to `1×1`.
    pub pool: AdaptiveAvgPool2d,
    /// `Linear(1280, classes)` with bias.
    pub classifier: Linear,
}

impl MobileNetV2 {
    /// Logits of a batch of images.
    ///
    /// # Shapes
    /// - `x`: `[N, 3, H, W]` (ImageNet `224×224`, CIFAR `32×32`)
    /// - output: `[N, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu6(self.stem.forward(x));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = relu6(self.last.forward(x));
        let [n, c, _, _] = x.dims();
        self.classifier
            .forward(self.pool.forward(x).reshape([n, c]))
    }
}

/// An inverted residual block: conv1×1 expansion-BN-ReLU6 (absent when `t = 1`), depthwise
/// conv3×3 (groups = hidden width, carries the stride)-BN-ReLU6, conv1×1 projection-BN
/// (linear), plus the input when the shape is kept.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct InvertedResidual {
    /// Pointwise expansion `in → t·in` + BN; `None` when `t = 1`.
    pub expand: Option<ConvBn>,
    /// Depthwise conv3×3 over the hidden width + BN.
    pub depthwise: ConvBn,
    /// Pointwise projection `hidden → out` + BN, no activation.
    pub project: ConvBn,
    /// Whether the input is added to the output (`stride = 1` and `in = out`).
    pub use_residual: bool,
}

impl InvertedResidual {
    /// A block `in_channels → out_channels` with expansion `expand_ratio` and `stride`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        expand_ratio: usize,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let hidden = in_channels * expand_ratio;
        let expand = if expand_ratio == 1 {
            None
        } else {
            Some(ConvSpec::new(in_channels, hidden, 1, 1).conv_bn(device)?)
        };
        Ok(Self {
            expand,
            depthwise: ConvSpec::new(hidden, hidden, 3, stride)
                .with_groups(hidden)
                .conv_bn(device)?,
            project: ConvSpec::new(hidden, out_channels, 1, 1).conv_bn(device)?,
            use_residual: stride == 1 && in_channels == out_channels,
        })
    }

    /// Applies the block.
    ///
    /// # Shapes
    /// - `x`: `[N, in, H, W]`
    /// - output: `[N, out, ⌈H / stride⌉, ⌈W / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = self.use_residual.then(|| x.clone());
        let h = match &self.expand {
            Some(expand) => relu6(expand.forward(x)),
            None => x,
        };
        let h = self.project.forward(relu6(self.depthwise.forward(h)));
        match residual {
            Some(x) => h + x,
            None => h,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::make_divisible;

    #[test]
    fn make_divisible_matches_torchvision() {
        assert_eq!(make_divisible(32.0, 8), 32);
        assert_eq!(make_divisible(32.0 * 0.5, 8), 16);
        assert_eq!(make_divisible(24.0 * 0.35, 8), 8);
        assert_eq!(make_divisible(96.0 * 0.75, 8), 72);
        assert_eq!(make_divisible(20.0, 8), 24);
        assert_eq!(make_divisible(1280.0 * 1.4, 8), 1792);
    }
}

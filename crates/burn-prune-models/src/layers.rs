//! Building blocks shared by the models: a bias-free convolution followed by batch norm.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::ModelError;
use burn_prune_core::structure::ModuleConstants;

/// A convolution without bias followed by batch normalization (no activation).
///
/// Used for the stems and residual branches of the ResNets and MobileNetV2, for VGG's
/// feature layers, and as the projection (option-B / torchvision `downsample`) shortcut.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct ConvBn {
    /// The convolution, `[out, in / groups, k, k]`, no bias.
    pub conv: Conv2d,
    /// The batch norm over the `out` channels.
    pub bn: BatchNorm,
}

impl ConvBn {
    /// Applies the convolution, then the batch norm.
    ///
    /// # Shapes
    /// - `x`: `[N, in, H, W]`
    /// - output: `[N, out, H', W']` with `H' = (H + 2·(k/2) − k) / stride + 1`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// Geometry of a [`ConvBn`]: square kernel, stride, symmetric "same" padding `k / 2`, groups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub groups: usize,
}

impl ConvSpec {
    /// A `k×k` convolution with groups 1.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, stride: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel,
            stride,
            groups: 1,
        }
    }

    /// The same with `groups` groups.
    pub fn with_groups(self, groups: usize) -> Self {
        Self { groups, ..self }
    }

    /// Builds the conv (without bias) and its batch norm; sizes are checked first.
    pub fn conv_bn(self, device: &Device) -> Result<ConvBn, ModelError> {
        Ok(ConvBn {
            conv: self.conv(false, device)?,
            bn: batch_norm(self.out_channels, device)?,
        })
    }

    /// Builds the convolution alone, with or without bias; sizes are checked first.
    pub fn conv(self, bias: bool, device: &Device) -> Result<Conv2d, ModelError> {
        nonzero(self.in_channels, "conv input channels")?;
        nonzero(self.out_channels, "conv output channels")?;
        nonzero(self.kernel, "conv kernel size")?;
        nonzero(self.stride, "conv stride")?;
        nonzero(self.groups, "conv groups")?;
        let p = self.kernel / 2;
        Ok(
            Conv2dConfig::new([self.in_channels, self.out_channels], [self.kernel; 2])
                .with_stride([self.stride; 2])
                .with_groups(self.groups)
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(bias)
                .init(device),
        )
    }
}

/// A batch norm over `channels` features (checked to be positive).
pub(crate) fn batch_norm(channels: usize, device: &Device) -> Result<BatchNorm, ModelError> {
    nonzero(channels, "batch norm features")?;
    Ok(BatchNormConfig::new(channels).init(device))
}

/// `Err(ModelError::Zero)` when `value` is zero.
pub(crate) fn nonzero(value: usize, what: &'static str) -> Result<usize, ModelError> {
    if value == 0 {
        Err(ModelError::Zero { what })
    } else {
        Ok(value)
    }
}

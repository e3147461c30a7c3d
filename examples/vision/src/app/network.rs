//! The networks the command line trains: CIFAR ResNets and VGGs of `burn_prune::models`,
//! behind one Burn module so every command handles them the same way.

use super::error::{AppError, Result};
use crate::DatasetKind;
use burn::prelude::*;
use burn_prune::models::{
    ResNetCifar, ResNetCifarConfig, ShortcutKind, Vgg, VggConfig, ViT, ViTConfig,
};
use burn_prune::structure::ModuleConstants;
use serde::{Deserialize, Serialize};

/// An architecture by name, as `--arch` and recipes write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// CIFAR ResNet-20 (269,722 parameters).
    Resnet20,
    /// CIFAR ResNet-32.
    Resnet32,
    /// CIFAR ResNet-56 (853,018 parameters).
    Resnet56,
    /// CIFAR ResNet-110.
    Resnet110,
    /// Li et al.'s ResNet-56-pruned-A (a target architecture for `--to-arch`).
    Resnet56PrunedA,
    /// Li et al.'s ResNet-56-pruned-B.
    Resnet56PrunedB,
    /// VGG-16 with Li et al.'s classifier (14,987,722 parameters).
    Vgg16,
    /// Li et al.'s VGG-16-pruned-A.
    Vgg16PrunedA,
    /// Network slimming's VGG-19 (20,035,018 parameters).
    Vgg19,
    /// A small Vision Transformer: patches of 7×7 (Fashion-MNIST) or 8×8 (CIFAR-10), width
    /// 64, 4 blocks of 4 heads of 16, MLP 128 (138,890 parameters on Fashion-MNIST).
    Vit,
}

impl Arch {
    /// The model configuration of this architecture for `dataset`'s images (its input
    /// channels, 10 classes, option-A shortcuts).
    pub fn spec(self, dataset: DatasetKind) -> Result<ModelSpec> {
        let resnet = |depth| ModelSpec::ResNet(ResNetCifarConfig::new(depth));
        let spec = match self {
            Self::Resnet20 => resnet(20),
            Self::Resnet32 => resnet(32),
            Self::Resnet56 => resnet(56),
            Self::Resnet110 => resnet(110),
            Self::Resnet56PrunedA => ModelSpec::ResNet(ResNetCifarConfig::li_pruned_a(56)?),
            Self::Resnet56PrunedB => ModelSpec::ResNet(ResNetCifarConfig::li_pruned_b(56)?),
            Self::Vgg16 => ModelSpec::Vgg(VggConfig::vgg16()),
            Self::Vgg16PrunedA => ModelSpec::Vgg(VggConfig::vgg16_li_pruned_a()),
            Self::Vgg19 => ModelSpec::Vgg(VggConfig::vgg19()),
            Self::Vit => {
                let shape = dataset.shape();
                let patch = if shape.side.is_multiple_of(7) { 7 } else { 8 };
                let base = ViTConfig::fashion_mnist();
                ModelSpec::ViT(ViTConfig::new(
                    shape.side,
                    shape.channels,
                    patch,
                    base.d_model,
                    base.depth,
                    base.n_heads,
                    base.d_head,
                    base.d_mlp,
                    base.classes,
                ))
            }
        };
        Ok(spec.with_in_channels(dataset.shape().channels))
    }

    /// The name as written on the command line.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// The full configuration of a network, stored in checkpoints: a fresh model built from it,
/// cut by the checkpoint's structural plans, loads the checkpoint's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ModelSpec {
    /// A CIFAR ResNet.
    ResNet(ResNetCifarConfig),
    /// A VGG.
    Vgg(VggConfig),
    /// A Vision Transformer.
    ViT(ViTConfig),
}

impl ModelSpec {
    /// The same configuration for images of `channels` channels.
    pub fn with_in_channels(self, channels: usize) -> Self {
        match self {
            Self::ResNet(c) => Self::ResNet(c.with_in_channels(channels)),
            Self::Vgg(c) => Self::Vgg(c.with_in_channels(channels)),
            Self::ViT(c) => Self::ViT(ViTConfig { channels, ..c }),
        }
    }

    /// Channels of the images it takes.
    pub fn in_channels(&self) -> usize {
        match self {
            Self::ResNet(c) => c.in_channels,
            Self::Vgg(c) => c.in_channels,
            Self::ViT(c) => c.channels,
        }
    }

    /// The same configuration with option-B (projection) shortcuts; VGGs are unchanged.
    pub fn with_projection_shortcuts(self) -> Self {
        match self {
            Self::ResNet(c) => Self::ResNet(c.with_shortcut(ShortcutKind::B)),
            other => other,
        }
    }

    /// The number of parameters the network has, from its configuration alone.
    pub fn param_count(&self) -> Result<usize> {
        Ok(match self {
            Self::ResNet(c) => c.param_count()?,
            Self::Vgg(c) => c.param_count()?,
            Self::ViT(c) => c.param_count()?,
        })
    }

    /// Build the network on `device` (random initialisation from the device's seed).
    ///
    /// Errors: an invalid configuration; one too large to train in this machine's available
    /// memory (its weights, gradients, optimizer state and a copy: 16 bytes a parameter),
    /// refused before anything is allocated.
    pub fn init(&self, device: &Device) -> Result<Network> {
        let params = self.param_count()?;
        let needed = params.saturating_mul(16) as u64;
        if let Some(available) = available_memory().filter(|&a| needed > a) {
            return Err(AppError::invalid(
                "model",
                format!(
                    "{} has {params} parameters: training it needs about {:.1} GB \
                     (weights, gradients, optimizer state, a copy), more than the {:.1} GB \
                     of memory available",
                    self.describe(),
                    needed as f64 / 1e9,
                    available as f64 / 1e9
                ),
            ));
        }
        Ok(match self {
            Self::ResNet(c) => Network::ResNet(c.init(device)?),
            Self::Vgg(c) => Network::Vgg(c.init(device)?),
            Self::ViT(c) => Network::ViT(c.init(device)?),
        })
    }

    /// A short description, e.g. `ResNet-56 (A)` or `VGG (16 conv)`.
    pub fn describe(&self) -> String {
        match self {
            Self::ResNet(c) => {
                let shortcut = match c.shortcut {
                    ShortcutKind::A => "A",
                    ShortcutKind::B => "B",
                };
                let narrowed = if c.block_widths.is_some() || c.stage_widths.is_some() {
                    ", custom widths"
                } else {
                    ""
                };
                format!("ResNet-{} (option {shortcut}{narrowed})", c.depth)
            }
            Self::Vgg(c) => {
                let convs = c
                    .cfg
                    .iter()
                    .filter(|l| matches!(l, burn_prune::models::VggLayer::Conv(_)))
                    .count();
                format!("VGG, {convs} conv layers")
            }
            Self::ViT(c) => format!(
                "ViT, {} blocks of {} heads, width {}",
                c.depth, c.n_heads, c.d_model
            ),
        }
    }
}

/// A network of any supported architecture, as one Burn module.
#[allow(
    clippy::large_enum_variant,
    reason = "one per run; the Module derive does not support boxed variants"
)]
#[derive(Module, Debug, ModuleConstants)]
pub enum Network {
    /// A CIFAR ResNet.
    ResNet(ResNetCifar),
    /// A VGG.
    Vgg(Vgg),
    /// A Vision Transformer.
    ViT(ViT),
}

impl Network {
    /// Logits `[N, 10]` of images `[N, C, H, W]` (CIFAR-10: `3×32×32`, Fashion-MNIST:
    /// `1×28×28`).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Self::ResNet(m) => m.forward(x),
            Self::Vgg(m) => m.forward(x),
            Self::ViT(m) => m.forward(x),
        }
    }
}

/// The forward pass as a function, for tracing and metrics.
pub fn forward(model: &Network, x: Tensor<4>) -> Tensor<2> {
    model.forward(x)
}

/// The memory available to new allocations (Linux: `MemAvailable` of `/proc/meminfo`), when
/// the system says.
pub fn available_memory() -> Option<u64> {
    meminfo("MemAvailable")
}

/// The machine's memory (Linux: `MemTotal` of `/proc/meminfo`), when the system says.
pub fn total_memory() -> Option<u64> {
    meminfo("MemTotal")
}

/// A field of `/proc/meminfo`, in bytes.
fn meminfo(field: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.split(':').next() == Some(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

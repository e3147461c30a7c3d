//! VGG for CIFAR with batch norm, as in the network-slimming (Liu et al. 2017) and
//! L1-filter-pruning (Li et al. 2017) code.

use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::layers::{ConvBn, ConvSpec, batch_norm, nonzero};
use crate::size::Tally;
use burn_prune_core::structure::ParamShapes;

/// One entry of a VGG `cfg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VggLayer {
    /// conv3×3 (padding 1, no bias) to this many channels, then BN and ReLU.
    Conv(usize),
    /// Max pooling 2×2, stride 2 (`"M"` in the PyTorch cfgs).
    MaxPool,
}

use VggLayer::{Conv as C, MaxPool as M};
use burn_prune_core::structure::ModuleConstants;

/// VGG-16: `[64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512]`.
#[rustfmt::skip]
pub const VGG16_CFG: &[VggLayer] = &[
    C(64), C(64), M, C(128), C(128), M, C(256), C(256), C(256), M,
    C(512), C(512), C(512), M, C(512), C(512), C(512),
];

/// VGG-19 of the network-slimming code: `[64, 64, M, 128, 128, M, 256 ×4, M, 512 ×4, M, 512 ×4]`.
#[rustfmt::skip]
pub const VGG19_CFG: &[VggLayer] = &[
    C(64), C(64), M, C(128), C(128), M, C(256), C(256), C(256), C(256), M,
    C(512), C(512), C(512), C(512), M, C(512), C(512), C(512), C(512),
];

/// Li et al.'s VGG-16-pruned-A (conv1 and conv8–13 halved):
/// `[32, 64, M, 128, 128, M, 256, 256, 256, M, 256, 256, 256, M, 256, 256, 256]`.
#[rustfmt::skip]
pub const VGG16_LI_PRUNED_A_CFG: &[VggLayer] = &[
    C(32), C(64), M, C(128), C(128), M, C(256), C(256), C(256), M,
    C(256), C(256), C(256), M, C(256), C(256), C(256),
];

/// The classifier after the pooled features (`C` = width of the last conv).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VggHead {
    /// `Linear(C, classes)` (network slimming).
    Linear,
    /// `Linear(C, hidden)-BatchNorm1d(hidden)-ReLU-Linear(hidden, classes)`; Li et al. use
    /// `hidden = 512` ([`VggHead::LI`]).
    Mlp {
        /// Width of the hidden layer.
        hidden: usize,
    },
}

impl VggHead {
    /// Li et al.'s head: `Linear(C, 512)-BN1d-ReLU-Linear(512, classes)`.
    pub const LI: VggHead = VggHead::Mlp { hidden: 512 };
}

/// Configuration of a [`Vgg`].
///
/// Convolutions have no bias (they are followed by batch norm): with a bias the published
/// parameter counts are not reached.
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::{param_count, VggConfig, VggLayer};
///
/// let device = Device::flex();
/// let tiny = VggConfig::new(vec![VggLayer::Conv(8), VggLayer::MaxPool, VggLayer::Conv(16)])
///     .init(&device)
///     .unwrap();
/// // conv 3·8·9 + BN 2·8, conv 8·16·9 + BN 2·16, linear 16·10 + 10
/// assert_eq!(param_count(&tiny), 216 + 16 + 1152 + 32 + 170);
/// ```
#[derive(Config, Debug)]
pub struct VggConfig {
    /// Feature layers, in order.
    pub cfg: Vec<VggLayer>,
    /// Number of classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Classifier variant.
    #[config(default = "VggHead::Linear")]
    pub head: VggHead,
    /// Channels of the input images (3 for CIFAR-10, 1 for grayscale data such as
    /// Fashion-MNIST). Inputs of any side at least `2^pools` work (28×28 pools to
    /// 14, 7, 3 and 1 in VGG-16): the features end with global average pooling.
    #[config(default = 3)]
    pub in_channels: usize,
}

impl VggConfig {
    /// Li et al.'s VGG-16 ([`VGG16_CFG`], [`VggHead::LI`]): 14,987,722 parameters for 10
    /// classes (14,724,042 with `.with_head(VggHead::Linear)`).
    pub fn vgg16() -> Self {
        Self::new(VGG16_CFG.to_vec()).with_head(VggHead::LI)
    }

    /// Network slimming's VGG-19 ([`VGG19_CFG`], [`VggHead::Linear`]): 20,035,018 parameters
    /// for 10 classes.
    pub fn vgg19() -> Self {
        Self::new(VGG19_CFG.to_vec())
    }

    /// Li et al.'s VGG-16-pruned-A ([`VGG16_LI_PRUNED_A_CFG`], [`VggHead::LI`]): 5,397,034
    /// parameters for 10 classes.
    pub fn vgg16_li_pruned_a() -> Self {
        Self::new(VGG16_LI_PRUNED_A_CFG.to_vec()).with_head(VggHead::LI)
    }

    /// This configuration with every convolution (and the hidden layer of an MLP head) at the
    /// width `shapes` gives its parameter (PreConfig's widened or narrowed VGG, from a
    /// `ChannelAllocation` computed on `self.init(..)`; the widths' source knows no model,
    /// this configuration knows its parameter paths).
    ///
    /// Errors: a width the shapes do not give ([`ModelError::MissingWidth`]).
    ///
    /// ```
    /// use burn_prune_models::{VggConfig, VggLayer::{Conv, MaxPool}};
    /// use std::collections::HashMap;
    ///
    /// let base = VggConfig::new(vec![Conv(8), MaxPool, Conv(16)]);
    /// let shapes = HashMap::from([
    ///     ("features.0.Conv.conv.weight".to_string(), vec![12, 3, 3, 3]),
    ///     ("features.2.Conv.conv.weight".to_string(), vec![6, 12, 3, 3]),
    /// ]);
    /// assert_eq!(base.with_widths_of(&shapes).unwrap().cfg, vec![Conv(12), MaxPool, Conv(6)]);
    /// assert!(base.with_widths_of(&HashMap::new()).is_err());
    /// ```
    pub fn with_widths_of(&self, shapes: &impl ParamShapes) -> Result<Self, ModelError> {
        let width = |path: String, axis: usize| {
            shapes
                .width(&path, axis)
                .ok_or(ModelError::MissingWidth { path, axis })
        };
        let mut cfg = Vec::with_capacity(self.cfg.len());
        for (i, layer) in self.cfg.iter().enumerate() {
            cfg.push(match layer {
                VggLayer::Conv(_) => {
                    VggLayer::Conv(width(format!("features.{i}.Conv.conv.weight"), 0)?)
                }
                VggLayer::MaxPool => VggLayer::MaxPool,
            });
        }
        let head = match self.head {
            VggHead::Linear => VggHead::Linear,
            VggHead::Mlp { .. } => VggHead::Mlp {
                hidden: width("classifier.Mlp.linear1.weight".into(), 1)?,
            },
        };
        Ok(Self::new(cfg)
            .with_num_classes(self.num_classes)
            .with_head(head)
            .with_in_channels(self.in_channels))
    }

    /// The number of parameters the configuration builds (as
    /// [`param_count`](crate::param_count) counts them), from the configuration alone.
    ///
    /// Errors: more than [`MAX_PARAMS`](crate::MAX_PARAMS) (or sizes whose product
    /// overflows).
    ///
    /// ```
    /// use burn_prune_models::VggConfig;
    ///
    /// assert_eq!(VggConfig::vgg16().param_count().unwrap(), 14_987_722);
    /// ```
    pub fn param_count(&self) -> Result<usize, ModelError> {
        let mut t = Tally::new("VGG");
        let mut channels = self.in_channels;
        for layer in &self.cfg {
            if let VggLayer::Conv(out) = *layer {
                t.conv_bn(channels, out, 3)?;
                channels = out;
            }
        }
        match self.head {
            VggHead::Linear => t.linear(channels, self.num_classes, true)?,
            VggHead::Mlp { hidden } => {
                t.linear(channels, hidden, true)?;
                t.batch_norm(hidden)?;
                t.linear(hidden, self.num_classes, true)?;
            }
        }
        Ok(t.total())
    }

    /// Checks the configuration and builds the model on `device`.
    pub fn init(&self, device: &Device) -> Result<Vgg, ModelError> {
        self.param_count()?;
        nonzero(self.num_classes, "num_classes")?;
        if !self.cfg.iter().any(|l| matches!(l, VggLayer::Conv(_))) {
            return Err(ModelError::NoConvolution);
        }
        nonzero(self.in_channels, "in_channels")?;
        let mut features = Vec::with_capacity(self.cfg.len());
        let mut channels = self.in_channels;
        for layer in &self.cfg {
            features.push(match *layer {
                VggLayer::Conv(out) => {
                    let conv = ConvSpec::new(channels, out, 3, 1).conv_bn(device)?;
                    channels = out;
                    VggFeature::Conv(conv)
                }
                VggLayer::MaxPool => VggFeature::MaxPool(MaxPool2dConfig::new([2, 2]).init()),
            });
        }
        let classifier = match self.head {
            VggHead::Linear => {
                VggClassifier::Linear(LinearConfig::new(channels, self.num_classes).init(device))
            }
            VggHead::Mlp { hidden } => {
                nonzero(hidden, "VGG head hidden width")?;
                VggClassifier::Mlp(VggMlpHead {
                    linear1: LinearConfig::new(channels, hidden).init(device),
                    bn: batch_norm(hidden, device)?,
                    linear2: LinearConfig::new(hidden, self.num_classes).init(device),
                })
            }
        };
        Ok(Vgg {
            features,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            classifier,
        })
    }
}

/// VGG with batch norm: the `cfg` feature layers, global average pooling, a classifier.
///
/// The reference code ends the features with `AvgPool2d(2)` on the `2×2` map of a `32×32`
/// input; the adaptive `1×1` average pool used here is the same there and also accepts other
/// sizes.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct Vgg {
    /// Feature layers (conv-BN with ReLU in `forward`, or max pooling).
    pub features: Vec<VggFeature>,
    /// Global average pooling to `1×1`.
    pub pool: AdaptiveAvgPool2d,
    /// The classifier.
    pub classifier: VggClassifier,
}

impl Vgg {
    /// Logits of a batch of images.
    ///
    /// # Shapes
    /// - `x`: `[N, 3, H, W]` (CIFAR: `32×32`; `H` and `W` must survive the max pools)
    /// - output: `[N, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for layer in &self.features {
            x = match layer {
                VggFeature::Conv(conv) => relu(conv.forward(x)),
                VggFeature::MaxPool(pool) => pool.forward(x),
            };
        }
        let [n, c, _, _] = x.dims();
        self.classifier
            .forward(self.pool.forward(x).reshape([n, c]))
    }
}

/// One feature layer of a [`Vgg`].
#[allow(
    clippy::large_enum_variant,
    reason = "built once per model; boxing is not supported by the Module derive"
)]
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub enum VggFeature {
    /// conv3×3 + BN (ReLU applied in [`Vgg::forward`]).
    Conv(ConvBn),
    /// Max pooling 2×2, stride 2.
    MaxPool(MaxPool2d),
}

/// The classifier of a [`Vgg`].
#[allow(
    clippy::large_enum_variant,
    reason = "built once per model; boxing is not supported by the Module derive"
)]
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub enum VggClassifier {
    /// `Linear(C, classes)`.
    Linear(Linear),
    /// `Linear-BN1d-ReLU-Linear`.
    Mlp(VggMlpHead),
}

impl VggClassifier {
    /// Logits from pooled features.
    ///
    /// # Shapes
    /// - `x`: `[N, C]`
    /// - output: `[N, num_classes]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Linear(linear) => linear.forward(x),
            Self::Mlp(head) => head.forward(x),
        }
    }
}

/// Li et al.'s classifier: `Linear(C, hidden)-BatchNorm1d(hidden)-ReLU-Linear(hidden, classes)`.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct VggMlpHead {
    /// `Linear(C, hidden)` with bias.
    pub linear1: Linear,
    /// Batch norm over the hidden features (rank-2 input `[N, hidden]`).
    pub bn: BatchNorm,
    /// `Linear(hidden, classes)` with bias.
    pub linear2: Linear,
}

impl VggMlpHead {
    /// `linear2(relu(bn(linear1(x))))`.
    ///
    /// # Shapes
    /// - `x`: `[N, C]`
    /// - output: `[N, num_classes]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.linear2
            .forward(relu(self.bn.forward(self.linear1.forward(x))))
    }
}

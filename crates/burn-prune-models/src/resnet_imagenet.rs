//! ImageNet ResNets (He et al. 2016) in the torchvision layout: ResNet-18/34 (basic blocks) and
//! ResNet-50/101/152 v1.5 (bottlenecks with the stride on the 3×3 conv).

use burn::module::Param;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::ModelError;
use crate::block_scale::{fold_into, resnet_block_path, scale_branch};
use crate::layers::{ConvBn, ConvSpec, nonzero};
use burn_prune_core::structure::ModuleConstants;
use burn_prune_schedule::methods::{BlockId, ResidualStages, ScaledBlock};

/// Configuration of a [`ResNetImagenet`]: depth 18, 34 (basic blocks), 50, 101 or 152
/// (bottlenecks).
///
/// ResNet-18 has 11,689,512 parameters and ResNet-50 25,557,032 (1000 classes), as torchvision.
#[derive(Config, Debug)]
pub struct ResNetImagenetConfig {
    /// 18, 34, 50, 101 or 152.
    pub depth: usize,
    /// Number of classes.
    #[config(default = 1000)]
    pub num_classes: usize,
}

impl ResNetImagenetConfig {
    /// ResNet-18.
    pub fn resnet18() -> Self {
        Self::new(18)
    }

    /// ResNet-34.
    pub fn resnet34() -> Self {
        Self::new(34)
    }

    /// ResNet-50 (v1.5).
    pub fn resnet50() -> Self {
        Self::new(50)
    }

    /// Blocks per stage and whether they are bottlenecks.
    pub fn layout(&self) -> Result<([usize; 4], bool), ModelError> {
        match self.depth {
            18 => Ok(([2, 2, 2, 2], false)),
            34 => Ok(([3, 4, 6, 3], false)),
            50 => Ok(([3, 4, 6, 3], true)),
            101 => Ok(([3, 4, 23, 3], true)),
            152 => Ok(([3, 8, 36, 3], true)),
            depth => Err(ModelError::UnsupportedImagenetDepth { depth }),
        }
    }

    /// Checks the configuration and builds the model on `device`.
    pub fn init(&self, device: &Device) -> Result<ResNetImagenet, ModelError> {
        let (blocks, bottleneck) = self.layout()?;
        nonzero(self.num_classes, "num_classes")?;
        let expansion = if bottleneck { 4 } else { 1 };
        let mut in_channels = 64;
        let mut stages = Vec::with_capacity(4);
        for (s, &n) in blocks.iter().enumerate() {
            let width = 64 << s;
            let stage = (0..n)
                .map(|i| {
                    let stride = if s > 0 && i == 0 { 2 } else { 1 };
                    let block = ResidualBlock::new(in_channels, width, stride, bottleneck, device);
                    in_channels = width * expansion;
                    block
                })
                .collect::<Result<Vec<_>, _>>()?;
            stages.push(stage);
        }
        let [layer1, layer2, layer3, layer4]: [Vec<ResidualBlock>; 4] =
            stages.try_into().expect("four stages were built");
        Ok(ResNetImagenet {
            stem: ConvSpec::new(3, 64, 7, 2).conv_bn(device)?,
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(in_channels, self.num_classes).init(device),
        })
    }
}

/// An ImageNet ResNet: conv7×7/2(3→64)-BN-ReLU, max pool 3×3/2, four stages (64/128/256/512
/// base widths, strides 1/2/2/2), global average pooling, `Linear(512·expansion, classes)`.
///
/// Built by [`ResNetImagenetConfig::init`]. Paths follow torchvision (`layer3.1.conv2`,
/// `layer2.0.downsample`), with the stem under `stem` and `fc` as the classifier.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct ResNetImagenet {
    /// Stem conv7×7, stride 2, padding 3 + BN (ReLU in `forward`).
    pub stem: ConvBn,
    /// Max pooling 3×3, stride 2, padding 1.
    pub maxpool: MaxPool2d,
    /// Stage 1 (64 base channels, stride 1).
    pub layer1: Vec<ResidualBlock>,
    /// Stage 2 (128 base channels, stride 2).
    pub layer2: Vec<ResidualBlock>,
    /// Stage 3 (256 base channels, stride 2).
    pub layer3: Vec<ResidualBlock>,
    /// Stage 4 (512 base channels, stride 2).
    pub layer4: Vec<ResidualBlock>,
    /// Global average pooling to `1×1`.
    pub pool: AdaptiveAvgPool2d,
    /// Classifier with bias.
    pub fc: Linear,
}

impl ResidualStages for ResNetImagenet {
    type Block = ResidualBlock;

    fn stages(&self) -> Vec<&[ResidualBlock]> {
        vec![&self.layer1, &self.layer2, &self.layer3, &self.layer4]
    }

    fn stages_mut(&mut self) -> Vec<&mut Vec<ResidualBlock>> {
        vec![
            &mut self.layer1,
            &mut self.layer2,
            &mut self.layer3,
            &mut self.layer4,
        ]
    }

    fn block_path(id: BlockId) -> String {
        resnet_block_path(id)
    }
}

impl ResNetImagenet {
    /// Logits of a batch of images.
    ///
    /// # Shapes
    /// - `x`: `[N, 3, H, W]` (ImageNet: `224×224`; at least `32×32`)
    /// - output: `[N, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.maxpool.forward(relu(self.stem.forward(x)));
        let blocks = self.layer1.iter().chain(&self.layer2);
        for block in blocks.chain(&self.layer3).chain(&self.layer4) {
            x = block.forward(x);
        }
        let [n, c, _, _] = x.dims();
        self.fc.forward(self.pool.forward(x).reshape([n, c]))
    }
}

/// A residual block of an ImageNet ResNet, basic or bottleneck.
///
/// - basic: `conv1` 3×3 (stride) and `conv2` 3×3, `conv3` absent; output `width` channels;
/// - bottleneck (v1.5): `conv1` 1×1, `conv2` 3×3 (stride), `conv3` 1×1 to `4·width`.
///
/// Each conv is followed by BN and, except the last, ReLU; the shortcut is added, then ReLU.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct ResidualBlock {
    /// First conv + BN.
    pub conv1: ConvBn,
    /// Second conv + BN.
    pub conv2: ConvBn,
    /// Third conv1×1 + BN (bottleneck only).
    pub conv3: Option<ConvBn>,
    /// Projection shortcut conv1×1 + BN, when the shape changes; identity otherwise.
    pub downsample: Option<ConvBn>,
    /// Learned scale `λ` (shape `[1]`) of the residual branch, path `layerS.I.scale`; `None`
    /// (no parameter at all) unless turned on with
    /// [`ResidualStages::with_block_scales`](ResidualStages::with_block_scales).
    pub scale: Option<Param<Tensor<1>>>,
}

impl ResidualBlock {
    /// A block from `in_channels` with base `width` and `stride`; bottleneck or basic.
    pub fn new(
        in_channels: usize,
        width: usize,
        stride: usize,
        bottleneck: bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let (conv1, conv2, conv3, out) = if bottleneck {
            let out = 4 * width;
            (
                ConvSpec::new(in_channels, width, 1, 1).conv_bn(device)?,
                ConvSpec::new(width, width, 3, stride).conv_bn(device)?,
                Some(ConvSpec::new(width, out, 1, 1).conv_bn(device)?),
                out,
            )
        } else {
            (
                ConvSpec::new(in_channels, width, 3, stride).conv_bn(device)?,
                ConvSpec::new(width, width, 3, 1).conv_bn(device)?,
                None,
                width,
            )
        };
        let downsample = if stride != 1 || in_channels != out {
            Some(ConvSpec::new(in_channels, out, 1, stride).conv_bn(device)?)
        } else {
            None
        };
        Ok(Self {
            conv1,
            conv2,
            conv3,
            downsample,
            scale: None,
        })
    }

    /// Applies the block; the residual branch is multiplied by [`scale`](Self::scale) when
    /// there is one.
    ///
    /// # Shapes
    /// - `x`: `[N, in, H, W]`
    /// - output: `[N, out, ⌈H / stride⌉, ⌈W / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(downsample) => downsample.forward(x.clone()),
            None => x.clone(),
        };
        let mut h = self.conv2.forward(relu(self.conv1.forward(x)));
        if let Some(conv3) = &self.conv3 {
            h = conv3.forward(relu(h));
        }
        relu(scale_branch(h, self.scale.as_ref()) + identity)
    }
}

impl ScaledBlock for ResidualBlock {
    fn scale(&self) -> Option<&Param<Tensor<1>>> {
        self.scale.as_ref()
    }

    fn scale_mut(&mut self) -> &mut Option<Param<Tensor<1>>> {
        &mut self.scale
    }

    fn keeps_shape(&self) -> bool {
        self.downsample.is_none()
    }

    fn fold_scale(&mut self) {
        if let Some(scale) = self.scale.take() {
            let last = self.conv3.as_mut().unwrap_or(&mut self.conv2);
            fold_into(&mut last.bn, scale);
        }
    }

    fn device(&self) -> Device {
        self.conv1.conv.weight.lazy_device()
    }
}

//! ResNets for CIFAR (He et al. 2016, §4.2): depth `6n + 2`, three stages of `n` basic blocks
//! with widths 16/32/64, and the filter-pruned variants of Li et al. (2017).

use burn::module::Param;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Identity, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Slice;
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::block_scale::{fold_into, resnet_block_path, scale_branch};
use crate::layers::{ConvBn, ConvSpec, nonzero};
use crate::size::Tally;
use burn_prune_core::structure::ModuleConstants;
use burn_prune_core::structure::ParamShapes;
use burn_prune_schedule::methods::{BlockId, ResidualStages, ScaledBlock};

/// Output widths of the three stages of a CIFAR ResNet.
pub const CIFAR_STAGE_WIDTHS: [usize; 3] = [16, 32, 64];

/// How a block that changes shape (the first block of stages 2 and 3) forms its shortcut.
///
/// Blocks that keep the shape always use the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShortcutKind {
    /// Parameter-free: subsample `x[:, :, ::2, ::2]`, then zero-pad the channel dimension
    /// (He et al. 2016, option A; the `pytorch_resnet_cifar10` code). See [`ZeroPadShortcut`].
    A,
    /// Projection: 1×1 convolution (stride 2, no bias) + batch norm (option B).
    B,
}

/// Configuration of a [`ResNetCifar`].
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::{param_count, ResNetCifarConfig};
///
/// let device = Device::flex();
/// let model = ResNetCifarConfig::new(20).init(&device).unwrap();
/// assert_eq!(param_count(&model), 269_722);
/// ```
#[derive(Config, Debug)]
pub struct ResNetCifarConfig {
    /// Number of layers with weights, `6n + 2` (20, 32, 44, 56, 110, ...): `n` blocks per stage.
    pub depth: usize,
    /// Number of classes of the final linear layer.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Channels of the input images (3 for CIFAR-10, 1 for grayscale data such as
    /// Fashion-MNIST). Any input size works: the network ends with global average pooling.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Shortcut of the two downsampling blocks.
    #[config(default = "ShortcutKind::A")]
    pub shortcut: ShortcutKind,
    /// Output width of the *first* convolution of every block, in order (`3n` entries).
    ///
    /// `None` keeps the stage widths 16/32/64. Narrower widths give the filter-pruned networks
    /// of Li et al. (see [`ResNetCifarConfig::li_pruned`]); the block outputs keep the stage
    /// width so the residual additions are unchanged.
    pub block_widths: Option<Vec<usize>>,
    /// Output widths of the stem and the three stages (3 entries). `None` keeps
    /// [`CIFAR_STAGE_WIDTHS`] (16/32/64); other widths give wider or narrower networks
    /// (PreConfig). With option-A shortcuts a stage may not be narrower than the one before
    /// (the shortcut zero-pads the difference).
    pub stage_widths: Option<Vec<usize>>,
    /// Blocks in each of the three stages (3 entries), in place of the `n` of `depth`: a
    /// network with residual blocks removed (see [`ResNetCifarConfig::without_blocks`]).
    /// Stages 2 and 3 keep at least their first block, which downsamples; stage 1 may be
    /// empty. `None`: `n` blocks in every stage.
    pub stage_blocks: Option<Vec<usize>>,
}

impl ResNetCifarConfig {
    /// Number of basic blocks per stage, `n = (depth − 2) / 6`.
    pub fn blocks_per_stage(&self) -> Result<usize, ModelError> {
        blocks_per_stage(self.depth)
    }

    /// The output widths of the stem and the three stages: `stage_widths`, or
    /// [`CIFAR_STAGE_WIDTHS`].
    ///
    /// ```
    /// use burn_prune_models::ResNetCifarConfig;
    ///
    /// let wide = ResNetCifarConfig::new(20).with_stage_widths(Some(vec![24, 40, 64]));
    /// assert_eq!(wide.resolved_stage_widths().unwrap(), [24, 40, 64]);
    /// // The blocks' inner widths follow the stage widths unless set.
    /// assert_eq!(wide.resolved_block_widths().unwrap(), [24, 24, 24, 40, 40, 40, 64, 64, 64]);
    /// assert!(ResNetCifarConfig::new(20).with_stage_widths(Some(vec![16, 32])).init(&burn::prelude::Device::flex()).is_err());
    /// ```
    pub fn resolved_stage_widths(&self) -> Result<[usize; 3], ModelError> {
        match &self.stage_widths {
            None => Ok(CIFAR_STAGE_WIDTHS),
            Some(widths) => {
                let widths: [usize; 3] = widths
                    .as_slice()
                    .try_into()
                    .map_err(|_| ModelError::StageWidthsLength { got: widths.len() })?;
                for w in widths {
                    nonzero(w, "stage width")?;
                }
                Ok(widths)
            }
        }
    }

    /// The number of blocks of each stage: `stage_blocks`, or `n` of `depth` in every stage.
    ///
    /// Errors: an invalid depth, `stage_blocks` without 3 entries, or stage 2 or 3 without
    /// a block.
    ///
    /// ```
    /// use burn_prune_models::ResNetCifarConfig;
    ///
    /// assert_eq!(ResNetCifarConfig::new(20).resolved_stage_blocks().unwrap(), [3, 3, 3]);
    /// let cut = ResNetCifarConfig::new(20).with_stage_blocks(Some(vec![0, 2, 1]));
    /// assert_eq!(cut.resolved_stage_blocks().unwrap(), [0, 2, 1]);
    /// assert!(cut.with_stage_blocks(Some(vec![1, 0, 1])).resolved_stage_blocks().is_err());
    /// ```
    pub fn resolved_stage_blocks(&self) -> Result<[usize; 3], ModelError> {
        let n = self.blocks_per_stage()?;
        let Some(blocks) = &self.stage_blocks else {
            return Ok([n; 3]);
        };
        let blocks: [usize; 3] = blocks
            .as_slice()
            .try_into()
            .map_err(|_| ModelError::StageBlocksLength { got: blocks.len() })?;
        if let Some(stage) = (1..3).find(|&s| blocks[s] == 0) {
            return Err(ModelError::EmptyStage { stage });
        }
        Ok(blocks)
    }

    /// The first-conv width of every block: `block_widths`, or the stage widths.
    pub fn resolved_block_widths(&self) -> Result<Vec<usize>, ModelError> {
        let blocks = self.resolved_stage_blocks()?;
        let total: usize = blocks.iter().sum();
        match &self.block_widths {
            None => Ok(self
                .resolved_stage_widths()?
                .iter()
                .zip(blocks)
                .flat_map(|(&w, n)| std::iter::repeat_n(w, n))
                .collect()),
            Some(widths) if widths.len() != total => Err(ModelError::BlockWidthsLength {
                depth: self.depth,
                expected: total,
                got: widths.len(),
            }),
            Some(widths) => {
                for &w in widths {
                    nonzero(w, "block width")?;
                }
                Ok(widths.clone())
            }
        }
    }

    /// A Li et al. (2017) filter-pruned network: in stage `s` the first conv of every block
    /// keeps `int(C_s · (1 − ratios[s]))` of its `C_s` filters, except the layers in `skip`.
    ///
    /// Layers are numbered from the stem conv = 1, so the first conv of block `b` (0-based over
    /// the whole network) is layer `2 + 2b`. Option-A shortcuts, as in the paper.
    pub fn li_pruned(depth: usize, ratios: [f64; 3], skip: &[usize]) -> Result<Self, ModelError> {
        let widths = li_block_widths(depth, ratios, skip)?;
        Ok(Self::new(depth).with_block_widths(Some(widths)))
    }

    /// Li et al.'s ResNet-56-pruned-A: ratio 0.1 in every stage, layers 16, 20, 38, 54 kept
    /// (773,336 parameters). Only depth 56 is defined.
    pub fn li_pruned_a(depth: usize) -> Result<Self, ModelError> {
        match depth {
            56 => Self::li_pruned(56, [0.1, 0.1, 0.1], &[16, 20, 38, 54]),
            _ => Err(ModelError::NoLiPreset {
                variant: "A",
                depth,
            }),
        }
    }

    /// Li et al.'s pruned-B networks: ResNet-56 with ratios (0.6, 0.3, 0.1), layers 16, 18, 20,
    /// 34, 38, 54 kept (735,712 parameters); ResNet-110 with (0.5, 0.4, 0.3), layers 36, 38, 74
    /// kept (1,168,424 parameters). Other depths are not defined.
    pub fn li_pruned_b(depth: usize) -> Result<Self, ModelError> {
        match depth {
            56 => Self::li_pruned(56, [0.6, 0.3, 0.1], &[16, 18, 20, 34, 38, 54]),
            110 => Self::li_pruned(110, [0.5, 0.4, 0.3], &[36, 38, 74]),
            _ => Err(ModelError::NoLiPreset {
                variant: "B",
                depth,
            }),
        }
    }

    /// The same network without the listed blocks (ids of this configuration's network):
    /// `stage_blocks` counts what is left and `block_widths`, when set, loses the removed
    /// blocks' entries. A model from [`ResidualStages::remove_blocks`]
    /// with the same ids loads into the network it builds. Duplicates count once.
    ///
    /// Errors: an invalid configuration, an id it does not have, or a block that changes
    /// shape (the first of stages 2 and 3: it cannot be removed).
    ///
    /// ```
    /// use burn_prune_models::ResNetCifarConfig;
    /// use burn_prune_schedule::methods::BlockId;
    ///
    /// let cut = ResNetCifarConfig::new(20)
    ///     .without_blocks(&[BlockId { stage: 0, index: 2 }, BlockId { stage: 2, index: 1 }])
    ///     .unwrap();
    /// assert_eq!(cut.resolved_stage_blocks().unwrap(), [2, 3, 2]);
    /// assert!(ResNetCifarConfig::new(20).without_blocks(&[BlockId { stage: 1, index: 0 }]).is_err());
    /// ```
    pub fn without_blocks(&self, removed: &[BlockId]) -> Result<Self, ModelError> {
        let blocks = self.resolved_stage_blocks()?;
        let widths = self.resolved_block_widths()?;
        let mut removed = removed.to_vec();
        removed.sort();
        removed.dedup();
        for id in &removed {
            if blocks.get(id.stage).is_none_or(|&n| id.index >= n) {
                return Err(ModelError::UnknownBlock {
                    block: resnet_block_path(*id),
                    stages: blocks.to_vec(),
                });
            }
            if id.stage > 0 && id.index == 0 {
                return Err(ModelError::BlockChangesShape {
                    block: resnet_block_path(*id),
                });
            }
        }
        let mut kept_widths = Vec::with_capacity(widths.len());
        let mut counts = [0; 3];
        let mut next = widths.iter();
        for (stage, &n) in blocks.iter().enumerate() {
            for index in 0..n {
                let width = next.next().copied().unwrap_or_default();
                if removed.binary_search(&BlockId { stage, index }).is_err() {
                    kept_widths.push(width);
                    counts[stage] += 1;
                }
            }
        }
        let mut config = self.clone().with_stage_blocks(Some(counts.to_vec()));
        if config.block_widths.is_some() {
            config.block_widths = Some(kept_widths);
        }
        Ok(config)
    }

    /// This configuration with the stage widths (`stage_widths`) and block widths
    /// (`block_widths`) that `shapes` give its parameters (PreConfig's widened or narrowed
    /// ResNet, from a `ChannelAllocation` computed on `self.init(..)`; the widths' source
    /// knows no model, this configuration knows its parameter paths).
    ///
    /// With option-A shortcuts the zero padding couples the stages: the channels of stage 1
    /// run through all three, and the padded ones cannot change, so the stage widths move
    /// together (`w₁`, `w₁ + 16`, `w₁ + 48` from the standard 16/32/64). Option B frees them.
    ///
    /// Errors: an invalid configuration, or a width the shapes do not give
    /// ([`ModelError::MissingWidth`]).
    pub fn with_widths_of(&self, shapes: &impl ParamShapes) -> Result<Self, ModelError> {
        let n = self.resolved_stage_blocks()?;
        let width = |path: String| {
            shapes
                .width(&path, 0)
                .ok_or(ModelError::MissingWidth { path, axis: 0 })
        };
        let mut stages = Vec::with_capacity(3);
        let mut blocks = Vec::with_capacity(n.iter().sum());
        for (s, &count) in n.iter().enumerate() {
            stages.push(width(format!("layer{}.0.conv2.conv.weight", s + 1))?);
            for b in 0..count {
                blocks.push(width(format!("layer{}.{b}.conv1.conv.weight", s + 1))?);
            }
        }
        Ok(self
            .clone()
            .with_stage_widths(Some(stages))
            .with_block_widths(Some(blocks)))
    }

    /// The number of parameters the configuration builds (as
    /// [`param_count`](crate::param_count) counts them), from the configuration alone.
    ///
    /// Errors: an invalid configuration; more than [`MAX_PARAMS`](crate::MAX_PARAMS).
    ///
    /// ```
    /// use burn_prune_models::ResNetCifarConfig;
    ///
    /// assert_eq!(ResNetCifarConfig::new(56).param_count().unwrap(), 853_018);
    /// let absurd = ResNetCifarConfig::new(20).with_stage_widths(Some(vec![16, 32, 1 << 20]));
    /// assert!(absurd.param_count().is_err());
    /// ```
    pub fn param_count(&self) -> Result<usize, ModelError> {
        let counts = self.resolved_stage_blocks()?;
        let stage_widths = self.resolved_stage_widths()?;
        nonzero(self.num_classes, "num_classes")?;
        nonzero(self.in_channels, "in_channels")?;
        let mut t = Tally::new("CIFAR ResNet");
        let total = counts.iter().try_fold(0usize, |a, &n| a.checked_add(n));
        if let Some(widths) = &self.block_widths
            && Some(widths.len()) != total
        {
            return Err(ModelError::BlockWidthsLength {
                depth: self.depth,
                expected: total.unwrap_or(usize::MAX),
                got: widths.len(),
            });
        }
        let shortcut = self.shortcut;
        let block = |t: &mut Tally, cin: usize, mid: usize, out: usize, stride: usize| {
            nonzero(mid, "block width")?;
            t.conv_bn(cin, mid, 3)?;
            t.conv_bn(mid, out, 3)?;
            if !(stride == 1 && cin == out) && shortcut == ShortcutKind::B {
                t.conv_bn(cin, out, 1)?;
            }
            Ok(())
        };
        t.conv_bn(self.in_channels, stage_widths[0], 3)?;
        let mut cin = stage_widths[0];
        let mut next = 0;
        for (s, (&out, &n)) in stage_widths.iter().zip(&counts).enumerate() {
            if n == 0 {
                continue;
            }
            let stride = if s > 0 { 2 } else { 1 };
            match &self.block_widths {
                Some(widths) => {
                    for (i, &mid) in widths[next..next + n].iter().enumerate() {
                        block(&mut t, cin, mid, out, if i == 0 { stride } else { 1 })?;
                        cin = out;
                    }
                    next += n;
                }
                None => {
                    block(&mut t, cin, out, out, stride)?;
                    t.repeat(n - 1, |t| block(t, out, out, out, 1))?;
                    cin = out;
                }
            }
        }
        t.linear(stage_widths[2], self.num_classes, true)?;
        Ok(t.total())
    }

    /// Checks the configuration (its size too: at most [`MAX_PARAMS`](crate::MAX_PARAMS)
    /// parameters, checked before anything is allocated) and builds the model on `device`.
    pub fn init(&self, device: &Device) -> Result<ResNetCifar, ModelError> {
        self.param_count()?;
        let counts = self.resolved_stage_blocks()?;
        let widths = self.resolved_block_widths()?;
        let stage_widths = self.resolved_stage_widths()?;
        nonzero(self.num_classes, "num_classes")?;
        nonzero(self.in_channels, "in_channels")?;
        let mut stages = Vec::with_capacity(3);
        let mut in_channels = stage_widths[0];
        let mut widths = widths.into_iter();
        for (s, (&out, &n)) in stage_widths.iter().zip(&counts).enumerate() {
            let mut blocks = Vec::with_capacity(n);
            for i in 0..n {
                let stride = if s > 0 && i == 0 { 2 } else { 1 };
                let mid = widths.next().unwrap_or(out);
                blocks.push(BasicBlock::new(
                    in_channels,
                    mid,
                    out,
                    stride,
                    self.shortcut,
                    device,
                )?);
                in_channels = out;
            }
            stages.push(blocks);
        }
        let [layer1, layer2, layer3]: [Vec<BasicBlock>; 3] =
            stages.try_into().expect("three stages were built");
        Ok(ResNetCifar {
            stem: ConvSpec::new(self.in_channels, stage_widths[0], 3, 1).conv_bn(device)?,
            layer1,
            layer2,
            layer3,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(stage_widths[2], self.num_classes).init(device),
        })
    }
}

/// `n = (depth − 2) / 6` for a valid CIFAR ResNet depth.
fn blocks_per_stage(depth: usize) -> Result<usize, ModelError> {
    if depth < 8 || !(depth - 2).is_multiple_of(6) {
        return Err(ModelError::UnsupportedCifarDepth { depth });
    }
    Ok((depth - 2) / 6)
}

/// The first-conv widths of Li et al.'s rule (see [`ResNetCifarConfig::li_pruned`]).
///
/// ```
/// use burn_prune_models::li_block_widths;
///
/// // ResNet-20: layers 2..=6 (stage 1), 8..=12 (stage 2), 14..=18 (stage 3); layer 8 kept.
/// let w = li_block_widths(20, [0.5, 0.5, 0.1], &[8]).unwrap();
/// assert_eq!(w, vec![8, 8, 8, 32, 16, 16, 57, 57, 57]);
/// ```
pub fn li_block_widths(
    depth: usize,
    ratios: [f64; 3],
    skip: &[usize],
) -> Result<Vec<usize>, ModelError> {
    let n = blocks_per_stage(depth)?;
    let max = 2 * 3 * n;
    if let Some(&layer) = skip
        .iter()
        .find(|&&l| l < 2 || l > max || !l.is_multiple_of(2))
    {
        return Err(ModelError::InvalidSkipLayer { layer, depth, max });
    }
    let mut widths = Vec::with_capacity(3 * n);
    for (s, (&width, &ratio)) in CIFAR_STAGE_WIDTHS.iter().zip(&ratios).enumerate() {
        if !(0.0..1.0).contains(&ratio) {
            return Err(ModelError::InvalidRatio { stage: s, ratio });
        }
        // Python's int(C * (1 - p)): truncation toward zero.
        let kept = (width as f64 * (1.0 - ratio)) as usize;
        if kept == 0 {
            return Err(ModelError::NothingKept {
                stage: s,
                ratio,
                width,
            });
        }
        for i in 0..n {
            let layer = 2 + 2 * (s * n + i);
            widths.push(if skip.contains(&layer) { width } else { kept });
        }
    }
    Ok(widths)
}

/// A CIFAR ResNet: conv3×3(in→16)-BN-ReLU (3 input channels unless configured), three stages of [`BasicBlock`]s (16/32/64
/// channels, strides 1/2/2), global average pooling, `Linear(64, classes)`.
///
/// Built by [`ResNetCifarConfig::init`]. Parameter paths follow the PyTorch code
/// (`layer2.0.conv1.weight`, ...), with the stem under `stem` and the classifier under `fc`.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct ResNetCifar {
    /// Stem: conv3×3(in_channels→16) + BN (ReLU in `forward`).
    pub stem: ConvBn,
    /// Stage 1: `n` blocks at 16 channels, 32×32 for CIFAR inputs.
    pub layer1: Vec<BasicBlock>,
    /// Stage 2: `n` blocks at 32 channels, the first one with stride 2.
    pub layer2: Vec<BasicBlock>,
    /// Stage 3: `n` blocks at 64 channels, the first one with stride 2.
    pub layer3: Vec<BasicBlock>,
    /// Global average pooling to `1×1`.
    pub pool: AdaptiveAvgPool2d,
    /// Classifier `Linear(64, classes)` with bias.
    pub fc: Linear,
}

impl ResidualStages for ResNetCifar {
    type Block = BasicBlock;

    fn stages(&self) -> Vec<&[BasicBlock]> {
        vec![&self.layer1, &self.layer2, &self.layer3]
    }

    fn stages_mut(&mut self) -> Vec<&mut Vec<BasicBlock>> {
        vec![&mut self.layer1, &mut self.layer2, &mut self.layer3]
    }

    fn block_path(id: BlockId) -> String {
        resnet_block_path(id)
    }
}

impl ResNetCifar {
    /// Logits of a batch of images.
    ///
    /// # Shapes
    /// - `x`: `[N, in_channels, H, W]` (CIFAR: `3×32×32`; Fashion-MNIST: `1×28×28`)
    /// - output: `[N, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu(self.stem.forward(x));
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3) {
            x = block.forward(x);
        }
        let [n, c, _, _] = x.dims();
        self.fc.forward(self.pool.forward(x).reshape([n, c]))
    }
}

/// A basic residual block: conv3×3-BN-ReLU-conv3×3-BN, plus the shortcut, then ReLU.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct BasicBlock {
    /// First conv3×3 (carries the block's stride) + BN; its width is the block width.
    pub conv1: ConvBn,
    /// Second conv3×3 + BN, back to the stage width.
    pub conv2: ConvBn,
    /// The shortcut added to the residual branch.
    pub shortcut: Shortcut,
    /// Learned scale `λ` (shape `[1]`) of the residual branch, path `layerS.I.scale`; `None`
    /// (no parameter at all) unless turned on with
    /// [`ResidualStages::with_block_scales`](ResidualStages::with_block_scales).
    pub scale: Option<Param<Tensor<1>>>,
}

impl BasicBlock {
    /// A block `in_channels → mid → out_channels` whose first conv has `stride`; the shortcut
    /// is the identity unless the shape changes, then `kind`.
    pub fn new(
        in_channels: usize,
        mid: usize,
        out_channels: usize,
        stride: usize,
        kind: ShortcutKind,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let shortcut = if stride == 1 && in_channels == out_channels {
            Shortcut::Identity(Identity::new())
        } else {
            match kind {
                ShortcutKind::A => {
                    Shortcut::ZeroPad(ZeroPadShortcut::new(in_channels, out_channels, stride)?)
                }
                ShortcutKind::B => Shortcut::Projection(
                    ConvSpec::new(in_channels, out_channels, 1, stride).conv_bn(device)?,
                ),
            }
        };
        Ok(Self {
            conv1: ConvSpec::new(in_channels, mid, 3, stride).conv_bn(device)?,
            conv2: ConvSpec::new(mid, out_channels, 3, 1).conv_bn(device)?,
            shortcut,
            scale: None,
        })
    }

    /// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, the residual branch multiplied
    /// by [`scale`](Self::scale) when there is one.
    ///
    /// # Shapes
    /// - `x`: `[N, in, H, W]`
    /// - output: `[N, out, H / stride, W / stride]` (rounded up)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = self.shortcut.forward(x.clone());
        let out = self.conv2.forward(relu(self.conv1.forward(x)));
        relu(scale_branch(out, self.scale.as_ref()) + identity)
    }
}

impl ScaledBlock for BasicBlock {
    fn scale(&self) -> Option<&Param<Tensor<1>>> {
        self.scale.as_ref()
    }

    fn scale_mut(&mut self) -> &mut Option<Param<Tensor<1>>> {
        &mut self.scale
    }

    fn keeps_shape(&self) -> bool {
        matches!(self.shortcut, Shortcut::Identity(_))
    }

    fn fold_scale(&mut self) {
        if let Some(scale) = self.scale.take() {
            fold_into(&mut self.conv2.bn, scale);
        }
    }

    fn device(&self) -> Device {
        self.conv1.conv.weight.lazy_device()
    }
}

/// The shortcut of a [`BasicBlock`].
#[allow(
    clippy::large_enum_variant,
    reason = "built once per model; boxing is not supported by the Module derive"
)]
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub enum Shortcut {
    /// Same shape in and out.
    Identity(Identity),
    /// Option A: subsample and zero-pad channels, no parameters.
    ZeroPad(ZeroPadShortcut),
    /// Option B: conv1×1 (strided, no bias) + BN.
    Projection(ConvBn),
}

impl Shortcut {
    /// Applies the shortcut.
    ///
    /// # Shapes
    /// - `x`: `[N, in, H, W]`
    /// - output: `[N, out, H / stride, W / stride]` (rounded up)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Identity(id) => id.forward(x),
            Self::ZeroPad(pad) => pad.forward(x),
            Self::Projection(proj) => proj.forward(x),
        }
    }
}

/// Option-A shortcut: `x[:, :, ::stride, ::stride]`, then `pad_before` zero channels in front
/// and `pad_after` behind (PyTorch: `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))`).
///
/// The amounts are constants fixed at construction (plain fields, not recomputed from the
/// input's shape), so a traced graph records them as such.
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::ZeroPadShortcut;
///
/// let s = ZeroPadShortcut::new(16, 32, 2).unwrap();
/// assert_eq!((s.stride, s.pad_before, s.pad_after), (2, 8, 8));
/// let device = Device::flex();
/// let y = s.forward(Tensor::<4>::ones([1, 16, 32, 32], &device));
/// assert_eq!(y.dims(), [1, 32, 16, 16]);
/// ```
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct ZeroPadShortcut {
    /// Spatial subsampling step (1: none).
    pub stride: usize,
    /// Zero channels put before the input channels.
    pub pad_before: usize,
    /// Zero channels put after the input channels.
    pub pad_after: usize,
}

impl ZeroPadShortcut {
    /// A shortcut from `in_channels` to `out_channels ≥ in_channels`, the difference split
    /// evenly (`pad_before = (out − in) / 2`, the rest after).
    pub fn new(in_channels: usize, out_channels: usize, stride: usize) -> Result<Self, ModelError> {
        nonzero(in_channels, "shortcut input channels")?;
        nonzero(stride, "shortcut stride")?;
        if out_channels < in_channels {
            return Err(ModelError::ShortcutShrinks {
                input: in_channels,
                output: out_channels,
            });
        }
        let pad = out_channels - in_channels;
        Ok(Self {
            stride,
            pad_before: pad / 2,
            pad_after: pad - pad / 2,
        })
    }

    /// Subsamples and zero-pads.
    ///
    /// # Shapes
    /// - `x`: `[N, C, H, W]`
    /// - output: `[N, pad_before + C + pad_after, ⌈H / stride⌉, ⌈W / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = if self.stride > 1 {
            let step = Slice::new(0, None, self.stride as isize);
            x.slice([Slice::full(), Slice::full(), step, step])
        } else {
            x
        };
        if self.pad_before == 0 && self.pad_after == 0 {
            return x;
        }
        x.pad(
            [(0, 0), (self.pad_before, self.pad_after), (0, 0), (0, 0)],
            PadMode::Constant(0.0),
        )
    }
}

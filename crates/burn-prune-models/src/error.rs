//! The error type of this crate.

/// Why a model configuration cannot be built.
///
/// Every `init` of this crate validates its configuration first and returns one of these
/// instead of panicking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A CIFAR ResNet depth that is not `6n + 2` with `n ≥ 1`.
    #[error(
        "unsupported CIFAR ResNet depth {depth}: must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...)"
    )]
    UnsupportedCifarDepth {
        /// The depth asked for.
        depth: usize,
    },
    /// An ImageNet ResNet depth other than 18, 34, 50, 101 and 152.
    #[error("unsupported ImageNet ResNet depth {depth}: expected one of 18, 34, 50, 101, 152")]
    UnsupportedImagenetDepth {
        /// The depth asked for.
        depth: usize,
    },
    /// A size (channels, features, classes, stride, ...) that must be positive is zero.
    #[error("{what} must be at least 1, got 0")]
    Zero {
        /// What was zero.
        what: &'static str,
    },
    /// A stage width list without exactly 3 entries.
    #[error(
        "stage_widths has {got} entries but a CIFAR ResNet has 3 stages (the stem takes the \
         first stage's width)"
    )]
    StageWidthsLength {
        /// The number of entries given.
        got: usize,
    },
    /// `block_widths` does not have one entry per residual block.
    #[error(
        "block_widths has {got} entries but a depth-{depth} CIFAR ResNet has {expected} blocks"
    )]
    BlockWidthsLength {
        /// The network depth.
        depth: usize,
        /// The number of residual blocks of that depth.
        expected: usize,
        /// The number of widths given.
        got: usize,
    },
    /// A size that must be a multiple of another is not (attention heads per key/value head,
    /// an image side per patch).
    #[error("{what}: {value} is not a multiple of {by}")]
    NotDivisible {
        /// What was checked.
        what: &'static str,
        /// The size given.
        value: usize,
        /// What it must be a multiple of.
        by: usize,
    },
    /// A pruning ratio outside `[0, 1)` (or not finite).
    #[error("pruning ratio {ratio} of stage {stage} is outside [0, 1)")]
    InvalidRatio {
        /// The stage (0-based).
        stage: usize,
        /// The ratio given.
        ratio: f64,
    },
    /// A pruning ratio that would keep no filter at all.
    #[error("pruning ratio {ratio} keeps no filter of the width-{width} stage {stage}")]
    NothingKept {
        /// The stage (0-based).
        stage: usize,
        /// The ratio given.
        ratio: f64,
        /// The stage width.
        width: usize,
    },
    /// A skipped layer id that is not the first conv of a residual block.
    #[error(
        "layer {layer} is not the first conv of a residual block of ResNet-{depth} \
         (even ids 2..={max}, counting the stem conv as 1)"
    )]
    InvalidSkipLayer {
        /// The layer id given.
        layer: usize,
        /// The network depth.
        depth: usize,
        /// The largest valid id.
        max: usize,
    },
    /// A named Li et al. (2017) variant that the paper does not define for this depth.
    #[error("Li et al. (2017) define no pruned-{variant} variant of ResNet-{depth}")]
    NoLiPreset {
        /// The variant letter (`"A"`, `"B"`).
        variant: &'static str,
        /// The depth asked for.
        depth: usize,
    },
    /// A parameter-free (option A) shortcut cannot shrink the channel count.
    #[error("a zero-padding shortcut cannot map {input} channels to fewer ({output})")]
    ShortcutShrinks {
        /// Input channels.
        input: usize,
        /// Output channels.
        output: usize,
    },
    /// A VGG configuration without any convolution.
    #[error("the VGG cfg has no convolution")]
    NoConvolution,
    /// A width multiplier that is not finite and positive.
    #[error("width multiplier {0} is not finite and positive")]
    InvalidWidthMultiplier(f64),
    /// A MobileNetV2 configuration without inverted-residual stages.
    #[error("the MobileNetV2 configuration has no inverted-residual stage")]
    NoStages,
    /// A residual block id the model does not have.
    #[error("the model has no residual block {block} (blocks per stage: {stages:?})")]
    UnknownBlock {
        /// The block asked for (`layer2.3`).
        block: String,
        /// The number of blocks of each stage.
        stages: Vec<usize>,
    },
    /// A stage block count list without exactly 3 entries.
    #[error("stage_blocks has {got} entries but a CIFAR ResNet has 3 stages")]
    StageBlocksLength {
        /// The number of entries given.
        got: usize,
    },
    /// A stage whose first block downsamples was given no block.
    #[error(
        "stage {stage} (0-based) has no block, but its first block downsamples and cannot be \
         removed"
    )]
    EmptyStage {
        /// The stage (0-based).
        stage: usize,
    },
    /// A block asked to be removed from a configuration changes the shape (it downsamples or
    /// widens), so the network needs it.
    #[error("block {block} changes the shape and cannot be removed")]
    BlockChangesShape {
        /// The block (`layer2.0`).
        block: String,
    },
    /// New widths ([`ParamShapes`](burn_prune_core::structure::ParamShapes)) that give no
    /// size for a parameter the configuration reads.
    #[error(
        "`{path}`: the new widths give no size for axis {axis}; they were computed for another model"
    )]
    MissingWidth {
        /// The parameter path read.
        path: String,
        /// The axis read.
        axis: usize,
    },
    /// A configuration with more parameters than [`MAX_PARAMS`](crate::MAX_PARAMS) (or a
    /// count that overflows): rejected before anything is allocated.
    #[error(
        "{model} configuration has more than {limit} parameters (or sizes whose product \
         overflows): refused before allocating anything; check its sizes"
    )]
    TooLarge {
        /// The model kind.
        model: &'static str,
        /// The limit.
        limit: usize,
    },
}

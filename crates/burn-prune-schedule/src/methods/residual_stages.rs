//! Networks of residual stages, as sparse structure selection sees them: a learned scale on
//! each residual branch and the removal of whole blocks (Huang & Wang 2018). The traits are
//! implemented by the models (`burn-prune-models`' ResNets, or yours); this crate knows no
//! model.

use burn::module::{Module, Param};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a residual block sits: block `index` (0-based) of stage `stage` (0-based). The
/// model names its module path ([`ResidualStages::block_path`]).
///
/// Indices are those of the model at hand: removing a block renumbers the blocks after it in
/// its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlockId {
    /// The stage (`0` for `layer1`).
    pub stage: usize,
    /// The block within its stage.
    pub index: usize,
}

impl std::fmt::Display for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "block {} of stage {}", self.index, self.stage)
    }
}

/// A residual block `relu(λ · F(x) + shortcut(x))` whose residual branch `F` may carry a
/// learned scalar scale `λ` (absent: `λ` is not a parameter and the block is
/// `relu(F(x) + shortcut(x))`).
pub trait ScaledBlock {
    /// The scale `λ`, shape `[1]`, when turned on.
    fn scale(&self) -> Option<&Param<Tensor<1>>>;

    /// The slot holding the scale, to turn it on, off or replace it.
    fn scale_mut(&mut self) -> &mut Option<Param<Tensor<1>>>;

    /// Whether the shortcut is the identity (same shape in and out). Only such a block can be
    /// removed from its stage; one that downsamples or widens is needed for the shapes.
    fn keeps_shape(&self) -> bool;

    /// The device of the block's parameters.
    fn device(&self) -> Device;

    /// Fold the scale into the residual branch's last batch norm (`γ ← λγ`, `β ← λβ`) and
    /// remove it: the block computes the same outputs, in training and inference mode,
    /// without a scale parameter. Nothing happens without a scale.
    fn fold_scale(&mut self);
}

/// A network made of stages of residual blocks (`burn-prune-models`' `ResNetCifar` and
/// `ResNetImagenet` implement it; so can a model of yours): per-block scales and block
/// removal, what [`SparseStructureSelection`](super::SparseStructureSelection) needs.
///
/// Every block's input is the output of a ReLU (the stem's or the previous block's), so it is
/// non-negative, and a block with `λ = 0` computes `relu(0 · F(x) + x) = x` exactly: removing
/// it changes no output.
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::ResNetCifarConfig;
/// use burn_prune_schedule::methods::{BlockId, ResidualStages};
///
/// let device = Device::flex();
/// let model = ResNetCifarConfig::new(14).init(&device).unwrap().with_block_scales();
/// assert_eq!(model.blocks().len(), 6);
/// assert!(model.layer2[1].scale.is_some());
/// // layer2.0 downsamples: it stays; layer1.1 goes.
/// let ids = [BlockId { stage: 0, index: 1 }, BlockId { stage: 1, index: 0 }];
/// let (model, removal) = model.remove_blocks(&ids).unwrap();
/// assert_eq!(removal.removed, vec![ids[0]]);
/// assert_eq!(removal.kept, vec![ids[1]]);
/// assert_eq!((model.layer1.len(), model.layer2.len()), (1, 2));
/// ```
pub trait ResidualStages: Module + Sized {
    /// The residual block type.
    type Block: ScaledBlock;

    /// The stages in order (`layer1`, `layer2`, ...).
    fn stages(&self) -> Vec<&[Self::Block]>;

    /// The stages in order, mutably.
    fn stages_mut(&mut self) -> Vec<&mut Vec<Self::Block>>;

    /// The module path of block `id` (its parameters live under it), as the model names it
    /// (`layer2.0` in the reference ResNets); used in messages and as a key that survives
    /// rebuilding the model.
    fn block_path(id: BlockId) -> String;

    /// Every block with its id, stage by stage.
    fn blocks(&self) -> Vec<(BlockId, &Self::Block)> {
        self.stages()
            .into_iter()
            .enumerate()
            .flat_map(|(stage, blocks)| {
                blocks
                    .iter()
                    .enumerate()
                    .map(move |(index, block)| (BlockId { stage, index }, block))
            })
            .collect()
    }

    /// Turn on the scale of every block that has none, at `λ = 1` (the outputs do not
    /// change), as a trainable parameter on the block's device. Existing scales are kept.
    fn with_block_scales(mut self) -> Self {
        for stage in self.stages_mut() {
            for block in stage.iter_mut() {
                if block.scale().is_none() {
                    let ones = Tensor::<1>::ones([1], &block.device());
                    *block.scale_mut() = Some(Param::from_tensor(ones));
                }
            }
        }
        self
    }

    /// Remove the scale of every block (each becomes `relu(F(x) + shortcut(x))`, which changes
    /// the outputs unless every `λ` was 1).
    fn without_block_scales(mut self) -> Self {
        for stage in self.stages_mut() {
            for block in stage.iter_mut() {
                *block.scale_mut() = None;
            }
        }
        self
    }

    /// Fold every block's scale into its residual branch (see [`ScaledBlock::fold_scale`]):
    /// the same outputs from a network without scale parameters, which a configuration
    /// without block scales describes.
    fn fold_block_scales(mut self) -> Self {
        for stage in self.stages_mut() {
            for block in stage.iter_mut() {
                block.fold_scale();
            }
        }
        self
    }

    /// Remove the listed blocks whose shortcut is the identity from their stages; the listed
    /// blocks that change shape stay and are reported as kept. Duplicates count once; the
    /// blocks after a removed one in its stage move up by one index.
    ///
    /// Errors, with nothing removed: an id the model does not have
    /// ([`ScheduleError::Model`](crate::ScheduleError::Model) naming it and the stage sizes).
    fn remove_blocks(mut self, ids: &[BlockId]) -> crate::Result<(Self, BlockRemoval)> {
        let sizes: Vec<usize> = self.stages().iter().map(|s| s.len()).collect();
        if let Some(&id) = ids
            .iter()
            .find(|id| sizes.get(id.stage).is_none_or(|&n| id.index >= n))
        {
            return Err(crate::ScheduleError::Model {
                method: "residual block removal",
                reason: format!(
                    "{}: no such block (the stages have {sizes:?} blocks)",
                    Self::block_path(id)
                ),
            });
        }
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let mut removal = BlockRemoval::default();
        for (stage, blocks) in self.stages_mut().into_iter().enumerate() {
            let mut index = 0;
            blocks.retain(|block| {
                let id = BlockId { stage, index };
                index += 1;
                if ids.binary_search(&id).is_err() {
                    true
                } else if block.keeps_shape() {
                    removal.removed.push(id);
                    false
                } else {
                    removal.kept.push(id);
                    true
                }
            });
        }
        Ok((self, removal))
    }
}

/// What [`ResidualStages::remove_blocks`] did, in the ids the blocks had before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRemoval {
    /// Blocks removed (identity shortcut).
    pub removed: Vec<BlockId>,
    /// Blocks asked for but kept because their shortcut changes the shape.
    pub kept: Vec<BlockId>,
}

//! Masks: per-parameter keep masks, mask sets (serde), and masks installed in a model.

mod bits;
mod install;
mod reparam;
mod set;

pub use bits::BitMask;
pub use install::{install_masks, masks_of, remove_masks, zero_pruned};
pub use reparam::PruneMask;
pub(crate) use set::nearest_hint;
pub use set::{MaskSet, ParamMask};

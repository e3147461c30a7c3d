//! Published training-time pruning methods, each a small piece on top of the core crate.

mod early_bird;
mod group_scores;
mod lottery;
mod residual_stages;
mod scratch;
mod slimming;
mod soft_filter;
mod sparse_structure;

pub use early_bird::EarlyBirdTraining;
pub use lottery::{LotteryRound, LotteryTicket, LotteryTicketConfig};
pub use residual_stages::{BlockId, BlockRemoval, ResidualStages, ScaledBlock};
pub use scratch::{
    Reinit, ReinitParam, ReinitReport, Scratch, ScratchBudget, ScratchBudgetConfig, reinitialize,
};
pub use slimming::{NetworkSlimming, NetworkSlimmingConfig};
pub use soft_filter::{SoftFilterPruning, SoftFilterPruningConfig};
pub use sparse_structure::{
    BlockSelection, SparseStructureSelection, SparseStructureSelectionConfig, block_scales,
};

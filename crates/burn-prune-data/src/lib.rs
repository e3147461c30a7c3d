//! # burn-prune-data
//!
//! Data-driven pruning criteria: methods that look at what the network computes on real
//! batches, not only at its weights.
//!
//! Everything starts from an [`ActivationCapture`]: the model is traced once and every conv
//! and linear layer's input, output and post-ReLU tensor can then be read on real batches by
//! replaying the graph on any backend (flex, ndarray, wgpu), without touching the model's
//! code. Statistics stream batch by batch.
//!
//! | method | built from | gives |
//! |---|---|---|
//! | [`ActivationCriterion::apoz`], [`ActivationCriterion::mean_activation`] | [`ChannelStatistics`] after the ReLU | a core criterion at filter granularity; [`group_scores`](ActivationCriterion::group_scores) for the structural pruner |
//! | [`ActivationCriterion::mutual_information`] | per-sample channel means and labels | the same, ranked by `I(activation; label)` ([`mutual_information`]: equal-frequency bins, plug-in estimate) |
//! | [`HessianCriterion`] (OBD, one-shot OBS) | [`ActivationCapture::input_moments`]: `H = E[x xᵀ]` per layer, conv inputs unfolded | a core criterion, element scores (summed for coarser units) |
//! | [`FisherObd`] | per-batch gradients of the network loss (`Pruner::masks_with_data`) | OBD `½·E[g²]·w²` with the empirical Fisher diagonal |
//! | [`obs_prune_model`] | the same | layer-wise OBS: weights removed one at a time per output, the others updated, written back |
//! | [`one_shot_prune`] with [`OneShotMethod::Wanda`] or [`OneShotMethod::SparseGpt`] | each layer's inputs in the model pruned so far, `Σ x·xᵀ` | one-shot unstructured or N:M pruning per output, layer by layer: Wanda (magnitude × input norm) without update, SparseGPT with OBS updates; masks installed and reconstruction errors reported |
//! | [`ActivationCapture::reconstruct_channels`] with [`ChannelMethod::ThiNet`] or [`ChannelMethod::Lasso`] | the layer's input sampled at random positions | the input channels to keep and the reconstructed weights; [`ChannelReconstruction::apply`] compacts the model |
//!
//! The host-side mathematics is public in [`hessian`] (OBD, OBS), [`one_shot`] (Wanda,
//! SparseGPT), [`reconstruct`] (ThiNet, LASSO) and [`linalg`], for layers a caller feeds by hand.
//!
//! **Backends.** The capture replays on any backend with Burn's IR interpreter; the wgpu
//! tests compare statistics with flex. Capture an inference-mode model (on a plain device
//! BatchNorm uses its running statistics): in training mode BatchNorm's batch statistics
//! are not channel-wise and no post-activation tensor is found.
#![warn(missing_docs)]

mod activation_criteria;
mod capture;
mod channel_reconstruction;
mod error;
mod fisher;
pub mod hessian;
mod layerwise;
pub mod linalg;
pub mod one_shot;
pub mod reconstruct;
mod statistics;

pub use activation_criteria::{ActivationCriterion, mutual_information};
pub use capture::{ActivationCapture, Conv2dGeometry, LayerTap, TapPoint};
pub use channel_reconstruction::{ChannelMethod, ChannelReconstruction};
pub use error::{DataError, Result};
pub use fisher::FisherObd;
pub use layerwise::{HessianCriterion, Saliency, layer_rows, obs_prune_model};
pub use one_shot::{
    LayerReconstruction, OneShotConfig, OneShotMethod, OneShotPruned, SparsityTarget,
    one_shot_prune, sparsegpt_prune, wanda_mask, wanda_scores,
};
pub use statistics::{CaptureBatch, ChannelStatistics};

//! One-shot pruning of linear-heavy models from calibration data: **Wanda** and
//! **SparseGPT**, with per-output magnitude pruning as the baseline.
//!
//! Both methods prune each layer to the same sparsity per output (a fraction, or an N:M
//! pattern such as 2:4), layer by layer, each layer seeing the calibration inputs of the model
//! pruned so far:
//!
//! * [`wanda_mask`] (Sun et al. 2023) removes, per output, the weights with the smallest
//!   `|W_rj|·‖X_j‖₂` and leaves the others as they are;
//! * [`sparsegpt_prune`] (Frantar & Alistarh 2023) chooses the mask column block by column
//!   block from `w²/[U]_cc²` (`U` the upper Cholesky factor of `H⁻¹`, `H = 2·X·Xᵀ` damped) and
//!   updates the weights not processed yet after every column (OBS), so the kept weights
//!   absorb what the removed ones did.
//!
//! [`one_shot_prune`] runs either on a whole model through an
//! [`ActivationCapture`](crate::ActivationCapture) and returns the model with masks installed,
//! the [`MaskSet`](burn_prune_core::MaskSet) and each layer's reconstruction error
//! `‖W·X − Ŵ·X‖²_F`. The per-layer functions work on hand-made [`Matrix`](crate::linalg::Matrix)
//! values in the layer-wise convention of [`hessian`](crate::hessian) (row `r` = output `r`'s
//! weights; transpose Burn's `[d_in, d_out]` linear weight).

mod model;
mod sparsegpt;
mod target;
mod wanda;

pub use model::{LayerReconstruction, OneShotConfig, OneShotMethod, OneShotPruned, one_shot_prune};
pub use sparsegpt::{DEFAULT_BLOCK_SIZE, sparsegpt_prune};
pub use target::SparsityTarget;
pub use wanda::{wanda_mask, wanda_scores};

//! # burn-prune-data
//!
//! Data-driven pruning criteria: methods that look at what the network computes on real
//! batches, not only at its weights.
#![warn(missing_docs)]

mod activation_criteria;
mod capture;
mod error;
pub mod hessian;
mod layerwise;
pub mod linalg;
pub mod reconstruct;
mod statistics;

pub use activation_criteria::{ActivationCriterion, mutual_information};
pub use capture::{ActivationCapture, Conv2dGeometry, LayerTap, TapPoint};
pub use error::{DataError, Result};
pub use layerwise::{HessianCriterion, Saliency, layer_rows, obs_prune_model};
pub use statistics::{CaptureBatch, ChannelStatistics};

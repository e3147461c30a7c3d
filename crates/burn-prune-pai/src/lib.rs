//! # burn-prune-pai
//!
//! Pruning at initialization: choose what to remove before training starts.
#![warn(missing_docs)]

mod baselines;
mod error;
mod grasp;
mod params;
mod scores;
mod snip;
pub mod solver;
mod synflow;

pub use baselines::{Baseline, erk_densities};
pub use error::{PaiError, Result};
pub use grasp::{Grasp, GraspConfig, GraspScores};
pub use scores::ElementScores;
pub use snip::Snip;
pub use synflow::{Precision, SynFlow, SynFlowConfig, SynFlowScores};

//! # burn-prune-pai
//!
//! Pruning at initialization: choose what to remove before training starts.
//!
//! | method | what it needs | how |
//! |---|---|---|
//! | [`Snip`] | one minibatch | a core [`Criterion`](burn_prune_core::Criterion): `|g·w|`, with `Pruner::masks_with_data` |
//! | [`Grasp`] | ~10 samples per class | `−θ ⊙ Hg` (Hessian-gradient product by central finite differences), largest removed |
//! | [`SynFlow`] | nothing (all-ones input) | `|θ ⊙ ∂R/∂θ|` on the linearised network, 100 rounds, exponential density schedule, `f64` passes |
//! | [`Baseline`] | nothing | uniform, random, ERK ([`erk_densities`]) layer densities, random weights |
//! | [`PreCrop`] | the traced MACs | layer densities from the convex program `max Σ log p_l` under parameter/MAC budgets ([`solver`]) |
//! | [`PreCrop::channels`] | the traced graph | channel counts per dependency group (`p_l = Π` of its groups' keep ratios), a [`StructuralPlan`](burn_prune_core::structure::StructuralPlan) for the compactor: a narrower model before training |
//! | PreConfig (`max_widening > 1`) | the traced graph | the same program with groups allowed to widen; the allocation is a [`ParamShapes`](burn_prune_core::structure::ParamShapes), from which a model's own configuration builds the new model (`burn-prune-models`: `VggConfig::with_widths_of`, `ResNetCifarConfig::with_widths_of`) |
//!
//! Every unstructured method ends in the core pruner (masks installed as usual) or gives a
//! [`Scope::Densities`](burn_prune_core::Scope::Densities) for it; [`ElementScores`] turns
//! scores computed elsewhere into a criterion. PreCrop's channel allocation ends in the core
//! compactor.
//!
//! **Backends.** Data-free methods (SynFlow in a given precision, the baselines, PreCrop) give
//! the same masks on every backend. SNIP and GraSP rank products of gradients that backends
//! sum in different orders: weights whose scores tie within rounding may swap across the
//! threshold (the wgpu tests allow 1% of SNIP's and 2% of GraSP's weights to differ).
#![warn(missing_docs)]

mod baselines;
mod channels;
mod error;
mod grasp;
mod params;
mod precrop;
mod scores;
mod snip;
pub mod solver;
mod synflow;

pub use baselines::{Baseline, erk_densities};
pub use channels::ChannelAllocation;
pub use error::{PaiError, Result};
pub use grasp::{Grasp, GraspConfig, GraspScores};
pub use precrop::{DensityAllocation, PreCrop, PreCropConfig};
pub use scores::ElementScores;
pub use snip::Snip;
pub use synflow::{Precision, SynFlow, SynFlowConfig, SynFlowScores};

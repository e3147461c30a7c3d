//! # burn-prune-core
//!
//! Masks, granularities, criteria and scopes for pruning any [Burn](https://burn.dev) model.
//!
//! The flow is one way: **model → scores ([`Criterion`]) → units ([`Granularity`]) → selection
//! ([`Scope`]) → masks ([`MaskSet`]) → installed in the model ([`PruneMask`]) → trained with the
//! pruned weights held at exactly zero → measured ([`SparsityReport`])**.
//!
//! ```
//! use burn::prelude::*;
//! use burn::nn::conv::{Conv2d, Conv2dConfig};
//! use burn_prune_core::{criterion::Magnitude, Granularity, PrunerConfig, SparsityReport};
//!
//! #[derive(Module, Debug)]
//! struct Net { conv: Conv2d, head: Conv2d }
//!
//! let device = Device::flex();
//! let net = Net {
//!     conv: Conv2dConfig::new([3, 8], [3, 3]).init(&device),
//!     head: Conv2dConfig::new([8, 2], [1, 1]).init(&device),
//! };
//! let pruner = PrunerConfig::new(0.5).with_granularity(Granularity::Filter).init(Magnitude::l1()).unwrap();
//! let (net, masks) = pruner.prune(net).unwrap();
//! let report = SparsityReport::of_model(&net, &masks).unwrap();
//! assert_eq!(report.params[0].units_pruned, 4); // 4 of 8 filters
//! assert_eq!(report.params[1].units_pruned, 0); // the head's filters are the model's outputs
//! println!("{report}");
//! ```
#![warn(missing_docs)]

mod address;
pub mod criterion;
mod deep_clone;
mod error;
mod file;
mod gradients;
pub mod granularity;
mod host;
pub mod mask;
mod output_layers;
mod param_value;
mod pattern;
mod pruner;
mod quiet_panic;
mod report;
mod scope;
mod select;
mod snapshot;
pub mod structure;
#[cfg(test)]
mod test_rng;
mod threshold;

pub use address::{LayerKind, ParamAddress, PathStack, is_running_stat, param_addresses};
pub use criterion::{Criterion, GradientNeed, GradientStats, Needs, ScoreContext, Scores};
pub use deep_clone::deep_clone;
pub use error::{PruneError, Result};
pub use file::{sync_dir, write_atomic};
pub use granularity::{Granularity, Layout, Reduction, UnitMap};
pub use mask::{
    BitMask, MaskSet, ParamMask, PruneMask, install_masks, masks_of, remove_masks, zero_pruned,
};
pub use output_layers::OutputLayers;
pub use param_value::param_value_from;
pub use pattern::PathPattern;
pub use pruner::{Pruner, PrunerConfig};
pub use quiet_panic::catch as catch_panic;
pub use report::{ParamSparsity, SparsityReport};
pub use scope::{Scope, lamp, lamp_scores};
pub use select::ParamSelector;
pub use snapshot::ParamSnapshot;

/// Select exactly the `k` lowest scores over several buffers (ties by position) and return
/// one keep mask per buffer. O(n): radix selection for large inputs, never a full sort.
///
/// This is the engine behind [`Scope::Global`]; it is public for benchmarks and for crates
/// that build their own scopes. A NaN or infinite score is an error naming its buffer and
/// index; `k` beyond the total prunes everything.
///
/// ```
/// let masks = burn_prune_core::prune_lowest(&[&[0.3, 0.1], &[0.2, 0.4]], 2).unwrap();
/// assert_eq!(masks[0].to_bools(), vec![true, false]);
/// assert_eq!(masks[1].to_bools(), vec![false, true]);
/// ```
pub fn prune_lowest(segments: &[&[f32]], k: usize) -> Result<Vec<BitMask>> {
    threshold::prune_lowest(segments, k, threshold::Keys::Scores)
        .map_err(|e| non_finite("prune_lowest", e))
}

/// [`prune_lowest`] ranking the values by magnitude `|w|`: global magnitude pruning of raw
/// weight buffers without building a score buffer. `-0.0` and `0.0` tie.
///
/// ```
/// let masks = burn_prune_core::prune_lowest_magnitude(&[&[-0.3, 0.1], &[0.2, -0.4]], 2).unwrap();
/// assert_eq!(masks[0].to_bools(), vec![true, false]);
/// assert_eq!(masks[1].to_bools(), vec![false, true]);
/// ```
pub fn prune_lowest_magnitude(weights: &[&[f32]], k: usize) -> Result<Vec<BitMask>> {
    threshold::prune_lowest(weights, k, threshold::Keys::Magnitude)
        .map_err(|e| non_finite("prune_lowest_magnitude", e))
}

fn non_finite(criterion: &str, e: threshold::NonFinite) -> PruneError {
    PruneError::NonFiniteScore {
        criterion: criterion.into(),
        path: format!("segment {}", e.segment),
        index: e.index,
        value: e.value,
    }
}

//! # burn-prune
//!
//! Neural-network pruning for [Burn](https://burn.dev) 0.22: masks at any granularity,
//! criteria you can extend, local/global/LAMP scopes, masked training that keeps pruned
//! weights at exactly zero, and structural pruning that removes channels through automatic
//! dependency groups.
//!
//! This is the facade crate. At its root it re-exports [`burn_prune_core`] (masks,
//! granularities, criteria, scopes, the pruner, and [`structure`]: the graph tracer,
//! dependency groups and compaction); the other crates are modules:
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`models`] | `burn-prune-models` | reference CIFAR/ImageNet ResNets, VGG, MobileNetV2, MLP |
//! | [`metrics`] | `burn-prune-metrics` | parameters, MACs/FLOPs, measured latency, reports, plots |
//! | [`schedule`] | `burn-prune-schedule` | schedules, the scheduled pruner, training-time methods |
//! | [`pai`] | `burn-prune-pai` | SNIP, GraSP, SynFlow, baselines, PreCrop/PreConfig |
//! | [`data`] | `burn-prune-data` | activation criteria, ThiNet, LASSO, OBD/OBS, Wanda, SparseGPT |
//!
//! Enable the `ndarray`, `flex` or `wgpu` feature to turn on the matching Burn backend. The
//! user guide is `docs/src` (an mdBook); every Rust block of it runs as a doctest.
//!
//! ```
//! use burn::prelude::*;
//! use burn::nn::{Linear, LinearConfig};
//! use burn_prune::{criterion::Magnitude, PrunerConfig, SparsityReport};
//!
//! #[derive(Module, Debug)]
//! struct Net { fc: Linear }
//!
//! let device = Device::flex();
//! let net = Net { fc: LinearConfig::new(16, 4).init(&device) };
//! let (net, masks) = PrunerConfig::new(0.75).init(Magnitude::l1()).unwrap().prune(net).unwrap();
//! println!("{}", SparsityReport::of_model(&net, &masks).unwrap());
//! ```

pub use burn_prune_core::*;

/// Reference models (CIFAR and ImageNet ResNets, VGG, MobileNetV2, MLP) built with Burn
/// modules, with the published parameter counts; see [`burn_prune_models`].
pub use burn_prune_models as models;

/// Measuring pruned models: parameters, MACs/FLOPs from the traced graph, compression,
/// theoretical and measured speedup, reports, plots and pruning analysis; see
/// [`burn_prune_metrics`].
pub use burn_prune_metrics as metrics;

/// Sparsity schedules (one-shot, iterative, AGP, cosine, one-cycle), the scheduled pruner for
/// training loops, and the training-time methods (lottery tickets, soft filter pruning,
/// network slimming, sparse structure selection, early-bird, Scratch-E/B); see
/// [`burn_prune_schedule`].
pub use burn_prune_schedule as schedule;

/// Pruning at initialization: SNIP, GraSP, SynFlow, the uniform/random/ERK baselines, and the
/// structured PreCrop/PreConfig density allocation; see [`burn_prune_pai`].
pub use burn_prune_pai as pai;

/// Data-driven criteria: activation capture, APoZ, mean activation, mutual information,
/// ThiNet, LASSO channel selection, OBD and OBS, one-shot Wanda and SparseGPT (crate
/// `burn-prune-data`).
pub use burn_prune_data as data;

/// The user guide's pages (`docs/src/*.md`, an mdBook) and the README, compiled and run as
/// doctests (`cargo test --doc`), so that every Rust block of them works with this version.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../README.md")]
    mod readme {}
    #[doc = include_str!("../docs/src/introduction.md")]
    mod introduction {}
    #[doc = include_str!("../docs/src/concepts.md")]
    mod concepts {}
    #[doc = include_str!("../docs/src/masks.md")]
    mod masks {}
    #[doc = include_str!("../docs/src/scopes.md")]
    mod scopes {}
    #[doc = include_str!("../docs/src/criteria.md")]
    mod criteria {}
    #[doc = include_str!("../docs/src/structural.md")]
    mod structural {}
    #[doc = include_str!("../docs/src/transformers.md")]
    mod transformers {}
    #[doc = include_str!("../docs/src/hardware.md")]
    mod hardware {}
    #[doc = include_str!("../docs/src/metrics.md")]
    mod metrics {}
    #[doc = include_str!("../docs/src/schedules.md")]
    mod schedules {}
    #[doc = include_str!("../docs/src/pai.md")]
    mod pai {}
    #[doc = include_str!("../docs/src/data-driven.md")]
    mod data_driven {}
    #[doc = include_str!("../docs/src/custom-criterion.md")]
    mod custom_criterion {}
    #[doc = include_str!("../docs/src/unknown-models.md")]
    mod unknown_models {}
    #[doc = include_str!("../docs/src/backends.md")]
    mod backends {}
    #[doc = include_str!("../docs/src/troubleshooting.md")]
    mod troubleshooting {}
    #[doc = include_str!("../docs/src/vision.md")]
    mod vision {}
    #[doc = include_str!("../docs/src/real-data.md")]
    mod real_data {}
}

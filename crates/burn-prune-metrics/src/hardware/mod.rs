//! Hardware-aware widths: what a structural plan costs on a device, measured, and MAC counts,
//! as [`GroupCost`](burn_prune_core::structure::GroupCost)s for the group pruner's budget
//! selection ([`GroupPruner::plan_within`](burn_prune_core::structure::GroupPruner::plan_within)).
//!
//! - `table`: each layer's latency over a grid of its channel counts on a device
//!   ([`LatencyTable`], saved as JSON and reused);
//! - `widths`: how every op of a traced model follows the units its groups keep;
//! - `cost`: [`LatencyCost`] (measured milliseconds) and [`MacCost`] (the papers' MACs).

mod cost;
mod table;
mod widths;

pub use cost::{LatencyCost, MacCost, forward_ms};
pub use table::{HardwareConfig, LatencyTable, LayerCurve, LayerShape, device_name};

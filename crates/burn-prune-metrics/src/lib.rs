//! # burn-prune-metrics
//!
//! Numbers to judge a pruned [Burn](https://burn.dev) model by: parameters (total, trainable,
//! non-zero), MACs and FLOPs of every op from the traced graph, compression and theoretical
//! speedup (masked or compacted), measured latency, per-layer reports (text, JSON, CSV) and
//! plots, plus the analysis tools of two seed papers: pruning spaces and early-bird /
//! spline-partition detection.
#![warn(missing_docs)]

pub mod count;
pub mod early_bird;
mod error;
pub mod hardware;
mod latency;
mod model;
mod params;
pub mod plot;
mod report;
mod sensitivity;
mod space;

pub use count::{Convention, LayerOps, OpCount, OpCounts, OpKind};
pub use error::{MetricsError, Result};
pub use latency::{Latency, LatencyComparison, LatencyConfig};
pub use model::{ModelMetrics, macs_reduction, params_reduction, theoretical_speedup};
pub use params::{ParamRole, ParamStat, ParamStats};
pub use report::{LayerRow, PruningReport, ReportTotals, RunResult, Structure, plot_runs};
pub use sensitivity::{LayerSensitivity, MetricDirection, SensitivityConfig, SensitivityTable};
pub use space::{
    Edf, PruningSpace, PruningSpaceConfig, Regime, SpaceGroup, Subnetwork, ratio_band,
};

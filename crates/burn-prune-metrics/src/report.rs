//! Per-layer report of a pruned model against its dense original: text table, JSON and CSV.

use crate::count::{Convention, LayerOps, OpKind};
use crate::error::{MetricsError, Result};
use crate::latency::LatencyComparison;
use crate::model::{ModelMetrics, theoretical_speedup};
use crate::params::{ParamRole, ParamStats};
use crate::plot::{BeforeAfter, DensityBar, before_after_bars, density_bars};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One layer (module with parameters that the forward pass uses) before and after pruning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    /// Module path (`layer1.0.conv1.conv`).
    pub path: String,
    /// Kind of its main op.
    pub kind: OpKind,
    /// Shape of its main parameter (the weight) before pruning.
    pub shape_before: Vec<usize>,
    /// The same after pruning (smaller when compacted; the same when masked).
    pub shape_after: Vec<usize>,
    /// Parameters of the layer before.
    pub params_before: u64,
    /// Parameters after: the unmasked ones (all of them for a compacted layer).
    pub params_after: u64,
    /// MACs before, in the report's convention.
    pub macs_before: u64,
    /// MACs after, of the non-zero weights.
    pub macs_after: u64,
    /// Fraction of the layer's parameters kept: `params_after / params_before` (a layer
    /// compacted to half its filters, or with half its weights masked, has density 0.5).
    pub density: f64,
}

/// Totals of a [`PruningReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportTotals {
    /// Parameters before.
    pub params_before: u64,
    /// Unmasked parameters after.
    pub params_after: u64,
    /// Non-zero parameters after.
    pub nonzero_after: u64,
    /// MACs before.
    pub macs_before: u64,
    /// MACs of the non-zero weights after.
    pub macs_after: u64,
    /// FLOPs before.
    pub flops_before: u64,
    /// FLOPs after, zero weights skipped.
    pub flops_after: u64,
    /// Parameters before / non-zero parameters after.
    pub compression_ratio: f64,
    /// MACs before / MACs of the non-zero weights after: the speedup a kernel that skips
    /// zero weights could reach. Dense kernels (every Burn backend) only see the smaller
    /// shapes: see [`ReportTotals::structural_speedup`].
    pub theoretical_speedup: f64,
    /// Parameters stored after (masked ones included): smaller than `params_before` only
    /// when the model was compacted.
    #[serde(default)]
    pub params_stored_after: u64,
    /// MACs after with every stored weight counted (masked ones too): the work dense kernels
    /// do.
    #[serde(default)]
    pub macs_stored_after: u64,
    /// MACs before / MACs stored after: the theoretical speedup of the smaller shapes, the
    /// one dense kernels can turn into time (1 for a model pruned by masks only).
    #[serde(default)]
    pub structural_speedup: f64,
}

/// How a pruned model differs from its dense original.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Structure {
    /// Same shapes, no zeroed weights.
    #[default]
    Dense,
    /// Same shapes, weights zeroed by masks: no time saved without a sparse kernel.
    Masked,
    /// Smaller shapes (channels removed): dense kernels do less work.
    Compacted,
    /// Smaller shapes and masks inside them: only the smaller shapes save time.
    CompactedAndMasked,
}

impl Structure {
    /// Whether the model's shapes are smaller (the only pruning dense kernels turn into time).
    pub fn is_compacted(self) -> bool {
        matches!(self, Self::Compacted | Self::CompactedAndMasked)
    }

    /// Whether masks zero some weights.
    pub fn is_masked(self) -> bool {
        matches!(self, Self::Masked | Self::CompactedAndMasked)
    }

    /// A short name: `dense`, `masks`, `compacted`, `compacted + masks`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dense => "dense",
            Self::Masked => "masks",
            Self::Compacted => "compacted",
            Self::CompactedAndMasked => "compacted + masks",
        }
    }

    /// What the structure means for speed, in one sentence.
    pub fn speed_note(self) -> &'static str {
        match self {
            Self::Dense => "dense: nothing pruned, no speedup expected",
            Self::Masked => {
                "masks only: the zeroed weights are still multiplied, so no time is saved \
                 without a sparse kernel (measured speedup ≈ 1×)"
            }
            Self::Compacted => "compacted: channels removed, dense kernels do less work",
            Self::CompactedAndMasked => {
                "compacted + masks: the removed channels save time; the masked weights inside \
                 the remaining ones do not, without a sparse kernel"
            }
        }
    }
}

/// Per-layer table of a model before and after pruning.
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::prelude::*;
/// use burn_prune_core::{criterion::Magnitude, PrunerConfig};
/// use burn_prune_metrics::{Convention, ModelMetrics, PruningReport};
///
/// let device = Device::flex();
/// let layer: Linear = LinearConfig::new(8, 4).init(&device);
/// let dense = ModelMetrics::of_model(&layer, [1, 8], |l, x| l.forward(x)).unwrap();
/// let (layer, _) = PrunerConfig::new(0.75).init(Magnitude::l1()).unwrap().prune(layer).unwrap();
/// let pruned = ModelMetrics::of_model(&layer, [1, 8], |l, x| l.forward(x)).unwrap();
/// let report = PruningReport::new(&dense, &pruned, Convention::Papers);
/// assert_eq!(report.totals.macs_before, 32);
/// assert_eq!(report.totals.macs_after, 8);
/// println!("{report}");
/// let csv = report.to_csv();
/// assert!(csv.starts_with("path,kind,"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruningReport {
    /// The MAC/FLOP convention of every number in the report.
    pub convention: Convention,
    /// One row per layer, in order of first use.
    pub rows: Vec<LayerRow>,
    /// Totals.
    pub totals: ReportTotals,
    /// Whether the model was compacted, masked, both or neither.
    #[serde(default)]
    pub structure: Structure,
    /// Measured latency of the dense and the pruned model (one entry per batch size), when
    /// measured; see [`PruningReport::with_latency`].
    #[serde(default)]
    pub latency: Vec<LatencyComparison>,
}

/// The non-buffer parameters directly under `layer` (`layer.weight`, `layer.bias`, ...).
fn layer_params<'a>(
    params: &'a ParamStats,
    layer: &'a str,
) -> impl Iterator<Item = &'a crate::params::ParamStat> {
    params.params.iter().filter(move |p| {
        p.role != ParamRole::Buffer
            && match layer {
                "" => !p.path.contains('.'),
                _ => p
                    .path
                    .strip_prefix(layer)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|name| !name.contains('.')),
            }
    })
}

/// The shape of the layer's main parameter (the one its main op multiplies by).
fn main_shape(layer: &LayerOps, params: &ParamStats) -> Vec<usize> {
    layer
        .ops
        .iter()
        .find(|o| o.kind == layer.kind)
        .and_then(|o| o.param.as_deref())
        .and_then(|p| params.get(p))
        .map(|p| p.shape.clone())
        .unwrap_or_default()
}

impl PruningReport {
    /// Compare `pruned` (masked, compacted or both) with `dense`, layer by layer.
    pub fn new(dense: &ModelMetrics, pruned: &ModelMetrics, convention: Convention) -> Self {
        let after: HashMap<String, LayerOps> = pruned
            .effective
            .layers()
            .into_iter()
            .map(|l| (l.path.clone(), l))
            .collect();
        let rows = dense
            .ops
            .layers()
            .into_iter()
            .map(|before| {
                let params_before: u64 = layer_params(&dense.params, &before.path)
                    .map(|p| p.numel)
                    .sum();
                let params_after: u64 = layer_params(&pruned.params, &before.path)
                    .map(|p| p.numel - p.masked)
                    .sum();
                let after_layer = after.get(&before.path);
                LayerRow {
                    kind: before.kind,
                    shape_before: main_shape(&before, &dense.params),
                    shape_after: after_layer
                        .map(|a| main_shape(a, &pruned.params))
                        .unwrap_or_default(),
                    params_before,
                    params_after,
                    macs_before: before.macs(convention),
                    macs_after: after_layer.map_or(0, |a| a.macs(convention)),
                    density: if params_before == 0 {
                        1.0
                    } else {
                        params_after as f64 / params_before as f64
                    },
                    path: before.path,
                }
            })
            .collect();
        let compacted = pruned.params.total() < dense.params.total()
            || pruned.macs(convention) < dense.macs(convention);
        let masked = pruned.params.unmasked() < pruned.params.total();
        let structure = match (compacted, masked) {
            (false, false) => Structure::Dense,
            (false, true) => Structure::Masked,
            (true, false) => Structure::Compacted,
            (true, true) => Structure::CompactedAndMasked,
        };
        Self {
            convention,
            rows,
            structure,
            latency: Vec::new(),
            totals: ReportTotals {
                params_before: dense.params.total(),
                params_after: pruned.params.unmasked(),
                nonzero_after: pruned.params.nonzero(),
                macs_before: dense.macs(convention),
                macs_after: pruned.effective_macs(convention),
                flops_before: dense.flops(convention),
                flops_after: pruned.effective_flops(convention),
                compression_ratio: dense.params.total() as f64 / pruned.params.nonzero() as f64,
                theoretical_speedup: theoretical_speedup(dense, pruned, convention),
                params_stored_after: pruned.params.total(),
                macs_stored_after: pruned.macs(convention),
                structural_speedup: dense.macs(convention) as f64
                    / pruned.macs(convention).max(1) as f64,
            },
        }
    }

    /// The report with measured latencies of the dense and the pruned model (from
    /// [`LatencyConfig::compare`](crate::LatencyConfig::compare), one per batch size). Their
    /// theoretical speedup is set to [`ReportTotals::structural_speedup`], the one dense
    /// kernels can reach, so a model pruned by masks only is compared with 1×.
    pub fn with_latency(mut self, latency: Vec<LatencyComparison>) -> Self {
        self.latency = latency
            .into_iter()
            .map(|mut l| {
                l.theoretical_speedup = self.totals.structural_speedup;
                l
            })
            .collect();
        self
    }

    /// A report of one model on its own (before = after): its sizes and where its zeros are.
    pub fn of_model(metrics: &ModelMetrics, convention: Convention) -> Self {
        Self::new(metrics, metrics, convention)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| MetricsError::Json {
            context: "pruning report".into(),
            reason: e.to_string(),
        })
    }

    /// Read a report written by [`PruningReport::to_json`].
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| MetricsError::Json {
            context: "pruning report".into(),
            reason: e.to_string(),
        })
    }

    /// The rows as CSV (RFC 4180, header first; shapes as `8x3x3x3`).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "path,kind,shape_before,shape_after,params_before,params_after,macs_before,macs_after,density\n",
        );
        for r in &self.rows {
            let fields = [
                csv_field(&r.path),
                format!("{:?}", r.kind),
                shape_text(&r.shape_before, "x"),
                shape_text(&r.shape_after, "x"),
                r.params_before.to_string(),
                r.params_after.to_string(),
                r.macs_before.to_string(),
                r.macs_after.to_string(),
                format!("{:.6}", r.density),
            ];
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out
    }
}

impl PruningReport {
    /// One bar per layer: its density (fraction of parameters kept).
    pub fn density_bars(&self) -> Vec<DensityBar> {
        self.rows
            .iter()
            .map(|r| DensityBar::new(r.path.clone(), r.density))
            .collect()
    }

    /// Parameters per layer, before and after.
    pub fn params_bars(&self) -> Vec<BeforeAfter> {
        self.rows
            .iter()
            .map(|r| {
                BeforeAfter::new(
                    r.path.clone(),
                    r.params_before as f64,
                    r.params_after as f64,
                )
            })
            .collect()
    }

    /// MACs per layer, before and after.
    pub fn macs_bars(&self) -> Vec<BeforeAfter> {
        self.rows
            .iter()
            .map(|r| BeforeAfter::new(r.path.clone(), r.macs_before as f64, r.macs_after as f64))
            .collect()
    }

    /// Write the three per-layer plots into `dir` as `density.<ext>`, `params.<ext>` and
    /// `macs.<ext>` (`ext` is `svg` or `png`), and return their paths.
    pub fn plot(&self, dir: impl AsRef<Path>, ext: &str) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        let file = |name: &str| dir.join(format!("{name}.{ext}"));
        let (density, params, macs) = (file("density"), file("params"), file("macs"));
        density_bars(&density, "Density per layer", &self.density_bars())?;
        before_after_bars(
            &params,
            "Parameters per layer",
            "parameters",
            &self.params_bars(),
        )?;
        let label = format!("MACs ({:?} convention)", self.convention);
        before_after_bars(&macs, "MACs per layer", &label, &self.macs_bars())?;
        Ok(vec![density, params, macs])
    }
}

/// One run of a pruning experiment, for accuracy-vs-sparsity curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The method (one curve per method).
    pub method: String,
    /// Sparsity reached (fraction of parameters removed).
    pub sparsity: f64,
    /// The metric (accuracy, ...).
    pub metric: f64,
}

/// Plot `runs` as one curve per method, metric against sparsity (in run order of each
/// method's first appearance; points sorted by sparsity), to SVG or PNG by extension.
pub fn plot_runs(path: impl AsRef<Path>, metric_label: &str, runs: &[RunResult]) -> Result<()> {
    let mut series: Vec<crate::plot::Series> = Vec::new();
    for run in runs {
        match series.iter_mut().find(|s| s.name == run.method) {
            Some(s) => s.points.push((run.sparsity, run.metric)),
            None => series.push(crate::plot::Series::new(
                run.method.clone(),
                vec![(run.sparsity, run.metric)],
            )),
        }
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    crate::plot::line_plot(
        path,
        &format!("{metric_label} vs sparsity"),
        "sparsity",
        metric_label,
        &series,
    )
}

/// Quote a CSV field if it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn shape_text(shape: &[usize], sep: &str) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// `1234567` → `1.23M`.
fn si(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}K", n / 1e3),
        n => format!("{n}"),
    }
}

impl fmt::Display for PruningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shapes = |r: &LayerRow| {
            let before = shape_text(&r.shape_before, "×");
            let after = shape_text(&r.shape_after, "×");
            if before == after {
                before
            } else {
                format!("{before} → {after}")
            }
        };
        let path_w = self
            .rows
            .iter()
            .map(|r| r.path.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let shape_w = self
            .rows
            .iter()
            .map(|r| shapes(r).chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "{:<path_w$}  {:<13}  {:<shape_w$}  {:>19}  {:>19}  {:>7}",
            "layer", "kind", "shape", "params", "MACs", "density"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<path_w$}  {:<13}  {:<shape_w$}  {:>19}  {:>19}  {:>6.1}%",
                r.path,
                format!("{:?}", r.kind),
                shapes(r),
                format!("{} → {}", si(r.params_before), si(r.params_after)),
                format!("{} → {}", si(r.macs_before), si(r.macs_after)),
                100.0 * r.density
            )?;
        }
        let t = &self.totals;
        writeln!(
            f,
            "total: params {} → {} ({} non-zero, compression {:.2}×), MACs ({:?}) {} → {} \
             stored, {} non-zero",
            si(t.params_before),
            si(t.params_after),
            si(t.nonzero_after),
            t.compression_ratio,
            self.convention,
            si(t.macs_before),
            si(t.macs_stored_after),
            si(t.macs_after),
        )?;
        writeln!(
            f,
            "{}; theoretical speedup {:.2}× (MACs of the stored shapes; {:.2}× with a kernel \
             that skips zero weights)",
            self.structure.speed_note(),
            t.structural_speedup,
            t.theoretical_speedup
        )?;
        for l in &self.latency {
            writeln!(
                f,
                "measured, batch {}: dense {:.2?} (min {:.2?}), pruned {:.2?} (min {:.2?}), \
                 median of {}: {:.2}× against the theoretical {:.2}×",
                l.dense.batch_size,
                l.dense.median(),
                l.dense.min(),
                l.pruned.median(),
                l.pruned.min(),
                l.dense.samples.len(),
                l.measured_speedup,
                l.theoretical_speedup
            )?;
        }
        Ok(())
    }
}

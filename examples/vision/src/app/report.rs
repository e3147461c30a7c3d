//! `report`: every run under `--runs` measured (parameters, MACs, compression, theoretical
//! and measured speedup, accuracy) into a Markdown report with plots.

use super::checkpoint::{Checkpoint, write_atomic};
use super::error::{AppError, Result};
use super::network::{Network, forward};
use burn::prelude::*;
use burn_prune::metrics::plot::{Series, line_plot};
use burn_prune::metrics::{
    Convention, LatencyComparison, LatencyConfig, ModelMetrics, PruningReport, RunResult, plot_runs,
};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One measured run.
pub struct MeasuredRun {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Its model against the dense network of the same configuration, with measured
    /// latencies when they were asked for.
    pub report: PruningReport,
}

impl MeasuredRun {
    /// Fraction of the dense network's parameters that are zero or removed.
    pub fn sparsity(&self) -> f64 {
        let t = &self.report.totals;
        1.0 - t.nonzero_after as f64 / t.params_before.max(1) as f64
    }

    /// The measured latency at `batch`, if measured.
    pub fn latency(&self, batch: usize) -> Option<&LatencyComparison> {
        self.report
            .latency
            .iter()
            .find(|l| l.dense.batch_size == batch)
    }
}

/// How the report times the networks: dense and pruned alternately after warm-up, at batch 1
/// and at the run's training batch size.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Timed calls of each network per batch size (median and min reported; at least 5).
    pub runs: usize,
    /// Untimed calls of each network first.
    pub warmup: usize,
    /// The batch size of runs that record none (pruning without training).
    pub default_batch: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            runs: 7,
            warmup: 2,
            default_batch: 128,
        }
    }
}

impl Timing {
    /// The batch sizes a run is timed at: 1, its training batch size, and the batch its
    /// latency budget was set at.
    pub fn batches(&self, checkpoint: &Checkpoint) -> Vec<usize> {
        let train = checkpoint
            .meta
            .train
            .as_ref()
            .map_or(self.default_batch, |t| t.batch_size);
        let mut batches = vec![1, train];
        if let Some(&b) = checkpoint.meta.values.get("budget_batch") {
            batches.push(b as usize);
        }
        batches.sort_unstable();
        batches.dedup();
        batches
    }
}

/// The latency budget of a run pruned with `--latency-budget`, at the batch it was set at:
/// the target and the prediction next to the table's measurement.
fn budget_note(values: &std::collections::BTreeMap<String, f64>, batch: usize) -> Option<String> {
    let at = *values.get("budget_batch")? as usize;
    let (target, predicted, dense) = (
        values.get("latency_target")?,
        values.get("latency_predicted")?,
        values.get("latency_dense")?,
    );
    (at == batch).then(|| {
        format!(
            "latency budget {target:.2} ms ({:.0}% of the dense {dense:.2} ms measured when pruning), predicted {predicted:.2} ms",
            100.0 * target / dense
        )
    })
}

/// Every checkpoint directly under `runs`, by name.
pub fn checkpoints(runs: &Path) -> Result<Vec<Checkpoint>> {
    let entries = std::fs::read_dir(runs).map_err(AppError::io(runs))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| Checkpoint::exists(p))
        .collect();
    dirs.sort();
    dirs.iter().map(Checkpoint::open).collect()
}

/// Measure every run: its model rebuilt on `device` against the dense network it came from
/// (built and counted once per configuration), and with `timing`, the latency of both on
/// `device`.
pub fn measure(runs: &Path, device: &Device, timing: Option<&Timing>) -> Result<Vec<MeasuredRun>> {
    let mut measured = Vec::new();
    let mut dense: HashMap<String, (Network, ModelMetrics)> = HashMap::new();
    for checkpoint in checkpoints(runs)? {
        let model = checkpoint.load_model(device)?;
        let spec = checkpoint.meta.dense_spec();
        let input = checkpoint.meta.input(1);
        let key = format!("{spec:?}");
        if !dense.contains_key(&key) {
            let network = spec.init(device)?;
            let metrics = ModelMetrics::of_model(&network, input, forward)?;
            dense.insert(key.clone(), (network, metrics));
        }
        let (dense_network, dense_metrics) = &dense[&key];
        let mut report = PruningReport::new(
            dense_metrics,
            &ModelMetrics::of_model(&model, input, forward)?,
            Convention::Papers,
        );
        if let Some(timing) = timing {
            let [_, c, h, w] = input;
            let mut latency = Vec::new();
            for batch in timing.batches(&checkpoint) {
                latency.push(
                    LatencyConfig::new(batch)
                        .with_runs(timing.runs.max(5))
                        .with_warmup(timing.warmup)
                        .compare(
                            (dense_network, forward),
                            (&model, forward),
                            [c, h, w],
                            device,
                            report.totals.structural_speedup,
                        )?,
                );
            }
            report = report.with_latency(latency);
        }
        measured.push(MeasuredRun { checkpoint, report });
    }
    Ok(measured)
}

/// `a` → `b` as a speedup cell: `1.98× (12.1 → 6.1 ms)`.
fn speedup_cell(l: Option<&LatencyComparison>) -> String {
    l.map_or("–".into(), |l| {
        format!(
            "{:.2}× ({} → {})",
            l.measured_speedup,
            millis(l.dense.median()),
            millis(l.pruned.median())
        )
    })
}

fn millis(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// The written report: its path and the runs it measured.
pub struct Report {
    /// `report.md`.
    pub path: PathBuf,
    /// Every run, measured.
    pub runs: Vec<MeasuredRun>,
}

/// Measure every run under `runs` (with latencies per `timing`) and write `report.md`, its
/// plots and each pruned run's `layers.csv` and `report.json` into `out`.
pub fn write_report(runs: &Path, out: &Path, device: &Device, timing: &Timing) -> Result<Report> {
    let measured = measure(runs, device, Some(timing))?;
    if measured.is_empty() {
        return Err(AppError::invalid(
            "report",
            format!(
                "no runs in {} (make some with `prune-vision train`, `prune`, ...)",
                runs.display()
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(AppError::io(out))?;
    let mut md = String::new();
    let data: Vec<&str> = measured
        .iter()
        .map(|m| m.checkpoint.meta.data.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    let _ = writeln!(md, "# Pruning report\n");
    let _ = writeln!(
        md,
        "{} runs in `{}`; data: {}; device: {:?}. Parameters and MACs are counted on the \
         rebuilt models (MACs of convolutions and linear layers), against the dense network of \
         the same configuration.\n",
        measured.len(),
        runs.display(),
        if data.is_empty() {
            "unknown".to_string()
        } else {
            dedup(&data).join("; ")
        },
        device
    );
    let _ = writeln!(
        md,
        "**Speed.** The *theoretical* speedup is the MAC ratio of the shapes the network \
         stores: removed channels count, masked weights do not, because every kernel here is \
         dense and multiplies zeros like any other weight. A network pruned by masks only \
         (element, kernel, N:M, block) therefore has a theoretical speedup of 1× and saves no \
         time; its non-zero MAC ratio (last MAC column) is what a sparse kernel could reach. \
         The *measured* speedup times the dense and the pruned network on this device, \
         alternating single calls after {} warm-up calls each: median of {} (min in the \
         latency table), at batch 1 and at the run's training batch size.\n",
        timing.warmup,
        timing.runs.max(5)
    );
    let batch_header = |m: &MeasuredRun| -> usize {
        m.report
            .latency
            .iter()
            .map(|l| l.dense.batch_size)
            .max()
            .unwrap_or(1)
    };
    let _ = writeln!(
        md,
        "| run | method | from | structure | parameters (non-zero) | compression | MACs stored | theoretical speedup | measured, batch 1 | measured, training batch | non-zero MAC ratio | test accuracy | epochs |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in &measured {
        let meta = &m.checkpoint.meta;
        let t = &m.report.totals;
        let batch = batch_header(m);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.2}× | {:.1} M | {:.2}× | {} | {}{} | {:.2}× | {} | {} |",
            meta.name,
            meta.method_label(),
            meta.parent.as_deref().unwrap_or("–"),
            m.report.structure.name(),
            t.nonzero_after,
            t.compression_ratio,
            t.macs_stored_after as f64 / 1e6,
            t.structural_speedup,
            speedup_cell(m.latency(1)),
            speedup_cell(m.latency(batch).filter(|_| batch > 1)),
            if batch > 1 {
                format!(" at {batch}")
            } else {
                String::new()
            },
            t.theoretical_speedup,
            meta.accuracy()
                .map_or("–".into(), |a| format!("{:.2}%", 100.0 * a)),
            meta.epochs_done
        );
    }
    let _ = writeln!(
        md,
        "\n## Measured latency\n\n| run | structure | batch | dense median (min) | pruned median (min) | measured speedup | theoretical speedup | note |\n|---|---|---:|---:|---:|---:|---:|---|"
    );
    for m in &measured {
        for l in &m.report.latency {
            let _ =
                writeln!(
                    md,
                    "| {} | {} | {} | {} ({}) | {} ({}) | {:.2}× | {:.2}× | {} |",
                    m.checkpoint.meta.name,
                    m.report.structure.name(),
                    l.dense.batch_size,
                    millis(l.dense.median()),
                    millis(l.dense.min()),
                    millis(l.pruned.median()),
                    millis(l.pruned.min()),
                    l.measured_speedup,
                    l.theoretical_speedup,
                    budget_note(&m.checkpoint.meta.values, l.dense.batch_size)
                        .unwrap_or_else(|| m.report.structure.speed_note().to_string())
                );
        }
    }

    // Accuracy against sparsity, one curve per method (runs of one method at several
    // sparsities; a line through unrelated runs would be meaningless).
    let results: Vec<RunResult> = measured
        .iter()
        .filter_map(|m| {
            m.checkpoint.meta.accuracy().map(|a| RunResult {
                method: m.checkpoint.meta.method_label().to_string(),
                sparsity: m.sparsity(),
                metric: 100.0 * a,
            })
        })
        .collect();
    if !results.is_empty() {
        plot_runs(
            out.join("accuracy-vs-sparsity.png"),
            "test accuracy (%)",
            &results,
        )?;
        let _ = writeln!(
            md,
            "\n## Accuracy against sparsity\n\n![accuracy against sparsity](accuracy-vs-sparsity.png)\n"
        );
    }

    // Training curves.
    let curves: Vec<Series> = measured
        .iter()
        .filter(|m| !m.checkpoint.meta.history.is_empty())
        .map(|m| {
            Series::new(
                m.checkpoint.meta.name.clone(),
                m.checkpoint
                    .meta
                    .history
                    .iter()
                    .map(|e| (e.epoch as f64, 100.0 * e.test_accuracy))
                    .collect(),
            )
        })
        .collect();
    if !curves.is_empty() {
        line_plot(
            out.join("training.png"),
            "Test accuracy during training",
            "epoch",
            "test accuracy (%)",
            &curves,
        )?;
        let _ = writeln!(
            md,
            "## Training\n\n![test accuracy per epoch](training.png)\n"
        );
    }

    // Per-layer detail of every run that changed the network.
    let _ = writeln!(md, "## Runs in detail\n");
    for m in &measured {
        let meta = &m.checkpoint.meta;
        let t = &m.report.totals;
        let _ = writeln!(
            md,
            "### {}\n\n{} ({}).\n",
            meta.name,
            meta.description,
            meta.model.describe()
        );
        let _ = writeln!(
            md,
            "- parameters: {} → {} stored ({} non-zero), compression {:.2}×\n- MACs: {:.2} M → {:.2} M stored ({:.2} M non-zero); theoretical speedup {:.2}× ({:.2}× with a kernel that skips zero weights)\n- {}",
            t.params_before,
            t.params_stored_after,
            t.nonzero_after,
            t.compression_ratio,
            t.macs_before as f64 / 1e6,
            t.macs_stored_after as f64 / 1e6,
            t.macs_after as f64 / 1e6,
            t.structural_speedup,
            t.theoretical_speedup,
            m.report.structure.speed_note()
        );
        for l in &m.report.latency {
            let _ = writeln!(md, "- measured: {l}");
        }
        if let Some(last) = meta.history.last() {
            let _ = writeln!(
                md,
                "- {} epochs, last: loss {:.3}, train {:.2}%, test {:.2}%, {:.0} images/s",
                meta.epochs_done,
                last.train_loss,
                100.0 * last.train_accuracy,
                100.0 * last.test_accuracy,
                last.images_per_second
            );
        }
        if let Some(a) = meta.values.get("accuracy") {
            let _ = writeln!(
                md,
                "- test accuracy after its last pruning step: {:.2}%",
                100.0 * a
            );
        }
        if t.compression_ratio > 1.0 + 1e-9 {
            let dir = out.join(&meta.name);
            std::fs::create_dir_all(&dir).map_err(AppError::io(&dir))?;
            for plot in m.report.plot(&dir, "png")? {
                let file = plot
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_default();
                let _ = writeln!(md, "\n![{file}]({}/{file})", meta.name);
            }
            write_atomic(&dir.join("layers.csv"), &m.report.to_csv())?;
            write_atomic(&dir.join("report.json"), &m.report.to_json()?)?;
            let _ = writeln!(
                md,
                "\nPer-layer table: [{0}/layers.csv]({0}/layers.csv)",
                meta.name
            );
        }
        let _ = writeln!(md);
    }
    let path = out.join("report.md");
    write_atomic(&path, &md)?;
    Ok(Report {
        path,
        runs: measured,
    })
}

fn dedup<'a>(items: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i);
        }
    }
    out
}

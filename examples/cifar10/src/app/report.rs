//! `report`: every run under `--runs` measured (parameters, MACs, compression, theoretical
//! speedup, accuracy) into a Markdown report with plots.

use super::checkpoint::Checkpoint;
use super::error::{AppError, Result};
use super::network::{INPUT, forward};
use burn::prelude::*;
use burn_prune::metrics::plot::{Series, line_plot};
use burn_prune::metrics::{Convention, ModelMetrics, PruningReport, RunResult, plot_runs};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One measured run.
pub struct MeasuredRun {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Its model against the dense network of the same configuration.
    pub report: PruningReport,
}

impl MeasuredRun {
    /// Fraction of the dense network's parameters that are zero or removed.
    pub fn sparsity(&self) -> f64 {
        let t = &self.report.totals;
        1.0 - t.nonzero_after as f64 / t.params_before.max(1) as f64
    }
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
/// (built and measured once per configuration).
pub fn measure(runs: &Path, device: &Device) -> Result<Vec<MeasuredRun>> {
    let mut measured = Vec::new();
    let mut dense: HashMap<String, ModelMetrics> = HashMap::new();
    for checkpoint in checkpoints(runs)? {
        let model = checkpoint.load_model(device)?;
        let spec = &checkpoint.meta.model;
        let key = format!("{spec:?}");
        if !dense.contains_key(&key) {
            let metrics = ModelMetrics::of_model(&spec.init(device)?, INPUT, forward)?;
            dense.insert(key.clone(), metrics);
        }
        let report = PruningReport::new(
            &dense[&key],
            &ModelMetrics::of_model(&model, INPUT, forward)?,
            Convention::Papers,
        );
        measured.push(MeasuredRun { checkpoint, report });
    }
    Ok(measured)
}

/// Write `report.md` and its plots into `out`; returns the report's path.
pub fn write_report(runs: &Path, out: &Path, device: &Device) -> Result<PathBuf> {
    let measured = measure(runs, device)?;
    if measured.is_empty() {
        return Err(AppError::invalid(
            "report",
            format!(
                "no runs in {} (make some with `cifar10 train`, `prune`, ...)",
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
        "{} runs in `{}`; data: {}. Parameters and MACs are measured on the rebuilt models \
         (MACs of convolutions and linear layers, masked weights not counted), against the \
         dense network of the same configuration.\n",
        measured.len(),
        runs.display(),
        if data.is_empty() {
            "unknown".to_string()
        } else {
            dedup(&data).join("; ")
        }
    );
    let _ = writeln!(
        md,
        "| run | command | what | from | parameters (non-zero) | compression | MACs | speedup | test accuracy | epochs |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for m in &measured {
        let meta = &m.checkpoint.meta;
        let t = &m.report.totals;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.2}× | {:.1} M | {:.2}× | {} | {} |",
            meta.name,
            meta.command,
            meta.description,
            meta.parent.as_deref().unwrap_or("–"),
            t.nonzero_after,
            t.compression_ratio,
            t.macs_after as f64 / 1e6,
            t.theoretical_speedup,
            meta.accuracy()
                .map_or("–".into(), |a| format!("{:.2}%", 100.0 * a)),
            meta.epochs_done
        );
    }

    // Accuracy against sparsity, one curve per command.
    let results: Vec<RunResult> = measured
        .iter()
        .filter_map(|m| {
            m.checkpoint.meta.accuracy().map(|a| RunResult {
                method: m.checkpoint.meta.command.clone(),
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
            "- parameters: {} → {} ({} non-zero), compression {:.2}×\n- MACs: {:.2} M → {:.2} M, theoretical speedup {:.2}×",
            t.params_before,
            t.params_after,
            t.nonzero_after,
            t.compression_ratio,
            t.macs_before as f64 / 1e6,
            t.macs_after as f64 / 1e6,
            t.theoretical_speedup
        );
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
            std::fs::write(dir.join("layers.csv"), m.report.to_csv())
                .map_err(AppError::io(dir.join("layers.csv")))?;
            let _ = writeln!(
                md,
                "\nPer-layer table: [{0}/layers.csv]({0}/layers.csv)",
                meta.name
            );
        }
        let _ = writeln!(md);
    }
    let path = out.join("report.md");
    std::fs::write(&path, md).map_err(AppError::io(&path))?;
    Ok(path)
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

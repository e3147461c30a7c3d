//! `study`: the experiments behind the papers burn-prune implements, on one dataset, in one
//! resumable command, and the results page generated from its runs.
//!
//! Sections (each a directory of runs under `<runs>/study`):
//!
//! - **dense** networks of every seed (plain, and with network slimming's penalty, saved
//!   after every epoch);
//! - **criteria**: nine criteria removing channels at three ratios, with and without a short
//!   fine-tune, and the measured latency of each compacted network;
//! - **pruning at initialization** at one parameter budget;
//! - **early bird**: both detectors over the saved epochs, tickets drawn where they fire;
//! - **rethinking**: six methods at two ratios, and sparse structure selection on a deeper
//!   network, fine-tuned against Scratch-E and Scratch-B;
//! - **lottery tickets** against random re-initialisation at two learning rates;
//! - **pruning spaces**: subnetworks of one MAC regime, then a refined space.
//!
//! Every task skips what is finished on disk, so the same command continues an interrupted
//! study (`--stop-after-epochs` stops it on purpose).

pub mod config;
pub mod early_bird;
pub mod layout;
pub mod methods;
pub mod page;
pub mod plan;
pub mod record;
pub mod sections;
pub mod spaces;
pub mod stats;

pub use config::{StudyConfig, StudyScale};
pub use layout::Layout;

use super::context::Context;
use super::error::{AppError, Result};
use page::Page;
use plan::{Clock, Task};
use record::StudyRecord;
use std::path::PathBuf;
use std::time::Instant;

/// How to run the study.
#[derive(Clone, Debug)]
pub struct StudyOptions {
    /// Where to write the page (default `<study>/results.md`); its plots go into the
    /// directory of the same name without the extension.
    pub page: Option<PathBuf>,
    /// Only write the page from the runs there are (no training).
    pub page_only: bool,
    /// Delete the study directory first.
    pub fresh: bool,
    /// The command line, as the page prints it.
    pub command: String,
}

/// Every task of the study, in the order it runs: dense networks first (the other
/// sections start from them), then the cheap sections, then the long ones.
pub fn tasks<'a>(ctx: &'a Context, layout: &'a Layout, config: &'a StudyConfig) -> Vec<Task<'a>> {
    let mut tasks = sections::dense(ctx, layout, config);
    tasks.extend(sections::criteria(ctx, layout, config));
    tasks.extend(early_bird::tasks(ctx, layout, config));
    tasks.extend(sections::pai(ctx, layout, config));
    tasks.extend(sections::rethinking(ctx, layout, config));
    tasks.extend(sections::sparse_structure(ctx, layout, config));
    tasks.extend(sections::lottery(ctx, layout, config));
    tasks.extend(spaces::tasks(ctx, layout, config));
    tasks
}

/// Run (or continue) the study in `<ctx.runs>/study`, then write the page. Returns the
/// page's path.
///
/// Errors: an invalid configuration, a study directory of another configuration (unless
/// `fresh`), any run's error (the record keeps the time spent), the page's.
pub fn study(ctx: &Context, config: &StudyConfig, options: &StudyOptions) -> Result<PathBuf> {
    config.check()?;
    let layout = Layout::new(ctx.runs.join("study"));
    if options.fresh && layout.root.exists() {
        std::fs::remove_dir_all(&layout.root).map_err(AppError::io(&layout.root))?;
    }
    let mut record = StudyRecord::open_or_new(&layout.record(), config)?;
    if options.page_only {
        if record.invocations.is_empty() {
            return Err(AppError::invalid(
                "study",
                format!("no study in {}: run it first", layout.root.display()),
            ));
        }
    } else {
        record.start();
        record.save(&layout.record())?;
        let started = Instant::now();
        let tasks = tasks(ctx, &layout, config);
        let planned: f64 = tasks.iter().map(|t| t.units).sum();
        let tasks_len = tasks.len();
        println!(
            "[study] {} tasks (about {planned:.0} dense epochs of {} images) in {}",
            tasks.len(),
            config.train_images,
            layout.root.display()
        );
        // The record is saved after every task, so a killed study keeps its time.
        let path = layout.record();
        let mut progress = record.clone();
        let outcome = Clock::new(planned, tasks_len).run_all(tasks, |seconds| {
            progress.end(seconds, false);
            progress.save(&path)
        });
        record.end(started.elapsed().as_secs_f64(), outcome.is_ok());
        record.save(&layout.record())?;
        outcome?;
    }
    let out = options
        .page
        .clone()
        .unwrap_or_else(|| layout.root.join("results.md"));
    Page {
        ctx,
        layout: &layout,
        config,
        record: &record,
        command: options.command.clone(),
    }
    .write(&out)
}

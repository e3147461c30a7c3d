//! Early-bird tickets on real training: the dense network trained with network slimming's
//! penalty is saved after every epoch; both detectors (BatchNorm mask distance, spline
//! partition) read the saved epochs in order; tickets are drawn where each fired and at the
//! end, then fine-tuned the same way.

use super::super::checkpoint::{Checkpoint, write_atomic};
use super::super::commands::{self, existing, resume, train_new};
use super::super::context::Context;
use super::super::error::{AppError, Result};
use super::super::network::{Network, forward};
use super::super::prune::{SlimmingPenalty, prune_or_resume};
use super::super::spec::{Method, PruneSpec};
use super::super::train::{Hooks, batch};
use super::config::StudyConfig;
use super::layout::{Layout, run_path};
use super::methods::DENSE_SLIM;
use super::plan::Task;
use crate::with_replay_backend;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn_prune::metrics::early_bird::{
    EarlyBirdConfig, PatternCaptureConfig, SplineEarlyBirdConfig,
};
use burn_prune::schedule::methods::NetworkSlimmingConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The saved dense network after epoch `epoch` (1-based).
pub fn epoch_run(epoch: usize) -> String {
    format!("epoch-{epoch}")
}

/// The ticket drawn after epoch `epoch`, and its fine-tuned run.
pub fn ticket_runs(epoch: usize) -> (String, String) {
    (format!("ticket-e{epoch}"), format!("ticket-e{epoch}-ft"))
}

/// Where the detectors fired.
pub const DETECTION: &str = "detection.json";

/// What both detectors saw, epoch after epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Epochs of dense training.
    pub epochs: usize,
    /// Largest BatchNorm-mask distance to the previous masks in the window, per epoch
    /// (`None` for the first).
    pub bn_distances: Vec<Option<f64>>,
    /// The first epoch (1-based) at which the mask-distance detector fired.
    pub bn_epoch: Option<usize>,
    /// Largest spline-pattern distance to the previous epochs, per epoch.
    pub spline_distances: Vec<Option<f64>>,
    /// The first epoch (1-based) at which the spline detector fired.
    pub spline_epoch: Option<usize>,
}

impl Detection {
    /// The epochs tickets are drawn at: where each detector fired, and the last.
    pub fn ticket_epochs(&self) -> Vec<usize> {
        let set: BTreeSet<usize> = [self.bn_epoch, self.spline_epoch, Some(self.epochs)]
            .into_iter()
            .flatten()
            .collect();
        set.into_iter().collect()
    }
}

/// Saves the network after every epoch into the early-bird directory.
struct Watched<'a> {
    penalty: SlimmingPenalty,
    snapshots: &'a Context,
    template: super::super::checkpoint::RunMeta,
}

impl Hooks for Watched<'_> {
    fn before_step(
        &mut self,
        model: Network,
        grads: GradientsParams,
        lr: f64,
    ) -> Result<(Network, GradientsParams)> {
        self.penalty.before_step(model, grads, lr)
    }

    fn after_epoch(&mut self, model: Network, epoch: usize) -> Result<Network> {
        let mut meta = self.template.clone();
        meta.name = epoch_run(epoch);
        meta.description = format!("{} after epoch {epoch}", self.template.description);
        meta.values.insert("epoch".into(), epoch as f64);
        meta.finished = true;
        Checkpoint::save(self.snapshots.dir(&meta.name), meta, &model, None)?;
        Ok(model)
    }
}

/// Train `dense-slim` of `ctx`'s seed (in `ctx`'s directory) with the slimming penalty,
/// saving the network after every epoch into the early-bird directory.
pub fn train_watched(
    ctx: &Context,
    layout: &Layout,
    config: &StudyConfig,
    seed: u64,
) -> Result<Checkpoint> {
    let spec = config.network(ctx.dataset);
    let snapshots = ctx.scoped(layout.early_bird(seed), seed);
    let description = format!(
        "dense {}, BN-scale L1 penalty {:e}",
        spec.describe(),
        config.slimming_penalty
    );
    let mut template = snapshots.run_meta("epoch", "snapshot", description.clone(), spec.clone());
    template.method = "dense snapshot".into();
    let mut hooks = Watched {
        penalty: SlimmingPenalty(
            NetworkSlimmingConfig::new(0.0)
                .with_penalty(config.slimming_penalty)
                .init()?,
        ),
        snapshots: &snapshots,
        template,
    };
    if let Some(c) = existing(ctx, DENSE_SLIM, "train", false)? {
        return resume(ctx, c, &mut hooks);
    }
    ctx.device.seed(seed);
    let model = spec.init(&ctx.device.clone().autodiff())?;
    let mut meta = ctx.run_meta(DENSE_SLIM, "train", description, spec);
    meta.method = "dense".into();
    meta.train = Some(ctx.adjust(config.dense()));
    train_new(ctx, model, meta, &mut hooks)
}

/// Feed the saved epochs to both detectors (the mask detector at the study's ratio, the
/// paper's window 5 and distance 0.1; the spline detector on a grid between the first two
/// test images, look-back 3, threshold 0.16) and save what they saw.
pub fn detect(ctx: &Context, config: &StudyConfig) -> Result<Detection> {
    let mut bn = EarlyBirdConfig::new(config.early_bird_ratio).init()?;
    let mut spline = SplineEarlyBirdConfig::new().init()?;
    let batcher = ctx.eval_batcher()?;
    if ctx.data.test.len() < 2 {
        return Err(AppError::invalid(
            "early-bird",
            "the spline grid needs two test images",
        ));
    }
    let host = Device::flex();
    let x0 = batch(&batcher, &ctx.data.test, &[0], &host)
        .images
        .into_data();
    let x1 = batch(&batcher, &ctx.data.test, &[1], &host)
        .images
        .into_data();
    let mut detection = Detection {
        epochs: config.dense_epochs,
        bn_distances: Vec::new(),
        bn_epoch: None,
        spline_distances: Vec::new(),
        spline_epoch: None,
    };
    let mut capture = None;
    for epoch in 1..=config.dense_epochs {
        let model = ctx.open(&epoch_run(epoch))?.load_model(&ctx.device)?;
        let status = bn.observe(&model)?;
        detection.bn_distances.push(status.max_distance());
        if detection.bn_epoch.is_none() && status.emerged {
            detection.bn_epoch = Some(epoch);
        }
        if capture.is_none() {
            capture = Some(
                PatternCaptureConfig::new()
                    .with_grid_side(config.spline_grid)
                    .init(&model, ctx.input(1), forward)?,
            );
        }
        let Some(capture) = &capture else { continue };
        let patterns = with_replay_backend!(ctx, |B, device| capture
            .capture::<B, _>(&model, &x0, &x1, device)?);
        let status = spline.observe(patterns)?;
        detection.spline_distances.push(status.max_distance());
        if detection.spline_epoch.is_none() && status.emerged {
            detection.spline_epoch = Some(epoch);
        }
    }
    let json = serde_json::to_string_pretty(&detection)
        .map_err(|e| AppError::invalid("early-bird detection", e.to_string()))?;
    write_atomic(&ctx.dir(DETECTION), &json)?;
    Ok(detection)
}

/// Read the detection saved in `dir`, if any.
pub fn read_detection(dir: &std::path::Path) -> Result<Option<Detection>> {
    let path = dir.join(DETECTION);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(AppError::io(&path))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| AppError::checkpoint(&path, format!("not an early-bird detection: {e}")))
}

/// Per seed: detect, then draw a ticket (network slimming at the detector's ratio) at every
/// firing epoch and at the end, and fine-tune each.
pub fn tasks<'a>(ctx: &'a Context, layout: &'a Layout, config: &'a StudyConfig) -> Vec<Task<'a>> {
    config
        .seeds
        .iter()
        .map(|&seed| {
            let cell = ctx.scoped(layout.early_bird(seed), seed);
            Task::new(
                format!("seed {seed}: early-bird detection and tickets"),
                3.0 * config.finetune_epochs as f64 * 0.5,
                move || {
                    // The saved epochs do not change once dense training is done: a resumed
                    // study reads the detection it saved.
                    let detection = match read_detection(&layout.early_bird(seed))? {
                        Some(d) if d.bn_distances.len() == config.dense_epochs => d,
                        _ => detect(&cell, config)?,
                    };
                    println!(
                        "[early-bird] seed {seed}: mask detector fired at epoch {:?}, spline detector at {:?} (of {})",
                        detection.bn_epoch, detection.spline_epoch, detection.epochs
                    );
                    let spec = PruneSpec {
                        method: Method::Slimming,
                        sparsity: config.early_bird_ratio,
                        ..PruneSpec::default()
                    };
                    for epoch in detection.ticket_epochs() {
                        let (ticket, ft) = ticket_runs(epoch);
                        let from = run_path(&layout.early_bird(seed), &epoch_run(epoch));
                        let train = config.finetune(config.finetune_epochs);
                        prune_or_resume(&cell, &from, &ticket, &spec, train.clone(), false)?;
                        commands::finetune(&cell, &ticket, &ft, train, false)?;
                    }
                    Ok(())
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_drawn_once_per_epoch() {
        let d = Detection {
            epochs: 10,
            bn_distances: vec![],
            bn_epoch: Some(6),
            spline_distances: vec![],
            spline_epoch: Some(6),
        };
        assert_eq!(d.ticket_epochs(), vec![6, 10]);
        let d = Detection {
            bn_epoch: None,
            spline_epoch: Some(4),
            ..d
        };
        assert_eq!(d.ticket_epochs(), vec![4, 10]);
    }
}

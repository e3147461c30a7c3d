//! Iterative magnitude pruning with rewinding: lottery tickets (Frankle & Carbin, ICLR 2019;
//! rewinding to an early step: Frankle et al., ICML 2020).

use crate::error::{self, ScheduleError};
use crate::pruner::grow;
use burn::config::Config;
use burn::module::Module;
use burn_prune_core::criterion::Magnitude;
use burn_prune_core::{MaskSet, ParamSnapshot, PrunerConfig, install_masks, masks_of};

/// What one round of [`LotteryTicket::next_round`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct LotteryRound {
    /// The round's target sparsity: `1 − (1 − s)(1 − f)` for the sparsity `s` before it.
    pub target: f64,
    /// The pruned fraction of the selected weights after the round.
    pub sparsity: f64,
    /// Weights the magnitude ranking would have revived that stayed pruned (`0` unless the
    /// snapshot or the training moved pruned weights).
    pub held_pruned: usize,
    /// The masks now installed.
    pub masks: MaskSet,
}

/// Configuration of [`LotteryTicket`].
#[derive(Config, Debug)]
pub struct LotteryTicketConfig {
    /// Fraction of the remaining weights each round removes, in `(0, 1)` (0.2 in the paper).
    #[config(default = 0.2)]
    pub fraction_per_round: f64,
    /// Which parameters, granularity and scope (its sparsity is replaced by each round's);
    /// the default is global magnitude pruning of single weights, as in the paper.
    #[config(default = "PrunerConfig::new(0.0)")]
    pub pruner: PrunerConfig,
}

impl LotteryTicketConfig {
    /// Check the configuration. Errors: a fraction outside `(0, 1)`.
    pub fn init(&self) -> error::Result<LotteryTicket> {
        if !(self.fraction_per_round > 0.0 && self.fraction_per_round < 1.0) {
            return Err(ScheduleError::invalid(
                "lottery ticket fraction per round",
                format!("{} is outside (0, 1)", self.fraction_per_round),
            ));
        }
        Ok(LotteryTicket {
            config: self.clone(),
        })
    }
}

/// Iterative magnitude pruning with rewinding.
///
/// 1. Train the dense model; at the rewind step (0 = the initialisation) take a
///    [`ParamSnapshot`] of it.
/// 2. Train to the end of the round, then call [`LotteryTicket::next_round`]: it removes
///    `fraction_per_round` of the weights that remain (global magnitude of the trained
///    weights; pruned weights stay pruned) and resets every surviving weight exactly to its
///    value in the snapshot.
/// 3. Repeat from the rewind step.
///
/// The random re-initialisation control is the same call with a snapshot of a freshly
/// initialised twin of the model (same architecture, another seed): the mask is kept and
/// the initial values are not.
#[derive(Clone, Debug)]
pub struct LotteryTicket {
    config: LotteryTicketConfig,
}

impl LotteryTicket {
    /// The sparsity after `round` rounds, `1 − (1 − f)^round`.
    pub fn sparsity_after(&self, round: u32) -> f64 {
        1.0 - (1.0 - self.config.fraction_per_round).powi(round as i32)
    }

    /// End a round: prune `fraction_per_round` of the remaining weights of the trained
    /// `model`, then rewind every parameter held by `rewind` to its stored value, masks
    /// installed. Returns the model ready for the next round and what the pruning did.
    ///
    /// Errors: a snapshot from another architecture (a path or shape the model lacks); those
    /// of the core pruner.
    pub fn next_round<M: Module>(
        &self,
        model: M,
        rewind: &ParamSnapshot,
    ) -> error::Result<(M, LotteryRound)> {
        let selected = self.pruner(0.0)?.masks(&model)?;
        let installed = masks_of(&model)?;
        // Current sparsity of the selected parameters, from the installed masks.
        let (total, pruned) = selected.iter().fold((0usize, 0usize), |(n, p), m| {
            let pruned = installed.get(&m.path).map_or(0, |i| i.pruned());
            (n + m.numel(), p + pruned)
        });
        let current = if total == 0 {
            0.0
        } else {
            pruned as f64 / total as f64
        };
        let target = 1.0 - (1.0 - current) * (1.0 - self.config.fraction_per_round);
        let fresh = self.pruner(target)?.masks(&model)?;
        let (masks, held_pruned) = grow(&fresh, &installed)?;
        let model = rewind.restore(model)?;
        let model = install_masks(model, &masks)?;
        let (total, pruned) = masks.counts();
        Ok((
            model,
            LotteryRound {
                target,
                sparsity: pruned as f64 / total.max(1) as f64,
                held_pruned,
                masks,
            },
        ))
    }

    fn pruner(&self, sparsity: f64) -> error::Result<burn_prune_core::Pruner> {
        let mut config = self.config.pruner.clone();
        config.sparsity = sparsity;
        Ok(config.init(Magnitude::l1())?)
    }
}

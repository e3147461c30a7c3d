//! Early-bird tickets (You et al., ICLR 2020): train dense with the slimming penalty, stop
//! when the BatchNorm channel mask settles, then prune.

use super::slimming::scale_plan;
use crate::error;
use burn::module::Module;
use burn_prune_core::structure::{DependencyGraph, StructuralPlan};
use burn_prune_metrics::early_bird::{EarlyBirdConfig, EarlyBirdStatus, MaskDistanceDetector};

/// Early-bird training: call [`EarlyBirdTraining::end_of_epoch`] after every epoch of dense
/// training (with [`NetworkSlimming::add_penalty`](super::NetworkSlimming::add_penalty) on the
/// gradients, as in the paper); when it reports the ticket, stop and call
/// [`EarlyBirdTraining::draw`] to prune at the detector's ratio, then fine-tune.
///
/// The detector is the metrics crate's [`MaskDistanceDetector`]: the channel mask of a global
/// `|γ|` threshold at ratio `p`, the last 5 masks kept, the ticket drawn when the newest is
/// within 0.1 (normalised Hamming distance) of each of the previous 4.
#[derive(Clone, Debug)]
pub struct EarlyBirdTraining {
    detector: MaskDistanceDetector,
    ratio: f64,
}

impl EarlyBirdTraining {
    /// Early-bird training with the detector `config` (its `ratio` is also the pruning ratio
    /// of the ticket). Errors: those of [`EarlyBirdConfig::init`].
    pub fn new(config: &EarlyBirdConfig) -> error::Result<Self> {
        Ok(Self {
            detector: config.init()?,
            ratio: config.ratio,
        })
    }

    /// Observe the model at the end of an epoch. `status.first_emerged.is_some()` means the
    /// ticket has been drawn: stop dense training.
    pub fn end_of_epoch<M: Module>(&mut self, model: &M) -> error::Result<EarlyBirdStatus> {
        Ok(self.detector.observe(model)?)
    }

    /// Whether the ticket has emerged.
    pub fn fired(&self) -> bool {
        self.detector.fired()
    }

    /// The epoch (from 0) at which the ticket emerged.
    pub fn fired_at(&self) -> Option<usize> {
        self.detector.fired_at()
    }

    /// The detector, for its distances and ticket mask.
    pub fn detector(&self) -> &MaskDistanceDetector {
        &self.detector
    }

    /// Prune the ticket: remove the detector's ratio of BatchNorm-scaled channels with the
    /// smallest `|γ|` (one global threshold, as the detector's masks), through the dependency
    /// graph. Returns the smaller model and its plan.
    pub fn draw<M: Module>(
        &self,
        model: M,
        graph: &DependencyGraph,
    ) -> error::Result<(M, StructuralPlan)> {
        let plan = scale_plan(&model, graph, self.ratio, "early-bird ticket")?;
        Ok((plan.apply(model)?, plan))
    }
}

//! The scheduled pruner: a criterion, a granularity, a scope and a schedule.

use crate::error::{Result, ScheduleError};
use crate::schedule::{ScheduleConfig, SparsitySchedule};
use burn::module::Module;
use burn::prelude::*;
use burn_prune_core::{Criterion, MaskSet, Pruner, PrunerConfig, install_masks, masks_of};
use std::sync::Arc;

/// What one mask update did.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneEvent {
    /// The step of the update.
    pub step: u64,
    /// The schedule's target sparsity at that step (fraction of units).
    pub target: f64,
    /// The pruned fraction of the weights of the selected parameters after the update.
    pub sparsity: f64,
    /// Weights that the criterion would have revived and that stayed pruned (`0` for every
    /// criterion that scores a pruned weight by its zero effective value: magnitude, Taylor,
    /// SNIP-style products).
    pub held_pruned: usize,
    /// The masks now installed.
    pub masks: MaskSet,
}

/// A pruner that follows a [`SparsitySchedule`]: at each of the schedule's update steps it
/// recomputes the masks at the schedule's target and installs them.
///
/// **Masks only grow.** A weight pruned at one update stays pruned at the next ones (the new
/// masks are intersected with the installed ones); with magnitude-like criteria this changes
/// nothing, since a pruned weight's effective value is zero and it ranks first anyway.
///
/// **Determinism.** [`ScheduledPruner::update`] is a pure function of the model and the step:
/// no counter or cache lives in the pruner. Under multi-device training every worker that
/// holds the same weights and the same step computes the same masks (ties are broken by
/// position, criteria are deterministic); the step should come from the loop counter or from
/// a [`PruningStep`](crate::PruningStep) stored in the model, never from state shared
/// between workers.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{Linear, LinearConfig};
/// use burn_prune_core::criterion::Magnitude;
/// use burn_prune_schedule::{GradualConfig, ScheduledPrunerConfig};
///
/// #[derive(Module, Debug)]
/// struct Net { fc: Linear }
///
/// let device = Device::flex();
/// let mut net = Net { fc: LinearConfig::new(16, 8).init(&device) };
/// let pruner = ScheduledPrunerConfig::new(GradualConfig::agp(0.75, 3).with_interval(2).into())
///     .init(Magnitude::l1())
///     .unwrap();
/// for step in 0..=6 {
///     // ... forward, backward, optimizer step ...
///     let (pruned, event) = pruner.update(net, step).unwrap();
///     net = pruned;
///     if let Some(e) = event {
///         println!("step {step}: {:.1}% pruned", 100.0 * e.sparsity);
///     }
/// }
/// assert_eq!(net.fc.weight.val().equal_elem(0.0).int().sum().into_scalar::<i64>(), 96);
/// ```
#[derive(Clone)]
pub struct ScheduledPruner {
    /// The checked pruner, at the schedule's final target.
    pruner: Pruner,
    schedule: Arc<dyn SparsitySchedule>,
}

/// Configuration of a [`ScheduledPruner`]: the schedule, and how each update prunes (the
/// core [`PrunerConfig`], whose own sparsity is replaced by the schedule's target).
#[derive(Clone, Debug)]
pub struct ScheduledPrunerConfig {
    /// The schedule.
    pub schedule: ScheduleConfig,
    /// Granularity, scope, selector, reduction, ... of every update.
    pub pruner: PrunerConfig,
}

impl ScheduledPrunerConfig {
    /// A schedule pruning single weights globally (the core pruner's defaults).
    pub fn new(schedule: ScheduleConfig) -> Self {
        Self {
            schedule,
            pruner: PrunerConfig::new(0.0),
        }
    }

    /// Set how each update prunes (its `sparsity` is ignored).
    pub fn with_pruner(mut self, pruner: PrunerConfig) -> Self {
        self.pruner = pruner;
        self
    }

    /// Check the schedule and build the pruner.
    pub fn init<C: Criterion + 'static>(&self, criterion: C) -> Result<ScheduledPruner> {
        ScheduledPruner::from_boxed(self.schedule.init()?, self.pruner.clone(), criterion)
    }
}

impl std::fmt::Debug for ScheduledPruner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScheduledPruner")
            .field("criterion", &self.pruner.criterion_name())
            .field("schedule", &self.schedule)
            .field("pruner", self.pruner.config())
            .finish()
    }
}

impl ScheduledPruner {
    /// A pruner following any schedule, this crate's or your own implementation of
    /// [`SparsitySchedule`] (as Burn's learner takes any `LrScheduler`); every update prunes
    /// as `pruner` says, at the schedule's target. [`ScheduledPrunerConfig`] is the
    /// serializable form for this crate's schedules.
    ///
    /// Everything is checked once, here: every update step's sparsity must be in `[0, 1)`
    /// and must not decrease (masks only grow), the update steps must increase, and the
    /// pruner configuration must hold at every target ([`PrunerConfig::init`]'s checks).
    /// What depends on the model (a selector pattern that matches nothing, a criterion that
    /// needs gradients or a BatchNorm the model lacks) is reported by the first update.
    pub fn new<S, C>(schedule: S, pruner: PrunerConfig, criterion: C) -> Result<Self>
    where
        S: SparsitySchedule + 'static,
        C: Criterion + 'static,
    {
        Self::from_boxed(Box::new(schedule), pruner, criterion)
    }

    fn from_boxed<C: Criterion + 'static>(
        schedule: Box<dyn SparsitySchedule>,
        pruner: PrunerConfig,
        criterion: C,
    ) -> Result<Self> {
        check_schedule(schedule.as_ref())?;
        let mut pruner = pruner;
        pruner.sparsity = schedule.final_sparsity();
        let pruner = pruner.init(criterion)?;
        // Every target the schedule will ask for, checked now rather than at its step.
        for step in schedule.update_steps() {
            pruner.with_sparsity(schedule.sparsity(step))?;
        }
        Ok(Self {
            pruner,
            schedule: Arc::from(schedule),
        })
    }

    /// The schedule.
    pub fn schedule(&self) -> &dyn SparsitySchedule {
        self.schedule.as_ref()
    }

    /// How every update prunes (its `sparsity` is replaced by the schedule's target).
    pub fn pruner_config(&self) -> &PrunerConfig {
        self.pruner.config()
    }

    /// Call after the optimizer step that brought the count to `step`: at an update step,
    /// compute the masks at the schedule's target from the weights and install them;
    /// otherwise return the model unchanged. A criterion that needs gradients is an error
    /// here ([`ScheduledPruner::update_with_data`]).
    pub fn update<M: Module>(&self, model: M, step: u64) -> Result<(M, Option<PruneEvent>)> {
        if !self.schedule.is_update(step) {
            return Ok((model, None));
        }
        let target = self.target(step)?;
        let masks = self.at(target)?.masks(&model)?;
        self.install(model, step, target, masks)
    }

    /// [`ScheduledPruner::update`] for criteria that need gradients: at an update step the
    /// gradients of `loss` over `batches` are gathered first (batches are not touched on
    /// other steps).
    pub fn update_with_data<M, B, I, F>(
        &self,
        model: M,
        step: u64,
        batches: I,
        loss: F,
    ) -> Result<(M, Option<PruneEvent>)>
    where
        M: Module,
        I: IntoIterator<Item = B>,
        F: FnMut(&M, B) -> Tensor<1>,
    {
        if !self.schedule.is_update(step) {
            return Ok((model, None));
        }
        let target = self.target(step)?;
        let masks = self.at(target)?.masks_with_data(&model, batches, loss)?;
        self.install(model, step, target, masks)
    }

    /// The target at update `step` (checked when the pruner was built).
    fn target(&self, step: u64) -> Result<f64> {
        Ok(self.schedule.sparsity(step))
    }

    fn at(&self, sparsity: f64) -> Result<Pruner> {
        Ok(self.pruner.with_sparsity(sparsity)?)
    }

    fn install<M: Module>(
        &self,
        model: M,
        step: u64,
        target: f64,
        fresh: MaskSet,
    ) -> Result<(M, Option<PruneEvent>)> {
        let (masks, held_pruned) = grow(&fresh, &masks_of(&model)?)?;
        let (total, pruned) = masks.counts();
        let model = install_masks(model, &masks)?;
        let event = PruneEvent {
            step,
            target,
            sparsity: if total == 0 {
                0.0
            } else {
                pruned as f64 / total as f64
            },
            held_pruned,
            masks,
        };
        Ok((model, Some(event)))
    }
}

/// `fresh` with every weight pruned in `installed` kept pruned (masks only grow), and how
/// many weights `fresh` alone would have kept that stayed pruned.
pub(crate) fn grow(fresh: &MaskSet, installed: &MaskSet) -> Result<(MaskSet, usize)> {
    let mut masks = MaskSet::new();
    let mut held_pruned = 0;
    for m in fresh.iter() {
        let mut m = m.clone();
        if let Some(old) = installed.get(&m.path).filter(|o| o.shape == m.shape) {
            let kept = m.keep.count_ones();
            m.keep = m.keep.and(&old.keep).expect("same shape, same length");
            held_pruned += kept - m.keep.count_ones();
        }
        masks.insert(m)?;
    }
    Ok((masks, held_pruned))
}

/// Errors: an update step whose sparsity is outside `[0, 1)` or below the previous update's
/// (masks only grow), or update steps that do not increase.
fn check_schedule(schedule: &dyn SparsitySchedule) -> Result<()> {
    let what = || format!("schedule {schedule:?}");
    let mut previous: Option<(u64, f64)> = None;
    for step in schedule.update_steps() {
        let s = schedule.sparsity(step);
        if !(0.0..1.0).contains(&s) {
            return Err(ScheduleError::invalid(
                what(),
                format!("its sparsity at step {step} is {s}, outside [0, 1)"),
            ));
        }
        if let Some((p_step, p)) = previous {
            if step <= p_step {
                return Err(ScheduleError::invalid(
                    what(),
                    format!("update step {step} comes after step {p_step}: steps must increase"),
                ));
            }
            if s < p {
                return Err(ScheduleError::invalid(
                    what(),
                    format!(
                        "its sparsity falls from {p} (step {p_step}) to {s} (step {step}); \
                         masks only grow"
                    ),
                ));
            }
        }
        if !schedule.is_update(step) {
            return Err(ScheduleError::invalid(
                what(),
                format!("step {step} is listed as an update but `is_update` says it is not"),
            ));
        }
        previous = Some((step, s));
    }
    Ok(())
}

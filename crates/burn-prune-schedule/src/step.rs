//! The optimizer-step count, stored in the model.

use burn::module::{Module, Param, ParamId};
use burn::prelude::*;

/// The number of optimizer steps a model has taken, stored in the model itself.
///
/// Add it as a field of the model that burn-train's `SupervisedTraining` trains, advance it
/// in `TrainStep::optimize`, and give it to [`ScheduledPruner::update`](crate::ScheduledPruner::update).
/// Because it lives in the model:
///
/// - it is saved in checkpoints and restored with them, so a resumed run continues the
///   schedule where it stopped;
/// - under burn-train's multi-device strategies every worker advances its own copy after
///   the same (synchronised) optimizer steps, so all workers see the same step and, holding
///   the same weights, compute the same masks. Nothing is shared between workers.
///
/// It is an integer parameter (`<field>.count` in records); optimizers never touch it.
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_schedule::PruningStep;
///
/// let mut step = PruningStep::new(&Device::flex());
/// assert_eq!(step.get(), 0);
/// assert_eq!(step.advance(), 1);
/// assert_eq!(step.get(), 1);
/// ```
#[derive(Module, Debug)]
pub struct PruningStep {
    /// The count, a one-element integer tensor.
    pub count: Param<Tensor<1, Int>>,
}

impl PruningStep {
    /// A count of zero on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            count: Param::initialized(ParamId::new(), Self::tensor(0, device)),
        }
    }

    /// The number of steps counted (one read from the device).
    pub fn get(&self) -> u64 {
        let value = self.count.val().into_scalar::<i64>();
        u64::try_from(value).unwrap_or(0)
    }

    /// Count one more step and return the new count.
    pub fn advance(&mut self) -> u64 {
        let next = self.get() + 1;
        self.set(next);
        next
    }

    /// Set the count (to resume from a step known elsewhere).
    pub fn set(&mut self, step: u64) {
        let device = self.count.val().device();
        let id = self.count.id;
        self.count = Param::initialized(id, Self::tensor(step, &device));
    }

    fn tensor(step: u64, device: &Device) -> Tensor<1, Int> {
        let value = i64::try_from(step).unwrap_or(i64::MAX);
        Tensor::<1, Int>::from_data(TensorData::new(vec![value], [1]), device)
    }
}

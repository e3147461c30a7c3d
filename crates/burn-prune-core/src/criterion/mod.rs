//! Criteria: how important each weight (or unit) is.
//!
//! A criterion is anything implementing [`Criterion`]: it declares what it [`Needs`]
//! (gradients, the neighbouring BatchNorm), and turns a [`ScoreContext`] — one parameter's
//! weights, the unit map of the chosen granularity, and whatever it asked for — into
//! [`Scores`], per element or per unit. **Low scores are pruned first.** Downstream crates add
//! criteria by implementing the trait; the pruner, scopes and masks need nothing else.
//!
//! ```
//! use burn_prune_core::{Criterion, ScoreContext, Scores, Result};
//!
//! /// Prefer to prune weights close to +1 (a made-up criterion).
//! struct DistanceToOne;
//!
//! impl Criterion for DistanceToOne {
//!     fn name(&self) -> String { "distance-to-one".into() }
//!     fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
//!         Ok(Scores::Elements(ctx.weight.iter().map(|w| (w - 1.0).abs()).collect()))
//!     }
//! }
//! ```

mod batch_norm;
mod fpgm;
mod gradient;
mod magnitude;
mod random;
mod taylor;

pub use batch_norm::BatchNormScale;
pub use fpgm::Fpgm;
pub use gradient::GradientMagnitude;
pub use magnitude::{Magnitude, Norm};
pub use random::Random;
pub use taylor::{Taylor, TaylorForm};

use crate::address::ParamAddress;
use crate::error::{PruneError, Result};
use crate::granularity::{Granularity, Reduction, UnitMap};

/// Scores for one parameter: one per element (reduced to units by the pruner with its
/// [`Reduction`]) or one per unit of the granularity (used as they are).
#[derive(Clone, Debug, PartialEq)]
pub enum Scores {
    /// One score per element, row-major.
    Elements(Vec<f32>),
    /// One score per unit, in [`UnitMap`] order.
    Units(Vec<f32>),
    /// Each element's score is the magnitude `|w|` of its effective weight. Equivalent to
    /// `Elements(weight.iter().map(|w| w.abs()).collect())`, but the pruner can rank the
    /// weights themselves instead of a copy (used by [`Magnitude`](super::criterion::Magnitude)).
    WeightMagnitude,
}

/// What gradients a criterion needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GradientNeed {
    /// None.
    #[default]
    None,
    /// The mean gradient and mean absolute gradient over the batches.
    Mean,
    /// Also every batch's gradient on its own (memory: one copy of the weights per batch).
    PerBatch,
}

/// What a criterion needs besides the weights; the pruner gathers it once for all parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Gradients of the loss over user-supplied batches.
    pub gradients: GradientNeed,
    /// The scale (γ) of the BatchNorm next to each parameter.
    pub batch_norm: bool,
}

/// Gradients of one parameter, gathered over the batches passed to
/// [`Pruner::masks_with_data`](crate::Pruner::masks_with_data).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GradientStats {
    /// Number of batches.
    pub batches: usize,
    /// Mean gradient over the batches, row-major.
    pub mean: Vec<f32>,
    /// Mean of the absolute gradient over the batches.
    pub mean_abs: Vec<f32>,
    /// Each batch's gradient (empty unless [`GradientNeed::PerBatch`] was asked for).
    pub per_batch: Vec<Vec<f32>>,
}

/// The BatchNorm scale found next to a parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormScales {
    /// Path of the BatchNorm's `gamma`.
    pub path: String,
    /// Its values.
    pub gamma: Vec<f32>,
}

/// Everything a criterion may look at for one parameter.
#[derive(Debug)]
pub struct ScoreContext<'a> {
    /// The parameter.
    pub param: &'a ParamAddress,
    /// Its effective weights (installed masks applied), row-major.
    pub weight: &'a [f32],
    /// The element → unit map at the pruner's granularity.
    pub units: &'a UnitMap,
    /// The pruner's reduction (what it will apply to element scores).
    pub reduction: Reduction,
    /// Gradients, when the criterion asked for them.
    pub gradients: Option<&'a GradientStats>,
    /// The BatchNorm scale paired with this parameter — the BatchNorm after it for filter
    /// granularity, before it for channel granularity — when asked for and found.
    pub batch_norm: Option<&'a BatchNormScales>,
}

impl ScoreContext<'_> {
    /// The granularity being pruned.
    pub fn granularity(&self) -> Granularity {
        self.units.granularity()
    }

    /// The gradients, or an error naming the parameter when they were not gathered.
    pub fn require_gradients(&self, criterion: &str) -> Result<&GradientStats> {
        self.gradients.ok_or_else(|| PruneError::MissingBatches {
            criterion: criterion.to_string(),
        })
    }

    /// An [`PruneError::UnsupportedCriterion`] for this parameter.
    pub fn unsupported(&self, criterion: &str, reason: impl Into<String>) -> PruneError {
        PruneError::UnsupportedCriterion {
            criterion: criterion.to_string(),
            granularity: self.granularity().to_string(),
            path: self.param.path.clone(),
            reason: reason.into(),
        }
    }
}

/// A pruning criterion: scores each element or unit of a parameter; low scores go first.
///
/// Implementations must be deterministic for the same inputs (and seed) so that masks are the
/// same on every backend.
pub trait Criterion: Send + Sync {
    /// A short name, used in errors and reports.
    fn name(&self) -> String;

    /// What the criterion needs besides the weights. Defaults to nothing.
    fn needs(&self) -> Needs {
        Needs::default()
    }

    /// Score one parameter.
    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores>;

    /// Whether, at `granularity`, [`score`](Self::score) returns
    /// [`Scores::WeightMagnitude`] for every parameter, whatever its weights. The pruner then
    /// ranks the weights piece by piece as it reads them off the device, without calling
    /// `score` and without holding a copy of every weight (what makes global magnitude
    /// pruning of a large model run at the speed of reading it). Defaults to `false`, which
    /// is always correct.
    fn scores_weight_magnitude(&self, granularity: Granularity) -> bool {
        let _ = granularity;
        false
    }
}

impl<C: Criterion + ?Sized> Criterion for Box<C> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn needs(&self) -> Needs {
        (**self).needs()
    }
    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        (**self).score(ctx)
    }
    fn scores_weight_magnitude(&self, granularity: Granularity) -> bool {
        (**self).scores_weight_magnitude(granularity)
    }
}

impl<C: Criterion + ?Sized> Criterion for std::sync::Arc<C> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn needs(&self) -> Needs {
        (**self).needs()
    }
    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        (**self).score(ctx)
    }
    fn scores_weight_magnitude(&self, granularity: Granularity) -> bool {
        (**self).scores_weight_magnitude(granularity)
    }
}

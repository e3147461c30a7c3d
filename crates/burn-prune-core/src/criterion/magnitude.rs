use super::{Criterion, ScoreContext, Scores};
use crate::error::Result;
use crate::granularity::{Granularity, Reduction};

/// Which norm [`Magnitude`] takes over a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Norm {
    /// Sum of absolute values (Li et al.'s filter norm).
    #[default]
    L1,
    /// Euclidean norm.
    L2,
}

/// Weight magnitude (Han et al. 2015; Li et al. 2017 for filters): the L1 or L2 norm of each
/// unit's weights — for single weights, `|w|`.
///
/// ```
/// use burn_prune_core::criterion::{Magnitude, Norm};
/// let l1 = Magnitude::l1();
/// assert_eq!(l1, Magnitude { norm: Norm::L1 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Magnitude {
    /// The norm.
    pub norm: Norm,
}

impl Magnitude {
    /// L1 magnitude.
    pub fn l1() -> Self {
        Self { norm: Norm::L1 }
    }
    /// L2 magnitude.
    pub fn l2() -> Self {
        Self { norm: Norm::L2 }
    }
}

impl Criterion for Magnitude {
    fn name(&self) -> String {
        match self.norm {
            Norm::L1 => "magnitude-l1".into(),
            Norm::L2 => "magnitude-l2".into(),
        }
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        match ctx.granularity() {
            // |w| orders single weights for both norms; N:M selects inside groups by element.
            Granularity::Element | Granularity::NM { .. } => Ok(Scores::WeightMagnitude),
            _ => {
                let reduction = match self.norm {
                    Norm::L1 => Reduction::L1,
                    Norm::L2 => Reduction::L2,
                };
                Ok(Scores::Units(ctx.units.reduce(ctx.weight, reduction)))
            }
        }
    }
}

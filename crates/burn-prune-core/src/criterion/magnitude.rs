use super::{Criterion, ScoreContext, Scores};
use crate::error::Result;
use crate::granularity::{Granularity, Reduction};

/// Which norm [`Magnitude`] takes over a unit.
///
/// `L1` and `L2` are Torch-Pruning's `MagnitudeImportance(p)` for `p = 1, 2`: the sum of
/// `|w|^p` over the unit, with no root taken. Within one parameter the root changes no
/// ranking; across the members of a dependency group, which the group pruner sums, it does,
/// so `L2` matches Torch-Pruning's channel choices and [`Euclidean`](Self::Euclidean) keeps
/// the root for those who want it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Norm {
    /// Sum of absolute values, `Σ|w|` (Li et al.'s filter norm; `p = 1`).
    #[default]
    L1,
    /// Sum of squares, `Σw²` (`p = 2`; Torch-Pruning's default).
    L2,
    /// Euclidean norm, `√Σw²`.
    Euclidean,
}

/// Weight magnitude (Han et al. 2015; Li et al. 2017 for filters): a [`Norm`] of each unit's
/// weights — for single weights, `|w|` whatever the norm (the ranking is the same).
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
    /// L1 magnitude, `Σ|w|`.
    pub fn l1() -> Self {
        Self { norm: Norm::L1 }
    }
    /// L2 magnitude, `Σw²` (no square root; Torch-Pruning's `p = 2`).
    pub fn l2() -> Self {
        Self { norm: Norm::L2 }
    }
    /// Euclidean magnitude, `√Σw²`.
    pub fn euclidean() -> Self {
        Self {
            norm: Norm::Euclidean,
        }
    }
}

impl Criterion for Magnitude {
    fn name(&self) -> String {
        match self.norm {
            Norm::L1 => "magnitude-l1".into(),
            Norm::L2 => "magnitude-l2".into(),
            Norm::Euclidean => "magnitude-euclidean".into(),
        }
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        match ctx.granularity() {
            // |w| orders single weights for every norm; N:M selects inside groups by element.
            Granularity::Element | Granularity::NM { .. } => Ok(Scores::WeightMagnitude),
            _ => {
                let reduction = match self.norm {
                    Norm::L1 => Reduction::L1,
                    Norm::L2 => Reduction::L2,
                    Norm::Euclidean => Reduction::Euclidean,
                };
                Ok(Scores::Units(ctx.units.reduce(ctx.weight, reduction)))
            }
        }
    }

    fn scores_weight_magnitude(&self, granularity: Granularity) -> bool {
        matches!(granularity, Granularity::Element | Granularity::NM { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::param_addresses;
    use crate::granularity::{Layout, UnitMap};
    use burn::nn::{Linear, LinearConfig};
    use burn::prelude::*;

    #[derive(Module, Debug)]
    struct Net {
        fc: Linear,
    }

    /// What `scores_weight_magnitude` promises is what `score` does, at every granularity.
    #[test]
    fn declared_magnitude_matches_the_scores() {
        let net = Net {
            fc: LinearConfig::new(8, 4).init(&Device::flex()),
        };
        let addr = param_addresses(&net).remove(0);
        let weight = vec![0.5f32; 32];
        for granularity in [
            Granularity::Element,
            Granularity::NM { n: 2, m: 4 },
            Granularity::Filter,
            Granularity::Channel,
            Granularity::Kernel,
        ] {
            let units =
                UnitMap::new(&addr.path, &addr.shape, Layout::of(&addr), granularity).unwrap();
            for criterion in [Magnitude::l1(), Magnitude::l2(), Magnitude::euclidean()] {
                let ctx = ScoreContext {
                    param: &addr,
                    weight: &weight,
                    units: &units,
                    reduction: Reduction::L1,
                    gradients: None,
                    batch_norm: None,
                };
                let is_magnitude = criterion.score(&ctx).unwrap() == Scores::WeightMagnitude;
                assert_eq!(
                    criterion.scores_weight_magnitude(granularity),
                    is_magnitude,
                    "{granularity}"
                );
            }
        }
    }
}

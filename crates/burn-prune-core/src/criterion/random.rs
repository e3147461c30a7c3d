use super::{Criterion, ScoreContext, Scores};
use crate::error::Result;
use crate::granularity::Granularity;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Random scores, uniform in `[0, 1)`: the baseline every criterion must beat.
///
/// Deterministic: a parameter's scores depend only on the seed and its path, not on which
/// other parameters are pruned or on the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Random {
    /// The seed.
    pub seed: u64,
}

impl Random {
    /// Random scores from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }
}

/// FNV-1a, to mix the parameter path into the seed.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Criterion for Random {
    fn name(&self) -> String {
        "random".into()
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ fnv1a(&ctx.param.path));
        Ok(match ctx.granularity() {
            Granularity::NM { .. } | Granularity::Element => {
                Scores::Elements((0..ctx.weight.len()).map(|_| rng.random::<f32>()).collect())
            }
            _ => Scores::Units(
                (0..ctx.units.n_units())
                    .map(|_| rng.random::<f32>())
                    .collect(),
            ),
        })
    }
}

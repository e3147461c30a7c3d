use super::{Criterion, ScoreContext, Scores};
use crate::error::Result;
use crate::granularity::Granularity;

/// Filter pruning via geometric median (He et al. 2019): the score of unit `j` is
/// `Σ_k ‖F_j − F_k‖₂`, its summed distance to the other units of the same parameter. Units
/// nearest the geometric median are the most replaceable and are pruned first.
///
/// Works on whole units (filter, channel, kernel, block) of matrices and kernels, not on
/// single weights nor on vectors (a bias, a BatchNorm scale), whose units are single numbers;
/// in a dependency group those members are left to the group's matrices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fpgm;

impl Criterion for Fpgm {
    fn name(&self) -> String {
        "fpgm".into()
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        if matches!(
            ctx.granularity(),
            Granularity::Element | Granularity::NM { .. }
        ) {
            return Err(ctx.unsupported(
                &self.name(),
                "it compares whole units (use filter, channel, kernel or block)",
            ));
        }
        if ctx.param.shape.len() <= 1 {
            return Err(ctx.unsupported(
                &self.name(),
                "a vector's units are single numbers; it compares filters of a matrix or kernel",
            ));
        }
        let units = ctx.units.unit_vectors(ctx.weight);
        let n = units.len();
        // Pairwise distances, each computed once, accumulated in f64.
        let mut score = vec![0f64; n];
        for j in 0..n {
            for k in (j + 1)..n {
                let d: f64 = units[j]
                    .iter()
                    .zip(&units[k])
                    .map(|(a, b)| {
                        let x = (*a as f64) - (*b as f64);
                        x * x
                    })
                    .sum::<f64>()
                    .sqrt();
                score[j] += d;
                score[k] += d;
            }
        }
        Ok(Scores::Units(score.into_iter().map(|s| s as f32).collect()))
    }
}

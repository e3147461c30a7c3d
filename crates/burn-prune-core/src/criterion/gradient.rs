use super::{Criterion, GradientNeed, Needs, ScoreContext, Scores};
use crate::error::Result;

/// Gradient magnitude: the mean over batches of `|∂L/∂w|` per weight (reduced to units by the
/// pruner's reduction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradientMagnitude;

impl Criterion for GradientMagnitude {
    fn name(&self) -> String {
        "gradient-magnitude".into()
    }

    fn needs(&self) -> Needs {
        Needs {
            gradients: GradientNeed::Mean,
            ..Needs::default()
        }
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        let g = ctx.require_gradients(&self.name())?;
        Ok(Scores::Elements(g.mean_abs.clone()))
    }
}

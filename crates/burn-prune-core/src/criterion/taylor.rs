use super::{Criterion, GradientNeed, Needs, ScoreContext, Scores};
use crate::error::Result;
use crate::granularity::Granularity;

/// Which first-order Taylor score [`Taylor`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TaylorForm {
    /// `|w·g|` per weight, averaged over batches (reduced to units by the pruner).
    #[default]
    Element,
    /// Per unit, `(Σ_{s∈unit} w_s·g_s)²`, averaged over batches (Molchanov et al. 2019).
    Unit,
}

/// First-order Taylor importance: the estimated change of the loss when weights are removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Taylor {
    /// The form.
    pub form: TaylorForm,
}

impl Taylor {
    /// `|w·g|` per weight.
    pub fn element() -> Self {
        Self {
            form: TaylorForm::Element,
        }
    }
    /// `(Σ w·g)²` per unit.
    pub fn unit() -> Self {
        Self {
            form: TaylorForm::Unit,
        }
    }
}

impl Criterion for Taylor {
    fn name(&self) -> String {
        match self.form {
            TaylorForm::Element => "taylor".into(),
            TaylorForm::Unit => "taylor-unit".into(),
        }
    }

    fn needs(&self) -> Needs {
        Needs {
            gradients: match self.form {
                TaylorForm::Element => GradientNeed::Mean,
                TaylorForm::Unit => GradientNeed::PerBatch,
            },
            ..Needs::default()
        }
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        let g = ctx.require_gradients(&self.name())?;
        match self.form {
            // mean_b |w·g_b| = |w| · mean_b |g_b|
            TaylorForm::Element => Ok(Scores::Elements(
                ctx.weight
                    .iter()
                    .zip(&g.mean_abs)
                    .map(|(w, a)| w.abs() * a)
                    .collect(),
            )),
            TaylorForm::Unit => {
                if matches!(ctx.granularity(), Granularity::NM { .. }) {
                    return Err(ctx.unsupported(
                        &self.name(),
                        "N:M selects single weights; use the element form",
                    ));
                }
                let mut acc = vec![0f64; ctx.units.n_units()];
                for grad in &g.per_batch {
                    let wg: Vec<f32> = ctx.weight.iter().zip(grad).map(|(w, g)| w * g).collect();
                    for (a, s) in acc.iter_mut().zip(ctx.units.accumulate(&wg, |v| v)) {
                        *a += s * s;
                    }
                }
                let n = g.per_batch.len().max(1) as f64;
                Ok(Scores::Units(
                    acc.into_iter().map(|a| (a / n) as f32).collect(),
                ))
            }
        }
    }
}

//! SNIP: single-shot network pruning by connection sensitivity (Lee et al. 2019).

use burn_prune_core::{Criterion, GradientNeed, Needs, ScoreContext, Scores};

/// SNIP's connection sensitivity as a [`Criterion`]: `s_j = |∂L/∂c_j|` at `c = 1`, where
/// `c_j` gates weight `w_j`, which is `|g_j · w_j|` with `g` the gradient of the loss.
///
/// The pruner gathers `g` over the batches given to
/// [`Pruner::masks_with_data`](burn_prune_core::Pruner::masks_with_data) (SNIP uses one
/// minibatch; with several, `g` is the mean gradient, the gradient of the mean loss). SNIP
/// normalises the scores by their sum, which does not change the ranking, and keeps the
/// global top κ: use it with [`Scope::Global`](burn_prune_core::Scope::Global) (the
/// default) and element granularity; at coarser granularities the element scores are reduced
/// to units with the pruner's reduction.
///
/// SNIP differs from [`Taylor`](burn_prune_core::criterion::Taylor)'s element form
/// `|w|·mean|g_b|` when there are several batches: SNIP takes the gradient of the whole loss
/// first, so gradients of opposite signs cancel.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{Linear, LinearConfig};
/// use burn_prune_core::PrunerConfig;
/// use burn_prune_pai::Snip;
///
/// #[derive(Module, Debug)]
/// struct Net { fc: Linear }
///
/// let device = Device::flex().autodiff();
/// let net = Net { fc: LinearConfig::new(4, 2).init(&device) };
/// let x = Tensor::<2>::ones([8, 4], &device);
/// let (net, masks) = PrunerConfig::new(0.5)
///     .init(Snip).unwrap()
///     .prune_with_data(net, [x], |net: &Net, x| net.fc.forward(x).powi_scalar(2).mean())
///     .unwrap();
/// assert_eq!(masks.counts(), (8, 4));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snip;

impl Criterion for Snip {
    fn name(&self) -> String {
        "snip".into()
    }

    fn needs(&self) -> Needs {
        Needs {
            gradients: GradientNeed::Mean,
            ..Needs::default()
        }
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> burn_prune_core::Result<Scores> {
        let g = ctx.require_gradients(&self.name())?;
        Ok(Scores::Elements(
            ctx.weight
                .iter()
                .zip(&g.mean)
                .map(|(w, g)| (w * g).abs())
                .collect(),
        ))
    }
}

//! Optimal Brain Damage on the network loss, with the empirical Fisher as the Hessian
//! diagonal.

use burn_prune_core::{Criterion, GradientNeed, Needs, ScoreContext, Scores};

/// OBD saliency `s = ½·F_kk·w_k²` with the diagonal of the empirical Fisher of the network
/// loss, `F_kk = mean_b g_{b,k}²` over the batches given to
/// [`Pruner::masks_with_data`](burn_prune_core::Pruner::masks_with_data) (the Fisher is
/// the Gauss–Newton approximation of the Hessian at a minimum of a likelihood loss).
///
/// Each batch contributes its mean gradient: batches of one sample give the empirical Fisher
/// exactly; larger batches give the Fisher of batch means (for i.i.d. samples about `1/B`
/// of it plus the squared mean gradient: the same ranking up to that bias). Compare
/// [`HessianCriterion`](crate::HessianCriterion), the layer-wise alternative, which needs no
/// gradients.
///
/// ```
/// use burn::prelude::*;
/// use burn::module::Param;
/// use burn::nn::{Linear, LinearConfig};
/// use burn_prune_core::PrunerConfig;
/// use burn_prune_data::FisherObd;
///
/// #[derive(Module, Debug)]
/// struct Net { fc: Linear }
///
/// let device = Device::flex().autodiff();
/// let mut fc: Linear = LinearConfig::new(2, 1).with_bias(false).init(&device);
/// fc.weight = Param::from_tensor(Tensor::from_data([[1.0f32], [1.0]], &device));
/// let net = Net { fc };
/// // The loss depends much more on the first weight: its input is 10× larger.
/// let batches = [Tensor::<2>::from_data([[10.0f32, 1.0]], &device)];
/// let masks = PrunerConfig::new(0.5).init(FisherObd).unwrap()
///     .masks_with_data(&net, batches, |m, x| m.fc.forward(x).powf_scalar(2.0).mean().reshape([1]))
///     .unwrap();
/// assert_eq!(masks.get("fc.weight").unwrap().keep.to_bools(), [true, false]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FisherObd;

impl Criterion for FisherObd {
    fn name(&self) -> String {
        "OBD (empirical Fisher)".into()
    }

    fn needs(&self) -> Needs {
        Needs {
            gradients: GradientNeed::PerBatch,
            ..Needs::default()
        }
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> burn_prune_core::Result<Scores> {
        let grads = ctx.require_gradients(&self.name())?;
        let batches = grads.per_batch.len().max(1) as f64;
        let mut fisher = vec![0f64; ctx.weight.len()];
        for g in &grads.per_batch {
            for (f, &v) in fisher.iter_mut().zip(g) {
                *f += (v as f64) * (v as f64);
            }
        }
        Ok(Scores::Elements(
            fisher
                .iter()
                .zip(ctx.weight)
                .map(|(f, &w)| (0.5 * f / batches * (w as f64) * (w as f64)) as f32)
                .collect(),
        ))
    }
}

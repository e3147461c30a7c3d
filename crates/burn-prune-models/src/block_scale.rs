//! The models' side of sparse structure selection: folding a residual branch's scale into
//! its batch norm, and scaling the branch. The traits live with the algorithm
//! ([`burn_prune_schedule::methods::ResidualStages`]).

use burn::module::Param;
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn_prune_core::param_value_from;
use burn_prune_schedule::methods::BlockId;

/// The module path of a block of the reference ResNets, `layer{stage + 1}.{index}`.
///
/// ```
/// use burn_prune_models::resnet_block_path;
/// use burn_prune_schedule::methods::BlockId;
///
/// assert_eq!(resnet_block_path(BlockId { stage: 1, index: 0 }), "layer2.0");
/// ```
pub fn resnet_block_path(id: BlockId) -> String {
    format!("layer{}.{}", id.stage + 1, id.index)
}

/// `bn` with its affine parameters multiplied by the single value of `scale`, each staying
/// a trainable parameter of its own (same id, device and gradient requirement).
pub(crate) fn fold_into(bn: &mut BatchNorm, scale: Param<Tensor<1>>) {
    let lambda = scale.val().inner().into_data().convert::<f32>();
    let lambda = lambda
        .as_slice::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(1.0);
    let times = |p: Param<Tensor<1>>| {
        p.map(|t| {
            let data = t.clone().inner().mul_scalar(lambda).into_data();
            param_value_from(&t, data)
        })
    };
    bn.gamma = times(bn.gamma.clone());
    bn.beta = times(bn.beta.clone());
}

/// `branch · λ` when there is a scale, `branch` otherwise.
pub(crate) fn scale_branch(branch: Tensor<4>, scale: Option<&Param<Tensor<1>>>) -> Tensor<4> {
    match scale {
        Some(scale) => branch * scale.val().reshape([1, 1, 1, 1]),
        None => branch,
    }
}

//! Sparse structure selection (Huang & Wang 2018) in the command line: dense training with a
//! learned scale on every residual branch under an L1 penalty (`train --sparse-structure γ`),
//! then the removal of the blocks whose scale reached zero (`prune --method
//! sparse-structure`).

use super::checkpoint::RunMeta;
use super::error::{AppError, Result};
use super::network::{ModelSpec, Network};
use super::train::Hooks;
use burn::optim::GradientsParams;
use burn_prune::masks_of;
use burn_prune::models::ResNetCifar;
use burn_prune::schedule::methods::{BlockId, ResidualStages};
use burn_prune::schedule::methods::{SparseStructureSelection, SparseStructureSelectionConfig};
use std::collections::BTreeMap;

/// Prefix of the run values holding the scales' momentum buffers (`sss_velocity.layer2.1`).
const VELOCITY: &str = "sss_velocity.";
/// Prefix of the run values holding the trained scales of a pruned run (`sss_scale.layer2.1`).
const SCALE: &str = "sss_scale.";

const WHAT: &str = "sparse structure selection";

/// `model` with a learned scale `λ = 1` on every residual branch (the outputs do not
/// change), for training under the penalty.
///
/// Errors: a network without residual blocks (VGG).
pub fn add_block_scales(model: Network) -> Result<Network> {
    Ok(Network::ResNet(resnet_only(model)?.with_block_scales()))
}

/// The training hook: after every backward pass, the accelerated proximal gradient step of
/// the block scales (at the network's learning rate), whose gradients are taken out of what
/// the optimizer sees. Its momentum buffers are saved in the run's values, so an interrupted
/// run resumes exactly.
pub struct SparseStructureHook {
    sss: SparseStructureSelection,
    /// Buffers read from a checkpoint, set on the first step (when the model is there).
    pending: Vec<(BlockId, f32)>,
}

impl SparseStructureHook {
    /// The hook for penalty `γ = penalty` (momentum 0.9), resuming the buffers saved in
    /// `values` (a checkpoint's) when there are any.
    ///
    /// Errors: a penalty that is negative or not finite; a saved buffer under an unreadable
    /// name.
    pub fn new(penalty: f64, values: &BTreeMap<String, f64>) -> Result<Self> {
        let sss = SparseStructureSelectionConfig::new(0.1)
            .with_penalty(penalty)
            .init()?;
        let pending = values
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(VELOCITY)?, *v)))
            .map(|(path, v)| Ok((parse_block(path)?, v as f32)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { sss, pending })
    }
}

/// `layer{S}.{I}` back to its block id.
fn parse_block(path: &str) -> Result<BlockId> {
    let bad = || AppError::invalid(WHAT, format!("`{path}` is not a block path (layer2.1)"));
    let (stage, index) = path
        .strip_prefix("layer")
        .and_then(|rest| rest.split_once('.'))
        .ok_or_else(bad)?;
    let stage: usize = stage.parse().map_err(|_| bad())?;
    Ok(BlockId {
        stage: stage.checked_sub(1).ok_or_else(bad)?,
        index: index.parse().map_err(|_| bad())?,
    })
}

fn resnet_only(model: Network) -> Result<ResNetCifar> {
    match model {
        Network::ResNet(m) => Ok(m),
        Network::Vgg(_) | Network::ViT(_) => Err(AppError::invalid(
            WHAT,
            "removes residual blocks: a VGG has none; use a ResNet (--arch resnet20, ...)",
        )),
    }
}

impl Hooks for SparseStructureHook {
    fn before_step(
        &mut self,
        model: Network,
        grads: GradientsParams,
        lr: f64,
    ) -> Result<(Network, GradientsParams)> {
        let model = resnet_only(model)?;
        if !self.pending.is_empty() {
            self.sss
                .set_velocities(&model, &std::mem::take(&mut self.pending))?;
        }
        self.sss.set_lr(lr)?;
        let (model, grads) = self.sss.step(model, grads)?;
        Ok((Network::ResNet(model), grads))
    }

    fn save_state(&self, model: &Network, values: &mut BTreeMap<String, f64>) {
        if let Network::ResNet(m) = model {
            values.retain(|k, _| !k.starts_with(VELOCITY));
            for (id, v) in self.sss.velocities(m) {
                values.insert(
                    format!("{VELOCITY}{}", ResNetCifar::block_path(id)),
                    v as f64,
                );
            }
        }
    }
}

/// Remove the blocks of `model` (trained with `--sparse-structure`) whose scale is at most
/// `tolerance` in magnitude (0: exactly zero, and the outputs do not change) and fold the
/// other scales into their branch's last BatchNorm. The
/// run `meta` then describes the smaller network (`model`: the configuration without those
/// blocks, `dense`: the unpruned one) and records every trained scale and the blocks removed.
///
/// Errors: a VGG, a run not trained with the penalty, a run with structural plans or masks
/// (their parameter paths would no longer hold after blocks are removed).
pub fn remove_zero_blocks(model: Network, meta: &mut RunMeta, tolerance: f64) -> Result<Network> {
    let ModelSpec::ResNet(config) = meta.model.clone() else {
        return Err(AppError::invalid(
            WHAT,
            "removes residual blocks: a VGG has none",
        ));
    };
    if !meta.block_scales {
        return Err(AppError::invalid(
            WHAT,
            format!(
                "run `{}` has no block scales: train it with `--sparse-structure γ`",
                meta.parent.as_deref().unwrap_or("?")
            ),
        ));
    }
    if !meta.plans.is_empty() || !masks_of(&model)?.is_empty() {
        return Err(AppError::invalid(
            WHAT,
            "needs a run without removed channels or masks (remove blocks first, then prune \
             channels)",
        ));
    }
    let model = resnet_only(model)?;
    let mut sss = SparseStructureSelectionConfig::new(0.1).init()?;
    let (model, selection) = sss.remove_blocks_below(model, tolerance as f32)?;
    let total = selection.scales.len();
    for (id, lambda) in &selection.scales {
        meta.values.insert(
            format!("{SCALE}{}", ResNetCifar::block_path(*id)),
            *lambda as f64,
        );
    }
    meta.values.insert("blocks".into(), total as f64);
    meta.values
        .insert("blocks_removed".into(), selection.removed.len() as f64);
    println!(
        "block scales: {}",
        selection
            .scales
            .iter()
            .map(|(id, l)| format!("{} {l:.3}", ResNetCifar::block_path(*id)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "removed {} of {total} blocks {:?}; zero-scale blocks kept (they downsample): {:?}",
        selection.removed.len(),
        selection
            .removed
            .iter()
            .map(|&b| ResNetCifar::block_path(b))
            .collect::<Vec<_>>(),
        selection
            .kept
            .iter()
            .map(|&b| ResNetCifar::block_path(b))
            .collect::<Vec<_>>()
    );
    let cut = config.without_blocks(&selection.removed)?;
    meta.dense = Some(ModelSpec::ResNet(config));
    meta.model = ModelSpec::ResNet(cut);
    meta.block_scales = false;
    Ok(Network::ResNet(model.fold_block_scales()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_paths_parse_back() {
        assert_eq!(
            parse_block("layer2.1").unwrap(),
            BlockId { stage: 1, index: 1 }
        );
        for bad in ["layer0.1", "layer2", "layerx.1", "block2.1", "layer2.-1"] {
            assert!(parse_block(bad).is_err(), "{bad}");
        }
    }
}

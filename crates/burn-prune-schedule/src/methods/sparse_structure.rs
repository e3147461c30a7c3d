//! Sparse Structure Selection (Huang & Wang 2018): a learned scale `λ_b` on every residual
//! branch, an L1 penalty `γ‖λ‖₁` optimised with the accelerated proximal gradient, and the
//! removal of the blocks whose scale reached zero.

use super::residual_stages::{BlockId, ResidualStages, ScaledBlock};
use crate::error::{self, ScheduleError};
use burn::module::{Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn_prune_core::param_value_from;
use std::collections::HashMap;

const METHOD: &str = "sparse structure selection";

/// Configuration of [`SparseStructureSelection`].
///
/// Huang & Wang use `γ = 0.01` for ResNet-50 on ImageNet and the network's own learning rate
/// and momentum for `η` and `μ`.
#[derive(Config, Debug)]
pub struct SparseStructureSelectionConfig {
    /// Learning rate `η` of the scale update (change it during training with
    /// [`SparseStructureSelection::set_lr`]).
    pub lr: f64,
    /// L1 penalty `γ` on the scales.
    #[config(default = 0.01)]
    pub penalty: f64,
    /// Momentum `μ` of the accelerated proximal gradient.
    #[config(default = 0.9)]
    pub momentum: f64,
}

impl SparseStructureSelectionConfig {
    /// Checks the values (`η > 0`, `γ ≥ 0`, `0 ≤ μ < 1`, all finite) and builds the state
    /// with every momentum buffer at zero.
    pub fn init(&self) -> error::Result<SparseStructureSelection> {
        check_lr(self.lr)?;
        if !(self.penalty.is_finite() && self.penalty >= 0.0) {
            return Err(ScheduleError::invalid(
                "sparse structure selection penalty",
                format!("γ = {} must be finite and non-negative", self.penalty),
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(ScheduleError::invalid(
                "sparse structure selection momentum",
                format!("μ = {} must be in [0, 1)", self.momentum),
            ));
        }
        Ok(SparseStructureSelection {
            lr: self.lr,
            penalty: self.penalty,
            momentum: self.momentum,
            velocity: HashMap::new(),
        })
    }
}

fn check_lr(lr: f64) -> error::Result<()> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(ScheduleError::invalid(
            "sparse structure selection learning rate",
            format!("η = {lr} must be finite and positive"),
        ))
    }
}

/// The optimiser of the block scales `λ` of a [`ResidualStages`] model (turned on with
/// [`ResidualStages::with_block_scales`]), holding one momentum buffer per scale.
///
/// Each training step, [`step`](Self::step) takes the scales' gradients out of the
/// `GradientsParams` (the regular optimizer then never touches `λ`, weight decay included) and
/// applies the accelerated proximal gradient update of Huang & Wang (2018) to every scale:
///
/// ```text
/// z = λ − η·∇λ
/// z = sign(z) · max(|z| − η·γ, 0)
/// v = z − λ + μ·v
/// λ = z + μ·v
/// ```
///
/// computed on the host in `f32`, the precision of `λ` in the model. Two consecutive steps
/// with `z = 0` leave `λ = 0` and `v = 0` exactly; [`remove_zero_blocks`](Self::remove_zero_blocks)
/// then removes those blocks without changing any output.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::loss::CrossEntropyLossConfig;
/// use burn::optim::{GradientsParams, Optimizer, SgdConfig};
/// use burn_prune_models::ResNetCifarConfig;
/// use burn_prune_schedule::methods::{ResidualStages, SparseStructureSelectionConfig};
///
/// let device = Device::flex().autodiff();
/// let mut model = ResNetCifarConfig::new(8).init(&device).unwrap().with_block_scales();
/// let mut sss = SparseStructureSelectionConfig::new(0.1).init().unwrap();
/// let mut optim = SgdConfig::new().init();
/// let x = Tensor::<4>::ones([2, 3, 8, 8], &device);
/// let y = Tensor::<1, Int>::from_data([0, 1], &device);
/// for _ in 0..3 {
///     let loss = CrossEntropyLossConfig::new().init(&device).forward(model.forward(x.clone()), y.clone());
///     let grads = GradientsParams::from_grads(loss.backward(), &model);
///     let (scaled, grads) = sss.step(model, grads).unwrap();
///     model = optim.step(0.1, scaled, grads);
/// }
/// let (model, selection) = sss.remove_zero_blocks(model).unwrap();
/// assert_eq!(selection.scales.len(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct SparseStructureSelection {
    lr: f64,
    penalty: f64,
    momentum: f64,
    /// `v` of every scale updated so far, by the scale's parameter id.
    velocity: HashMap<ParamId, f32>,
}

/// Which blocks [`SparseStructureSelection::remove_zero_blocks`] removed.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockSelection {
    /// Every scaled block before removal, with its `λ`.
    pub scales: Vec<(BlockId, f32)>,
    /// Blocks with `λ = 0` (or within the tolerance) removed (identity shortcut), in the ids
    /// they had before.
    pub removed: Vec<BlockId>,
    /// Blocks with `λ = 0` (or within the tolerance) kept because their shortcut changes the
    /// shape.
    pub kept: Vec<BlockId>,
}

impl SparseStructureSelection {
    /// The learning rate `η` in use.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Use `lr` for the next steps (follow the network's learning-rate schedule).
    ///
    /// Errors when `lr` is not finite and positive.
    pub fn set_lr(&mut self, lr: f64) -> error::Result<()> {
        check_lr(lr)?;
        self.lr = lr;
        Ok(())
    }

    /// The momentum buffer `v` of the scale with parameter id `id` (`None` before its first
    /// update).
    pub fn velocity(&self, id: ParamId) -> Option<f32> {
        self.velocity.get(&id).copied()
    }

    /// The momentum buffer `v` of every block of `model` whose scale has one, by block: what
    /// to save with a checkpoint, since parameter ids may change when the model is rebuilt.
    pub fn velocities<M: ResidualStages>(&self, model: &M) -> Vec<(BlockId, f32)> {
        model
            .blocks()
            .into_iter()
            .filter_map(|(id, block)| Some((id, self.velocity(block.scale()?.id)?)))
            .collect()
    }

    /// Restore momentum buffers saved by [`velocities`](Self::velocities) for the scales of
    /// `model` (the same network, possibly rebuilt and reloaded); buffers of other blocks are
    /// left as they are.
    ///
    /// Errors, with nothing changed: a block `model` does not have or that has no scale, or
    /// a value that is not finite.
    pub fn set_velocities<M: ResidualStages>(
        &mut self,
        model: &M,
        velocities: &[(BlockId, f32)],
    ) -> error::Result<()> {
        let blocks = model.blocks();
        let mut found = Vec::with_capacity(velocities.len());
        for &(id, v) in velocities {
            let scale = blocks
                .iter()
                .find(|(b, _)| *b == id)
                .and_then(|(_, block)| block.scale())
                .ok_or_else(|| ScheduleError::Model {
                    method: METHOD,
                    reason: format!(
                        "{}: no such block with a scale in the model",
                        M::block_path(id)
                    ),
                })?;
            if !v.is_finite() {
                return Err(ScheduleError::invalid(
                    "sparse structure selection momentum buffer",
                    format!("{}: {v} is not finite", M::block_path(id)),
                ));
            }
            found.push((scale.id, v));
        }
        self.velocity.extend(found);
        Ok(())
    }

    /// One update of every scale of `model` from its gradient, which is taken out of `grads`;
    /// the other gradients are returned for the regular optimizer. A scale without a gradient
    /// is left as it is.
    ///
    /// Errors, with nothing changed: no block has a scale, no scale has a gradient, or a
    /// scale or gradient is not finite.
    pub fn step<M: ResidualStages>(
        &mut self,
        model: M,
        mut grads: GradientsParams,
    ) -> error::Result<(M, GradientsParams)> {
        let scales = scale_params(&model)?;
        let mut updates: HashMap<ParamId, (f32, f32)> = HashMap::new();
        for (block, param) in &scales {
            let Some(grad) = grads.get::<1>(param.id) else {
                continue;
            };
            let grad = scalar(grad, &M::block_path(*block), "gradient")?;
            let lambda = scalar(param.val(), &M::block_path(*block), "scale")?;
            let v = self.velocity(param.id).unwrap_or(0.0);
            updates.insert(param.id, self.update(lambda, grad, v));
        }
        if updates.is_empty() {
            return Err(ScheduleError::Model {
                method: METHOD,
                reason: "no block scale has a gradient (gradients of another model, or a model \
                         without autodiff)"
                    .into(),
            });
        }
        for (_, param) in &scales {
            grads.remove::<1>(param.id);
        }
        for (&id, &(_, v)) in &updates {
            self.velocity.insert(id, v);
        }
        Ok((set_scales(model, &updates), grads))
    }

    /// `(λ, v)` after one accelerated proximal gradient step from `λ`, `∇λ` and `v`.
    fn update(&self, lambda: f32, grad: f32, v: f32) -> (f32, f32) {
        let (lr, mu) = (self.lr as f32, self.momentum as f32);
        let threshold = (self.lr * self.penalty) as f32;
        let z = lambda - lr * grad;
        let z = if z.abs() <= threshold {
            0.0
        } else {
            z.signum() * (z.abs() - threshold)
        };
        let v = z - lambda + mu * v;
        (z + mu * v, v)
    }

    /// Remove every block whose scale is exactly zero and whose shortcut is the identity (the
    /// outputs do not change); zero-scale blocks that change the shape stay and are reported.
    /// The momentum buffers of removed blocks are dropped.
    ///
    /// Errors: no block has a scale, or a scale is not finite.
    pub fn remove_zero_blocks<M: ResidualStages>(
        &mut self,
        model: M,
    ) -> error::Result<(M, BlockSelection)> {
        self.remove_blocks_below(model, 0.0)
    }

    /// Remove every block whose scale is at most `tolerance` in magnitude and whose shortcut
    /// is the identity; such blocks that change the shape stay and are reported.
    ///
    /// With momentum, a scale the penalty drives to zero reaches exactly zero only after two
    /// consecutive steps inside the threshold `η·γ`; a short training at a decayed learning
    /// rate leaves such scales small but not zero. A tolerance removes them: each removed
    /// block changes the outputs by its residual branch times `λ` (the measured accuracy
    /// right after removal shows how much). `tolerance = 0` is
    /// [`remove_zero_blocks`](Self::remove_zero_blocks), which changes no output.
    ///
    /// Errors: a tolerance that is negative or not finite, no block has a scale, or a scale
    /// is not finite.
    pub fn remove_blocks_below<M: ResidualStages>(
        &mut self,
        model: M,
        tolerance: f32,
    ) -> error::Result<(M, BlockSelection)> {
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(ScheduleError::invalid(
                "sparse structure selection tolerance",
                format!("{tolerance} must be finite and non-negative"),
            ));
        }
        let scales = block_scales(&model)?;
        let zero: Vec<BlockId> = scales
            .iter()
            .filter(|(_, lambda)| lambda.abs() <= tolerance)
            .map(|(id, _)| *id)
            .collect();
        let removed_ids: Vec<ParamId> = model
            .blocks()
            .into_iter()
            .filter(|(id, block)| zero.contains(id) && block.keeps_shape())
            .filter_map(|(_, block)| block.scale().map(|p| p.id))
            .collect();
        let (model, removal) = model
            .remove_blocks(&zero)
            .map_err(|e| ScheduleError::Model {
                method: METHOD,
                reason: e.to_string(),
            })?;
        for id in removed_ids {
            self.velocity.remove(&id);
        }
        Ok((
            model,
            BlockSelection {
                scales,
                removed: removal.removed,
                kept: removal.kept,
            },
        ))
    }
}

/// The scale `λ` of every block that has one, read to the host.
///
/// Errors: no block has a scale, or a scale is not finite.
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::ResNetCifarConfig;
/// use burn_prune_schedule::methods::{ResidualStages, block_scales};
///
/// let model = ResNetCifarConfig::new(8).init(&Device::flex()).unwrap();
/// assert!(block_scales(&model).is_err()); // scales not turned on
/// let scales = block_scales(&model.with_block_scales()).unwrap();
/// assert!(scales.iter().all(|(_, lambda)| *lambda == 1.0));
/// ```
pub fn block_scales<M: ResidualStages>(model: &M) -> error::Result<Vec<(BlockId, f32)>> {
    scale_params(model)?
        .into_iter()
        .map(|(block, param)| Ok((block, scalar(param.val(), &M::block_path(block), "scale")?)))
        .collect()
}

/// The scale parameters (cloned handles) of the blocks that have one.
fn scale_params<M: ResidualStages>(model: &M) -> error::Result<Vec<(BlockId, Param<Tensor<1>>)>> {
    let scales: Vec<_> = model
        .blocks()
        .into_iter()
        .filter_map(|(id, block)| block.scale().map(|p| (id, p.clone())))
        .collect();
    if scales.is_empty() {
        return Err(ScheduleError::Model {
            method: METHOD,
            reason: "no residual block has a scale; turn them on with \
                     `ResidualStages::with_block_scales`"
                .into(),
        });
    }
    Ok(scales)
}

/// The single value of a `[1]` tensor, checked to be finite.
fn scalar(t: Tensor<1>, block: &str, what: &str) -> error::Result<f32> {
    let values = t
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| ScheduleError::Model {
            method: METHOD,
            reason: format!("{}.scale: cannot read the {what}: {e:?}", block),
        })?;
    match values.as_slice() {
        [v] if v.is_finite() => Ok(*v),
        [v] => Err(ScheduleError::Model {
            method: METHOD,
            reason: format!("{}.scale: the {what} is {v}", block),
        }),
        _ => Err(ScheduleError::Model {
            method: METHOD,
            reason: format!(
                "{}.scale: the {what} has {} values, expected 1",
                block,
                values.len()
            ),
        }),
    }
}

/// `model` with the scales listed in `updates` (by id) set to their new `λ`, each keeping its
/// id, device, gradient requirement and checkpointing strategy.
fn set_scales<M: ResidualStages>(mut model: M, updates: &HashMap<ParamId, (f32, f32)>) -> M {
    for stage in model.stages_mut() {
        for block in stage.iter_mut() {
            let slot = block.scale_mut();
            let Some(param) = slot.take() else { continue };
            *slot = Some(match updates.get(&param.id) {
                Some(&(lambda, _)) => {
                    param.map(|old| param_value_from(&old, TensorData::new(vec![lambda], [1])))
                }
                None => param,
            });
        }
    }
    model
}

//! ThiNet and He et al.'s LASSO channel pruning on a real layer: sample the layer's input on
//! captured batches, choose which input channels to keep, reconstruct the layer's weights,
//! and cut the channels out of the model with the core compactor.

use crate::capture::{ActivationCapture, TapPoint};
use crate::error::{DataError, Result};
use crate::layerwise::{as_rows, from_rows, row_geometry, rows_at, updated_weights};
use crate::linalg::Matrix;
use crate::reconstruct::{
    LassoConfig, lasso_select, refit_least_squares, thinet_scales, thinet_select,
};
use crate::statistics::CaptureBatch;
use burn::backend::ir::BackendIr;
use burn::module::Module;
use burn_prune_core::ParamSnapshot;
use burn_prune_core::structure::{DependencyGraph, StructuralPlan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// How [`ActivationCapture::reconstruct_channels`] chooses the channels.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelMethod {
    /// ThiNet (Luo et al. 2017): greedy removal of the channels whose summed contributions to
    /// sampled output values are smallest, then one least-squares scale per kept channel.
    ThiNet,
    /// He et al. 2017: LASSO on the per-channel outputs (λ raised until few enough channels
    /// remain), then a least-squares refit of all the layer's weights on the kept channels.
    Lasso(LassoConfig),
}

/// The result of [`ActivationCapture::reconstruct_channels`] for one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelReconstruction {
    /// The weight path of the layer whose input channels are pruned.
    pub layer: String,
    /// The input channels kept, ascending.
    pub kept: Vec<usize>,
    /// The layer's new weights in its stored layout, with the removed input channels cut out
    /// (a conv: `[out, kept, kh, kw]`; a linear layer: `[kept, out]`).
    pub weight: Vec<f32>,
    /// The shape of [`weight`](Self::weight).
    pub shape: Vec<usize>,
    /// Mean squared error of the sampled outputs after plain removal (no reconstruction).
    pub removal_error: f64,
    /// Mean squared error of the sampled outputs after the reconstruction.
    pub reconstructed_error: f64,
}

impl ChannelReconstruction {
    /// Cut the removed channels out of `model` (the layer's input channels and everything
    /// coupled to them in `graph`: the previous conv's filters, its BatchNorm) and install the
    /// reconstructed weights.
    ///
    /// Errors: the layer's input axis is in no dependency group, or its channels cannot all
    /// be removed (pinned); compaction errors.
    pub fn apply<M: Module>(&self, model: M, graph: &DependencyGraph) -> Result<M> {
        let axis = if self.shape.len() == 2 { 0 } else { 1 };
        let (gi, group) = graph
            .group_of(&self.layer, axis)
            .ok_or_else(|| DataError::Model {
                method: "channel reconstruction",
                reason: format!(
                    "{}: its input channels are in no dependency group",
                    self.layer
                ),
            })?;
        let member = group
            .members
            .iter()
            .find(|m| m.path == self.layer && m.axis == axis)
            .expect("group_of found the member");
        let mut keep: Vec<Vec<bool>> = graph.groups.iter().map(|g| vec![true; g.n_units]).collect();
        for (index, &unit) in member.units.iter().enumerate() {
            if self.kept.binary_search(&index).is_err() {
                keep[gi][unit] = false;
            }
        }
        let plan = StructuralPlan::from_groups(graph, &keep)?;
        let model = plan.apply(model)?;
        let updated = BTreeMap::from([(
            self.layer.clone(),
            (
                self.weight.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                self.shape.clone(),
            ),
        )]);
        Ok(updated_weights(updated).restore(model)?)
    }
}

impl ActivationCapture {
    /// Prune `remove` input channels of the layer whose weight is `layer` by `method`, from
    /// `samples_per_batch` output positions per batch (ThiNet also draws one output channel
    /// per position) sampled with `seed`, and reconstruct its weights. The samples are the
    /// layer's input unfolded at those positions, so memory stays at
    /// `samples × C_in·kh·kw` numbers whatever the batch.
    ///
    /// Errors: an unknown layer; `remove` not below its input channels; no sample; an
    /// unsupported layer (grouped conv, not linear or 2-D conv); numerical errors.
    #[allow(clippy::too_many_arguments)]
    pub fn reconstruct_channels<B, M>(
        &self,
        model: &M,
        batches: impl IntoIterator<Item = CaptureBatch>,
        device: B::Device,
        layer: &str,
        remove: usize,
        method: &ChannelMethod,
        samples_per_batch: usize,
        seed: u64,
    ) -> Result<ChannelReconstruction>
    where
        B: BackendIr,
        M: Module,
    {
        let index = self.index_of(layer).ok_or_else(|| DataError::Model {
            method: "channel reconstruction",
            reason: format!("{layer}: not the weight of a captured conv or linear layer"),
        })?;
        let tap = self.taps()[index].clone();
        let snapshot = ParamSnapshot::capture(model)?;
        let data = snapshot.get(layer).ok_or_else(|| DataError::Model {
            method: "channel reconstruction",
            reason: format!("{layer}: no such parameter in the model"),
        })?;
        let shape = data.shape().as_slice().to_vec();
        let values: Vec<f32> = data
            .clone()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| DataError::invalid(layer, format!("{e:?}")))?;
        let w = as_rows(&values, &shape);
        let (channels, per_channel) = if shape.len() == 2 {
            (shape[0], 1)
        } else {
            (shape[1], shape[2..].iter().product())
        };
        if remove == 0 || remove >= channels {
            return Err(DataError::invalid(
                "channels to remove",
                format!(
                    "{remove} of the {channels} input channels of {layer} (keep at least one, remove at least one)"
                ),
            ));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut inputs: Vec<f64> = Vec::new();
        let mut outputs: Vec<usize> = Vec::new();
        let mut rows = 0;
        let mut error = None;
        self.run::<B, M>(
            model,
            batches.into_iter().map(|b| b.inputs),
            device,
            &[(index, TapPoint::Input)],
            |_, _, v, s| {
                if error.is_some() {
                    return;
                }
                let sampled = row_geometry(&tap, s).and_then(|(count, _)| {
                    let pick: Vec<usize> = (0..samples_per_batch)
                        .map(|_| rng.random_range(0..count))
                        .collect();
                    rows_at(&tap, v, s, Some(&pick))
                });
                match sampled {
                    Ok(m) => {
                        rows += m.rows;
                        inputs.extend(m.data);
                        outputs.extend((0..m.rows).map(|_| rng.random_range(0..w.rows)));
                    }
                    Err(e) => error = Some(e),
                }
            },
        )?;
        if let Some(e) = error {
            return Err(e);
        }
        if rows == 0 {
            return Err(DataError::invalid("channel reconstruction", "no sample"));
        }
        let x = Matrix::from_vec(rows, w.cols, inputs)?;
        // Per-channel outputs of every sampled position: Z_c = X_c·W_cᵀ (rows × out).
        let features: Vec<Matrix> = (0..channels)
            .map(|c| {
                let cols = c * per_channel..(c + 1) * per_channel;
                let mut z = Matrix::zeros(rows, w.rows);
                for r in 0..rows {
                    let xr = &x.row(r)[cols.clone()];
                    for o in 0..w.rows {
                        let wr = &w.row(o)[cols.clone()];
                        *z.get_mut(r, o) = xr.iter().zip(wr).map(|(a, b)| a * b).sum();
                    }
                }
                z
            })
            .collect();
        let mut target = Matrix::zeros(rows, w.rows);
        for z in &features {
            for (t, v) in target.data.iter_mut().zip(&z.data) {
                *t += v;
            }
        }
        let keep_cols = |kept: &[usize]| -> Vec<usize> {
            kept.iter()
                .flat_map(|&c| c * per_channel..(c + 1) * per_channel)
                .collect()
        };
        let (kept, new_rows) = match method {
            ChannelMethod::ThiNet => {
                // One sampled output value per position: its output channel was drawn above.
                let mut contributions = Matrix::zeros(rows, channels);
                for (r, &o) in outputs.iter().enumerate() {
                    for (c, z) in features.iter().enumerate() {
                        *contributions.get_mut(r, c) = z.get(r, o);
                    }
                }
                let selection = thinet_select(&contributions, remove)?;
                let scales = thinet_scales(&contributions, &selection.kept)?;
                let cols = keep_cols(&selection.kept);
                let mut new = Matrix::zeros(w.rows, cols.len());
                for o in 0..w.rows {
                    for (k, &col) in cols.iter().enumerate() {
                        *new.get_mut(o, k) = w.get(o, col) * scales[k / per_channel];
                    }
                }
                (selection.kept, new)
            }
            ChannelMethod::Lasso(config) => {
                let selection = lasso_select(&features, &target, channels - remove, config)?;
                let cols = keep_cols(&selection.kept);
                let mut xk = Matrix::zeros(rows, cols.len());
                for r in 0..rows {
                    for (k, &col) in cols.iter().enumerate() {
                        *xk.get_mut(r, k) = x.get(r, col);
                    }
                }
                // min ‖Y − X_kept·W'‖²: W' is (kept·kk) × out; the layer's rows are its columns.
                let refit = refit_least_squares(&xk, &target, 0.0)?;
                (selection.kept, refit.transpose())
            }
        };
        let cols = keep_cols(&kept);
        let mse = |prediction: &dyn Fn(usize, usize) -> f64| {
            let mut e = 0.0;
            for r in 0..rows {
                for o in 0..w.rows {
                    let d = target.get(r, o) - prediction(r, o);
                    e += d * d;
                }
            }
            e / (rows * w.rows) as f64
        };
        let removal_error = mse(&|r, o| kept.iter().map(|&c| features[c].get(r, o)).sum());
        let reconstructed_error = mse(&|r, o| {
            cols.iter()
                .enumerate()
                .map(|(k, &col)| x.get(r, col) * new_rows.get(o, k))
                .sum()
        });
        let mut new_shape = shape.clone();
        new_shape[if shape.len() == 2 { 0 } else { 1 }] = kept.len();
        Ok(ChannelReconstruction {
            layer: layer.to_string(),
            weight: from_rows(&new_rows, &new_shape)
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            shape: new_shape,
            kept,
            removal_error,
            reconstructed_error,
        })
    }
}

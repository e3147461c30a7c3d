//! Layer-wise second-order pruning on a real model: the input moments of every conv/linear
//! layer from captured batches, OBD/OBS scores as a core criterion, and OBS pruning with its
//! weight update written back into the model.

use crate::capture::{ActivationCapture, Conv2dGeometry, LayerTap, TapPoint};
use crate::error::{DataError, Result};
use crate::hessian::{InputMoments, inverse_hessian, obd_scores, obs_prune, obs_scores};
use crate::linalg::Matrix;
use crate::statistics::CaptureBatch;
use burn::backend::ir::BackendIr;
use burn::module::Module;
use burn::prelude::*;
use burn_prune_core::{
    Criterion, MaskSet, ParamSnapshot, PrunerConfig, Scope, ScoreContext, Scores, install_masks,
    masks_of,
};
use std::collections::BTreeMap;

/// The rows a layer's weights multiply, from its captured input: a linear layer's inputs as
/// they are (`[.., d]` → `rows × d`); a 2-D convolution's input unfolded into patches
/// (`N·H_out·W_out` rows of `C_in·kh·kw`, in the order of the weight's `[in, kh, kw]`).
///
/// Errors: a grouped convolution, or a layer other than linear and 2-D convolution.
pub fn layer_rows(tap: &LayerTap, values: &[f32], shape: &[usize]) -> Result<Matrix> {
    rows_at(tap, values, shape, None)
}

/// The geometry of [`layer_rows`]: number of rows and their length.
pub(crate) fn row_geometry(tap: &LayerTap, shape: &[usize]) -> Result<(usize, usize)> {
    if tap.op == "Linear" {
        let d = *shape.last().unwrap_or(&1);
        return Ok((shape.iter().product::<usize>() / d.max(1), d));
    }
    let g = conv_geometry(tap)?;
    let (ho, wo) = conv_output(&g, shape);
    Ok((shape[0] * ho * wo, shape[1] * g.kernel[0] * g.kernel[1]))
}

fn conv_geometry(tap: &LayerTap) -> Result<Conv2dGeometry> {
    let Some(g) = tap.conv2d else {
        return Err(DataError::Model {
            method: "layer-wise reconstruction",
            reason: format!(
                "{}: {} layers are not supported (linear and 2-D convolutions are)",
                tap.path, tap.op
            ),
        });
    };
    if g.groups != 1 {
        return Err(DataError::Model {
            method: "layer-wise reconstruction",
            reason: format!("{}: grouped convolution ({} groups)", tap.path, g.groups),
        });
    }
    Ok(g)
}

fn conv_output(g: &Conv2dGeometry, shape: &[usize]) -> (usize, usize) {
    let out = |size: usize, axis: usize| {
        let (before, after) = g.padding[axis];
        let span = g.dilation[axis] * (g.kernel[axis] - 1) + 1;
        (size + before + after - span) / g.stride[axis] + 1
    };
    (out(shape[2], 0), out(shape[3], 1))
}

/// The rows of [`layer_rows`] numbered `pick` (all when `None`), without unfolding the others.
pub(crate) fn rows_at(
    tap: &LayerTap,
    values: &[f32],
    shape: &[usize],
    pick: Option<&[usize]>,
) -> Result<Matrix> {
    let (count, d) = row_geometry(tap, shape)?;
    let all: Vec<usize>;
    let pick = match pick {
        Some(p) => p,
        None => {
            all = (0..count).collect();
            &all
        }
    };
    let mut data = vec![0f64; pick.len() * d];
    if tap.op == "Linear" {
        for (k, &r) in pick.iter().enumerate() {
            for (o, &v) in data[k * d..(k + 1) * d]
                .iter_mut()
                .zip(&values[r * d..(r + 1) * d])
            {
                *o = v as f64;
            }
        }
        return Matrix::from_vec(pick.len(), d, data);
    }
    let g = conv_geometry(tap)?;
    let (c, h, w) = (shape[1], shape[2], shape[3]);
    let [kh, kw] = g.kernel;
    let (ho, wo) = conv_output(&g, shape);
    for (k, &r) in pick.iter().enumerate() {
        let (s, oy, ox) = (r / (ho * wo), (r / wo) % ho, r % wo);
        let row = k * d;
        for ch in 0..c {
            for ky in 0..kh {
                let y = (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.padding[0].0 as isize;
                if y < 0 || y >= h as isize {
                    continue;
                }
                for kx in 0..kw {
                    let x =
                        (ox * g.stride[1] + kx * g.dilation[1]) as isize - g.padding[1].0 as isize;
                    if x < 0 || x >= w as isize {
                        continue;
                    }
                    data[row + (ch * kh + ky) * kw + kx] =
                        values[((s * c + ch) * h + y as usize) * w + x as usize] as f64;
                }
            }
        }
    }
    Matrix::from_vec(pick.len(), d, data)
}

impl ActivationCapture {
    /// The input second moments `Σ x·xᵀ` (see [`InputMoments`]) of the layers whose weight
    /// paths are `paths` (every linear and ungrouped 2-D conv layer when empty), accumulated
    /// over `batches` replayed on backend `B`. Memory: `d²` numbers per layer
    /// (`d = C_in·kh·kw`; 4608² `f64` = 170 MB for a 512-channel 3×3 conv).
    ///
    /// Errors: unknown paths, unsupported layers, and the errors of
    /// [`run`](Self::run).
    pub fn input_moments<B, M>(
        &self,
        model: &M,
        batches: impl IntoIterator<Item = CaptureBatch>,
        device: B::Device,
        paths: &[String],
    ) -> Result<BTreeMap<String, InputMoments>>
    where
        B: BackendIr,
        M: Module,
    {
        let layers: Vec<usize> = if paths.is_empty() {
            (0..self.taps().len())
                .filter(|&l| {
                    let t = &self.taps()[l];
                    t.op == "Linear" || t.conv2d.is_some_and(|g| g.groups == 1)
                })
                .collect()
        } else {
            paths
                .iter()
                .map(|p| {
                    self.index_of(p).ok_or_else(|| DataError::Model {
                        method: "layer-wise Hessian",
                        reason: format!("{p}: not the weight of a captured conv or linear layer"),
                    })
                })
                .collect::<Result<_>>()?
        };
        let mut moments: Vec<Option<InputMoments>> = vec![None; self.taps().len()];
        let requests: Vec<(usize, TapPoint)> =
            layers.iter().map(|&l| (l, TapPoint::Input)).collect();
        let mut error = None;
        self.run::<B, M>(
            model,
            batches.into_iter().map(|b| b.inputs),
            device,
            &requests,
            |layer, _, values, shape| {
                if error.is_some() {
                    return;
                }
                let added = layer_rows(&self.taps()[layer], values, shape).and_then(|rows| {
                    moments[layer]
                        .get_or_insert_with(|| InputMoments::new(rows.cols))
                        .add_batch(&rows)
                });
                if let Err(e) = added {
                    error = Some(e);
                }
            },
        )?;
        if let Some(e) = error {
            return Err(e);
        }
        Ok(layers
            .into_iter()
            .filter_map(|l| moments[l].take().map(|m| (self.taps()[l].path.clone(), m)))
            .collect())
    }
}

/// A weight as the `rows × d` matrix of the layer-wise setting: a conv `[out, in, kh, kw]` is
/// `out × (in·kh·kw)` as stored; Burn's linear `[in, out]` is transposed.
pub(crate) fn as_rows(weight: &[f32], shape: &[usize]) -> Matrix {
    let values: Vec<f64> = weight.iter().map(|&v| v as f64).collect();
    if shape.len() == 2 {
        let m = Matrix::from_vec(shape[0], shape[1], values).expect("sizes agree");
        m.transpose()
    } else {
        let d = shape[1..].iter().product();
        Matrix::from_vec(shape[0], d, values).expect("sizes agree")
    }
}

/// [`as_rows`] back to the stored layout, row-major.
pub(crate) fn from_rows(m: &Matrix, shape: &[usize]) -> Vec<f64> {
    if shape.len() == 2 {
        m.transpose().data
    } else {
        m.data.clone()
    }
}

/// Which second-order saliency a [`HessianCriterion`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saliency {
    /// Optimal Brain Damage: `½·h_jj·w²` with the diagonal of the layer-wise Hessian.
    Obd,
    /// One-shot Optimal Brain Surgeon: `w² / (2·[H⁻¹]_jj)`.
    Obs,
}

/// OBD or one-shot OBS saliencies of every weight from the layer-wise Hessians
/// `H = Σ x·xᵀ / N + λ·mean(diag H)·I` of captured inputs ([`ActivationCapture::input_moments`]).
///
/// Scores are per element; at a coarser granularity the pruner sums them with its reduction
/// (the saliency of removing the whole unit is then approximated by the sum of its
/// elements'). A weight without moments is an error naming it; parameters of rank 1
/// (biases, normalisation) score 0, so the structural pruner, which scores every member of a
/// dependency group, ranks groups by their weights' saliencies.
#[derive(Clone, Debug)]
pub struct HessianCriterion {
    saliency: Saliency,
    /// Per path: the Hessian diagonal (OBD) or the inverse Hessian (OBS).
    curvature: BTreeMap<String, Matrix>,
}

impl HessianCriterion {
    /// The criterion for `saliency` with relative damping `damping` (see
    /// [`ObsConfig`](crate::hessian::ObsConfig)).
    ///
    /// Errors: a Hessian that is not positive definite (raise the damping); no samples.
    pub fn new(
        saliency: Saliency,
        moments: &BTreeMap<String, InputMoments>,
        damping: f64,
    ) -> Result<Self> {
        let mut curvature = BTreeMap::new();
        for (path, m) in moments {
            let h = m.hessian(damping)?;
            let c = match saliency {
                Saliency::Obd => {
                    let d = h.rows;
                    Matrix::from_vec(1, d, (0..d).map(|i| h.get(i, i)).collect())?
                }
                Saliency::Obs => inverse_hessian(&h)?,
            };
            curvature.insert(path.clone(), c);
        }
        Ok(Self {
            saliency,
            curvature,
        })
    }
}

impl Criterion for HessianCriterion {
    fn name(&self) -> String {
        match self.saliency {
            Saliency::Obd => "OBD".into(),
            Saliency::Obs => "OBS".into(),
        }
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> burn_prune_core::Result<Scores> {
        let name = self.name();
        let Some(c) = self.curvature.get(&ctx.param.path) else {
            // Biases and normalisation parameters have no layer-wise input Hessian: they
            // score 0, which adds the same to every unit of a group (the structural pruner
            // scores every member of a group).
            if ctx.param.shape.len() < 2 {
                return Ok(Scores::Elements(vec![0.0; ctx.weight.len()]));
            }
            return Err(ctx.unsupported(&name, "no input moments were captured for this layer"));
        };
        let w = as_rows(ctx.weight, &ctx.param.shape);
        if w.cols != c.cols {
            return Err(ctx.unsupported(
                &name,
                format!(
                    "{} inputs per output but a {}-input Hessian",
                    w.cols, c.cols
                ),
            ));
        }
        let s = match self.saliency {
            Saliency::Obd => obd_scores(&w, &c.data),
            Saliency::Obs => obs_scores(&w, c),
        }
        .map_err(|e| ctx.unsupported(&name, e.to_string()))?;
        Ok(Scores::Elements(
            from_rows(&s, &ctx.param.shape)
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        ))
    }
}

/// Prune `sparsity` of the weights of every layer in `moments` by layer-wise OBS: each
/// output's weights lose the same number `round(sparsity·d)`, chosen one at a time by the
/// smallest saliency, and after each removal the remaining weights of that output get the
/// optimal update `δw = −(w_q/[H⁻¹]_qq)·H⁻¹e_q`. The updated weights are written into the
/// model and the masks installed.
///
/// Errors: a sparsity outside `[0, 1)`; Hessian errors; mask errors.
pub fn obs_prune_model<M: Module>(
    model: M,
    moments: &BTreeMap<String, InputMoments>,
    sparsity: f64,
    damping: f64,
) -> Result<(M, MaskSet)> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(DataError::invalid(
            "OBS sparsity",
            format!("{sparsity} is outside [0, 1)"),
        ));
    }
    let installed = masks_of(&model)?;
    if let Some(path) = moments.keys().find(|p| installed.get(p).is_some()) {
        return Err(DataError::Model {
            method: "OBS",
            reason: format!("{path}: it carries a pruning mask; materialize or remove masks first"),
        });
    }
    let snapshot = ParamSnapshot::capture(&model)?;
    let mut params: BTreeMap<String, (Vec<f32>, Vec<usize>)> = BTreeMap::new();
    for path in moments.keys() {
        if let Some(data) = snapshot.get(path) {
            let shape = data.shape().as_slice().to_vec();
            let values = data
                .clone()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| DataError::invalid(path.clone(), format!("{e:?}")))?;
            params.insert(path.clone(), (values, shape));
        }
    }
    let mut updated: BTreeMap<String, (Vec<f64>, Vec<usize>)> = BTreeMap::new();
    let mut scores: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut densities = BTreeMap::new();
    for (path, m) in moments {
        let (weight, shape) = params.get(path).ok_or_else(|| DataError::Model {
            method: "OBS",
            reason: format!("{path}: no such parameter in the model"),
        })?;
        let w = as_rows(weight, shape);
        let remove = (sparsity * w.cols as f64).round() as usize;
        let result = obs_prune(&w, &m.hessian(damping)?, remove)?;
        let kept = from_rows(
            &Matrix::from_vec(
                w.rows,
                w.cols,
                result
                    .mask
                    .iter()
                    .map(|&k| if k { 1.0 } else { 0.0 })
                    .collect(),
            )?,
            shape,
        );
        scores.insert(path.clone(), kept.iter().map(|&k| k as f32).collect());
        densities.insert(path.clone(), (w.cols - remove) as f64 / w.cols as f64);
        updated.insert(
            path.clone(),
            (from_rows(&result.weights, shape), shape.clone()),
        );
    }
    let masks = PrunerConfig::new(0.0)
        .with_scope(Scope::Densities(densities))
        .with_selector(burn_prune_core::ParamSelector::paths(
            moments.keys().cloned(),
        ))
        .init(Chosen(scores))?
        .masks(&model)?;
    let model = updated_weights(updated).restore(model)?;
    Ok((install_masks(model, &masks)?, masks))
}

/// Scores that are 1 for the weights OBS kept and 0 for those it removed.
struct Chosen(BTreeMap<String, Vec<f32>>);

impl Criterion for Chosen {
    fn name(&self) -> String {
        "OBS".into()
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> burn_prune_core::Result<Scores> {
        self.0
            .get(&ctx.param.path)
            .map(|s| Scores::Elements(s.clone()))
            .ok_or_else(|| ctx.unsupported("OBS", "not pruned by OBS"))
    }
}

/// Updated weights (row-major values and shape, by path) as a snapshot to write into the
/// model: `restore` checks each path and shape and keeps ids, masks and gradient requirements.
pub(crate) fn updated_weights(updated: BTreeMap<String, (Vec<f64>, Vec<usize>)>) -> ParamSnapshot {
    ParamSnapshot::from_values(
        updated
            .into_iter()
            .map(|(path, (values, shape))| (path, TensorData::new(values, shape)))
            .collect(),
    )
}

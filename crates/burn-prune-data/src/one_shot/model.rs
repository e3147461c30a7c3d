//! One-shot pruning of a whole model, layer by layer in graph order, each layer seeing the
//! inputs of the model pruned so far.

use super::sparsegpt::{DEFAULT_BLOCK_SIZE, sparsegpt_prune};
use super::target::{SparsityTarget, keep_highest};
use super::wanda::wanda_mask;
use crate::capture::{ActivationCapture, LayerTap};
use crate::error::{DataError, Result};
use crate::hessian::DEFAULT_DAMPING;
use crate::layerwise::{as_rows, from_rows, updated_weights};
use crate::linalg::Matrix;
use crate::statistics::CaptureBatch;
use burn::backend::ir::BackendIr;
use burn::module::Module;
use burn_prune_core::{
    BitMask, Layout, MaskSet, ParamMask, ParamSelector, ParamSnapshot, install_masks, masks_of,
    param_addresses,
};
use std::collections::BTreeMap;

/// Which one-shot method [`one_shot_prune`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OneShotMethod {
    /// Wanda (Sun et al. 2023): remove the weights with the lowest `|W_rj|·‖X_j‖₂` per output;
    /// the kept weights are not changed ([`wanda_mask`]).
    Wanda,
    /// SparseGPT (Frantar & Alistarh 2023): adaptive masks in column blocks with OBS updates
    /// of the remaining weights ([`sparsegpt_prune`]).
    SparseGpt,
    /// The baseline: remove the weights with the lowest `|W_rj|` per output, no update (the
    /// data only measure the error).
    Magnitude,
}

impl OneShotMethod {
    /// The method's name in errors (`"Wanda"`, `"SparseGPT"`, `"magnitude"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Wanda => "Wanda",
            Self::SparseGpt => "SparseGPT",
            Self::Magnitude => "magnitude",
        }
    }
}

/// Settings of [`one_shot_prune`].
#[derive(Clone, Debug, PartialEq)]
pub struct OneShotConfig {
    /// The method.
    pub method: OneShotMethod,
    /// The sparsity of every output of every selected layer.
    pub target: SparsityTarget,
    /// SparseGPT's column block (default [`DEFAULT_BLOCK_SIZE`], 128); rounded up to a
    /// multiple of `m` for N:M. Ignored by the other methods.
    pub block_size: usize,
    /// SparseGPT's relative damping `λ` of `H + λ·mean(diag H)·I` (default
    /// [`DEFAULT_DAMPING`], 1%). Ignored by the other methods.
    pub damping: f64,
    /// The layers to prune: weights of linear layers and ungrouped 2-D convolutions. The
    /// default selects every conv and linear weight of the model.
    pub selector: ParamSelector,
}

impl OneShotConfig {
    /// `method` at `target`, with the default block size, damping and selection.
    pub fn new(method: OneShotMethod, target: SparsityTarget) -> Self {
        Self {
            method,
            target,
            block_size: DEFAULT_BLOCK_SIZE,
            damping: DEFAULT_DAMPING,
            selector: ParamSelector::default(),
        }
    }

    /// Wanda at `target`.
    pub fn wanda(target: SparsityTarget) -> Self {
        Self::new(OneShotMethod::Wanda, target)
    }

    /// SparseGPT at `target`.
    pub fn sparsegpt(target: SparsityTarget) -> Self {
        Self::new(OneShotMethod::SparseGpt, target)
    }

    /// The same with SparseGPT's column block `block_size`.
    pub fn with_block_size(mut self, block_size: usize) -> Self {
        self.block_size = block_size;
        self
    }

    /// The same with SparseGPT's relative damping `damping`.
    pub fn with_damping(mut self, damping: f64) -> Self {
        self.damping = damping;
        self
    }

    /// The same pruning only the parameters `selector` selects (e.g.
    /// [`ParamSelector::paths`]).
    pub fn with_selector(mut self, selector: ParamSelector) -> Self {
        self.selector = selector;
        self
    }

    /// An error unless the target, block size, damping and selector patterns are valid.
    pub fn validate(&self) -> Result<()> {
        self.target.validate()?;
        if self.block_size == 0 {
            return Err(DataError::invalid(
                "SparseGPT block size",
                "0; it must be at least 1",
            ));
        }
        if !(self.damping.is_finite() && self.damping >= 0.0) {
            return Err(DataError::invalid(
                "SparseGPT damping",
                format!("{} must be finite and ≥ 0", self.damping),
            ));
        }
        self.selector.validate()?;
        Ok(())
    }
}

/// What one layer lost, measured on the calibration inputs it saw (those of the model pruned
/// up to it).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerReconstruction {
    /// The layer's weight path.
    pub path: String,
    /// Calibration rows `x` (samples, tokens or conv positions) the layer saw.
    pub samples: usize,
    /// Weights of the layer.
    pub weights: usize,
    /// Weights removed.
    pub pruned: usize,
    /// The squared reconstruction error `‖W·X − Ŵ·X‖²_F = Σ_x ‖(W − Ŵ)·x‖²` of the dense
    /// weights `W` and the pruned (and, for SparseGPT, updated) weights `Ŵ`, summed over the
    /// calibration rows.
    pub error: f64,
    /// The squared output `‖W·X‖²_F` of the dense layer on the same rows (bias left out).
    pub output_energy: f64,
}

impl LayerReconstruction {
    /// `error / output_energy` (0 when the output is 0).
    pub fn relative_error(&self) -> f64 {
        if self.output_energy > 0.0 {
            self.error / self.output_energy
        } else {
            0.0
        }
    }
}

/// The outcome of [`one_shot_prune`].
#[derive(Debug)]
pub struct OneShotPruned<M> {
    /// The model with masks installed on every pruned layer; pruned weights are also 0 in the
    /// stored values, and SparseGPT's updated weights are written in.
    pub model: M,
    /// The masks ([`SparsityTarget::granularity`]: element or N:M).
    pub masks: MaskSet,
    /// One entry per pruned layer, in the order they were pruned (graph order).
    pub layers: Vec<LayerReconstruction>,
}

/// Prune `model` one-shot with Wanda, SparseGPT or per-output magnitude, **layer by layer**:
/// the selected layers are taken in graph order, and each layer's calibration inputs are
/// captured by replaying `batches` (on backend `B`) through the model whose earlier layers
/// are already pruned, as in both papers.
///
/// `capture` is an [`ActivationCapture`] of `model` (the trace fixes the batch size: batches
/// may be smaller). A linear layer's rows are its inputs; a 2-D convolution's input is
/// unfolded into patches ([`layer_rows`](crate::layer_rows)), and its N:M groups run along
/// the input channels at each kernel position (as [`Granularity::NM`](burn_prune_core::Granularity::NM)
/// reads a conv weight; `C_in` must be divisible by `m`).
///
/// Per layer the capture accumulates `Σ x·xᵀ` (`d²` numbers, `d` = inputs per output), which
/// gives Wanda's input norms, SparseGPT's Hessian `H = 2·Σ x·xᵀ / N` and the reported
/// reconstruction error. Cost: one replay of the batches per layer.
///
/// Errors, naming the layer: a selected parameter that is not the weight of a captured
/// linear layer or ungrouped 2-D convolution, or that already carries a pruning mask; an
/// invalid configuration; no batch; N:M on a layer whose inputs do not split into groups of
/// `m`; non-finite calibration values or weights; a SparseGPT Hessian that is not positive
/// definite after damping; replay errors.
pub fn one_shot_prune<B, M>(
    model: M,
    capture: &ActivationCapture,
    batches: &[CaptureBatch],
    device: B::Device,
    config: &OneShotConfig,
) -> Result<OneShotPruned<M>>
where
    B: BackendIr,
    M: Module,
{
    config.validate()?;
    let method = config.method.name();
    if batches.is_empty() {
        return Err(DataError::invalid(
            format!("{method} calibration batches"),
            "none given",
        ));
    }
    let layers = select_layers(&model, capture, config)?;
    let snapshot = ParamSnapshot::capture(&model)?;
    let mut model = model;
    let mut masks = MaskSet::new();
    let mut reports = Vec::with_capacity(layers.len());
    for layer in &layers {
        let path = &layer.tap.path;
        let (weight, shape) = stored(&snapshot, path)?;
        let w = as_rows(&weight, &shape);
        let mut moments = capture
            .input_moments::<B, M>(
                &model,
                batches.iter().cloned(),
                device.clone(),
                std::slice::from_ref(path),
            )
            .map_err(|e| in_layer(e, path))?;
        let moments = moments.remove(path).ok_or_else(|| DataError::Model {
            method,
            reason: format!("{path}: no calibration row reached this layer"),
        })?;
        if moments.d() != w.cols {
            return Err(DataError::shape(
                format!("{path}: inputs per output"),
                w.cols,
                moments.d(),
            ));
        }
        let order = input_order(&layer.tap, &shape, config.target);
        let sum = permute_square(moments.sum_xxt(), order.as_deref());
        let w_in = permute_columns(&w, order.as_deref());
        let (pruned, keep) =
            prune_layer(&w_in, &sum, moments.n(), config).map_err(|e| in_layer(e, path))?;
        let pruned = unpermute_columns(&pruned, order.as_deref());
        let keep = unpermute_columns(
            &Matrix::from_vec(
                w.rows,
                w.cols,
                keep.iter().map(|&k| f64::from(u8::from(k))).collect(),
            )?,
            order.as_deref(),
        );
        let mut delta = w.clone();
        for (d, p) in delta.data.iter_mut().zip(&pruned.data) {
            *d -= p;
        }
        let sum = moments.sum_xxt();
        let keep_stored: Vec<bool> = from_rows(&keep, &shape).iter().map(|&k| k != 0.0).collect();
        reports.push(LayerReconstruction {
            path: path.clone(),
            samples: moments.n(),
            weights: keep_stored.len(),
            pruned: keep_stored.iter().filter(|k| !**k).count(),
            error: quadratic(&delta, sum)?,
            output_energy: quadratic(&w, sum)?,
        });
        masks.insert(ParamMask {
            path: path.clone(),
            shape: shape.clone(),
            granularity: config.target.granularity(),
            layout: layer.layout,
            keep: BitMask::from_bools(&keep_stored),
        })?;
        let values = BTreeMap::from([(path.clone(), (from_rows(&pruned, &shape), shape))]);
        model = updated_weights(values).restore(model)?;
    }
    let model = install_masks(model, &masks)?;
    Ok(OneShotPruned {
        model,
        masks,
        layers: reports,
    })
}

/// A selected layer.
struct Selected {
    tap: LayerTap,
    layout: Layout,
}

/// The selected layers in graph order, each checked: a captured linear layer or ungrouped
/// 2-D convolution, without a mask, whose inputs fit an N:M target.
fn select_layers<M: Module>(
    model: &M,
    capture: &ActivationCapture,
    config: &OneShotConfig,
) -> Result<Vec<Selected>> {
    let method = config.method.name();
    let params = param_addresses(model);
    let selected = config.selector.select(&params)?;
    if selected.is_empty() {
        return Err(DataError::invalid(
            format!("{method} layer selection"),
            "it selects no parameter of the model",
        ));
    }
    let installed = masks_of(model)?;
    let mut layers = Vec::with_capacity(selected.len());
    for addr in selected {
        let path = &addr.path;
        let supported = capture.index_of(path).filter(|&i| {
            let tap = &capture.taps()[i];
            (tap.op == "Linear" && addr.shape.len() == 2)
                || tap.conv2d.is_some_and(|g| g.groups == 1)
        });
        let Some(index) = supported else {
            return Err(DataError::Model {
                method,
                reason: format!(
                    "{path}: not the weight of a captured linear layer or ungrouped 2-D \
                     convolution"
                ),
            });
        };
        if installed.get(path).is_some() {
            return Err(DataError::Model {
                method,
                reason: format!(
                    "{path}: it carries a pruning mask; materialize or remove masks first"
                ),
            });
        }
        let tap = capture.taps()[index].clone();
        let layout = Layout::of(addr);
        let inputs = addr.shape[layout.in_axis.unwrap_or(0)];
        config.target.check_inputs(inputs, path)?;
        layers.push((index, Selected { tap, layout }));
    }
    layers.sort_by_key(|(index, _)| *index);
    Ok(layers.into_iter().map(|(_, s)| s).collect())
}

/// The stored values and shape of `path`.
fn stored(snapshot: &ParamSnapshot, path: &str) -> Result<(Vec<f32>, Vec<usize>)> {
    let data = snapshot.get(path).ok_or_else(|| DataError::Model {
        method: "one-shot pruning",
        reason: format!("{path}: no such parameter in the model"),
    })?;
    let shape = data.shape().as_slice().to_vec();
    let values = data
        .clone()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| DataError::invalid(path.to_string(), format!("{e:?}")))?;
    Ok((values, shape))
}

/// The pruned `rows × d` weights and row-major keep flags of one layer, from its weights and
/// the raw input sum `Σ x·xᵀ` over `n` rows.
fn prune_layer(
    w: &Matrix,
    sum_xxt: &Matrix,
    n: usize,
    config: &OneShotConfig,
) -> Result<(Matrix, Vec<bool>)> {
    let d = w.cols;
    let zero_pruned = |keep: Vec<bool>| {
        let mut pruned = w.clone();
        for (v, &k) in pruned.data.iter_mut().zip(&keep) {
            if !k {
                *v = 0.0;
            }
        }
        (pruned, keep)
    };
    match config.method {
        OneShotMethod::Wanda => {
            let norms: Vec<f64> = (0..d).map(|j| sum_xxt.get(j, j).max(0.0).sqrt()).collect();
            Ok(zero_pruned(wanda_mask(w, &norms, config.target)?))
        }
        OneShotMethod::Magnitude => {
            crate::hessian::check_matrix(w, "magnitude weights")?;
            let scores: Vec<f64> = w.data.iter().map(|v| v.abs()).collect();
            Ok(zero_pruned(keep_highest(&scores, w.rows, d, config.target)))
        }
        OneShotMethod::SparseGpt => {
            let scale = 2.0 / n.max(1) as f64;
            let h = Matrix {
                rows: d,
                cols: d,
                data: sum_xxt.data.iter().map(|v| v * scale).collect(),
            };
            let r = sparsegpt_prune(w, &h, config.target, config.block_size, config.damping)?;
            Ok((r.weights, r.mask))
        }
    }
}

/// `Σ_rows δ_rᵀ·S·δ_r` for a `rows × d` matrix `δ` and a `d × d` matrix `S`.
fn quadratic(delta: &Matrix, s: &Matrix) -> Result<f64> {
    let p = delta.matmul(s)?;
    Ok(p.data.iter().zip(&delta.data).map(|(a, b)| a * b).sum())
}

/// The column order in which N:M groups of a conv's unfolded input run along its channels:
/// position `t = p·C + c` holds column `c·K + p` (`K = kh·kw` kernel positions). `None` (the
/// stored order) for linear layers and unstructured targets.
fn input_order(tap: &LayerTap, shape: &[usize], target: SparsityTarget) -> Option<Vec<usize>> {
    let SparsityTarget::NM { .. } = target else {
        return None;
    };
    let g = tap.conv2d?;
    let (c, k) = (shape[1], g.kernel[0] * g.kernel[1]);
    if k == 1 {
        return None;
    }
    Some((0..c * k).map(|t| (t % c) * k + t / c).collect())
}

fn permute_columns(m: &Matrix, order: Option<&[usize]>) -> Matrix {
    let Some(order) = order else {
        return m.clone();
    };
    let mut out = Matrix::zeros(m.rows, m.cols);
    for r in 0..m.rows {
        for (t, &j) in order.iter().enumerate() {
            *out.get_mut(r, t) = m.get(r, j);
        }
    }
    out
}

fn unpermute_columns(m: &Matrix, order: Option<&[usize]>) -> Matrix {
    let Some(order) = order else {
        return m.clone();
    };
    let mut out = Matrix::zeros(m.rows, m.cols);
    for r in 0..m.rows {
        for (t, &j) in order.iter().enumerate() {
            *out.get_mut(r, j) = m.get(r, t);
        }
    }
    out
}

fn permute_square(m: &Matrix, order: Option<&[usize]>) -> Matrix {
    let Some(order) = order else {
        return m.clone();
    };
    let mut out = Matrix::zeros(m.rows, m.cols);
    for (a, &i) in order.iter().enumerate() {
        for (b, &j) in order.iter().enumerate() {
            *out.get_mut(a, b) = m.get(i, j);
        }
    }
    out
}

/// `e` with the layer's path added where the error does not name it.
fn in_layer(e: DataError, path: &str) -> DataError {
    match e {
        DataError::Numerical { problem, reason } => DataError::Numerical {
            problem: format!("{problem} of {path}"),
            reason,
        },
        DataError::Shape {
            what,
            expected,
            got,
        } if !what.contains(path) => DataError::Shape {
            what: format!("{what} of {path}"),
            expected,
            got,
        },
        DataError::InvalidConfig { what, reason } if !what.contains(path) => {
            DataError::InvalidConfig {
                what: format!("{what} of {path}"),
                reason,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_round_trip() {
        // A conv with 4 channels and a 1×2 kernel (K = 2): position 0 of channels 0..4 first
        // (columns 0, 2, 4, 6), then position 1.
        let order: Vec<usize> = (0..8).map(|t| (t % 4) * 2 + t / 4).collect();
        assert_eq!(order, vec![0, 2, 4, 6, 1, 3, 5, 7]);
        let m = Matrix::from_vec(1, 8, (0..8u32).map(f64::from).collect()).unwrap();
        let p = permute_columns(&m, Some(&order));
        assert_eq!(p.data, vec![0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]);
        assert_eq!(unpermute_columns(&p, Some(&order)), m);
        let s = Matrix::from_vec(8, 8, (0..64u32).map(f64::from).collect()).unwrap();
        let ps = permute_square(&s, Some(&order));
        assert_eq!(ps.get(1, 4), s.get(2, 1));
    }
}

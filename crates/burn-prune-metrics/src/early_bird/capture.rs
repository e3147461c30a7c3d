//! Activation patterns of a real model over the input grid, by replaying its traced graph.

use super::scores::spline_channel_scores;
use super::spline::{ActivationPatterns, LayerPattern, grid_coefficients_in};
use crate::error::{self, MetricsError};
use burn::backend::capture::TensorId;
use burn::backend::ir::{
    ActivationOperationIr, BackendIr, FloatOperationIr, ModuleOperationIr, NumericOperationIr,
    OperationIr,
};
use burn::config::Config;
use burn::module::Module;
use burn::prelude::*;
use burn_prune_core::BitMask;
use burn_prune_core::structure::{DependencyGraph, Replay, Trace, trace};
use std::collections::{HashMap, HashSet};

/// How [`PatternCapture`] samples the input plane.
#[derive(Config, Debug)]
pub struct PatternCaptureConfig {
    /// Side `n` of the `n × n` grid of inputs `α·x₀ + β·x₁` (the paper's code: 100).
    #[config(default = 100)]
    pub grid_side: usize,
    /// Lowest value of `α` and `β`.
    #[config(default = 0.0)]
    pub lo: f32,
    /// Highest value of `α` and `β` (with `lo = 0`, `hi = 1`: the paper's `[0, 1]²`).
    #[config(default = 1.0)]
    pub hi: f32,
    /// Grid inputs per forward pass: the model is traced once at this batch size and the grid
    /// is run in batches of it (the last one padded). Memory grows with it.
    #[config(default = 100)]
    pub batch_size: usize,
}

impl PatternCaptureConfig {
    /// Trace `model` (`forward` is its forward function; `input_shape` its input with any
    /// leading batch dimension, which is replaced by [`batch_size`](Self::batch_size)) and find
    /// the layers whose patterns are recorded (see [`PatternCapture`]).
    ///
    /// Errors: a grid side below 2, a batch size of 0, a bad `[lo, hi]`, a model that cannot
    /// be traced, or a model without any ReLU or BatchNorm.
    pub fn init<M, F, const D: usize, const O: usize>(
        &self,
        model: &M,
        input_shape: [usize; D],
        forward: F,
    ) -> error::Result<PatternCapture>
    where
        M: Module,
        F: FnOnce(&M, Tensor<D>) -> Tensor<O>,
    {
        if self.grid_side < 2 {
            return Err(MetricsError::invalid(
                "grid_side",
                format!("{} (a grid needs at least 2 points a side)", self.grid_side),
            ));
        }
        if self.batch_size == 0 || D < 2 {
            return Err(MetricsError::invalid(
                "pattern capture",
                format!(
                    "batch size {} and input rank {D}: need a batch of at least 1 and a batch dimension before the sample's",
                    self.batch_size
                ),
            ));
        }
        let grid = grid_coefficients_in(self.grid_side, self.lo, self.hi)?;
        let mut shape = input_shape;
        shape[0] = self.batch_size;
        let trace = trace(model, shape, forward)?;
        let layers = find_layers(&trace);
        if layers.is_empty() {
            return Err(MetricsError::invalid(
                "pattern capture",
                "the traced model has no ReLU and no BatchNorm: there is no pattern to record",
            ));
        }
        Ok(PatternCapture {
            trace,
            layers,
            grid,
            config: self.clone(),
        })
    }
}

/// One layer whose binary activation pattern [`PatternCapture`] records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternLayer {
    /// The pattern's name: the module path of the layer that makes the channels
    /// (`layers.0.0.bn1`), with `:relu<k>` added when the recorded tensor is the input of the
    /// `k`-th ReLU of the graph and not that layer's own output (a ReLU after a residual
    /// add); `relu<k>` when no layer is found.
    pub name: String,
    /// Channels (dimension 1 of the tensor).
    pub channels: usize,
    /// Positions per channel (the product of the dimensions after the channels; 1 for a
    /// dense layer).
    pub positions: usize,
    /// The parameter dimension the channels are (a BatchNorm's `gamma` axis 0, a conv
    /// `weight` axis 0, a linear `weight` axis 1), used to score dependency groups; `None`
    /// when it is not known.
    pub owner: Option<(String, usize)>,
    tensor: TensorId,
}

impl PatternLayer {
    /// Units of the pattern: `channels × positions`.
    pub fn units(&self) -> usize {
        self.channels * self.positions
    }
}

/// Records the binary activation patterns of a model's piecewise-linear layers over a 2-D
/// grid of inputs `α·x₀ + β·x₁` ([`grid_coefficients_in`] order), for
/// [`SplineEarlyBirdDetector`](super::SplineEarlyBirdDetector) and the spline scores.
///
/// **Recorded layers.** Every ReLU-family activation (ReLU, leaky ReLU, PReLU: their kink
/// is at 0) records its input; every BatchNorm whose output is not the input of one records
/// its output. A bit is set where the value is `> 0` (the pre-activation is positive; for a
/// BatchNorm followed by ReLU that is its output). Units are the values of one sample,
/// channel-major (`unit = channel · positions + position`), as [`LayerPattern`] expects.
///
/// **Cost.** One forward pass per grid point, in batches of
/// [`batch_size`](PatternCaptureConfig::batch_size), on the backend chosen at each
/// [`capture`](Self::capture); the model is traced once, at [`init`](PatternCaptureConfig::init).
/// The patterns take `units × n²` bits per layer (a 16×32×32 activation over the
/// paper's 100 × 100 grid: 20 MB).
///
/// ```
/// use burn::backend::{Flex, FlexDevice};
/// use burn::nn::{Linear, LinearConfig, Relu};
/// use burn::prelude::*;
/// use burn_prune_metrics::early_bird::PatternCaptureConfig;
///
/// #[derive(Module, Debug)]
/// struct Mlp {
///     fc1: Linear,
///     act: Relu,
///     fc2: Linear,
/// }
///
/// let device = Device::flex();
/// let mlp = Mlp {
///     fc1: LinearConfig::new(4, 8).init(&device),
///     act: Relu::new(),
///     fc2: LinearConfig::new(8, 2).init(&device),
/// };
/// let capture = PatternCaptureConfig::new()
///     .with_grid_side(10)
///     .init(&mlp, [1, 4], |m, x: Tensor<2>| m.fc2.forward(m.act.forward(m.fc1.forward(x))))
///     .unwrap();
/// assert_eq!(capture.layers()[0].name, "fc1");
/// let x0 = TensorData::new(vec![1.0f32, 0.0, -1.0, 0.5], [1, 4]);
/// let x1 = TensorData::new(vec![0.0f32, 2.0, 0.5, -1.0], [1, 4]);
/// let patterns = capture.capture::<Flex, _>(&mlp, &x0, &x1, FlexDevice).unwrap();
/// assert_eq!((patterns.layers[0].units, patterns.layers[0].points), (8, 100));
/// ```
#[derive(Debug)]
pub struct PatternCapture {
    trace: Trace,
    layers: Vec<PatternLayer>,
    grid: Vec<(f32, f32)>,
    config: PatternCaptureConfig,
}

impl PatternCapture {
    /// The recorded layers, in graph order.
    pub fn layers(&self) -> &[PatternLayer] {
        &self.layers
    }

    /// The grid's `(α, β)` coefficients, point by point.
    pub fn grid(&self) -> &[(f32, f32)] {
        &self.grid
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &PatternCaptureConfig {
        &self.config
    }

    /// The trace the patterns are read from.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The patterns of `model` (the traced model, or the same architecture with other
    /// weights: a later epoch) over the grid spanned by the samples `x0` and `x1`, computed
    /// on backend `B`.
    ///
    /// `x0` and `x1` have the traced input shape without its batch dimension, or with a batch
    /// dimension of 1.
    ///
    /// Errors: samples of another size or with non-finite values, a model that does not
    /// match the trace, or a backend failure.
    pub fn capture<B: BackendIr, M: Module>(
        &self,
        model: &M,
        x0: &TensorData,
        x1: &TensorData,
        device: B::Device,
    ) -> error::Result<ActivationPatterns> {
        let input_shape = self.trace.input_shape().to_vec();
        let sample_shape = &input_shape[1..];
        let sample: usize = sample_shape.iter().product();
        let read = |name: &str, x: &TensorData| -> error::Result<Vec<f32>> {
            let shape = x.shape().as_slice().to_vec();
            let fits = shape.as_slice() == sample_shape
                || (shape.first() == Some(&1) && &shape[1..] == sample_shape);
            if !fits {
                return Err(MetricsError::Mismatch {
                    context: format!("grid sample `{name}`"),
                    reason: format!(
                        "shape {shape:?}; the model takes samples of shape {sample_shape:?}"
                    ),
                });
            }
            let v = x
                .clone()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| MetricsError::invalid(name, format!("{e:?}")))?;
            if v.iter().any(|x| !x.is_finite()) {
                return Err(MetricsError::invalid(name, "it has a non-finite value"));
            }
            Ok(v)
        };
        let (a, b) = (read("x0", x0)?, read("x1", x1)?);
        let replay = Replay::<B>::new(&self.trace, model, device)?;
        let points = self.grid.len();
        let mut bits: Vec<BitMask> = self
            .layers
            .iter()
            .map(|l| BitMask::filled(l.units() * points, false))
            .collect();
        let ids: Vec<TensorId> = self.layers.iter().map(|l| l.tensor).collect();
        let batch = self.config.batch_size;
        let mut input = vec![0f32; batch * sample];
        for start in (0..points).step_by(batch) {
            let count = batch.min(points - start);
            for (i, &(alpha, beta)) in self.grid[start..start + count].iter().enumerate() {
                let row = &mut input[i * sample..(i + 1) * sample];
                for ((r, &p), &q) in row.iter_mut().zip(&a).zip(&b) {
                    *r = alpha * p + beta * q;
                }
            }
            let data = TensorData::new(input.clone(), input_shape.clone());
            let outputs = replay.run(data, &ids)?;
            for ((layer, out), mask) in self.layers.iter().zip(outputs).zip(&mut bits) {
                let values = out
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|e| MetricsError::invalid(&layer.name, format!("{e:?}")))?;
                let units = layer.units();
                for (i, sample_values) in values.chunks(units).take(count).enumerate() {
                    let point = start + i;
                    for (u, &v) in sample_values.iter().enumerate() {
                        if v > 0.0 {
                            mask.set(u * points + point, true);
                        }
                    }
                }
            }
        }
        let layers = self
            .layers
            .iter()
            .zip(bits)
            .map(|(l, bits)| LayerPattern::new(l.name.clone(), l.units(), points, bits))
            .collect::<error::Result<Vec<_>>>()?;
        ActivationPatterns::new(layers)
    }

    /// Spline scores of every unit of every dependency group of `graph` (built from this
    /// capture's trace or one of the same model), for
    /// [`GroupPrunerConfig::keep_from_scores`](burn_prune_core::structure::GroupPrunerConfig::keep_from_scores).
    ///
    /// Each recorded layer whose channels are a group's units contributes its channels'
    /// [`spline_channel_scores`]; a unit's score is the mean over the layers that carry it
    /// (a residual stage's units appear in several). Redundant channels of every such layer
    /// score `0` and go first.
    ///
    /// Errors: patterns that are not this capture's (other layers or sizes), or a group
    /// with removable units that no recorded layer carries (a conv feeding neither a
    /// BatchNorm nor a ReLU).
    pub fn group_scores(
        &self,
        graph: &DependencyGraph,
        patterns: &ActivationPatterns,
    ) -> error::Result<Vec<Vec<f32>>> {
        patterns.validate()?;
        let matches = patterns.layers.len() == self.layers.len()
            && patterns
                .layers
                .iter()
                .zip(&self.layers)
                .all(|(p, l)| p.name == l.name && p.units == l.units())
            && patterns.layers.iter().all(|p| p.points == self.grid.len());
        if !matches {
            return Err(MetricsError::Mismatch {
                context: "spline group scores".into(),
                reason:
                    "the patterns were not recorded by this capture (layers, units or grid differ)"
                        .into(),
            });
        }
        let mut sums: Vec<Vec<f64>> = graph.groups.iter().map(|g| vec![0.0; g.n_units]).collect();
        let mut counts: Vec<Vec<u32>> = graph.groups.iter().map(|g| vec![0; g.n_units]).collect();
        for (layer, pattern) in self.layers.iter().zip(&patterns.layers) {
            let Some((path, axis)) = &layer.owner else {
                continue;
            };
            let Some((gi, group)) = graph.group_of(path, *axis) else {
                continue;
            };
            let Some(member) = group
                .members
                .iter()
                .find(|m| &m.path == path && m.axis == *axis)
            else {
                continue;
            };
            if member.units.len() != layer.channels {
                continue;
            }
            let scores = spline_channel_scores(pattern, self.config.grid_side, layer.channels)?;
            for (channel, &unit) in member.units.iter().enumerate() {
                sums[gi][unit] += scores[channel] as f64;
                counts[gi][unit] += 1;
            }
        }
        graph
            .groups
            .iter()
            .enumerate()
            .map(|(gi, g)| {
                if g.prunable() == 0 {
                    return Ok(vec![0.0; g.n_units]);
                }
                let missing =
                    (0..g.n_units).any(|u| counts[gi][u] == 0 && !g.pinned.contains_key(&u));
                if missing {
                    return Err(MetricsError::Mismatch {
                        context: format!("spline scores of the group of `{}`", g.root()),
                        reason: "no recorded ReLU or BatchNorm carries its channels".into(),
                    });
                }
                Ok((0..g.n_units)
                    .map(|u| match counts[gi][u] {
                        0 => 0.0,
                        c => (sums[gi][u] / c as f64) as f32,
                    })
                    .collect())
            })
            .collect()
    }
}

/// The recorded layers of a trace (see [`PatternCapture`]).
fn find_layers(trace: &Trace) -> Vec<PatternLayer> {
    let producers: HashMap<TensorId, &OperationIr> = trace
        .operations()
        .iter()
        .flat_map(|op| op.outputs().map(move |t| (t.id, op)))
        .collect();
    let constant = constant_tensors(trace);
    let relu_inputs: HashSet<TensorId> = trace.operations().iter().filter_map(relu_input).collect();
    let mut seen = HashSet::new();
    let mut layers = Vec::new();
    let mut relus = 0;
    for op in trace.operations() {
        let (tensor, relu) = match op {
            OperationIr::Module(ModuleOperationIr::BatchNorm(b))
                if !relu_inputs.contains(&b.out.id) =>
            {
                (b.out.id, None)
            }
            _ => match relu_input(op) {
                Some(id) => {
                    relus += 1;
                    (id, Some(relus - 1))
                }
                None => continue,
            },
        };
        if !seen.insert(tensor) {
            continue;
        }
        let Some(shape) = producers
            .get(&tensor)
            .and_then(|op| op.outputs().find(|t| t.id == tensor))
            .map(|t| t.shape.as_slice())
            .filter(|s| s.len() >= 2)
        else {
            continue;
        };
        let channels = shape[1];
        let positions = shape[2..].iter().product();
        let found = owner(trace, &producers, &constant, tensor);
        let owner = found.as_ref().and_then(|o| {
            let p = trace.params().iter().find(|p| p.path == o.path)?;
            let fits =
                p.shape.get(o.axis) == Some(&channels) && (shape.len() == 2 || o.channel_first);
            fits.then(|| (o.path.clone(), o.axis))
        });
        let name = match (&found, relu) {
            (Some(o), Some(k)) if !o.direct => format!("{}:relu{k}", module_of(&o.path)),
            (Some(o), _) => module_of(&o.path),
            (None, Some(k)) => format!("relu{k}"),
            (None, None) => format!("batch_norm@{tensor:?}"),
        };
        layers.push(PatternLayer {
            name,
            channels,
            positions,
            owner,
            tensor,
        });
    }
    layers
}

/// The input of a ReLU-family activation.
fn relu_input(op: &OperationIr) -> Option<TensorId> {
    match op {
        OperationIr::Activation(ActivationOperationIr::Relu(u)) => Some(u.input.id),
        OperationIr::Activation(ActivationOperationIr::LeakyRelu(s)) => Some(s.lhs.id),
        OperationIr::Activation(ActivationOperationIr::PRelu(b)) => Some(b.lhs.id),
        _ => None,
    }
}

/// Tensors computed from parameters and constants only (a reshaped bias), not from the input.
fn constant_tensors(trace: &Trace) -> HashSet<TensorId> {
    let mut constant = HashSet::new();
    for op in trace.operations() {
        if let OperationIr::Init(_) = op {
            constant.extend(op.outputs().map(|t| t.id).filter(|&id| id != trace.input()));
            continue;
        }
        let all = op
            .inputs()
            .all(|t| constant.contains(&t.id) || trace.param_of(t.id).is_some());
        let any = op.inputs().next().is_some();
        if all && any {
            constant.extend(op.outputs().map(|t| t.id));
        }
    }
    constant
}

/// The parameter dimension a tensor's channels come from.
struct Owner {
    path: String,
    axis: usize,
    /// The channel axis is dimension 1 of the activation (conv, BatchNorm).
    channel_first: bool,
    /// The tensor is the layer's output (plus a bias), not a sum or scaling of it.
    direct: bool,
}

fn owner(
    trace: &Trace,
    producers: &HashMap<TensorId, &OperationIr>,
    constant: &HashSet<TensorId>,
    mut tensor: TensorId,
) -> Option<Owner> {
    let path = |id: TensorId| trace.param_of(id).map(|p| p.path.clone());
    let is_constant = |id: TensorId| constant.contains(&id) || trace.param_of(id).is_some();
    let mut direct = true;
    for _ in 0..32 {
        let found = |path: Option<String>, axis, channel_first| {
            path.map(|path| Owner {
                path,
                axis,
                channel_first,
                direct,
            })
        };
        match producers.get(&tensor)? {
            OperationIr::Module(m) => {
                return match m {
                    ModuleOperationIr::BatchNorm(b) => found(path(b.gamma.id), 0, true),
                    ModuleOperationIr::Conv1d(c) => found(path(c.weight.id), 0, true),
                    ModuleOperationIr::Conv2d(c) => found(path(c.weight.id), 0, true),
                    ModuleOperationIr::Conv3d(c) => found(path(c.weight.id), 0, true),
                    ModuleOperationIr::Linear(l) => found(path(l.weight.id), 1, false),
                    _ => None,
                };
            }
            OperationIr::Float(_, FloatOperationIr::Matmul(mm)) => {
                return found(path(mm.rhs.id), 1, false);
            }
            OperationIr::NumericFloat(_, n) => match n {
                NumericOperationIr::Add(b)
                | NumericOperationIr::Sub(b)
                | NumericOperationIr::Mul(b)
                | NumericOperationIr::Div(b) => {
                    tensor = match (is_constant(b.lhs.id), is_constant(b.rhs.id)) {
                        (false, true) => b.lhs.id,
                        (true, false) => b.rhs.id,
                        (false, false) => {
                            direct = false;
                            b.lhs.id
                        }
                        (true, true) => return None,
                    };
                    if !matches!(n, NumericOperationIr::Add(_)) {
                        direct = false;
                    }
                }
                NumericOperationIr::AddScalar(s)
                | NumericOperationIr::SubScalar(s)
                | NumericOperationIr::MulScalar(s)
                | NumericOperationIr::DivScalar(s) => {
                    direct = false;
                    tensor = s.lhs.id;
                }
                _ => return None,
            },
            _ => return None,
        }
    }
    None
}

/// The module path of a parameter path (`layers.0.bn1.gamma` → `layers.0.bn1`).
fn module_of(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((module, _)) => module.to_string(),
        None => path.to_string(),
    }
}

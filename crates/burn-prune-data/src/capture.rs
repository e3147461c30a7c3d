//! Activation capture for any model: trace one forward pass, find every conv/linear layer's
//! input, output and post-activation tensor, and replay the graph on real batches.

use crate::error::{DataError, Result};
use burn::backend::capture::TensorId;
use burn::backend::ir::{
    ActivationOperationIr, BackendIr, FloatOperationIr, ModuleOperationIr, OperationIr,
};
use burn::module::Module;
use burn::prelude::*;
use burn_prune_core::structure::{Replay, Trace, trace};
use std::collections::{HashMap, HashSet};

/// Which tensor of a layer a statistic reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TapPoint {
    /// The layer's input (what its weights multiply).
    Input,
    /// The layer's output (before normalisation and activation).
    Output,
    /// The output of the ReLU-family activation that follows the layer, through channel-wise
    /// ops only (bias, BatchNorm, scaling): `relu(bn(conv(x)))`.
    Activation,
}

/// A conv or linear layer found in the trace, with the tensors that can be captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerTap {
    /// The path of the layer's weight (`features.0.Conv.conv.weight`, `fc.weight`).
    pub path: String,
    /// The op (`Conv2d`, `Linear`, ...).
    pub op: String,
    /// Shape of the layer's input, `[batch, channels, ...]` or `[batch, features]`.
    pub input_shape: Vec<usize>,
    /// Shape of the layer's output.
    pub output_shape: Vec<usize>,
    /// Whether a ReLU-family activation follows through channel-wise ops
    /// ([`TapPoint::Activation`] is available).
    pub has_activation: bool,
    /// Stride, padding and dilation of a 2-D convolution (to unfold its input into the rows
    /// its weights multiply); `None` for other layers.
    pub conv2d: Option<Conv2dGeometry>,
    input: TensorId,
    output: TensorId,
    activation: Option<TensorId>,
}

impl LayerTap {
    /// The graph tensor of `point`, or an error naming the layer when it has no activation.
    pub fn tensor(&self, point: TapPoint, method: &'static str) -> Result<TensorId> {
        match point {
            TapPoint::Input => Ok(self.input),
            TapPoint::Output => Ok(self.output),
            TapPoint::Activation => self.activation.ok_or_else(|| DataError::Model {
                method,
                reason: format!(
                    "{}: no ReLU-family activation follows this layer through channel-wise ops \
                     (a residual add or a reshape comes first)",
                    self.path
                ),
            }),
        }
    }

    /// Shape of the tensor at `point` (the activation has the output's shape).
    pub fn shape(&self, point: TapPoint) -> &[usize] {
        match point {
            TapPoint::Input => &self.input_shape,
            TapPoint::Output | TapPoint::Activation => &self.output_shape,
        }
    }
}

/// The geometry of a traced 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Padding `(before, after)` of each spatial axis.
    pub padding: [(usize, usize); 2],
    /// Dilation.
    pub dilation: [usize; 2],
    /// Groups.
    pub groups: usize,
}

/// A model traced once for activation capture: every conv and linear layer's input, output
/// and post-activation tensor, read by replaying the recorded graph with Burn's IR
/// interpreter on any backend (flex, ndarray, wgpu) — the model's code is not changed.
///
/// The trace fixes the batch size: [`run`](Self::run) takes batches of up to that many
/// samples (a smaller last batch is padded, and the padding is not reported). Only the
/// requested tensors are read back, one batch at a time, so statistics can be accumulated
/// in bounded memory.
///
/// ```
/// use burn::backend::{Flex, FlexDevice};
/// use burn::nn::{Linear, LinearConfig, Relu};
/// use burn::prelude::*;
/// use burn_prune_data::{ActivationCapture, TapPoint};
///
/// #[derive(Module, Debug)]
/// struct Mlp { fc1: Linear, fc2: Linear }
///
/// let device = Device::flex();
/// let mlp = Mlp { fc1: LinearConfig::new(3, 4).init(&device), fc2: LinearConfig::new(4, 2).init(&device) };
/// let forward = |m: &Mlp, x: Tensor<2>| m.fc2.forward(Relu::new().forward(m.fc1.forward(x)));
/// let capture = ActivationCapture::new(&mlp, [8, 3], forward).unwrap();
/// assert_eq!(capture.taps()[0].path, "fc1.weight");
/// assert!(capture.taps()[0].has_activation && !capture.taps()[1].has_activation);
///
/// let x = TensorData::new(vec![0.5f32; 5 * 3], [5, 3]);
/// let mut relu_values = Vec::new();
/// capture.run::<Flex, _>(&mlp, [x], FlexDevice, &[(0, TapPoint::Activation)], |_, _, values, shape| {
///     assert_eq!(shape, [5, 4]); // the 5 real samples, not the padding
///     relu_values.extend_from_slice(values);
/// }).unwrap();
/// assert!(relu_values.iter().all(|v| *v >= 0.0));
/// ```
#[derive(Debug)]
pub struct ActivationCapture {
    trace: Trace,
    taps: Vec<LayerTap>,
}

impl ActivationCapture {
    /// Trace `model` on an input of `input_shape` (its first dimension is the batch size of
    /// every replay) and find its layers.
    ///
    /// Errors: tracing errors; a model without conv or linear layers.
    pub fn new<M, F, const D: usize, const O: usize>(
        model: &M,
        input_shape: [usize; D],
        forward: F,
    ) -> Result<Self>
    where
        M: Module,
        F: FnOnce(&M, Tensor<D>) -> Tensor<O>,
    {
        let trace = trace(model, input_shape, forward)?;
        let taps = find_taps(&trace);
        if taps.is_empty() {
            return Err(DataError::Model {
                method: "activation capture",
                reason: "the traced model has no conv or linear layer".into(),
            });
        }
        Ok(Self { trace, taps })
    }

    /// The layers, in graph order.
    pub fn taps(&self) -> &[LayerTap] {
        &self.taps
    }

    /// The index of the layer whose weight is `path`.
    pub fn index_of(&self, path: &str) -> Option<usize> {
        self.taps.iter().position(|t| t.path == path)
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The batch size of every replay.
    pub fn batch_size(&self) -> usize {
        self.trace.input_shape()[0]
    }

    /// Replay `model` (the traced model, or the same architecture with other weights) on
    /// backend `B` for every batch, and hand each requested tensor to `sink` as
    /// `(layer index, point, values, shape)` with the batch dimension cut to the batch's real
    /// samples. Values are row-major `f32`.
    ///
    /// Errors: a request naming no layer, or an activation the layer does not have; a batch
    /// of another sample shape, empty or larger than the traced batch; a model that does
    /// not fit the trace; backend failures.
    pub fn run<B, M>(
        &self,
        model: &M,
        batches: impl IntoIterator<Item = TensorData>,
        device: B::Device,
        requests: &[(usize, TapPoint)],
        mut sink: impl FnMut(usize, TapPoint, &[f32], &[usize]),
    ) -> Result<()>
    where
        B: BackendIr,
        M: Module,
    {
        let mut ids = Vec::with_capacity(requests.len());
        for &(layer, point) in requests {
            let tap = self.taps.get(layer).ok_or_else(|| {
                DataError::invalid(
                    "capture request",
                    format!(
                        "layer {layer}, but the model has {} layers",
                        self.taps.len()
                    ),
                )
            })?;
            ids.push(tap.tensor(point, "activation capture")?);
        }
        let replay = Replay::<B>::new(&self.trace, model, device)?;
        let shape = self.trace.input_shape().to_vec();
        let batch = shape[0];
        let sample: usize = shape[1..].iter().product();
        for (index, data) in batches.into_iter().enumerate() {
            let given = data.shape().as_slice().to_vec();
            let count = given.first().copied().unwrap_or(0);
            if given.len() != shape.len() || given[1..] != shape[1..] || count == 0 || count > batch
            {
                return Err(DataError::shape(
                    format!("batch {index}"),
                    format!("[1..={batch}, {:?}]", &shape[1..]),
                    format!("{given:?}"),
                ));
            }
            let mut values: Vec<f32> = data
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| DataError::invalid(format!("batch {index}"), format!("{e:?}")))?;
            values.resize(batch * sample, 0.0);
            // The model input is no op's output: it is handed over as given.
            let input_id = self.trace.input();
            let computed: Vec<TensorId> =
                ids.iter().copied().filter(|&id| id != input_id).collect();
            let mut outputs = replay
                .run(TensorData::new(values.clone(), shape.clone()), &computed)?
                .into_iter();
            for (&(layer, point), &id) in requests.iter().zip(&ids) {
                let (values, mut out_shape) = if id == input_id {
                    (values.clone(), shape.clone())
                } else {
                    let out = outputs.next().expect("one output per computed request");
                    let out_shape = out.shape().as_slice().to_vec();
                    let v: Vec<f32> = out.convert::<f32>().try_into_vec::<f32>().map_err(|e| {
                        DataError::invalid(
                            format!("captured {}", self.taps[layer].path),
                            format!("{e:?}"),
                        )
                    })?;
                    (v, out_shape)
                };
                let per_sample: usize = out_shape[1..].iter().product();
                out_shape[0] = count;
                sink(layer, point, &values[..count * per_sample], &out_shape);
            }
        }
        Ok(())
    }
}

/// The conv/linear layers of a trace and their tensors.
fn find_taps(trace: &Trace) -> Vec<LayerTap> {
    let ops = trace.operations();
    // Parameter-only tensors (a masked weight, a reshaped bias): the parameter they hold.
    let mut origin: HashMap<TensorId, String> = HashMap::new();
    let mut data: HashSet<TensorId> = HashSet::from([trace.input()]);
    let mut consumers: HashMap<TensorId, Vec<usize>> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        for t in op.inputs() {
            consumers.entry(t.id).or_default().push(i);
        }
        if op.inputs().any(|t| data.contains(&t.id)) {
            data.extend(op.outputs().map(|t| t.id));
        } else if let Some(p) = op.inputs().find_map(|t| {
            trace
                .param_of(t.id)
                .map(|p| p.path.clone())
                .or_else(|| origin.get(&t.id).cloned())
        }) {
            for o in op.outputs() {
                origin.insert(o.id, p.clone());
            }
        }
    }
    let weight_path = |id: TensorId| {
        trace
            .param_of(id)
            .map(|p| p.path.clone())
            .or_else(|| origin.get(&id).cloned())
    };
    let mut taps = Vec::new();
    for op in ops {
        let (name, x, w, out) = match op {
            OperationIr::Module(ModuleOperationIr::Linear(l)) => {
                ("Linear", &l.x, &l.weight, &l.out)
            }
            // Linear layers are traced as a matmul with the (parameter) weight on the right.
            OperationIr::Float(_, FloatOperationIr::Matmul(m)) => {
                ("Linear", &m.lhs, &m.rhs, &m.out)
            }
            OperationIr::Module(ModuleOperationIr::Conv1d(c)) => {
                ("Conv1d", &c.x, &c.weight, &c.out)
            }
            OperationIr::Module(ModuleOperationIr::Conv2d(c)) => {
                ("Conv2d", &c.x, &c.weight, &c.out)
            }
            OperationIr::Module(ModuleOperationIr::Conv3d(c)) => {
                ("Conv3d", &c.x, &c.weight, &c.out)
            }
            _ => continue,
        };
        if !data.contains(&x.id) || data.contains(&w.id) {
            continue;
        }
        let Some(path) = weight_path(w.id) else {
            continue;
        };
        let activation = follow_to_activation(ops, &consumers, &data, out.id);
        let conv2d = match op {
            OperationIr::Module(ModuleOperationIr::Conv2d(c)) => {
                let ws = c.weight.shape.as_slice();
                Some(Conv2dGeometry {
                    kernel: [ws[2], ws[3]],
                    stride: c.options.stride,
                    padding: c.options.padding,
                    dilation: c.options.dilation,
                    groups: c.options.groups,
                })
            }
            _ => None,
        };
        taps.push(LayerTap {
            path,
            op: name.to_string(),
            input_shape: x.shape.as_slice().to_vec(),
            output_shape: out.shape.as_slice().to_vec(),
            has_activation: activation.is_some(),
            conv2d,
            input: x.id,
            output: out.id,
            activation,
        });
    }
    taps
}

/// From a layer's output, follow its only consumer through channel-wise ops (BatchNorm, a
/// bias add, a scaling by a parameter) to a ReLU-family activation; its output, if reached.
fn follow_to_activation(
    ops: &[OperationIr],
    consumers: &HashMap<TensorId, Vec<usize>>,
    data: &HashSet<TensorId>,
    mut tensor: TensorId,
) -> Option<TensorId> {
    for _ in 0..8 {
        let [only] = consumers.get(&tensor)?.as_slice() else {
            return None;
        };
        let op = &ops[*only];
        match op {
            OperationIr::Activation(
                ActivationOperationIr::Relu(_)
                | ActivationOperationIr::LeakyRelu(_)
                | ActivationOperationIr::PRelu(_),
            ) => return op.outputs().next().map(|t| t.id),
            OperationIr::Module(ModuleOperationIr::BatchNorm(b)) if b.x.id == tensor => {
                tensor = b.out.id;
            }
            _ => {
                // Channel-wise: every other input is a parameter or constant, and the shape is
                // kept (a bias add, a scale).
                let others_constant = op
                    .inputs()
                    .filter(|t| t.id != tensor)
                    .all(|t| !data.contains(&t.id));
                let out = op.outputs().next()?;
                let input = op.inputs().find(|t| t.id == tensor)?;
                if !others_constant || out.shape != input.shape || op.outputs().count() != 1 {
                    return None;
                }
                tensor = out.id;
            }
        }
    }
    None
}

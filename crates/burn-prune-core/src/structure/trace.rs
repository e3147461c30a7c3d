//! Capturing one forward pass of a model as Burn IR, with every parameter path mapped to its
//! tensor in the graph.

use crate::address::PathStack;
use crate::error::{PruneError, Result};
use burn::backend::capture::{CaptureBackend, TensorId};
use burn::backend::ir::{BaseOperationIr, OperationIr};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// One parameter as it appears in a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedParam {
    /// The parameter path (`layers.0.conv.weight`).
    pub path: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// For each segment of its path, the type of the module holding it (Burn's container
    /// types with `Struct:`/`Enum:` removed), outermost first: for
    /// `encoder.layers.0.mha.query.weight` the model's type, `TransformerEncoder`, `Vec`,
    /// `TransformerEncoderLayer`, `MultiHeadAttention`, `Linear`.
    pub modules: Vec<String>,
}

/// One forward pass of a model, recorded without being executed.
///
/// Made by [`trace`]. The graph is Burn's IR (`burn::backend::ir::OperationIr`), in execution
/// order; every parameter (and BatchNorm running statistic) is known by its path.
#[derive(Clone, Debug)]
pub struct Trace {
    pub(crate) ops: Vec<OperationIr>,
    pub(crate) params: Vec<TracedParam>,
    pub(crate) param_ids: HashMap<TensorId, usize>,
    /// Stored (base) values of parameters with a reparameterization (an installed mask),
    /// whose effective value is computed from them in the graph.
    pub(crate) base_ids: HashMap<TensorId, usize>,
    /// Values the capture recorded (integer and boolean parameters, constants made by the
    /// forward pass, installed masks); the input's is left out.
    pub(crate) values: BTreeMap<TensorId, TensorData>,
    pub(crate) input: TensorId,
    pub(crate) output: TensorId,
    pub(crate) input_shape: Vec<usize>,
    pub(crate) output_shape: Vec<usize>,
}

impl Trace {
    /// The recorded operations, in execution order.
    pub fn operations(&self) -> &[OperationIr] {
        &self.ops
    }

    /// The parameters, in module (visit) order.
    pub fn params(&self) -> &[TracedParam] {
        &self.params
    }

    /// The graph tensor of the parameter at `path`, if the model has one.
    pub fn param_tensor(&self, path: &str) -> Option<TensorId> {
        let index = self.params.iter().position(|p| p.path == path)?;
        self.param_ids
            .iter()
            .find(|&(_, &i)| i == index)
            .map(|(&id, _)| id)
    }

    /// The parameter a graph tensor holds: its effective value, or the stored base value of a
    /// reparameterized parameter (an installed mask is applied to it inside the graph).
    pub fn param_of(&self, id: TensorId) -> Option<&TracedParam> {
        self.param_ids
            .get(&id)
            .or_else(|| self.base_ids.get(&id))
            .map(|&i| &self.params[i])
    }

    /// The input shape the trace was taken with.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The shape of the traced output.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// The graph tensor of the input.
    pub fn input(&self) -> TensorId {
        self.input
    }

    /// The graph tensor of the output.
    pub fn output(&self) -> TensorId {
        self.output
    }

    /// The tensor a parameter's value is read from when the graph runs: its stored base value
    /// for a reparameterized parameter, else the parameter itself.
    pub(crate) fn param_source(&self, index: usize) -> Option<TensorId> {
        let find = |ids: &HashMap<TensorId, usize>| {
            ids.iter().find(|&(_, &i)| i == index).map(|(&id, _)| id)
        };
        find(&self.base_ids).or_else(|| find(&self.param_ids))
    }
}

/// Parameters by graph tensor (with the base tensor where it differs), the input and the
/// output tensor.
type Captured = (
    Vec<(TensorId, Option<TensorId>, TracedParam)>,
    TensorId,
    TensorId,
);

/// One capture device for the process (capture device ids are `u16` and never reused), and a
/// lock, since one scope at a time may be active on it.
fn capture_device() -> (&'static Device, MutexGuard<'static, ()>) {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    (DEVICE.get_or_init(Device::capture), guard)
}

fn tensor_id<const D: usize>(t: &Tensor<D>) -> Result<TensorId> {
    t.clone()
        .try_into_primitive::<CaptureBackend>()
        .map(|p| p.id())
        .map_err(|e| PruneError::Trace {
            reason: format!("a tensor is not on the capture device: {e:?}"),
        })
}

fn int_tensor_id<const D: usize>(t: &Tensor<D, Int>) -> Result<TensorId> {
    t.clone()
        .try_into_primitive::<CaptureBackend>()
        .map(|p| p.id())
        .map_err(|e| PruneError::Trace {
            reason: format!("an integer tensor is not on the capture device: {e:?}"),
        })
}

/// Record one forward pass of `model` on a zero input of `input_shape`.
///
/// `forward` is the model's forward function. The model is captured in evaluation mode
/// (`valid()`, so BatchNorm uses its running statistics) on a capture device: nothing is
/// computed, the model passed in is not changed, and float parameters are traced by shape
/// (their values are not read). A forward pass that panics (for example
/// on a wrong input shape) is reported as [`PruneError::Trace`]. A model that reads integer
/// inputs (token ids) is traced with [`trace_int`].
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::prelude::*;
/// use burn_prune_core::structure::trace;
///
/// # #[allow(deprecated)]
/// let device = Device::ndarray();
/// let layer: Linear = LinearConfig::new(4, 3).init(&device);
/// let t = trace(&layer, [2, 4], |m, x| m.forward(x)).unwrap();
/// assert_eq!(t.output_shape(), &[2, 3]);
/// assert!(t.param_tensor("weight").is_some());
/// ```
pub fn trace<M, F, const D: usize, const O: usize>(
    model: &M,
    input_shape: [usize; D],
    forward: F,
) -> Result<Trace>
where
    M: Module,
    F: FnOnce(&M, Tensor<D>) -> Tensor<O>,
{
    capture(
        model,
        &input_shape,
        |device| Tensor::<D>::from_data(TensorData::zeros::<f32, _>(input_shape), device),
        tensor_id,
        forward,
    )
}

/// [`trace`] for a model whose input is integer, such as token ids read by an `Embedding`
/// (`Tensor<2, Int>` of shape `[batch, sequence]`).
///
/// The input is all zeros (token 0, valid for any embedding table); everything else is as in
/// [`trace`]. The dependency graph of such a trace starts at the embedding table: its axis 1
/// (the embedding width) is the group the next layer reads.
///
/// ```
/// use burn::nn::{Embedding, EmbeddingConfig};
/// use burn::prelude::*;
/// use burn_prune_core::structure::trace_int;
///
/// let device = Device::flex();
/// let embedding: Embedding = EmbeddingConfig::new(10, 4).init(&device);
/// let t = trace_int(&embedding, [2, 3], |m, tokens| m.forward(tokens)).unwrap();
/// assert_eq!(t.output_shape(), &[2, 3, 4]);
/// ```
pub fn trace_int<M, F, const D: usize, const O: usize>(
    model: &M,
    input_shape: [usize; D],
    forward: F,
) -> Result<Trace>
where
    M: Module,
    F: FnOnce(&M, Tensor<D, Int>) -> Tensor<O>,
{
    capture(
        model,
        &input_shape,
        |device| Tensor::<D, Int>::from_data(TensorData::zeros::<i64, _>(input_shape), device),
        int_tensor_id,
        forward,
    )
}

/// The capture behind [`trace`] and [`trace_int`]: `make` builds the (zero) input on the
/// capture device, `input_id` finds its graph tensor.
fn capture<M, X, const O: usize>(
    model: &M,
    input_shape: &[usize],
    make: impl FnOnce(&Device) -> X,
    input_id: impl Fn(&X) -> Result<TensorId>,
    forward: impl FnOnce(&M, X) -> Tensor<O>,
) -> Result<Trace>
where
    M: Module,
{
    if input_shape.contains(&0) {
        return Err(PruneError::Trace {
            reason: format!("input shape {input_shape:?} has a zero dimension"),
        });
    }
    let (device, _guard) = capture_device();
    let mut found: Option<Result<Captured>> = None;
    let outcome = crate::quiet_panic::catch(|| {
        device.capture_scope(|scope| {
            let model = model.valid().map(&mut ToCapture { device });
            let mut ids = IdCollector::default();
            model.visit(&mut ids);
            let x = make(device);
            let xi = input_id(&x);
            let y = forward(&model, x);
            let ends = xi.and_then(|xi| Ok((xi, tensor_id(&y)?)));
            let (inputs, outputs) = match &ends {
                Ok((xi, yi)) => (vec![*xi], vec![*yi]),
                Err(_) => (vec![], vec![]),
            };
            found = Some(
                ids.error
                    .map_or(Ok(ids.out), Err)
                    .and_then(|params| ends.map(|(xi, yi)| (params, xi, yi))),
            );
            scope.complete(inputs, outputs)
        })
    });
    let graph = match outcome {
        Err(msg) => {
            return Err(PruneError::Trace {
                reason: format!("the forward pass panicked: {msg}"),
            });
        }
        Ok(r) => r.map_err(|e| PruneError::Trace {
            reason: format!("capture failed: {e}"),
        })?,
    };
    let (params, input, output) = found.ok_or_else(|| PruneError::Trace {
        reason: "the capture scope did not run".into(),
    })??;
    let mut list = Vec::with_capacity(params.len());
    let mut param_ids = HashMap::with_capacity(params.len());
    let mut base_ids = HashMap::new();
    for (id, base, p) in params {
        param_ids.insert(id, list.len());
        if let Some(base) = base {
            base_ids.insert(base, list.len());
        }
        list.push(p);
    }
    let shape_of = |id: TensorId| {
        graph
            .graph
            .operations
            .iter()
            .flat_map(|op| op.outputs())
            .find(|t| t.id == id)
            .map(|t| t.shape.as_slice().to_vec())
            .unwrap_or_default()
    };
    let output_shape = shape_of(output);
    // The parameters' own creation ops (see `ToCapture`) are not part of the model.
    let mut values = graph.values;
    values.remove(&input);
    let mut ops = graph.graph.operations;
    ops.retain(|op| match op {
        OperationIr::BaseFloat(BaseOperationIr::Empty(c)) => {
            !param_ids.contains_key(&c.out.id) && !base_ids.contains_key(&c.out.id)
        }
        _ => true,
    });
    Ok(Trace {
        output_shape,
        ops,
        params: list,
        param_ids,
        base_ids,
        values,
        input,
        output,
        input_shape: input_shape.to_vec(),
    })
}

/// Moves a module to the capture device. Float tensors become empty tensors of the same shape
/// (an `Empty` creation op, removed from the trace): the trace needs their shapes only, and
/// reading them off their device would copy every weight.
/// Integer and boolean tensors (indices, masks) keep their values.
struct ToCapture<'a> {
    device: &'a Device,
}

impl ModuleMapper for ToCapture<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let device = self.device;
        param.map(|t| Tensor::empty(t.dims(), device))
    }
    fn map_int<const D: usize>(&mut self, param: Param<Tensor<D, Int>>) -> Param<Tensor<D, Int>> {
        param.map(|t| t.to_device(self.device))
    }
    fn map_bool<const D: usize>(
        &mut self,
        param: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        param.map(|t| t.to_device(self.device))
    }
}

#[derive(Default)]
struct IdCollector {
    stack: PathStack,
    modules: Vec<String>,
    out: Vec<(TensorId, Option<TensorId>, TracedParam)>,
    error: Option<PruneError>,
}

impl ModuleVisitor for IdCollector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.enter(name);
        let kind = container_type
            .strip_prefix("Struct:")
            .unwrap_or(container_type);
        let kind = kind.strip_prefix("Enum:").unwrap_or(kind);
        self.modules.push(kind.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
        self.modules.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_some() {
            return;
        }
        let t = param.val();
        let base = tensor_id(&param.base());
        match tensor_id(&t).and_then(|id| Ok((id, base?))) {
            Ok((id, base)) => self.out.push((
                id,
                (base != id).then_some(base),
                TracedParam {
                    path: self.stack.path(),
                    shape: t.dims().to_vec(),
                    modules: self.modules.clone(),
                },
            )),
            Err(e) => self.error = Some(e),
        }
    }
}

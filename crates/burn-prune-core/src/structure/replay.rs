//! Running a [`Trace`] on a real backend to read any intermediate tensor (activation capture
//! without touching the model's code).

use super::trace::Trace;
use crate::address::PathStack;
use crate::error::{PruneError, Result};
use burn::backend::capture::TensorId;
use burn::backend::ir::{BackendIr, IrVisitorMut, OperationIr, TensorIr, TensorStatus};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::DType;
use burn_router::TensorInterpreter;
use std::collections::{HashMap, HashSet};

/// A traced forward pass bound to a model's parameter values, ready to run on backend `B`
/// (any backend with Burn's IR interpreter: `Flex`, `NdArray`, `Cube` for wgpu/CUDA, ...).
///
/// Each [`run`](Self::run) executes the recorded operations on a fresh interpreter with a new
/// input of the traced shape and returns the values of the requested graph tensors (an
/// activation, a layer's input, the output). Tensors that are not requested are freed as soon
/// as the graph no longer needs them, so memory stays at one forward pass plus the requested
/// values. Batches of another size need a trace of that size.
///
/// ```
/// use burn::backend::{Flex, FlexDevice};
/// use burn::nn::{Linear, LinearConfig};
/// use burn::prelude::*;
/// use burn_prune_core::structure::{Replay, trace};
///
/// let device = Device::flex();
/// let layer: Linear = LinearConfig::new(3, 2).init(&device);
/// let t = trace(&layer, [4, 3], |m, x| m.forward(x)).unwrap();
/// let replay = Replay::<Flex>::new(&t, &layer, FlexDevice).unwrap();
///
/// let x = TensorData::new((0..12).map(|v| v as f32).collect::<Vec<_>>(), [4, 3]);
/// let out = replay.run(x.clone(), &[t.output()]).unwrap();
/// let direct = layer.forward(Tensor::<2>::from_data(x, &device)).into_data();
/// out[0].assert_approx_eq::<f32>(&direct, burn::tensor::Tolerance::default());
/// ```
pub struct Replay<B: BackendIr> {
    ops: Vec<OperationIr>,
    /// Every tensor id an operation writes, with its description.
    produced: HashMap<TensorId, TensorIr>,
    /// The position of the operation writing each tensor.
    writer: HashMap<TensorId, usize>,
    /// Parameter values and captured constants, by the graph tensor they are registered as.
    values: Vec<(TensorId, TensorData)>,
    input: TensorId,
    input_shape: Vec<usize>,
    /// The dtype the graph reads its input as.
    input_dtype: DType,
    device: B::Device,
}

impl<B: BackendIr> std::fmt::Debug for Replay<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("operations", &self.ops.len())
            .field("values", &self.values.len())
            .field("input_shape", &self.input_shape)
            .finish()
    }
}

impl<B: BackendIr> Replay<B> {
    /// Bind `trace` to the parameter values of `model` (read once, as stored: an installed mask
    /// is applied by the graph itself) for running on `device`.
    ///
    /// Errors ([`PruneError::Replay`]): the model lacks a traced parameter or has it at another
    /// shape (it is not the model the trace was taken from).
    pub fn new<M: Module>(trace: &Trace, model: &M, device: B::Device) -> Result<Self> {
        let mut reader = ParamValues::default();
        model.visit(&mut reader);
        let mut values = Vec::with_capacity(trace.params.len() + trace.values.len());
        for (index, p) in trace.params.iter().enumerate() {
            let data = reader
                .values
                .remove(&p.path)
                .ok_or_else(|| PruneError::Replay {
                    reason: format!("the model has no parameter `{}` the trace uses", p.path),
                })?;
            if data.shape().as_slice() != p.shape.as_slice() {
                return Err(PruneError::Replay {
                    reason: format!(
                        "parameter `{}` has shape {:?}; the trace has {:?}",
                        p.path,
                        data.shape().as_slice(),
                        p.shape
                    ),
                });
            }
            if let Some(id) = trace.param_source(index) {
                values.push((id, data));
            }
        }
        values.extend(trace.values.iter().map(|(&id, d)| (id, d.clone())));
        // `Init` records a value registered above (or the input), not a computation.
        let produced = trace
            .ops
            .iter()
            .filter(|op| !matches!(op, OperationIr::Init(_)))
            .flat_map(|op| op.outputs())
            .map(|t| (t.id, t.clone()))
            .collect();
        let writer = trace
            .ops
            .iter()
            .enumerate()
            .filter(|(_, op)| !matches!(op, OperationIr::Init(_)))
            .flat_map(|(i, op)| op.outputs().map(move |t| (t.id, i)))
            .collect();
        let input_dtype = input_dtype(&trace.ops, trace.input);
        Ok(Self {
            input_dtype,
            ops: trace.ops.clone(),
            produced,
            writer,
            values,
            input: trace.input,
            input_shape: trace.input_shape.clone(),
            device,
        })
    }

    /// The input shape every run takes.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The description (shape, dtype) of a tensor an operation of the graph writes.
    pub fn tensor(&self, id: TensorId) -> Option<&TensorIr> {
        self.produced.get(&id)
    }

    /// Run the graph on `input` and return the values of `outputs`, in order. Operations
    /// after the last one writing a requested tensor are not run.
    ///
    /// Errors ([`PruneError::Replay`]): an input of another shape than the trace's, a
    /// non-float input, an id no operation writes, or a failure of the backend while running
    /// (reported with the operation's position and name).
    pub fn run(&self, input: TensorData, outputs: &[TensorId]) -> Result<Vec<TensorData>> {
        if input.shape().as_slice() != self.input_shape.as_slice() {
            return Err(PruneError::Replay {
                reason: format!(
                    "input of shape {:?}; the trace was taken with {:?}",
                    input.shape().as_slice(),
                    self.input_shape
                ),
            });
        }
        if !input.dtype().is_float() {
            return Err(PruneError::Replay {
                reason: format!(
                    "input of dtype {:?}; a float input is needed",
                    input.dtype()
                ),
            });
        }
        let mut wanted = Vec::with_capacity(outputs.len());
        for id in outputs {
            let ir = self.produced.get(id).ok_or_else(|| PruneError::Replay {
                reason: format!("no operation of the trace writes tensor {id:?}"),
            })?;
            wanted.push(ir.clone());
        }
        let keep: HashSet<TensorId> = outputs.iter().copied().collect();
        let input = input.convert_dtype(self.input_dtype);
        let mut interpreter = TensorInterpreter::<B>::new(self.device.clone());
        for (id, data) in &self.values {
            interpreter.register_tensor_data_id(*id, data.clone());
        }
        interpreter.register_tensor_data_id(self.input, input);
        let mut marker = KeepAlive { keep: &keep };
        // Operations after the last one writing a wanted tensor cannot change it: skip them
        // (capturing an early layer costs only the forward pass up to it).
        let last = outputs
            .iter()
            .filter_map(|id| self.writer.get(id))
            .max()
            .map_or(0, |&i| i + 1);
        for (index, op) in self.ops[..last].iter().enumerate() {
            // A tensor the capture saw dropped is still wanted here.
            if matches!(op, OperationIr::Drop(t) if keep.contains(&t.id)) {
                continue;
            }
            let mut op = op.clone();
            op.visit_mut(&mut marker);
            let name = super::graph::op_name(&op);
            crate::quiet_panic::catch(|| interpreter.register_op(op)).map_err(|panic| {
                PruneError::Replay {
                    reason: format!("operation #{index} `{name}` failed on the backend: {panic}"),
                }
            })?;
        }
        wanted
            .into_iter()
            .map(|mut ir| {
                // Reading with `ReadWrite` hands the tensor over and frees it in the
                // interpreter.
                ir.status = TensorStatus::ReadWrite;
                let read = crate::quiet_panic::catch(|| {
                    burn_std::future::block_on(interpreter.read_tensor_async(ir.clone()))
                });
                match read {
                    Ok(Ok(data)) => Ok(data),
                    Ok(Err(e)) => Err(PruneError::Replay {
                        reason: format!("reading tensor {:?}: {e:?}", ir.id),
                    }),
                    Err(panic) => Err(PruneError::Replay {
                        reason: format!("reading tensor {:?}: {panic}", ir.id),
                    }),
                }
            })
            .collect()
    }
}

/// The dtype the graph reads its input as (`F32` if no operation reads it).
fn input_dtype(ops: &[OperationIr], input: TensorId) -> DType {
    let mut finder = FindDtype {
        id: input,
        dtype: None,
    };
    for op in ops {
        let mut op = op.clone();
        op.visit_mut(&mut finder);
        if finder.dtype.is_some() {
            break;
        }
    }
    finder.dtype.unwrap_or(DType::F32)
}

/// Marks the requested tensors read-only wherever they appear, so the interpreter keeps them
/// after their last use in the graph.
struct KeepAlive<'a> {
    keep: &'a HashSet<TensorId>,
}

impl IrVisitorMut for KeepAlive<'_> {
    fn visit_tensor_mut(&mut self, t: &mut TensorIr) {
        if self.keep.contains(&t.id) && t.status == TensorStatus::ReadWrite {
            t.status = TensorStatus::ReadOnly;
        }
    }
}

struct FindDtype {
    id: TensorId,
    dtype: Option<DType>,
}

impl IrVisitorMut for FindDtype {
    fn visit_tensor_mut(&mut self, t: &mut TensorIr) {
        if t.id == self.id && self.dtype.is_none() {
            self.dtype = Some(t.dtype);
        }
    }
}

/// Every float parameter's stored (base) value, by path.
#[derive(Default)]
struct ParamValues {
    stack: PathStack,
    values: HashMap<String, TensorData>,
}

impl ModuleVisitor for ParamValues {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.values
            .insert(self.stack.path(), param.base().into_data());
    }
}

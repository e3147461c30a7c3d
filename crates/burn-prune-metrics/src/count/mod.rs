//! MACs and FLOPs of every op of a traced forward pass, attributed to layers.
//!
//! # Conventions
//!
//! [`Convention::Papers`] counts the multiply-accumulates of convolutions, transposed
//! convolutions, linear layers, matmuls and attention, without biases: the number most pruning
//! papers report (many call it "FLOPs"). [`Convention::Full`] counts every op that computes:
//!
//! | op | MACs | FLOPs (full) |
//! |---|---|---|
//! | conv | output elements × `in/groups × kernel` | 2 × MACs (+ 1 per output with a bias) |
//! | transposed conv | input elements × `out/groups × kernel` | 2 × MACs (+ bias) |
//! | linear, matmul | output elements × inner dimension | 2 × MACs (+ bias) |
//! | attention | scores × (`d` + `d_v`) | 2 × MACs + 3 per score (softmax) |
//! | batch norm (inference) | 1 per element (folded scale and shift) | 2 per element |
//! | layer norm | 1 per element with β | 5 per element (statistics, normalisation) + 1 for γ + 1 for β |
//! | max/avg pool | 0 | kernel elements per output |
//! | adaptive avg pool | 0 | 1 per input element |
//! | element-wise, activation, comparison, interpolation | 0 | 1 per output element |
//! | reduction, scan (sum, mean, max, cumsum, ...) | 0 | 1 per input element |
//! | reshape, slice, cat, gather, cast, creation, sort | 0 | 0 |
//!
//! In both conventions FLOPs = 2 × MACs for multiply-add ops. Ops that touch only
//! parameters and constants (an installed mask applied to its weight, a weight reshaped before
//! use) are not counted: they do not depend on the input and can be folded.
//! Counts are for the traced input shape, batch dimension included: trace with batch 1 for
//! per-sample numbers.

mod rules;

use crate::error::Result;
use burn::backend::capture::TensorId;
use burn::backend::ir::{BaseOperationIr, NumericOperationIr, OperationIr};
use burn::module::Module;
use burn::prelude::*;
use burn_prune_core::structure::{Trace, op_name, trace};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Which ops a MAC or FLOP total includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Convention {
    /// Convolutions, linear layers, matmuls and attention, no bias: the pruning papers' count
    /// (which they often call FLOPs).
    Papers,
    /// Every op that computes (see the [module table](self)).
    Full,
}

/// What an op does, for counting and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpKind {
    /// A convolution (1-, 2- or 3-d, grouped, deformable).
    Conv,
    /// A transposed convolution.
    ConvTranspose,
    /// A linear layer (`x · W + b`).
    Linear,
    /// A matrix product.
    Matmul,
    /// Fused scaled dot-product attention.
    Attention,
    /// A normalisation (batch norm, layer norm).
    Norm,
    /// Pooling.
    Pool,
    /// One value per output element (arithmetic, activations, comparisons).
    Elementwise,
    /// A reduction or scan over the input.
    Reduction,
    /// No arithmetic (shape, data movement, creation, casts, sorting).
    Other,
}

impl OpKind {
    /// Whether the papers' convention counts this kind.
    pub fn is_multiply_accumulate(self) -> bool {
        matches!(
            self,
            OpKind::Conv
                | OpKind::ConvTranspose
                | OpKind::Linear
                | OpKind::Matmul
                | OpKind::Attention
        )
    }
}

/// One counted op.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpCount {
    /// Position in the trace.
    pub index: usize,
    /// The op's IR name (`Conv2d`, `Add`, `Relu`, ...).
    pub op: String,
    /// What it does.
    pub kind: OpKind,
    /// The parameter the op multiplies the data by (a conv or linear weight, a norm's scale,
    /// a bias it adds), if any.
    pub param: Option<String>,
    /// Shape of its data input (empty if it has none).
    pub input_shape: Vec<usize>,
    /// Shape of its output.
    pub output_shape: Vec<usize>,
    /// Multiply-accumulates.
    pub macs: u64,
    /// FLOPs in the full convention.
    pub flops: u64,
    /// MACs per element of `param`, for multiply-accumulate ops on a weight: a zero weight
    /// saves this many MACs (for a conv, the output positions; for a linear layer, the rows).
    pub macs_per_weight: u64,
}

impl OpCount {
    /// The layer (module path) this op belongs to: its parameter's path without the last
    /// segment (`layer1.0.conv1.conv` for `layer1.0.conv1.conv.weight`).
    pub fn layer(&self) -> Option<&str> {
        self.param
            .as_deref()
            .map(|p| p.rsplit_once('.').map_or("", |(layer, _)| layer))
    }

    /// MACs counted in `convention`.
    pub fn macs(&self, convention: Convention) -> u64 {
        match convention {
            Convention::Full => self.macs,
            Convention::Papers if self.kind.is_multiply_accumulate() => self.macs,
            Convention::Papers => 0,
        }
    }

    /// FLOPs counted in `convention` (2 per MAC in the papers' convention).
    pub fn flops(&self, convention: Convention) -> u64 {
        match convention {
            Convention::Full => self.flops,
            Convention::Papers => 2 * self.macs(Convention::Papers),
        }
    }

    /// This op with only `nonzero` of its weight's elements doing work: the MACs (and their
    /// FLOPs) of zero weights are dropped.
    fn with_nonzero_weights(&self, nonzero: u64) -> Self {
        let mut op = self.clone();
        if self.macs_per_weight > 0 && self.kind.is_multiply_accumulate() {
            let macs = (nonzero * self.macs_per_weight).min(self.macs);
            op.flops -= 2 * (self.macs - macs);
            op.macs = macs;
        }
        op
    }
}

/// The counted ops of one forward pass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpCounts {
    /// The traced input shape.
    pub input_shape: Vec<usize>,
    /// The traced output shape.
    pub output_shape: Vec<usize>,
    /// Every op on the data path, in execution order.
    pub ops: Vec<OpCount>,
}

impl OpCounts {
    /// Trace `model` on an input of `input_shape` (see [`trace`]) and count its ops.
    ///
    /// ```
    /// use burn::nn::conv::{Conv2d, Conv2dConfig};
    /// use burn::prelude::*;
    /// use burn_prune_metrics::{Convention, OpCounts};
    ///
    /// let conv: Conv2d = Conv2dConfig::new([3, 8], [3, 3]).init(&Device::flex());
    /// let counts = OpCounts::of_model(&conv, [1, 3, 10, 10], |m, x| m.forward(x)).unwrap();
    /// // 8 filters of 3×3×3 weights at 8×8 output positions.
    /// assert_eq!(counts.macs(Convention::Papers), 8 * 27 * 64);
    /// // Two FLOPs per MAC plus the bias add.
    /// assert_eq!(counts.flops(Convention::Full), 2 * 8 * 27 * 64 + 8 * 64);
    /// ```
    pub fn of_model<M, F, const D: usize, const O: usize>(
        model: &M,
        input_shape: [usize; D],
        forward: F,
    ) -> Result<Self>
    where
        M: Module,
        F: FnOnce(&M, Tensor<D>) -> Tensor<O>,
    {
        Ok(Self::of_trace(&trace(model, input_shape, forward)?))
    }

    /// Count the ops of a trace.
    pub fn of_trace(trace: &Trace) -> Self {
        // Tensors computed from the input, and the parameter each parameter-only tensor holds.
        let mut data: HashSet<TensorId> = HashSet::from([trace.input()]);
        let mut origin: HashMap<TensorId, String> = HashMap::new();
        let param = |origin: &HashMap<TensorId, String>, id: TensorId| {
            trace
                .param_of(id)
                .map(|p| p.path.clone())
                .or_else(|| origin.get(&id).cloned())
        };
        let mut ops = Vec::new();
        for (index, op) in trace.operations().iter().enumerate() {
            // A tensor the forward pass creates (an RNN's initial state, a buffer) is data:
            // what is computed from it is counted, as the recurrent product on the initial
            // hidden state is.
            if let OperationIr::BaseFloat(
                BaseOperationIr::Zeros(c) | BaseOperationIr::Ones(c) | BaseOperationIr::Empty(c),
            ) = op
            {
                data.insert(c.out.id);
                continue;
            }
            if let OperationIr::NumericFloat(_, NumericOperationIr::Full(f)) = op {
                data.insert(f.out.id);
                continue;
            }
            let on_data_path = op.inputs().any(|t| data.contains(&t.id));
            if !on_data_path {
                // Parameter preprocessing: remember which parameter its outputs hold.
                if let Some(p) = op.inputs().find_map(|t| param(&origin, t.id)) {
                    for o in op.outputs() {
                        origin.insert(o.id, p.clone());
                    }
                }
                continue;
            }
            for o in op.outputs() {
                data.insert(o.id);
            }
            let cost = rules::cost(op, |lhs| data.contains(&lhs.id));
            let weight = cost
                .weight
                .filter(|w| !data.contains(&w.id))
                .and_then(|w| param(&origin, w.id).map(|p| (p, w.shape.num_elements() as u64)));
            // An op adding or scaling by a parameter (a bias add) belongs to its layer too.
            let param_path = weight.as_ref().map(|(p, _)| p.clone()).or_else(|| {
                op.inputs()
                    .filter(|t| !data.contains(&t.id))
                    .find_map(|t| param(&origin, t.id))
            });
            let macs_per_weight = match &weight {
                Some((_, n)) if *n > 0 && cost.kind.is_multiply_accumulate() => cost.macs / n,
                _ => 0,
            };
            ops.push(OpCount {
                index,
                op: op_name(op),
                kind: cost.kind,
                param: param_path,
                input_shape: cost
                    .input
                    .map(|t| t.shape.as_slice().to_vec())
                    .unwrap_or_default(),
                output_shape: cost
                    .output
                    .or_else(|| op.outputs().next())
                    .map(|t| t.shape.as_slice().to_vec())
                    .unwrap_or_default(),
                macs: cost.macs,
                flops: cost.flops,
                macs_per_weight,
            });
        }
        Self {
            input_shape: trace.input_shape().to_vec(),
            output_shape: trace.output_shape().to_vec(),
            ops,
        }
    }

    /// Total MACs in `convention`.
    pub fn macs(&self, convention: Convention) -> u64 {
        self.ops.iter().map(|o| o.macs(convention)).sum()
    }

    /// Total FLOPs in `convention`.
    pub fn flops(&self, convention: Convention) -> u64 {
        self.ops.iter().map(|o| o.flops(convention)).sum()
    }

    /// The same ops with zero weights doing no work: `nonzero` gives, per parameter path, how
    /// many of its elements are non-zero (parameters it does not name count as dense).
    /// The MACs of this count are the "MACs of unmasked weights" of a masked model.
    pub fn with_nonzero_weights(&self, nonzero: &HashMap<String, u64>) -> Self {
        let ops = self
            .ops
            .iter()
            .map(|op| match op.param.as_ref().and_then(|p| nonzero.get(p)) {
                Some(&n) => op.with_nonzero_weights(n),
                None => op.clone(),
            })
            .collect();
        Self {
            ops,
            ..self.clone()
        }
    }

    /// Per layer (module path), in order of first use: the summed MACs and FLOPs of its ops.
    /// Ops without a parameter are left out (see [`OpCounts::unattributed`]).
    pub fn layers(&self) -> Vec<LayerOps> {
        let mut layers: Vec<LayerOps> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for op in &self.ops {
            let Some(layer) = op.layer() else { continue };
            let i = *at.entry(layer).or_insert_with(|| {
                layers.push(LayerOps {
                    path: layer.to_string(),
                    kind: op.kind,
                    input_shape: op.input_shape.clone(),
                    output_shape: op.output_shape.clone(),
                    ops: Vec::new(),
                });
                layers.len() - 1
            });
            let entry = &mut layers[i];
            // The layer's kind and shapes are those of its main (multiply-accumulate) op.
            if op.kind.is_multiply_accumulate() && !entry.kind.is_multiply_accumulate() {
                entry.kind = op.kind;
                entry.input_shape = op.input_shape.clone();
                entry.output_shape = op.output_shape.clone();
            }
            entry.ops.push(op.clone());
        }
        layers
    }

    /// The ops that use no parameter (activations, pooling, residual adds, reshapes).
    pub fn unattributed(&self) -> impl Iterator<Item = &OpCount> {
        self.ops.iter().filter(|o| o.param.is_none())
    }
}

/// The ops of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerOps {
    /// Module path (`layer1.0.conv1.conv`).
    pub path: String,
    /// Kind of its main op.
    pub kind: OpKind,
    /// Data input shape of its main op.
    pub input_shape: Vec<usize>,
    /// Output shape of its main op.
    pub output_shape: Vec<usize>,
    /// Its ops (the main op, a bias add, ...).
    pub ops: Vec<OpCount>,
}

impl LayerOps {
    /// MACs in `convention`.
    pub fn macs(&self, convention: Convention) -> u64 {
        self.ops.iter().map(|o| o.macs(convention)).sum()
    }

    /// FLOPs in `convention`.
    pub fn flops(&self, convention: Convention) -> u64 {
        self.ops.iter().map(|o| o.flops(convention)).sum()
    }
}

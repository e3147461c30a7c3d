//! Dependency groups: which parameter dimensions must lose the same channels.
//!
//! Every channel of every traced activation is an *element*. A layer that makes new channels
//! (conv, linear, embedding) creates fresh elements; channel-preserving ops (norms,
//! activations, pooling, element-wise arithmetic, reshapes, concatenation, slicing, padding)
//! carry them along, and ops that combine tensors channel by channel (a residual add) merge
//! them. Parameter dimensions that read or write channels are coupled to their elements. A
//! *unit* is a set of merged elements: removing it removes one index from every coupled
//! dimension. A *group* is a set of units that share parameter dimensions (a conv's filters,
//! the BatchNorm after it, the next conv's input channels, everything joined by residual
//! adds), ranked together.
//!
//! Some channels cannot be removed without changing what the model computes, or without
//! changing a constant the module holds (a padding width, a convolution's `groups`); they are
//! *pinned* with the reason. An op whose channel behaviour is unknown is an error naming it,
//! unless declared a barrier (its input channels are then pinned).

use super::trace::Trace;
use crate::error::{PruneError, Result};
use burn::backend::capture::TensorId;
use burn::backend::ir::{
    ActivationOperationIr, BaseOperationIr, FloatOperationIr, ModuleOperationIr,
    NumericOperationIr, OperationIr, PadModeIr, TensorIr,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod analysis;
mod conv;
mod elementwise;
mod matmul;
mod modules;
mod rule;
mod shape;

pub use rule::{ChannelFlow, OpRule, OpRules};

/// One parameter dimension in a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    /// The parameter path.
    pub path: String,
    /// The dimension (Burn's layout: a conv weight's filters are axis 0, its input channels
    /// axis 1; a linear weight's inputs are axis 0, its outputs axis 1).
    pub axis: usize,
    /// For each index along the axis, the unit of the group it belongs to (a linear layer after
    /// a flatten maps `h·w` consecutive inputs to one unit).
    pub units: Vec<usize>,
}

/// A set of coupled parameter dimensions and the units they share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Number of units (channels) in the group.
    pub n_units: usize,
    /// The coupled parameter dimensions, in graph order.
    pub members: Vec<GroupMember>,
    /// Units that must be kept, with the reason.
    pub pinned: BTreeMap<usize, String>,
    /// Why removing this group's units is not exact, when the graph was built with
    /// [`GraphOptions::with_approximate_norms`] and a normalisation reads the channels
    /// together (a LayerNorm, an RMS norm, a GroupNorm's statistics): the pruned model then
    /// computes something close to, not equal to, the dense one, and fine-tuning should
    /// follow. Empty for exact groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approximate: Vec<String>,
}

impl Group {
    /// The first member's path: the layer that creates the group's channels.
    pub fn root(&self) -> &str {
        self.members.first().map_or("", |m| m.path.as_str())
    }

    /// Units that may be removed.
    pub fn prunable(&self) -> usize {
        self.n_units - self.pinned.len()
    }

    /// Whether removing units of this group changes what the model computes on the kept
    /// units (see [`approximate`](Self::approximate)).
    pub fn is_approximate(&self) -> bool {
        !self.approximate.is_empty()
    }
}

/// How the channels of a layer are pruned when a reshape splits them into blocks of equal
/// size (`[.., h·d] → [.., h, d]`): attention heads (`h` heads of dimension `d`) and a
/// GroupNorm's groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeadUnits {
    /// Whole blocks: one unit is a head (all its `d` channels, in the query, key and value
    /// projections and the output projection's inputs) or a GroupNorm group. Exact: what
    /// the other heads compute does not change. A key/value head shared by several query
    /// heads (grouped-query attention) is one unit with all of them.
    #[default]
    Heads,
    /// The same position in every block: one unit is a head dimension, removed from every
    /// head at once (the query and key dimension contracted in the scores, the value
    /// dimension carried to the output). Exact for attention. A GroupNorm's channels stay
    /// (its statistics mix the positions of a group).
    Dims,
}

/// Options for [`DependencyGraph::build`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphOptions {
    /// Op names (as in [`op_name`], e.g. `"Gather"`) treated as barriers: the channels of their
    /// inputs are pinned and their outputs carry no prunable channels.
    pub barriers: BTreeSet<String>,
    /// Keep every channel of grouped (and depthwise) convolutions. By default their channels
    /// are pruned a whole conv group at a time, which changes the conv's `groups`; Burn keeps
    /// `groups` as a module constant, so such a plan is applied with
    /// [`StructuralPlan::apply_with_constants`](super::StructuralPlan::apply_with_constants).
    #[serde(default)]
    pub pin_grouped_convs: bool,
    /// Rules of your own for ops the analysis does not know (or to replace a built-in rule),
    /// tried first, in order; see [`OpRule`]. Not serialised.
    #[serde(skip)]
    pub rules: OpRules,
    /// What one unit is when channels are split into heads or groups (see [`HeadUnits`]).
    #[serde(default)]
    pub head_units: HeadUnits,
    /// Let normalised widths be pruned: channels a LayerNorm, an RMS norm (or any mean over
    /// the channels) normalises together are not pinned, and their groups are marked
    /// [`approximate`](Group::approximate). Removing a channel then changes the statistic
    /// (the mean and variance over the remaining channels), so the pruned model is close to
    /// the dense one, not equal; fine-tune after pruning. Off by default: every plan is exact.
    #[serde(default)]
    pub approximate_norms: bool,
}

impl GraphOptions {
    /// Add a barrier op name.
    pub fn with_barrier(mut self, op: impl Into<String>) -> Self {
        self.barriers.insert(op.into());
        self
    }

    /// Keep every channel of grouped and depthwise convolutions (see
    /// [`pin_grouped_convs`](Self::pin_grouped_convs)).
    pub fn with_pinned_grouped_convs(mut self) -> Self {
        self.pin_grouped_convs = true;
        self
    }

    /// Prune heads by head dimension instead of whole heads (see [`HeadUnits`]).
    pub fn with_head_units(mut self, units: HeadUnits) -> Self {
        self.head_units = units;
        self
    }

    /// Let normalised widths be pruned, approximately (see
    /// [`approximate_norms`](Self::approximate_norms)).
    pub fn with_approximate_norms(mut self) -> Self {
        self.approximate_norms = true;
        self
    }

    /// Add a rule of your own for an op (see [`OpRule`]); rules are tried in the order added,
    /// before the built-in ones.
    pub fn with_rule(mut self, rule: impl OpRule + 'static) -> Self {
        self.rules.0.push(std::sync::Arc::new(rule));
        self
    }
}

/// The dependency groups of a traced model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyGraph {
    /// The groups, in graph order.
    pub groups: Vec<Group>,
    /// Shapes of all traced parameters, by path.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Grouped convolutions whose channels may be removed, by weight path.
    pub grouped_convs: BTreeMap<String, GroupedConv>,
}

/// A grouped convolution whose `groups` shrinks when its channels are removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupedConv {
    /// `groups` of the traced convolution.
    pub groups: usize,
    /// The weight axis holding all channels (`groups × per_group` entries).
    pub axis: usize,
    /// Entries of that axis per conv group.
    pub per_group: usize,
}

impl DependencyGraph {
    /// Analyse a trace.
    pub fn build(trace: &Trace, options: &GraphOptions) -> Result<Self> {
        let mut a = Analysis::new(trace, options);
        for (index, op) in trace.ops.iter().enumerate() {
            a.step(index, op)?;
        }
        if let Some(info) = a.info.get(&trace.output).cloned() {
            for &e in info.elems.iter() {
                a.pin(e, "a channel of the model output");
            }
        }
        Ok(a.finish())
    }

    /// The group containing `(path, axis)`, if any.
    pub fn group_of(&self, path: &str, axis: usize) -> Option<(usize, &Group)> {
        self.groups
            .iter()
            .enumerate()
            .find(|(_, g)| g.members.iter().any(|m| m.path == path && m.axis == axis))
    }
}

/// The name of an IR operation as used in messages and barriers: the innermost variant
/// (`Conv2d`, `Add`, `Reshape`, `Gather`, `Relu`, ...).
pub fn op_name(op: &OperationIr) -> String {
    let text = format!("{op:?}");
    // `Outer(Inner(..))`, `Outer(DType, Inner(..))` or `Outer(Struct { .. })`.
    let mut parts = text.splitn(3, '(');
    let outer = parts.next().unwrap_or_default();
    let inner = parts.next().unwrap_or_default();
    let inner = inner.rsplit(", ").next().unwrap_or_default().trim();
    if inner.is_empty() || inner.contains(' ') || inner.ends_with("Ir") {
        outer.to_string()
    } else {
        inner.to_string()
    }
}

/// Channel elements along one axis of a tensor.
#[derive(Clone, Debug)]
struct Info {
    axis: usize,
    elems: Vec<u32>,
}

/// The tensors of a convolution op (all conv IR structs have these fields).
struct ConvIo<'a> {
    x: &'a TensorIr,
    weight: &'a TensorIr,
    bias: Option<&'a TensorIr>,
    groups: usize,
    out: &'a TensorIr,
}

/// A tensor that is a parameter seen through shape-only ops (a mask, an added unit axis).
#[derive(Clone, Debug)]
struct Alias {
    param: usize,
    /// For each tensor axis, the parameter axis (`None` for inserted unit axes).
    axes: Vec<Option<usize>>,
}

struct Analysis<'a> {
    trace: &'a Trace,
    options: &'a GraphOptions,
    parent: Vec<u32>,
    pinned: Vec<Option<String>>,
    /// Why an element's channel is only approximately removable (a normalisation reads it).
    approximate: Vec<Option<String>>,
    origin: Vec<u32>,
    info: HashMap<TensorId, Info>,
    alias: HashMap<TensorId, Alias>,
    /// Tensors computed from a parameter in a way the analysis cannot follow.
    tainted: HashMap<TensorId, usize>,
    /// Constant fills (zeros, ones, a value, uninitialised buffers) and shape-only views of
    /// them: equal along every axis, so they shrink with any channels they meet (an LSTM's
    /// initial state, the buffer its outputs are written into).
    fills: std::collections::HashSet<TensorId>,
    /// (param, axis) -> elements, in coupling order.
    couplings: Vec<((usize, usize), Vec<u32>)>,
    coupling_index: HashMap<(usize, usize), usize>,
    last_param: Option<usize>,
    grouped: BTreeMap<String, GroupedConv>,
}

const NO_ORIGIN: u32 = u32::MAX;

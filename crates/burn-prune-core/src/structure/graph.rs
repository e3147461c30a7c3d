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
    /// [`StructuralPlan::apply_grouped`](super::StructuralPlan::apply_grouped).
    #[serde(default)]
    pub pin_grouped_convs: bool,
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
    origin: Vec<u32>,
    info: HashMap<TensorId, Info>,
    alias: HashMap<TensorId, Alias>,
    /// Tensors computed from a parameter in a way the analysis cannot follow.
    tainted: HashMap<TensorId, usize>,
    /// (param, axis) -> elements, in coupling order.
    couplings: Vec<((usize, usize), Vec<u32>)>,
    coupling_index: HashMap<(usize, usize), usize>,
    last_param: Option<usize>,
    grouped: BTreeMap<String, GroupedConv>,
}

const NO_ORIGIN: u32 = u32::MAX;

impl<'a> Analysis<'a> {
    fn new(trace: &'a Trace, options: &'a GraphOptions) -> Self {
        let alias = trace
            .param_ids
            .iter()
            .map(|(&id, &p)| {
                let rank = trace.params[p].shape.len();
                (
                    id,
                    Alias {
                        param: p,
                        axes: (0..rank).map(Some).collect(),
                    },
                )
            })
            .collect();
        Self {
            trace,
            options,
            parent: Vec::new(),
            pinned: Vec::new(),
            origin: Vec::new(),
            info: HashMap::new(),
            alias,
            tainted: HashMap::new(),
            couplings: Vec::new(),
            coupling_index: HashMap::new(),
            last_param: None,
            grouped: BTreeMap::new(),
        }
    }

    // ------------------------------------------------------------------ elements

    fn fresh(&mut self, n: usize, origin: Option<usize>) -> Vec<u32> {
        let start = self.parent.len() as u32;
        for i in 0..n as u32 {
            self.parent.push(start + i);
            self.pinned.push(None);
            self.origin.push(origin.map_or(NO_ORIGIN, |p| p as u32));
        }
        (start..start + n as u32).collect()
    }

    fn find(&mut self, mut e: u32) -> u32 {
        while self.parent[e as usize] != e {
            let up = self.parent[self.parent[e as usize] as usize];
            self.parent[e as usize] = up;
            e = up;
        }
        e
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (keep, gone) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[gone as usize] = keep;
        if self.pinned[keep as usize].is_none() {
            self.pinned[keep as usize] = self.pinned[gone as usize].take();
        }
        if self.origin[keep as usize] == NO_ORIGIN {
            self.origin[keep as usize] = self.origin[gone as usize];
        }
    }

    fn pin(&mut self, e: u32, reason: &str) {
        let r = self.find(e) as usize;
        if self.pinned[r].is_none() {
            self.pinned[r] = Some(reason.to_string());
        }
    }

    fn pin_all(&mut self, elems: &[u32], reason: &str) {
        for &e in elems {
            self.pin(e, reason);
        }
    }

    fn path(&self, p: usize) -> &str {
        &self.trace.params[p].path
    }

    fn near(&mut self, elems: Option<&[u32]>) -> String {
        if let Some(&e) = elems.and_then(|e| e.first()) {
            let r = self.find(e) as usize;
            let o = self.origin[r];
            if o != NO_ORIGIN {
                return self.path(o as usize).to_string();
            }
        }
        self.last_param.map_or_else(
            || "the model input".to_string(),
            |p| self.path(p).to_string(),
        )
    }

    fn unknown(
        &mut self,
        index: usize,
        op: &OperationIr,
        elems: Option<&[u32]>,
        reason: &str,
    ) -> PruneError {
        PruneError::UnknownChannelOp {
            index,
            op: op_name(op),
            near: self.near(elems),
            reason: reason.to_string(),
        }
    }

    // ------------------------------------------------------------------ parameters

    /// Couple `(param, axis)` to `elems` (one per index along the axis).
    fn couple(
        &mut self,
        index: usize,
        op: &OperationIr,
        param: usize,
        axis: usize,
        elems: &[u32],
    ) -> Result<()> {
        let size = self.trace.params[param].shape.get(axis).copied();
        if size != Some(elems.len()) {
            let reason = format!(
                "`{}` axis {axis} has {size:?} entries but {} channels reach it",
                self.path(param),
                elems.len()
            );
            return Err(self.unknown(index, op, Some(elems), &reason));
        }
        self.last_param = Some(param);
        match self.coupling_index.get(&(param, axis)) {
            Some(&i) => {
                let existing = self.couplings[i].1.clone();
                for (&a, &b) in existing.iter().zip(elems) {
                    self.union(a, b);
                }
            }
            None => {
                self.coupling_index
                    .insert((param, axis), self.couplings.len());
                self.couplings.push(((param, axis), elems.to_vec()));
            }
        }
        Ok(())
    }

    /// The parameter axis behind axis `axis` of tensor `t`, or an error if `t` is computed from
    /// a parameter in a way the analysis cannot follow.
    fn param_axis(
        &mut self,
        index: usize,
        op: &OperationIr,
        t: &TensorIr,
        axis: usize,
    ) -> Result<Option<(usize, usize)>> {
        if let Some(a) = self.alias.get(&t.id) {
            return Ok(a.axes.get(axis).copied().flatten().map(|pa| (a.param, pa)));
        }
        if let Some(&p) = self.tainted.get(&t.id) {
            let reason = format!(
                "parameter `{}` reaches it through an operation the analysis cannot follow",
                self.path(p)
            );
            return Err(self.unknown(index, op, None, &reason));
        }
        Ok(None)
    }

    fn is_param(&self, t: &TensorIr) -> bool {
        self.alias.contains_key(&t.id) || self.tainted.contains_key(&t.id)
    }

    // ------------------------------------------------------------------ ops

    fn step(&mut self, index: usize, op: &OperationIr) -> Result<()> {
        let name = op_name(op);
        if self.options.barriers.contains(&name) {
            let ins: Vec<TensorIr> = op.inputs().cloned().collect();
            for t in &ins {
                if let Some(i) = self.info.get(&t.id).cloned() {
                    self.pin_all(
                        &i.elems,
                        &format!("input of barrier `{name}` (op #{index})"),
                    );
                }
            }
            return Ok(());
        }
        match op {
            OperationIr::Init(_) | OperationIr::Drop(_) => Ok(()),
            OperationIr::Module(m) => self.module(index, op, m),
            OperationIr::Float(_, FloatOperationIr::Matmul(mm)) => {
                self.matmul(index, op, &mm.lhs, &mm.rhs, &mm.out)
            }
            OperationIr::Float(_, FloatOperationIr::Powf(b))
            | OperationIr::Float(_, FloatOperationIr::ArcTan2(b))
            | OperationIr::Float(_, FloatOperationIr::Hypot(b)) => {
                self.elementwise(index, op, &[&b.lhs, &b.rhs], &b.out)
            }
            OperationIr::Float(_, f) => self.float_unary(index, op, f),
            OperationIr::NumericFloat(_, n) => self.numeric(index, op, n),
            OperationIr::BaseFloat(b) => self.base(index, op, b),
            OperationIr::Activation(a) => self.activation(index, op, a),
            _ => self.fallback(index, op),
        }
    }

    /// An op the analysis has no rule for: fine if no prunable channel or parameter reaches it.
    fn fallback(&mut self, index: usize, op: &OperationIr) -> Result<()> {
        let ins: Vec<TensorIr> = op.inputs().cloned().collect();
        if let Some(i) = ins.iter().find_map(|t| self.info.get(&t.id).cloned()) {
            return Err(self.unknown(index, op, Some(&i.elems), "no rule for this operation"));
        }
        if let Some(p) = ins.iter().find_map(|t| {
            self.alias
                .get(&t.id)
                .map(|a| a.param)
                .or(self.tainted.get(&t.id).copied())
        }) {
            for o in op.outputs() {
                self.tainted.insert(o.id, p);
            }
        }
        Ok(())
    }

    /// Same shape in and out, channel by channel.
    fn pass(&mut self, input: &TensorIr, out: &TensorIr) {
        if let Some(i) = self.info.get(&input.id).cloned() {
            self.info.insert(out.id, i);
        } else if let Some(a) = self.alias.get(&input.id).cloned() {
            self.alias.insert(out.id, a);
        } else if let Some(&p) = self.tainted.get(&input.id) {
            self.tainted.insert(out.id, p);
        }
    }

    /// An op that keeps axis 1 (channels) and mixes only the other axes (pooling, resizing).
    fn spatial(
        &mut self,
        index: usize,
        op: &OperationIr,
        input: &TensorIr,
        out: &TensorIr,
    ) -> Result<()> {
        match self.info.get(&input.id).cloned() {
            Some(i) if i.axis == 1 && out.shape.as_slice().get(1) == Some(&i.elems.len()) => {
                self.info.insert(out.id, i);
                Ok(())
            }
            Some(i) => Err(self.unknown(index, op, Some(&i.elems), "channels are not on axis 1")),
            None => self.fallback(index, op),
        }
    }

    fn module(&mut self, index: usize, op: &OperationIr, m: &ModuleOperationIr) -> Result<()> {
        use ModuleOperationIr as M;
        // Every convolution op has the same fields; only the weight layout differs.
        macro_rules! conv {
            ($c:expr, $transposed:expr) => {
                self.conv(
                    index,
                    op,
                    ConvIo {
                        x: &$c.x,
                        weight: &$c.weight,
                        bias: $c.bias.as_ref(),
                        groups: $c.options.groups,
                        out: &$c.out,
                    },
                    $transposed,
                )
            };
        }
        match m {
            M::Conv1d(c) => conv!(c, false),
            M::Conv2d(c) => conv!(c, false),
            M::Conv3d(c) => conv!(c, false),
            M::ConvTranspose1d(c) => conv!(c, true),
            M::ConvTranspose2d(c) => conv!(c, true),
            M::ConvTranspose3d(c) => conv!(c, true),
            M::BatchNorm(b) => {
                let Some(i) = self.info.get(&b.x.id).cloned() else {
                    return Ok(());
                };
                if i.axis != 1 {
                    return Err(self.unknown(
                        index,
                        op,
                        Some(&i.elems),
                        "channels are not on axis 1",
                    ));
                }
                for t in [&b.gamma, &b.beta, &b.mean, &b.variance] {
                    if let Some((p, axis)) = self.param_axis(index, op, t, 0)? {
                        self.couple(index, op, p, axis, &i.elems)?;
                    }
                }
                self.info.insert(b.out.id, i);
                Ok(())
            }
            M::LayerNorm(l) => {
                let Some(i) = self.info.get(&l.input.id).cloned() else {
                    return Ok(());
                };
                let last = l.input.shape.as_slice().len() - 1;
                if i.axis == last {
                    self.pin_all(
                        &i.elems,
                        "normalised together by a LayerNorm (removing one changes the statistics)",
                    );
                    for t in std::iter::once(&l.gamma).chain(l.beta.as_ref()) {
                        if let Some((p, axis)) = self.param_axis(index, op, t, 0)? {
                            self.couple(index, op, p, axis, &i.elems)?;
                        }
                    }
                }
                self.info.insert(l.out.id, i);
                Ok(())
            }
            M::Linear(l) => self
                .matmul(index, op, &l.x, &l.weight, &l.out)
                .and_then(|_| {
                    if let (Some(b), Some(i)) = (&l.bias, self.info.get(&l.out.id).cloned())
                        && let Some((p, axis)) = self.param_axis(index, op, b, 0)?
                    {
                        self.couple(index, op, p, axis, &i.elems)?;
                    }
                    Ok(())
                }),
            M::Embedding(e) => {
                let d = *e.out.shape.as_slice().last().unwrap_or(&0);
                if let Some((p, axis)) = self.param_axis(index, op, &e.weights, 1)? {
                    let elems = self.fresh(d, Some(p));
                    self.couple(index, op, p, axis, &elems)?;
                    let axis = e.out.shape.as_slice().len() - 1;
                    self.info.insert(e.out.id, Info { axis, elems });
                }
                Ok(())
            }
            M::AvgPool1d(p) => self.spatial(index, op, &p.x, &p.out),
            M::AvgPool2d(p) => self.spatial(index, op, &p.x, &p.out),
            M::AdaptiveAvgPool1d(p) => self.spatial(index, op, &p.x, &p.out),
            M::AdaptiveAvgPool2d(p) => self.spatial(index, op, &p.x, &p.out),
            M::AdaptiveAvgPool3d(p) => self.spatial(index, op, &p.x, &p.out),
            M::MaxPool1d(p) => self.spatial(index, op, &p.x, &p.out),
            M::MaxPool2d(p) => self.spatial(index, op, &p.x, &p.out),
            M::MaxPool1dWithIndices(p) => self.spatial(index, op, &p.x, &p.out),
            M::MaxPool2dWithIndices(p) => self.spatial(index, op, &p.x, &p.out),
            M::Interpolate(p) => self.spatial(index, op, &p.x, &p.out),
            _ => self.fallback(index, op),
        }
    }

    fn conv(
        &mut self,
        index: usize,
        op: &OperationIr,
        io: ConvIo<'_>,
        transposed: bool,
    ) -> Result<()> {
        let ConvIo {
            x,
            weight,
            bias,
            groups,
            out,
        } = io;
        let (in_axis, out_axis) = if transposed { (0, 1) } else { (1, 0) };
        let w = self.param_axis(index, op, weight, out_axis)?;
        let w_in = self.param_axis(index, op, weight, in_axis)?;
        let c_in = x.shape.as_slice()[1];
        let c_out = out.shape.as_slice()[1];
        let input = self.info.get(&x.id).cloned();
        if let Some(i) = &input
            && i.axis != 1
        {
            return Err(self.unknown(index, op, Some(&i.elems), "channels are not on axis 1"));
        }
        let elems = self.fresh(c_out, w.map(|(p, _)| p));
        // The weight axis that reads input channels and the one that writes output channels.
        // A grouped conv holds all channels on one axis only (its inputs when transposed, its
        // filters otherwise); the other holds `channels / groups` entries per group and is
        // never cut.
        let (couple_in, couple_out) = match (groups > 1, transposed) {
            (false, _) => (true, true),
            (true, false) => (false, true),
            (true, true) => (true, false),
        };
        if groups > 1 {
            self.grouped_conv(&input, &elems, w, transposed, groups, c_in);
        }
        if couple_in && let (Some(i), Some((p, axis))) = (&input, w_in) {
            self.couple(index, op, p, axis, &i.elems)?;
        }
        if couple_out && let Some((p, axis)) = w {
            self.couple(index, op, p, axis, &elems)?;
        }
        if let Some(b) = bias
            && let Some((p, axis)) = self.param_axis(index, op, b, 0)?
        {
            self.couple(index, op, p, axis, &elems)?;
        }
        self.info.insert(out.id, Info { axis: 1, elems });
        Ok(())
    }

    /// A grouped convolution mixes channels only inside a group, and Burn's weight holds
    /// `channels / groups` entries per group on one axis: channels can only go a whole group
    /// at a time. Each group's input and output channels become one unit, and removing it
    /// lowers `groups` by one (recorded in [`DependencyGraph::grouped_convs`]).
    fn grouped_conv(
        &mut self,
        input: &Option<Info>,
        out: &[u32],
        w: Option<(usize, usize)>,
        transposed: bool,
        groups: usize,
        c_in: usize,
    ) {
        let path = w.map_or_else(
            || "a convolution".to_string(),
            |(p, _)| format!("`{}`", self.path(p)),
        );
        let pin_reason = if self.options.pin_grouped_convs {
            Some(format!(
                "a channel of grouped convolution {path} (grouped convolutions are pinned by the graph options)"
            ))
        } else if input.is_none() {
            Some(format!(
                "a channel of grouped convolution {path}, whose input channels cannot be removed"
            ))
        } else if w.is_none() {
            Some(format!(
                "a channel of grouped convolution {path}, whose weight is not a parameter"
            ))
        } else {
            None
        };
        let (ipg, opg) = (c_in / groups, out.len() / groups);
        for g in 0..groups {
            let first = out[g * opg];
            for &e in &out[g * opg + 1..(g + 1) * opg] {
                self.union(first, e);
            }
            if let Some(i) = input {
                for &e in &i.elems[g * ipg..(g + 1) * ipg] {
                    self.union(first, e);
                }
            }
        }
        if let Some(reason) = pin_reason {
            self.pin_all(out, &reason);
            if let Some(i) = input {
                self.pin_all(&i.elems, &reason);
            }
            return;
        }
        if let Some((p, _)) = w {
            // Axis 0 holds all channels in both layouts: the filters, or a transposed conv's
            // inputs.
            self.grouped.insert(
                self.path(p).to_string(),
                GroupedConv {
                    groups,
                    axis: 0,
                    per_group: if transposed { ipg } else { opg },
                },
            );
        }
    }

    fn matmul(
        &mut self,
        index: usize,
        op: &OperationIr,
        lhs: &TensorIr,
        rhs: &TensorIr,
        out: &TensorIr,
    ) -> Result<()> {
        let (lr, rr) = (lhs.shape.as_slice().len(), rhs.shape.as_slice().len());
        let or = out.shape.as_slice().len();
        let li = self.info.get(&lhs.id).cloned();
        let ri = self.info.get(&rhs.id).cloned();
        if self.is_param(rhs) && !self.is_param(lhs) {
            // x @ W: a linear layer. W's axis -2 reads x's last axis; axis -1 makes new channels.
            let w_in = self.param_axis(index, op, rhs, rr - 2)?;
            let w_out = self.param_axis(index, op, rhs, rr - 1)?;
            match &li {
                Some(i) if i.axis == lr - 1 => {
                    if let Some((p, axis)) = w_in {
                        self.couple(index, op, p, axis, &i.elems)?;
                    }
                }
                Some(i) => {
                    // Channels on another axis pass through; the new features are not tracked.
                    self.info.insert(
                        out.id,
                        Info {
                            axis: i.axis + or - lr,
                            elems: i.elems.clone(),
                        },
                    );
                    return Ok(());
                }
                None => {}
            }
            if let Some((p, axis)) = w_out {
                let n = out.shape.as_slice()[or - 1];
                let elems = self.fresh(n, Some(p));
                self.couple(index, op, p, axis, &elems)?;
                self.info.insert(
                    out.id,
                    Info {
                        axis: or - 1,
                        elems,
                    },
                );
            }
            return Ok(());
        }
        if self.is_param(lhs) || self.is_param(rhs) {
            let elems = li.as_ref().or(ri.as_ref()).map(|i| i.elems.clone());
            return Err(self.unknown(
                index,
                op,
                elems.as_deref(),
                "a parameter on the left of a matrix product",
            ));
        }
        // Two activations: the contracted axes are merged; the others pass through.
        match (&li, &ri) {
            (Some(a), Some(b)) if a.axis == lr - 1 && b.axis == rr - 2 => {
                for (&x, &y) in a.elems.clone().iter().zip(&b.elems) {
                    self.union(x, y);
                }
            }
            (Some(a), _) if a.axis == lr - 1 => self.pin_all(
                &a.elems.clone(),
                "contracted in a matrix product with untracked values",
            ),
            (_, Some(b)) if b.axis == rr - 2 => self.pin_all(
                &b.elems.clone(),
                "contracted in a matrix product with untracked values",
            ),
            _ => {}
        }
        let from_l = li.filter(|a| a.axis != lr - 1).map(|a| Info {
            axis: a.axis + or - lr,
            elems: a.elems,
        });
        let from_r = ri.filter(|b| b.axis == rr - 1).map(|b| Info {
            axis: or - 1,
            elems: b.elems,
        });
        match (from_l, from_r) {
            (Some(a), Some(b)) => Err(self.unknown(
                index,
                op,
                Some(&a.elems),
                &format!(
                    "channels on two axes of the output ({} and {})",
                    a.axis, b.axis
                ),
            )),
            (Some(i), None) | (None, Some(i)) => {
                self.info.insert(out.id, i);
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    /// Element-wise combination of `inputs` (broadcasting, aligned from the right).
    fn elementwise(
        &mut self,
        index: usize,
        op: &OperationIr,
        inputs: &[&TensorIr],
        out: &TensorIr,
    ) -> Result<()> {
        let or = out.shape.as_slice().len();
        let shift = |t: &TensorIr| or - t.shape.as_slice().len();
        // The channel axis of the output, from the first input that carries channels.
        let mut chosen: Option<Info> = None;
        for t in inputs {
            if let Some(i) = self.info.get(&t.id).cloned() {
                let axis = i.axis + shift(t);
                match &chosen {
                    None => {
                        chosen = Some(Info {
                            axis,
                            elems: i.elems,
                        })
                    }
                    Some(c) if c.axis == axis => {
                        if c.elems.len() != i.elems.len() {
                            return Err(self.unknown(
                                index,
                                op,
                                Some(&i.elems),
                                "inputs broadcast along their channels",
                            ));
                        }
                        for (&a, &b) in c.elems.clone().iter().zip(&i.elems) {
                            self.union(a, b);
                        }
                    }
                    Some(c) => {
                        let reason = format!(
                            "inputs carry channels on different axes ({} and {axis})",
                            c.axis
                        );
                        return Err(self.unknown(index, op, Some(&i.elems), &reason));
                    }
                }
            }
        }
        let Some(c) = chosen else {
            // An activation without tracked channels (scaled by a parameter, say) stays an
            // untracked activation: the parameter is combined with channels that cannot be
            // followed, so it is coupled to nothing and never cut.
            if inputs
                .iter()
                .any(|t| !self.is_param(t) && t.shape == out.shape)
            {
                return Ok(());
            }
            // No channels: a parameter seen through a mask or a scale is still that parameter.
            let params: Vec<&TensorIr> = inputs
                .iter()
                .copied()
                .filter(|t| self.is_param(t))
                .collect();
            if let [t] = params.as_slice()
                && let Some(a) = self.alias.get(&t.id).cloned()
                && t.shape == out.shape
            {
                self.alias.insert(out.id, a);
            } else if let Some(t) = params.first() {
                let p = self
                    .alias
                    .get(&t.id)
                    .map(|a| a.param)
                    .or(self.tainted.get(&t.id).copied());
                if let Some(p) = p {
                    self.tainted.insert(out.id, p);
                }
            }
            return Ok(());
        };
        for t in inputs {
            if self.info.contains_key(&t.id) {
                continue;
            }
            let Some(local) = c.axis.checked_sub(shift(t)) else {
                continue; // broadcast from a lower rank: no channel axis
            };
            if t.shape.as_slice()[local] == 1 {
                continue; // broadcast along the channels
            }
            if self.is_param(t) {
                match self.param_axis(index, op, t, local)? {
                    Some((p, axis)) => self.couple(index, op, p, axis, &c.elems)?,
                    None => {
                        return Err(self.unknown(
                            index,
                            op,
                            Some(&c.elems),
                            "a parameter broadcast along the channels",
                        ));
                    }
                }
            } else {
                self.pin_all(&c.elems.clone(), &format!("combined channel by channel with values that cannot shrink (`{}`, op #{index})", op_name(op)));
            }
        }
        self.info.insert(out.id, c);
        Ok(())
    }

    fn float_unary(&mut self, index: usize, op: &OperationIr, f: &FloatOperationIr) -> Result<()> {
        use FloatOperationIr as F;
        match f {
            F::Exp(u)
            | F::Log(u)
            | F::Log1p(u)
            | F::Erf(u)
            | F::Sqrt(u)
            | F::Cos(u)
            | F::Cosh(u)
            | F::Sin(u)
            | F::Sinh(u)
            | F::Tan(u)
            | F::Tanh(u)
            | F::ArcCos(u)
            | F::ArcCosh(u)
            | F::ArcSin(u)
            | F::ArcSinh(u)
            | F::ArcTan(u)
            | F::ArcTanh(u)
            | F::Round(u)
            | F::Floor(u)
            | F::Ceil(u)
            | F::Trunc(u)
            | F::Recip(u)
            | F::IsNan(u)
            | F::IsInf(u) => {
                self.pass(&u.input, &u.out);
                Ok(())
            }
            F::PowfScalar(s) => {
                self.pass(&s.lhs, &s.out);
                Ok(())
            }
            F::IntoInt(c) => {
                self.pass(&c.input, &c.out);
                Ok(())
            }
            _ => self.fallback(index, op),
        }
    }

    fn activation(
        &mut self,
        index: usize,
        op: &OperationIr,
        a: &ActivationOperationIr,
    ) -> Result<()> {
        use ActivationOperationIr as A;
        match a {
            A::Relu(u) | A::Gelu(u) | A::Sigmoid(u) | A::LogSigmoid(u) => {
                self.pass(&u.input, &u.out);
                Ok(())
            }
            A::LeakyRelu(s) => {
                self.pass(&s.lhs, &s.out);
                Ok(())
            }
            A::HardSigmoid(h) => {
                self.pass(&h.tensor, &h.out);
                Ok(())
            }
            A::PRelu(b) => self.elementwise(index, op, &[&b.lhs, &b.rhs], &b.out),
            A::Softmax(d) | A::LogSoftmax(d) | A::Softmin(d) => {
                if let Some(i) = self.info.get(&d.input.id).cloned()
                    && i.axis == d.axis
                {
                    self.pin_all(&i.elems, "normalised together by a softmax");
                }
                self.pass(&d.input, &d.out);
                Ok(())
            }
            _ => self.fallback(index, op),
        }
    }

    fn numeric(&mut self, index: usize, op: &OperationIr, n: &NumericOperationIr) -> Result<()> {
        use NumericOperationIr as N;
        match n {
            N::Add(b)
            | N::Sub(b)
            | N::Mul(b)
            | N::Div(b)
            | N::Rem(b)
            | N::Powi(b)
            | N::Greater(b)
            | N::GreaterEqual(b)
            | N::Lower(b)
            | N::LowerEqual(b) => self.elementwise(index, op, &[&b.lhs, &b.rhs], &b.out),
            N::AddScalar(s)
            | N::SubScalar(s)
            | N::MulScalar(s)
            | N::DivScalar(s)
            | N::RemScalar(s)
            | N::PowiScalar(s)
            | N::GreaterElem(s)
            | N::GreaterEqualElem(s)
            | N::LowerElem(s)
            | N::LowerEqualElem(s)
            | N::ClampMin(s)
            | N::ClampMax(s) => {
                self.pass(&s.lhs, &s.out);
                Ok(())
            }
            N::Abs(u) | N::Neg(u) | N::Sign(u) => {
                self.pass(&u.input, &u.out);
                Ok(())
            }
            N::Clamp(c) => {
                self.pass(&c.tensor, &c.out);
                Ok(())
            }
            N::SumDim(r) => self.reduce(index, op, &r.input, &r.out, &[r.axis], true),
            N::MeanDim(r)
            | N::ProdDim(r)
            | N::MaxDim(r)
            | N::MinDim(r)
            | N::MaxAbsDim(r)
            | N::ArgMax(r)
            | N::ArgMin(r) => self.reduce(index, op, &r.input, &r.out, &[r.axis], false),
            N::SumDims(r) => self.reduce(index, op, &r.input, &r.out, &r.axes, true),
            N::Sum(r) => {
                let axes: Vec<usize> = (0..r.input.shape.as_slice().len()).collect();
                self.reduce(index, op, &r.input, &r.out, &axes, true)
            }
            N::Mean(r) | N::Prod(r) | N::Max(r) | N::Min(r) | N::MaxAbs(r) => {
                let axes: Vec<usize> = (0..r.input.shape.as_slice().len()).collect();
                self.reduce(index, op, &r.input, &r.out, &axes, false)
            }
            N::Pad(p) => self.pad(index, op, &p.input, &p.out, &p.padding, &p.mode),
            _ => self.fallback(index, op),
        }
    }

    /// A reduction over `axes`. Summing over the channels consumes them (a removed channel
    /// contributes zero either way); any other reduction over them pins them.
    fn reduce(
        &mut self,
        index: usize,
        op: &OperationIr,
        input: &TensorIr,
        out: &TensorIr,
        axes: &[usize],
        sum: bool,
    ) -> Result<()> {
        let Some(i) = self.info.get(&input.id).cloned() else {
            return self.fallback(index, op);
        };
        if !axes.contains(&i.axis) {
            if out.shape.as_slice().len() == input.shape.as_slice().len() {
                self.info.insert(out.id, i);
                return Ok(());
            }
            return Err(self.unknown(index, op, Some(&i.elems), "the reduction drops axes"));
        }
        if !sum {
            self.pin_all(
                &i.elems,
                &format!("reduced together by `{}` (op #{index})", op_name(op)),
            );
        }
        Ok(())
    }

    fn pad(
        &mut self,
        index: usize,
        op: &OperationIr,
        input: &TensorIr,
        out: &TensorIr,
        padding: &[(usize, usize)],
        mode: &PadModeIr,
    ) -> Result<()> {
        let Some(i) = self.info.get(&input.id).cloned() else {
            return self.fallback(index, op);
        };
        let rank = input.shape.as_slice().len();
        // One pair per dimension, aligned to the last dimensions if fewer are given.
        let pair = i
            .axis
            .checked_sub(rank - padding.len())
            .map(|k| padding[k])
            .unwrap_or((0, 0));
        if pair == (0, 0) {
            self.info.insert(out.id, i);
            return Ok(());
        }
        if !matches!(mode, PadModeIr::Constant(_)) {
            return Err(self.unknown(index, op, Some(&i.elems), "padding copies channels"));
        }
        let reason = format!(
            "a constant channel added by padding (op #{index}); its width is fixed in the model"
        );
        let before = self.fresh(pair.0, None);
        let after = self.fresh(pair.1, None);
        self.pin_all(&before, &reason);
        self.pin_all(&after, &reason);
        let elems = [before, i.elems, after].concat();
        self.info.insert(
            out.id,
            Info {
                axis: i.axis,
                elems,
            },
        );
        Ok(())
    }

    fn base(&mut self, index: usize, op: &OperationIr, b: &BaseOperationIr) -> Result<()> {
        use BaseOperationIr as B;
        match b {
            B::Reshape(r) => self.reshape(index, &r.input, &r.out),
            B::SwapDims(s) => {
                let mut axes: Vec<usize> = (0..s.input.shape.as_slice().len()).collect();
                axes.swap(s.dim1, s.dim2);
                self.permute(&s.input, &s.out, &axes);
                Ok(())
            }
            B::Permute(p) => {
                self.permute(&p.input, &p.out, &p.axes);
                Ok(())
            }
            B::Expand(e) => {
                let shift = e.out.shape.as_slice().len() - e.input.shape.as_slice().len();
                if let Some(i) = self.info.get(&e.input.id).cloned() {
                    self.info.insert(
                        e.out.id,
                        Info {
                            axis: i.axis + shift,
                            elems: i.elems,
                        },
                    );
                } else if let Some(a) = self.alias.get(&e.input.id).cloned() {
                    let axes = std::iter::repeat_n(None, shift).chain(a.axes).collect();
                    self.alias.insert(
                        e.out.id,
                        Alias {
                            param: a.param,
                            axes,
                        },
                    );
                } else if let Some(&p) = self.tainted.get(&e.input.id) {
                    self.tainted.insert(e.out.id, p);
                }
                Ok(())
            }
            B::Slice(s) => {
                let Some(i) = self.info.get(&s.tensor.id).cloned() else {
                    return self.fallback(index, op);
                };
                let Some(range) = s.ranges.get(i.axis) else {
                    self.info.insert(s.out.id, i);
                    return Ok(());
                };
                let (r, step) = range.to_range_and_step(i.elems.len());
                if !(r.start == 0 && r.end == i.elems.len() && step == 1) {
                    // The range is a constant of the forward code: removing any channel would
                    // shift what it selects.
                    self.pin_all(
                        &i.elems,
                        &format!("sliced along the channel axis by a constant range (`Slice` op #{index}, a split or narrow)"),
                    );
                }
                let mut picked: Vec<usize> = r.collect();
                if step < 0 {
                    picked.reverse();
                }
                let elems: Vec<u32> = picked
                    .iter()
                    .step_by(step.unsigned_abs().max(1))
                    .map(|&k| i.elems[k])
                    .collect();
                self.info.insert(
                    s.out.id,
                    Info {
                        axis: i.axis,
                        elems,
                    },
                );
                Ok(())
            }
            B::Cat(c) => self.cat(index, op, &c.tensors, c.dim, &c.out),
            B::Flip(f) => {
                if let Some(mut i) = self.info.get(&f.input.id).cloned() {
                    if f.axes.contains(&i.axis) {
                        i.elems.reverse();
                    }
                    self.info.insert(f.out.id, i);
                    Ok(())
                } else {
                    self.fallback(index, op)
                }
            }
            B::RepeatDim(r) => {
                if let Some(mut i) = self.info.get(&r.tensor.id).cloned() {
                    if r.dim == i.axis {
                        i.elems = i.elems.repeat(r.times);
                    }
                    self.info.insert(r.out.id, i);
                    Ok(())
                } else {
                    self.fallback(index, op)
                }
            }
            B::MaskFill(m) => {
                // A mask (a pruning reparameterization, a causal mask): value-wise, same shape.
                if self.info.contains_key(&m.mask.id) {
                    return self.fallback(index, op);
                }
                self.pass(&m.tensor, &m.out);
                Ok(())
            }
            B::MaskWhere(m) => self.elementwise(index, op, &[&m.tensor, &m.value], &m.out),
            B::Cast(c) => {
                self.pass(&c.input, &c.out);
                Ok(())
            }
            B::Equal(e) | B::NotEqual(e) => self.elementwise(index, op, &[&e.lhs, &e.rhs], &e.out),
            B::EqualElem(s) | B::NotEqualElem(s) => {
                self.pass(&s.lhs, &s.out);
                Ok(())
            }
            B::Zeros(_) | B::Ones(_) | B::Empty(_) => Ok(()),
            _ => self.fallback(index, op),
        }
    }

    fn permute(&mut self, input: &TensorIr, out: &TensorIr, axes: &[usize]) {
        // Output axis k is input axis axes[k].
        if let Some(i) = self.info.get(&input.id).cloned() {
            if let Some(k) = axes.iter().position(|&a| a == i.axis) {
                self.info.insert(
                    out.id,
                    Info {
                        axis: k,
                        elems: i.elems,
                    },
                );
            }
        } else if let Some(a) = self.alias.get(&input.id).cloned() {
            let mapped = axes
                .iter()
                .map(|&k| a.axes.get(k).copied().flatten())
                .collect();
            self.alias.insert(
                out.id,
                Alias {
                    param: a.param,
                    axes: mapped,
                },
            );
        } else if let Some(&p) = self.tainted.get(&input.id) {
            self.tainted.insert(out.id, p);
        }
    }

    fn reshape(&mut self, index: usize, input: &TensorIr, out: &TensorIr) -> Result<()> {
        let (ins, outs) = (input.shape.as_slice(), out.shape.as_slice());
        if let Some(a) = self.alias.get(&input.id).cloned() {
            // Only inserting or removing unit axes keeps a parameter recognisable.
            let kept_in: Vec<usize> = (0..ins.len()).filter(|&k| ins[k] != 1).collect();
            let kept_out: Vec<usize> = (0..outs.len()).filter(|&k| outs[k] != 1).collect();
            if kept_in.len() == kept_out.len()
                && kept_in
                    .iter()
                    .zip(&kept_out)
                    .all(|(&x, &y)| ins[x] == outs[y])
            {
                let mut axes = vec![None; outs.len()];
                for (&x, &y) in kept_in.iter().zip(&kept_out) {
                    axes[y] = a.axes[x];
                }
                self.alias.insert(
                    out.id,
                    Alias {
                        param: a.param,
                        axes,
                    },
                );
            } else {
                self.tainted.insert(out.id, a.param);
            }
            return Ok(());
        }
        if let Some(&p) = self.tainted.get(&input.id) {
            self.tainted.insert(out.id, p);
            return Ok(());
        }
        let Some(i) = self.info.get(&input.id).cloned() else {
            return Ok(());
        };
        let c = i.elems.len();
        let s_a: usize = ins[i.axis + 1..].iter().product();
        // The output axis whose span of the flat index holds the whole channel axis.
        let found = (0..outs.len()).find(|&b| {
            let ob: usize = outs[b + 1..].iter().product();
            ob <= s_a && s_a.is_multiple_of(ob) && (ob * outs[b]).is_multiple_of(s_a * c)
        });
        let Some(b) = found else {
            // The channels are split and mixed with other axes (GroupNorm's grouping): what
            // follows cannot be followed per channel, so they stay, and the result carries no
            // prunable channels.
            self.pin_all(
                &i.elems,
                &format!("reshaped together with other axes (`Reshape` op #{index}, e.g. a GroupNorm's grouping)"),
            );
            return Ok(());
        };
        let ob: usize = outs[b + 1..].iter().product();
        let elems = (0..outs[b]).map(|j| i.elems[(j * ob / s_a) % c]).collect();
        self.info.insert(out.id, Info { axis: b, elems });
        Ok(())
    }

    fn cat(
        &mut self,
        index: usize,
        op: &OperationIr,
        tensors: &[TensorIr],
        dim: usize,
        out: &TensorIr,
    ) -> Result<()> {
        let infos: Vec<Option<Info>> = tensors
            .iter()
            .map(|t| self.info.get(&t.id).cloned())
            .collect();
        let Some(first) = infos.iter().flatten().next().cloned() else {
            return self.fallback(index, op);
        };
        if first.axis == dim {
            let reason =
                format!("a channel concatenated from values that cannot shrink (op #{index})");
            let mut elems = Vec::new();
            for (t, i) in tensors.iter().zip(&infos) {
                match i {
                    Some(i) if i.axis == dim => elems.extend(&i.elems),
                    Some(i) => {
                        return Err(self.unknown(
                            index,
                            op,
                            Some(&i.elems),
                            "inputs carry channels on different axes",
                        ));
                    }
                    None => {
                        let fresh = self.fresh(t.shape.as_slice()[dim], None);
                        self.pin_all(&fresh, &reason);
                        elems.extend(fresh);
                    }
                }
            }
            self.info.insert(out.id, Info { axis: dim, elems });
            return Ok(());
        }
        let refs: Vec<&TensorIr> = tensors.iter().collect();
        self.elementwise(index, op, &refs, out)
    }

    // ------------------------------------------------------------------ result

    fn finish(mut self) -> DependencyGraph {
        // Units are roots of merged elements; groups are units sharing a parameter dimension.
        let couplings = std::mem::take(&mut self.couplings);
        let mut group_parent: HashMap<u32, u32> = HashMap::new();
        fn gfind(p: &mut HashMap<u32, u32>, mut x: u32) -> u32 {
            while let Some(&up) = p.get(&x) {
                if up == x {
                    break;
                }
                x = up;
            }
            x
        }
        let rooted: Vec<Vec<u32>> = couplings
            .iter()
            .map(|(_, elems)| elems.iter().map(|&e| self.find(e)).collect())
            .collect();
        for roots in &rooted {
            for &r in roots {
                group_parent.entry(r).or_insert(r);
            }
            if let Some(&first) = roots.first() {
                let a = gfind(&mut group_parent, first);
                for &r in &roots[1..] {
                    let b = gfind(&mut group_parent, r);
                    if a != b {
                        group_parent.insert(b, a);
                    }
                }
            }
        }
        let mut group_of_root: HashMap<u32, usize> = HashMap::new();
        let mut groups: Vec<(Group, HashMap<u32, usize>)> = Vec::new();
        for (((param, axis), _), roots) in couplings.iter().zip(&rooted) {
            let Some(&first) = roots.first() else {
                continue;
            };
            let g_root = gfind(&mut group_parent, first);
            let gi = *group_of_root.entry(g_root).or_insert_with(|| {
                groups.push((
                    Group {
                        n_units: 0,
                        members: Vec::new(),
                        pinned: BTreeMap::new(),
                    },
                    HashMap::new(),
                ));
                groups.len() - 1
            });
            let (group, units) = &mut groups[gi];
            let mut member_units = Vec::with_capacity(roots.len());
            for &r in roots {
                let next = units.len();
                let u = *units.entry(r).or_insert(next);
                if u == next {
                    group.n_units += 1;
                    if let Some(reason) = &self.pinned[r as usize] {
                        group.pinned.insert(u, reason.clone());
                    }
                }
                member_units.push(u);
            }
            group.members.push(GroupMember {
                path: self.trace.params[*param].path.clone(),
                axis: *axis,
                units: member_units,
            });
        }
        DependencyGraph {
            groups: groups.into_iter().map(|(g, _)| g).collect(),
            grouped_convs: std::mem::take(&mut self.grouped),
            shapes: self
                .trace
                .params
                .iter()
                .map(|p| (p.path.clone(), p.shape.clone()))
                .collect(),
        }
    }
}

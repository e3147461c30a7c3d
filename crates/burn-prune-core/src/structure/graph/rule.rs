//! The graph's extension point: a rule of your own for an op the analysis does not know.
//!
//! The dependency graph follows every op Burn's IR records with built-in rules (one file per
//! op family). An op it has no rule for is an error naming it ([`PruneError::UnknownChannelOp`]),
//! or a barrier when declared one. An [`OpRule`] says what such an op does with channels, in
//! terms of the [`ChannelFlow`] it is given: pass them through, merge them, move them to
//! another axis, or pin them. Rules are tried before the built-in ones, in the order they were
//! added to [`GraphOptions`](super::GraphOptions), so a rule can also replace a built-in one.

use super::{Analysis, Info};
use crate::error::{PruneError, Result};
use burn::backend::ir::{OperationIr, TensorIr};
use std::sync::Arc;

/// How one kind of op moves channels: an extension of the dependency graph, as a
/// [`Criterion`](crate::Criterion) extends the pruner.
///
/// `apply` looks at [`ChannelFlow::op`] and either handles it (returns `Ok(true)`, having
/// said where the channels of its inputs go) or leaves it to the next rule and the built-in
/// ones (`Ok(false)`). Outputs it says nothing about carry no channels: the layers after them
/// start fresh ones, and nothing couples across the op.
///
/// ```
/// use burn_prune_core::structure::{ChannelFlow, GraphOptions, OpRule, ir};
///
/// /// A cumulative sum along a spatial axis keeps every channel where it is.
/// #[derive(Debug)]
/// struct SpatialCumSum;
///
/// impl OpRule for SpatialCumSum {
///     fn name(&self) -> String { "spatial cumsum".into() }
///     fn apply(&self, flow: &mut ChannelFlow<'_, '_>) -> burn_prune_core::Result<bool> {
///         let ir::OperationIr::NumericFloat(_, ir::NumericOperationIr::CumSum(c)) = flow.op() else {
///             return Ok(false);
///         };
///         let (input, out, axis) = (c.input.clone(), c.out.clone(), c.axis);
///         match flow.channel_axis(&input) {
///             Some(ch) if ch == axis => flow.pin(&input, "summed over its channels"),
///             _ => flow.pass(&input, &out)?,
///         }
///         Ok(true)
///     }
/// }
///
/// let options = GraphOptions::default().with_rule(SpatialCumSum);
/// # let _ = options;
/// ```
pub trait OpRule: Send + Sync + std::fmt::Debug {
    /// A short name, used in messages and to compare options.
    fn name(&self) -> String;

    /// Handle the op of `flow` (`Ok(true)`) or leave it to the other rules (`Ok(false)`).
    fn apply(&self, flow: &mut ChannelFlow<'_, '_>) -> Result<bool>;
}

/// The op a rule is asked about, and what it may say about its channels.
pub struct ChannelFlow<'r, 'a> {
    pub(super) analysis: &'r mut Analysis<'a>,
    pub(super) index: usize,
    pub(super) op: &'r OperationIr,
}

impl ChannelFlow<'_, '_> {
    /// The op (Burn's IR).
    pub fn op(&self) -> &OperationIr {
        self.op
    }

    /// Its position in the trace.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The axis of `t` that carries tracked channels, if any (none for the model input, a
    /// parameter, or an activation no layer's channels reach).
    pub fn channel_axis(&self, t: &TensorIr) -> Option<usize> {
        self.analysis.info.get(&t.id).map(|i| i.axis)
    }

    /// How many channels `t` carries (0 when it carries none).
    pub fn channel_count(&self, t: &TensorIr) -> usize {
        self.analysis.info.get(&t.id).map_or(0, |i| i.elems.len())
    }

    /// `out` carries `input`'s channels on the same axis, index for index (an element-wise
    /// function, a cumulative op along another axis). A parameter seen through the op stays
    /// that parameter. Nothing happens when `input` carries no channels.
    ///
    /// Errors: `out` does not have as many entries on that axis.
    pub fn pass(&mut self, input: &TensorIr, out: &TensorIr) -> Result<()> {
        match self.channel_axis(input) {
            Some(axis) => self.pass_to_axis(input, out, axis),
            None => {
                self.analysis.pass(input, out);
                Ok(())
            }
        }
    }

    /// `out` carries `input`'s channels, index for index, on its axis `axis` (a transpose
    /// or a permutation moved them). Nothing happens when `input` carries no channels.
    ///
    /// Errors: `out` has no such axis or a different number of entries on it.
    pub fn pass_to_axis(&mut self, input: &TensorIr, out: &TensorIr, axis: usize) -> Result<()> {
        let Some(info) = self.analysis.info.get(&input.id).cloned() else {
            return Ok(());
        };
        if out.shape.as_slice().get(axis) != Some(&info.elems.len()) {
            let reason = format!(
                "a rule moves {} channels to axis {axis} of an output of shape {:?}",
                info.elems.len(),
                out.shape.as_slice()
            );
            return Err(self.unknown(&reason));
        }
        self.analysis.info.insert(
            out.id,
            Info {
                axis,
                elems: info.elems,
            },
        );
        Ok(())
    }

    /// The inputs are combined channel by channel into `out` (as a residual add): their
    /// channels merge, so they are removed together, and `out` carries them.
    ///
    /// Errors: the inputs carry channels on different axes or in different numbers.
    pub fn combine(&mut self, inputs: &[&TensorIr], out: &TensorIr) -> Result<()> {
        self.analysis.elementwise(self.index, self.op, inputs, out)
    }

    /// The channels of `t` cannot be removed (the op reads them as a whole): pinned, with the
    /// reason shown in the graph's groups.
    pub fn pin(&mut self, t: &TensorIr, reason: &str) {
        if let Some(info) = self.analysis.info.get(&t.id).cloned() {
            let reason = format!("{reason} (op #{})", self.index);
            self.analysis.pin_all(&info.elems, &reason);
        }
    }

    /// An [`PruneError::UnknownChannelOp`] for this op, naming it, the nearest parameter and
    /// `reason`.
    pub fn unknown(&mut self, reason: &str) -> PruneError {
        let elems = self
            .op
            .inputs()
            .find_map(|t| self.analysis.info.get(&t.id).map(|i| i.elems.clone()));
        self.analysis
            .unknown(self.index, self.op, elems.as_deref(), reason)
    }
}

/// The rules added to [`GraphOptions`](super::GraphOptions), in order. Compared and printed
/// by name; not serialised (a rule is code).
#[derive(Clone, Default)]
pub struct OpRules(pub(super) Vec<Arc<dyn OpRule>>);

impl OpRules {
    /// The rules, in the order they are tried.
    pub fn iter(&self) -> impl Iterator<Item = &dyn OpRule> {
        self.0.iter().map(|r| r.as_ref())
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn names(&self) -> Vec<String> {
        self.0.iter().map(|r| r.name()).collect()
    }
}

impl std::fmt::Debug for OpRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl PartialEq for OpRules {
    fn eq(&self, other: &Self) -> bool {
        self.names() == other.names()
    }
}

impl Eq for OpRules {}

//! How the size of every counted op follows the units each dependency group keeps.

use crate::count::{OpCount, OpCounts, OpKind};
use burn_prune_core::structure::DependencyGraph;
use std::collections::HashMap;

/// How one group scales a dimension: of the dimension's indices, `pinned` belong to units the
/// graph pins and `free` to units that may go.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Share {
    /// The group.
    pub group: usize,
    /// Indices on pinned units.
    pub pinned: usize,
    /// Indices on free units.
    pub free: usize,
}

/// The groups whose kept units scale one dimension of an op. Their kept fractions multiply
/// (an axis split into heads × head dimensions follows both groups); within a group, the
/// removed units are taken to be free ones spread evenly over the dimension's free indices
/// (exact when each free unit holds as many indices, as channels and heads do).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Scale(Vec<Share>);

impl Scale {
    /// The fraction of the dimension kept when group `g` keeps `kept[g]` of its units, of
    /// which `pinned[g]` are pinned.
    pub fn fraction(&self, kept: &[usize], units: &GroupUnits) -> f64 {
        self.0
            .iter()
            .map(|s| {
                let (n, pinned) = (units.n[s.group], units.pinned[s.group]);
                let free_kept = if n > pinned {
                    kept[s.group].saturating_sub(pinned) as f64 / (n - pinned) as f64
                } else {
                    1.0
                };
                let total = (s.pinned + s.free).max(1) as f64;
                (s.pinned as f64 + s.free as f64 * free_kept) / total
            })
            .product()
    }

    /// The groups it follows.
    pub fn groups(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().map(|s| s.group)
    }
}

/// Units and pinned units of every group, in the graph's order.
#[derive(Clone, Debug)]
pub(crate) struct GroupUnits {
    /// Units of each group.
    pub n: Vec<usize>,
    /// Pinned units of each group.
    pub pinned: Vec<usize>,
}

/// One counted op and what scales it.
#[derive(Clone, Debug)]
pub(crate) struct ScaledOp {
    /// The op, as counted on the dense model.
    pub op: OpCount,
    /// A conv's or linear layer's weight: the scales of its input and output channels (the
    /// weight's axes 1 and 0 for a conv, 0 and 1 for Burn's linear).
    pub weight: Option<(Scale, Scale)>,
    /// The scale of its output's channels: a weight's output axis, a normalisation's scale
    /// vector, else the channels of the op before it in execution order.
    pub output: Scale,
}

impl ScaledOp {
    /// The op's multiply-accumulates when the groups keep `kept` units: a weight's MACs
    /// follow its kept input and output channels; other products (between activations) are
    /// counted whole.
    pub fn macs(&self, kept: &[usize], n: &GroupUnits) -> f64 {
        let macs = self.op.macs as f64;
        match &self.weight {
            Some((cin, cout)) => macs * cin.fraction(kept, n) * cout.fraction(kept, n),
            _ if self.op.kind.is_multiply_accumulate() => macs,
            _ => 0.0,
        }
    }
}

/// Every counted op of a traced model with the groups that scale it.
#[derive(Clone, Debug)]
pub(crate) struct GroupWidths {
    /// Units and pinned units of every group.
    pub units: GroupUnits,
    /// The ops, in execution order.
    pub ops: Vec<ScaledOp>,
}

impl GroupWidths {
    /// The ops of `counts` (from the same trace as `graph`) with their scales.
    pub fn new(counts: &OpCounts, graph: &DependencyGraph) -> Self {
        let mut axes: HashMap<(&str, usize), Vec<Share>> = HashMap::new();
        for (gi, g) in graph.groups.iter().enumerate() {
            for m in &g.members {
                let entry = axes.entry((m.path.as_str(), m.axis)).or_default();
                if entry.iter().all(|s| s.group != gi) {
                    let pinned = m.units.iter().filter(|u| g.pinned.contains_key(u)).count();
                    entry.push(Share {
                        group: gi,
                        pinned,
                        free: m.units.len() - pinned,
                    });
                }
            }
        }
        let scale =
            |path: &str, axis: usize| Scale(axes.get(&(path, axis)).cloned().unwrap_or_default());
        let mut ops = Vec::with_capacity(counts.ops.len());
        let mut current = Scale::default();
        for op in &counts.ops {
            let weight = op
                .param
                .as_deref()
                .filter(|_| matches!(op.kind, OpKind::Conv | OpKind::Linear | OpKind::Matmul))
                .filter(|_| op.macs_per_weight > 0)
                .map(|p| match op.kind {
                    // Burn's linear weight is [d_input, d_output] (a linear layer on 2-d input
                    // is traced as a matmul on the weight).
                    OpKind::Conv => (scale(p, 1), scale(p, 0)),
                    _ => (scale(p, 0), scale(p, 1)),
                });
            let output = match (&weight, op.param.as_deref()) {
                (Some((_, out)), _) => out.clone(),
                // A normalisation's (or a bias's) vector follows the channels it scales.
                (None, Some(p)) if axes.contains_key(&(p, 0)) => scale(p, 0),
                _ => current.clone(),
            };
            current = output.clone();
            ops.push(ScaledOp {
                op: op.clone(),
                weight,
                output,
            });
        }
        Self {
            units: GroupUnits {
                n: graph.groups.iter().map(|g| g.n_units).collect(),
                pinned: graph.groups.iter().map(|g| g.pinned.len()).collect(),
            },
            ops,
        }
    }

    /// The papers' MACs (convolutions, linear layers, products) when the groups keep `kept`.
    pub fn macs(&self, kept: &[usize]) -> f64 {
        self.ops.iter().map(|o| o.macs(kept, &self.units)).sum()
    }
}

//! Which BatchNorm belongs to which layer, for criteria that rank a layer's units by the
//! BatchNorm scale next to them (network slimming's `|γ|`).

use super::graph::DependencyGraph;
use crate::address::{LayerKind, ParamAddress, param_addresses};
use crate::error::{PruneError, Result};
use crate::granularity::{Granularity, Layout};
use burn::module::Module;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The BatchNorm scale (`γ`) paired with each layer weight: the one after it (its filters'
/// BatchNorm) and the one before it (its input channels' BatchNorm), by parameter path.
///
/// Give it to [`PrunerConfig::batch_norm_pairs`](crate::PrunerConfig::batch_norm_pairs) so that
/// a criterion that [needs](crate::Needs::batch_norm) a BatchNorm reads the right one:
///
/// - [`from_graph`](Self::from_graph): from the traced dependency graph, where the BatchNorm
///   shares the layer's channels and comes after it in the forward pass — right whatever
///   order the model declares its fields in;
/// - [`with_after`](Self::with_after) / [`with_before`](Self::with_before): by path, for pairs
///   you know.
///
/// Without it the pruner pairs by declaration order: the next BatchNorm after the layer among
/// the model's parameters (before the next layer), which holds when each BatchNorm is declared
/// right after its layer. A pair whose channel count differs from the layer's is an error
/// naming both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchNormPairs {
    /// Layer weight path → the `γ` path of the BatchNorm after it (filter granularity).
    pub after: BTreeMap<String, String>,
    /// Layer weight path → the `γ` path of the BatchNorm before it (channel granularity).
    pub before: BTreeMap<String, String>,
}

impl BatchNormPairs {
    /// No pairs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pair `layer`'s filters with the BatchNorm scale `gamma` after it.
    pub fn with_after(mut self, layer: impl Into<String>, gamma: impl Into<String>) -> Self {
        self.after.insert(layer.into(), gamma.into());
        self
    }

    /// Pair `layer`'s input channels with the BatchNorm scale `gamma` before it.
    pub fn with_before(mut self, layer: impl Into<String>, gamma: impl Into<String>) -> Self {
        self.before.insert(layer.into(), gamma.into());
        self
    }

    /// The pairs at `granularity`: filters read the BatchNorm after, channels the one before.
    pub fn for_granularity(&self, granularity: Granularity) -> Option<&BTreeMap<String, String>> {
        match granularity {
            Granularity::Filter => Some(&self.after),
            Granularity::Channel => Some(&self.before),
            _ => None,
        }
    }

    /// The pairs the traced graph shows. In each dependency group (members in the order the
    /// forward pass reaches them), a layer's output dimension pairs with the first BatchNorm
    /// scale after it, and a layer's input dimension with the last one before it.
    ///
    /// Errors: a group member that is not a parameter of `model` (the graph was traced from
    /// another model).
    pub fn from_graph<M: Module>(model: &M, graph: &DependencyGraph) -> Result<Self> {
        let addresses: HashMap<String, ParamAddress> = param_addresses(model)
            .into_iter()
            .map(|a| (a.path.clone(), a))
            .collect();
        let mut pairs = Self::new();
        for group in &graph.groups {
            let mut kinds = Vec::with_capacity(group.members.len());
            for m in &group.members {
                let a = addresses
                    .get(&m.path)
                    .ok_or_else(|| PruneError::PlanMismatch {
                        path: m.path.clone(),
                        reason: "the model has no such parameter (the graph was traced from \
                                 another model)"
                            .into(),
                    })?;
                let gamma = a.kind == LayerKind::BatchNorm && a.name() == "gamma";
                let layout = Layout::of(a);
                let layer = a.is_default_prunable();
                kinds.push((
                    gamma,
                    layer && layout.out_axis == m.axis,
                    layer && layout.in_axis == Some(m.axis),
                ));
            }
            for (i, m) in group.members.iter().enumerate() {
                let (_, output, input) = kinds[i];
                if output && let Some(j) = (i + 1..kinds.len()).find(|&j| kinds[j].0) {
                    pairs
                        .after
                        .insert(m.path.clone(), group.members[j].path.clone());
                }
                if input && let Some(j) = (0..i).rev().find(|&j| kinds[j].0) {
                    pairs
                        .before
                        .insert(m.path.clone(), group.members[j].path.clone());
                }
            }
        }
        Ok(pairs)
    }
}

//! Which layers produce the model output, whose output units filter masks keep.

use crate::address::{ParamAddress, param_addresses};
use crate::error::{PruneError, Result};
use crate::granularity::Layout;
use crate::pattern::PathPattern;
use crate::structure::DependencyGraph;
use burn::module::Module;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The reason the dependency graph gives the channels of the model output.
const OUTPUT_PIN: &str = "a channel of the model output";

/// Which parameters produce the model's output (its logits), whose output units a
/// [`Granularity::Filter`](crate::Granularity::Filter) mask keeps.
///
/// A filter of the last layer *is* an output of the model (a class, a regression target):
/// masking it does not make the model smaller, it deletes an answer. So by default
/// ([`OutputLayers::Last`]) the [`Pruner`](crate::Pruner) keeps every filter of the layer that
/// produces the output, as the structural pruner keeps every "channel of the model output":
/// those parameters get a mask that keeps everything, their units do not compete in the
/// ranking, and `sparsity` is the fraction of the other units (a
/// [`Scope::Densities`](crate::Scope::Densities) entry for them is not applied). Other
/// granularities never remove a whole output and are not affected.
///
/// - [`Last`](Self::Last) (default): the last convolution or linear weight in the model's
///   visit order, which is the order the fields are declared in, and the other
///   parameters of that layer (its bias). Right for every model whose head is declared last.
/// - [`Paths`](Self::Paths): the parameters matching these path patterns. For a model that
///   declares its head before its body, or whose output is the sum of several layers,
///   [`OutputLayers::from_graph`] finds them from a traced forward pass (the robust choice).
/// - [`None`](Self::None): the opt-out; filters of every selected layer may go.
///
/// ```
/// use burn_prune_core::{Granularity, OutputLayers, PrunerConfig, criterion::Magnitude};
///
/// // Filters of the output layer may be masked too.
/// let pruner = PrunerConfig::new(0.5)
///     .with_granularity(Granularity::Filter)
///     .with_output_layers(OutputLayers::None)
///     .init(Magnitude::l1())
///     .unwrap();
/// # let _ = pruner;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputLayers {
    /// The last convolution or linear layer in visit (declaration) order.
    #[default]
    Last,
    /// The parameters whose path matches one of these patterns (see
    /// [`PathPattern`]); a pattern that matches no parameter of the model is an error
    /// ([`PruneError::PatternMatchesNothing`], `which: "output layers"`).
    Paths(Vec<String>),
    /// No parameter is treated as the output: filter masks may remove model outputs.
    None,
}

impl OutputLayers {
    /// The parameters that write the channels of the model output, from a dependency graph
    /// of `model` (the members of the groups pinned as "a channel of the model output", on
    /// their output axis: a linear head's `weight` and `bias`, a BatchNorm that normalises
    /// the output, every branch of a final residual sum).
    ///
    /// ```
    /// use burn::nn::{Linear, LinearConfig};
    /// use burn::prelude::*;
    /// use burn_prune_core::OutputLayers;
    /// use burn_prune_core::structure::{DependencyGraph, GraphOptions, trace};
    ///
    /// #[derive(Module, Debug)]
    /// struct Net { head: Linear, body: Linear } // the head is declared first
    ///
    /// let device = Device::flex();
    /// let net = Net { head: LinearConfig::new(8, 3).init(&device), body: LinearConfig::new(4, 8).init(&device) };
    /// let t = trace(&net, [1, 4], |m, x| m.head.forward(m.body.forward(x))).unwrap();
    /// let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    /// let output = OutputLayers::from_graph(&net, &graph);
    /// assert_eq!(output, OutputLayers::Paths(vec!["head.weight".into(), "head.bias".into()]));
    /// ```
    pub fn from_graph<M: Module>(model: &M, graph: &DependencyGraph) -> Self {
        let params = param_addresses(model);
        let mut paths: Vec<String> = Vec::new();
        for g in graph
            .groups
            .iter()
            .filter(|g| g.pinned.values().any(|why| why == OUTPUT_PIN))
        {
            for m in &g.members {
                let is_out = params
                    .iter()
                    .find(|p| p.path == m.path)
                    .is_some_and(|p| !p.running_stat && Layout::of(p).out_axis == m.axis);
                if is_out && !paths.contains(&m.path) {
                    paths.push(m.path.clone());
                }
            }
        }
        Self::Paths(paths)
    }

    /// The paths, among the model's parameters `params` (in visit order), that produce the
    /// model output.
    pub(crate) fn resolve(&self, params: &[ParamAddress]) -> Result<HashSet<String>> {
        match self {
            Self::None => Ok(HashSet::new()),
            Self::Last => {
                let Some(last) = params.iter().rev().find(|p| p.is_default_prunable()) else {
                    return Ok(HashSet::new());
                };
                let layer = last.path.rsplit_once('.').map_or("", |(m, _)| m);
                Ok(params
                    .iter()
                    .filter(|p| !p.running_stat)
                    .filter(|p| p.path.rsplit_once('.').map_or("", |(m, _)| m) == layer)
                    .map(|p| p.path.clone())
                    .collect())
            }
            Self::Paths(patterns) => {
                let mut out = HashSet::new();
                for pattern in patterns {
                    let compiled = PathPattern::new(pattern)?;
                    if !params.iter().any(|p| compiled.matches(&p.path)) {
                        return Err(PruneError::PatternMatchesNothing {
                            which: "output layers",
                            pattern: pattern.clone(),
                        });
                    }
                    out.extend(
                        params
                            .iter()
                            .filter(|p| compiled.matches(&p.path))
                            .map(|p| p.path.clone()),
                    );
                }
                Ok(out)
            }
        }
    }

    /// Check the patterns' syntax (without a model).
    pub(crate) fn validate(&self) -> Result<()> {
        if let Self::Paths(patterns) = self {
            for p in patterns {
                PathPattern::new(p)?;
            }
        }
        Ok(())
    }
}

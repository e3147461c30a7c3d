//! The structural plan (which indices of which parameter dimensions are kept) and compaction.

use super::graph::DependencyGraph;
use crate::address::PathStack;
use crate::error::{PruneError, Result};
use crate::param_value::trained_like;
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The kept indices along one axis of a parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxisKeep {
    /// The axis.
    pub axis: usize,
    /// Kept indices, ascending.
    pub indices: Vec<usize>,
}

/// How one parameter is cut.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSlice {
    /// Shape before compaction.
    pub shape: Vec<usize>,
    /// Kept indices per cut axis.
    pub keep: Vec<AxisKeep>,
    /// For the weight of a grouped convolution that loses whole conv groups: its `groups`
    /// before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupsChange>,
}

/// A grouped convolution's `groups`, before and after compaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsChange {
    /// Before.
    pub from: usize,
    /// After.
    pub to: usize,
}

/// Gives access to the `groups` of a model's grouped convolutions, which Burn keeps as a module
/// constant (a [`ModuleMapper`] cannot change it).
///
/// Implement it for a model with grouped or depthwise convolutions whose channels are pruned,
/// and apply plans with [`StructuralPlan::apply_grouped`].
///
/// ```
/// use burn::nn::conv::{Conv2d, Conv2dConfig};
/// use burn::prelude::*;
/// use burn_prune_core::structure::ConvGroups;
///
/// #[derive(Module, Debug)]
/// struct Net {
///     expand: Conv2d,
///     depthwise: Conv2d,
/// }
///
/// impl ConvGroups for Net {
///     fn conv_groups_mut(&mut self, path: &str) -> Option<&mut usize> {
///         match path {
///             "depthwise" => Some(&mut self.depthwise.groups),
///             _ => None,
///         }
///     }
/// }
/// ```
pub trait ConvGroups {
    /// The `groups` field of the convolution module at `path` (the weight's path without
    /// `.weight`, e.g. `blocks.3.depthwise.conv`), or `None` if there is none.
    fn conv_groups_mut(&mut self, path: &str) -> Option<&mut usize>;
}

impl ParamSlice {
    /// Shape after compaction.
    pub fn new_shape(&self) -> Vec<usize> {
        let mut s = self.shape.clone();
        for k in &self.keep {
            s[k.axis] = k.indices.len();
        }
        s
    }

    /// Elements the cut removes.
    pub fn removed_elements(&self) -> usize {
        self.shape.iter().product::<usize>() - self.new_shape().iter().product::<usize>()
    }
}

/// Which indices of which parameter dimensions survive structural pruning.
///
/// It is the pruning history: serializable (JSON), and [`apply`](Self::apply) replays it on
/// any model of the same architecture — the pruned model itself, or a freshly initialised
/// one, which then has the compacted shapes and can load the compacted model's record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructuralPlan {
    /// Cut parameters, by path.
    pub params: BTreeMap<String, ParamSlice>,
}

impl StructuralPlan {
    /// The plan that keeps, in every group of `graph`, the units marked `true` in
    /// `keep[group][unit]`. Pinned units must be kept; every group keeps at least one unit.
    pub fn from_groups(graph: &DependencyGraph, keep: &[Vec<bool>]) -> Result<Self> {
        if keep.len() != graph.groups.len() {
            return Err(PruneError::Config(format!(
                "{} keep lists for {} groups",
                keep.len(),
                graph.groups.len()
            )));
        }
        let mut plan = Self::default();
        for (g, kept) in graph.groups.iter().zip(keep) {
            if kept.len() != g.n_units {
                return Err(PruneError::Config(format!(
                    "group `{}` has {} units, the keep list {}",
                    g.root(),
                    g.n_units,
                    kept.len()
                )));
            }
            if let Some((u, why)) = g.pinned.iter().find(|&(&u, _)| !kept[u]) {
                return Err(PruneError::Config(format!(
                    "unit {u} of group `{}` cannot be removed: {why}",
                    g.root()
                )));
            }
            if !kept.iter().any(|&k| k) {
                return Err(PruneError::Config(format!(
                    "group `{}` would lose all its units",
                    g.root()
                )));
            }
            if kept.iter().all(|&k| k) {
                continue;
            }
            for m in &g.members {
                let shape = graph.shapes.get(&m.path).cloned().unwrap_or_default();
                let indices: Vec<usize> =
                    (0..m.units.len()).filter(|&i| kept[m.units[i]]).collect();
                if indices.is_empty() {
                    return Err(PruneError::PlanMismatch {
                        path: m.path.clone(),
                        reason: format!("axis {} would lose every index", m.axis),
                    });
                }
                let slice = plan.params.entry(m.path.clone()).or_insert(ParamSlice {
                    shape,
                    keep: Vec::new(),
                    groups: None,
                });
                if let Some(gc) = graph.grouped_convs.get(&m.path)
                    && gc.axis == m.axis
                {
                    slice.groups = Some(GroupsChange {
                        from: gc.groups,
                        to: indices.len() / gc.per_group,
                    });
                }
                slice.keep.push(AxisKeep {
                    axis: m.axis,
                    indices,
                });
            }
        }
        Ok(plan)
    }

    /// Serialize as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| PruneError::Format(e.to_string()))
    }

    /// Parse JSON written by [`to_json`](Self::to_json), checking that kept indices are in
    /// range, ascending and on distinct axes.
    pub fn from_json(json: &str) -> Result<Self> {
        let plan: Self =
            serde_json::from_str(json).map_err(|e| PruneError::Format(e.to_string()))?;
        for (path, s) in &plan.params {
            let mut axes = std::collections::BTreeSet::new();
            for k in &s.keep {
                let bad = k.axis >= s.shape.len()
                    || !axes.insert(k.axis)
                    || k.indices.windows(2).any(|w| w[0] >= w[1])
                    || k.indices.last().is_some_and(|&i| i >= s.shape[k.axis])
                    || k.indices.is_empty();
                if bad {
                    return Err(PruneError::PlanMismatch {
                        path: path.clone(),
                        reason: format!("invalid kept indices on axis {}", k.axis),
                    });
                }
            }
            if let Some(g) = s.groups
                && (g.to == 0 || g.to > g.from)
            {
                return Err(PruneError::PlanMismatch {
                    path: path.clone(),
                    reason: format!("invalid groups change {} -> {}", g.from, g.to),
                });
            }
        }
        Ok(plan)
    }

    /// Total parameter elements removed from a model whose parameters are in the plan.
    pub fn removed_elements(&self) -> usize {
        self.params.values().map(ParamSlice::removed_elements).sum()
    }

    /// Compact `model`: every parameter in the plan is cut to its kept indices (on its own
    /// device); the result has the same Rust type and new `ParamId`s for the cut parameters
    /// (make a new optimizer). Every planned path must exist with the planned shape; a
    /// parameter carrying a pruning mask is refused (materialize or remove masks first).
    ///
    /// The compaction works on a [`deep_clone`](crate::deep_clone) of `model`, so clones of
    /// it you still hold keep their BatchNorm running statistics (Burn shares those between
    /// clones of a module).
    ///
    /// A plan that changes a grouped convolution's `groups` needs
    /// [`apply_grouped`](Self::apply_grouped) and is an error here.
    pub fn apply<M: Module>(&self, model: M) -> Result<M> {
        if let Some((path, s)) = self.params.iter().find(|(_, s)| s.groups.is_some()) {
            let g = s.groups.expect("found with groups");
            return Err(PruneError::PlanMismatch {
                path: path.clone(),
                reason: format!(
                    "the plan changes this convolution's `groups` from {} to {}, a module constant a mapper cannot change: implement `ConvGroups` for the model and use `apply_grouped`, or build the graph with `GraphOptions::with_pinned_grouped_convs`",
                    g.from, g.to
                ),
            });
        }
        self.run(model, Cut::Slice)
    }

    /// [`apply`](Self::apply) for models with grouped convolutions: also sets the `groups` of
    /// every convolution the plan shrinks, through [`ConvGroups`]. A convolution the model does
    /// not give access to, or whose `groups` is not the planned one, is an error (and the model
    /// is not compacted).
    pub fn apply_grouped<M: Module + ConvGroups>(&self, mut model: M) -> Result<M> {
        for (path, s) in &self.params {
            let Some(g) = s.groups else { continue };
            let module = path.strip_suffix(".weight").unwrap_or(path);
            match model.conv_groups_mut(module) {
                Some(&mut current) if current == g.from => {}
                Some(&mut current) => {
                    return Err(PruneError::PlanMismatch {
                        path: path.clone(),
                        reason: format!(
                            "the convolution has groups = {current}, the plan expects {}",
                            g.from
                        ),
                    });
                }
                None => {
                    return Err(PruneError::PlanMismatch {
                        path: path.clone(),
                        reason: format!(
                            "`ConvGroups::conv_groups_mut(\"{module}\")` gives no convolution"
                        ),
                    });
                }
            }
        }
        let mut model = self.run(model, Cut::Slice)?;
        for (path, s) in &self.params {
            if let Some(g) = s.groups {
                let module = path.strip_suffix(".weight").unwrap_or(path);
                if let Some(groups) = model.conv_groups_mut(module) {
                    *groups = g.to;
                }
            }
        }
        Ok(model)
    }

    /// The dense equivalent of [`apply`](Self::apply): every planned parameter keeps its shape
    /// and the entries at removed indices are set to zero (soft pruning). The compacted model
    /// computes what this one computes, on the kept channels.
    pub fn apply_as_zeros<M: Module>(&self, model: M) -> Result<M> {
        self.run(model, Cut::Zero)
    }

    fn run<M: Module>(&self, model: M, cut: Cut) -> Result<M> {
        // Cut a copy of its own: clones of `model` share its BatchNorm running statistics,
        // which the compactor would otherwise cut in place under them.
        let model = crate::deep_clone(&model);
        let mut mapper = Compactor {
            plan: self,
            cut,
            stack: PathStack::default(),
            seen: Vec::new(),
            error: None,
        };
        let out = model.map(&mut mapper);
        if let Some(e) = mapper.error {
            return Err(e);
        }
        if let Some(path) = self.params.keys().find(|p| !mapper.seen.contains(p)) {
            return Err(PruneError::PlanMismatch {
                path: path.clone(),
                reason: "the model has no such parameter".into(),
            });
        }
        Ok(out)
    }
}

/// What happens to removed indices.
#[derive(Clone, Copy)]
enum Cut {
    /// They are cut out (smaller shapes, new `ParamId`s).
    Slice,
    /// They are set to zero (same shapes and ids).
    Zero,
}

struct Compactor<'a> {
    plan: &'a StructuralPlan,
    cut: Cut,
    stack: PathStack,
    seen: Vec<String>,
    error: Option<PruneError>,
}

impl Compactor<'_> {
    /// The parameter's value if it has the planned shape (and no error happened before).
    fn checked<const D: usize>(
        &mut self,
        path: &str,
        slice: &ParamSlice,
        param: &Param<Tensor<D>>,
    ) -> Option<Tensor<D>> {
        self.seen.push(path.to_string());
        if self.error.is_some() {
            return None;
        }
        let tensor = param.val();
        if tensor.dims().as_slice() != slice.shape.as_slice() {
            self.error = Some(PruneError::PlanMismatch {
                path: path.to_string(),
                reason: format!(
                    "shape {:?}, the plan expects {:?}",
                    tensor.dims(),
                    slice.shape
                ),
            });
            return None;
        }
        Some(tensor)
    }
}

impl ModuleMapper for Compactor<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.stack.path();
        let Some(slice) = self.plan.params.get(&path) else {
            return param;
        };
        let Some(tensor) = self.checked(&path, slice, &param) else {
            return param;
        };
        if let Cut::Zero = self.cut {
            // On the inner (non-autodiff) tensor, then back to a trainable leaf as the
            // parameter was: zeroing between training steps must not hang the parameter on
            // a graph node that a later backward pass would find consumed.
            return param.map(|t| {
                let mut zeroed = t.clone().inner();
                let inner_device = zeroed.device();
                for k in &slice.keep {
                    let mut along = vec![0f32; slice.shape[k.axis]];
                    for &i in &k.indices {
                        along[i] = 1.0;
                    }
                    let mut shape = [1usize; D];
                    shape[k.axis] = along.len();
                    zeroed = zeroed
                        * Tensor::<D>::from_data(TensorData::new(along, shape), &inner_device);
                }
                trained_like(&t, zeroed)
            });
        }
        let mut t = tensor.clone().inner();
        let inner_device = t.device();
        for k in &slice.keep {
            let idx: Vec<i64> = k.indices.iter().map(|&i| i as i64).collect();
            let n = idx.len();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &inner_device);
            t = t.select(k.axis, idx);
        }
        Param::initialized(ParamId::new(), trained_like(&tensor, t))
    }
    fn map_bool<const D: usize>(
        &mut self,
        param: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        if let Some(owner) = self.stack.mask_owner()
            && self.plan.params.contains_key(&owner)
            && self.error.is_none()
        {
            self.error = Some(PruneError::PlanMismatch {
                path: owner,
                reason: "it carries a pruning mask; materialize or remove masks before compaction"
                    .into(),
            });
        }
        param
    }
}

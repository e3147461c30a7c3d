//! The structural plan (which indices of which parameter dimensions are kept) and compaction.

use super::constants::{ConstantUpdate, ModuleConstants, constant_of};
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
    /// The groups this plan cuts whose removal is approximate (see
    /// [`Group::approximate`](super::Group::approximate): a normalisation reads their
    /// channels together), by root parameter path, with the reasons. The compacted model
    /// computes something close to the dense one there, not equal: fine-tune after. Empty for
    /// an exact plan.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approximate: BTreeMap<String, Vec<String>>,
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
            if g.is_approximate() {
                plan.approximate
                    .insert(g.root().to_string(), g.approximate.clone());
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

    /// Whether compacting with this plan is exact (no [`approximate`](Self::approximate)
    /// group is cut): the compacted model then computes what the dense model computes with
    /// the removed channels at zero.
    pub fn is_exact(&self) -> bool {
        self.approximate.is_empty()
    }

    /// Serialize as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| PruneError::Format(e.to_string()))
    }

    /// Parse JSON written by [`to_json`](Self::to_json), checked with
    /// [`validate`](Self::validate).
    pub fn from_json(json: &str) -> Result<Self> {
        let plan: Self =
            serde_json::from_str(json).map_err(|e| PruneError::Format(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// Check that every kept index list is non-empty, ascending and in range, on distinct
    /// axes of the parameter, and that groups changes shrink to at least one group. Plans
    /// from [`from_json`](Self::from_json) are checked; [`apply`](Self::apply) and its
    /// variants check again (a plan can come from anywhere, such as a deserialized struct
    /// holding one), so a broken plan is an error naming the parameter, never a panic.
    pub fn validate(&self) -> Result<()> {
        for (path, s) in &self.params {
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
        Ok(())
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
    /// A plan that changes a size a Burn module keeps as a field (a grouped convolution's
    /// `groups`, a `GroupNorm`'s groups, an LSTM's `d_hidden`, an attention's heads) needs
    /// [`apply_with_constants`](Self::apply_with_constants) and is an error here, naming the
    /// module.
    pub fn apply<M: Module>(&self, model: M) -> Result<M> {
        let (out, needs) = self.run(model, Cut::Slice)?;
        if let Some(need) = needs.first() {
            return Err(PruneError::PlanMismatch {
                path: need.module.clone(),
                reason: format!(
                    "the plan changes this {}'s {}, a module constant a mapper cannot change: derive `ModuleConstants` for your model (`#[derive(Module, ModuleConstants)]`) and compact with `apply_with_constants`",
                    need.kind, need.constant
                ),
            });
        }
        Ok(out)
    }

    /// [`apply`](Self::apply) that also brings the sizes Burn modules keep as fields to the
    /// plan (see [`ModuleConstants`]): a grouped convolution's `groups`, a `GroupNorm`'s
    /// `num_groups`/`num_channels`, a `MultiHeadAttention`'s `d_model`/`n_heads`/`d_k`, an
    /// LSTM's, GRU's or RNN's `d_hidden`. A module the plan changes that the model's
    /// [`ModuleConstants`] does not reach, or that cannot follow the plan, is an error naming
    /// it (and no model is returned).
    ///
    /// ```
    /// use burn::nn::conv::{Conv2d, Conv2dConfig};
    /// use burn::prelude::*;
    /// use burn_prune_core::structure::{
    ///     DependencyGraph, GraphOptions, GroupPrunerConfig, ModuleConstants, trace,
    /// };
    /// # use burn_prune_core::criterion::Magnitude;
    ///
    /// #[derive(Module, Debug, ModuleConstants)]
    /// #[module_constants(crate = "burn_prune_core")] // `burn_prune` (the default) for users
    /// struct Net {
    ///     expand: Conv2d,
    ///     depthwise: Conv2d,
    ///     project: Conv2d,
    /// }
    ///
    /// let device = Device::flex();
    /// let net = Net {
    ///     expand: Conv2dConfig::new([3, 8], [1, 1]).init(&device),
    ///     depthwise: Conv2dConfig::new([8, 8], [3, 3]).with_groups(8).init(&device),
    ///     project: Conv2dConfig::new([8, 4], [1, 1]).init(&device),
    /// };
    /// let forward = |m: &Net, x: Tensor<4>| m.project.forward(m.depthwise.forward(m.expand.forward(x)));
    /// let t = trace(&net, [1, 3, 8, 8], forward).unwrap();
    /// let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    /// let plan = GroupPrunerConfig::new(0.5).init(Magnitude::l2()).unwrap().plan(&net, &graph).unwrap();
    /// assert!(plan.apply(net.clone()).is_err()); // `groups` is a module constant
    /// let small = plan.apply_with_constants(net).unwrap();
    /// assert_eq!(small.depthwise.groups, 4);
    /// ```
    pub fn apply_with_constants<M: Module + ModuleConstants>(&self, model: M) -> Result<M> {
        let (mut out, needs) = self.run(model, Cut::Slice)?;
        let mut update = ConstantUpdate::new(self);
        out.update_constants(&mut update);
        let updated = update.finish()?;
        if let Some(need) = needs.iter().find(|n| !updated.contains(&n.module)) {
            return Err(PruneError::PlanMismatch {
                path: need.module.clone(),
                reason: format!(
                    "the plan changes this {}'s {}, but the model's `ModuleConstants` does not reach it: derive `ModuleConstants` on every struct on its path (or visit the field in your own impl)",
                    need.kind, need.constant
                ),
            });
        }
        Ok(out)
    }

    /// The dense equivalent of [`apply`](Self::apply): every planned parameter keeps its shape
    /// and the entries at removed indices are set to zero (soft pruning). The compacted model
    /// computes what this one computes, on the kept channels.
    pub fn apply_as_zeros<M: Module>(&self, model: M) -> Result<M> {
        self.run(model, Cut::Zero).map(|(m, _)| m)
    }

    /// Cut (or zero) the planned parameters; also returns the Burn modules whose constants
    /// the cut changes.
    fn run<M: Module>(&self, model: M, cut: Cut) -> Result<(M, Vec<ConstantNeed>)> {
        self.validate()?;
        // Cut a copy of its own: clones of `model` share its BatchNorm running statistics,
        // which the compactor would otherwise cut in place under them.
        let model = crate::deep_clone(&model);
        let mut mapper = Compactor {
            plan: self,
            cut,
            stack: PathStack::default(),
            containers: Vec::new(),
            needs: Vec::new(),
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
        Ok((out, mapper.needs))
    }
}

/// A Burn module whose constants a plan changes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ConstantNeed {
    module: String,
    kind: String,
    constant: &'static str,
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
    /// (name, container type without `Struct:`) of the modules entered.
    containers: Vec<(String, String)>,
    needs: Vec<ConstantNeed>,
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

impl Compactor<'_> {
    /// Record the innermost enclosing Burn module whose constants cutting `path` changes.
    fn note_constants(&mut self, slice: &ParamSlice) {
        for depth in (0..self.containers.len()).rev() {
            // Burn enters every field with the type of the module holding it: the module of
            // type `containers[depth]` is at the path of the fields before it.
            let kind = &self.containers[depth].1;
            let names: Vec<&str> = self.containers.iter().map(|(n, _)| n.as_str()).collect();
            let module = names[..depth].join(".");
            let relative = names[depth..].join(".");
            if let Some(constant) = constant_of(kind, &relative, slice) {
                let need = ConstantNeed {
                    module,
                    kind: kind.clone(),
                    constant,
                };
                if !self.needs.contains(&need) {
                    self.needs.push(need);
                }
                return;
            }
        }
    }
}

impl ModuleMapper for Compactor<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.enter(name);
        let kind = container_type
            .strip_prefix("Struct:")
            .unwrap_or(container_type);
        let kind = kind.strip_prefix("Enum:").unwrap_or(kind);
        self.containers.push((name.to_string(), kind.to_string()));
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
        self.containers.pop();
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
        self.note_constants(slice);
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

//! Network slimming (Liu et al., ICCV 2017): an L1 penalty on BatchNorm scales during
//! training, then removal of the channels with the smallest scales.

use super::group_scores::{batch_norm_scales, picked_scores, plan_from_picked};
use crate::error::{self, ScheduleError};
use burn::config::Config;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn_prune_core::structure::{DependencyGraph, StructuralPlan};
use burn_prune_core::{ParamSnapshot, PathStack};

/// Configuration of [`NetworkSlimming`].
///
/// The paper uses `penalty = 1e-4` for VGG and `1e-5` for ResNet and DenseNet on CIFAR, and
/// prunes 40–70% of the channels globally.
#[derive(Config, Debug)]
pub struct NetworkSlimmingConfig {
    /// Fraction of the BatchNorm-scaled channels to remove, over all of them (one global
    /// threshold on `|γ|`), in `[0, 1)`.
    pub ratio: f64,
    /// The L1 coefficient λ on the scales.
    #[config(default = 1e-4)]
    pub penalty: f64,
}

impl NetworkSlimmingConfig {
    /// Check the configuration. Errors: a ratio outside `[0, 1)`, a negative or non-finite
    /// penalty.
    pub fn init(&self) -> error::Result<NetworkSlimming> {
        if !(0.0..1.0).contains(&self.ratio) {
            return Err(ScheduleError::invalid(
                "network slimming ratio",
                format!("{} is outside [0, 1)", self.ratio),
            ));
        }
        if !(self.penalty.is_finite() && self.penalty >= 0.0) {
            return Err(ScheduleError::invalid(
                "network slimming penalty",
                format!("{} must be finite and non-negative", self.penalty),
            ));
        }
        Ok(NetworkSlimming {
            config: self.clone(),
        })
    }
}

/// Network slimming: [`NetworkSlimming::add_penalty`] between `backward` and the optimizer
/// step during training, [`NetworkSlimming::prune`] at the end (then fine-tune).
#[derive(Clone, Debug)]
pub struct NetworkSlimming {
    config: NetworkSlimmingConfig,
}

impl NetworkSlimming {
    /// The configuration.
    pub fn config(&self) -> &NetworkSlimmingConfig {
        &self.config
    }

    /// Add the subgradient of `λ·Σ|γ|`, `λ·sign(γ)`, to the gradient of every BatchNorm scale
    /// (the scales are found by module type; a scale without a gradient gets the penalty
    /// alone). The computation stays on the device.
    ///
    /// Errors: a model without any BatchNorm.
    pub fn add_penalty<M: Module>(
        &self,
        model: &M,
        mut grads: GradientsParams,
    ) -> error::Result<GradientsParams> {
        let paths = batch_norm_scales(model);
        if paths.is_empty() {
            return Err(no_batch_norm());
        }
        let mut scales = ScaleParams {
            stack: PathStack::default(),
            paths: &paths,
            found: Vec::new(),
        };
        model.visit(&mut scales);
        let lambda = self.config.penalty;
        for (id, gamma) in scales.found {
            let penalty = gamma.sign().mul_scalar(lambda);
            let grad = match grads.remove::<1>(id) {
                Some(g) => g + penalty,
                None => penalty,
            };
            grads.register(id, grad);
        }
        Ok(grads)
    }

    /// The structural plan removing the `ratio` of BatchNorm-scaled channels with the smallest
    /// `|γ|` (one global threshold), through the dependency graph: coupled layers shrink
    /// together, pinned channels stay, groups without a BatchNorm are left whole.
    ///
    /// Errors: a model without any BatchNorm in the graph; those of the core planner.
    pub fn plan<M: Module>(
        &self,
        model: &M,
        graph: &DependencyGraph,
    ) -> error::Result<StructuralPlan> {
        scale_plan(model, graph, self.config.ratio, "network slimming")
    }

    /// [`NetworkSlimming::plan`], applied: the physically smaller model and its plan. New
    /// parameters get new ids: create the fine-tuning optimizer afterwards.
    pub fn prune<M: Module>(
        &self,
        model: M,
        graph: &DependencyGraph,
    ) -> error::Result<(M, StructuralPlan)> {
        let plan = self.plan(&model, graph)?;
        Ok((plan.apply(model)?, plan))
    }
}

/// Global `|γ|` threshold over the BatchNorm channels of `graph`, as a plan.
pub(crate) fn scale_plan<M: Module>(
    model: &M,
    graph: &DependencyGraph,
    ratio: f64,
    method: &'static str,
) -> error::Result<StructuralPlan> {
    let paths = batch_norm_scales(model);
    if paths.is_empty() {
        return Err(no_batch_norm());
    }
    let snapshot = ParamSnapshot::capture(model)?.retain(|p| paths.contains_key(p));
    let scores = picked_scores(
        graph,
        &snapshot,
        |path, axis| axis == 0 && paths.contains_key(path),
        |values, _, i| values[i].abs(),
    );
    plan_from_picked(model, graph, scores, ratio, true, method)
}

fn no_batch_norm() -> ScheduleError {
    ScheduleError::Model {
        method: "network slimming",
        reason: "the model has no BatchNorm layer (no `gamma` of a BatchNorm module)".into(),
    }
}

struct ScaleParams<'a> {
    stack: PathStack,
    paths: &'a std::collections::HashMap<String, usize>,
    found: Vec<(ParamId, Tensor<1>)>,
}

impl ModuleVisitor for ScaleParams<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D == 1 && self.paths.contains_key(&self.stack.path()) {
            let value = param.val().inner();
            let dims = value.dims();
            self.found
                .push((param.id, value.reshape([dims.iter().product::<usize>()])));
        }
    }
}

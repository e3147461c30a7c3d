//! Soft filter pruning (He et al., IJCAI 2018): zero the weakest filters of every conv after
//! each epoch, let them train and recover, remove them at the end.

use super::group_scores::{picked_scores, plan_from_picked, row_l2};
use crate::error::{self, ScheduleError};
use burn::config::Config;
use burn::module::Module;
use burn_prune_core::criterion::Magnitude;
use burn_prune_core::structure::{DependencyGraph, StructuralPlan};
use burn_prune_core::{
    Granularity, LayerKind, MaskSet, ParamSelector, ParamSnapshot, PrunerConfig, Reduction, Scope,
    param_addresses, zero_pruned,
};
use std::collections::HashSet;

/// Configuration of [`SoftFilterPruning`].
#[derive(Config, Debug)]
pub struct SoftFilterPruningConfig {
    /// Fraction of filters every convolution keeps, in `(0, 1]` (the paper prunes 30–40% of
    /// ResNet filters on CIFAR-10: keep rate 0.6–0.7).
    pub keep_rate: f64,
}

impl SoftFilterPruningConfig {
    /// Check the configuration. Errors: a keep rate outside `(0, 1]`.
    pub fn init(&self) -> error::Result<SoftFilterPruning> {
        if !(self.keep_rate > 0.0 && self.keep_rate <= 1.0) {
            return Err(ScheduleError::invalid(
                "soft filter pruning keep rate",
                format!("{} is outside (0, 1]", self.keep_rate),
            ));
        }
        Ok(SoftFilterPruning {
            config: self.clone(),
        })
    }
}

/// Soft filter pruning: [`SoftFilterPruning::zero_filters`] at the end of every epoch (no
/// masks: the zeroed filters keep receiving gradients and may grow back), and
/// [`SoftFilterPruning::compact`] after the last one.
#[derive(Clone, Debug)]
pub struct SoftFilterPruning {
    config: SoftFilterPruningConfig,
}

impl SoftFilterPruning {
    /// Zero the `1 − keep_rate` filters of smallest L2 norm in every convolution, in its
    /// stored weights. Returns the model and which filters were zeroed.
    ///
    /// Errors: a model without a convolution.
    pub fn zero_filters<M: Module>(&self, model: M) -> error::Result<(M, MaskSet)> {
        let convs: Vec<String> = param_addresses(&model)
            .into_iter()
            .filter(|p| p.kind == LayerKind::Conv && p.name() == "weight")
            .map(|p| p.path)
            .collect();
        if convs.is_empty() {
            return Err(ScheduleError::Model {
                method: "soft filter pruning",
                reason: "the model has no convolution".into(),
            });
        }
        let masks = PrunerConfig::new(1.0 - self.config.keep_rate)
            .with_granularity(Granularity::Filter)
            .with_scope(Scope::Local)
            .with_reduction(Reduction::L2)
            .with_selector(ParamSelector::paths(convs))
            .init(Magnitude::l2())?
            .masks(&model)?;
        Ok((zero_pruned(model, &masks)?, masks))
    }

    /// Soft pruning of whole dependency groups: the units [`SoftFilterPruning::compact`]
    /// would remove now (in every group a convolution produces, the `1 − keep_rate` whose
    /// filters have the smallest L2 norm) are zeroed in every member of their group: the
    /// filters, the BatchNorm scales, shifts and statistics, the next layers' input columns.
    /// Those channels then carry exactly zero, so removing them at the end changes no output
    /// (zeroing the filters alone leaves each BatchNorm's shift, which removal would drop).
    /// No masks: the zeroed weights keep receiving gradients and may grow back.
    ///
    /// Errors: those of [`SoftFilterPruning::compact`].
    pub fn zero_groups<M: Module>(
        &self,
        model: M,
        graph: &DependencyGraph,
    ) -> error::Result<(M, StructuralPlan)> {
        let plan = self.plan(&model, graph)?;
        Ok((plan.apply_as_zeros(model)?, plan))
    }

    /// The hard pruning at the end: the structural plan removing, in every dependency group
    /// that a convolution produces, the `1 − keep_rate` units whose filters have the smallest
    /// L2 norm (the filters zeroed by the last [`SoftFilterPruning::zero_filters`] have norm
    /// zero and go first), applied through the core compactor.
    ///
    /// Errors: no group produced by a convolution; those of the core planner.
    pub fn compact<M: Module>(
        &self,
        model: M,
        graph: &DependencyGraph,
    ) -> error::Result<(M, StructuralPlan)> {
        let plan = self.plan(&model, graph)?;
        Ok((plan.apply(model)?, plan))
    }

    /// The plan of [`SoftFilterPruning::compact`] for `model`'s current weights.
    fn plan<M: Module>(&self, model: &M, graph: &DependencyGraph) -> error::Result<StructuralPlan> {
        let convs: HashSet<String> = param_addresses(model)
            .into_iter()
            .filter(|p| p.kind == LayerKind::Conv && p.name() == "weight")
            .map(|p| p.path)
            .collect();
        let snapshot = ParamSnapshot::capture(model)?.retain(|p| convs.contains(p));
        let scores = picked_scores(
            graph,
            &snapshot,
            |path, axis| axis == 0 && convs.contains(path),
            row_l2,
        );
        plan_from_picked(
            model,
            graph,
            scores,
            1.0 - self.config.keep_rate,
            false,
            "soft filter pruning",
        )
    }
}

//! Scores of dependency-group units read from one kind of member (BatchNorm scales, conv
//! filter norms), for the methods that rank channels by a single layer's values.

use crate::error::{Result, ScheduleError};
use burn::module::Module;
use burn_prune_core::Scope;
use burn_prune_core::structure::{
    DependencyGraph, GroupNormalization, GroupPrunerConfig, StructuralPlan,
};
use burn_prune_core::{LayerKind, ParamSnapshot, param_addresses};
use std::collections::HashMap;

/// One unit score per group unit: the mean of `score(values, index)` over the members for
/// which `pick(path, axis)` is true. Groups with no picked member get `None`.
pub(crate) fn picked_scores(
    graph: &DependencyGraph,
    snapshot: &ParamSnapshot,
    pick: impl Fn(&str, usize) -> bool,
    score: impl Fn(&[f32], &[usize], usize) -> f32,
) -> Vec<Option<Vec<f32>>> {
    graph
        .groups
        .iter()
        .map(|group| {
            let mut sums = vec![0f32; group.n_units];
            let mut counts = vec![0u32; group.n_units];
            for m in group.members.iter().filter(|m| pick(&m.path, m.axis)) {
                let Some(data) = snapshot.get(&m.path) else {
                    continue;
                };
                let Ok(values) = data.as_slice::<f32>() else {
                    continue;
                };
                let shape = data.shape().to_vec();
                for (index, &unit) in m.units.iter().enumerate() {
                    sums[unit] += score(values, &shape, index);
                    counts[unit] += 1;
                }
            }
            if counts.iter().all(|&c| c == 0) {
                None
            } else {
                Some(
                    sums.iter()
                        .zip(&counts)
                        .map(|(s, &c)| if c == 0 { 0.0 } else { s / c as f32 })
                        .collect(),
                )
            }
        })
        .collect()
}

/// The plan that removes the lowest-scoring units of the groups that have scores (groups
/// without are left whole), with the given ratio, globally or per group.
pub(crate) fn plan_from_picked<M: Module>(
    model: &M,
    graph: &DependencyGraph,
    scores: Vec<Option<Vec<f32>>>,
    ratio: f64,
    global: bool,
    method: &'static str,
) -> Result<StructuralPlan> {
    if scores.iter().all(Option::is_none) {
        return Err(ScheduleError::Model {
            method,
            reason: "no dependency group has a layer the method scores".into(),
        });
    }
    let mut ignored = Vec::new();
    let full: Vec<Vec<f32>> = graph
        .groups
        .iter()
        .zip(scores)
        .map(|(group, s)| match s {
            Some(s) => s,
            None => {
                ignored.push(group.root().to_string());
                vec![0.0; group.n_units]
            }
        })
        .collect();
    // The methods rank raw scores (a global threshold on |γ| for slimming, as the papers do),
    // not scores divided by their group's mean.
    let config = GroupPrunerConfig::new(ratio)
        .with_scope(if global { Scope::Global } else { Scope::Local })
        .with_normalization(GroupNormalization::None)
        .with_ignored(ignored);
    Ok(config.plan_from_scores(model, graph, &full)?)
}

/// Paths of the BatchNorm scales (`gamma`) of a model, with their channel counts.
pub(crate) fn batch_norm_scales<M: Module>(model: &M) -> HashMap<String, usize> {
    param_addresses(model)
        .into_iter()
        .filter(|p| p.kind == LayerKind::BatchNorm && p.name() == "gamma")
        .map(|p| (p.path.clone(), p.numel()))
        .collect()
}

/// L2 norm of slice `index` along axis 0 of a row-major tensor.
pub(crate) fn row_l2(values: &[f32], shape: &[usize], index: usize) -> f32 {
    let row = shape[1..].iter().product::<usize>();
    values[index * row..(index + 1) * row]
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt()
}

//! `prune`: one pruning step on a trained run, by any criterion, granularity, scope, schedule
//! or method of the library.

use super::budget;
use super::checkpoint::{Checkpoint, RunMeta};
use super::commands::existing;
use super::context::Context;
use super::error::{AppError, Result};
use super::network::{Network, forward};
use super::sparse_structure;
use super::spec::{CriterionName, Method, PruneSpec, ScheduleName, ScopeName};
use super::train::{Hooks, TrainConfig};
use crate::with_replay_backend;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn_prune::criterion::{BatchNormScale, Fpgm, GradientMagnitude, Magnitude, Random, Taylor};
use burn_prune::data::reconstruct::LassoConfig;
use burn_prune::data::{
    ActivationCapture, ActivationCriterion, ChannelMethod, FisherObd, HessianCriterion, Saliency,
    TapPoint, obs_prune_model,
};
use burn_prune::pai::Snip;
use burn_prune::schedule::methods::{
    NetworkSlimming, NetworkSlimmingConfig, SoftFilterPruning, SoftFilterPruningConfig,
};
use burn_prune::schedule::{
    GradualConfig, IterativeConfig, ScheduleConfig, ScheduledPruner, ScheduledPrunerConfig,
};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupPrunerConfig, KeepChannels, StructuralPlan, trace,
};
use burn_prune::{
    Criterion, LayerKind, MaskSet, PathPattern, PrunerConfig, Scope, param_addresses,
};
use indicatif::ProgressBar;
use std::collections::BTreeMap;

/// Damping of the layer-wise Hessians (relative to their mean diagonal).
const DAMPING: f64 = 1e-2;
/// Output positions sampled per batch by ThiNet and LASSO.
const SAMPLES_PER_BATCH: usize = 256;

/// `prune` as the command line and the pipelines run it. A finished run of that name is
/// returned as it is; an interrupted one (the methods that train while pruning save after
/// every epoch) continues from its last epoch; `fresh` starts over. A run of that name made
/// by another command or with another specification is an error naming its directory.
pub fn prune_or_resume(
    ctx: &Context,
    from: &str,
    name: &str,
    spec: &PruneSpec,
    train: TrainConfig,
    fresh: bool,
) -> Result<Checkpoint> {
    spec.check()?;
    if let Some(c) = existing(ctx, name, "prune", fresh)? {
        if c.meta.description != spec.describe() {
            return Err(AppError::checkpoint(
                &c.dir,
                format!(
                    "holds a run of `{}`, not `{}`: choose another --name or pass --fresh",
                    c.meta.description,
                    spec.describe()
                ),
            ));
        }
        if c.meta.finished {
            println!(
                "[{name}] already finished ({}); pass --fresh to redo it",
                c.dir.display()
            );
            return Ok(c);
        }
    }
    prune(ctx, from, name, spec, train)
}

/// Prune run `from` into run `name` per `spec`; `train` is used by the methods that train
/// while pruning (iterative, AGP, soft filter pruning), which continue an interrupted run of
/// the same description in `name`'s directory. [`prune_or_resume`] checks that directory
/// first.
pub fn prune(
    ctx: &Context,
    from: &str,
    name: &str,
    spec: &PruneSpec,
    train: TrainConfig,
) -> Result<Checkpoint> {
    spec.check()?;
    let (parent, model) = ctx.load(from)?;
    let mut meta = ctx.run_meta(name, "prune", spec.describe(), parent.meta.model.clone());
    meta.dense = parent.meta.dense.clone();
    meta.block_scales = parent.meta.block_scales;
    meta.plans = parent.meta.plans.clone();
    meta.parent = Some(parent.meta.name.clone());
    meta.method = spec.method_label();
    if spec.method != Method::SparseStructure {
        meta.values.insert("target_sparsity".into(), spec.sparsity);
    }
    let dir = ctx.dir(name);
    println!(
        "[{name}] pruning {}: {}",
        parent.meta.name, meta.description
    );

    let model = match (spec.method, spec.structural) {
        (Method::Criterion, false) => match spec.schedule {
            ScheduleName::OneShot => masks_once(ctx, model, spec)?,
            _ => return scheduled(ctx, model, meta, spec, train),
        },
        (Method::Criterion, true) => {
            let (model, plan) = structural(ctx, model, spec, &mut meta.values)?;
            meta.plans.push(plan);
            model
        }
        (Method::Slimming, _) => {
            let slimming: NetworkSlimming = NetworkSlimmingConfig::new(spec.sparsity).init()?;
            let graph = graph_of(ctx, &model)?;
            let (model, plan) = slimming.prune(model, &graph)?;
            meta.plans.push(plan);
            model
        }
        (Method::SoftFilter, _) => return soft_filter(ctx, model, meta, spec, train),
        (Method::Thinet | Method::Lasso, _) => {
            let (model, plans) = reconstruct(ctx, model, spec)?;
            meta.plans.extend(plans);
            model
        }
        (Method::SparseStructure, _) => {
            sparse_structure::remove_zero_blocks(model, &mut meta, spec.block_tolerance)?
        }
        (Method::Obs, _) => {
            let moments = input_moments(ctx, &model, spec)?;
            let (model, _) = obs_prune_model(model, &moments, spec.sparsity, DAMPING)?;
            model
        }
    };
    let (_, accuracy) = ctx
        .trainer()
        .evaluate(&model.valid(), &ctx.data.test, 100)?;
    meta.values.insert("accuracy".into(), accuracy);
    meta.finished = true;
    println!(
        "[{name}] test accuracy right after pruning: {:.2}%",
        100.0 * accuracy
    );
    Checkpoint::save(&dir, meta, &model, None)
}

/// The core pruner of `spec` (its sparsity, granularity and scope).
fn pruner_config(spec: &PruneSpec) -> Result<PrunerConfig> {
    Ok(PrunerConfig::new(spec.sparsity)
        .with_granularity(spec.granularity()?)
        .with_scope(scope_of(spec.scope)))
}

/// The core scope of a scope name (one vocabulary for masks and removed channels).
fn scope_of(name: ScopeName) -> Scope {
    match name {
        ScopeName::Local => Scope::Local,
        ScopeName::Global => Scope::Global,
        ScopeName::Lamp => Scope::Lamp,
    }
}

/// The criterion of `spec`; the data-driven ones are computed from calibration batches.
fn criterion(ctx: &Context, model: &Network, spec: &PruneSpec) -> Result<Box<dyn Criterion>> {
    Ok(match spec.criterion {
        CriterionName::L1 => Box::new(Magnitude::l1()),
        CriterionName::L2 => Box::new(Magnitude::l2()),
        CriterionName::Random => Box::new(Random::new(ctx.seed)),
        CriterionName::Taylor => Box::new(Taylor::element()),
        CriterionName::TaylorUnit => Box::new(Taylor::unit()),
        CriterionName::Gradient => Box::new(GradientMagnitude),
        CriterionName::Fpgm => Box::new(Fpgm),
        CriterionName::BnScale => Box::new(BatchNormScale),
        CriterionName::Snip => Box::new(Snip),
        CriterionName::Fisher => Box::new(FisherObd),
        CriterionName::Apoz | CriterionName::MeanActivation | CriterionName::MutualInformation => {
            Box::new(activation_criterion(ctx, model, spec)?)
        }
        CriterionName::Obd | CriterionName::Obs => {
            let saliency = if spec.criterion == CriterionName::Obd {
                Saliency::Obd
            } else {
                Saliency::Obs
            };
            let moments = input_moments(ctx, model, spec)?;
            Box::new(HessianCriterion::new(saliency, &moments, DAMPING)?)
        }
    })
}

fn loss(model: &Network, (x, y): (Tensor<4>, Tensor<1, Int>)) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&x.device())
        .forward(model.forward(x), y)
}

fn calibration(ctx: &Context, spec: &PruneSpec) -> Result<Vec<(Tensor<4>, Tensor<1, Int>)>> {
    ctx.calibration(spec.calibration_batches, 64)
}

fn masks_once(ctx: &Context, model: Network, spec: &PruneSpec) -> Result<Network> {
    let criterion = criterion(ctx, &model, spec)?;
    let (model, masks) = pruner_config(spec)?.init(criterion)?.prune_with_data(
        model,
        calibration(ctx, spec)?,
        loss,
    )?;
    report_masks(&masks);
    Ok(model)
}

fn report_masks(masks: &MaskSet) {
    let (total, pruned) = masks.counts();
    println!(
        "masked {pruned} of {total} selected weights ({:.1}%)",
        100.0 * pruned as f64 / total.max(1) as f64
    );
}

pub(crate) fn graph_of(ctx: &Context, model: &Network) -> Result<DependencyGraph> {
    graph_with(ctx, model, GraphOptions::default())
}

fn graph_with(ctx: &Context, model: &Network, options: GraphOptions) -> Result<DependencyGraph> {
    let traced = trace(&model.valid(), ctx.input(1), forward)?;
    Ok(DependencyGraph::build(&traced, &options)?)
}

fn structural(
    ctx: &Context,
    model: Network,
    spec: &PruneSpec,
    values: &mut BTreeMap<String, f64>,
) -> Result<(Network, StructuralPlan)> {
    let mut options = GraphOptions::default();
    if spec.approximate_norms {
        options = options.with_approximate_norms();
    }
    let graph = graph_with(ctx, &model, options)?;
    // `--global` is `--scope global` for structural pruning (kept for older recipes).
    let scope = if spec.global {
        Scope::Global
    } else {
        scope_of(spec.scope)
    };
    let mut config = GroupPrunerConfig::new(spec.sparsity)
        .with_reduction(spec.reduction.into())
        .with_scope(scope)
        .with_ignored(spec.ignore.clone());
    if let Some(arch) = spec.to_arch {
        config = config.with_keep_channels(target_widths(&model, arch, ctx)?);
    }
    let budget = budget::of_spec(ctx, &model, &graph, spec)?;
    let plan = if spec.criterion.scores_activations() {
        let criterion = activation_criterion(ctx, &model, spec)?;
        let (scores, unscored) = criterion.partial_group_scores(&graph);
        // Groups no measured layer produces may only stay whole (`--ignore`d).
        let ignored = spec
            .ignore
            .iter()
            .map(|p| PathPattern::new(p))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if let Some(&g) = unscored.iter().find(|&&g| {
            !graph.groups[g]
                .members
                .iter()
                .any(|m| ignored.iter().any(|p| p.matches(&m.path)))
        }) {
            return Err(AppError::invalid(
                format!("criterion {:?}", spec.criterion).to_lowercase(),
                format!(
                    "group `{}` has no ReLU after its layers (a residual stream): keep it \
                     whole with --ignore, or use a weight criterion",
                    graph.groups[g].root()
                ),
            ));
        }
        match &budget {
            Some(b) => {
                let p = config.plan_from_scores_within(
                    &model,
                    &graph,
                    &scores,
                    b.cost.as_ref(),
                    b.budget,
                )?;
                budget::record(&p, spec, values);
                p.plan
            }
            None => config.plan_from_scores(&model, &graph, &scores)?,
        }
    } else {
        let criterion = criterion(ctx, &model, spec)?;
        let pruner = config.init(criterion)?;
        let batches = calibration(ctx, spec)?;
        match &budget {
            Some(b) => {
                let p = pruner.plan_within_with_data(
                    &model,
                    &graph,
                    b.cost.as_ref(),
                    b.budget,
                    batches,
                    loss,
                )?;
                budget::record(&p, spec, values);
                p.plan
            }
            None => pruner.plan_with_data(&model, &graph, batches, loss)?,
        }
    };
    let before = burn_prune::models::param_count(&model);
    let model = plan.apply_with_constants(model)?;
    println!(
        "removed channels: {before} -> {} parameters",
        burn_prune::models::param_count(&model)
    );
    Ok((model, plan))
}

/// The output width of every conv and linear layer of `arch`, as explicit keep counts for
/// the same layers of `model` (same architecture family, same layer paths).
fn target_widths(
    model: &Network,
    arch: super::network::Arch,
    ctx: &Context,
) -> Result<Vec<KeepChannels>> {
    let target = arch.spec(ctx.dataset)?.init(&ctx.device)?;
    let shapes = |m: &Network| -> Vec<(String, Vec<usize>)> {
        param_addresses(m)
            .into_iter()
            .filter(|p| {
                matches!(p.kind, LayerKind::Conv | LayerKind::Linear) && p.name() == "weight"
            })
            .map(|p| (p.path, p.shape))
            .collect()
    };
    let (ours, theirs) = (shapes(model), shapes(&target));
    if ours.len() != theirs.len() || ours.iter().zip(&theirs).any(|(a, b)| a.0 != b.0) {
        return Err(AppError::invalid(
            "to-arch",
            format!(
                "{} does not have the same layers as the model being pruned",
                arch.name()
            ),
        ));
    }
    Ok(ours
        .iter()
        .zip(&theirs)
        .filter(|(a, b)| a.1 != b.1)
        .map(|((path, _), (_, shape))| {
            // Conv weights are [out, in, k, k]; Burn's linear weights are [in, out].
            let out = if shape.len() == 2 { shape[1] } else { shape[0] };
            KeepChannels::new(path.clone(), out)
        })
        .collect())
}

fn activation_criterion(
    ctx: &Context,
    model: &Network,
    spec: &PruneSpec,
) -> Result<ActivationCriterion> {
    let batches = ctx.capture_batches(spec.calibration_batches, 64)?;
    let valid = model.valid();
    let capture = ActivationCapture::new(&valid, ctx.input(64), forward)?;
    // Only layers followed by a ReLU have an activation to measure (a residual block's
    // second convolution feeds the addition first).
    let layers: Vec<String> = capture
        .taps()
        .iter()
        .filter(|t| t.has_activation)
        .map(|t| t.path.clone())
        .collect();
    if layers.is_empty() {
        return Err(AppError::invalid(
            format!("criterion {:?}", spec.criterion).to_lowercase(),
            "no layer of the model is followed by a ReLU-family activation",
        ));
    }
    let stats = with_replay_backend!(ctx, |B, device| capture.statistics::<B, _>(
        &valid,
        batches,
        device,
        TapPoint::Activation,
        &layers
    )?);
    Ok(match spec.criterion {
        CriterionName::Apoz => ActivationCriterion::apoz(&stats),
        CriterionName::MeanActivation => ActivationCriterion::mean_activation(&stats),
        _ => ActivationCriterion::mutual_information(&stats, 8)?,
    })
}

fn input_moments(
    ctx: &Context,
    model: &Network,
    spec: &PruneSpec,
) -> Result<std::collections::BTreeMap<String, burn_prune::data::hessian::InputMoments>> {
    let batches = ctx.capture_batches(spec.calibration_batches, 64)?;
    let valid = model.valid();
    let capture = ActivationCapture::new(&valid, ctx.input(64), forward)?;
    Ok(with_replay_backend!(ctx, |B, device| capture
        .input_moments::<B, _>(&valid, batches, device, &[])?))
}

/// ThiNet or LASSO, layer after layer: every conv whose input channels form a group of their
/// own (the inner channels of a residual block, the channels between two VGG convs) loses
/// `sparsity` of them, chosen and reconstructed from sampled outputs.
fn reconstruct(
    ctx: &Context,
    mut model: Network,
    spec: &PruneSpec,
) -> Result<(Network, Vec<StructuralPlan>)> {
    let method = if spec.method == Method::Thinet {
        ChannelMethod::ThiNet
    } else {
        ChannelMethod::Lasso(LassoConfig::default())
    };
    let layers = reconstructable_layers(&graph_of(ctx, &model)?);
    // The same calibration images feed every layer; only the model changes between layers.
    let batches = ctx.capture_batches(spec.calibration_batches, 64)?;
    let mut plans = Vec::new();
    let bar = ProgressBar::new(layers.len() as u64);
    for layer in &layers {
        let graph = graph_of(ctx, &model)?;
        let valid = model.valid();
        let channels = graph.shapes[layer][1];
        let remove = ((spec.sparsity * channels as f64).round() as usize).min(channels - 1);
        if remove == 0 {
            continue;
        }
        let capture = ActivationCapture::new(&valid, ctx.input(64), forward)?;
        let result = with_replay_backend!(ctx, |B, device| capture.reconstruct_channels::<B, _>(
            &valid,
            batches.iter().cloned(),
            device,
            layer,
            remove,
            &method,
            SAMPLES_PER_BATCH,
            ctx.seed
        )?);
        let kept: Vec<bool> = (0..channels).map(|c| result.kept.contains(&c)).collect();
        let (g, _) = graph.group_of(layer, 1).ok_or_else(|| {
            AppError::invalid(
                "channel reconstruction",
                format!("{layer}: no group for its inputs"),
            )
        })?;
        let mut keep: Vec<Vec<bool>> = graph
            .groups
            .iter()
            .map(|gr| vec![true; gr.n_units])
            .collect();
        keep[g] = kept;
        plans.push(StructuralPlan::from_groups(&graph, &keep)?);
        model = result.apply(model, &graph)?;
        bar.inc(1);
        bar.suspend(|| {
            println!(
                "{layer}: kept {}/{channels} input channels; sampled output error {:.3e} -> {:.3e} after reconstruction",
                result.kept.len(),
                result.removal_error,
                result.reconstructed_error
            )
        });
    }
    bar.finish_and_clear();
    Ok((model, plans))
}

/// Conv layers whose input channels are a free group of their own: exactly one conv reads
/// them, nothing pins them.
fn reconstructable_layers(graph: &DependencyGraph) -> Vec<String> {
    graph
        .groups
        .iter()
        .filter(|g| g.prunable() > 0 && g.pinned.is_empty())
        .filter_map(|g| {
            let readers: Vec<&str> = g
                .members
                .iter()
                .filter(|m| {
                    m.axis == 1
                        && m.path.ends_with("weight")
                        && graph.shapes.get(&m.path).is_some_and(|s| s.len() == 4)
                })
                .map(|m| m.path.as_str())
                .collect();
            (readers.len() == 1).then(|| readers[0].to_string())
        })
        .collect()
}

/// Scheduled pruning (iterative or AGP) while training.
fn scheduled(
    ctx: &Context,
    model: Network,
    meta: RunMeta,
    spec: &PruneSpec,
    train: TrainConfig,
) -> Result<Checkpoint> {
    let train = ctx.adjust(train);
    let steps_per_epoch = ctx.data.train.len().div_ceil(train.batch_size) as u64;
    let total = (train.epochs as u64 * steps_per_epoch).max(1);
    let schedule = match spec.schedule {
        ScheduleName::Iterative => ScheduleConfig::Iterative(
            IterativeConfig::new(spec.sparsity, spec.rounds, (total / spec.rounds).max(1))
                .with_begin(1),
        ),
        _ => {
            // The cubic curve over the first three quarters of training.
            let interval = (3 * total / 4 / spec.rounds).max(1);
            ScheduleConfig::Gradual(
                GradualConfig::agp(spec.sparsity, spec.rounds)
                    .with_interval(interval)
                    .with_begin(1),
            )
        }
    };
    // An interrupted run continues from its last epoch (the pruner is stateless: the step
    // decides the target, and masks only grow).
    let dir = ctx.dir(&meta.name);
    let (model, mut meta) = interrupted(ctx, &meta)?.unwrap_or((model, meta));
    let criterion = criterion(ctx, &model, spec)?;
    let pruner = ScheduledPrunerConfig::new(schedule)
        .with_pruner(pruner_config(spec)?)
        .init(criterion)?;
    meta.train = Some(train);
    let mut hooks = Scheduled { pruner };
    let (model, meta) = ctx.trainer().fit(model, meta, &dir, &mut hooks)?;
    report_masks(&burn_prune::masks_of(&model)?);
    Checkpoint::open(&dir).map(|c| Checkpoint { meta, ..c })
}

/// The model and record of an interrupted training run of `meta`'s command and description
/// in its directory, to continue from the last saved epoch; `None` when there is none.
fn interrupted(ctx: &Context, meta: &RunMeta) -> Result<Option<(Network, RunMeta)>> {
    let dir = ctx.dir(&meta.name);
    if !Checkpoint::exists(&dir) {
        return Ok(None);
    }
    let c = Checkpoint::open(&dir)?;
    if c.meta.finished
        || c.meta.train.is_none()
        || c.meta.command != meta.command
        || c.meta.description != meta.description
    {
        return Ok(None);
    }
    println!(
        "[{}] resuming after epoch {} from {}",
        c.meta.name,
        c.meta.epochs_done,
        dir.display()
    );
    Ok(Some((
        c.load_model(&ctx.device.clone().autodiff())?,
        c.meta,
    )))
}

struct Scheduled {
    pruner: ScheduledPruner,
}

impl Hooks for Scheduled {
    fn after_step(&mut self, model: Network, step: u64, bar: &ProgressBar) -> Result<Network> {
        let (model, event) = self.pruner.update(model, step)?;
        if let Some(e) = event {
            bar.suspend(|| {
                println!(
                    "step {}: target {:.1}%, {:.1}% of the weights pruned",
                    e.step,
                    100.0 * e.target,
                    100.0 * e.sparsity
                )
            });
        }
        Ok(model)
    }
}

/// Soft filter pruning: train, zeroing the weakest channels (whole dependency groups) after
/// every epoch; then remove them. The accuracy of the zeroed network is recorded too
/// (`accuracy_before_compaction`): removing channels that carry zero changes no output.
fn soft_filter(
    ctx: &Context,
    model: Network,
    meta: RunMeta,
    spec: &PruneSpec,
    train: TrainConfig,
) -> Result<Checkpoint> {
    let sfp = SoftFilterPruningConfig::new(1.0 - spec.sparsity).init()?;
    // An interrupted run continues from its last epoch (its filters were zeroed before the
    // checkpoint was written).
    let (model, mut meta) = interrupted(ctx, &meta)?.unwrap_or((model, meta));
    meta.train = Some(ctx.adjust(train));
    let dir = ctx.dir(&meta.name);
    let graph = graph_of(ctx, &model)?;
    let mut hooks = SoftFilter {
        sfp: sfp.clone(),
        graph,
    };
    let (model, mut meta) = ctx.trainer().fit(model, meta, &dir, &mut hooks)?;
    let (_, zeroed) = ctx
        .trainer()
        .evaluate(&model.valid(), &ctx.data.test, 100)?;
    meta.values
        .insert("accuracy_before_compaction".into(), zeroed);
    let graph = graph_of(ctx, &model)?;
    let (model, plan) = sfp.compact(model, &graph)?;
    meta.plans.push(plan);
    let (_, accuracy) = ctx
        .trainer()
        .evaluate(&model.valid(), &ctx.data.test, 100)?;
    meta.values.insert("accuracy".into(), accuracy);
    meta.finished = true;
    Checkpoint::save(&dir, meta, &model, None)
}

/// Zeroes whole channels (every member of their dependency group) after each epoch, so the
/// compaction at the end removes channels that carry exactly zero.
struct SoftFilter {
    sfp: SoftFilterPruning,
    graph: DependencyGraph,
}

impl Hooks for SoftFilter {
    fn after_epoch(&mut self, model: Network, _epoch: usize) -> Result<Network> {
        Ok(self.sfp.zero_groups(model, &self.graph)?.0)
    }

    fn finishes_run(&self) -> bool {
        false // `soft_filter` compacts the trained model, then saves the finished run
    }
}

/// The network-slimming penalty as a training hook (`train --slimming λ`).
pub struct SlimmingPenalty(pub NetworkSlimming);

impl Hooks for SlimmingPenalty {
    fn before_step(
        &mut self,
        model: Network,
        grads: GradientsParams,
        _lr: f64,
    ) -> Result<(Network, GradientsParams)> {
        let grads = self.0.add_penalty(&model, grads)?;
        Ok((model, grads))
    }
}

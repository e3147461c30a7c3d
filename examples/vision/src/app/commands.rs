//! The training commands: `train`, `finetune`, `scratch`, `pai` and `lottery`.

use super::checkpoint::{Checkpoint, RunMeta};
use super::context::Context;
use super::error::{AppError, Result};
use super::network::{ModelSpec, Network, forward};
use super::prune::SlimmingPenalty;
use super::sparse_structure::{self, SparseStructureHook};
use super::train::{Hooks, NoHooks, TrainConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn_prune::metrics::{Convention, ModelMetrics};
use burn_prune::models::{ResNetCifar, Vgg};
use burn_prune::pai::{Baseline, GraspConfig, PreCropConfig, Snip, SynFlowConfig};
use burn_prune::schedule::methods::{
    LotteryTicketConfig, NetworkSlimmingConfig, Scratch, ScratchBudgetConfig, reinitialize,
};
use burn_prune::{ParamSelector, ParamSnapshot, PrunerConfig, masks_of};
use serde::{Deserialize, Serialize};

/// What to do with an existing run of the same name: `None` when there is none (or `fresh`
/// removed it); an error when it is a run of another command.
pub(super) fn existing(
    ctx: &Context,
    name: &str,
    command: &str,
    fresh: bool,
) -> Result<Option<Checkpoint>> {
    let dir = ctx.dir(name);
    if !Checkpoint::exists(&dir) {
        return Ok(None);
    }
    if fresh {
        std::fs::remove_dir_all(&dir).map_err(AppError::io(&dir))?;
        return Ok(None);
    }
    let checkpoint = ctx.open(name)?;
    if checkpoint.meta.command != command {
        return Err(AppError::checkpoint(
            &dir,
            format!(
                "holds a `{}` run, not `{command}`: choose another --name or pass --fresh",
                checkpoint.meta.command
            ),
        ));
    }
    Ok(Some(checkpoint))
}

/// Continue an unfinished run, or return a finished one as it is.
pub(crate) fn resume(
    ctx: &Context,
    checkpoint: Checkpoint,
    hooks: &mut dyn Hooks,
) -> Result<Checkpoint> {
    let name = checkpoint.meta.name.clone();
    if checkpoint.meta.finished {
        println!(
            "[{name}] already finished ({}); pass --fresh to redo it",
            checkpoint.dir.display()
        );
        return Ok(checkpoint);
    }
    println!(
        "[{name}] resuming after epoch {} from {}",
        checkpoint.meta.epochs_done,
        checkpoint.dir.display()
    );
    let model = checkpoint.load_model(&ctx.device.clone().autodiff())?;
    let (_, meta) = ctx
        .trainer()
        .fit(model, checkpoint.meta.clone(), &checkpoint.dir, hooks)?;
    Ok(Checkpoint { meta, ..checkpoint })
}

/// Train a fresh model and save it.
pub(crate) fn train_new(
    ctx: &Context,
    model: Network,
    meta: RunMeta,
    hooks: &mut dyn Hooks,
) -> Result<Checkpoint> {
    let dir = ctx.dir(&meta.name);
    println!(
        "[{}] {}: {} parameters, {} epochs",
        meta.name,
        meta.description,
        burn_prune::models::param_count(&model),
        meta.train.as_ref().map_or(0, |t| t.epochs)
    );
    let (_, meta) = ctx.trainer().fit(model, meta, &dir, hooks)?;
    Checkpoint::open(&dir).map(|c| Checkpoint { meta, ..c })
}

/// A penalty dense training adds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrainPenalty {
    /// Network slimming (Liu et al. 2017): L1 penalty `λ` on the BatchNorm scales.
    Slimming(f64),
    /// Sparse structure selection (Huang & Wang 2018): a learned scale on every residual
    /// branch under the L1 penalty `γ`, updated by the accelerated proximal gradient.
    SparseStructure(f64),
}

/// `train`: a dense baseline, optionally under network slimming's or sparse structure
/// selection's penalty.
pub fn train(
    ctx: &Context,
    name: &str,
    spec: ModelSpec,
    config: TrainConfig,
    penalty: Option<TrainPenalty>,
    fresh: bool,
) -> Result<Checkpoint> {
    let previous = existing(ctx, name, "train", fresh)?;
    let mut slimming;
    let mut sss;
    let hooks: &mut dyn Hooks = match penalty {
        Some(TrainPenalty::Slimming(lambda)) => {
            slimming = SlimmingPenalty(
                NetworkSlimmingConfig::new(0.0)
                    .with_penalty(lambda)
                    .init()?,
            );
            &mut slimming
        }
        Some(TrainPenalty::SparseStructure(gamma)) => {
            let saved = previous.as_ref().map(|c| c.meta.values.clone());
            sss = SparseStructureHook::new(gamma, &saved.unwrap_or_default())?;
            &mut sss
        }
        None => &mut NoHooks,
    };
    if let Some(c) = previous {
        return resume(ctx, c, hooks);
    }
    ctx.device.seed(ctx.seed);
    let mut model = spec.init(&ctx.device.clone().autodiff())?;
    let scaled = matches!(penalty, Some(TrainPenalty::SparseStructure(_)));
    if scaled {
        model = sparse_structure::add_block_scales(model)?;
    }
    let mut description = format!("dense {}", spec.describe());
    match penalty {
        Some(TrainPenalty::Slimming(lambda)) => {
            description.push_str(&format!(", BN-scale L1 penalty {lambda:e}"))
        }
        Some(TrainPenalty::SparseStructure(gamma)) => {
            description.push_str(&format!(", block scales under L1 penalty {gamma:e}"))
        }
        None => {}
    }
    let mut meta = ctx.run_meta(name, "train", description, spec);
    meta.block_scales = scaled;
    meta.method = "dense".into();
    meta.train = Some(ctx.adjust(config));
    train_new(ctx, model, meta, hooks)
}

/// `finetune`: train a pruned run further; masks stay installed, so pruned weights stay zero.
pub fn finetune(
    ctx: &Context,
    from: &str,
    name: &str,
    config: TrainConfig,
    fresh: bool,
) -> Result<Checkpoint> {
    if let Some(c) = existing(ctx, name, "finetune", fresh)? {
        return resume(ctx, c, &mut NoHooks);
    }
    let (parent, model) = ctx.load(from)?;
    let mut meta = ctx.run_meta(
        name,
        "finetune",
        format!("fine-tuned {}", parent.meta.description),
        parent.meta.model.clone(),
    );
    meta.dense = parent.meta.dense.clone();
    meta.block_scales = parent.meta.block_scales;
    meta.plans = parent.meta.plans.clone();
    meta.parent = Some(parent.meta.name.clone());
    meta.method = format!("{} + fine-tune", parent.meta.method_label());
    meta.values = parent.meta.values.clone();
    meta.values.remove("accuracy");
    meta.train = Some(ctx.adjust(config));
    train_new(ctx, model, meta, &mut NoHooks)
}

/// `scratch`: the pruned architecture (and masks) of run `from`, re-initialised and trained
/// from scratch for the dense run's epochs (Scratch-E) or for the same computation budget
/// (Scratch-B: epochs × dense MACs / pruned MACs, at most `max_extension` times the epochs
/// when given), after Liu et al. 2019.
pub fn scratch(
    ctx: &Context,
    from: &str,
    name: &str,
    variant: Scratch,
    config: TrainConfig,
    max_extension: Option<f64>,
    fresh: bool,
) -> Result<Checkpoint> {
    if let Some(c) = existing(ctx, name, "scratch", fresh)? {
        return resume(ctx, c, &mut NoHooks);
    }
    let (parent, model) = ctx.load(from)?;
    let dense = parent.meta.dense_spec().init(&ctx.device)?;
    let dense_metrics = ModelMetrics::of_model(&dense, ctx.input(1), forward)?;
    let pruned_metrics = ModelMetrics::of_model(&model.valid(), ctx.input(1), forward)?;
    let convention = Convention::Papers;
    let mut config = ctx.adjust(config);
    let budget = ScratchBudgetConfig::new(
        dense_metrics.macs(convention),
        pruned_metrics.effective_macs(convention),
        config.epochs,
    )
    .with_max_extension(max_extension)
    .init()?;
    config.epochs = budget.epochs(variant);
    let (model, _) = reinitialize(model, ctx.seed.wrapping_add(17))?;
    let mut meta = ctx.run_meta(
        name,
        "scratch",
        format!("Scratch-{variant:?} of {}", parent.meta.description),
        parent.meta.model.clone(),
    );
    meta.dense = parent.meta.dense.clone();
    meta.block_scales = parent.meta.block_scales;
    meta.plans = parent.meta.plans.clone();
    meta.parent = Some(parent.meta.name.clone());
    meta.method = format!("Scratch-{variant:?} of {}", parent.meta.method_label());
    meta.values
        .insert("budget_extension".into(), budget.extension());
    meta.train = Some(config);
    train_new(ctx, model, meta, &mut NoHooks)
}

/// A pruning-at-initialization method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PaiMethod {
    /// SNIP (Lee et al. 2019): `|w·g|` on one batch, one shot.
    Snip,
    /// GraSP (Wang et al. 2020): gradient-flow preservation.
    Grasp,
    /// SynFlow (Tanaka et al. 2020): data-free, 100 iterative rounds.
    Synflow,
    /// PreCrop (Wang et al. 2022): layer widths from a convex program, channels removed.
    Precrop,
    /// PreConfig (Wang et al. 2022): the same program with layers allowed to grow (up to
    /// twice as wide), the network rebuilt at those widths and trained dense.
    Preconfig,
    /// Layer densities of the Erdős–Rényi-kernel rule, random weights within.
    Erk,
    /// The same density in every layer, random weights.
    Uniform,
    /// Random weights globally.
    Random,
}

/// How much wider than the dense network PreConfig may make a layer.
pub const PRECONFIG_MAX_WIDENING: f64 = 2.0;

/// `pai`: prune a freshly initialised network, then train it.
pub fn pai(
    ctx: &Context,
    name: &str,
    mut spec: ModelSpec,
    method: PaiMethod,
    sparsity: f64,
    config: TrainConfig,
    fresh: bool,
) -> Result<Checkpoint> {
    if let Some(c) = existing(ctx, name, "pai", fresh)? {
        return resume(ctx, c, &mut NoHooks);
    }
    if !(0.0..1.0).contains(&sparsity) {
        return Err(AppError::invalid(
            "sparsity",
            format!("{sparsity} is outside [0, 1)"),
        ));
    }
    ctx.device.seed(ctx.seed);
    let model = spec.init(&ctx.device.clone().autodiff())?;
    let mut plans = Vec::new();
    let batches = ctx.calibration(4, 64)?;
    let loss = |m: &Network, (x, y): (Tensor<4>, Tensor<1, Int>)| {
        CrossEntropyLossConfig::new()
            .init(&x.device())
            .forward(m.forward(x), y)
    };
    let model = match method {
        PaiMethod::Snip => {
            PrunerConfig::new(sparsity)
                .init(Snip)?
                .prune_with_data(model, batches.into_iter().take(1), loss)?
                .0
        }
        PaiMethod::Grasp => {
            let scores = GraspConfig::new()
                .init()?
                .scores(&model, &batches, |m, (x, y)| (m.forward(x), y))?;
            PrunerConfig::new(sparsity)
                .init(scores.criterion())?
                .prune(model)?
                .0
        }
        PaiMethod::Synflow => {
            SynFlowConfig::new()
                .init()?
                .prune(model, sparsity, ctx.input(1), forward)?
                .0
        }
        PaiMethod::Precrop => {
            let precrop = PreCropConfig::new()
                .with_params(Some(1.0 - sparsity))
                .init()?;
            let allocation = precrop.channels(&model.valid(), ctx.input(1), forward)?;
            let plan = allocation.plan()?;
            let model = plan.apply_with_constants(model)?;
            plans.push(plan);
            model
        }
        PaiMethod::Preconfig => {
            // The allocation names the layers of the bare network (PreConfig reads them
            // back by those paths), not of the enum wrapping it.
            let precrop = PreCropConfig::new()
                .with_params(Some(1.0 - sparsity))
                .with_max_widening(PRECONFIG_MAX_WIDENING)
                .init()?;
            let input = ctx.input(1);
            spec = match (&spec, model.valid()) {
                (ModelSpec::ResNet(c), Network::ResNet(m)) => {
                    let allocation =
                        precrop.channels(&m, input, |m: &ResNetCifar, x| m.forward(x))?;
                    ModelSpec::ResNet(c.with_widths_of(&allocation)?)
                }
                (ModelSpec::Vgg(c), Network::Vgg(m)) => {
                    let allocation = precrop.channels(&m, input, |m: &Vgg, x| m.forward(x))?;
                    ModelSpec::Vgg(c.with_widths_of(&allocation)?)
                }
                _ => {
                    return Err(AppError::invalid(
                        "preconfig",
                        "the network does not match its configuration",
                    ));
                }
            };
            ctx.device.seed(ctx.seed);
            spec.init(&ctx.device.clone().autodiff())?
        }
        PaiMethod::Erk | PaiMethod::Uniform | PaiMethod::Random => {
            let baseline = match method {
                PaiMethod::Erk => Baseline::Erk,
                PaiMethod::Uniform => Baseline::Uniform,
                _ => Baseline::Random,
            };
            baseline
                .pruner(&model, sparsity, &ParamSelector::default(), ctx.seed)?
                .prune(model)?
                .0
        }
    };
    let mut meta = ctx.run_meta(
        name,
        "pai",
        format!("{method:?} at initialization, {:.0}%", 100.0 * sparsity).to_lowercase(),
        spec,
    );
    meta.plans = plans;
    meta.method = format!("{method:?} at initialization").to_lowercase();
    meta.values.insert("target_sparsity".into(), sparsity);
    meta.train = Some(ctx.adjust(config));
    train_new(ctx, model, meta, &mut NoHooks)
}

/// `lottery`: iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle et
/// al. 2020). Round 0 trains the dense network; every later round prunes `fraction` of the
/// remaining weights (global magnitude), rewinds the survivors to their values after
/// `rewind_epoch` epochs (0: the initialisation) and trains again. Each round is a run
/// (`NAME-r0`, `NAME-r1`, ...); finished rounds are skipped when the command is repeated.
#[allow(
    clippy::too_many_arguments,
    reason = "one argument per command-line flag"
)]
pub fn lottery(
    ctx: &Context,
    name: &str,
    spec: ModelSpec,
    rounds: u32,
    fraction: f64,
    rewind_epoch: usize,
    config: TrainConfig,
    fresh: bool,
) -> Result<Vec<Checkpoint>> {
    let ticket = LotteryTicketConfig::new()
        .with_fraction_per_round(fraction)
        .init()?;
    let config = ctx.adjust(config);
    if rewind_epoch >= config.epochs {
        return Err(AppError::invalid(
            "rewind epoch",
            format!(
                "{rewind_epoch} leaves no epoch to train of {}",
                config.epochs
            ),
        ));
    }
    let rewind_name = format!("{name}-rewind");
    let round_name = |r: u32| format!("{name}-r{r}");
    // The rewind point: the initialisation, or the dense network after `rewind_epoch` epochs.
    let rewind = match existing(ctx, &rewind_name, "train", fresh)? {
        Some(c) => resume(ctx, c, &mut NoHooks)?,
        None => {
            ctx.device.seed(ctx.seed);
            let model = spec.init(&ctx.device.clone().autodiff())?;
            let mut meta = ctx.run_meta(
                &rewind_name,
                "train",
                format!("lottery rewind point: epoch {rewind_epoch}"),
                spec.clone(),
            );
            if rewind_epoch == 0 {
                meta.finished = true;
                Checkpoint::save(ctx.dir(&rewind_name), meta, &model, None)?
            } else {
                meta.train = Some(TrainConfig {
                    epochs: rewind_epoch,
                    milestones: Vec::new(),
                    ..config.clone()
                });
                train_new(ctx, model, meta, &mut NoHooks)?
            }
        }
    };
    let snapshot = ParamSnapshot::capture(&rewind.load_model(&ctx.device)?)?;
    let mut done = Vec::new();
    for round in 0..=rounds {
        let rname = round_name(round);
        if let Some(c) = existing(ctx, &rname, "lottery", fresh)? {
            let c = resume(ctx, c, &mut NoHooks)?;
            done.push(c);
            continue;
        }
        let (model, parent) = if round == 0 {
            (
                rewind.load_model(&ctx.device.clone().autodiff())?,
                rewind.meta.name.clone(),
            )
        } else {
            let previous = done
                .last()
                .ok_or_else(|| AppError::invalid("lottery", "no previous round"))?;
            let trained = previous.load_model(&ctx.device.clone().autodiff())?;
            let (model, outcome) = ticket.next_round(trained, &snapshot)?;
            println!(
                "[{rname}] pruned to {:.1}% sparsity, rewound to epoch {rewind_epoch}",
                100.0 * outcome.sparsity
            );
            (model, previous.meta.name.clone())
        };
        let sparsity = ticket.sparsity_after(round);
        let mut meta = ctx.run_meta(
            &rname,
            "lottery",
            format!(
                "lottery ticket round {round}, {:.1}% pruned, rewind to epoch {rewind_epoch}",
                100.0 * sparsity
            ),
            spec.clone(),
        );
        meta.parent = Some(parent);
        meta.method = format!("lottery ticket, rewind to epoch {rewind_epoch}");
        meta.values.insert("round".into(), round as f64);
        meta.values.insert("target_sparsity".into(), sparsity);
        meta.train = Some(TrainConfig {
            epochs: config.epochs - rewind_epoch,
            ..config.clone()
        });
        let c = train_new(ctx, model, meta, &mut NoHooks)?;
        done.push(c);
    }
    if let Some(last) = done.last() {
        let model = last.load_model(&ctx.device)?;
        let (total, pruned) = masks_of(&model)?.counts();
        println!(
            "[{name}] {} rounds: {:.1}% of the weights pruned",
            rounds,
            100.0 * pruned as f64 / total.max(1) as f64
        );
    }
    Ok(done)
}

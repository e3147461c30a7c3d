//! `pipeline` (every command in turn) and `run RECIPE` (one published pipeline).

use super::commands::{self, PaiMethod};
use super::context::Context;
use super::error::Result;
use super::network::Arch;
use super::prune::prune_or_resume;
use super::recipe::Recipe;
use super::report::{MeasuredRun, write_report};
use super::spec::{CriterionName, Method, PruneSpec, ReductionName, ScheduleName, ScopeName};
use super::train::TrainConfig;
use crate::DatasetKind;
use burn_prune::schedule::methods::Scratch;
use std::fmt::Write as _;

/// Every command on ResNet-20, then the report.
pub fn pipeline(ctx: &Context, fresh: bool) -> Result<()> {
    let spec = Arch::Resnet20.spec(ctx.dataset)?;
    let dense = TrainConfig::dense(ctx.dataset);
    let finetune = TrainConfig::finetune_on(ctx.dataset);
    commands::train(ctx, "dense", spec.clone(), dense.clone(), None, fresh)?;
    let filters = PruneSpec {
        criterion: CriterionName::L1,
        granularity: "filter".into(),
        structural: true,
        reduction: ReductionName::First,
        sparsity: 0.5,
        ..PruneSpec::default()
    };
    prune_or_resume(
        ctx,
        "dense",
        "l1-filters",
        &filters,
        finetune.clone(),
        fresh,
    )?;
    commands::finetune(ctx, "l1-filters", "l1-filters-ft", finetune.clone(), fresh)?;
    commands::scratch(
        ctx,
        "l1-filters",
        "scratch-b",
        Scratch::B,
        dense.clone(),
        None,
        fresh,
    )?;
    let agp = PruneSpec {
        criterion: CriterionName::L1,
        scope: ScopeName::Global,
        sparsity: 0.9,
        schedule: ScheduleName::Agp,
        rounds: 4,
        ..PruneSpec::default()
    };
    prune_or_resume(ctx, "dense", "agp-90", &agp, finetune, fresh)?;
    commands::pai(
        ctx,
        "pai-synflow",
        spec.clone(),
        PaiMethod::Synflow,
        0.9,
        dense.clone(),
        fresh,
    )?;
    commands::pai(
        ctx,
        "pai-precrop",
        spec.clone(),
        PaiMethod::Precrop,
        0.7,
        dense.clone(),
        fresh,
    )?;
    commands::lottery(ctx, "lottery", spec, 1, 0.2, 0, dense, fresh)?;
    let report = write_report(&ctx.runs, &ctx.runs, &ctx.device, &ctx.timing())?;
    println!("report: {}", report.path.display());
    Ok(())
}

/// Run `recipe`, write the report, and compare with the paper.
pub fn run_recipe(ctx: &Context, recipe: &Recipe, fresh: bool) -> Result<()> {
    let spec = recipe.model.spec(ctx.dataset)?;
    let train = recipe
        .train
        .clone()
        .unwrap_or_else(|| TrainConfig::dense(ctx.dataset));
    let name = |stage: &str| format!("{}-{stage}", recipe.name);
    println!("recipe {}: {}", recipe.name, recipe.summary);
    let mut ours = Vec::new();
    if let Some(prune_spec) = &recipe.prune {
        let penalty = match (&recipe.slimming, &recipe.sparse_structure) {
            (Some(s), _) => Some(commands::TrainPenalty::Slimming(s.penalty)),
            (None, Some(s)) => Some(commands::TrainPenalty::SparseStructure(s.penalty)),
            (None, None) => None,
        };
        commands::train(ctx, &name("dense"), spec, train, penalty, fresh)?;
        prune_or_resume(
            ctx,
            &name("dense"),
            &name("pruned"),
            prune_spec,
            recipe
                .finetune
                .clone()
                .unwrap_or_else(|| TrainConfig::finetune_on(ctx.dataset)),
            fresh,
        )?;
        ours.push(name("dense"));
        ours.push(name("pruned"));
        // Iterative, AGP and soft filter pruning train while pruning, with `[finetune]`.
        let trained_while_pruning =
            prune_spec.schedule != ScheduleName::OneShot || prune_spec.method == Method::SoftFilter;
        if let Some(ft) = recipe.finetune.as_ref().filter(|_| !trained_while_pruning) {
            commands::finetune(ctx, &name("pruned"), &name("ft"), ft.clone(), fresh)?;
            ours.push(name("ft"));
        }
    } else if let Some(pai) = &recipe.pai {
        commands::pai(
            ctx,
            &name("pai"),
            spec,
            pai.method,
            pai.sparsity,
            train,
            fresh,
        )?;
        ours.push(name("pai"));
    } else if let Some(lottery) = &recipe.lottery {
        let rounds = commands::lottery(
            ctx,
            &recipe.name,
            spec,
            lottery.rounds,
            lottery.fraction,
            lottery.rewind_epoch,
            train,
            fresh,
        )?;
        ours.extend(rounds.iter().map(|c| c.meta.name.clone()));
    }
    let report = write_report(&ctx.runs, &ctx.runs, &ctx.device, &ctx.timing())?;
    let path = &report.path;
    let comparison = compare(ctx, recipe, &ours, &report.runs)?;
    let file = ctx.runs.join(format!("{}-comparison.md", recipe.name));
    super::checkpoint::write_atomic(&file, &comparison)?;
    println!(
        "\n{comparison}\nreport: {}\ncomparison: {}",
        path.display(),
        file.display()
    );
    Ok(())
}

/// The paper's numbers next to ours, as Markdown.
fn compare(
    ctx: &Context,
    recipe: &Recipe,
    ours: &[String],
    measured: &[MeasuredRun],
) -> Result<String> {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## {} against {}\n\n{}\n",
        recipe.name, recipe.paper.citation, recipe.paper.source
    );
    let _ = writeln!(
        md,
        "| | model | test accuracy | parameters | parameters pruned | FLOPs pruned |\n|---|---|---:|---:|---:|---:|"
    );
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}%"));
    for r in &recipe.paper.results {
        let _ = writeln!(
            md,
            "| paper | {} | {} | {} | {} | {} |",
            r.model,
            r.accuracy.map_or("–".to_string(), |a| format!("{a:.2}%")),
            r.params.map_or("–".to_string(), |p| format!("{p:.3e}")),
            pct(r.params_pruned_percent),
            pct(r.flops_pruned_percent)
        );
    }
    for m in measured
        .iter()
        .filter(|m| ours.contains(&m.checkpoint.meta.name))
    {
        let t = &m.report.totals;
        let _ = writeln!(
            md,
            "| ours | {} | {} | {} | {:.1}% | {:.1}% |",
            m.checkpoint.meta.name,
            m.checkpoint
                .meta
                .accuracy()
                .map_or("–".to_string(), |a| format!("{:.2}%", 100.0 * a)),
            t.nonzero_after,
            100.0 * m.sparsity(),
            100.0 * (1.0 - t.macs_after as f64 / t.macs_before.max(1) as f64)
        );
    }
    if !recipe.paper.notes.is_empty() {
        let _ = writeln!(md, "\n{}", recipe.paper.notes.trim());
    }
    let _ = writeln!(md, "\nData: {}.", ctx.data.label);
    if ctx.dataset != DatasetKind::Cifar10 {
        let _ = writeln!(
            md,
            "\nThe paper's numbers are on CIFAR-10; these runs are on {}: compare the changes \
             (pruned against dense), not the accuracies.",
            ctx.dataset
        );
    }
    Ok(md)
}

//! The tasks of the sections that chain existing commands: "Rethinking" (prune, fine-tune,
//! Scratch-E, Scratch-B), lottery tickets against random re-initialisation, the criteria
//! and pruning at initialization.

use super::super::commands;
use super::super::context::Context;
use super::super::prune::prune_or_resume;
use super::super::spec::{Method, PruneSpec};
use super::config::{StudyConfig, pct};
use super::early_bird;
use super::layout::{Layout, run_path};
use super::methods::{
    CRITERIA, DENSE, PAI, RethinkingMethod, criterion_name, criterion_spec, pai_name, sss,
};
use super::plan::Task;
use burn_prune::schedule::methods::Scratch;

/// Rough cost of a pruned network relative to the dense one, for the time estimate.
const PRUNED_COST: f64 = 0.6;

/// Dense runs of every seed: plain, and with the slimming penalty (saved after every epoch
/// for the early-bird section).
pub fn dense<'a>(ctx: &'a Context, layout: &'a Layout, config: &'a StudyConfig) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    let spec = config.network(ctx.dataset);
    let e = config.dense_epochs as f64;
    for &seed in &config.seeds {
        let cell = ctx.scoped(layout.rethinking(seed), seed);
        let (c, s) = (cell.clone(), spec.clone());
        tasks.push(Task::new(format!("seed {seed}: dense"), e, move || {
            commands::train(&c, DENSE, s, config.dense(), None, false).map(drop)
        }));
        let c = cell.clone();
        tasks.push(Task::new(
            format!("seed {seed}: dense with the slimming penalty (early-bird snapshots)"),
            e,
            move || early_bird::train_watched(&c, layout, config, seed).map(drop),
        ));
    }
    tasks
}

/// Every method at both ratios on each seed's dense runs: pruned, fine-tuned, Scratch-E
/// and Scratch-B.
pub fn rethinking<'a>(
    ctx: &'a Context,
    layout: &'a Layout,
    config: &'a StudyConfig,
) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    let e = config.dense_epochs as f64;
    let f = config.finetune_epochs as f64;
    for &seed in &config.seeds {
        let cell = ctx.scoped(layout.rethinking(seed), seed);
        for m in RethinkingMethod::ALL {
            for &r in m.ratios(config) {
                let c = cell.clone();
                let prune_units = if m.trains_while_pruning() { f } else { 0.1 };
                tasks.push(Task::new(
                    format!("seed {seed}: {} {}%", m.label(), pct(r)),
                    prune_units,
                    move || {
                        let train = config.finetune(config.finetune_epochs);
                        prune_or_resume(&c, m.source(), &m.pruned(r), &m.spec(r), train, false)
                            .map(drop)
                    },
                ));
                if !m.trains_while_pruning() {
                    let c = cell.clone();
                    tasks.push(Task::new(
                        format!("seed {seed}: {} {}% fine-tuned", m.label(), pct(r)),
                        f * PRUNED_COST,
                        move || {
                            let train = config.finetune(config.finetune_epochs);
                            commands::finetune(&c, &m.pruned(r), &m.finetuned(r), train, false)
                                .map(drop)
                        },
                    ));
                }
                for (variant, units) in [(Scratch::E, e * PRUNED_COST), (Scratch::B, e)] {
                    let name = m.scratch(r, variant == Scratch::B);
                    let label = format!("seed {seed}: {} {}%", m.label(), pct(r));
                    let from = m.pruned(r);
                    tasks.push(scratch_task(
                        &cell, config, label, from, name, variant, units,
                    ));
                }
            }
        }
    }
    tasks
}

/// Cost of an epoch of the deeper network of sparse structure selection relative to the
/// study's network, for the time estimate (ResNet-20 against ResNet-8 at width 8: 320
/// against 900 images per second here).
const DEEP_COST: f64 = 2.8;

/// Sparse structure selection on each seed: the deeper network trained plainly (its dense
/// reference) and with block scales under the penalty; the zero-scale blocks removed;
/// fine-tuned, Scratch-E and Scratch-B.
pub fn sparse_structure<'a>(
    ctx: &'a Context,
    layout: &'a Layout,
    config: &'a StudyConfig,
) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    let spec = config.sss_network(ctx.dataset);
    let e = config.dense_epochs as f64 * DEEP_COST;
    let f = config.finetune_epochs as f64 * DEEP_COST;
    let label = format!("ResNet-{}", config.sss_depth);
    for &seed in &config.seeds {
        let cell = ctx.scoped(layout.rethinking(seed), seed);
        let (c, s) = (cell.clone(), spec.clone());
        tasks.push(Task::new(
            format!("seed {seed}: dense {label}"),
            e,
            move || commands::train(&c, sss::DENSE, s, config.dense(), None, false).map(drop),
        ));
        let (c, s) = (cell.clone(), spec.clone());
        tasks.push(Task::new(
            format!("seed {seed}: {label} with sparse structure selection"),
            e,
            move || {
                let penalty = commands::TrainPenalty::SparseStructure(config.sss_penalty);
                commands::train(&c, sss::TRAINED, s, config.dense(), Some(penalty), false).map(drop)
            },
        ));
        let c = cell.clone();
        tasks.push(Task::new(
            format!("seed {seed}: blocks with a (near-)zero scale removed"),
            0.1,
            move || {
                let spec = PruneSpec {
                    method: Method::SparseStructure,
                    block_tolerance: config.sss_tolerance,
                    ..PruneSpec::default()
                };
                let train = config.finetune(config.finetune_epochs);
                prune_or_resume(&c, sss::TRAINED, sss::PRUNED, &spec, train, false).map(drop)
            },
        ));
        let c = cell.clone();
        tasks.push(Task::new(
            format!("seed {seed}: sparse structure selection fine-tuned"),
            f * PRUNED_COST,
            move || {
                let train = config.finetune(config.finetune_epochs);
                commands::finetune(&c, sss::PRUNED, sss::FINETUNED, train, false).map(drop)
            },
        ));
        for (variant, name, units) in [
            (Scratch::E, sss::SCRATCH_E, e * PRUNED_COST),
            (Scratch::B, sss::SCRATCH_B, e),
        ] {
            let label = format!("seed {seed}: sparse structure selection");
            let (from, name) = (sss::PRUNED.to_string(), name.to_string());
            tasks.push(scratch_task(
                &cell, config, label, from, name, variant, units,
            ));
        }
    }
    tasks
}

/// The task training run `from`'s architecture from scratch into run `name` (Scratch-E or
/// Scratch-B, capped at the study's extension), labelled `label` and the variant.
fn scratch_task<'a>(
    cell: &Context,
    config: &'a StudyConfig,
    label: String,
    from: String,
    name: String,
    variant: Scratch,
    units: f64,
) -> Task<'a> {
    let c = cell.clone();
    Task::new(format!("{label} Scratch-{variant:?}"), units, move || {
        commands::scratch(
            &c,
            &from,
            &name,
            variant,
            config.dense(),
            Some(config.scratch_max_extension),
            false,
        )
        .map(drop)
    })
}

/// The lottery round run at `round`.
pub fn lottery_round(round: u32) -> String {
    format!("lottery-r{round}")
}

/// The random re-initialisation of round `round`'s ticket.
pub fn lottery_random(round: u32) -> String {
    format!("random-r{round}")
}

/// At each learning rate and seed: lottery rounds (global magnitude, rewound to the
/// initialisation), then every round's ticket re-initialised at random (masks kept) and
/// trained the same way.
pub fn lottery<'a>(ctx: &'a Context, layout: &'a Layout, config: &'a StudyConfig) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    let spec = config.network(ctx.dataset);
    let e = config.dense_epochs as f64;
    for &lr in &config.lottery_lrs {
        let train = commands_train(config, lr);
        for &seed in &config.seeds {
            let cell = ctx.scoped(layout.lottery(lr, seed), seed);
            let (c, s, t) = (cell.clone(), spec.clone(), train.clone());
            tasks.push(Task::new(
                format!("seed {seed}: lottery rounds at lr {lr}"),
                e * (config.lottery_rounds + 1) as f64,
                move || {
                    commands::lottery(
                        &c,
                        "lottery",
                        s,
                        config.lottery_rounds,
                        config.lottery_fraction,
                        0,
                        t,
                        false,
                    )
                    .map(drop)
                },
            ));
            for round in 1..=config.lottery_rounds {
                let (c, t) = (cell.clone(), train.clone());
                tasks.push(Task::new(
                    format!("seed {seed}: random re-initialisation of round {round} at lr {lr}"),
                    e,
                    move || {
                        commands::scratch(
                            &c,
                            &lottery_round(round),
                            &lottery_random(round),
                            Scratch::E,
                            t,
                            None,
                            false,
                        )
                        .map(drop)
                    },
                ));
            }
        }
    }
    tasks
}

/// Dense training at learning rate `lr`.
fn commands_train(config: &StudyConfig, lr: f64) -> super::super::train::TrainConfig {
    super::super::train::TrainConfig {
        lr,
        ..config.dense()
    }
}

/// The pruned run of criterion `c` at `ratio`, and its fine-tuned run.
pub fn criterion_runs(c: super::super::spec::CriterionName, ratio: f64) -> (String, String) {
    let pruned = format!("{}-{}", criterion_name(c), pct(ratio));
    let ft = format!("{pruned}-ft");
    (pruned, ft)
}

/// Every criterion at every ratio on each seed's dense run: channels removed, accuracy
/// right after, then a short fine-tune.
pub fn criteria<'a>(
    ctx: &'a Context,
    layout: &'a Layout,
    config: &'a StudyConfig,
) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    let ft_units = config.criteria_finetune_epochs as f64 * PRUNED_COST;
    for &seed in &config.seeds {
        let cell = ctx.scoped(layout.criteria(seed), seed);
        let dense = run_path(&layout.rethinking(seed), DENSE);
        for c in CRITERIA {
            for &r in &config.criteria_ratios {
                let (cx, from) = (cell.clone(), dense.clone());
                tasks.push(Task::new(
                    format!("seed {seed}: {} {}%", criterion_name(c), pct(r)),
                    0.1 + ft_units,
                    move || {
                        let (pruned, ft) = criterion_runs(c, r);
                        let train = config.finetune(config.criteria_finetune_epochs);
                        prune_or_resume(
                            &cx,
                            &from,
                            &pruned,
                            &criterion_spec(c, r),
                            train.clone(),
                            false,
                        )?;
                        commands::finetune(&cx, &pruned, &ft, train, false).map(drop)
                    },
                ));
            }
        }
    }
    tasks
}

/// Every pruning-at-initialization method at the same parameter budget, trained as the
/// dense network is.
pub fn pai<'a>(ctx: &'a Context, layout: &'a Layout, config: &'a StudyConfig) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    let spec = config.network(ctx.dataset);
    for &seed in &config.seeds {
        let cell = ctx.scoped(layout.pai(seed), seed);
        for m in PAI {
            let (c, s) = (cell.clone(), spec.clone());
            tasks.push(Task::new(
                format!("seed {seed}: {} at initialization", pai_name(m)),
                config.dense_epochs as f64,
                move || {
                    commands::pai(
                        &c,
                        &pai_name(m),
                        s,
                        m,
                        1.0 - config.pai_density,
                        config.dense(),
                        false,
                    )
                    .map(drop)
                },
            ));
        }
    }
    tasks
}

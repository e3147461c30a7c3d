//! Network pruning spaces (He et al. 2023): subnetworks of one MAC regime sampled from the
//! dense network's dependency groups, each trained briefly; then the space refined to the
//! FLOPs-per-parameter band of the best ones and sampled again.

use super::super::checkpoint::{Checkpoint, write_atomic};
use super::super::commands::{existing, resume, train_new};
use super::super::context::Context;
use super::super::error::{AppError, Result};
use super::super::network::{ModelSpec, forward};
use super::super::prune::graph_of;
use super::super::train::{NoHooks, TrainConfig};
use super::config::StudyConfig;
use super::layout::Layout;
use super::plan::Task;
use burn_prune::metrics::{
    OpCounts, ParamStats, PruningSpace, PruningSpaceConfig, Regime, Subnetwork, ratio_band,
};
use burn_prune::structure::trace;

/// Seed of the space's sampler and of the subnetworks' initialisation.
const SPACE_SEED: u64 = 0;
/// The FLOPs-per-parameter band of the refined space, `[lo, hi]`, in the spaces directory.
pub const BAND: &str = "band.json";
/// Draws tried before giving up on filling the regime.
const MAX_DRAWS: usize = 200_000;

/// The run of the `i`-th subnetwork of the unrefined (`refined = false`) or refined space.
pub fn subnetwork_run(refined: bool, i: usize) -> String {
    if refined {
        format!("refined-{i}")
    } else {
        format!("net-{i}")
    }
}

/// The space of the study's network and its MAC regime.
pub fn build_space(
    ctx: &Context,
    config: &StudyConfig,
    band: Option<(f64, f64)>,
) -> Result<(PruningSpace, Regime)> {
    let spec = config.network(ctx.dataset);
    ctx.device.seed(SPACE_SEED);
    let model = spec.init(&ctx.device)?;
    let traced = trace(&model, ctx.input(1), forward)?;
    let ops = OpCounts::of_trace(&traced);
    let graph = graph_of(ctx, &model)?;
    let dense_macs = burn_prune::metrics::ModelMetrics::of_model(&model, ctx.input(1), forward)?
        .macs(burn_prune::metrics::Convention::Papers);
    let space = PruningSpace::new(
        graph,
        &ParamStats::of_model(&model)?,
        &ops,
        PruningSpaceConfig::new()
            .with_seed(SPACE_SEED + band.is_some() as u64)
            .with_ratio_band(band),
    )?;
    let regime = Regime::around(
        (config.space_macs * dense_macs as f64).round() as u64,
        config.space_tolerance,
    );
    Ok((space, regime))
}

/// Train subnetwork `net` of `space` as run `name` (resumed or skipped when it exists).
fn train_subnetwork(
    ctx: &Context,
    space: &PruningSpace,
    spec: &ModelSpec,
    name: &str,
    net: &Subnetwork,
    train: TrainConfig,
) -> Result<Checkpoint> {
    if let Some(c) = existing(ctx, name, "train", false)? {
        return resume(ctx, c, &mut NoHooks);
    }
    let plan = space.plan(&net.kept)?;
    ctx.device.seed(ctx.seed);
    let model = plan.apply_with_constants(spec.init(&ctx.device.clone().autodiff())?)?;
    let mut meta = ctx.run_meta(
        name,
        "train",
        format!(
            "subnetwork of {}: {} parameters, {} MACs",
            spec.describe(),
            net.params,
            net.macs
        ),
        spec.clone(),
    );
    meta.plans = vec![plan];
    meta.method = "pruning-space subnetwork".into();
    meta.values.insert("macs".into(), net.macs as f64);
    meta.values.insert("params".into(), net.params as f64);
    meta.values
        .insert("flops_per_param".into(), net.flops_per_param());
    meta.train = Some(ctx.adjust(train));
    train_new(ctx, model, meta, &mut NoHooks)
}

/// The test error of every finished run among `names` in `ctx`'s directory, with its
/// subnetwork's FLOPs per parameter: `(flops_per_param, error)`.
pub fn errors(ctx: &Context, names: &[String]) -> Result<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    for name in names {
        let dir = ctx.dir(name);
        if !Checkpoint::exists(&dir) {
            continue;
        }
        let c = Checkpoint::open(&dir)?;
        if !c.meta.finished {
            continue;
        }
        if let (Some(a), Some(r)) = (c.meta.accuracy(), c.meta.values.get("flops_per_param")) {
            out.push((*r, 1.0 - a));
        }
    }
    Ok(out)
}

/// The subnetworks of the unrefined space, each a task; then one task that refines the
/// space from their errors and trains the refined sample.
pub fn tasks<'a>(ctx: &'a Context, layout: &'a Layout, config: &'a StudyConfig) -> Vec<Task<'a>> {
    let cell = ctx.scoped(layout.spaces(), SPACE_SEED);
    let units = config.space_epochs as f64 * config.space_macs;
    let train = TrainConfig {
        epochs: config.space_epochs,
        ..config.dense()
    };
    let mut tasks = Vec::new();
    for i in 0..config.space_samples {
        let (c, t) = (cell.clone(), train.clone());
        tasks.push(Task::new(
            format!(
                "pruning space: subnetwork {}/{}",
                i + 1,
                config.space_samples
            ),
            units,
            move || {
                // Sampling is deterministic and fast: every task draws the same list.
                let (mut space, regime) = build_space(&c, config, None)?;
                let nets = space.sample_in(regime, config.space_samples, MAX_DRAWS)?;
                let spec = config.network(c.dataset);
                train_subnetwork(&c, &space, &spec, &subnetwork_run(false, i), &nets[i], t)
                    .map(drop)
            },
        ));
    }
    let c = cell.clone();
    tasks.push(Task::new(
        "pruning space: refined sample",
        units * config.space_refined_samples as f64,
        move || {
            let (mut space, regime) = build_space(&c, config, None)?;
            let nets = space.sample_in(regime, config.space_samples, MAX_DRAWS)?;
            let names: Vec<String> = (0..nets.len()).map(|i| subnetwork_run(false, i)).collect();
            let errors: Vec<f64> = errors(&c, &names)?.into_iter().map(|(_, e)| e).collect();
            if errors.len() != nets.len() {
                return Err(AppError::invalid(
                    "pruning space",
                    format!("{} of {} subnetworks trained", errors.len(), nets.len()),
                ));
            }
            let band = ratio_band(&nets, &errors, config.space_band_fraction)?;
            println!(
                "[spaces] FLOPs/param band of the best {:.0}%: [{:.1}, {:.1}]",
                100.0 * config.space_band_fraction,
                band.0,
                band.1
            );
            let json = serde_json::to_string(&band)
                .map_err(|e| AppError::invalid("pruning space band", e.to_string()))?;
            write_atomic(&c.dir(BAND), &json)?;
            let (mut refined, regime) = build_space(&c, config, Some(band))?;
            let picked = refined.sample_in(regime, config.space_refined_samples, MAX_DRAWS)?;
            let spec = config.network(c.dataset);
            for (i, net) in picked.iter().enumerate() {
                train_subnetwork(
                    &c,
                    &refined,
                    &spec,
                    &subnetwork_run(true, i),
                    net,
                    train.clone(),
                )?;
            }
            Ok(())
        },
    ));
    tasks
}

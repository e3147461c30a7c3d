//! The results page: every table and plot of the study, computed from the study directory
//! alone (accuracies from the runs' records, sizes from their rebuilt models, latencies
//! measured now on the command's device).

use super::super::checkpoint::{Checkpoint, write_atomic};
use super::super::context::Context;
use super::super::error::{AppError, Result};
use super::super::network::{ModelSpec, Network, forward};
use super::super::spec::CriterionName;
use super::config::{StudyConfig, pct};
use super::early_bird::{Detection, read_detection, ticket_runs};
use super::layout::Layout;
use super::methods::{
    CRITERIA, DENSE, DENSE_SLIM, PAI, RethinkingMethod, criterion_label, pai_is_structural,
    pai_label, pai_name, sss,
};
use super::plan::duration;
use super::record::StudyRecord;
use super::sections::{criterion_runs, lottery_random, lottery_round};
use super::spaces::{BAND, errors, subnetwork_run};
use super::stats::{mean_std, spearman};
use burn_prune::metrics::plot::{Series, line_plot, scatter_plot};
use burn_prune::metrics::{
    Convention, LatencyComparison, LatencyConfig, ModelMetrics, PruningReport, ReportTotals,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Timed calls per network and batch size (after the warm-up).
const TIMED_RUNS: usize = 15;
/// Untimed calls first.
const WARMUP: usize = 3;

/// What the page is made from.
pub struct Page<'a> {
    /// Device (latency) and data (input shape).
    pub ctx: &'a Context,
    /// The study directory.
    pub layout: &'a Layout,
    /// The configuration the study ran with.
    pub config: &'a StudyConfig,
    /// Its invocations.
    pub record: &'a StudyRecord,
    /// The command line that made it, as printed on the page.
    pub command: String,
}

/// Accuracy of a finished run, if it is there.
fn accuracy(dir: &Path, name: &str) -> Option<f64> {
    let dir = dir.join(name);
    if !Checkpoint::exists(&dir) {
        return None;
    }
    let c = Checkpoint::open(&dir).ok()?;
    c.meta.finished.then(|| c.meta.accuracy()).flatten()
}

/// `name`'s accuracy on every seed's directory that has it finished.
fn over_seeds(config: &StudyConfig, dir: impl Fn(u64) -> PathBuf, name: &str) -> Vec<f64> {
    config
        .seeds
        .iter()
        .filter_map(|&s| accuracy(&dir(s), name))
        .collect()
}

/// `87.3 ± 0.4 (3)` in percent, or `–`.
fn cell(values: &[f64]) -> String {
    match mean_std(values) {
        Some((m, s)) if values.len() > 1 => {
            format!("{:.1} ± {:.1} ({})", 100.0 * m, 100.0 * s, values.len())
        }
        Some((m, _)) => format!("{:.1} (1)", 100.0 * m),
        None => "–".into(),
    }
}

/// The difference of two cells' means in percentage points, with a word for it: within
/// one combined standard deviation is a tie; with a single seed on either side there is no
/// spread to judge by.
fn difference(a: &[f64], b: &[f64]) -> Option<(f64, &'static str)> {
    let ((ma, sa), (mb, sb)) = (mean_std(a)?, mean_std(b)?);
    let d = ma - mb;
    let s = (sa * sa + sb * sb).sqrt();
    let word = if a.len() < 2 || b.len() < 2 {
        "one seed: no spread to compare with"
    } else if d > s {
        "higher"
    } else if d < -s {
        "lower"
    } else {
        "tie"
    };
    Some((100.0 * d, word))
}

fn signed(d: f64) -> String {
    format!("{d:+.1}")
}

/// The first seed's run `name` in `dir(seed)`, loaded.
fn first_model(
    ctx: &Context,
    config: &StudyConfig,
    dir: impl Fn(u64) -> PathBuf,
    name: &str,
) -> Option<Network> {
    config.seeds.iter().find_map(|&s| {
        let d = dir(s).join(name);
        let c = Checkpoint::open(&d).ok()?;
        c.meta
            .finished
            .then(|| c.load_model(&ctx.device).ok())
            .flatten()
    })
}

/// `model` against the dense network at `batch` on the page's device: both timed in
/// alternation after a warm-up, so neither is measured colder than the other.
fn compare(
    ctx: &Context,
    dense: &Network,
    model: &Network,
    batch: usize,
    theoretical: f64,
) -> Result<LatencyComparison> {
    let [_, c, h, w] = ctx.input(1);
    Ok(LatencyConfig::new(batch)
        .with_runs(TIMED_RUNS)
        .with_warmup(WARMUP)
        .compare(
            (dense, forward),
            (model, forward),
            [c, h, w],
            &ctx.device,
            theoretical,
        )?)
}

/// Whether Scratch-B and Scratch-E matched or beat fine-tuning (`higher` or `tie`), when both
/// differences can be judged (a spread on both sides).
fn scratch_verdict(ft: &[f64], se: &[f64], sb: &[f64]) -> Option<(bool, bool)> {
    let judged = |w: &str| matches!(w, "higher" | "tie" | "lower");
    let ok = |w: &str| matches!(w, "higher" | "tie");
    match (difference(sb, ft), difference(se, ft)) {
        (Some((_, wb)), Some((_, we))) if judged(wb) && judged(we) => Some((ok(wb), ok(we))),
        _ => None,
    }
}

/// Sparse structure selection's row of the Rethinking table.
struct SssRow {
    /// The markdown line.
    line: String,
    /// (Scratch-B, Scratch-E) matched or beat fine-tuning, when judged.
    judged: Option<(bool, bool)>,
}

/// The dense reference.
struct Dense {
    model: Network,
    metrics: ModelMetrics,
}

/// A network's measured latency against the dense network's at both batch sizes.
struct Timed {
    /// Batch 1, then the study's batch size.
    comparisons: [LatencyComparison; 2],
}

impl Timed {
    /// `1.84× / 1.62× (0.41 / 7.44 ms)`.
    fn cell(&self) -> String {
        let [a, b] = &self.comparisons;
        format!(
            "{:.2}× / {:.2}× ({} / {} ms)",
            a.measured_speedup,
            b.measured_speedup,
            ms(a.pruned.median().as_secs_f64()),
            ms(b.pruned.median().as_secs_f64())
        )
    }
}

impl Page<'_> {
    fn batches(&self) -> [usize; 2] {
        [1, self.config.batch_size]
    }

    fn dense(&self) -> Result<Dense> {
        self.dense_of(&self.config.network(self.ctx.dataset))
    }

    fn dense_of(&self, spec: &ModelSpec) -> Result<Dense> {
        self.ctx.device.seed(0);
        let model = spec.init(&self.ctx.device)?;
        let metrics = ModelMetrics::of_model(&model, self.ctx.input(1), forward)?;
        Ok(Dense { model, metrics })
    }

    /// Time `model` against the dense network at both batch sizes.
    fn time(&self, dense: &Dense, model: &Network, theoretical: f64) -> Result<Timed> {
        let [a, b] = self.batches();
        Ok(Timed {
            comparisons: [
                compare(self.ctx, &dense.model, model, a, theoretical)?,
                compare(self.ctx, &dense.model, model, b, theoretical)?,
            ],
        })
    }

    fn totals(&self, dense: &Dense, model: &Network) -> Result<ReportTotals> {
        let m = ModelMetrics::of_model(model, self.ctx.input(1), forward)?;
        Ok(PruningReport::new(&dense.metrics, &m, Convention::Papers).totals)
    }

    /// Write the page to `out` and its plots beside it (`<out stem>/`), returning the path.
    pub fn write(&self, out: &Path) -> Result<PathBuf> {
        let plots_dir = out.with_extension("");
        std::fs::create_dir_all(&plots_dir).map_err(AppError::io(&plots_dir))?;
        let plots_rel = plots_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let plots = Plots {
            dir: plots_dir,
            rel: plots_rel,
        };
        println!("[study] measuring the dense network");
        let dense = self.dense()?;
        let mut md = String::new();
        self.header(&mut md, &dense);
        println!("[study] page: rethinking");
        self.rethinking(&mut md, &dense)?;
        println!("[study] page: lottery tickets");
        self.lottery(&mut md);
        println!("[study] page: criteria (measuring latency)");
        self.criteria(&mut md, &dense, &plots)?;
        println!("[study] page: pruning at initialization (measuring latency)");
        self.pai(&mut md, &dense)?;
        println!("[study] page: early bird");
        self.early_bird(&mut md, &dense, &plots)?;
        println!("[study] page: pruning spaces");
        self.spaces(&mut md, &plots)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(AppError::io(dir))?;
        }
        write_atomic(out, &md)?;
        Ok(out.to_path_buf())
    }

    fn header(&self, md: &mut String, dense: &Dense) {
        let c = self.config;
        let r = self.record;
        let _ = writeln!(
            md,
            "# Results: the papers' claims on Fashion-MNIST\n\n\
             <!-- Generated by `{}` from `{}`. Do not edit: rerun the command. -->\n\n\
             Every number on this page was produced by one command, from the runs it saved; \
             nothing is copied from a paper. Where a paper's claim does not hold here, the \
             section says so and why we think it differs. The scale is small (a CPU, \
             minutes per network): read the comparisons, not the absolute accuracies.\n",
            self.command,
            self.layout.root.display()
        );
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(md, "| command | `{}` |", self.command);
        let _ = writeln!(
            md,
            "| commit | {} |",
            r.commits()
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", then ")
        );
        let _ = writeln!(md, "| machine | {} |", r.machine);
        let _ = writeln!(
            md,
            "| wall time | {} over {} invocation(s){} |",
            duration(r.seconds()),
            r.invocations.len(),
            if r.complete() { "" } else { " (not finished)" }
        );
        let _ = writeln!(md, "| device | {:?} |", self.ctx.choice);
        let _ = writeln!(md, "| data | {} |", self.ctx.data.label);
        let w = c.width;
        let _ = writeln!(
            md,
            "| network | ResNet-{} (option-A shortcuts), widths {}/{}/{}, {} parameters, {:.2}M MACs per image |",
            c.depth,
            w,
            2 * w,
            4 * w,
            dense.metrics.params.trainable(),
            dense.metrics.macs(Convention::Papers) as f64 / 1e6
        );
        let _ = writeln!(md, "| seeds | {:?} |", c.seeds);
        let _ = writeln!(
            md,
            "| dense training | {} epochs, SGD lr 0.1 (÷10 at 50% and 75%), momentum 0.9, weight decay 1e-4, batch {}, random crop (pad 2) and flip |",
            c.dense_epochs, c.batch_size
        );
        let _ = writeln!(
            md,
            "| fine-tuning | {} epochs at lr 0.01 (÷10 halfway); criteria: {} epoch(s) |",
            c.finetune_epochs, c.criteria_finetune_epochs
        );
        let json = serde_json::to_string_pretty(c).unwrap_or_default();
        let _ = writeln!(
            md,
            "\nThe full configuration (`study.json`):\n\n```json\n{json}\n```\n"
        );
    }

    fn rethinking(&self, md: &mut String, dense: &Dense) -> Result<()> {
        let c = self.config;
        let dir = |s| self.layout.rethinking(s);
        let _ = writeln!(
            md,
            "## Rethinking the value of network pruning\n\n\
             Liu et al. (2019) claim that for structured pruning, training the pruned \
             architecture from scratch (Scratch-E: the dense run's epochs; Scratch-B: the \
             dense run's computation) is as good as or better than fine-tuning the pruned \
             weights. Accuracy in %, mean ± standard deviation over seeds (number of seeds). \
             Scratch-B is capped at {}× the dense epochs (their ImageNet code's cap).\n\n\
             L1 filters (Li et al.), ThiNet and LASSO remove the given fraction of every \
             block's inner channels (predefined widths); network slimming removes that \
             fraction of all BatchNorm channels below one global threshold of the scales \
             learnt under its penalty (automatic: the widths follow from training); soft filter \
             pruning zeroes that fraction of every convolution's filters after each of {} \
             epochs of training from the dense weights and removes them at the end; magnitude pruning masks that fraction of all \
             weights below one global threshold. Fine-tuning: {} epochs at lr 0.01.\n",
            c.scratch_max_extension, c.finetune_epochs, c.finetune_epochs
        );
        let _ = writeln!(
            md,
            "Dense: {}; dense with the slimming penalty ({:e}): {}.\n",
            cell(&over_seeds(c, dir, DENSE)),
            c.slimming_penalty,
            cell(&over_seeds(c, dir, DENSE_SLIM))
        );
        let _ = writeln!(
            md,
            "| method | kind | pruned | params kept | MACs kept | right after pruning | fine-tuned | Scratch-E | Scratch-B | Scratch-B − fine-tuned (pp) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        let (mut b_ok, mut e_ok, mut cells) = (0, 0, 0);
        for m in RethinkingMethod::ALL {
            for &r in m.ratios(c) {
                let pruned = over_seeds(c, dir, &m.pruned(r));
                let ft = over_seeds(c, dir, &m.finetuned(r));
                let se = over_seeds(c, dir, &m.scratch(r, false));
                let sb = over_seeds(c, dir, &m.scratch(r, true));
                let kept = self.kept(dense, &m.pruned(r))?;
                let diff = difference(&sb, &ft);
                if let Some((b, e)) = scratch_verdict(&ft, &se, &sb) {
                    cells += 1;
                    b_ok += b as usize;
                    e_ok += e as usize;
                }
                let _ = writeln!(
                    md,
                    "| {} | {} | {}% {} | {} | {} | {} | {} | {} | {} | {} |",
                    m.label(),
                    m.kind(),
                    pct(r),
                    if m == RethinkingMethod::Magnitude {
                        "of weights"
                    } else {
                        "of channels"
                    },
                    kept.0,
                    kept.1,
                    if m.trains_while_pruning() {
                        "(trained while pruning)".into()
                    } else {
                        cell(&pruned)
                    },
                    cell(&ft),
                    cell(&se),
                    cell(&sb),
                    diff.map_or("–".into(), |(d, w)| format!("{} ({w})", signed(d)))
                );
            }
        }
        let deep = self.dense_of(&c.sss_network(self.ctx.dataset))?;
        let sss_row = self.sss_row(&deep)?;
        if let Some(judged) = sss_row.judged {
            cells += 1;
            b_ok += judged.0 as usize;
            e_ok += judged.1 as usize;
        }
        md.push_str(&sss_row.line);
        let _ = writeln!(
            md,
            "\n**What we measured.** Scratch-B matched or beat fine-tuning (difference within \
             one combined standard deviation, or higher) in {b_ok} of {cells} cells; Scratch-E \
             in {e_ok} of {cells}. ({} training runs per cell; \"tie\" means the difference is \
             smaller than the seeds' spread.)\n",
            c.seeds.len()
        );
        self.sss_text(md);
        let _ = writeln!(
            md,
            "The paper's claim is that Scratch-B matches or beats fine-tuning; where it does \
             not here, we think the scale is the reason: the dense networks train {} epochs \
             (the paper's CIFAR networks 160, converged), fine-tuning gets {} epochs at lr \
             0.01 and Scratch-B at most {}× the dense epochs, so every arm is short of \
             convergence and the seeds' spread on {} test images hides differences of about a \
             point.\n",
            c.dense_epochs, c.finetune_epochs, c.scratch_max_extension, c.test_images
        );
        Ok(())
    }

    /// The table row of sparse structure selection, against the deeper dense network, and
    /// whether Scratch-B and Scratch-E matched or beat fine-tuning (when there is a spread to
    /// judge by).
    fn sss_row(&self, deep: &Dense) -> Result<SssRow> {
        let c = self.config;
        let dir = |s| self.layout.rethinking(s);
        let pruned = over_seeds(c, dir, sss::PRUNED);
        let ft = over_seeds(c, dir, sss::FINETUNED);
        let se = over_seeds(c, dir, sss::SCRATCH_E);
        let sb = over_seeds(c, dir, sss::SCRATCH_B);
        let removed: Vec<f64> = self
            .sss_runs()
            .iter()
            .filter_map(|m| m.values.get("blocks_removed").copied())
            .collect();
        let blocks = match mean_std(&removed) {
            Some((m, _)) => format!("{m:.1} of {} blocks", self.removable_blocks()),
            None => "–".into(),
        };
        let kept = self.kept(deep, sss::PRUNED)?;
        let diff = difference(&sb, &ft);
        let judged = scratch_verdict(&ft, &se, &sb);
        let line = format!(
            "| Sparse structure selection (ResNet-{}) | automatic | {blocks} | {} | {} | {} | {} | {} | {} | {} |\n",
            c.sss_depth,
            kept.0,
            kept.1,
            cell(&pruned),
            cell(&ft),
            cell(&se),
            cell(&sb),
            diff.map_or("–".into(), |(d, w)| format!("{} ({w})", signed(d)))
        );
        Ok(SssRow { line, judged })
    }

    /// The parameters (non-zero) and MACs the first seed's run `name` of the Rethinking
    /// section keeps of `dense`'s, as `97%` cells (`–` when there is no such run).
    fn kept(&self, dense: &Dense, name: &str) -> Result<(String, String)> {
        let dir = |s| self.layout.rethinking(s);
        let Some(model) = first_model(self.ctx, self.config, dir, name) else {
            return Ok(("–".into(), "–".into()));
        };
        let t = self.totals(dense, &model)?;
        Ok((
            format!(
                "{:.0}%",
                100.0 * t.nonzero_after as f64 / t.params_before as f64
            ),
            format!("{:.0}%", 100.0 * t.macs_after as f64 / t.macs_before as f64),
        ))
    }

    /// The finished pruning runs of sparse structure selection, seed by seed.
    fn sss_runs(&self) -> Vec<super::super::checkpoint::RunMeta> {
        self.config
            .seeds
            .iter()
            .filter_map(|&s| {
                let c = Checkpoint::open(self.layout.rethinking(s).join(sss::PRUNED)).ok()?;
                c.meta.finished.then_some(c.meta)
            })
            .collect()
    }

    /// Blocks of the deeper network that keep their shape: all but the first of stages 2
    /// and 3.
    fn removable_blocks(&self) -> usize {
        (self.config.sss_depth - 2) / 6 * 3 - 2
    }

    /// How sparse structure selection ran, and which blocks it removed on every seed.
    fn sss_text(&self, md: &mut String) {
        let c = self.config;
        let _ = writeln!(
            md,
            "Sparse structure selection (Huang & Wang 2018), the paper's other automatic \
             method, removes whole residual blocks, so it runs on a deeper network: ResNet-{} \
             at the same widths, whose {} blocks that keep their shape can go (the first \
             blocks of stages 2 and 3 downsample and stay). It trains {} epochs like the dense \
             networks, with a learned scale on every residual branch under the L1 penalty γ = \
             {} (ten times the paper's ImageNet value: the study trains a few hundred steps), \
             updated by the accelerated proximal gradient at the network's learning rate. \
             With momentum and the decayed learning rate of the last epochs, a penalised scale \
             ends small but rarely exactly zero, so blocks whose scale ends within {} of zero \
             are removed (the accuracy right after removal shows what that costs; an exactly \
             zero scale changes nothing) and the other scales are folded into their branch's \
             last BatchNorm. Its parameters and MACs kept, and the Scratch-B budget, are \
             relative to the dense ResNet-{} ({}); the same network under the penalty \
             reached {}.\n",
            c.sss_depth,
            self.removable_blocks(),
            c.dense_epochs,
            c.sss_penalty,
            c.sss_tolerance,
            c.sss_depth,
            cell(&over_seeds(c, |s| self.layout.rethinking(s), sss::DENSE)),
            cell(&over_seeds(c, |s| self.layout.rethinking(s), sss::TRAINED)),
        );
        let runs = self.sss_runs();
        if runs.is_empty() {
            return;
        }
        let _ = writeln!(
            md,
            "| seed | blocks removed | scales within {} of zero | smallest \\|λ\\| left |\n|---|---:|---|---:|",
            c.sss_tolerance
        );
        for meta in runs {
            let scales: Vec<(&str, f64)> = meta
                .values
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("sss_scale.")?, *v)))
                .collect();
            let small = |v: f64| v.abs() <= c.sss_tolerance;
            let zero: Vec<String> = scales
                .iter()
                .filter(|(_, v)| small(*v))
                .map(|(k, v)| format!("{k} ({v:.1e})"))
                .collect();
            let smallest = scales
                .iter()
                .map(|(_, v)| v.abs())
                .filter(|v| !small(*v))
                .fold(f64::INFINITY, f64::min);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                meta.seed,
                meta.values
                    .get("blocks_removed")
                    .map_or("–".into(), |v| format!("{v:.0}")),
                if zero.is_empty() {
                    "none".to_string()
                } else {
                    zero.join(", ")
                },
                if smallest.is_finite() {
                    format!("{smallest:.3}")
                } else {
                    "–".into()
                }
            );
        }
        md.push('\n');
    }

    fn lottery(&self, md: &mut String) {
        let c = self.config;
        let _ = writeln!(
            md,
            "## Lottery tickets and the learning rate\n\n\
             Frankle & Carbin (2019): a winning ticket (the surviving weights rewound to their \
             initial values) trains better than the same sparse structure re-initialised at \
             random. Liu et al. (2019) found this only at a small learning rate; at the usual \
             0.1 the random re-initialisation does as well. Global magnitude pruning, {:.0}% of \
             the remaining weights per round, rewound to initialisation; both arms train {} \
             epochs with the same masks.\n",
            100.0 * c.lottery_fraction,
            c.dense_epochs
        );
        let _ = writeln!(
            md,
            "| learning rate | weights pruned | dense (round 0) | winning ticket | random re-init | winning − random (pp) |\n|---:|---:|---:|---:|---:|---|"
        );
        // Per learning rate: the verdict of every sparsity.
        let mut verdicts: Vec<Vec<&'static str>> = Vec::new();
        for &lr in &c.lottery_lrs {
            let dir = |s| self.layout.lottery(lr, s);
            let dense = over_seeds(c, dir, &lottery_round(0));
            let mut words = Vec::new();
            for round in 1..=c.lottery_rounds {
                let sparsity = 1.0 - (1.0 - c.lottery_fraction).powi(round as i32);
                let win = over_seeds(c, dir, &lottery_round(round));
                let rnd = over_seeds(c, dir, &lottery_random(round));
                let diff = difference(&win, &rnd);
                words.extend(diff.map(|(_, w)| w));
                let _ = writeln!(
                    md,
                    "| {lr} | {:.0}% | {} | {} | {} | {} |",
                    100.0 * sparsity,
                    cell(&dense),
                    cell(&win),
                    cell(&rnd),
                    diff.map_or("–".into(), |(d, w)| format!("{} ({w})", signed(d)))
                );
            }
            verdicts.push(words);
        }
        // Liu et al.: at the large rate the ticket is no better than random (tie or lower);
        // at the small rate it is better.
        let judged = |words: &[&str], agrees: fn(&str) -> bool| {
            let n = words
                .iter()
                .filter(|w| matches!(**w, "higher" | "tie" | "lower"))
                .count();
            let k = words.iter().filter(|w| agrees(w)).count();
            (k, n)
        };
        let (large_k, large_n) = judged(&verdicts[0], |w| matches!(w, "tie" | "lower"));
        let (small_k, small_n) = judged(&verdicts[1], |w| w == "higher");
        let _ = writeln!(
            md,
            "\n**What we measured.** At lr {} (the paper: the ticket is no better than random) \
             the winning ticket was no better in {large_k} of {large_n} sparsities; at lr {} \
             (the paper: the ticket is better) it was better in {small_k} of {small_n}.",
            c.lottery_lrs[0], c.lottery_lrs[1]
        );
        if large_n + small_n > 0 && (large_k < large_n || small_k < small_n) {
            let _ = writeln!(
                md,
                "Where this disagrees with the paper we think the scale is the reason: every arm \
                 trains {} epochs on {} images, far from convergence, so which arm is ahead is \
                 decided early in training, and the seeds' spread on {} test images is about as \
                 large as the effect the paper reports on CIFAR-10 (one to a few points).",
                c.dense_epochs, c.train_images, c.test_images
            );
        }
        md.push('\n');
    }

    fn criteria(&self, md: &mut String, dense: &Dense, plots: &Plots) -> Result<()> {
        let c = self.config;
        let dir = |s| self.layout.criteria(s);
        let [_, big] = self.batches();
        let _ = writeln!(
            md,
            "## Criteria\n\n\
             Which channels to remove, by nine criteria of the taxonomy: every criterion scores \
             filters, the scores of a dependency group's members are averaged, and the same \
             fraction of every block's inner channels is removed (a smaller dense network; the \
             residual stream stays whole, as Li et al. prune CIFAR ResNets, and the activation \
             criteria could not score it: its ReLU follows the addition). Accuracy right after \
             pruning and \
             after {} epoch(s) of fine-tuning; the latency of each compacted network is \
             measured on this machine ({:?}) at batch 1 and {big}, in alternation with the \
             dense network (median of {TIMED_RUNS} calls after {WARMUP} warm-up calls).\n",
            c.criteria_finetune_epochs, self.ctx.choice,
        );
        let _ = writeln!(
            md,
            "| criterion | channels removed | MACs kept | before fine-tuning | after fine-tuning | theoretical speedup | measured speedup (batch 1 / {big}) |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        let (mut before_series, mut after_series) = (Vec::new(), Vec::new());
        let mut efficiency = Vec::new();
        for crit in CRITERIA {
            let (mut before_pts, mut after_pts) = (Vec::new(), Vec::new());
            for &r in &c.criteria_ratios {
                let (pruned, ft) = criterion_runs(crit, r);
                let before = over_seeds(c, dir, &pruned);
                let after = over_seeds(c, dir, &ft);
                if let Some((m, _)) = mean_std(&before) {
                    before_pts.push((r, 100.0 * m));
                }
                if let Some((m, _)) = mean_std(&after) {
                    after_pts.push((r, 100.0 * m));
                }
                let (kept, theory, measured) = match first_model(self.ctx, c, dir, &pruned) {
                    Some(model) => {
                        let t = self.totals(dense, &model)?;
                        let timed = self.time(dense, &model, t.structural_speedup)?;
                        efficiency.extend(timed.comparisons.iter().map(|l| l.efficiency()));
                        (
                            format!("{:.0}%", 100.0 * t.macs_after as f64 / t.macs_before as f64),
                            format!("{:.2}×", t.structural_speedup),
                            timed.cell(),
                        )
                    }
                    None => ("–".into(), "–".into(), "–".into()),
                };
                let _ = writeln!(
                    md,
                    "| {} | {}% | {kept} | {} | {} | {theory} | {measured} |",
                    criterion_label(crit),
                    pct(r),
                    cell(&before),
                    cell(&after)
                );
            }
            if !before_pts.is_empty() {
                before_series.push(Series::new(criterion_label(crit), before_pts));
            }
            if !after_pts.is_empty() {
                after_series.push(Series::new(criterion_label(crit), after_pts));
            }
        }
        md.push('\n');
        plots.plot(
            md,
            "criteria-before",
            "Accuracy right after removing channels",
            "fraction of channels removed",
            "test accuracy (%)",
            &before_series,
            true,
        )?;
        plots.plot(
            md,
            "criteria-after",
            "Accuracy after a short fine-tune",
            "fraction of channels removed",
            "test accuracy (%)",
            &after_series,
            true,
        )?;
        // Each criterion against the random one, ratio by ratio.
        let _ = writeln!(
            md,
            "**Against random channels** (the taxonomy's control): how many of the {} other \
             criteria are higher than random by more than the seeds' spread.\n\n\
             | channels removed | before fine-tuning | after fine-tuning |\n|---:|---:|---:|",
            CRITERIA.len() - 1
        );
        for &r in &c.criteria_ratios {
            let (rp, rf) = criterion_runs(CriterionName::Random, r);
            let (random_before, random_after) = (over_seeds(c, dir, &rp), over_seeds(c, dir, &rf));
            let count = |ft: bool| {
                let mut higher = Vec::new();
                for crit in CRITERIA.iter().filter(|&&k| k != CriterionName::Random) {
                    let (p, f) = criterion_runs(*crit, r);
                    let (mine, random) = if ft {
                        (over_seeds(c, dir, &f), &random_after)
                    } else {
                        (over_seeds(c, dir, &p), &random_before)
                    };
                    if difference(&mine, random).is_some_and(|(_, w)| w == "higher") {
                        higher.push(criterion_label(*crit));
                    }
                }
                if higher.is_empty() {
                    "none".to_string()
                } else {
                    format!("{} ({})", higher.len(), higher.join(", "))
                }
            };
            let _ = writeln!(md, "| {}% | {} | {} |", pct(r), count(false), count(true));
        }
        md.push('\n');
        let _ = writeln!(
            md,
            "Where few criteria beat random after fine-tuning, how much is removed matters more \
             than which channels go, as the taxonomy cautions; where many beat random only \
             before fine-tuning, the criterion chose well but a short fine-tune erases the \
             difference."
        );
        if let Some((m, _)) = mean_std(&efficiency) {
            let _ = writeln!(
                md,
                "On average the measured speedup is {:.0}% of the MAC ratio{}\n",
                100.0 * m,
                if m < 0.9 {
                    ": small layers are bound by memory traffic and per-call overhead, not \
                     arithmetic, so removing MACs saves less time than it removes work."
                } else {
                    "."
                }
            );
        }
        Ok(())
    }

    fn pai(&self, md: &mut String, dense: &Dense) -> Result<()> {
        let c = self.config;
        let dir = |s| self.layout.pai(s);
        let [_, big] = self.batches();
        let _ = writeln!(
            md,
            "## Pruning at initialization\n\n\
             Seven methods at the same parameter budget ({:.0}% of the dense network's \
             weights kept), each network then trained as the dense one ({} epochs). Masks save \
             no time on a dense kernel: only PreCrop and PreConfig, which change the layer \
             widths, can be faster. Parameters and MACs are relative to the dense network \
             (MACs of the non-zero weights; a masked network still computes all of them).\n",
            100.0 * c.pai_density,
            c.dense_epochs
        );
        let _ = writeln!(
            md,
            "| method | structure | accuracy | non-zero parameters | effective MACs | MACs computed | measured speedup (batch 1 / {big}) |\n|---|---|---:|---:|---:|---:|---:|"
        );
        let mut acc = std::collections::HashMap::new();
        let mut speed: std::collections::HashMap<String, [f64; 2]> = Default::default();
        let _ = writeln!(
            md,
            "| dense | dense | {} | 100% | 100% | 100% | 1.00× |",
            cell(&over_seeds(c, |s| self.layout.rethinking(s), DENSE))
        );
        for m in PAI {
            let name = pai_name(m);
            let values = over_seeds(c, dir, &name);
            let (params, macs, stored, measured) = match first_model(self.ctx, c, dir, &name) {
                Some(model) => {
                    let t = self.totals(dense, &model)?;
                    let stored = t.macs_stored_after as f64 / t.macs_before as f64;
                    let timed = self.time(dense, &model, 1.0 / stored)?;
                    let [a, b] = &timed.comparisons;
                    speed.insert(
                        name.clone(),
                        [
                            a.pruned.median().as_secs_f64(),
                            b.pruned.median().as_secs_f64(),
                        ],
                    );
                    (
                        format!(
                            "{:.0}%",
                            100.0 * t.nonzero_after as f64 / t.params_before as f64
                        ),
                        format!("{:.0}%", 100.0 * t.macs_after as f64 / t.macs_before as f64),
                        format!("{:.0}%", 100.0 * stored),
                        timed.cell(),
                    )
                }
                None => ("–".into(), "–".into(), "–".into(), "–".into()),
            };
            acc.insert(name.clone(), values.clone());
            let _ = writeln!(
                md,
                "| {} | {} | {} | {params} | {macs} | {stored} | {measured} |",
                pai_label(m),
                if pai_is_structural(m) {
                    "narrower/wider layers"
                } else {
                    "masked weights"
                },
                cell(&values)
            );
        }
        let precrop = acc.get("precrop").cloned().unwrap_or_default();
        let synflow = acc.get("synflow").cloned().unwrap_or_default();
        let _ = write!(
            md,
            "\n**Does PreCrop match SynFlow at a fraction of the latency?** "
        );
        match (
            difference(&precrop, &synflow),
            speed.get("precrop"),
            speed.get("synflow"),
        ) {
            (Some((d, w)), Some(p), Some(s)) => {
                let _ = writeln!(
                    md,
                    "PreCrop − SynFlow: {} pp ({w}); PreCrop's latency is {:.0}% of SynFlow's at \
                     batch 1 and {:.0}% at batch {big}.\n",
                    signed(d),
                    100.0 * p[0] / s[0],
                    100.0 * p[1] / s[1]
                );
            }
            _ => {
                let _ = writeln!(md, "not measured yet (the runs are not finished).\n");
            }
        }
        Ok(())
    }

    fn early_bird(&self, md: &mut String, dense: &Dense, plots: &Plots) -> Result<()> {
        let c = self.config;
        let _ = writeln!(
            md,
            "## Early-bird tickets\n\n\
             You et al. (2020) draw the pruned structure early in dense training, when the \
             channel mask of the {:.0}% smallest BatchNorm scales stops changing (distance ≤ \
             0.1 to each of the previous 4 epochs); the spline view (You, Balestriero et al.) \
             fires when the activation patterns over a grid between two test images stop \
             changing (distance < 0.16 to each of the previous 3 epochs, a {}×{} grid here). \
             The dense network trains with the slimming penalty; a ticket (network slimming at \
             {:.0}%) is drawn where each detector fired and at the end, and each is \
             fine-tuned {} epochs. Training cost counts dense epochs up to the draw plus the \
             fine-tune of the ticket, in MACs over the training images.\n",
            100.0 * c.early_bird_ratio,
            c.spline_grid,
            c.spline_grid,
            100.0 * c.early_bird_ratio,
            c.finetune_epochs
        );
        let _ = writeln!(
            md,
            "| seed | mask detector fired | spline detector fired | ticket drawn after epoch | accuracy after fine-tuning | training MACs vs drawing at the end |\n|---:|---:|---:|---:|---:|---:|"
        );
        let dense_macs = dense.metrics.macs(Convention::Papers) as f64;
        let mut first: Option<Detection> = None;
        // Over seeds: accuracy of the tickets at each detector's epoch and at the end, and the
        // training cost of the first relative to the last.
        let (mut bn_acc, mut spline_acc, mut end_acc) = (Vec::new(), Vec::new(), Vec::new());
        let (mut bn_cost, mut spline_cost) = (Vec::new(), Vec::new());
        let (mut bn_epochs, mut spline_epochs) = (Vec::new(), Vec::new());
        for &seed in &c.seeds {
            let dir = self.layout.early_bird(seed);
            let Some(d) = read_detection(&dir)? else {
                let _ = writeln!(md, "| {seed} | – | – | – | – | – |");
                continue;
            };
            let cost = |epoch: usize| -> Option<f64> {
                let (ticket, _) = ticket_runs(epoch);
                let model = Checkpoint::open(dir.join(&ticket))
                    .ok()?
                    .load_model(&self.ctx.device)
                    .ok()?;
                let m = ModelMetrics::of_model(&model, self.ctx.input(1), forward).ok()?;
                Some(
                    epoch as f64 * dense_macs
                        + c.finetune_epochs as f64 * m.macs(Convention::Papers) as f64,
                )
            };
            let end = cost(d.epochs);
            let ticket_accuracy = |epoch: usize| accuracy(&dir, &ticket_runs(epoch).1);
            end_acc.extend(ticket_accuracy(d.epochs));
            for (fired_at, acc, costs, epochs) in [
                (d.bn_epoch, &mut bn_acc, &mut bn_cost, &mut bn_epochs),
                (
                    d.spline_epoch,
                    &mut spline_acc,
                    &mut spline_cost,
                    &mut spline_epochs,
                ),
            ] {
                if let Some(e) = fired_at {
                    epochs.push(e.to_string());
                    acc.extend(ticket_accuracy(e));
                    if let (Some(a), Some(b)) = (cost(e), end) {
                        costs.push(a / b);
                    }
                } else {
                    epochs.push("–".into());
                }
            }
            for epoch in d.ticket_epochs() {
                let (_, ft) = ticket_runs(epoch);
                let rel = match (cost(epoch), end) {
                    (Some(a), Some(b)) => format!("{:.0}%", 100.0 * a / b),
                    _ => "–".into(),
                };
                let _ = writeln!(
                    md,
                    "| {seed} | {} | {} | {epoch}{} | {} | {rel} |",
                    fired(d.bn_epoch, d.epochs),
                    fired(d.spline_epoch, d.epochs),
                    if epoch == d.epochs { " (end)" } else { "" },
                    accuracy(&dir, &ft).map_or("–".into(), |a| format!("{:.1}", 100.0 * a))
                );
            }
            if first.is_none() {
                first = Some(d);
            }
        }
        md.push('\n');
        let _ = writeln!(
            md,
            "Over the seeds the mask detector fired at epochs {} and the spline detector at {} \
             (of {}).",
            bn_epochs.join(", "),
            spline_epochs.join(", "),
            c.dense_epochs
        );
        for (name, acc, costs) in [
            ("mask detector's", &bn_acc, &bn_cost),
            ("spline detector's", &spline_acc, &spline_cost),
        ] {
            if let (Some((d, w)), Some((m, _))) = (difference(acc, &end_acc), mean_std(costs)) {
                let _ = writeln!(
                    md,
                    "Tickets drawn at the {name} epoch: {} after fine-tuning against {} drawn at \
                     the end ({} pp, {w}), for {:.0}% of the training MACs.",
                    cell(acc),
                    cell(&end_acc),
                    signed(d),
                    100.0 * m
                );
            }
        }
        md.push('\n');
        if let Some(d) = first {
            let points = |v: &[Option<f64>]| -> Vec<(f64, f64)> {
                v.iter()
                    .enumerate()
                    .filter_map(|(i, x)| x.map(|x| ((i + 1) as f64, x)))
                    .collect()
            };
            let series: Vec<Series> = [
                ("BatchNorm mask (max over window)", points(&d.bn_distances)),
                (
                    "spline patterns (max over look-back)",
                    points(&d.spline_distances),
                ),
            ]
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(n, p)| Series::new(n, p))
            .collect();
            plots.plot(
                md,
                "early-bird",
                "Detector distances during dense training (first seed)",
                "epoch",
                "distance",
                &series,
                true,
            )?;
        }
        let _ = writeln!(
            md,
            "The paper reports tickets emerging within the first 10–20% of a 160-epoch run. \
             With {} epochs, the mask window alone needs 5 epochs, so the earliest possible \
             draw is epoch 5; a detector that did not fire says the mask or the patterns were \
             still moving when training ended.\n",
            c.dense_epochs
        );
        Ok(())
    }

    fn spaces(&self, md: &mut String, plots: &Plots) -> Result<()> {
        let c = self.config;
        let cell_ctx = self.ctx.scoped(self.layout.spaces(), 0);
        let names = |refined: bool, n: usize| -> Vec<String> {
            (0..n).map(|i| subnetwork_run(refined, i)).collect()
        };
        let plain = errors(&cell_ctx, &names(false, c.space_samples))?;
        let refined = errors(&cell_ctx, &names(true, c.space_refined_samples))?;
        let _ = writeln!(
            md,
            "## Pruning spaces\n\n\
             He et al. (2023): subnetworks drawn with a random keep ratio per dependency group \
             ([0.1, 1]), kept when their MACs are within {:.0}% of {:.0}% of the dense \
             network's; each trained {} epochs. Their finding: the best subnetworks of a MAC \
             regime share a FLOPs-to-parameters ratio, so a space refined to that band \
             contains better subnetworks.\n",
            100.0 * c.space_tolerance,
            100.0 * c.space_macs,
            c.space_epochs
        );
        let (x, y): (Vec<f64>, Vec<f64>) = plain.iter().copied().unzip();
        let rho = spearman(&x, &y);
        let band = std::fs::read_to_string(self.layout.spaces().join(BAND))
            .ok()
            .and_then(|t| serde_json::from_str::<(f64, f64)>(&t).ok());
        let stats = |v: &[(f64, f64)]| -> String {
            let e: Vec<f64> = v.iter().map(|p| p.1).collect();
            let mut sorted = e.clone();
            sorted.sort_by(f64::total_cmp);
            match mean_std(&e) {
                Some((m, s)) => format!(
                    "{} | {:.1} ± {:.1} | {:.1} | {:.1}",
                    e.len(),
                    100.0 * m,
                    100.0 * s,
                    100.0 * sorted[sorted.len() / 2],
                    100.0 * sorted[0]
                ),
                None => "0 | – | – | –".into(),
            }
        };
        let _ = writeln!(
            md,
            "| space | subnetworks trained | error (%) mean ± std | median | best |\n|---|---:|---:|---:|---:|"
        );
        let _ = writeln!(md, "| unrefined | {} |", stats(&plain));
        let _ = writeln!(
            md,
            "| refined to MACs/param in {} | {} |",
            band.map_or("–".into(), |(lo, hi)| format!("[{lo:.1}, {hi:.1}]")),
            stats(&refined)
        );
        let errs = |v: &[(f64, f64)]| -> Vec<f64> { v.iter().map(|p| p.1).collect() };
        if let Some((d, w)) = difference(&errs(&refined), &errs(&plain)) {
            let verdict = match w {
                "lower" => "lower: the refined space does hold better subnetworks here",
                "higher" => "higher: refining made the sample worse here",
                "tie" => "a tie: the band did not separate better subnetworks at this scale",
                _ => "too few subnetworks to judge",
            };
            let _ = writeln!(
                md,
                "\nThe refined sample's mean error is {} pp against the unrefined one's, {verdict}.",
                signed(d)
            );
        }
        let _ = writeln!(
            md,
            "\nSpearman's rank correlation of error with MACs per parameter over the unrefined \
             sample: {}.\n",
            rho.map_or("– (fewer than 3 subnetworks)".into(), |r| format!(
                "ρ = {r:.2}"
            ))
        );
        let mut series = Vec::new();
        if !plain.is_empty() {
            series.push(Series::new(
                "unrefined space",
                plain.iter().map(|(r, e)| (*r, 100.0 * e)).collect(),
            ));
        }
        if !refined.is_empty() {
            series.push(Series::new(
                "refined space",
                refined.iter().map(|(r, e)| (*r, 100.0 * e)).collect(),
            ));
        }
        plots.plot(
            md,
            "spaces",
            "Error of sampled subnetworks",
            "MACs per parameter",
            "test error (%)",
            &series,
            false,
        )?;
        let _ = writeln!(
            md,
            "A negative ρ means subnetworks that spend more computation per parameter (wider \
             early layers, narrower late ones) err less. With {} epochs per subnetwork the \
             errors are noisy (compare the seeds' spread in the tables above), so a weak \
             correlation here is weak evidence either way.\n",
            c.space_epochs
        );
        Ok(())
    }
}

fn fired(epoch: Option<usize>, of: usize) -> String {
    epoch.map_or(format!("no (of {of})"), |e| format!("epoch {e}"))
}

fn ms(seconds: f64) -> String {
    let v = seconds * 1e3;
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// Where the plots go and how the page links them.
struct Plots {
    dir: PathBuf,
    rel: String,
}

impl Plots {
    /// A line plot (`joined`) or a scatter plot of `series`, written beside the page and
    /// linked from it; a sentence instead when there is nothing to plot.
    #[allow(
        clippy::too_many_arguments,
        reason = "the plot's title, axes and series"
    )]
    fn plot(
        &self,
        md: &mut String,
        name: &str,
        title: &str,
        x: &str,
        y: &str,
        series: &[Series],
        joined: bool,
    ) -> Result<()> {
        self.draw(md, name, title, series, |p| {
            if joined {
                line_plot(p, title, x, y, series)
            } else {
                scatter_plot(p, title, x, y, series)
            }
        })
    }

    fn draw(
        &self,
        md: &mut String,
        name: &str,
        title: &str,
        series: &[Series],
        plot: impl FnOnce(&Path) -> burn_prune::metrics::Result<()>,
    ) -> Result<()> {
        if series.is_empty() {
            let _ = writeln!(md, "*({title}: no finished runs to plot yet.)*\n");
            return Ok(());
        }
        let file = format!("{name}.png");
        plot(&self.dir.join(&file))?;
        let _ = writeln!(md, "![{title}]({}/{file})\n", self.rel);
        Ok(())
    }
}

//! The command line: arguments (clap) and what each subcommand runs.

use super::checkpoint::Checkpoint;
use super::commands::{self, PaiMethod};
use super::context::Context;
use super::data::DataConfig;
use super::device::DeviceChoice;
use super::error::{AppError, Result};
use super::network::Arch;
use super::prune::prune_or_resume;
use super::recipe::Recipe;
use super::report::write_report;
use super::spec::{CriterionName, Method, PruneSpec, ReductionName, ScheduleName, ScopeName};
use super::study::{StudyConfig, StudyOptions, StudyScale, study};
use super::train::TrainConfig;
use crate::{DatasetKind, Download};
use burn_prune::schedule::methods::Scratch;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Train, prune, fine-tune and measure image classifiers (CIFAR-10, Fashion-MNIST) with
/// burn-prune.
///
/// Every command saves a run (a checkpoint directory) under `--runs`; later commands start
/// from runs by name (`--from dense`). Training saves after every epoch and resumes where it
/// stopped when the command is repeated. `--synthetic` runs everything on generated images
/// of the dataset's shape (no download), two epochs per stage, for a quick look or a smoke
/// test.
#[derive(Parser, Debug)]
#[command(name = "prune-vision", version, about, long_about = None)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Backend: the CPU (flex), the CPU through ndarray, or the GPU through wgpu.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu, global = true)]
    pub device: DeviceChoice,
    /// The dataset: CIFAR-10 (3×32×32, downloaded with `download` or `--download`) or
    /// Fashion-MNIST (1×28×28; `apt-get install dataset-fashion-mnist`).
    #[arg(long, value_enum, default_value_t = DatasetKind::Cifar10, global = true)]
    pub dataset: DatasetKind,
    /// Directory of the dataset: the one holding `cifar-10-batches-bin` (default `data`), or
    /// Fashion-MNIST's four IDX files (default `/usr/share/datasets/fashion-mnist`).
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// Download CIFAR-10 (about 160 MB) into `--data` when it is not there.
    #[arg(long, global = true)]
    pub download: bool,
    /// Generated images of the dataset's shape instead of its files: no download, at most 2
    /// epochs per stage, batches of 16; runs go to `runs/synthetic` (CIFAR-10) or
    /// `runs/synthetic-fashion-mnist` unless `--runs` says otherwise.
    #[arg(long, global = true)]
    pub synthetic: bool,
    /// Directory of the runs (default `runs` for CIFAR-10, `runs/fashion-mnist` for
    /// Fashion-MNIST).
    #[arg(long, global = true)]
    pub runs: Option<PathBuf>,
    /// Seed of initialisation, data order and augmentation.
    #[arg(long, default_value_t = 0, global = true)]
    pub seed: u64,
    /// Cap on every stage's epochs.
    #[arg(long, global = true, value_parser = epochs_arg)]
    pub max_epochs: Option<usize>,
    /// Images per training step (overrides recipes and defaults), at most 4096.
    #[arg(long, global = true, value_parser = batch_arg)]
    pub batch_size: Option<usize>,
    /// Use only the first N training images.
    #[arg(long, global = true, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Use only the first N test images.
    #[arg(long, global = true, value_name = "N")]
    pub test_limit: Option<usize>,
    /// Redo runs that exist instead of resuming or reusing them.
    #[arg(long, global = true)]
    pub fresh: bool,
    /// Stop after training N epochs of a run, with its checkpoint saved (for jobs with a time
    /// limit); the same command continues it. Exits with status 3.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub stop_after_epochs: Option<u64>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download and unpack CIFAR-10 into `--data` (resumable, checksummed).
    Download,
    /// Train a dense baseline.
    Train {
        /// The network.
        #[arg(long, value_enum, default_value_t = Arch::Resnet20)]
        arch: Arch,
        /// Option-B (projection) shortcuts on ResNets.
        #[arg(long)]
        projection_shortcuts: bool,
        /// Network slimming's L1 penalty λ on the BatchNorm scales (1e-4 for VGG, 1e-5 for
        /// ResNets in the paper).
        #[arg(long, value_name = "LAMBDA", conflicts_with = "sparse_structure")]
        slimming: Option<f64>,
        /// Sparse structure selection's L1 penalty γ on learned residual-branch scales
        /// (0.01 for ResNet-50 on ImageNet in the paper); ResNets only. Prune with
        /// `--method sparse-structure` afterwards.
        #[arg(long, value_name = "GAMMA")]
        sparse_structure: Option<f64>,
        /// Name of the run.
        #[arg(long, default_value = "dense")]
        name: String,
        /// Training settings.
        #[command(flatten)]
        train: TrainFlags,
    },
    /// Prune a trained run: any criterion, granularity, scope, schedule or method, by flags or
    /// by the `[prune]` table of a recipe.
    Prune {
        /// The run to prune.
        #[arg(long, default_value = "dense")]
        from: String,
        /// Name of the new run.
        #[arg(long, default_value = "pruned")]
        name: String,
        /// Take the pruning step from this recipe's `[prune]` table (flags given too are
        /// ignored).
        #[arg(long)]
        recipe: Option<PathBuf>,
        /// What to prune.
        #[command(flatten)]
        spec: PruneFlags,
        /// Training while pruning (iterative, AGP, soft filter pruning).
        #[command(flatten)]
        train: TrainFlags,
    },
    /// Fine-tune a pruned run (masks kept: pruned weights stay zero).
    Finetune {
        /// The run to fine-tune.
        #[arg(long, default_value = "pruned")]
        from: String,
        /// Name of the new run (default: `<from>-ft`).
        #[arg(long)]
        name: Option<String>,
        /// Training settings (default: 40 epochs at lr 0.01).
        #[command(flatten)]
        train: TrainFlags,
    },
    /// Train a pruned architecture from scratch: Scratch-E (the dense run's epochs) or
    /// Scratch-B (the same computation budget).
    Scratch {
        /// The pruned run whose architecture and masks are re-initialised.
        #[arg(long, default_value = "pruned")]
        from: String,
        /// Scratch-E or Scratch-B.
        #[arg(long, value_enum, default_value_t = ScratchVariant::B)]
        variant: ScratchVariant,
        /// Name of the new run (default: `scratch-e` / `scratch-b`).
        #[arg(long)]
        name: Option<String>,
        /// Scratch-B: train at most this many times the dense run's epochs (Liu et al.'s
        /// ImageNet code uses 2; unset: the full MAC ratio, as their CIFAR code).
        #[arg(long, value_name = "FACTOR")]
        max_extension: Option<f64>,
        /// Training settings (default: the dense run's).
        #[command(flatten)]
        train: TrainFlags,
    },
    /// Prune at initialization (SNIP, GraSP, SynFlow, PreCrop, ERK, uniform, random), then
    /// train.
    Pai {
        /// The network.
        #[arg(long, value_enum, default_value_t = Arch::Resnet20)]
        arch: Arch,
        /// The method.
        #[arg(long, value_enum, default_value_t = PaiMethod::Synflow)]
        method: PaiMethod,
        /// Fraction of the weights removed.
        #[arg(long, default_value_t = 0.9)]
        sparsity: f64,
        /// Name of the run (default: `pai-<method>`).
        #[arg(long)]
        name: Option<String>,
        /// Training settings.
        #[command(flatten)]
        train: TrainFlags,
    },
    /// Lottery tickets: iterative magnitude pruning with rewinding.
    Lottery {
        /// The network.
        #[arg(long, value_enum, default_value_t = Arch::Resnet20)]
        arch: Arch,
        /// Pruning rounds after the dense one.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Fraction of the remaining weights removed per round.
        #[arg(long, default_value_t = 0.2)]
        fraction: f64,
        /// Epoch the surviving weights are rewound to (0: the initialisation).
        #[arg(long, default_value_t = 0)]
        rewind_epoch: usize,
        /// Prefix of the round runs.
        #[arg(long, default_value = "lottery")]
        name: String,
        /// Training settings of every round.
        #[command(flatten)]
        train: TrainFlags,
    },
    /// Measure every run and write a Markdown report with plots.
    Report {
        /// Where to write `report.md` and the plots (default: the runs directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a recipe: dense training, pruning, fine-tuning (or pruning at initialization, or a
    /// lottery ticket), then the report.
    Run {
        /// The recipe (see `recipes/`).
        recipe: PathBuf,
    },
    /// Every command in turn on ResNet-20: train, structured L1 pruning, fine-tuning,
    /// Scratch-B, AGP, SynFlow and PreCrop at initialization, a lottery round, report.
    /// With `--synthetic` it runs offline in under a minute; on Fashion-MNIST the stages are
    /// sized for a CPU (see the guide's real-data page).
    Pipeline,
    /// The papers' claims on real data, in one resumable command: Rethinking (fine-tuned
    /// against Scratch-E/B), lottery tickets at two learning rates, nine criteria, pruning at
    /// initialization, early-bird detectors and pruning spaces; then the results page.
    /// `--scale full` is sized for 3 hours on 2 CPU cores (release build); `miniature`
    /// checks the command in a few minutes.
    Study {
        /// The preset: the published study, or a miniature of it.
        #[arg(long, value_enum, default_value_t = StudyScale::Full)]
        scale: StudyScale,
        /// Where to write the page (default `<runs>/study/results.md`); plots go into the
        /// directory of the same name without `.md`.
        #[arg(long)]
        page: Option<PathBuf>,
        /// Only write the page from the runs there are.
        #[arg(long)]
        page_only: bool,
    },
}

/// Scratch-E or Scratch-B.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScratchVariant {
    /// The dense run's epochs.
    E,
    /// The dense run's computation: epochs × dense MACs / pruned MACs.
    B,
}

/// `--batch-size`: 1 to [`MAX_BATCH`](super::train::MAX_BATCH).
fn batch_arg(text: &str) -> std::result::Result<usize, String> {
    bounded(text, 1, super::train::MAX_BATCH)
}

/// `--epochs`, `--max-epochs`: up to [`MAX_EPOCHS`](super::train::MAX_EPOCHS).
fn epochs_arg(text: &str) -> std::result::Result<usize, String> {
    bounded(text, 0, super::train::MAX_EPOCHS)
}

fn bounded(text: &str, min: usize, max: usize) -> std::result::Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|e| format!("`{text}` is not a count: {e}"))?;
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is not in {min}..={max}"))
    }
}

/// Training flags; unset ones keep the command's defaults.
#[derive(Args, Debug, Clone, Default)]
pub struct TrainFlags {
    /// Epochs.
    #[arg(long, value_parser = epochs_arg)]
    pub epochs: Option<usize>,
    /// Initial learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Fractions of the epochs where the rate drops, e.g. `0.5,0.75`.
    #[arg(long, value_delimiter = ',')]
    pub milestones: Option<Vec<f64>>,
    /// Factor of each drop.
    #[arg(long)]
    pub gamma: Option<f64>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// No random crop and flip.
    #[arg(long)]
    pub no_augment: bool,
}

impl TrainFlags {
    /// `base` with the given flags applied.
    pub fn apply(&self, mut base: TrainConfig) -> TrainConfig {
        if let Some(v) = self.epochs {
            base.epochs = v;
        }
        if let Some(v) = self.lr {
            base.lr = v;
        }
        if let Some(v) = &self.milestones {
            base.milestones = v.clone();
        }
        if let Some(v) = self.gamma {
            base.gamma = v;
        }
        if let Some(v) = self.momentum {
            base.momentum = v;
        }
        if let Some(v) = self.weight_decay {
            base.weight_decay = v;
        }
        if self.no_augment {
            base.augment = false;
        }
        base
    }
}

/// Pruning flags.
#[derive(Args, Debug, Clone)]
pub struct PruneFlags {
    /// The method.
    #[arg(long, value_enum, default_value_t = Method::Criterion)]
    pub method: Method,
    /// The criterion (method `criterion`).
    #[arg(long, value_enum, default_value_t = CriterionName::L1)]
    pub criterion: CriterionName,
    /// element, kernel, filter, channel, N:M (e.g. 2:4) or block:OxI (e.g. block:4x4).
    #[arg(long, default_value = "element")]
    pub granularity: String,
    /// Local, global or LAMP (masks, and channels removed with `--structural`).
    #[arg(long, value_enum, default_value_t = ScopeName::Local)]
    pub scope: ScopeName,
    /// Fraction removed.
    #[arg(long, default_value_t = 0.5)]
    pub sparsity: f64,
    /// Remove channels physically through dependency groups (a smaller network).
    #[arg(long)]
    pub structural: bool,
    /// Structural: one ranking over all groups (the same as `--scope global`).
    #[arg(long)]
    pub global: bool,
    /// Structural: how the members of a group combine.
    #[arg(long, value_enum, default_value_t = ReductionName::Mean)]
    pub reduction: ReductionName,
    /// Structural: the layer widths of this architecture (Li et al.'s pruned-A/B).
    #[arg(long, value_enum)]
    pub to_arch: Option<Arch>,
    /// Path patterns whose output channels are never cut (repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
    /// Structural: let widths a LayerNorm normalises be pruned too (a transformer's residual
    /// width); approximate, so fine-tune after.
    #[arg(long)]
    pub approximate_norms: bool,
    /// Structural, in place of `--sparsity`: remove channels until the latency measured on
    /// this device is at most this fraction of the dense network's (hardware-aware widths;
    /// the layer measurements are kept in `<runs>/latency-table.json`).
    #[arg(long, value_name = "FRACTION", conflicts_with = "mac_budget")]
    pub latency_budget: Option<f64>,
    /// Structural, in place of `--sparsity`: remove channels until the MACs are at most this
    /// fraction of the dense network's.
    #[arg(long, value_name = "FRACTION")]
    pub mac_budget: Option<f64>,
    /// The batch size the latency budget is measured at.
    #[arg(long, default_value_t = 64)]
    pub budget_batch: usize,
    /// One-shot, iterative or AGP.
    #[arg(long, value_enum, default_value_t = ScheduleName::OneShot)]
    pub schedule: ScheduleName,
    /// Iterative rounds or AGP updates.
    #[arg(long, default_value_t = 10)]
    pub rounds: u64,
    /// Batches of 64 for data-driven criteria.
    #[arg(long, default_value_t = 4)]
    pub calibration_batches: usize,
    /// Method `sparse-structure`: remove the blocks whose learned scale is at most this in
    /// magnitude (0 removes exactly-zero scales only, which changes no output).
    #[arg(long, default_value_t = 0.0, value_name = "TOL")]
    pub block_tolerance: f64,
}

impl From<PruneFlags> for PruneSpec {
    fn from(f: PruneFlags) -> Self {
        PruneSpec {
            method: f.method,
            criterion: f.criterion,
            granularity: f.granularity,
            scope: f.scope,
            sparsity: f.sparsity,
            structural: f.structural,
            global: f.global,
            reduction: f.reduction,
            to_arch: f.to_arch,
            ignore: f.ignore,
            approximate_norms: f.approximate_norms,
            latency_budget: f.latency_budget,
            mac_budget: f.mac_budget,
            budget_batch: f.budget_batch,
            schedule: f.schedule,
            rounds: f.rounds,
            calibration_batches: f.calibration_batches,
            block_tolerance: f.block_tolerance,
        }
    }
}

/// Epochs per stage with `--synthetic` unless `--max-epochs` says otherwise.
pub const SYNTHETIC_EPOCHS: usize = 2;
/// Batch size with `--synthetic` unless `--batch-size` says otherwise.
pub const SYNTHETIC_BATCH: usize = 16;

impl Cli {
    /// Run the command.
    pub fn run(self) -> Result<()> {
        let g = &self.global;
        if let Command::Download = self.command {
            if g.dataset != DatasetKind::Cifar10 {
                return Err(AppError::invalid(
                    "download",
                    format!(
                        "only CIFAR-10 is downloaded; {} comes from Debian's package \
                         (`apt-get install dataset-fashion-mnist`)",
                        g.dataset
                    ),
                ));
            }
            let dir = Download::default().fetch(g.data_dir())?;
            println!("CIFAR-10 is in {}", dir.display());
            return Ok(());
        }
        if let Command::Study {
            scale,
            page,
            page_only,
        } = &self.command
        {
            return self.study(*scale, page.clone(), *page_only);
        }
        let ctx = self.context()?;
        println!(
            "device: {:?}; data: {}; runs: {}",
            g.device,
            ctx.data.label,
            ctx.runs.display()
        );
        let fresh = g.fresh;
        match self.command {
            Command::Download => Ok(()),
            Command::Train {
                arch,
                projection_shortcuts,
                slimming,
                sparse_structure,
                name,
                train,
            } => {
                let mut spec = arch.spec(ctx.dataset)?;
                if projection_shortcuts {
                    spec = spec.with_projection_shortcuts();
                }
                commands::train(
                    &ctx,
                    &name,
                    spec,
                    train.apply(TrainConfig::dense(ctx.dataset)),
                    slimming
                        .map(commands::TrainPenalty::Slimming)
                        .or(sparse_structure.map(commands::TrainPenalty::SparseStructure)),
                    fresh,
                )?;
                Ok(())
            }
            Command::Prune {
                from,
                name,
                recipe,
                spec,
                train,
            } => {
                let spec = match recipe {
                    Some(path) => Recipe::load(&path)?.prune.ok_or_else(|| AppError::Recipe {
                        path: path.clone(),
                        reason: "has no [prune] table".into(),
                    })?,
                    None => spec.into(),
                };
                prune_or_resume(
                    &ctx,
                    &from,
                    &name,
                    &spec,
                    train.apply(TrainConfig::finetune_on(ctx.dataset)),
                    fresh,
                )?;
                Ok(())
            }
            Command::Finetune { from, name, train } => {
                let name = name.unwrap_or_else(|| format!("{from}-ft"));
                commands::finetune(
                    &ctx,
                    &from,
                    &name,
                    train.apply(TrainConfig::finetune_on(ctx.dataset)),
                    fresh,
                )?;
                Ok(())
            }
            Command::Scratch {
                from,
                variant,
                name,
                max_extension,
                train,
            } => {
                let variant = match variant {
                    ScratchVariant::E => Scratch::E,
                    ScratchVariant::B => Scratch::B,
                };
                let name = name.unwrap_or_else(|| format!("scratch-{variant:?}").to_lowercase());
                let base = dense_training(&ctx, &from)?;
                commands::scratch(
                    &ctx,
                    &from,
                    &name,
                    variant,
                    train.apply(base),
                    max_extension,
                    fresh,
                )?;
                Ok(())
            }
            Command::Pai {
                arch,
                method,
                sparsity,
                name,
                train,
            } => {
                let name = name.unwrap_or_else(|| format!("pai-{method:?}").to_lowercase());
                commands::pai(
                    &ctx,
                    &name,
                    arch.spec(ctx.dataset)?,
                    method,
                    sparsity,
                    train.apply(TrainConfig::dense(ctx.dataset)),
                    fresh,
                )?;
                Ok(())
            }
            Command::Lottery {
                arch,
                rounds,
                fraction,
                rewind_epoch,
                name,
                train,
            } => {
                commands::lottery(
                    &ctx,
                    &name,
                    arch.spec(ctx.dataset)?,
                    rounds,
                    fraction,
                    rewind_epoch,
                    train.apply(TrainConfig::dense(ctx.dataset)),
                    fresh,
                )?;
                Ok(())
            }
            Command::Report { out } => {
                let out = out.unwrap_or_else(|| ctx.runs.clone());
                let report = write_report(&ctx.runs, &out, &ctx.device, &ctx.timing())?;
                println!("report: {}", report.path.display());
                Ok(())
            }
            Command::Run { recipe } => {
                super::pipeline::run_recipe(&ctx, &Recipe::load(&recipe)?, fresh)
            }
            Command::Pipeline => super::pipeline::pipeline(&ctx, fresh),
            Command::Study { .. } => Ok(()),
        }
    }

    /// `study`: the preset's data limits, its own epochs and batch size (the overriding
    /// flags are refused), then the study and its page.
    fn study(&self, scale: StudyScale, page: Option<PathBuf>, page_only: bool) -> Result<()> {
        let g = &self.global;
        let config = StudyConfig::preset(scale);
        for (flag, given) in [
            ("--max-epochs", g.max_epochs.is_some()),
            ("--batch-size", g.batch_size.is_some()),
            ("--train-limit", g.train_limit.is_some()),
            ("--test-limit", g.test_limit.is_some()),
        ] {
            if given {
                return Err(AppError::invalid(
                    flag,
                    "the study fixes its data, epochs and batch size (see `--scale` and the \
                     configuration on its page)",
                ));
            }
        }
        let mut ctx = Global {
            train_limit: Some(config.train_images),
            test_limit: Some(config.test_images),
            ..g.clone()
        }
        .context()?;
        ctx.max_epochs = None;
        ctx.batch_size = None;
        println!(
            "device: {:?}; data: {}; study: {}",
            g.device,
            ctx.data.label,
            ctx.runs.join("study").display()
        );
        let mut command = format!("prune-vision --dataset {} study", g.dataset.name());
        if scale != StudyScale::Full {
            command.push_str(" --scale miniature");
        }
        if g.synthetic {
            command = command.replace("prune-vision", "prune-vision --synthetic");
        }
        let options = StudyOptions {
            page,
            page_only,
            fresh: g.fresh,
            command,
        };
        let path = study(&ctx, &config, &options)?;
        println!("results: {}", path.display());
        Ok(())
    }

    /// The device, data and settings of this invocation.
    pub fn context(&self) -> Result<Context> {
        self.global.context()
    }
}

impl Global {
    /// `--data`, or the dataset's default directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| self.dataset.default_dir())
    }

    /// `--runs`, or `runs` with a subdirectory per dataset other than CIFAR-10 and for
    /// generated data: `runs`, `runs/fashion-mnist`, `runs/synthetic`,
    /// `runs/synthetic-fashion-mnist`.
    pub fn runs_dir(&self) -> PathBuf {
        if let Some(runs) = &self.runs {
            return runs.clone();
        }
        let runs = PathBuf::from("runs");
        match (self.synthetic, self.dataset) {
            (false, DatasetKind::Cifar10) => runs,
            (true, DatasetKind::Cifar10) => runs.join("synthetic"),
            (false, d) => runs.join(d.name()),
            (true, d) => runs.join(format!("synthetic-{}", d.name())),
        }
    }

    /// The device, data and settings these flags describe.
    pub fn context(&self) -> Result<Context> {
        let g = self;
        let device = g.device.device()?;
        let data = DataConfig {
            dataset: g.dataset,
            synthetic: g.synthetic,
            root: g.data_dir(),
            download: g.download,
            train_limit: g.train_limit,
            test_limit: g.test_limit,
        }
        .load()?;
        Ok(Context {
            runs: g.runs_dir(),
            choice: g.device,
            device,
            dataset: g.dataset,
            data,
            seed: g.seed,
            max_epochs: g.max_epochs.or(g.synthetic.then_some(SYNTHETIC_EPOCHS)),
            batch_size: g.batch_size.or(g.synthetic.then_some(SYNTHETIC_BATCH)),
            stop_after_epochs: g.stop_after_epochs.map(|n| n as usize),
        })
    }
}

/// The training settings of the dense run that `from` descends from (the default of
/// Scratch-E/B), or the defaults when there is none.
fn dense_training(ctx: &Context, from: &str) -> Result<TrainConfig> {
    let mut name = from.to_string();
    loop {
        let c = Checkpoint::open(ctx.dir(&name))?;
        if c.meta.command == "train" {
            return Ok(c.meta.train.unwrap_or_default());
        }
        match c.meta.parent {
            Some(p) => name = p,
            None => return Ok(TrainConfig::dense(ctx.dataset)),
        }
    }
}

//! The `prune-vision` command line end to end on generated data: the whole pipeline as a user
//! runs it (a separate process), checkpoints that resume exactly, recipes, and errors.

use burn::prelude::*;
use burn_prune::metrics::{PruningReport, Structure};
use burn_prune_vision::DatasetKind;
use burn_prune_vision::app::checkpoint::{Checkpoint, RunMeta};
use burn_prune_vision::app::cli::Cli;
use burn_prune_vision::app::error::{AppError, Result};
use burn_prune_vision::app::network::{Arch, Network};
use burn_prune_vision::app::recipe::Recipe;
use burn_prune_vision::app::train::{Hooks, NoHooks, TrainConfig};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("burn-prune-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn meta(runs: &Path, name: &str) -> RunMeta {
    Checkpoint::open(runs.join(name)).unwrap().meta
}

/// `prune-vision --synthetic pipeline`: every command runs, every run is saved, the report is
/// written, and the numbers in it are the ones of the saved models.
#[test]
fn synthetic_pipeline_runs_every_command_and_writes_the_report() {
    let runs = temp_dir("pipeline");
    let out = Command::new(env!("CARGO_BIN_EXE_prune-vision"))
        .args(["--synthetic", "--runs"])
        .arg(&runs)
        .arg("pipeline")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let expected = [
        "dense",
        "l1-filters",
        "l1-filters-ft",
        "scratch-b",
        "agp-90",
        "pai-synflow",
        "pai-precrop",
        "lottery-rewind",
        "lottery-r0",
        "lottery-r1",
    ];
    for name in expected {
        assert!(
            Checkpoint::exists(runs.join(name)),
            "{name} missing:\n{stdout}"
        );
        assert!(meta(&runs, name).finished, "{name} unfinished");
    }
    // The generated classes are learnable: the loss falls and the dense network ends at least
    // twice as accurate as chance (10%) after its two short epochs.
    let dense = meta(&runs, "dense");
    assert_eq!(dense.history.len(), 2);
    assert!(dense.history[1].train_loss < dense.history[0].train_loss);
    assert!(dense.history[1].test_accuracy > 0.2, "{:?}", dense.history);

    // Structured pruning removed channels for real: the rebuilt model is smaller and its
    // parameter count is what the report says.
    let device = Device::flex();
    let small = Checkpoint::open(runs.join("l1-filters"))
        .unwrap()
        .load_model(&device)
        .unwrap();
    let big = Checkpoint::open(runs.join("dense"))
        .unwrap()
        .load_model(&device)
        .unwrap();
    let (p_small, p_big) = (
        burn_prune::models::param_count(&small),
        burn_prune::models::param_count(&big),
    );
    assert_eq!(p_big, 269_722);
    assert!(p_small < p_big * 6 / 10, "{p_small} vs {p_big}");
    // Scratch-B trains longer than the dense run by the MAC ratio.
    let scratch = meta(&runs, "scratch-b");
    assert!(scratch.values["budget_extension"] > 1.5);
    assert!(scratch.history.len() > dense.history.len());
    // AGP reached its 90% target of the conv and linear weights.
    let agp = Checkpoint::open(runs.join("agp-90")).unwrap();
    let (total, pruned) = agp.masks().unwrap().counts();
    assert!((pruned as f64 / total as f64 - 0.9).abs() < 0.01);
    // Lottery round 1 pruned 20% of the weights and rewound the rest to the initialisation.
    let (total, pruned) = Checkpoint::open(runs.join("lottery-r1"))
        .unwrap()
        .masks()
        .unwrap()
        .counts();
    assert!((pruned as f64 / total as f64 - 0.2).abs() < 0.01);

    let report = std::fs::read_to_string(runs.join("report.md")).unwrap();
    for name in expected {
        assert!(
            report.contains(&format!("| {name} |")),
            "{name} not in the report"
        );
    }
    assert!(report.contains(&format!("| {p_small} |")), "{report}");
    for plot in [
        "accuracy-vs-sparsity.png",
        "training.png",
        "l1-filters/params.png",
    ] {
        assert!(runs.join(plot).is_file(), "{plot}");
        assert!(report.contains(plot), "{plot} not linked");
    }
    // Speed: every pruned run was timed dense against pruned at batch 1 and at its training
    // batch size (16 with --synthetic). Only the compacted network claims a theoretical
    // speedup; the masked AGP network claims 1× and the report says masks save no time.
    let report_of = |name: &str| {
        let json = std::fs::read_to_string(runs.join(name).join("report.json")).unwrap();
        PruningReport::from_json(&json).unwrap()
    };
    let compacted = report_of("l1-filters");
    assert_eq!(compacted.structure, Structure::Compacted);
    assert!(compacted.totals.structural_speedup > 1.5);
    let masked = report_of("agp-90");
    assert_eq!(masked.structure, Structure::Masked);
    assert_eq!(masked.totals.structural_speedup, 1.0);
    assert!(
        masked.totals.theoretical_speedup > 1.5,
        "non-zero MAC ratio {}",
        masked.totals.theoretical_speedup
    );
    for r in [&compacted, &masked] {
        let batches: Vec<usize> = r.latency.iter().map(|l| l.dense.batch_size).collect();
        assert_eq!(batches, [1, 16]);
        for l in &r.latency {
            assert!(l.dense.samples.len() >= 5 && l.pruned.samples.len() >= 5);
            assert_eq!(l.theoretical_speedup, r.totals.structural_speedup);
        }
    }
    assert!(report.contains("saves no time"), "{report}");
    assert!(report.contains("## Measured latency"), "{report}");

    // Running it again reuses every finished run.
    let again = Command::new(env!("CARGO_BIN_EXE_prune-vision"))
        .args(["--synthetic", "--runs"])
        .arg(&runs)
        .args(["train", "--arch", "resnet20"])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already finished"));
    std::fs::remove_dir_all(&runs).ok();
}

/// Fails after a given epoch, as a crash would (before that epoch's checkpoint is written).
struct CrashAfter(usize);

impl Hooks for CrashAfter {
    fn after_epoch(&mut self, model: Network, epoch: usize) -> Result<Network> {
        if epoch == self.0 {
            return Err(AppError::invalid("test", "simulated crash"));
        }
        Ok(model)
    }
}

fn weights(model: &Network) -> Vec<f32> {
    let Network::ResNet(m) = model else {
        panic!("a ResNet")
    };
    m.fc.weight.val().into_data().iter::<f32>().collect()
}

/// A training interrupted after epoch 2 of 3 resumes from the epoch-1 checkpoint (weights,
/// optimizer state, data order) and ends with the weights of an uninterrupted run.
#[test]
fn interrupted_training_resumes_to_the_same_weights() {
    let runs = temp_dir("resume");
    let cli = Cli::parse_from([
        "prune-vision",
        "--synthetic",
        "--train-limit",
        "64",
        "--test-limit",
        "32",
        "--max-epochs",
        "3",
        "--runs",
        runs.to_str().unwrap(),
        "pipeline",
    ]);
    let ctx = cli.context().unwrap();
    let config = ctx.adjust(TrainConfig {
        epochs: 3,
        milestones: vec![0.5],
        ..TrainConfig::default()
    });
    let start = |name: &str| {
        ctx.device.seed(3);
        let spec = Arch::Resnet20.spec(DatasetKind::Cifar10).unwrap();
        let model = spec.init(&ctx.device.clone().autodiff()).unwrap();
        let mut meta = RunMeta::new(name, "train", "test".into(), spec, 5);
        meta.train = Some(config.clone());
        (model, meta)
    };

    let (model, meta) = start("straight");
    let (straight, _) = ctx
        .trainer()
        .fit(model, meta, &runs.join("straight"), &mut NoHooks)
        .unwrap();

    let (model, meta) = start("crashed");
    let dir = runs.join("crashed");
    let err = ctx.trainer().fit(model, meta, &dir, &mut CrashAfter(2));
    assert!(err.is_err());
    let saved = Checkpoint::open(&dir).unwrap();
    assert_eq!(saved.meta.epochs_done, 1);
    assert!(!saved.meta.finished);
    let model = saved.load_model(&ctx.device.clone().autodiff()).unwrap();
    let (resumed, meta) = ctx
        .trainer()
        .fit(model, saved.meta, &dir, &mut NoHooks)
        .unwrap();
    assert_eq!(meta.epochs_done, 3);
    assert!(meta.finished);
    let diff = max_difference(&straight, &resumed);
    assert!(diff < 1e-5, "max difference {diff}");
    std::fs::remove_dir_all(&runs).ok();
}

/// `prune-vision --synthetic` on 64 training and 32 test images, 3 epochs at most per stage,
/// runs in `runs`.
fn small_cifar10(runs: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_prune-vision"))
        .args(["--synthetic", "--train-limit", "64", "--test-limit", "32"])
        .args(["--max-epochs", "3", "--runs"])
        .arg(runs)
        .args(args)
        .output()
        .unwrap()
}

/// Standard output and error together.
fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn max_difference(a: &Network, b: &Network) -> f32 {
    weights(a)
        .iter()
        .zip(&weights(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

fn load(runs: &Path, name: &str) -> Network {
    Checkpoint::open(runs.join(name))
        .unwrap()
        .load_model(&Device::flex())
        .unwrap()
}

/// `prune --schedule agp` stopped by `--stop-after-epochs 1` (exit status 3, the epoch-1
/// checkpoint saved) and run again continues to the weights and masks of an uninterrupted
/// run. Run once more it reuses the finished run; the same name with another specification
/// is an error; `--fresh` starts over.
#[test]
fn a_stopped_agp_prune_continues_to_the_uninterrupted_result() {
    let runs = temp_dir("agp-resume");
    let agp = |name: &str, sparsity: &str, more: &[&str]| {
        let mut args = vec![
            "prune",
            "--from",
            "dense",
            "--schedule",
            "agp",
            "--rounds",
            "2",
            "--epochs",
            "3",
            "--name",
            name,
            "--sparsity",
            sparsity,
        ];
        args.extend(more);
        small_cifar10(&runs, &args)
    };
    let out = small_cifar10(&runs, &["train"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = agp("straight", "0.6", &[]);
    assert!(out.status.success(), "{}", text(&out));

    let out = agp("stopped", "0.6", &["--stop-after-epochs", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("stopped after epoch 1 of 3"),
        "{}",
        text(&out)
    );
    let saved = meta(&runs, "stopped");
    assert_eq!((saved.epochs_done, saved.finished), (1, false));

    let out = agp("stopped", "0.6", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("resuming after epoch 1"),
        "{}",
        text(&out)
    );

    let (straight, resumed) = (load(&runs, "straight"), load(&runs, "stopped"));
    let masks = burn_prune::masks_of(&straight).unwrap();
    let (total, pruned) = masks.counts();
    let sparsity = pruned as f64 / total as f64;
    assert!((sparsity - 0.6).abs() < 0.01, "AGP reached {sparsity}");
    assert_eq!(masks, burn_prune::masks_of(&resumed).unwrap());
    let diff = max_difference(&straight, &resumed);
    assert!(diff < 1e-5, "max difference {diff}");

    let out = agp("stopped", "0.6", &[]);
    assert!(out.status.success() && text(&out).contains("already finished"));
    let out = agp("stopped", "0.5", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("holds a run of"), "{}", text(&out));
    let out = agp("stopped", "0.5", &["--fresh", "--stop-after-epochs", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(meta(&runs, "stopped").description.contains("50%"));
    std::fs::remove_dir_all(&runs).ok();
}

/// Soft filter pruning stopped after its last epoch, before the filters are removed, is not
/// finished: run again it removes them and ends where an uninterrupted run does.
#[test]
fn soft_filter_pruning_stopped_before_compaction_resumes_into_it() {
    let runs = temp_dir("sfp-resume");
    let sfp = |name: &str, more: &[&str]| {
        let mut args = vec![
            "prune",
            "--from",
            "dense",
            "--method",
            "soft-filter",
            "--sparsity",
            "0.5",
            "--epochs",
            "2",
            "--name",
            name,
        ];
        args.extend(more);
        small_cifar10(&runs, &args)
    };
    let out = small_cifar10(&runs, &["train"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = sfp("straight", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let straight = meta(&runs, "straight");
    assert!(straight.finished);
    assert_eq!(straight.plans.len(), 1);
    // Whole channels were zeroed, so removing them changes no prediction.
    assert_eq!(
        straight.values["accuracy_before_compaction"],
        straight.values["accuracy"]
    );

    let out = sfp("stopped", &["--stop-after-epochs", "2"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let saved = meta(&runs, "stopped");
    assert_eq!((saved.epochs_done, saved.finished), (2, false));
    assert!(saved.plans.is_empty(), "not compacted yet");

    let out = sfp("stopped", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("resuming after epoch 2"),
        "{}",
        text(&out)
    );
    let resumed = meta(&runs, "stopped");
    assert!(resumed.finished);
    assert_eq!(resumed.plans, straight.plans);
    let diff = max_difference(&load(&runs, "straight"), &load(&runs, "stopped"));
    assert!(diff < 1e-5, "max difference {diff}");
    std::fs::remove_dir_all(&runs).ok();
}

/// Every recipe shipped parses and is consistent.
#[test]
fn shipped_recipes_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let recipe = Recipe::load(&path).unwrap_or_else(|e| panic!("{e}"));
        recipe.model.spec(DatasetKind::Cifar10).unwrap();
        assert!(!recipe.paper.citation.is_empty());
        n += 1;
    }
    assert_eq!(n, 8);
}

/// A recipe with an unknown key, or two pipelines, is an error naming the file.
#[test]
fn bad_recipes_are_errors_naming_the_file() {
    let dir = temp_dir("recipes");
    let path = dir.join("bad.toml");
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/synflow-resnet20.toml"),
    )
    .unwrap();
    std::fs::write(
        &path,
        base.replace("sparsity = 0.9", "sparsity = 0.9\nsparsty = 1"),
    )
    .unwrap();
    let e = Recipe::load(&path).unwrap_err().to_string();
    assert!(e.contains("bad.toml") && e.contains("sparsty"), "{e}");
    std::fs::write(&path, format!("{base}\n[lottery]\nrounds = 2\n")).unwrap();
    let e = Recipe::load(&path).unwrap_err().to_string();
    assert!(e.contains("exactly one of"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Pruning a run that does not exist, or with an impossible granularity, fails with a message
/// that says what and where, not a panic.
#[test]
fn command_errors_say_what_is_wrong() {
    let runs = temp_dir("errors");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_prune-vision"))
            .args(["--synthetic", "--runs"])
            .arg(&runs)
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = run(&["prune", "--from", "nothing"]);
    assert!(e.contains("nothing") && e.contains("meta.json"), "{e}");
    let e = run(&["prune", "--granularity", "3:2"]);
    assert!(e.contains("granularity `3:2`"), "{e}");
    let e = run(&["pai", "--sparsity", "1.5"]);
    assert!(e.contains("sparsity"), "{e}");
    let e = run(&["prune", "--structural", "--latency-budget", "1.5"]);
    assert!(e.contains("latency budget") && e.contains("1.5"), "{e}");
    let e = run(&["prune", "--mac-budget", "0.5"]);
    assert!(
        e.contains("MAC budget") && e.contains("--structural"),
        "{e}"
    );
    std::fs::remove_dir_all(&runs).ok();
}

/// Without the `wgpu` feature `--device wgpu` is an error that says how to build with it.
#[test]
#[cfg(not(feature = "wgpu"))]
fn wgpu_without_the_feature_is_a_clear_error() {
    let e = burn_prune_vision::app::device::DeviceChoice::Wgpu
        .device()
        .unwrap_err()
        .to_string();
    assert!(e.contains("--features wgpu"), "{e}");
}

/// Contexts of `--synthetic` runs of `dataset` in `runs` on the CPU and on wgpu (32 training
/// and 32 test images).
#[cfg(feature = "wgpu")]
fn cpu_and_wgpu(
    runs: &Path,
    dataset: DatasetKind,
) -> (
    burn_prune_vision::app::context::Context,
    burn_prune_vision::app::context::Context,
) {
    let context = |device: &str| {
        Cli::parse_from([
            "prune-vision",
            "--dataset",
            dataset.name(),
            "--synthetic",
            "--device",
            device,
            "--train-limit",
            "32",
            "--test-limit",
            "32",
            "--runs",
            runs.to_str().unwrap(),
            "pipeline",
        ])
        .context()
        .unwrap()
    };
    (context("cpu"), context("wgpu"))
}

/// The same `prune` on wgpu as on the CPU: the same structural plan (channels chosen from the
/// same weights), and the pruned models give the same logits and accuracy.
#[test]
#[cfg(feature = "wgpu")]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --features wgpu --ignored"]
fn prune_on_wgpu_equals_prune_on_cpu() {
    use burn_prune_vision::app::prune::prune;
    use burn_prune_vision::app::spec::{CriterionName, PruneSpec, ReductionName};
    let runs = temp_dir("wgpu");
    let (cpu, gpu) = cpu_and_wgpu(&runs, DatasetKind::Cifar10);
    cpu.device.seed(11);
    let spec = Arch::Resnet20.spec(DatasetKind::Cifar10).unwrap();
    let model = spec.init(&cpu.device).unwrap();
    let meta = RunMeta::new("dense", "train", "fresh".into(), spec, 0);
    Checkpoint::save(runs.join("dense"), meta, &model, None).unwrap();

    let filters = PruneSpec {
        criterion: CriterionName::L1,
        granularity: "filter".into(),
        structural: true,
        reduction: ReductionName::First,
        sparsity: 0.5,
        ..PruneSpec::default()
    };
    let train = TrainConfig::finetune();
    let on_cpu = prune(&cpu, "dense", "on-cpu", &filters, train.clone()).unwrap();
    let on_gpu = prune(&gpu, "dense", "on-gpu", &filters, train).unwrap();
    assert_eq!(on_cpu.meta.plans, on_gpu.meta.plans);
    assert_eq!(
        on_cpu.meta.values["accuracy"],
        on_gpu.meta.values["accuracy"]
    );

    let x = Tensor::<4>::random(
        [4, 3, 32, 32],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &cpu.device,
    );
    let a = on_cpu.load_model(&cpu.device).unwrap().forward(x.clone());
    let b = on_gpu
        .load_model(&gpu.device)
        .unwrap()
        .forward(x.to_device(&gpu.device))
        .to_device(&cpu.device);
    let diff = (a - b).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-3, "logits differ by {diff}");
    std::fs::remove_dir_all(&runs).ok();
}

/// `--dataset fashion-mnist --synthetic`: the networks take 1×28×28 images (the stem has one
/// input channel), training, structural pruning, fine-tuning and the report run on them, and
/// runs go to their own directory; a run of one dataset is refused by the other.
#[test]
fn synthetic_fashion_mnist_runs_on_one_channel_images() {
    let runs = temp_dir("fashion");
    let fashion = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_prune-vision"))
            .args(["--dataset", "fashion-mnist", "--synthetic"])
            .args(["--train-limit", "64", "--test-limit", "32", "--runs"])
            .arg(&runs)
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        &["train"][..],
        &[
            "prune",
            "--criterion",
            "l1",
            "--structural",
            "--sparsity",
            "0.5",
        ],
        &["finetune", "--from", "pruned"],
        &["report"],
    ] {
        let out = fashion(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let dense = meta(&runs, "dense");
    assert_eq!(dense.dataset, DatasetKind::FashionMnist);
    assert_eq!(dense.model.in_channels(), 1);
    assert!(dense.data.contains("1×28×28"), "{}", dense.data);
    let model = load(&runs, "dense");
    let Network::ResNet(resnet) = &model else {
        panic!("a ResNet")
    };
    assert_eq!(resnet.stem.conv.weight.dims(), [16, 1, 3, 3]);
    let logits = model.forward(Tensor::zeros([2, 1, 28, 28], &Device::flex()));
    assert_eq!(logits.dims(), [2, 10]);
    // The pruned network was traced and measured on 28×28 inputs: smaller, timed.
    let json = std::fs::read_to_string(runs.join("pruned-ft").join("report.json")).unwrap();
    let report = PruningReport::from_json(&json).unwrap();
    assert_eq!(report.structure, Structure::Compacted);
    assert!(report.totals.params_stored_after < report.totals.params_before);
    assert_eq!(report.latency.len(), 2);

    // The same runs directory read as CIFAR-10 is refused, naming the dataset to pass.
    let out = small_cifar10(&runs, &["finetune", "--from", "pruned", "--name", "x"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--dataset fashion-mnist"),
        "{}",
        text(&out)
    );
    // Fashion-MNIST has no download: it comes from Debian's package.
    let out = fashion(&["download"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("dataset-fashion-mnist"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&runs).ok();
}

/// Fashion-MNIST's one-channel networks and the measured report on wgpu: the same logits as on
/// the CPU, the same counts, and latencies timed on the GPU device.
#[test]
#[cfg(feature = "wgpu")]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --features wgpu --ignored"]
fn fashion_mnist_report_on_wgpu_equals_cpu() {
    use burn_prune_vision::app::prune::prune;
    use burn_prune_vision::app::report::{Timing, measure};
    use burn_prune_vision::app::spec::PruneSpec;
    let runs = temp_dir("wgpu-fashion");
    let (cpu, gpu) = cpu_and_wgpu(&runs, DatasetKind::FashionMnist);
    cpu.device.seed(5);
    let spec = Arch::Resnet20.spec(DatasetKind::FashionMnist).unwrap();
    let model = spec.init(&cpu.device).unwrap();
    let meta = cpu.run_meta("dense", "train", "fresh".into(), spec);
    Checkpoint::save(runs.join("dense"), meta, &model, None).unwrap();
    let half = PruneSpec {
        structural: true,
        sparsity: 0.5,
        ..PruneSpec::default()
    };
    prune(&cpu, "dense", "pruned", &half, TrainConfig::finetune()).unwrap();

    let timing = Timing {
        runs: 5,
        warmup: 1,
        default_batch: 4,
    };
    let on_cpu = measure(&runs, &cpu.device, Some(&timing)).unwrap();
    let on_gpu = measure(&runs, &gpu.device, Some(&timing)).unwrap();
    for (c, g) in on_cpu.iter().zip(&on_gpu) {
        assert_eq!(
            c.report.totals, g.report.totals,
            "{}",
            c.checkpoint.meta.name
        );
        assert_eq!(g.report.latency.len(), 2);
    }
    let x = Tensor::<4>::random(
        [3, 1, 28, 28],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &cpu.device,
    );
    let pruned = Checkpoint::open(runs.join("pruned")).unwrap();
    let a = pruned.load_model(&cpu.device).unwrap().forward(x.clone());
    let b = pruned
        .load_model(&gpu.device)
        .unwrap()
        .forward(x.to_device(&gpu.device))
        .to_device(&cpu.device);
    let diff = (a - b).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-3, "logits differ by {diff}");
    std::fs::remove_dir_all(&runs).ok();
}

/// The study's own steps on wgpu as on the CPU: FPGM and APoZ removing the inner channels of
/// the study's ResNet-8 choose the same channels, and PreConfig allocates the same widths.
#[test]
#[cfg(feature = "wgpu")]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --features wgpu --ignored"]
fn study_steps_on_wgpu_equal_cpu() {
    use burn_prune_vision::app::commands::{PaiMethod, pai};
    use burn_prune_vision::app::prune::prune;
    use burn_prune_vision::app::spec::CriterionName;
    use burn_prune_vision::app::study::methods::criterion_spec;
    use burn_prune_vision::app::study::{StudyConfig, StudyScale};
    let runs = temp_dir("wgpu-study");
    let (cpu, gpu) = cpu_and_wgpu(&runs, DatasetKind::FashionMnist);
    let config = StudyConfig::preset(StudyScale::Full);
    let spec = config.network(DatasetKind::FashionMnist);
    cpu.device.seed(5);
    let model = spec.init(&cpu.device).unwrap();
    let mut meta = RunMeta::new("dense", "train", "fresh".into(), spec.clone(), 0);
    meta.dataset = DatasetKind::FashionMnist;
    Checkpoint::save(runs.join("dense"), meta, &model, None).unwrap();
    let train = TrainConfig::finetune();
    for c in [CriterionName::Fpgm, CriterionName::Apoz] {
        let step = criterion_spec(c, 0.5);
        let on_cpu = prune(&cpu, "dense", &format!("{c:?}-cpu"), &step, train.clone()).unwrap();
        let on_gpu = prune(&gpu, "dense", &format!("{c:?}-gpu"), &step, train.clone()).unwrap();
        assert_eq!(on_cpu.meta.plans, on_gpu.meta.plans, "{c:?}");
        assert!(!on_cpu.meta.plans.is_empty());
    }
    let one_epoch = TrainConfig {
        epochs: 1,
        batch_size: 16,
        ..TrainConfig::default()
    };
    let widths = |ctx: &burn_prune_vision::app::context::Context, name: &str| {
        let run = pai(
            ctx,
            name,
            spec.clone(),
            PaiMethod::Preconfig,
            0.7,
            one_epoch.clone(),
            true,
        )
        .unwrap();
        format!("{:?}", run.meta.model)
    };
    assert_eq!(widths(&cpu, "preconfig-cpu"), widths(&gpu, "preconfig-gpu"));
    std::fs::remove_dir_all(&runs).ok();
}

/// Sparse structure selection from the command line: `train --sparse-structure γ` stopped
/// after one epoch resumes exactly (the scales' momentum buffers are saved with the run);
/// `prune --method sparse-structure` removes the blocks whose scale reached zero without
/// changing a prediction; the smaller network is fine-tuned and trained from scratch with
/// the budget of the unpruned ResNet-20.
#[test]
fn sparse_structure_selection_resumes_exactly_and_removes_blocks() {
    let runs = temp_dir("sss");
    // γ = 10 at lr 0.1 (threshold 1 per step): every scale is exactly zero from the second
    // step on, and the momentum buffer after the first step (one step per epoch here) is
    // what drives the second.
    let train = |name: &str, more: &[&str]| {
        let mut args = vec!["train", "--sparse-structure", "10", "--name", name];
        args.extend(more);
        small_cifar10(&runs, &args)
    };
    let out = train("straight", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = train("stopped", &["--stop-after-epochs", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let saved = meta(&runs, "stopped");
    assert!(saved.block_scales);
    assert!(
        saved.values.keys().any(|k| k.starts_with("sss_velocity.")),
        "{:?}",
        saved.values
    );
    let out = train("stopped", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("resuming after epoch 1"),
        "{}",
        text(&out)
    );
    let scales = |name: &str| -> Vec<f32> {
        let Network::ResNet(m) = load(&runs, name) else {
            panic!("a ResNet")
        };
        burn_prune::schedule::methods::block_scales(&m)
            .unwrap()
            .into_iter()
            .map(|(_, l)| l)
            .collect()
    };
    assert_eq!(scales("stopped"), scales("straight"));
    assert_eq!(scales("straight"), vec![0.0; 9]);
    let diff = max_difference(&load(&runs, "straight"), &load(&runs, "stopped"));
    assert!(diff < 1e-5, "max difference {diff}");

    let out = small_cifar10(
        &runs,
        &[
            "prune",
            "--from",
            "straight",
            "--method",
            "sparse-structure",
            "--name",
            "cut",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let cut = meta(&runs, "cut");
    // 7 of ResNet-20's 9 blocks keep their shape and go; the downsampling ones stay.
    assert_eq!(cut.values["blocks_removed"], 7.0);
    assert!(!cut.block_scales);
    let burn_prune_vision::app::network::ModelSpec::ResNet(config) = &cut.model else {
        panic!("a ResNet")
    };
    assert_eq!(config.stage_blocks, Some(vec![0, 1, 1]));
    assert!(cut.dense.is_some());
    // Exact removal: every prediction is the trained network's.
    assert_eq!(cut.accuracy(), meta(&runs, "straight").accuracy());
    let Network::ResNet(small) = load(&runs, "cut") else {
        panic!("a ResNet")
    };
    assert!(small.layer1.is_empty() && small.layer2.len() == 1 && small.layer3.len() == 1);

    let out = small_cifar10(&runs, &["finetune", "--from", "cut", "--name", "cut-ft"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(meta(&runs, "cut-ft").finished);
    let out = small_cifar10(&runs, &["scratch", "--from", "cut", "--name", "cut-b"]);
    assert!(out.status.success(), "{}", text(&out));
    // The budget is the unpruned ResNet-20's MACs over the cut network's.
    assert!(
        meta(&runs, "cut-b").values["budget_extension"] > 3.0,
        "{:?}",
        meta(&runs, "cut-b").values
    );

    // A network trained without the penalty has no scales to read; a VGG has no blocks.
    let out = small_cifar10(&runs, &["train", "--name", "plain"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = small_cifar10(
        &runs,
        &[
            "prune",
            "--from",
            "plain",
            "--method",
            "sparse-structure",
            "--name",
            "bad",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("--sparse-structure"), "{}", text(&out));
    let out = small_cifar10(
        &runs,
        &[
            "train",
            "--arch",
            "vgg16",
            "--sparse-structure",
            "0.1",
            "--name",
            "vgg",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("ResNet"), "{}", text(&out));
    std::fs::remove_dir_all(&runs).ok();
}

/// Sparse structure selection on wgpu as on the CPU: two training steps from the same
/// weights move the block scales to the same values, and the blocks a large penalty zeroes
/// are removed alike, the smaller networks giving the same logits.
#[test]
#[cfg(feature = "wgpu")]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --features wgpu --ignored"]
fn sparse_structure_selection_on_wgpu_equals_cpu() {
    use burn_prune_vision::app::context::Context;
    use burn_prune_vision::app::prune::prune;
    use burn_prune_vision::app::sparse_structure::{SparseStructureHook, add_block_scales};
    use burn_prune_vision::app::spec::{Method, PruneSpec};
    use burn_prune_vision::app::study::{StudyConfig, StudyScale};
    let runs = temp_dir("wgpu-sss");
    let (cpu, gpu) = cpu_and_wgpu(&runs, DatasetKind::FashionMnist);
    let spec = StudyConfig::preset(StudyScale::Full).sss_network(DatasetKind::FashionMnist);
    cpu.device.seed(8);
    let model = add_block_scales(spec.init(&cpu.device).unwrap()).unwrap();
    let mut init = RunMeta::new("init", "train", "fresh".into(), spec, 0);
    init.dataset = DatasetKind::FashionMnist;
    init.block_scales = true;
    // Two steps of 16 images at lr 0.1 (no decay), no augmentation.
    init.train = Some(TrainConfig {
        epochs: 1,
        batch_size: 16,
        milestones: Vec::new(),
        augment: false,
        ..TrainConfig::default()
    });
    Checkpoint::save(runs.join("init"), init, &model, None).unwrap();
    let trained = |ctx: &Context, name: &str, gamma: f64| {
        let start = Checkpoint::open(runs.join("init")).unwrap();
        let model = start.load_model(&ctx.device.clone().autodiff()).unwrap();
        let mut meta = start.meta.clone();
        meta.name = name.into();
        let mut hook = SparseStructureHook::new(gamma, &meta.values).unwrap();
        ctx.trainer()
            .fit(model, meta, &runs.join(name), &mut hook)
            .unwrap();
        let Network::ResNet(m) = load(&runs, name) else {
            panic!("a ResNet")
        };
        burn_prune::schedule::methods::block_scales(&m).unwrap()
    };
    let (a, b) = (trained(&cpu, "g1-cpu", 1.0), trained(&gpu, "g1-gpu", 1.0));
    for ((block, x), (_, y)) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-3, "{block}: {x} on the CPU, {y} on wgpu");
        assert!(*x < 0.9, "{block}: the penalty moved it only to {x}");
    }
    let zeroed = trained(&cpu, "g10-cpu", 10.0);
    assert_eq!(zeroed, trained(&gpu, "g10-gpu", 10.0));
    assert!(zeroed.iter().all(|(_, l)| *l == 0.0), "{zeroed:?}");
    let step = PruneSpec {
        method: Method::SparseStructure,
        ..PruneSpec::default()
    };
    let on_cpu = prune(&cpu, "g10-cpu", "cut-cpu", &step, TrainConfig::finetune()).unwrap();
    let on_gpu = prune(&gpu, "g10-gpu", "cut-gpu", &step, TrainConfig::finetune()).unwrap();
    assert_eq!(
        format!("{:?}", on_cpu.meta.model),
        format!("{:?}", on_gpu.meta.model)
    );
    assert_eq!(on_cpu.meta.values["blocks_removed"], 7.0);
    let x = Tensor::<4>::random(
        [4, 1, 28, 28],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &cpu.device,
    );
    let l_cpu = on_cpu.load_model(&cpu.device).unwrap().forward(x.clone());
    let l_gpu = on_gpu
        .load_model(&gpu.device)
        .unwrap()
        .forward(x.to_device(&gpu.device))
        .to_device(&cpu.device);
    let diff = (l_cpu - l_gpu).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-3, "logits differ by {diff}");
    std::fs::remove_dir_all(&runs).ok();
}

/// Absurd sizes on the command line: refused by the parser, before anything is built.
#[test]
fn absurd_batches_and_epochs_are_refused() {
    let runs = temp_dir("absurd");
    for (args, expected) in [
        (
            vec!["--batch-size", "100000", "train"],
            "100000 is not in 1..=4096",
        ),
        (vec!["--batch-size", "0", "train"], "0 is not in 1..=4096"),
        (
            vec!["train", "--epochs", "99999999"],
            "99999999 is not in 0..=10000",
        ),
        (
            vec!["--batch-size", "18446744073709551616", "train"],
            "not a count",
        ),
    ] {
        let out = small_cifar10(&runs, &args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(expected), "{}", text(&out));
    }
    std::fs::remove_dir_all(&runs).ok();
}

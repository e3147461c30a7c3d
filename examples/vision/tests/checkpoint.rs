//! Checkpoints against damaged files: a run directory (structural plan, masks, optimizer state)
//! made by the command line, then every one of its files replaced by arbitrary bytes or a
//! mutation of itself (truncated, bytes flipped, grown, a span overwritten). Opening the run,
//! loading its model against its plans, its masks and its optimizer state gives the run or an
//! error naming a file of the run, never a panic. And the save protocol's states: a save
//! interrupted before its commit is ignored, one interrupted after it is completed.
//!
//! 256 cases per file by default; `PROPTEST_CASES=10000` for the long run.

use burn::prelude::*;
use burn_prune_vision::app::checkpoint::Checkpoint;
use burn_prune_vision::app::error::Result;
use burn_prune_vision::app::train::TrainConfig;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const FILES: [&str; 4] = ["meta.json", "model.bpk", "masks.json", "optim.bpk"];

fn cli(runs: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_prune-vision"))
        .args(["--synthetic", "--train-limit", "16", "--test-limit", "8"])
        .args(["--max-epochs", "2", "--runs"])
        .arg(runs)
        .args(args)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A run with every kind of file: a ResNet-20 whose filters were removed (a structural plan),
/// then masked to 50% and fine-tuned, stopped after the first of two epochs (masks, optimizer state).
/// Its files' bytes, by name.
fn valid_run() -> &'static Vec<(String, Vec<u8>)> {
    static RUN: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    RUN.get_or_init(|| {
        let runs = std::env::temp_dir().join(format!("burn-prune-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&runs);
        cli(&runs, &["train", "--name", "dense"]);
        cli(
            &runs,
            &[
                "prune",
                "--from",
                "dense",
                "--granularity",
                "filter",
                "--structural",
                "--sparsity",
                "0.5",
                "--name",
                "cut",
            ],
        );
        cli(
            &runs,
            &[
                "prune",
                "--from",
                "cut",
                "--sparsity",
                "0.5",
                "--name",
                "masked",
            ],
        );
        cli(
            &runs,
            &[
                "--stop-after-epochs",
                "1",
                "finetune",
                "--from",
                "masked",
                "--epochs",
                "2",
                "--name",
                "ft",
            ],
        );
        let dir = runs.join("ft");
        let run = Checkpoint::open(&dir).unwrap();
        assert!(!run.meta.plans.is_empty(), "the run has a structural plan");
        assert!(!run.masks().unwrap().is_empty(), "the run has masks");
        assert!(!run.meta.finished, "the run keeps its optimizer state");
        let files = FILES
            .iter()
            .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
            .collect();
        std::fs::remove_dir_all(&runs).ok();
        files
    })
}

/// Everything a command reads from a run.
fn load_all(dir: &Path) -> Result<()> {
    let run = Checkpoint::open(dir)?;
    run.load_model(&Device::flex())?;
    run.masks()?;
    run.load_optimizer(TrainConfig::default().optimizer())?;
    Ok(())
}

/// A directory holding the valid run with `file` replaced by `bytes`.
fn run_with(dir: &Path, file: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, valid) in valid_run() {
        let bytes = if name == file { bytes } else { valid };
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Opening and loading gives the run or an error naming a file of the run.
fn check(dir: &Path, file: &str, bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    run_with(dir, file, bytes);
    if let Err(e) = load_all(dir) {
        let message = e.to_string();
        prop_assert!(
            message.contains(&dir.display().to_string()),
            "{file}: the error does not name the run's file: {message}"
        );
    }
    Ok(())
}

/// A change to a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Grow(Vec<u8>),
    Overwrite(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(at, x)| Mutation::Flip(at, x)),
        proptest::collection::vec(any::<u8>(), 1..32).prop_map(Mutation::Grow),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, b)| Mutation::Overwrite(at, b)),
    ]
}

fn mutate(valid: &[u8], m: &Mutation) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    match m {
        Mutation::Truncate(n) => bytes.truncate(n % (valid.len() + 1)),
        Mutation::Flip(at, x) => bytes[at % valid.len()] ^= x,
        Mutation::Grow(more) => bytes.extend_from_slice(more),
        Mutation::Overwrite(at, with) => {
            let at = at % valid.len();
            for (i, b) in with.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + i) {
                    *slot = *b;
                }
            }
        }
    }
    bytes
}

/// A mutation of a JSON file that keeps it JSON more often: a number or a string replaced.
fn json_mutation() -> impl Strategy<Value = (usize, String)> {
    (
        any::<usize>(),
        prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("18446744073709551615".to_string()),
            Just("1e308".to_string()),
            Just("null".to_string()),
            Just("\"x\"".to_string()),
            Just("[]".to_string()),
            (0u64..100_000).prop_map(|n| n.to_string()),
        ],
    )
}

/// Replace the `k`-th number of `text` (modulo their count) by `with`.
fn replace_number(text: &str, k: usize, with: &str) -> String {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || b".eE-+".contains(&bytes[i])) {
                i += 1;
            }
            spans.push(start..i);
        } else {
            i += 1;
        }
    }
    if spans.is_empty() {
        return text.to_string();
    }
    let span = spans[k % spans.len()].clone();
    format!("{}{with}{}", &text[..span.start], &text[span.end..])
}

fn case_dir(target: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "burn-prune-ckpt-fuzz-{target}-{}",
        std::process::id()
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// Every file replaced by arbitrary bytes.
    #[test]
    fn run_files_of_arbitrary_bytes(
        file in 0..FILES.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        check(&case_dir("arbitrary"), FILES[file], &bytes)?;
    }

    /// Every file truncated, flipped, grown or overwritten.
    #[test]
    fn mutated_run_files(file in 0..FILES.len(), m in mutation()) {
        let valid = &valid_run()[file].1;
        check(&case_dir("mutated"), FILES[file], &mutate(valid, &m))?;
    }

    /// The JSON files with one number replaced (sizes, widths, epochs, plan entries, mask
    /// shapes): still JSON, now describing another model or other masks.
    #[test]
    fn json_run_files_with_a_number_replaced(
        json_file in prop_oneof![Just(0usize), Just(2usize)],
        (k, with) in json_mutation(),
    ) {
        let text = String::from_utf8(valid_run()[json_file].1.clone()).unwrap();
        let changed = replace_number(&text, k, &with);
        check(&case_dir("json"), FILES[json_file], changed.as_bytes())?;
    }
}

/// The valid run loads, and so does one saved before saves were staged.
#[test]
fn the_valid_run_loads() {
    let dir = case_dir("valid");
    for (name, bytes) in valid_run() {
        run_with(&dir, name, bytes);
    }
    load_all(&dir).unwrap();
    // A run saved before saves were staged: no commit in `meta.json`, files under their names.
    let mut meta: serde_json::Value = serde_json::from_slice(&valid_run()[0].1).unwrap();
    assert!(meta.as_object_mut().unwrap().remove("commit").is_some());
    run_with(&dir, "meta.json", meta.to_string().as_bytes());
    load_all(&dir).unwrap();
    let run = Checkpoint::open(&dir).unwrap();
    assert!(!run.masks().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

/// A save interrupted before its commit (staged files beside an older `meta.json`) is
/// ignored, and the next save removes its files; one interrupted after its commit (the
/// renames not done) is read from its staged files and completed when the run is opened.
#[test]
fn interrupted_saves_leave_one_whole_checkpoint() {
    let dir = case_dir("protocol");
    let _ = std::fs::remove_dir_all(&dir);
    for (name, bytes) in valid_run() {
        run_with(&dir, name, bytes);
    }
    let run = Checkpoint::open(&dir).unwrap();
    let model = run.load_model(&Device::flex()).unwrap();
    let weights = |m: &burn_prune_vision::app::network::Network| {
        burn_prune::ParamSnapshot::capture(m).unwrap()
    };
    let saved = weights(&model);

    // Before the commit: a staged record of another model is beside the committed one.
    let other = run
        .meta
        .model
        .init(&Device::flex())
        .map(burn_prune::models::initialized)
        .unwrap();
    std::fs::write(
        dir.join("model.bpk.g99"),
        other.into_record().into_bytes().unwrap().to_vec(),
    )
    .unwrap();
    let reopened = Checkpoint::open(&dir).unwrap();
    let loaded = reopened.load_model(&Device::flex()).unwrap();
    assert_eq!(weights(&loaded).len(), saved.len());
    for path in saved.paths() {
        assert_eq!(
            weights(&loaded).get(path).unwrap().as_bytes(),
            saved.get(path).unwrap().as_bytes()
        );
    }
    // The next save removes it.
    let again = Checkpoint::save(&dir, reopened.meta.clone(), &loaded, None).unwrap();
    assert!(!dir.join("model.bpk.g99").exists());
    assert!(
        !dir.join("optim.bpk").exists(),
        "a save without optimizer removes it"
    );

    // After the commit: meta.json names staged files that were not renamed yet.
    let mut newer = again.meta.clone();
    newer.epochs_done += 1;
    Checkpoint::save(&dir, newer.clone(), &loaded, None).unwrap();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    let staged = meta["commit"]["staged"][0]["from"]
        .as_str()
        .unwrap()
        .to_string();
    let generation = meta["commit"]["generation"].as_u64().unwrap();
    assert_eq!(staged, format!("model.bpk.g{generation}"));
    std::fs::rename(dir.join("model.bpk"), dir.join(&staged)).unwrap();
    // An older record in its place, which must not be read.
    std::fs::write(dir.join("model.bpk"), b"not the committed record").unwrap();
    let opened = Checkpoint::open(&dir).unwrap();
    assert_eq!(opened.meta.epochs_done, newer.epochs_done);
    assert!(!dir.join(&staged).exists(), "opening completes the rename");
    opened.load_model(&Device::flex()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// A run whose description asks for an absurd network: refused before anything is allocated,
/// naming `meta.json` and the limit (the parameter cap, or the memory available).
#[test]
fn absurd_models_in_a_run_are_refused_before_allocation() {
    let dir = case_dir("absurd");
    let meta = String::from_utf8(valid_run()[0].1.clone()).unwrap();
    let absurd = |widths: &str| meta.replace("\"stage_widths\": null", widths);
    assert_ne!(absurd("x"), meta, "the run names its stage widths");

    // 2.2e10 parameters: over the cap (2^32).
    run_with(
        &dir,
        "meta.json",
        absurd("\"stage_widths\": [16, 32, 20000]").as_bytes(),
    );
    let e = load_all(&dir).unwrap_err().to_string();
    assert!(
        e.contains("meta.json") && e.contains("4294967296 parameters"),
        "{e}"
    );

    // 3.5e9 parameters: under the cap, 56 GB to train: refused when the machine has less.
    run_with(
        &dir,
        "meta.json",
        absurd("\"stage_widths\": [16, 32, 8000]").as_bytes(),
    );
    let e = load_all(&dir).unwrap_err().to_string();
    let available = burn_prune_vision::app::network::available_memory();
    if available.is_some_and(|a| a < 56_000_000_000) {
        assert!(
            e.contains("meta.json") && e.contains("GB of memory available"),
            "{e}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Found by the long fuzz run: a bit flipped in the optimizer record's metadata left a tensor
/// without a parameter id, and Burn's `ModuleOptimizer::load_record` panics on that. Here the
/// valid record is rewritten with every tensor's id dropped: an error naming `optim.bpk`.
#[test]
fn an_optimizer_record_without_parameter_ids_is_an_error() {
    let dir = case_dir("optim-ids");
    let valid = &valid_run()[3];
    assert_eq!(valid.0, "optim.bpk");
    let reader =
        burn_pack::Reader::from_bytes(burn_pack::Bytes::from_bytes_vec(valid.1.clone())).unwrap();
    let tensors: Vec<burn_pack::Tensor> = reader
        .into_tensors()
        .unwrap()
        .into_iter()
        .map(|t| {
            let (name, dtype, shape, id, bytes) = t.into_parts().unwrap();
            assert!(id.is_some(), "the valid record carries ids");
            burn_pack::Tensor::new(name, dtype, shape, None, bytes)
        })
        .collect();
    assert!(!tensors.is_empty());
    let without_ids = burn_pack::Writer::new(tensors).into_bytes().unwrap();
    run_with(&dir, "optim.bpk", &without_ids);
    let e = load_all(&dir).unwrap_err().to_string();
    assert!(e.contains("optim.bpk") && e.contains("parameter id"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

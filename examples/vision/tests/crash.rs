//! Crash safety: the whole pipeline (training, pruning, fine-tuning, pruning at
//! initialization, lottery rounds, the report) killed with SIGKILL at random moments and run
//! again after every kill ends exactly where an uninterrupted run ends, and no epoch that was
//! reported finished is ever lost.
//!
//! `CRASH_KILLS` sets the number of kills (default 24), `CRASH_SEED` the seed of the moments
//! (default: drawn from the clock and printed, so that a failure can be replayed). When the
//! pipeline finishes before all the kills have landed, another pass starts over in a new
//! directory with the kills left; every pass is compared with the uninterrupted run.

#![cfg(unix)]

use burn::prelude::*;
use burn_prune::{ParamSnapshot, masks_of};
use burn_prune_vision::app::checkpoint::{Checkpoint, RunMeta};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Each step of a save waits this long in the killed runs, so that kills land inside saves.
const SAVE_PAUSE_MS: u64 = 100;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("burn-prune-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The pipeline on 32 training and 16 test images, 2 epochs per stage, runs in `runs`.
fn pipeline(runs: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prune-vision"));
    cmd.args(["--synthetic", "--train-limit", "32", "--test-limit", "16"])
        .args(["--max-epochs", "2", "--runs"])
        .arg(runs)
        .arg("pipeline");
    cmd
}

/// The runs in `runs`, by name.
fn run_dirs(runs: &Path) -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(runs)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| Checkpoint::exists(p))
                .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
                .collect()
        })
        .unwrap_or_default()
}

/// Files a save in progress (or interrupted) has on disk, with their modification times:
/// staged (`model.bpk.g3`) or temporary (`meta.json.tmp`).
fn save_files(runs: &Path) -> BTreeSet<(PathBuf, SystemTime)> {
    let mut found = BTreeSet::new();
    for dir in std::fs::read_dir(runs).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            let staged = name
                .rsplit_once(".g")
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if staged || name.ends_with(".tmp") {
                let modified = file.metadata().and_then(|m| m.modified());
                found.insert((file.path(), modified.unwrap_or(SystemTime::UNIX_EPOCH)));
            }
        }
    }
    found
}

/// The save files in `runs` that are not in `before`.
fn new_save_files(
    runs: &Path,
    before: &BTreeSet<(PathBuf, SystemTime)>,
) -> Vec<(PathBuf, SystemTime)> {
    save_files(runs).difference(before).cloned().collect()
}

/// `(run, epoch)` of every `[run] epoch k/N` line: the epochs reported finished.
fn reported_epochs(stdout: &str) -> Vec<(String, usize)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (run, rest) = line.strip_prefix('[')?.split_once("] epoch ")?;
            let epoch = rest.trim_start().split('/').next()?.parse().ok()?;
            Some((run.to_string(), epoch))
        })
        .collect()
}

/// The run's description without wall times (which differ between any two runs).
fn timeless(meta: &RunMeta) -> serde_json::Value {
    let mut meta = meta.clone();
    for e in &mut meta.history {
        e.images_per_second = 0.0;
        e.seconds = 0.0;
    }
    serde_json::to_value(meta).unwrap()
}

/// Kill `child` with SIGKILL and return what it printed.
fn kill(mut child: Child) -> String {
    child.kill().unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// Whether `child` exited by itself within `wait`; panics when it failed.
fn exited_within(child: &mut Child, wait: Duration) -> bool {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the pipeline failed: {status}");
            return true;
        }
        if start.elapsed() >= wait {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Wait (up to `limit`) until a save of some run is under way: a save file not in `before`.
fn wait_for_a_save(
    child: &mut Child,
    runs: &Path,
    before: &BTreeSet<(PathBuf, SystemTime)>,
    limit: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !new_save_files(runs, before).is_empty() {
            return true;
        }
        if exited_within(child, Duration::from_millis(2)) {
            return false;
        }
    }
    false
}

/// One pass: the pipeline run in `crashed` again and again, killed until `kills` kills are in
/// `log` or it finishes by itself; every kill checked. Returns the runs started and the kills
/// that landed inside a save.
fn crash_pass(
    crashed: &Path,
    kills: usize,
    uninterrupted: Duration,
    rng: &mut StdRng,
    log: &mut Vec<String>,
) -> (usize, usize) {
    // Half of the kills at a uniformly random moment, half while a save is under way (a
    // random moment within its pauses): saves are short, uniform moments rarely hit them.
    // The uniform ones come on average after 1/16 of the uninterrupted run's time, so that
    // the kills spread over the pipeline (each restart redoes a part of an epoch).
    let mean = uninterrupted / 16;
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    let (mut attempts, mut in_saves) = (0, 0);
    loop {
        attempts += 1;
        let mut child = pipeline(crashed)
            .env("PRUNE_VISION_SAVE_PAUSE_MS", SAVE_PAUSE_MS.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let killed = log.len();
        let before = save_files(crashed);
        if killed == kills {
            assert!(child.wait().unwrap().success(), "the last run failed");
            return (attempts, in_saves);
        }
        let aimed_at_save = killed % 2 == 1;
        let alive = if aimed_at_save {
            wait_for_a_save(&mut child, crashed, &before, uninterrupted * 2)
                && !exited_within(
                    &mut child,
                    Duration::from_millis(rng.random_range(0..3 * SAVE_PAUSE_MS)),
                )
        } else {
            !exited_within(&mut child, mean.mul_f64(rng.random_range(0.0..2.0)))
        };
        if !alive {
            // Finished before the kills ran out: the next pass takes the rest.
            assert!(child.wait().unwrap().success(), "the last run failed");
            return (attempts, in_saves);
        }
        let stdout = kill(child);
        let leftovers = new_save_files(crashed, &before);
        in_saves += usize::from(!leftovers.is_empty());
        let last = stdout.lines().last().unwrap_or("(nothing printed yet)");
        log.push(format!(
            "kill {:>2}: {}{}",
            killed + 1,
            last.chars().take(90).collect::<String>(),
            if leftovers.is_empty() {
                String::new()
            } else {
                format!("  [inside a save: {} file(s) staged]", leftovers.len())
            }
        ));

        // Every run on disk opens and loads, whole; no saved epoch went back; every epoch
        // the killed process reported finished is on disk.
        for (name, dir) in run_dirs(crashed) {
            let checkpoint = Checkpoint::open(&dir).unwrap();
            checkpoint
                .load_model(&Device::flex())
                .unwrap_or_else(|e| panic!("after kill {}: {name}: {e}", killed + 1));
            let before = done.get(&name).copied().unwrap_or(0);
            let now = checkpoint.meta.epochs_done;
            assert!(
                now >= before,
                "after kill {}: {name} went back from epoch {before} to {now}",
                killed + 1
            );
            done.insert(name, now);
        }
        for (run, epoch) in reported_epochs(&stdout) {
            let on_disk = Checkpoint::open(crashed.join(&run)).unwrap().meta;
            assert!(
                on_disk.epochs_done >= epoch || on_disk.finished,
                "after kill {}: {run} reported epoch {epoch}, {} on disk",
                killed + 1,
                on_disk.epochs_done
            );
        }
    }
}

/// Every run in `crashed` ends with the weights, masks, plans and history of its twin in
/// `straight`, and no file of a save is left over.
fn compare(straight: &Path, crashed: &Path) {
    // Every run ends with the uninterrupted run's weights, masks, plans and history.
    let expected = run_dirs(straight);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        run_dirs(crashed).keys().collect::<Vec<_>>()
    );
    for (name, dir) in &expected {
        let a = Checkpoint::open(dir).unwrap();
        let b = Checkpoint::open(crashed.join(name)).unwrap();
        assert!(b.meta.finished, "{name} is not finished");
        assert_eq!(timeless(&a.meta), timeless(&b.meta), "{name}: descriptions");
        let (ma, mb) = (
            a.load_model(&Device::flex()).unwrap(),
            b.load_model(&Device::flex()).unwrap(),
        );
        assert_eq!(
            masks_of(&ma).unwrap(),
            masks_of(&mb).unwrap(),
            "{name}: masks"
        );
        let (pa, pb) = (
            ParamSnapshot::capture(&ma).unwrap(),
            ParamSnapshot::capture(&mb).unwrap(),
        );
        assert_eq!(pa.len(), pb.len());
        for path in pa.paths() {
            assert_eq!(
                pa.get(path).unwrap().as_bytes(),
                pb.get(path).unwrap().as_bytes(),
                "{name}: {path} differs"
            );
        }
    }
    assert!(crashed.join("report.md").is_file());
    let left = save_files(crashed);
    assert!(left.is_empty(), "files of saves left over: {left:?}");
}

#[test]
fn the_pipeline_killed_at_random_moments_resumes_to_the_uninterrupted_result() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("CRASH_SEED={seed} CRASH_KILLS={kills}");
    let mut rng = StdRng::seed_from_u64(seed);

    let straight = temp_dir("straight");
    let started = Instant::now();
    let out = pipeline(&straight).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let uninterrupted = started.elapsed();

    // Passes of the pipeline, each killed until it finishes, until `kills` kills have landed:
    // one pass usually takes them all; when the pipeline ends first, the next pass starts
    // over in a new directory with the kills left. Every pass must end where the
    // uninterrupted run ended.
    let (mut log, mut in_saves, mut attempts) = (Vec::new(), 0, 0);
    for pass in 1.. {
        if log.len() >= kills {
            break;
        }
        let crashed = temp_dir(&format!("crashed-{pass}"));
        let (a, s) = crash_pass(&crashed, kills, uninterrupted, &mut rng, &mut log);
        attempts += a;
        in_saves += s;
        compare(&straight, &crashed);
        std::fs::remove_dir_all(&crashed).ok();
    }
    println!("{}", log.join("\n"));
    println!(
        "{} kills ({in_saves} inside a save) over {attempts} runs; uninterrupted: {:.1} s",
        log.len(),
        uninterrupted.as_secs_f64()
    );
    assert!(in_saves > 0, "no kill landed inside a save");
    std::fs::remove_dir_all(&straight).ok();
}

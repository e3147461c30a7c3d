//! `prune-vision study` end to end on generated data, as a user runs it: the miniature study
//! makes every section's runs, writes the page from them, resumes without retraining, and
//! refuses to mix two configurations in one directory.

use burn_prune_vision::app::checkpoint::Checkpoint;
use burn_prune_vision::app::study::record::StudyRecord;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("burn-prune-study-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn study(runs: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prune-vision"))
        .args(["--synthetic", "--dataset", "fashion-mnist", "--runs"])
        .arg(runs)
        .args(["study", "--scale", "miniature"])
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn accuracy(dir: &Path) -> f64 {
    Checkpoint::open(dir).unwrap().meta.accuracy().unwrap()
}

/// The page's `87.3 (1)` cell of a one-seed run.
fn one_seed_cell(dir: &Path) -> String {
    format!("{:.1} (1)", 100.0 * accuracy(dir))
}

#[test]
fn the_miniature_study_writes_every_section_from_its_runs() {
    let runs = temp_dir("miniature");
    let out = study(&runs, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let root = runs.join("study");
    let page = std::fs::read_to_string(root.join("results.md")).unwrap();

    // Every section, with the runs behind it.
    for heading in [
        "## Rethinking the value of network pruning",
        "## Lottery tickets and the learning rate",
        "## Criteria",
        "## Pruning at initialization",
        "## Early-bird tickets",
        "## Pruning spaces",
    ] {
        assert!(page.contains(heading), "no `{heading}` in the page");
    }
    let s0 = |section: &str| root.join(section).join("s0");
    for (section, runs) in [
        (
            "rethinking",
            &[
                "dense",
                "dense-slim",
                "l1-30",
                "l1-30-ft",
                "l1-30-scratch-e",
                "l1-30-scratch-b",
                "sfp-60",
                "magnitude-80-scratch-b",
                "thinet-60-ft",
                "lasso-30-ft",
                "slimming-60-ft",
                "deep-dense",
                "deep-sss",
                "sss",
                "sss-ft",
                "sss-scratch-e",
                "sss-scratch-b",
            ][..],
        ),
        (
            "criteria",
            &[
                "fpgm-25",
                "apoz-75-ft",
                "obd-50-ft",
                "mutual-information-25",
            ][..],
        ),
        (
            "pai",
            &[
                "snip",
                "grasp",
                "synflow",
                "random",
                "erk",
                "precrop",
                "preconfig",
            ][..],
        ),
        ("early-bird", &["epoch-1", "ticket-e1", "ticket-e1-ft"][..]),
    ] {
        for name in runs {
            let c = Checkpoint::open(s0(section).join(name)).unwrap();
            assert!(c.meta.finished, "{section}/{name} is not finished");
        }
    }
    for lr in ["lr0.1", "lr0.01"] {
        for name in [
            "lottery-r0",
            "lottery-r1",
            "lottery-r2",
            "random-r1",
            "random-r2",
        ] {
            assert!(Checkpoint::exists(
                root.join("lottery").join(lr).join("s0").join(name)
            ));
        }
    }
    for name in ["net-0", "net-3", "refined-0", "refined-1"] {
        assert!(Checkpoint::exists(root.join("spaces").join(name)), "{name}");
    }

    // OBD scores weights from input Hessians; it is not mutual information under another
    // name (structural OBD once took the activation path and chose MI's channels).
    let plans = |name: &str| {
        Checkpoint::open(s0("criteria").join(name))
            .unwrap()
            .meta
            .plans
    };
    assert_ne!(plans("obd-50"), plans("mutual-information-50"));

    // The page's numbers are the runs' records.
    let dense = s0("rethinking").join("dense");
    assert!(
        page.contains(&format!("Dense: {};", one_seed_cell(&dense))),
        "the dense accuracy of the page is not the run's"
    );
    let l1 = page
        .lines()
        .find(|l| l.starts_with("| L1-norm filters | predefined | 30% of channels"))
        .unwrap();
    for run in ["l1-30", "l1-30-ft", "l1-30-scratch-e", "l1-30-scratch-b"] {
        assert!(
            l1.contains(&one_seed_cell(&s0("rethinking").join(run))),
            "{run}: {l1}"
        );
    }
    // Sparse structure selection: its row holds its runs' accuracies, its pruned network is
    // ResNet-20 without the blocks the record says were removed, and its Scratch-B budget is
    // counted against the dense ResNet-20.
    let sss_row = page
        .lines()
        .find(|l| l.starts_with("| Sparse structure selection (ResNet-20) | automatic |"))
        .unwrap();
    for run in ["sss", "sss-ft", "sss-scratch-e", "sss-scratch-b"] {
        assert!(
            sss_row.contains(&one_seed_cell(&s0("rethinking").join(run))),
            "{run}: {sss_row}"
        );
    }
    let cut = Checkpoint::open(s0("rethinking").join("sss")).unwrap().meta;
    let burn_prune_vision::app::network::ModelSpec::ResNet(config) = &cut.model else {
        panic!("a ResNet")
    };
    let left: usize = config.resolved_stage_blocks().unwrap().iter().sum();
    assert_eq!(left + cut.values["blocks_removed"] as usize, 9);
    let scratch_b = Checkpoint::open(s0("rethinking").join("sss-scratch-b"))
        .unwrap()
        .meta;
    if left < 9 {
        assert!(scratch_b.values["budget_extension"] > 1.0);
    }
    let lottery = page
        .lines()
        .find(|l| l.starts_with("| 0.01 | 60% |"))
        .unwrap();
    let lr = root.join("lottery").join("lr0.01").join("s0");
    assert!(
        lottery.contains(&one_seed_cell(&lr.join("lottery-r1"))),
        "{lottery}"
    );
    assert!(
        lottery.contains(&one_seed_cell(&lr.join("random-r1"))),
        "{lottery}"
    );
    // PreCrop removes channels: it computes fewer MACs; SNIP's masks compute them all.
    let row = |p: &str| page.lines().find(|l| l.starts_with(p)).unwrap().to_string();
    assert!(row("| SNIP |").contains("| 100% |"), "{}", row("| SNIP |"));
    assert!(!row("| PreCrop (channels) |").contains("| 100% |"));
    // The plots are written beside the page and linked from it.
    for plot in ["criteria-before", "criteria-after", "spaces"] {
        let file = root.join("results").join(format!("{plot}.png"));
        assert!(
            std::fs::read(&file).unwrap().starts_with(b"\x89PNG"),
            "{plot}"
        );
        assert!(page.contains(&format!("(results/{plot}.png)")));
    }
    let record = StudyRecord::read(&root.join("study.json")).unwrap();
    assert_eq!(record.invocations.len(), 1);
    assert!(record.complete());

    // Again: nothing is retrained, the page is rewritten, the record grows.
    let dense_before = std::fs::read(dense.join("meta.json")).unwrap();
    let out = study(&runs, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already finished"));
    assert_eq!(
        std::fs::read(dense.join("meta.json")).unwrap(),
        dense_before
    );
    let record = StudyRecord::read(&root.join("study.json")).unwrap();
    assert_eq!(record.invocations.len(), 2);

    // The page alone, into another file (the guide's): plots go beside it.
    let page_path = runs.join("guide").join("results.md");
    let out = study(
        &runs,
        &["--page-only", "--page", page_path.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::read_to_string(&page_path)
            .unwrap()
            .contains("## Pruning spaces")
    );
    assert!(
        runs.join("guide")
            .join("results")
            .join("spaces.png")
            .is_file()
    );
    assert_eq!(
        StudyRecord::read(&root.join("study.json"))
            .unwrap()
            .invocations
            .len(),
        2,
        "writing the page is not an invocation of the study"
    );
    std::fs::remove_dir_all(&runs).unwrap();
}

#[test]
fn a_study_refuses_what_would_mix_two_studies() {
    let runs = temp_dir("refusals");
    // A directory holding a study of another configuration.
    let root = runs.join("study");
    std::fs::create_dir_all(&root).unwrap();
    let json = std::fs::read_to_string(
        // Any record of the full preset will do: write one through the library.
        {
            let config = burn_prune_vision::app::study::StudyConfig::preset(
                burn_prune_vision::app::study::StudyScale::Full,
            );
            let record = StudyRecord::open_or_new(&root.join("study.json"), &config).unwrap();
            record.save(&root.join("study.json")).unwrap();
            root.join("study.json")
        },
    )
    .unwrap();
    assert!(json.contains("\"scale\": \"full\""));
    let out = study(&runs, &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("another configuration"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("--fresh"), "{}", text(&out));
    // The record was left as it was.
    assert_eq!(
        std::fs::read_to_string(root.join("study.json")).unwrap(),
        json
    );

    // Flags that would change the study's runs behind its configuration's back.
    for flag in [
        ["--max-epochs", "3"],
        ["--batch-size", "8"],
        ["--train-limit", "10"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_prune-vision"))
            .args(["--synthetic", "--runs"])
            .arg(&runs)
            .args(flag)
            .args(["study", "--scale", "miniature"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(text(&out).contains(flag[0]), "{}", text(&out));
    }
    // The page of a study that never ran.
    let empty = temp_dir("empty");
    let out = study(&empty, &["--page-only"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("run it first"), "{}", text(&out));
    std::fs::remove_dir_all(&runs).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}

//! Where the study keeps its runs: one directory per section and seed, so the page can be
//! generated from the directory alone.

use std::path::{Path, PathBuf};

/// The study directory and its sections.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The study directory (`<runs>/study` by default).
    pub root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `study.json`: the configuration and the wall time of every invocation.
    pub fn record(&self) -> PathBuf {
        self.root.join("study.json")
    }

    /// Dense runs, pruned runs, fine-tuned and from-scratch runs of "Rethinking" for `seed`.
    pub fn rethinking(&self, seed: u64) -> PathBuf {
        self.section("rethinking", seed)
    }

    /// Lottery rounds and their random re-initialisations at learning rate `lr`.
    pub fn lottery(&self, lr: f64, seed: u64) -> PathBuf {
        self.root
            .join("lottery")
            .join(format!("lr{lr}"))
            .join(format!("s{seed}"))
    }

    /// Criteria: pruned and briefly fine-tuned runs.
    pub fn criteria(&self, seed: u64) -> PathBuf {
        self.section("criteria", seed)
    }

    /// Pruning at initialization.
    pub fn pai(&self, seed: u64) -> PathBuf {
        self.section("pai", seed)
    }

    /// Early-bird: the dense network after every epoch, the tickets and their fine-tuning.
    pub fn early_bird(&self, seed: u64) -> PathBuf {
        self.section("early-bird", seed)
    }

    /// Pruning spaces: the sampled subnetworks, trained.
    pub fn spaces(&self) -> PathBuf {
        self.root.join("spaces")
    }

    /// Plots of the page.
    pub fn plots(&self) -> PathBuf {
        self.root.join("plots")
    }

    fn section(&self, name: &str, seed: u64) -> PathBuf {
        self.root.join(name).join(format!("s{seed}"))
    }
}

/// `dir/name` as the string commands take for `--from` (a run directory is accepted as well
/// as a name).
pub fn run_path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

//! `study.json`: the configuration a study runs with, where it ran, and how long every
//! invocation took.

use super::super::checkpoint::write_atomic;
use super::super::error::{AppError, Result};
use super::config::StudyConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// One invocation of `study`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// When it started, in seconds since 1970.
    pub started: u64,
    /// How long it ran, in seconds (updated when it ends).
    pub seconds: f64,
    /// Whether every task was done when it ended.
    pub finished: bool,
    /// The commit it ran (empty in records written before it was kept per invocation).
    #[serde(default)]
    pub commit: String,
}

/// The record of a study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyRecord {
    /// The configuration (a resumed study must have the same).
    pub config: StudyConfig,
    /// The commit of the latest invocation (`git rev-parse`), `unknown` outside a checkout.
    pub commit: String,
    /// The machine of the latest invocation.
    pub machine: String,
    /// Every invocation, oldest first.
    pub invocations: Vec<Invocation>,
}

impl StudyRecord {
    /// The record at `path`, or a new one for `config`. Errors: a record of another
    /// configuration (resuming it would mix two studies), an unreadable record.
    pub fn open_or_new(path: &Path, config: &StudyConfig) -> Result<Self> {
        if !path.is_file() {
            return Ok(Self {
                config: config.clone(),
                commit: commit(),
                machine: machine(),
                invocations: Vec::new(),
            });
        }
        let record = Self::read(path)?;
        if &record.config != config {
            return Err(AppError::checkpoint(
                path,
                "holds a study of another configuration: pass --fresh to start over, or \
                 another --runs directory",
            ));
        }
        Ok(record)
    }

    /// Read the record at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(AppError::io(path))?;
        serde_json::from_str(&text)
            .map_err(|e| AppError::checkpoint(path, format!("not a study record: {e}")))
    }

    /// Start an invocation now.
    pub fn start(&mut self) {
        // Invocations recorded before commits were kept per invocation ran the record's.
        for i in self.invocations.iter_mut().filter(|i| i.commit.is_empty()) {
            i.commit = self.commit.clone();
        }
        self.commit = commit();
        self.machine = machine();
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.invocations.push(Invocation {
            started,
            seconds: 0.0,
            finished: false,
            commit: self.commit.clone(),
        });
    }

    /// Set the latest invocation's duration and outcome.
    pub fn end(&mut self, seconds: f64, finished: bool) {
        if let Some(last) = self.invocations.last_mut() {
            last.seconds = seconds;
            last.finished = finished;
        }
    }

    /// Save it atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(AppError::io(dir))?;
        }
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| AppError::checkpoint(path, e.to_string()))?;
        write_atomic(path, &json)
    }

    /// Wall time of every invocation together.
    pub fn seconds(&self) -> f64 {
        self.invocations.iter().map(|i| i.seconds).sum()
    }

    /// The commits that ran the study, oldest first, each once (the record's own for
    /// invocations that kept none).
    pub fn commits(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in &self.invocations {
            let c = if i.commit.is_empty() {
                &self.commit
            } else {
                &i.commit
            };
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }

    /// Whether the latest invocation finished every task.
    pub fn complete(&self) -> bool {
        self.invocations.last().is_some_and(|i| i.finished)
    }
}

/// `git rev-parse --short HEAD`, with `+ local changes` when the tree differs from it.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(hash) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{hash} + local changes")
            } else {
                hash
            }
        }
        None => "unknown".into(),
    }
}

/// The CPU model, its cores and the memory, from `/proc` (Linux); the cores alone elsewhere.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
    });
    let memory = super::super::network::total_memory()
        .map(|bytes| format!("{:.0} GiB", bytes as f64 / (1u64 << 30) as f64));
    let mut s = format!("{cores} cores");
    if let Some(cpu) = cpu {
        s = format!("{cpu}, {s}");
    }
    if let Some(m) = memory {
        s.push_str(&format!(", {m}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::study::config::StudyScale;

    #[test]
    fn a_study_of_another_configuration_is_refused() {
        let dir = std::env::temp_dir().join(format!("study-record-{}", std::process::id()));
        let path = dir.join("study.json");
        let config = StudyConfig::preset(StudyScale::Miniature);
        let mut record = StudyRecord::open_or_new(&path, &config).unwrap();
        record.start();
        record.end(12.5, false);
        record.start();
        record.end(30.0, true);
        record.save(&path).unwrap();
        let again = StudyRecord::open_or_new(&path, &config).unwrap();
        assert_eq!(again.invocations.len(), 2);
        assert_eq!(again.seconds(), 42.5);
        assert!(again.complete());
        // Both invocations ran the same checkout: one commit, the one each recorded.
        assert_eq!(again.commits().len(), 1);
        assert_eq!(again.commits()[0], again.invocations[1].commit);
        let mut older = again.clone();
        older.invocations[0].commit = String::new(); // a record from before commits were kept
        older.commit = "abc1234".into();
        assert_eq!(older.commits()[0], "abc1234");
        // A new invocation keeps the old one's commit.
        older.start();
        assert_eq!(older.invocations[0].commit, "abc1234");
        let other = StudyConfig::preset(StudyScale::Full);
        let err = StudyRecord::open_or_new(&path, &other)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--fresh"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

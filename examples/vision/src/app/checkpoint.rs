//! Checkpoints: one directory per run under `--runs`, holding what is needed to rebuild the
//! model, continue its training and report on it.
//!
//! | file | what |
//! |---|---|
//! | `meta.json` | the run: command, model configuration, structural plans, training settings, per-epoch history |
//! | `model.bpk` | the weights (Burn's burnpack record; masks included) |
//! | `masks.json` | the installed pruning masks, when there are any |
//! | `optim.bpk` | the optimizer state, so an interrupted training resumes exactly where it stopped |
//!
//! A model is rebuilt by building the configured network, replaying the structural plans
//! (physically removed channels), installing the masks, then loading the record. The files
//! change together (see [`Checkpoint::save`]): a save interrupted at any moment, by a crash or
//! a kill, leaves the previous checkpoint or the new one, whole.

use super::error::{AppError, Result};
use super::network::{ModelSpec, Network};
use super::sparse_structure;
use super::train::{EpochLog, TrainConfig};
use crate::DatasetKind;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn_prune::structure::StructuralPlan;
use burn_prune::{MaskSet, catch_panic, install_masks, masks_of, sync_dir};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Everything about a run except its tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunMeta {
    /// The run's name (its directory's name).
    pub name: String,
    /// The command that made it (`train`, `prune`, `finetune`, `scratch`, `pai`, `lottery`).
    pub command: String,
    /// What was done, in words (method, criterion, sparsity).
    pub description: String,
    /// The network's configuration before any structural plan.
    pub model: ModelSpec,
    /// The unpruned network, when `model` is itself an architecture made by pruning
    /// (residual blocks removed by sparse structure selection); `None` when `model` is the
    /// unpruned network. Reports, Scratch-B budgets and speedups compare against it.
    #[serde(default)]
    pub dense: Option<ModelSpec>,
    /// Whether every residual block carries a learned scale (sparse structure selection's
    /// training): added to the built network before the plans and the record.
    #[serde(default)]
    pub block_scales: bool,
    /// Structural plans applied in order since the model was built.
    pub plans: Vec<StructuralPlan>,
    /// The run this one started from.
    pub parent: Option<String>,
    /// Training settings, when the run trains.
    pub train: Option<TrainConfig>,
    /// Epochs completed.
    pub epochs_done: usize,
    /// One entry per completed epoch.
    pub history: Vec<EpochLog>,
    /// Whether the run completed (a finished run is not resumed).
    pub finished: bool,
    /// The seed of the run.
    pub seed: u64,
    /// Numbers specific to the command (target sparsity, lottery round, Scratch-B epochs...).
    pub values: BTreeMap<String, f64>,
    /// The data the run used (`CIFAR-10 (50000/10000 images)` or `synthetic (...)`).
    #[serde(default)]
    pub data: String,
    /// The method, without its target (`l1, channels removed`, `synflow at initialization`,
    /// `lottery ticket`): runs of one method at several sparsities form one curve in the
    /// report. Empty in runs saved before it existed (the report then uses the command).
    #[serde(default)]
    pub method: String,
    /// The dataset whose images the network takes (runs saved before there was a choice
    /// were CIFAR-10's).
    #[serde(default)]
    pub dataset: DatasetKind,
}

impl RunMeta {
    /// A new, unfinished run.
    pub fn new(
        name: &str,
        command: &str,
        description: String,
        model: ModelSpec,
        seed: u64,
    ) -> Self {
        Self {
            name: name.into(),
            command: command.into(),
            description,
            model,
            dense: None,
            block_scales: false,
            plans: Vec::new(),
            parent: None,
            train: None,
            epochs_done: 0,
            history: Vec::new(),
            finished: false,
            seed,
            values: BTreeMap::new(),
            data: String::new(),
            method: String::new(),
            dataset: DatasetKind::default(),
        }
    }

    /// The unpruned network the run descends from: [`RunMeta::dense`], or `model`.
    pub fn dense_spec(&self) -> &ModelSpec {
        self.dense.as_ref().unwrap_or(&self.model)
    }

    /// The method's name for grouping runs: [`RunMeta::method`], or the command.
    pub fn method_label(&self) -> &str {
        if self.method.is_empty() {
            &self.command
        } else {
            &self.method
        }
    }

    /// The shape `[batch, C, H, W]` of a batch of `batch` of the run's images.
    pub fn input(&self, batch: usize) -> [usize; 4] {
        self.dataset.input(batch)
    }

    /// The run's final test accuracy: the evaluation recorded under `accuracy` (a pruning
    /// step's, after its last change to the model), else the last epoch's.
    pub fn accuracy(&self) -> Option<f64> {
        self.values
            .get("accuracy")
            .copied()
            .or_else(|| self.history.last().map(|e| e.test_accuracy))
    }
}

/// A run directory.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The directory.
    pub dir: PathBuf,
    /// Its metadata.
    pub meta: RunMeta,
}

const META: &str = "meta.json";
const MODEL: &str = "model.bpk";
const MASKS: &str = "masks.json";
const OPTIM: &str = "optim.bpk";

/// The directory of run `name_or_dir`: the path itself when it holds a checkpoint, otherwise
/// `runs/name_or_dir`.
pub fn run_dir(runs: &Path, name_or_dir: &str) -> PathBuf {
    let direct = PathBuf::from(name_or_dir);
    if direct.join(META).is_file() {
        direct
    } else {
        runs.join(name_or_dir)
    }
}

impl Checkpoint {
    /// Open the checkpoint in `dir`, completing a save that was interrupted after its commit
    /// (when the directory is writable; otherwise the files are read where they are). Errors:
    /// no `meta.json` (naming the directory, and what makes one), an unreadable one.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let file = MetaFile::read(&dir)?;
        // Best effort: a read-only run is still read, from the staged files.
        let _ = file.commit.finish(&dir);
        Ok(Self {
            dir,
            meta: file.meta,
        })
    }

    /// Whether `dir` holds a checkpoint.
    pub fn exists(dir: impl AsRef<Path>) -> bool {
        dir.as_ref().join(META).is_file()
    }

    /// Save `model` (and `optim`, when training continues) with `meta` into `dir`.
    ///
    /// The files change together: the new record, masks and optimizer state are first written
    /// under staging names (`model.bpk.g7`, synced), then `meta.json` is replaced atomically,
    /// naming them — that is the moment the checkpoint changes — then they are renamed into
    /// place. A kill at any point leaves the previous checkpoint or the new one, whole: before
    /// the commit the staged files are ignored (and removed by the next save); after it,
    /// loading reads the staged files until the renames are done.
    ///
    /// For crash tests, the environment variable `PRUNE_VISION_SAVE_PAUSE_MS` makes every step
    /// of a save wait that many milliseconds, so that kills at random moments land inside saves.
    pub fn save(
        dir: impl AsRef<Path>,
        meta: RunMeta,
        model: &Network,
        optim: Option<&ModuleOptimizer>,
    ) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(AppError::io(&dir))?;
        let previous = if Checkpoint::exists(&dir) {
            MetaFile::read(&dir)?.commit
        } else {
            Commit::default()
        };
        previous.finish(&dir)?;
        remove_uncommitted(&dir, &previous)?;

        let generation = previous.generation + 1;
        let record = |e: burn::store::RecordError, file: &str| {
            AppError::checkpoint(dir.join(file), format!("saving: {e}"))
        };
        let mut staged = Vec::new();
        let bytes = model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| record(e, MODEL))?;
        staged.push(Staged::write(&dir, MODEL, generation, &bytes)?);
        pause();
        let masks = masks_of(model)?;
        staged.push(if masks.is_empty() {
            Staged::remove(MASKS)
        } else {
            Staged::write(&dir, MASKS, generation, masks.to_json()?.as_bytes())?
        });
        staged.push(match optim {
            Some(optim) => {
                let bytes = optim.into_bytes().map_err(|e| record(e, OPTIM))?;
                Staged::write(&dir, OPTIM, generation, &bytes)?
            }
            None => Staged::remove(OPTIM),
        });
        sync_dir(&dir);
        pause();
        let commit = Commit { generation, staged };
        let file = MetaFile { meta, commit };
        let json = serde_json::to_string_pretty(&file)
            .map_err(|e| AppError::checkpoint(dir.join(META), e.to_string()))?;
        write_atomic(&dir.join(META), &json)?;
        pause();
        file.commit.finish(&dir)?;
        Ok(Self {
            dir,
            meta: file.meta,
        })
    }

    /// Rebuild the model on `device`: the configured network, cut by the plans, masks
    /// installed, the saved weights loaded. Errors: a record that does not fit (naming the
    /// file and the mismatch).
    pub fn load_model(&self, device: &Device) -> Result<Network> {
        let meta_path = self.dir.join(META);
        let described = |what: &str, e: AppError| {
            AppError::checkpoint(&meta_path, format!("{what} it describes: {e}"))
        };
        let mut model = self
            .meta
            .model
            .init(device)
            .map_err(|e| described("the model", e))?;
        if self.meta.block_scales {
            model = sparse_structure::add_block_scales(model)
                .map_err(|e| described("the block scales", e))?;
        }
        for (i, plan) in self.meta.plans.iter().enumerate() {
            model = plan
                .apply_with_constants(model)
                .map_err(|e| described(&format!("structural plan {}", i + 1), e.into()))?;
        }
        let commit = MetaFile::read(&self.dir)?.commit;
        let masks = self.masks_in(&commit)?;
        if !masks.is_empty() {
            let path = self.dir.join(MASKS);
            model = install_masks(model, &masks).map_err(|e| {
                AppError::checkpoint(&path, format!("does not fit the described model: {e}"))
            })?;
        }
        let path = commit
            .file(&self.dir, MODEL)
            .ok_or_else(|| AppError::checkpoint(self.dir.join(MODEL), "missing"))?;
        let bytes = read_bytes(&path)?;
        let unfit = |e: String| {
            AppError::checkpoint(&path, format!("does not fit the described model: {e}"))
        };
        // Burn panics on some damaged records instead of returning an error.
        catch_panic(|| {
            burn::store::ModuleRecord::from_bytes(bytes).and_then(|r| model.try_load_record(r))
        })
        .map_err(unfit)?
        .map_err(|e| unfit(e.to_string()))
    }

    /// The saved masks (empty when the model has none).
    pub fn masks(&self) -> Result<MaskSet> {
        self.masks_in(&MetaFile::read(&self.dir)?.commit)
    }

    /// The masks `commit` names.
    fn masks_in(&self, commit: &Commit) -> Result<MaskSet> {
        let Some(path) = commit.file(&self.dir, MASKS) else {
            return Ok(MaskSet::new());
        };
        let json = std::fs::read_to_string(&path).map_err(AppError::io(&path))?;
        MaskSet::from_json(&json)
            .map_err(|e| AppError::checkpoint(&path, format!("not a mask set: {e}")))
    }

    /// Load the saved optimizer state into `optim`, when there is one.
    pub fn load_optimizer(&self, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let commit = MetaFile::read(&self.dir)?.commit;
        let Some(path) = commit.file(&self.dir, OPTIM) else {
            return Ok(optim);
        };
        let bytes = read_bytes(&path)?;
        let damaged = |e: String| AppError::checkpoint(&path, format!("optimizer state: {e}"));
        // Burn panics on a record whose tensors lack a parameter id instead of returning an
        // error (found by fuzzing).
        catch_panic(|| optim.from_bytes(bytes))
            .map_err(damaged)?
            .map_err(|e| damaged(e.to_string()))
    }
}

/// `meta.json`: the run's description and which files hold its tensors.
#[derive(Serialize, Deserialize)]
struct MetaFile {
    #[serde(flatten)]
    meta: RunMeta,
    /// Absent in runs saved before files were staged (their files carry their plain names).
    #[serde(default)]
    commit: Commit,
}

impl MetaFile {
    fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(META);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            AppError::checkpoint(
                dir,
                format!("no readable {META} ({e}); runs are made by `prune-vision train`, `prune`, `pai`, ..."),
            )
        })?;
        let file: Self = serde_json::from_str(&text)
            .map_err(|e| AppError::checkpoint(&path, format!("not a run description: {e}")))?;
        // The commit names files that saves rename and remove: only the checkpoint's own.
        for s in &file.commit.staged {
            let known = [MODEL, MASKS, OPTIM].contains(&s.file.as_str());
            let staging = s.from.as_ref().is_none_or(|f| is_staging_name(f, &s.file));
            if !(known && staging) {
                return Err(AppError::checkpoint(
                    &path,
                    format!(
                        "its commit names {:?} (from {:?}): not a file of a checkpoint",
                        s.file, s.from
                    ),
                ));
            }
        }
        Ok(file)
    }
}

/// The last save of a checkpoint: its number and the files it replaced or removed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Commit {
    /// Saves so far.
    generation: u64,
    /// The files of this save.
    staged: Vec<Staged>,
}

/// One file of a save.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Staged {
    /// The file's name (`model.bpk`).
    file: String,
    /// Its staging name (`model.bpk.g7`), or `None` when the save removes the file.
    from: Option<String>,
}

impl Staged {
    /// Write `bytes` under the staging name of `file` and sync them to disk.
    fn write(dir: &Path, file: &str, generation: u64, bytes: &[u8]) -> Result<Self> {
        let from = format!("{file}.g{generation}");
        let path = dir.join(&from);
        std::fs::File::create(&path)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            })
            .map_err(AppError::io(&path))?;
        Ok(Self {
            file: file.into(),
            from: Some(from),
        })
    }

    /// A save that removes `file`.
    fn remove(file: &str) -> Self {
        Self {
            file: file.into(),
            from: None,
        }
    }
}

impl Commit {
    /// Where `file` of this checkpoint is now: its staging name until it is renamed, its own
    /// name after, `None` when the checkpoint has none.
    fn file(&self, dir: &Path, file: &str) -> Option<PathBuf> {
        match self.staged.iter().find(|s| s.file == file) {
            Some(Staged { from: None, .. }) => None,
            Some(Staged {
                from: Some(from), ..
            }) if dir.join(from).is_file() => Some(dir.join(from)),
            _ => Some(dir.join(file)).filter(|p| p.is_file()),
        }
    }

    /// Move the committed files into place (again, after an interruption: every step can
    /// be repeated).
    fn finish(&self, dir: &Path) -> Result<()> {
        for s in &self.staged {
            let to = dir.join(&s.file);
            match &s.from {
                Some(from) if dir.join(from).is_file() => rename(&dir.join(from), &to)?,
                Some(_) => {}
                None => remove_if_there(&to)?,
            }
        }
        sync_dir(dir);
        Ok(())
    }
}

/// Remove what an interrupted save left: staging files of saves never committed and
/// temporary files.
fn remove_uncommitted(dir: &Path, committed: &Commit) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(AppError::io(dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = [META, MODEL, MASKS, OPTIM]
            .iter()
            .any(|base| is_staging_name(&name, base) || name == format!("{base}.tmp"));
        let current = committed
            .staged
            .iter()
            .any(|s| s.from.as_ref() == Some(&name));
        if ours && !current {
            remove_if_there(&entry.path())?;
        }
    }
    Ok(())
}

/// Whether `name` is `base.g<digits>`.
fn is_staging_name(name: &str, base: &str) -> bool {
    name.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix(".g"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The pause between the steps of a save asked for by `PRUNE_VISION_SAVE_PAUSE_MS` (crash
/// tests), none otherwise.
fn pause() {
    static PAUSE: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        std::env::var("PRUNE_VISION_SAVE_PAUSE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(std::time::Duration::from_millis)
    });
    if let Some(pause) = pause {
        std::thread::sleep(*pause);
    }
}

fn read_bytes(path: &Path) -> Result<burn::tensor::Bytes> {
    let bytes = std::fs::read(path).map_err(AppError::io(path))?;
    Ok(burn::tensor::Bytes::from_bytes_vec(bytes))
}

/// Write `text` to `path` through a temporary file that is synced and then renamed, so a
/// crash leaves either the old file or the new one, never a part.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    burn_prune::write_atomic(path, text.as_bytes()).map_err(AppError::io(path))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(AppError::io(to))
}

fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(AppError::io(path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        assert!(is_staging_name("model.bpk.g12", MODEL));
        assert!(!is_staging_name("model.bpk.g", MODEL));
        assert!(!is_staging_name("model.bpk.gx1", MODEL));
        assert!(!is_staging_name("model.bpk", MODEL));
        assert!(!is_staging_name("model.bpk.g1.tmp", MODEL));
    }
}

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
//! (physically removed channels), installing the masks, then loading the record. Every file
//! is written to a temporary name and renamed, so an interrupted save leaves the previous
//! checkpoint intact.

use super::error::{AppError, Result};
use super::network::{ModelSpec, Network};
use super::sparse_structure;
use super::train::{EpochLog, TrainConfig};
use crate::DatasetKind;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn_prune::structure::StructuralPlan;
use burn_prune::{MaskSet, install_masks, masks_of};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Open the checkpoint in `dir`. Errors: no `meta.json` (naming the directory, and what
    /// makes one), an unreadable one.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(META);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            AppError::checkpoint(
                &dir,
                format!("no readable {META} ({e}); runs are made by `prune-vision train`, `prune`, `pai`, ..."),
            )
        })?;
        let meta = serde_json::from_str(&text)
            .map_err(|e| AppError::checkpoint(&path, format!("not a run description: {e}")))?;
        Ok(Self { dir, meta })
    }

    /// Whether `dir` holds a checkpoint.
    pub fn exists(dir: impl AsRef<Path>) -> bool {
        dir.as_ref().join(META).is_file()
    }

    /// Save `model` (and `optim`, when training continues) with `meta` into `dir`.
    pub fn save(
        dir: impl AsRef<Path>,
        meta: RunMeta,
        model: &Network,
        optim: Option<&ModuleOptimizer>,
    ) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(AppError::io(&dir))?;
        let masks = masks_of(model)?;
        let record = |e: burn::store::RecordError, file: &str| {
            AppError::checkpoint(dir.join(file), format!("saving: {e}"))
        };
        let tmp = dir.join(format!("{MODEL}.tmp"));
        model
            .clone()
            .save_file(&tmp)
            .map_err(|e| record(e, MODEL))?;
        rename(&tmp, &dir.join(MODEL))?;
        if masks.is_empty() {
            remove_if_there(&dir.join(MASKS))?;
        } else {
            write_atomic(&dir.join(MASKS), &masks.to_json()?)?;
        }
        match optim {
            Some(optim) => {
                let tmp = dir.join(format!("{OPTIM}.tmp"));
                optim.save(&tmp).map_err(|e| record(e, OPTIM))?;
                rename(&tmp, &dir.join(OPTIM))?;
            }
            None => remove_if_there(&dir.join(OPTIM))?,
        }
        let json = serde_json::to_string_pretty(&meta)
            .map_err(|e| AppError::checkpoint(dir.join(META), e.to_string()))?;
        write_atomic(&dir.join(META), &json)?;
        Ok(Self { dir, meta })
    }

    /// Rebuild the model on `device`: the configured network, cut by the plans, masks
    /// installed, the saved weights loaded. Errors: a record that does not fit (naming the
    /// file and the mismatch).
    pub fn load_model(&self, device: &Device) -> Result<Network> {
        let mut model = self.meta.model.init(device)?;
        if self.meta.block_scales {
            model = sparse_structure::add_block_scales(model)?;
        }
        for plan in &self.meta.plans {
            model = plan.apply_with_constants(model)?;
        }
        let masks = self.masks()?;
        if !masks.is_empty() {
            model = install_masks(model, &masks)?;
        }
        let path = self.dir.join(MODEL);
        model.try_load_file(&path).map_err(|e| {
            AppError::checkpoint(&path, format!("does not fit the described model: {e}"))
        })
    }

    /// The saved masks (empty when the model has none).
    pub fn masks(&self) -> Result<MaskSet> {
        let path = self.dir.join(MASKS);
        if !path.is_file() {
            return Ok(MaskSet::new());
        }
        let json = std::fs::read_to_string(&path).map_err(AppError::io(&path))?;
        Ok(MaskSet::from_json(&json)?)
    }

    /// Load the saved optimizer state into `optim`, when there is one.
    pub fn load_optimizer(&self, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let path = self.dir.join(OPTIM);
        if !path.is_file() {
            return Ok(optim);
        }
        optim
            .load(&path)
            .map_err(|e| AppError::checkpoint(&path, format!("optimizer state: {e}")))
    }
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

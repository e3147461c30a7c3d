//! What the study runs: network, data, epochs, seeds and targets, as one serialisable value
//! written into the study directory (a resumed study must have the same one).

use super::super::error::{AppError, Result};
use super::super::network::ModelSpec;
use super::super::train::TrainConfig;
use crate::DatasetKind;
use burn_prune::models::ResNetCifarConfig;
use serde::{Deserialize, Serialize};

/// The size of a study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum StudyScale {
    /// The published study: 3 seeds, sized to finish within 3 hours on 2 CPU cores.
    Full,
    /// One seed, a few hundred images, one epoch per stage: proves the command and the page
    /// (CI), says nothing about the methods.
    Miniature,
}

/// Every setting of a study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// The preset it came from.
    pub scale: StudyScale,
    /// Seeds of every cell compared between methods (initialisation, data order,
    /// augmentation).
    pub seeds: Vec<u64>,
    /// Training images (the first N of the training split).
    pub train_images: usize,
    /// Test images (the first N of the test split).
    pub test_images: usize,
    /// Depth of the CIFAR-style ResNet (`6n + 2`).
    pub depth: usize,
    /// Width of its first stage (the others are 2× and 4×).
    pub width: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Epochs of dense training (and of Scratch-E, lottery rounds, pruning at
    /// initialization).
    pub dense_epochs: usize,
    /// Epochs of fine-tuning after pruning (and of soft filter pruning, early-bird tickets).
    pub finetune_epochs: usize,
    /// Epochs of the short fine-tune of the criteria comparison.
    pub criteria_finetune_epochs: usize,
    /// The two channel ratios of the structured methods of "Rethinking".
    pub structured_ratios: Vec<f64>,
    /// The two weight sparsities of unstructured magnitude pruning.
    pub unstructured_ratios: Vec<f64>,
    /// The three channel ratios of the criteria comparison.
    pub criteria_ratios: Vec<f64>,
    /// Network slimming's L1 penalty on the BatchNorm scales during dense training.
    pub slimming_penalty: f64,
    /// Scratch-B trains at most this many times the dense epochs.
    pub scratch_max_extension: f64,
    /// The two learning rates of the lottery-ticket experiment (large, small).
    pub lottery_lrs: Vec<f64>,
    /// Fraction of the remaining weights each lottery round removes.
    pub lottery_fraction: f64,
    /// Lottery rounds after the dense one (one sparsity per round).
    pub lottery_rounds: u32,
    /// Fraction of the weights (PreCrop/PreConfig: of the parameters) every
    /// pruning-at-initialization method keeps.
    pub pai_density: f64,
    /// Channel ratio of the early-bird detector and of its tickets.
    pub early_bird_ratio: f64,
    /// Side of the spline detector's grid of inputs.
    pub spline_grid: usize,
    /// Subnetworks sampled from the unrefined pruning space.
    pub space_samples: usize,
    /// Subnetworks sampled from the refined space.
    pub space_refined_samples: usize,
    /// Training epochs of each subnetwork.
    pub space_epochs: usize,
    /// The MAC regime: this fraction of the dense network's MACs...
    pub space_macs: f64,
    /// ... ± this fraction of it.
    pub space_tolerance: f64,
    /// The refined space keeps the FLOPs/parameter band of the best this fraction.
    pub space_band_fraction: f64,
    /// Depth of the deeper ResNet of sparse structure selection, which removes whole
    /// residual blocks (same widths as `depth`'s network; `3n − 2` of its blocks can go).
    #[serde(default = "default_sss_depth")]
    pub sss_depth: usize,
    /// Sparse structure selection's L1 penalty γ on the block scales.
    #[serde(default = "default_sss_penalty")]
    pub sss_penalty: f64,
    /// Blocks whose scale ends at most this in magnitude are removed: with momentum and a
    /// decayed learning rate, a short training leaves penalised scales small but rarely
    /// exactly zero.
    #[serde(default = "default_sss_tolerance")]
    pub sss_tolerance: f64,
}

/// Studies saved before sparse structure selection was part of them ran without it; these
/// defaults (the presets' values) let them continue with it.
fn default_sss_depth() -> usize {
    20
}

fn default_sss_penalty() -> f64 {
    SSS_PENALTY
}

fn default_sss_tolerance() -> f64 {
    0.01
}

/// The presets' γ: ten times the paper's ImageNet value, as the study trains a few hundred
/// steps instead of hundreds of thousands.
const SSS_PENALTY: f64 = 0.1;

impl StudyConfig {
    /// The preset of `scale`.
    pub fn preset(scale: StudyScale) -> Self {
        let full = Self {
            scale,
            seeds: vec![0, 1, 2],
            train_images: 2000,
            test_images: 1000,
            depth: 8,
            width: 8,
            batch_size: 64,
            dense_epochs: 10,
            finetune_epochs: 3,
            criteria_finetune_epochs: 1,
            structured_ratios: vec![0.3, 0.6],
            unstructured_ratios: vec![0.5, 0.8],
            criteria_ratios: vec![0.25, 0.5, 0.75],
            slimming_penalty: 1e-4,
            scratch_max_extension: 2.0,
            lottery_lrs: vec![0.1, 0.01],
            lottery_fraction: 0.6,
            lottery_rounds: 2,
            pai_density: 0.3,
            early_bird_ratio: 0.5,
            spline_grid: 16,
            space_samples: 32,
            space_refined_samples: 16,
            space_epochs: 3,
            space_macs: 0.4,
            space_tolerance: 0.15,
            space_band_fraction: 0.25,
            sss_depth: default_sss_depth(),
            sss_penalty: default_sss_penalty(),
            sss_tolerance: default_sss_tolerance(),
        };
        match scale {
            StudyScale::Full => full,
            StudyScale::Miniature => Self {
                seeds: vec![0],
                train_images: 128,
                test_images: 64,
                width: 4,
                batch_size: 32,
                dense_epochs: 1,
                finetune_epochs: 1,
                spline_grid: 4,
                space_samples: 4,
                space_refined_samples: 2,
                space_epochs: 1,
                space_band_fraction: 0.5,
                ..full
            },
        }
    }

    /// Errors: settings no run could use (no seeds, zero images or epochs, ratios outside
    /// `[0, 1)`, the wrong number of ratios or learning rates).
    pub fn check(&self) -> Result<()> {
        let bad =
            |what: &str, reason: String| Err(AppError::invalid(format!("study {what}"), reason));
        if self.seeds.is_empty() {
            return bad("seeds", "at least one seed".into());
        }
        for (what, n) in [
            ("train images", self.train_images),
            ("test images", self.test_images),
            ("batch size", self.batch_size),
            ("dense epochs", self.dense_epochs),
            ("fine-tune epochs", self.finetune_epochs),
            ("criteria fine-tune epochs", self.criteria_finetune_epochs),
            ("space epochs", self.space_epochs),
            ("spline grid", self.spline_grid),
        ] {
            if n == 0 {
                return bad(what, "must be at least 1".into());
            }
        }
        for (what, ratios, count) in [
            ("structured ratios", &self.structured_ratios, 2),
            ("unstructured ratios", &self.unstructured_ratios, 2),
            ("criteria ratios", &self.criteria_ratios, 3),
            ("lottery learning rates", &self.lottery_lrs, 2),
        ] {
            if ratios.len() != count {
                return bad(what, format!("{count} values, not {}", ratios.len()));
            }
        }
        let fractions = self
            .structured_ratios
            .iter()
            .chain(&self.unstructured_ratios)
            .chain(&self.criteria_ratios)
            .chain([
                &self.lottery_fraction,
                &self.early_bird_ratio,
                &self.space_tolerance,
            ]);
        if let Some(r) = fractions.into_iter().find(|r| !(0.0..1.0).contains(*r)) {
            return bad("ratio", format!("{r} is outside [0, 1)"));
        }
        if !(self.pai_density > 0.0 && self.pai_density < 1.0) {
            return bad("density", format!("{} is outside (0, 1)", self.pai_density));
        }
        let in_range = self.space_macs > 0.0
            && self.space_macs < 1.0
            && self.space_band_fraction > 0.0
            && self.space_band_fraction <= 1.0;
        if !in_range {
            return bad(
                "pruning space",
                format!(
                    "MAC fraction {} must be in (0, 1), band fraction {} in (0, 1]",
                    self.space_macs, self.space_band_fraction
                ),
            );
        }
        ResNetCifarConfig::new(self.depth)
            .blocks_per_stage()
            .map_err(|e| AppError::invalid("study depth", e.to_string()))?;
        let n = ResNetCifarConfig::new(self.sss_depth)
            .blocks_per_stage()
            .map_err(|e| AppError::invalid("study sparse-structure depth", e.to_string()))?;
        if n < 2 {
            return bad(
                "sparse-structure depth",
                format!(
                    "ResNet-{} has {n} block per stage; sparse structure selection needs \
                     removable blocks (depth 14 or more)",
                    self.sss_depth
                ),
            );
        }
        if !(self.sss_tolerance.is_finite() && (0.0..1.0).contains(&self.sss_tolerance)) {
            return bad(
                "sparse-structure tolerance",
                format!("{} is outside [0, 1)", self.sss_tolerance),
            );
        }
        if !(self.sss_penalty.is_finite() && self.sss_penalty > 0.0) {
            return bad(
                "sparse-structure penalty",
                format!("γ = {} must be positive", self.sss_penalty),
            );
        }
        Ok(())
    }

    /// The network of every section: a CIFAR-style ResNet of `depth` layers, stage widths
    /// `width`, `2·width`, `4·width`, on `dataset`'s images.
    pub fn network(&self, dataset: DatasetKind) -> ModelSpec {
        let w = self.width;
        ModelSpec::ResNet(
            ResNetCifarConfig::new(self.depth)
                .with_stage_widths(Some(vec![w, 2 * w, 4 * w]))
                .with_in_channels(dataset.shape().channels),
        )
    }

    /// The deeper network of sparse structure selection: the same widths at `sss_depth`.
    pub fn sss_network(&self, dataset: DatasetKind) -> ModelSpec {
        let w = self.width;
        ModelSpec::ResNet(
            ResNetCifarConfig::new(self.sss_depth)
                .with_stage_widths(Some(vec![w, 2 * w, 4 * w]))
                .with_in_channels(dataset.shape().channels),
        )
    }

    /// Dense training: lr 0.1 divided by 10 at 50% and 75% of the epochs, momentum 0.9,
    /// weight decay 1e-4, augmentation.
    pub fn dense(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.dense_epochs,
            batch_size: self.batch_size,
            ..TrainConfig::default()
        }
    }

    /// Fine-tuning: lr 0.01, divided by 10 halfway.
    pub fn finetune(&self, epochs: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: self.batch_size,
            ..TrainConfig::finetune()
        }
    }
}

/// `ratio` as a whole percentage for run names: `0.3` → `30`.
pub fn pct(ratio: f64) -> u32 {
    (100.0 * ratio).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for scale in [StudyScale::Full, StudyScale::Miniature] {
            StudyConfig::preset(scale).check().unwrap();
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        let mut c = StudyConfig::preset(StudyScale::Full);
        c.structured_ratios = vec![0.3];
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .contains("structured ratios")
        );
        let mut c = StudyConfig::preset(StudyScale::Full);
        c.depth = 9;
        assert!(c.check().is_err());
        let mut c = StudyConfig::preset(StudyScale::Full);
        c.sss_depth = 8;
        assert!(c.check().unwrap_err().to_string().contains("removable"));
        let mut c = StudyConfig::preset(StudyScale::Full);
        c.sss_penalty = -0.1;
        assert!(c.check().is_err());
        let mut c = StudyConfig::preset(StudyScale::Full);
        c.criteria_ratios[1] = 1.0;
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .contains("outside [0, 1)")
        );
    }

    #[test]
    fn a_configuration_saved_before_sparse_structure_selection_reads_as_the_preset() {
        let full = StudyConfig::preset(StudyScale::Full);
        let mut json = serde_json::to_value(&full).unwrap();
        let object = json.as_object_mut().unwrap();
        object.remove("sss_depth");
        object.remove("sss_penalty");
        object.remove("sss_tolerance");
        let old: StudyConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old, full);
    }

    #[test]
    fn percentages_round() {
        assert_eq!((pct(0.3), pct(0.6), pct(0.25)), (30, 60, 25));
    }
}

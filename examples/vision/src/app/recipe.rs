//! Recipes: a published pipeline as a TOML file (model, dense training, pruning step,
//! fine-tuning, or pruning at initialization, or a lottery ticket), with the paper's reported
//! numbers alongside for comparison. `prune-vision run RECIPE` executes one; `prune --recipe`
//! uses its `[prune]` table.

use super::commands::PaiMethod;
use super::error::{AppError, Result};
use super::network::{Arch, ModelSpec};
use super::spec::PruneSpec;
use super::train::TrainConfig;
use crate::DatasetKind;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One recipe file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Short name; runs are named after it.
    pub name: String,
    /// What the pipeline does.
    pub summary: String,
    /// The publication and what it reports.
    pub paper: Paper,
    /// The network.
    pub model: ModelSection,
    /// Dense training (every kind but `pai` starts with it).
    #[serde(default)]
    pub train: Option<TrainConfig>,
    /// Network slimming's L1 penalty on BatchNorm scales during dense training.
    #[serde(default)]
    pub slimming: Option<SlimmingSection>,
    /// Sparse structure selection's L1 penalty on learned block scales during dense training
    /// (ResNets; prune with `method = "sparse-structure"`).
    #[serde(default)]
    pub sparse_structure: Option<SparseStructureSection>,
    /// The pruning step after dense training.
    #[serde(default)]
    pub prune: Option<PruneSpec>,
    /// Training after pruning.
    #[serde(default)]
    pub finetune: Option<TrainConfig>,
    /// Pruning at initialization, then training (`train` is the training after pruning).
    #[serde(default)]
    pub pai: Option<PaiSection>,
    /// Iterative magnitude pruning with rewinding (`train` is each round's training).
    #[serde(default)]
    pub lottery: Option<LotterySection>,
}

/// The paper and its reported numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paper {
    /// Authors, title, venue.
    pub citation: String,
    /// Where the numbers come from (table, figure).
    pub source: String,
    /// The reported results.
    #[serde(default)]
    pub results: Vec<Reported>,
    /// Caveats for comparing with this implementation.
    #[serde(default)]
    pub notes: String,
}

/// One reported result.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reported {
    /// The model or setting.
    pub model: String,
    /// Test accuracy, %.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// Parameters.
    #[serde(default)]
    pub params: Option<f64>,
    /// Parameters removed, % of the dense network's.
    #[serde(default)]
    pub params_pruned_percent: Option<f64>,
    /// FLOPs (MACs) removed, % of the dense network's.
    #[serde(default)]
    pub flops_pruned_percent: Option<f64>,
}

/// The network of a recipe.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// The architecture.
    pub arch: Arch,
    /// Projection (option-B) shortcuts on the ResNets instead of zero padding.
    #[serde(default)]
    pub projection_shortcuts: bool,
}

impl ModelSection {
    /// The model configuration for `dataset`'s images.
    pub fn spec(&self, dataset: DatasetKind) -> Result<ModelSpec> {
        let spec = self.arch.spec(dataset)?;
        Ok(if self.projection_shortcuts {
            spec.with_projection_shortcuts()
        } else {
            spec
        })
    }
}

/// Network slimming's sparsity training.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlimmingSection {
    /// λ of `λ·Σ|γ|`.
    pub penalty: f64,
}

/// Sparse structure selection's sparsity training.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseStructureSection {
    /// γ of `γ·Σ|λ|` over the block scales.
    pub penalty: f64,
}

/// Pruning at initialization.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaiSection {
    /// The method.
    pub method: PaiMethod,
    /// Fraction of the weights removed (PreCrop: of the parameters).
    pub sparsity: f64,
}

/// Lottery-ticket settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotterySection {
    /// Pruning rounds after the dense one.
    pub rounds: u32,
    /// Fraction of the remaining weights removed per round.
    #[serde(default = "default_fraction")]
    pub fraction: f64,
    /// Epoch the surviving weights are rewound to (0: the initialisation).
    #[serde(default)]
    pub rewind_epoch: usize,
}

fn default_fraction() -> f64 {
    0.2
}

impl Recipe {
    /// Read and check a recipe. Errors name the file and the problem (TOML syntax with line
    /// and column, unknown keys, a missing or contradictory section).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(AppError::io(path))?;
        Self::parse(&text, path)
    }

    /// Parse and check the text of a recipe read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| AppError::Recipe {
            path: path.into(),
            reason: e.to_string(),
        })?;
        recipe.check().map_err(|reason| AppError::Recipe {
            path: path.into(),
            reason,
        })?;
        Ok(recipe)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let kinds = [
            self.prune.is_some(),
            self.pai.is_some(),
            self.lottery.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err("exactly one of [prune], [pai] and [lottery] must be given".into());
        }
        if self.prune.is_some() && self.train.is_none() {
            return Err("[prune] needs a [train] table for the dense network".into());
        }
        if let Some(p) = &self.prune {
            p.check().map_err(|e| format!("[prune]: {e}"))?;
        }
        // Training settings (batch and epoch limits included) checked now, not at training.
        for (table, config) in [("[train]", &self.train), ("[finetune]", &self.finetune)] {
            if let Some(c) = config {
                c.check().map_err(|e| format!("{table}: {e}"))?;
            }
        }
        if self.slimming.is_some() && self.sparse_structure.is_some() {
            return Err("[slimming] and [sparse_structure] are two penalties: give one".into());
        }
        let removes_blocks = self
            .prune
            .as_ref()
            .is_some_and(|p| p.method == super::spec::Method::SparseStructure);
        if removes_blocks != self.sparse_structure.is_some() {
            return Err(
                "[sparse_structure] (the penalty during dense training) and [prune] method = \
                 \"sparse-structure\" (the block removal) go together"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"
name = "sss"
summary = "s"
[paper]
citation = "Huang & Wang 2018"
source = "Table 2"
[model]
arch = "resnet20"
[train]
epochs = 2
"#;

    fn parse(tail: &str) -> std::result::Result<Recipe, String> {
        Recipe::parse(&format!("{HEAD}{tail}"), Path::new("sss.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn absurd_training_settings_are_errors_when_the_recipe_is_read() {
        let base = "[sparse_structure]\npenalty = 0.1\n[prune]\nmethod = \"sparse-structure\"\n";
        // The head ends inside [train]: a first line goes there.
        for (tail, table, expected) in [
            (
                format!("batch_size = 1000000000\n{base}"),
                "[train]",
                "batch size",
            ),
            (
                format!("{base}[finetune]\nepochs = 100000000\n"),
                "[finetune]",
                "epochs",
            ),
            (
                format!("{base}[finetune]\nbatch_size = 0\n"),
                "[finetune]",
                "batch size",
            ),
        ] {
            let e = parse(&tail).unwrap_err();
            assert!(
                e.contains("sss.toml") && e.contains(table) && e.contains(expected),
                "{e}"
            );
        }
    }

    #[test]
    fn sparse_structure_recipes_pair_the_penalty_with_the_removal() {
        let ok = parse(
            "[sparse_structure]\npenalty = 0.1\n[prune]\nmethod = \"sparse-structure\"\nblock_tolerance = 0.01\n",
        )
        .unwrap();
        assert_eq!(ok.sparse_structure.unwrap().penalty, 0.1);
        assert_eq!(ok.prune.unwrap().block_tolerance, 0.01);
        let e = parse("[prune]\nmethod = \"sparse-structure\"\n").unwrap_err();
        assert!(e.contains("sss.toml") && e.contains("go together"), "{e}");
        let e = parse("[sparse_structure]\npenalty = 0.1\n[prune]\nmethod = \"slimming\"\n")
            .unwrap_err();
        assert!(e.contains("go together"), "{e}");
        let e = parse(
            "[slimming]\npenalty = 1e-4\n[sparse_structure]\npenalty = 0.1\n[prune]\nmethod = \"sparse-structure\"\n",
        )
        .unwrap_err();
        assert!(e.contains("two penalties"), "{e}");
    }

    /// The shipped recipes' texts.
    fn shipped() -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
        let mut texts: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        texts.sort();
        texts
    }

    use proptest::prelude::*;

    proptest! {
        // 256 cases (proptest's default); `PROPTEST_CASES=10000` for the long run.
        #![proptest_config(ProptestConfig::default())]

        /// A shipped recipe with bytes cut, changed or inserted, or any text: a recipe whose
        /// model spec is a value or a typed error, or an error naming the file; never a
        /// panic.
        #[test]
        fn fuzz_recipes(
            which in 0usize..8,
            edits in prop::collection::vec((any::<usize>(), 0u8..3, any::<u8>()), 1..6),
            raw in ".{0,200}",
        ) {
            let texts = shipped();
            let mut bytes = texts[which % texts.len()].clone().into_bytes();
            for (at, kind, b) in edits {
                let i = at % (bytes.len() + 1);
                match kind {
                    0 => bytes.truncate(i),
                    1 if i < bytes.len() => bytes[i] = b,
                    _ => bytes.insert(i, b),
                }
            }
            let mutated = String::from_utf8_lossy(&bytes).into_owned();
            for text in [mutated, raw] {
                match Recipe::parse(&text, Path::new("fuzz.toml")) {
                    Ok(recipe) => {
                        for dataset in [DatasetKind::Cifar10, DatasetKind::FashionMnist] {
                            let _ = recipe.model.spec(dataset);
                        }
                    }
                    Err(e) => {
                        let shown = e.to_string();
                        prop_assert!(shown.contains("fuzz.toml"), "{shown}");
                    }
                }
            }
        }
    }
}

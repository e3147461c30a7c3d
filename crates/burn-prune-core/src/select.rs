//! Choosing which parameters to prune.

use crate::address::{LayerKind, ParamAddress};
use crate::error::{PruneError, Result};
use crate::pattern::PathPattern;

/// Which parameters of a model a pruner works on.
///
/// The default selects the weights of convolution and linear layers (rank ≥ 2); biases,
/// normalisation parameters, embeddings and running statistics stay out unless asked for.
/// `include` patterns replace that default with the parameters they match; `kinds` restricts
/// to layer kinds; `exclude` patterns remove parameters last. Running statistics are never
/// selected. A pattern that matches no parameter of the model is an error
/// ([`PruneError::PatternMatchesNothing`]), so a typo cannot silently prune nothing.
///
/// ```
/// use burn_prune_core::{ParamSelector, LayerKind};
///
/// let selector = ParamSelector::default()
///     .include("**.weight")          // every weight, norms included ...
///     .kinds([LayerKind::Conv])      // ... of convolutions only
///     .exclude("stem.**");           // but not the stem
/// # let _ = selector;
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParamSelector {
    include: Vec<String>,
    exclude: Vec<String>,
    kinds: Option<Vec<LayerKind>>,
}

impl ParamSelector {
    /// The default selection: conv and linear weights.
    pub fn new() -> Self {
        Self::default()
    }

    /// Select parameters whose path matches `pattern` (see [`PathPattern`]).
    pub fn include(mut self, pattern: impl Into<String>) -> Self {
        self.include.push(pattern.into());
        self
    }

    /// Remove parameters whose path matches `pattern`.
    pub fn exclude(mut self, pattern: impl Into<String>) -> Self {
        self.exclude.push(pattern.into());
        self
    }

    /// Keep only parameters of these layer kinds.
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = LayerKind>) -> Self {
        self.kinds = Some(kinds.into_iter().collect());
        self
    }

    /// Select exactly these paths (each must exist; Burn paths hold no wildcard characters).
    pub fn paths<S: Into<String>>(paths: impl IntoIterator<Item = S>) -> Self {
        let mut s = Self::default();
        for p in paths {
            s.include.push(p.into());
        }
        s
    }

    /// Check that every pattern is well formed (what [`select`](Self::select) would report
    /// first), without a model.
    pub fn validate(&self) -> Result<()> {
        compile(&self.include)?;
        compile(&self.exclude)?;
        Ok(())
    }

    /// Apply the selection to a model's parameter list, keeping the model's order. A
    /// parameter without elements (a layer of width zero) is never selected: it has nothing to
    /// prune, and Burn cannot reshape it.
    pub fn select<'a>(&self, params: &'a [ParamAddress]) -> Result<Vec<&'a ParamAddress>> {
        let include = compile(&self.include)?;
        let exclude = compile(&self.exclude)?;
        for (which, patterns) in [("include", &include), ("exclude", &exclude)] {
            for p in patterns.iter() {
                if !params.iter().any(|a| p.matches(&a.path)) {
                    return Err(PruneError::PatternMatchesNothing {
                        which,
                        pattern: p.as_str().to_string(),
                    });
                }
            }
        }
        let selected: Vec<&ParamAddress> = params
            .iter()
            .filter(|a| !a.running_stat)
            .filter(|a| a.shape.iter().all(|&d| d > 0))
            .filter(|a| {
                if include.is_empty() {
                    a.is_default_prunable()
                } else {
                    include.iter().any(|p| p.matches(&a.path))
                }
            })
            .filter(|a| self.kinds.as_ref().is_none_or(|k| k.contains(&a.kind)))
            .filter(|a| !exclude.iter().any(|p| p.matches(&a.path)))
            .collect();
        Ok(selected)
    }
}

fn compile(patterns: &[String]) -> Result<Vec<PathPattern>> {
    patterns.iter().map(|p| PathPattern::new(p)).collect()
}

//! Scores computed outside the pruner (by SynFlow, GraSP, ...), used as a criterion.

use burn_prune_core::{Criterion, PruneError, ScoreContext, Scores};
use std::collections::BTreeMap;

/// One score per element of each listed parameter, computed elsewhere, as a [`Criterion`]:
/// the pruner ranks them like any other criterion (**low scores are pruned first**), at any
/// granularity (element scores are reduced to units with the pruner's reduction) and scope.
///
/// A parameter the pruner selects but the map does not hold, or one whose score count differs
/// from its element count, is an error naming the parameter.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{Linear, LinearConfig};
/// use burn_prune_core::PrunerConfig;
/// use burn_prune_pai::ElementScores;
///
/// #[derive(Module, Debug)]
/// struct Net { fc: Linear }
///
/// let net = Net { fc: LinearConfig::new(2, 2).with_bias(false).init(&Device::flex()) };
/// let mut scores = ElementScores::new("hand-made");
/// scores.insert("fc.weight", vec![0.4, 0.1, 0.3, 0.2]);
/// let masks = PrunerConfig::new(0.5).init(scores).unwrap().masks(&net).unwrap();
/// assert_eq!(masks.get("fc.weight").unwrap().keep.to_bools(), vec![true, false, true, false]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ElementScores {
    name: String,
    scores: BTreeMap<String, Vec<f32>>,
}

impl ElementScores {
    /// An empty map; `name` names the criterion in errors and reports.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            scores: BTreeMap::new(),
        }
    }

    /// Set the scores of the parameter at `path` (row-major, one per element).
    pub fn insert(&mut self, path: impl Into<String>, scores: Vec<f32>) {
        self.scores.insert(path.into(), scores);
    }

    /// The scores of `path`.
    pub fn get(&self, path: &str) -> Option<&[f32]> {
        self.scores.get(path).map(Vec::as_slice)
    }

    /// Every parameter with its scores, by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.scores.iter().map(|(p, s)| (p.as_str(), s.as_slice()))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether no parameter has scores.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

impl Criterion for ElementScores {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> burn_prune_core::Result<Scores> {
        let path = &ctx.param.path;
        let scores = self.scores.get(path).ok_or_else(|| PruneError::Data {
            path: path.clone(),
            reason: format!("the {} scores do not cover this parameter", self.name),
        })?;
        if scores.len() != ctx.weight.len() {
            return Err(PruneError::Data {
                path: path.clone(),
                reason: format!(
                    "{} {} scores for {} elements",
                    scores.len(),
                    self.name,
                    ctx.weight.len()
                ),
            });
        }
        Ok(Scores::Elements(scores.clone()))
    }
}

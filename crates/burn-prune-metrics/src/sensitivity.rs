//! Sensitivity analysis (Li et al. 2017): prune one layer at a time at several ratios,
//! evaluate, and turn the curves into per-layer targets for a global budget.

use crate::error::{self, MetricsError};
use crate::plot::{Series, line_plot};
use burn::config::Config;
use burn::module::Module;
use burn_prune_core::{
    Criterion, Granularity, OutputLayers, ParamSelector, PrunerConfig, Scope, param_addresses,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Whether a larger metric is better (accuracy) or worse (loss, error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricDirection {
    /// Larger is better (accuracy).
    HigherIsBetter,
    /// Smaller is better (loss, error rate).
    LowerIsBetter,
}

/// What to prune and at which ratios.
#[derive(Config, Debug)]
pub struct SensitivityConfig {
    /// Pruning ratios to try for every layer, each in `(0, 1)`.
    pub ratios: Vec<f64>,
    /// How weights group into units (filters by default, as in Li et al.).
    #[config(default = "Granularity::Filter")]
    pub granularity: Granularity,
    /// Which parameters are analysed (conv and linear weights by default).
    #[config(default = "ParamSelector::default()")]
    pub selector: ParamSelector,
    /// Direction of the evaluated metric.
    #[config(default = "MetricDirection::HigherIsBetter")]
    pub direction: MetricDirection,
    /// The layers whose filters are the model's outputs, kept by filter pruning (the core
    /// pruner's [`PrunerConfig::output_layers`]): by default the last conv or linear layer,
    /// whose curve is then flat. [`OutputLayers::None`] analyses its outputs too.
    #[config(default = "OutputLayers::Last")]
    pub output_layers: OutputLayers,
}

/// One layer's curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSensitivity {
    /// The parameter path.
    pub path: String,
    /// Its elements (the weight of its ratio in a global budget).
    pub numel: usize,
    /// The metric with this parameter alone pruned at each ratio of the table.
    pub metric: Vec<f64>,
}

/// The result of a sensitivity analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensitivityTable {
    /// The ratios, ascending.
    pub ratios: Vec<f64>,
    /// The metric of the unpruned model.
    pub baseline: f64,
    /// Direction of the metric.
    pub direction: MetricDirection,
    /// One curve per analysed parameter, in model order.
    pub layers: Vec<LayerSensitivity>,
}

impl SensitivityConfig {
    /// For every selected parameter and every ratio, prune that parameter alone (masks,
    /// local scope, `criterion`) on a copy of `model` and `evaluate` it. `evaluate` runs
    /// `1 + layers × ratios` times; the model passed in is not changed.
    pub fn analyze<M, C, F>(
        &self,
        model: &M,
        criterion: C,
        mut evaluate: F,
    ) -> error::Result<SensitivityTable>
    where
        M: Module + Clone,
        C: Criterion + Clone + 'static,
        F: FnMut(&M) -> f64,
    {
        if self.ratios.is_empty() {
            return Err(MetricsError::invalid("sensitivity ratios", "no ratios"));
        }
        if let Some(r) = self.ratios.iter().find(|r| !(**r > 0.0 && **r < 1.0)) {
            return Err(MetricsError::invalid(
                "sensitivity ratios",
                format!("{r} is outside (0, 1)"),
            ));
        }
        let mut ratios = self.ratios.clone();
        ratios.sort_by(f64::total_cmp);
        ratios.dedup();
        let addresses = param_addresses(model);
        let selected = self.selector.select(&addresses)?;
        if selected.is_empty() {
            return Err(MetricsError::invalid(
                "sensitivity selector",
                "selects no parameter",
            ));
        }
        let baseline = finite(evaluate(model), "the unpruned model")?;
        let mut layers = Vec::with_capacity(selected.len());
        for p in selected {
            let mut metric = Vec::with_capacity(ratios.len());
            for &r in &ratios {
                let (pruned, _) = PrunerConfig::new(r)
                    .with_granularity(self.granularity)
                    .with_scope(Scope::Local)
                    .with_selector(ParamSelector::paths([p.path.clone()]))
                    .with_output_layers(self.output_layers.clone())
                    .init(criterion.clone())?
                    .prune(model.clone())?;
                metric.push(finite(evaluate(&pruned), &format!("`{}` at {r}", p.path))?);
            }
            layers.push(LayerSensitivity {
                path: p.path.clone(),
                numel: p.numel(),
                metric,
            });
        }
        Ok(SensitivityTable {
            ratios,
            baseline,
            direction: self.direction,
            layers,
        })
    }
}

fn finite(v: f64, what: &str) -> error::Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(MetricsError::invalid(
            "evaluated metric",
            format!("{v} for {what}"),
        ))
    }
}

impl SensitivityTable {
    /// How much worse than the baseline a metric is (positive = worse).
    pub fn drop(&self, metric: f64) -> f64 {
        match self.direction {
            MetricDirection::HigherIsBetter => self.baseline - metric,
            MetricDirection::LowerIsBetter => metric - self.baseline,
        }
    }

    /// Per layer, the largest ratio up to which every measured drop is at most `tolerance`
    /// (0 if the smallest ratio already hurts more): Li et al.'s per-layer choice.
    pub fn max_ratios(&self, tolerance: f64) -> BTreeMap<String, f64> {
        self.layers
            .iter()
            .map(|l| {
                let ok = l
                    .metric
                    .iter()
                    .take_while(|&&m| self.drop(m) <= tolerance)
                    .count();
                let ratio = if ok == 0 { 0.0 } else { self.ratios[ok - 1] };
                (l.path.clone(), ratio)
            })
            .collect()
    }

    /// Fraction of the analysed elements removed by a per-layer ratio map.
    pub fn sparsity_of(&self, ratios: &BTreeMap<String, f64>) -> f64 {
        let total: usize = self.layers.iter().map(|l| l.numel).sum();
        let removed: f64 = self
            .layers
            .iter()
            .map(|l| l.numel as f64 * ratios.get(&l.path).copied().unwrap_or(0.0))
            .sum();
        removed / total as f64
    }

    /// Per-layer densities for a global budget: the smallest tolerance whose
    /// [`max_ratios`](Self::max_ratios) remove at least `sparsity` of the analysed elements
    /// (the least sensitive layers are pruned furthest). The result feeds
    /// [`Scope::Densities`]; the achieved sparsity ([`sparsity_of`](Self::sparsity_of)) may
    /// exceed the budget by one ratio step of one layer. A budget no tolerance reaches is an
    /// error giving the largest reachable sparsity.
    pub fn densities_for_budget(&self, sparsity: f64) -> error::Result<BTreeMap<String, f64>> {
        if !(0.0..1.0).contains(&sparsity) {
            return Err(MetricsError::invalid(
                "budget",
                format!("sparsity {sparsity} is outside [0, 1)"),
            ));
        }
        let mut tolerances: Vec<f64> = self
            .layers
            .iter()
            .flat_map(|l| l.metric.iter().map(|&m| self.drop(m)))
            .collect();
        tolerances.push(f64::NEG_INFINITY);
        tolerances.sort_by(f64::total_cmp);
        for t in tolerances {
            let ratios = self.max_ratios(t);
            if self.sparsity_of(&ratios) >= sparsity {
                return Ok(ratios.into_iter().map(|(p, r)| (p, 1.0 - r)).collect());
            }
        }
        let most = self.sparsity_of(&self.max_ratios(f64::INFINITY));
        Err(MetricsError::invalid(
            "budget",
            format!(
                "sparsity {sparsity} is beyond the largest analysed ratios ({most:.4} of the analysed elements)"
            ),
        ))
    }

    /// The curves as CSV: `path,numel,<ratio>...` then one line per layer.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("path,numel");
        for r in &self.ratios {
            out.push_str(&format!(",{r}"));
        }
        out.push('\n');
        for l in &self.layers {
            out.push_str(&format!("{},{}", l.path, l.numel));
            for m in &l.metric {
                out.push_str(&format!(",{m}"));
            }
            out.push('\n');
        }
        out
    }

    /// Plot metric against ratio, one curve per layer (the baseline at ratio 0), as SVG or
    /// PNG by the file extension.
    pub fn plot(&self, path: impl AsRef<Path>, metric_label: &str) -> error::Result<()> {
        let series: Vec<Series> = self
            .layers
            .iter()
            .map(|l| {
                let points = std::iter::once((0.0, self.baseline))
                    .chain(self.ratios.iter().copied().zip(l.metric.iter().copied()))
                    .collect();
                Series::new(l.path.clone(), points)
            })
            .collect();
        line_plot(
            path,
            "Sensitivity to pruning each layer",
            "pruning ratio",
            metric_label,
            &series,
        )
    }
}

impl fmt::Display for SensitivityTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .layers
            .iter()
            .map(|l| l.path.len())
            .max()
            .unwrap_or(5)
            .max(5);
        write!(f, "{:<w$}", "layer")?;
        for r in &self.ratios {
            write!(f, "  {:>8}", format!("{:.0}%", 100.0 * r))?;
        }
        writeln!(f, "   (baseline {:.4})", self.baseline)?;
        for l in &self.layers {
            write!(f, "{:<w$}", l.path)?;
            for m in &l.metric {
                write!(f, "  {m:>8.4}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

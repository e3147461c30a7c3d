//! Sparsity reports: per parameter and total.

use crate::address::param_addresses;
use crate::error::Result;
use crate::granularity::Granularity;
use crate::host::read_params;
use crate::mask::MaskSet;
use burn::module::Module;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// Sparsity of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSparsity {
    /// Parameter path.
    pub path: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Granularity of its mask.
    pub granularity: Granularity,
    /// Units at that granularity.
    pub units: usize,
    /// Units entirely pruned.
    pub units_pruned: usize,
    /// Elements.
    pub elements: usize,
    /// Elements masked out.
    pub masked: usize,
    /// Elements that are zero in the effective weight (masked or not).
    pub zeros: usize,
}

impl ParamSparsity {
    /// Fraction of non-zero elements.
    pub fn density(&self) -> f64 {
        if self.elements == 0 {
            1.0
        } else {
            1.0 - self.zeros as f64 / self.elements as f64
        }
    }
}

/// Sparsity per parameter and in total.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparsityReport {
    /// One row per masked parameter, in model order.
    pub params: Vec<ParamSparsity>,
}

impl SparsityReport {
    /// Report a mask set on its own: zero elements are the masked ones.
    pub fn from_masks(masks: &MaskSet) -> Self {
        Self {
            params: masks
                .iter()
                .map(|m| {
                    let (units, units_pruned) = m.unit_counts();
                    ParamSparsity {
                        path: m.path.clone(),
                        shape: m.shape.clone(),
                        granularity: m.granularity,
                        units,
                        units_pruned,
                        elements: m.numel(),
                        masked: m.pruned(),
                        zeros: m.pruned(),
                    }
                })
                .collect(),
        }
    }

    /// Report the parameters of `masks` as they are in `model`: zeros are counted in the
    /// effective weights (base value with any installed mask applied).
    pub fn of_model<M: Module>(model: &M, masks: &MaskSet) -> Result<Self> {
        masks.validate(&param_addresses(model))?;
        let paths: HashSet<String> = masks.iter().map(|m| m.path.clone()).collect();
        let mut host = read_params(model, &paths)?;
        let mut report = Self::from_masks(masks);
        for row in &mut report.params {
            if let Some(h) = host.remove(&row.path) {
                row.zeros = h.effective().iter().filter(|&&w| w == 0.0).count();
            }
        }
        Ok(report)
    }

    /// Total elements.
    pub fn elements(&self) -> usize {
        self.params.iter().map(|p| p.elements).sum()
    }

    /// Total zero elements.
    pub fn zeros(&self) -> usize {
        self.params.iter().map(|p| p.zeros).sum()
    }

    /// Total masked elements.
    pub fn masked(&self) -> usize {
        self.params.iter().map(|p| p.masked).sum()
    }

    /// Fraction of zero elements over all parameters.
    pub fn sparsity(&self) -> f64 {
        let n = self.elements();
        if n == 0 {
            0.0
        } else {
            self.zeros() as f64 / n as f64
        }
    }

    /// Fraction of non-zero elements over all parameters.
    pub fn density(&self) -> f64 {
        1.0 - self.sparsity()
    }
}

impl fmt::Display for SparsityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .params
            .iter()
            .map(|p| p.path.len())
            .max()
            .unwrap_or(0)
            .max(9);
        writeln!(
            f,
            "{:<w$}  {:<16}  {:<11}  {:>15}  {:>11}  {:>11}  {:>8}",
            "parameter", "shape", "granularity", "units pruned", "elements", "zeros", "density"
        )?;
        writeln!(f, "{}", "-".repeat(w + 84))?;
        for p in &self.params {
            writeln!(
                f,
                "{:<w$}  {:<16}  {:<11}  {:>15}  {:>11}  {:>11}  {:>7.2}%",
                p.path,
                format!("{:?}", p.shape),
                p.granularity.to_string(),
                format!("{}/{}", p.units_pruned, p.units),
                p.elements,
                p.zeros,
                100.0 * p.density()
            )?;
        }
        writeln!(f, "{}", "-".repeat(w + 84))?;
        write!(
            f,
            "{:<w$}  {:<16}  {:<11}  {:>15}  {:>11}  {:>11}  {:>7.2}%",
            "total",
            "",
            "",
            "",
            self.elements(),
            self.zeros(),
            100.0 * self.density()
        )
    }
}

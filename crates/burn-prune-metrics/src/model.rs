//! Everything countable about one model at one input shape, and the sparsity-aware measures.

use crate::count::{Convention, OpCounts};
use crate::error::Result;
use crate::params::ParamStats;
use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters and op counts of one model at one input shape.
///
/// `ops` counts the graph as traced (every weight working); `effective` drops the MACs of
/// zero weights, so for a masked model its MACs are the "MACs of unmasked weights". For a
/// dense or compacted model the two agree (up to weights that happen to be exactly zero).
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::prelude::*;
/// use burn_prune_metrics::{Convention, ModelMetrics};
///
/// let layer: Linear = LinearConfig::new(4, 2).with_bias(false).init(&Device::flex());
/// let layer = Linear { weight: layer.weight.map(|w| w.mask_fill(
///     Tensor::<2, Bool>::from_data([[true, false], [true, false], [false, false], [true, true]], &Device::flex()), 0.0)), ..layer };
/// let m = ModelMetrics::of_model(&layer, [1, 4], |l, x| l.forward(x)).unwrap();
/// assert_eq!(m.params.total(), 8);
/// assert_eq!(m.params.nonzero(), 4);
/// assert_eq!(m.compression_ratio(), 2.0);
/// assert_eq!(m.macs(Convention::Papers), 8);
/// assert_eq!(m.effective_macs(Convention::Papers), 4);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    /// Parameter counts.
    pub params: ParamStats,
    /// Ops of the traced graph.
    pub ops: OpCounts,
    /// Ops with zero weights doing no work.
    pub effective: OpCounts,
}

impl ModelMetrics {
    /// Count `model`'s parameters (reading their values for non-zeros) and trace it on an input
    /// of `input_shape` to count its ops.
    pub fn of_model<M, F, const D: usize, const O: usize>(
        model: &M,
        input_shape: [usize; D],
        forward: F,
    ) -> Result<Self>
    where
        M: Module,
        F: FnOnce(&M, Tensor<D>) -> Tensor<O>,
    {
        let params = ParamStats::of_model(model)?;
        let ops = OpCounts::of_model(model, input_shape, forward)?;
        Ok(Self::new(params, ops))
    }

    /// Combine counts made separately.
    pub fn new(params: ParamStats, ops: OpCounts) -> Self {
        let effective = ops.with_nonzero_weights(&params.nonzero_by_path());
        Self {
            params,
            ops,
            effective,
        }
    }

    /// MACs of the graph in `convention`.
    pub fn macs(&self, convention: Convention) -> u64 {
        self.ops.macs(convention)
    }

    /// FLOPs of the graph in `convention`.
    pub fn flops(&self, convention: Convention) -> u64 {
        self.ops.flops(convention)
    }

    /// MACs of the non-zero weights in `convention`.
    pub fn effective_macs(&self, convention: Convention) -> u64 {
        self.effective.macs(convention)
    }

    /// FLOPs with zero weights skipped in `convention`.
    pub fn effective_flops(&self, convention: Convention) -> u64 {
        self.effective.flops(convention)
    }

    /// Total / non-zero parameters.
    pub fn compression_ratio(&self) -> f64 {
        self.params.compression_ratio()
    }

    /// MACs of this graph / MACs of its non-zero weights: what skipping zero weights could
    /// gain on this model (1 for a dense model).
    pub fn sparse_speedup(&self, convention: Convention) -> f64 {
        ratio(self.macs(convention), self.effective_macs(convention))
    }
}

/// Theoretical speedup of `pruned` over `dense`: dense MACs / MACs of `pruned`'s non-zero
/// weights. Works for a masked model (same graph, fewer working weights) and for a compacted
/// one (a smaller graph), and for both at once.
pub fn theoretical_speedup(
    dense: &ModelMetrics,
    pruned: &ModelMetrics,
    convention: Convention,
) -> f64 {
    ratio(dense.macs(convention), pruned.effective_macs(convention))
}

/// Fraction of MACs removed: `1 − pruned / dense`, with `pruned` counted on its non-zero
/// weights (Li et al.'s "FLOP reduction").
pub fn macs_reduction(dense: &ModelMetrics, pruned: &ModelMetrics, convention: Convention) -> f64 {
    1.0 - pruned.effective_macs(convention) as f64 / dense.macs(convention) as f64
}

/// Fraction of parameters removed: `1 − pruned unmasked / dense total` (a compacted model has
/// no masks, so this compares its total).
pub fn params_reduction(dense: &ModelMetrics, pruned: &ModelMetrics) -> f64 {
    1.0 - pruned.params.unmasked() as f64 / dense.params.total() as f64
}

fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

//! Granularities: how the elements of a weight group into prunable units.
//!
//! Every parameter is read through a [`Layout`]: which axis holds its outputs and which its
//! inputs. Burn stores a convolution weight as `[out, in/groups, k...]` (outputs on axis 0) but
//! a linear weight as `[d_input, d_output]` (outputs on axis 1), so a linear *filter* — all the
//! weights feeding one output — is a **column**.
//!
//! | granularity | one unit is | units of a conv `[4, 3, 3, 3]` | units of a linear `[3, 4]` |
//! |---|---|---|---|
//! | [`Element`](Granularity::Element) | one weight | 108 | 12 |
//! | [`Kernel`](Granularity::Kernel) | the `k×k` slice of one (out, in) pair | 12 | 12 (a 1×1 kernel) |
//! | [`Filter`](Granularity::Filter) | one output: every weight feeding it | 4 | 4 (columns) |
//! | [`Channel`](Granularity::Channel) | one input, across all outputs | 3 | 3 (rows) |
//! | [`NM`](Granularity::NM) `{n: 2, m: 4}` | weights of a group of 4 along the input axis; 2 kept | (input 3 is not divisible by 4: error) | groups of 4 rows |
//! | [`Block`](Granularity::Block) `{out: 2, input: 3}` | a 2-output × 3-input tile (kernels included) | 2 | 2 |
//!
//! Worked example, a linear weight `W` of shape `[2, 3]` (2 inputs, 3 outputs):
//!
//! ```text
//!          out0  out1  out2
//! in0  [   1.0, -4.0,  0.5 ]
//! in1  [  -2.0,  1.0,  0.5 ]
//! ```
//!
//! Filter L1 scores are the column sums of `|W|`: `[3.0, 5.0, 1.0]`; pruning one filter
//! removes column `out2`. Channel L1 scores are the row sums: `[5.5, 3.5]`.
//! That example runs as a doctest on [`UnitMap`].

mod layout;
mod units;

pub use layout::Layout;
pub use units::UnitMap;

use serde::{Deserialize, Serialize};

/// How the elements of a parameter group into prunable units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Granularity {
    /// Each weight on its own (unstructured pruning).
    #[default]
    #[doc(alias = "weight")]
    #[doc(alias = "unstructured")]
    Element,
    /// One kernel: the spatial slice of one (output, input) pair. For a rank-2 weight, one
    /// element (a 1×1 kernel).
    Kernel,
    /// One output channel (a conv filter, a linear column): every weight feeding that output.
    Filter,
    /// One input channel across all outputs.
    Channel,
    /// N:M semi-structured sparsity: in every group of `m` consecutive weights along the input
    /// axis, `n` are kept and `m - n` pruned. The sparsity is fixed at `(m - n) / m`.
    NM {
        /// Weights kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
    /// Tiles of `out` outputs × `input` inputs (all kernel positions included). The output and
    /// input sizes must be divisible by the block sizes.
    Block {
        /// Outputs per block.
        out: usize,
        /// Inputs per block.
        input: usize,
    },
}

impl Granularity {
    /// Whether units are whole structures (kernel, filter, channel, block) rather than
    /// individual weights.
    pub fn is_structured(&self) -> bool {
        !matches!(self, Self::Element | Self::NM { .. })
    }

    /// Check the granularity's own parameters (N:M needs `0 < n < m`, blocks need sizes ≥ 1).
    pub fn validate(&self) -> crate::Result<()> {
        match *self {
            Self::NM { n, m } if n == 0 || n >= m => Err(crate::PruneError::InvalidNm { n, m }),
            Self::Block { out, input } if out == 0 || input == 0 => Err(crate::PruneError::Config(
                format!("block sizes must be at least 1, got {out}×{input}"),
            )),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Granularity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Element => f.write_str("element"),
            Self::Kernel => f.write_str("kernel"),
            Self::Filter => f.write_str("filter"),
            Self::Channel => f.write_str("channel"),
            Self::NM { n, m } => write!(f, "{n}:{m}"),
            Self::Block { out, input } => write!(f, "block {out}×{input}"),
        }
    }
}

/// How element scores combine into one score per unit.
///
/// `L1` and `L2` follow Torch-Pruning's `p`: the sum of `|v|^p`, with no root taken (`L2` is
/// the sum of squares). The Euclidean norm (the square root of that sum) is
/// [`Euclidean`](Self::Euclidean); within one parameter both rank units alike, across the
/// members of a dependency group they do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Reduction {
    /// Sum of absolute values (`p = 1`).
    #[default]
    L1,
    /// Sum of squares (`p = 2`), without the square root.
    L2,
    /// Square root of the sum of squares (the Euclidean norm).
    Euclidean,
    /// Arithmetic mean.
    Mean,
    /// Maximum.
    Max,
}

impl std::fmt::Display for Reduction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::L1 => "L1",
            Self::L2 => "L2",
            Self::Euclidean => "Euclidean",
            Self::Mean => "mean",
            Self::Max => "max",
        })
    }
}

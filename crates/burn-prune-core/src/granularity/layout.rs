//! Which axis of a parameter holds its outputs and which its inputs.

use crate::address::{LayerKind, ParamAddress};
use serde::{Deserialize, Serialize};

/// The output and input axes of a parameter; every other axis is a kernel (spatial) axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Layout {
    /// Axis indexing outputs (filters).
    pub out_axis: usize,
    /// Axis indexing inputs (channels); `None` for rank-1 parameters.
    pub in_axis: Option<usize>,
}

impl Layout {
    /// Conventional layout for a parameter of Burn's layers:
    ///
    /// - rank 1 (biases, norm scales): outputs on axis 0, no input axis;
    /// - `Conv*`, and any other rank ≥ 3 weight: `[out, in, k...]`;
    /// - `ConvTranspose*`: `[in, out, k...]`;
    /// - `Linear`, `Embedding`, and any other rank-2 weight: `[in, out]` (Burn computes `x @ W`).
    pub fn of(addr: &ParamAddress) -> Self {
        Self::for_kind(&addr.kind, addr.shape.len())
    }

    /// Conventional layout for a layer kind and rank (see [`Layout::of`]).
    pub fn for_kind(kind: &LayerKind, rank: usize) -> Self {
        match rank {
            0 | 1 => Self {
                out_axis: 0,
                in_axis: None,
            },
            2 => match kind {
                LayerKind::Conv => Self::out_in(),
                _ => Self::in_out(),
            },
            _ => match kind {
                LayerKind::ConvTranspose => Self::in_out(),
                _ => Self::out_in(),
            },
        }
    }

    /// Outputs on axis 0, inputs on axis 1.
    pub fn out_in() -> Self {
        Self {
            out_axis: 0,
            in_axis: Some(1),
        }
    }

    /// Inputs on axis 0, outputs on axis 1.
    pub fn in_out() -> Self {
        Self {
            out_axis: 1,
            in_axis: Some(0),
        }
    }
}

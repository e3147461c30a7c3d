//! How many weights of each output a one-shot method removes: a fraction, or an N:M pattern.

use crate::error::{DataError, Result};
use burn_prune_core::Granularity;

/// The sparsity a one-shot method reaches, **per output** (per row of the `rows × d`
/// layer-wise weight matrix: every weight feeding one output).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SparsityTarget {
    /// Remove the fraction `s ∈ [0, 1)` of every output's `d` weights:
    /// `round(s·d)` of them, but never all (at most `d − 1`).
    Unstructured(f64),
    /// N:M semi-structured sparsity: in every group of `m` consecutive inputs of each output,
    /// keep `n` (`0 < n < m`) and remove `m − n` (2:4 is `{ n: 2, m: 4 }`). The number of
    /// inputs must be divisible by `m`.
    NM {
        /// Weights kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
}

impl SparsityTarget {
    /// An error unless the target is well formed: a finite fraction in `[0, 1)`, or
    /// `0 < n < m`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Unstructured(s) if !(0.0..1.0).contains(&s) => Err(DataError::invalid(
                "one-shot sparsity",
                format!("{s} is outside [0, 1)"),
            )),
            Self::NM { m: 0, n } => Err(DataError::invalid(
                "N:M pattern",
                format!("{n}:0 has groups of 0 weights (m must be at least 1)"),
            )),
            Self::NM { n, m } if n == 0 || n >= m => Err(DataError::invalid(
                "N:M pattern",
                format!("{n}:{m} must keep 0 < n < m weights of each group"),
            )),
            _ => Ok(()),
        }
    }

    /// [`validate`](Self::validate), and for N:M that `d` inputs split into whole groups;
    /// `what` names the weights in the error.
    pub fn check_inputs(&self, d: usize, what: &str) -> Result<()> {
        self.validate()?;
        match *self {
            Self::NM { n, m } if !d.is_multiple_of(m) => Err(DataError::shape(
                format!("{what}: inputs for {n}:{m} sparsity"),
                format!("a multiple of {m}"),
                d,
            )),
            _ => Ok(()),
        }
    }

    /// The number of weights removed from each output of `d` inputs.
    pub fn pruned_per_output(&self, d: usize) -> usize {
        match *self {
            Self::Unstructured(s) => ((s * d as f64).round() as usize).min(d.saturating_sub(1)),
            Self::NM { n, m } if m > 0 => d / m * (m.saturating_sub(n)),
            Self::NM { .. } => 0,
        }
    }

    /// The granularity recorded in the masks: [`Granularity::NM`] or
    /// [`Granularity::Element`].
    pub fn granularity(&self) -> Granularity {
        match *self {
            Self::Unstructured(_) => Granularity::Element,
            Self::NM { n, m } => Granularity::NM { n, m },
        }
    }
}

/// The positions (indices into `scores`) of the `count` lowest scores, ties broken by the
/// lower index first.
pub(crate) fn lowest(scores: &[f64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    order.truncate(count);
    order
}

/// Row-major keep flags of a `rows × d` score matrix: per row, the lowest scores are removed,
/// `target.pruned_per_output(d)` of the row (unstructured) or `m − n` of each group of `m`
/// consecutive entries (N:M).
pub(crate) fn keep_highest(
    scores: &[f64],
    rows: usize,
    d: usize,
    target: SparsityTarget,
) -> Vec<bool> {
    let mut keep = vec![true; rows * d];
    for r in 0..rows {
        let row = &scores[r * d..(r + 1) * d];
        let flags = &mut keep[r * d..(r + 1) * d];
        match target {
            SparsityTarget::Unstructured(_) => {
                for j in lowest(row, target.pruned_per_output(d)) {
                    flags[j] = false;
                }
            }
            SparsityTarget::NM { n, m } => {
                for g in (0..d).step_by(m.max(1)) {
                    for j in lowest(&row[g..g + m], m - n) {
                        flags[g + j] = false;
                    }
                }
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_validation() {
        assert_eq!(SparsityTarget::Unstructured(0.5).pruned_per_output(7), 4);
        assert_eq!(SparsityTarget::Unstructured(0.99).pruned_per_output(10), 9);
        assert_eq!(SparsityTarget::Unstructured(0.0).pruned_per_output(10), 0);
        assert_eq!(SparsityTarget::NM { n: 2, m: 4 }.pruned_per_output(12), 6);
        for bad in [
            SparsityTarget::Unstructured(1.0),
            SparsityTarget::Unstructured(-0.1),
            SparsityTarget::Unstructured(f64::NAN),
            SparsityTarget::NM { n: 3, m: 2 },
            SparsityTarget::NM { n: 2, m: 2 },
            SparsityTarget::NM { n: 0, m: 4 },
            SparsityTarget::NM { n: 1, m: 0 },
        ] {
            assert!(
                matches!(bad.validate(), Err(DataError::InvalidConfig { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            SparsityTarget::NM { n: 2, m: 4 }.check_inputs(6, "w"),
            Err(DataError::Shape { .. })
        ));
    }

    #[test]
    fn ties_go_to_the_lower_index() {
        assert_eq!(lowest(&[1.0, 0.0, 0.0, 2.0], 2), vec![1, 2]);
        let keep = keep_highest(
            &[1.0, 1.0, 1.0, 1.0],
            1,
            4,
            SparsityTarget::NM { n: 1, m: 2 },
        );
        assert_eq!(keep, vec![false, true, false, true]);
    }
}

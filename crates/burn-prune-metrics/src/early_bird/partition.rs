//! The input-space partition that a network's activation patterns draw on the grid.

use super::differing_bits;
use super::scores::unit_rows;
use super::spline::ActivationPatterns;
use crate::error::{MetricsError, Result};
use burn_prune_core::BitMask;

/// The boundaries of the partition of the grid into regions: one bit per pair of
/// horizontally or vertically adjacent points of the `n × n` grid (`n = grid_side`), set when
/// the two points lie in different regions, that is when some unit of some layer is active at
/// one and not at the other.
///
/// **Order.** The `n(n − 1)` horizontal pairs first, `(r, c)–(r, c + 1)` at `r·(n − 1) + c`;
/// then the vertical pairs, `(r, c)–(r + 1, c)` at `n(n − 1) + r·n + c` (points as in
/// [`grid_coefficients`](super::grid_coefficients): `α` along a row).
///
/// Errors: invalid patterns, `grid_side < 2`, or a layer whose point count is not
/// `grid_side²`.
///
/// ```
/// use burn_prune_metrics::early_bird::{ActivationPatterns, LayerPattern, partition_boundaries};
///
/// // A 3×3 grid cut by one vertical line between columns 0 and 1.
/// let layer = LayerPattern::from_fn("relu", 1, 9, |_, p| p % 3 > 0).unwrap();
/// let patterns = ActivationPatterns::new(vec![layer]).unwrap();
/// let edges = partition_boundaries(&patterns, 3).unwrap();
/// assert_eq!(edges.len(), 12);
/// let cut: Vec<usize> = (0..12).filter(|&e| edges.get(e) == Some(true)).collect();
/// assert_eq!(cut, vec![0, 2, 4]); // (r, 0)–(r, 1) for r = 0, 1, 2
/// ```
pub fn partition_boundaries(patterns: &ActivationPatterns, grid_side: usize) -> Result<BitMask> {
    patterns.validate()?;
    let n = grid_side;
    let horizontal = n.saturating_sub(1) * n;
    let mut edges = BitMask::filled(2 * horizontal, false);
    for layer in &patterns.layers {
        if n < 2 || n.checked_mul(n) != Some(layer.points) {
            return Err(MetricsError::Mismatch {
                context: format!("partition of layer `{}`", layer.name),
                reason: format!(
                    "{} points do not form a {n}×{n} grid (need grid side ≥ 2 and points = side²)",
                    layer.points
                ),
            });
        }
        for row in unit_rows(layer) {
            let bit = |i: usize| (row[i / 64] >> (i % 64)) & 1 == 1;
            for r in 0..n {
                for c in 0..n {
                    let i = r * n + c;
                    if c + 1 < n && bit(i) != bit(i + 1) {
                        edges.set(r * (n - 1) + c, true);
                    }
                    if r + 1 < n && bit(i) != bit(i + n) {
                        edges.set(horizontal + i, true);
                    }
                }
            }
        }
    }
    Ok(edges)
}

/// How much the partition of the grid changed between two networks (a model and its pruned
/// twin, or two epochs): the fraction of adjacent point pairs that are a region boundary in
/// one and not in the other ([`partition_boundaries`]). In `[0, 1]`, symmetric, `0` when the
/// grid sees the same regions. The two may have different layers and widths.
///
/// Errors: those of [`partition_boundaries`].
pub fn partition_change(
    a: &ActivationPatterns,
    b: &ActivationPatterns,
    grid_side: usize,
) -> Result<f64> {
    let (x, y) = (
        partition_boundaries(a, grid_side)?,
        partition_boundaries(b, grid_side)?,
    );
    Ok(differing_bits(&x, &y) as f64 / x.len() as f64)
}

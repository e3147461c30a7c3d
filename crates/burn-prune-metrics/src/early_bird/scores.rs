//! Spline pruning scores: how much partition boundary each unit draws inside the grid region.

use super::spline::LayerPattern;
use crate::error::{MetricsError, Result};
use std::collections::HashMap;

/// Why a unit scores `0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redundancy {
    /// Its pattern is the same at every grid point: its boundary does not cross the region.
    Constant,
    /// Its pattern equals that of the earlier unit at this index: the same boundary.
    DuplicateOf(usize),
    /// Its pattern is the complement of that of the earlier unit at this index: the same
    /// boundary with the sides swapped.
    ComplementOf(usize),
}

/// The parts of one unit's spline score (see [`spline_scores`] for the definitions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnitSplineScore {
    /// Boundary fraction `B`: the fraction of horizontally/vertically adjacent grid-point pairs
    /// at which the unit's bit flips, in `[0, 1]`.
    pub boundary: f32,
    /// Distinctness `E`: twice the normalised Hamming distance to the nearest other boundary,
    /// in `[0, 1]`; `0` for a redundant unit.
    pub distinctness: f32,
    /// Why the unit is redundant, if it is.
    pub redundancy: Option<Redundancy>,
    /// The score: `0` for a redundant unit, else `min(boundary, distinctness)`, in `(0, 1]`.
    pub score: f32,
}

/// Spline pruning scores of the units of one layer, one per unit, in `[0, 1]`: how much
/// partition boundary each unit contributes in the region covered by an `n × n` input grid
/// (`n = grid_side`; `pattern.points` must be `n²`, points in
/// [`grid_coefficients`](super::grid_coefficients) order). Low scores are pruned first.
///
/// A unit's pattern `b_u ∈ {0,1}^{n²}` is the side of its boundary (the zero set of its
/// pre-activation) each grid point lies on. With `P = n²` points:
///
/// 1. **Boundary fraction** `B(u)`: the number of horizontally or vertically adjacent
///    grid-point pairs at which `b_u` flips, over the `2n(n − 1)` such pairs. A straight
///    boundary crossing the grid parallel to an axis gives `n / (2n(n − 1)) = 1 / (2(n − 1))`;
///    a checkerboard gives 1.
/// 2. **Redundant units score exactly 0**: a unit whose pattern is constant (`B = 0`: its
///    boundary does not cross the region), and a unit whose pattern equals, or is the
///    complement of, the pattern of an *earlier* unit (the same boundary; the complement is the
///    same boundary with its sides swapped). The first unit of each group of equal or
///    complementary patterns represents the group and is scored normally, so pruning every
///    zero-score unit removes no boundary from the region.
/// 3. **Distinctness** `E(u) = 2 · min_v min(h(b_u, b_v), 1 − h(b_u, b_v))` over the other
///    non-redundant units `v` (`h` = normalised Hamming distance, the fraction of the `P`
///    points that differ; the `min` with `1 − h` counts complements as the same boundary).
///    Constant units have no boundary and are not compared with. `E(u) = 1` when `u` is the
///    only non-redundant unit. `E` is small when another unit's boundary nearly coincides
///    with `u`'s.
/// 4. **Score** `= min(B(u), E(u))` for a non-redundant unit, in `(0, 1]` (a non-constant
///    pattern on a connected grid flips somewhere, and a distinct, non-complementary pattern
///    differs at some point and agrees at another).
///
/// Permuting the units permutes the scores, except that which member of a group of
/// duplicates carries the group's (unchanged) score follows the new order.
///
/// Cost: `O(U·P)` for the boundaries and duplicates, `O(R²·P/64)` for the distinctness of
/// the `R ≤ U` non-redundant units.
///
/// Errors: an invalid pattern ([`LayerPattern::validate`]); `grid_side < 2` (a single point
/// shows no boundary) or `pattern.points ≠ grid_side²`, naming the layer.
///
/// ```
/// use burn_prune_metrics::early_bird::{LayerPattern, spline_scores};
///
/// // A 4×4 grid (point = row·4 + col). Unit 0: a vertical boundary between columns 1 and 2;
/// // unit 1: its complement; unit 2: never active.
/// let p = LayerPattern::from_fn("relu1", 3, 16, |u, p| match u {
///     0 => p % 4 >= 2,
///     1 => p % 4 < 2,
///     _ => false,
/// })
/// .unwrap();
/// let s = spline_scores(&p, 4).unwrap();
/// // 4 of the 2·4·3 = 24 adjacent pairs flip; no other distinct boundary (E = 1).
/// assert_eq!(s, vec![1.0 / 6.0, 0.0, 0.0]);
/// ```
pub fn spline_scores(pattern: &LayerPattern, grid_side: usize) -> Result<Vec<f32>> {
    Ok(spline_score_details(pattern, grid_side)?
        .into_iter()
        .map(|s| s.score)
        .collect())
}

/// [`spline_scores`] with the parts of each score: boundary fraction, distinctness and why a
/// unit is redundant.
///
/// Errors: those of [`spline_scores`].
pub fn spline_score_details(
    pattern: &LayerPattern,
    grid_side: usize,
) -> Result<Vec<UnitSplineScore>> {
    pattern.validate()?;
    let n = grid_side;
    if n < 2 || n.checked_mul(n) != Some(pattern.points) {
        return Err(MetricsError::Mismatch {
            context: format!("spline scores of layer `{}`", pattern.name),
            reason: format!(
                "{} points do not form a {n}×{n} grid (need grid side ≥ 2 and points = side²)",
                pattern.points
            ),
        });
    }
    let p = pattern.points;
    let rows = unit_rows(pattern);
    let tail = tail_mask(p);

    let mut out = Vec::with_capacity(pattern.units);
    let mut representatives: Vec<usize> = Vec::new();
    let mut seen: HashMap<Vec<u64>, usize> = HashMap::new();
    let pairs = (2 * n * (n - 1)) as f64;
    for (u, row) in rows.iter().enumerate() {
        let ones: usize = row.iter().map(|w| w.count_ones() as usize).sum();
        let boundary = (boundary_flips(row, n) as f64 / pairs) as f32;
        let redundancy = if ones == 0 || ones == p {
            Some(Redundancy::Constant)
        } else {
            let canonical = if row[0] & 1 == 1 {
                complement(row, tail)
            } else {
                row.clone()
            };
            match seen.get(&canonical) {
                Some(&v) if rows[v] == *row => Some(Redundancy::DuplicateOf(v)),
                Some(&v) => Some(Redundancy::ComplementOf(v)),
                None => {
                    seen.insert(canonical, u);
                    representatives.push(u);
                    None
                }
            }
        };
        out.push(UnitSplineScore {
            boundary,
            distinctness: 0.0,
            redundancy,
            score: 0.0,
        });
    }

    // Nearest other boundary, counted in points: min(h, P − h) over the other representatives.
    let mut nearest = vec![p; representatives.len()];
    for (i, &u) in representatives.iter().enumerate() {
        for (j, &v) in representatives.iter().enumerate().skip(i + 1) {
            let h: usize = rows[u]
                .iter()
                .zip(&rows[v])
                .map(|(a, b)| (a ^ b).count_ones() as usize)
                .sum();
            let d = h.min(p - h);
            nearest[i] = nearest[i].min(d);
            nearest[j] = nearest[j].min(d);
        }
    }
    for (i, &u) in representatives.iter().enumerate() {
        let distinctness = if representatives.len() == 1 {
            1.0
        } else {
            (2.0 * nearest[i] as f64 / p as f64).min(1.0) as f32
        };
        let s = &mut out[u];
        s.distinctness = distinctness;
        s.score = s.boundary.min(distinctness);
    }
    Ok(out)
}

/// Spline scores of channels: [`spline_scores`] of the units, averaged over each channel's
/// units, for a layer whose units are `channels` contiguous groups (a convolution's
/// `channel · (H·W) + position` layout; `channels = units` for a dense layer). A channel scores
/// `0` exactly when all of its units are redundant.
///
/// Errors: those of [`spline_scores`]; `channels = 0` or not dividing the unit count.
///
/// ```
/// use burn_prune_metrics::early_bird::{LayerPattern, spline_channel_scores};
///
/// // 2 channels × 2 positions over a 2×2 grid: channel 1 never activates.
/// let p = LayerPattern::from_fn("bn1", 4, 4, |u, p| u < 2 && (p % 2 == 1) == (u == 0)).unwrap();
/// let s = spline_channel_scores(&p, 2, 2).unwrap();
/// assert!(s[0] > 0.0);
/// assert_eq!(s[1], 0.0);
/// ```
pub fn spline_channel_scores(
    pattern: &LayerPattern,
    grid_side: usize,
    channels: usize,
) -> Result<Vec<f32>> {
    if channels == 0 || !pattern.units.is_multiple_of(channels) {
        return Err(MetricsError::Mismatch {
            context: format!("spline channel scores of layer `{}`", pattern.name),
            reason: format!(
                "{} units cannot be split into {channels} channels",
                pattern.units
            ),
        });
    }
    let scores = spline_scores(pattern, grid_side)?;
    let per = pattern.units / channels;
    Ok(scores
        .chunks(per)
        .map(|c| (c.iter().map(|&s| s as f64).sum::<f64>() / per as f64) as f32)
        .collect())
}

/// Mask of the used bits of the last word of a `len`-bit row.
fn tail_mask(len: usize) -> u64 {
    match len % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

fn complement(row: &[u64], tail: u64) -> Vec<u64> {
    let mut out: Vec<u64> = row.iter().map(|w| !w).collect();
    if let Some(last) = out.last_mut() {
        *last &= tail;
    }
    out
}

/// Each unit's pattern repacked into its own word-aligned row of `points` bits.
pub(super) fn unit_rows(pattern: &LayerPattern) -> Vec<Vec<u64>> {
    let p = pattern.points;
    let nw = p.div_ceil(64);
    let words = pattern.bits.words();
    let tail = tail_mask(p);
    (0..pattern.units)
        .map(|u| {
            let start = u * p;
            let mut row: Vec<u64> = (0..nw)
                .map(|j| {
                    let g = start + 64 * j;
                    let (w, s) = (g / 64, g % 64);
                    let low = words[w] >> s;
                    match words.get(w + 1) {
                        Some(next) if s > 0 => low | next << (64 - s),
                        _ => low,
                    }
                })
                .collect();
            if let Some(last) = row.last_mut() {
                *last &= tail;
            }
            row
        })
        .collect()
}

/// Number of horizontally or vertically adjacent point pairs of an `n × n` grid (point
/// `row·n + col`) at which the row's bit flips.
fn boundary_flips(row: &[u64], n: usize) -> usize {
    let bit = |i: usize| (row[i / 64] >> (i % 64)) & 1;
    let mut flips = 0u64;
    for r in 0..n {
        for c in 0..n {
            let i = r * n + c;
            if c + 1 < n {
                flips += bit(i) ^ bit(i + 1);
            }
            if r + 1 < n {
                flips += bit(i) ^ bit(i + n);
            }
        }
    }
    flips as usize
}

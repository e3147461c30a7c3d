//! ThiNet (Luo et al. 2017): greedy channel selection on sampled next-layer contributions,
//! followed by a least-squares rescaling of the kept channels.
//!
//! The input is a *contribution matrix* `X̂` of shape `m × C`: one row per sampled
//! (image, output position, output channel) triple of the next layer, and one column per
//! input channel `c` of that layer. Entry `x̂_{s,c}` is what input channel `c` adds to the
//! sampled output value, `Σ_{kh,kw} W[o,c,kh,kw]·X[c,…]`, so the sampled output value
//! (bias excluded) is `y_s = Σ_c x̂_{s,c}`.

use super::{check_indices, check_matrix, normal_equations};
use crate::error::{DataError, Result};
use crate::linalg::Matrix;

const METHOD: &str = "ThiNet";

/// Which input channels a selection keeps and which it removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSelection {
    /// The kept channels, in increasing order.
    pub kept: Vec<usize>,
    /// The removed channels, in the order the greedy search removed them.
    pub removed: Vec<usize>,
}

/// Choose `remove` input channels to remove by ThiNet's greedy search.
///
/// Starting from the empty removed set `T`, each step adds the channel `j ∉ T` minimising
/// `Σ_s (Σ_{i∈T∪{j}} x̂_{s,i})²`, the squared change of the sampled outputs if the channels of
/// `T ∪ {j}` were dropped. Ties go to the lowest channel index. The first pick is therefore
/// the channel with the smallest column norm.
///
/// **Cost.** The search keeps the running sum `r_s = Σ_{i∈T} x̂_{s,i}` and evaluates every
/// candidate directly, `Σ_s (r_s + x̂_{s,j})²`, in one row-major pass over `X̂`: `m·C`
/// multiply-adds per step, `m·C·remove` in all, with `O(m + C)` extra memory. The
/// alternative through the Gram matrix (`‖r‖² + 2·Σ_{i∈T} G_ij + G_jj`) needs `m·C(C+1)/2`
/// multiply-adds up front and `O(C²)` per step; for `m ≫ C` the two are within a factor of
/// two of each other (the direct pass is cheaper when `remove ≤ C/2`, the usual case), and
/// the direct pass avoids the cancellation in `‖r‖² + 2 r·x̂_j + ‖x̂_j‖²` when channels
/// nearly cancel, which is exactly the case the search must get right.
///
/// # Errors
///
/// - [`DataError::InvalidConfig`] when `remove ≥ C` (at least one channel must stay);
/// - [`DataError::Model`] for an empty matrix, [`DataError::Shape`] when its values do not
///   fill `rows × cols`;
/// - [`DataError::Numerical`] for a non-finite entry, or when the sums overflow.
///
/// # Example
///
/// ```
/// use burn_prune_data::linalg::Matrix;
/// use burn_prune_data::reconstruct::thinet_select;
///
/// // Two samples, three channels. Channel 2 is the smallest; once it is gone, channel 1
/// // cancels it best ([-1, 1] + [3, -1] = [2, 0]), although channel 0 is smaller.
/// let contributions = Matrix::from_vec(2, 3, vec![1.0, 3.0, -1.0, 2.0, -1.0, 1.0])?;
/// let selection = thinet_select(&contributions, 2)?;
/// assert_eq!(selection.removed, vec![2, 1]);
/// assert_eq!(selection.kept, vec![0]);
/// # Ok::<(), burn_prune_data::DataError>(())
/// ```
pub fn thinet_select(contributions: &Matrix, remove: usize) -> Result<ChannelSelection> {
    check_matrix(contributions, "contributions", METHOD)?;
    let channels = contributions.cols;
    if remove >= channels {
        return Err(DataError::invalid(
            "ThiNet channels to remove",
            format!("{remove} of {channels}: at least one channel must stay"),
        ));
    }
    let mut running = vec![0.0; contributions.rows];
    let mut is_removed = vec![false; channels];
    let mut removed = Vec::with_capacity(remove);
    let mut cost = vec![0.0; channels];
    for _ in 0..remove {
        cost.fill(0.0);
        for (s, &r) in running.iter().enumerate() {
            for (acc, &x) in cost.iter_mut().zip(contributions.row(s)) {
                let v = r + x;
                *acc += v * v;
            }
        }
        // `min_by` returns the first of equal minima: ties go to the lowest index.
        let best = (0..channels)
            .filter(|&j| !is_removed[j])
            .min_by(|&a, &b| cost[a].total_cmp(&cost[b]))
            .filter(|&j| cost[j].is_finite())
            .ok_or_else(|| DataError::Numerical {
                problem: "ThiNet greedy selection".to_string(),
                reason: "the summed contributions overflow".to_string(),
            })?;
        is_removed[best] = true;
        removed.push(best);
        for (s, r) in running.iter_mut().enumerate() {
            *r += contributions.get(s, best);
        }
    }
    let kept = (0..channels).filter(|&j| !is_removed[j]).collect();
    Ok(ChannelSelection { kept, removed })
}

/// The least-squares scales of the kept channels: `w = argmin_w Σ_s (y_s − Σ_{c∈S} w_c·x̂_{s,c})²`
/// with `y_s = Σ_c x̂_{s,c}` over *all* channels and `S = kept`.
///
/// `w[t]` belongs to channel `kept[t]` (the order of `kept` is kept); multiply it into the
/// next layer's weights of that input channel. The normal equations are solved by Cholesky.
/// When the kept columns are (nearly) linearly dependent, or there are fewer samples than
/// kept channels, they are singular (a Cholesky pivot `L_jj² ≤ 10⁻¹⁰·G_jj`); the solve is
/// then retried with a ridge of `10⁻⁸ ×` the mean squared column norm, which approximates
/// the minimum-norm least-squares solution (equal columns get equal scales).
///
/// # Errors
///
/// - [`DataError::InvalidConfig`] when `kept` is empty, names a channel `≥ C` or names one
///   twice;
/// - the matrix errors of [`thinet_select`];
/// - [`DataError::Numerical`] when the solution is not finite.
pub fn thinet_scales(contributions: &Matrix, kept: &[usize]) -> Result<Vec<f64>> {
    const PROBLEM: &str = "ThiNet least squares";
    check_matrix(contributions, "contributions", METHOD)?;
    check_indices(kept, contributions.cols, "kept channels", METHOD)?;
    let (m, k) = (contributions.rows, kept.len());
    let mut a = Matrix::zeros(m, k);
    let mut y = Matrix::zeros(m, 1);
    for s in 0..m {
        let row = contributions.row(s);
        y.data[s] = row.iter().sum();
        for (t, &c) in kept.iter().enumerate() {
            a.data[s * k + t] = row[c];
        }
    }
    let w = match normal_equations(&a, &y, 0.0, true, PROBLEM) {
        Ok(w) => w,
        Err(DataError::Numerical { .. }) => {
            let mean_norm = a.data.iter().map(|v| v * v).sum::<f64>() / k as f64;
            let ridge = if mean_norm > 0.0 {
                1e-8 * mean_norm
            } else {
                1.0
            };
            normal_equations(&a, &y, ridge, false, PROBLEM)?
        }
        Err(e) => return Err(e),
    };
    if w.data.iter().any(|v| !v.is_finite()) {
        return Err(DataError::Numerical {
            problem: PROBLEM.to_string(),
            reason: "the scales are not finite (the contributions are too large)".to_string(),
        });
    }
    Ok(w.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// `m × scales.len()` uniform values, column `c` in `[-scales[c], scales[c]]`.
    fn random_contributions(rng: &mut StdRng, m: usize, scales: &[f64]) -> Matrix {
        let c = scales.len();
        let mut x = Matrix::zeros(m, c);
        for s in 0..m {
            for (j, &a) in scales.iter().enumerate() {
                *x.get_mut(s, j) = a * rng.random_range(-1.0..1.0);
            }
        }
        x
    }

    /// `Σ_s (Σ_{i∈set} x̂_{s,i})²`, computed from scratch.
    fn removal_cost(x: &Matrix, set: &[usize]) -> f64 {
        (0..x.rows)
            .map(|s| set.iter().map(|&i| x.get(s, i)).sum::<f64>().powi(2))
            .sum()
    }

    #[test]
    fn hand_computed_three_channels() {
        // Columns: c0 = [1, 2] (‖·‖² = 5), c1 = [3, -1] (10), c2 = [-1, 1] (2).
        // Step 1 removes c2, the smallest norm. Step 2 with r = [-1, 1]:
        // adding c0 costs 0² + 3² = 9, adding c1 costs 2² + 0² = 4, so c1 goes second
        // although its norm is larger.
        let x = Matrix::from_vec(2, 3, vec![1.0, 3.0, -1.0, 2.0, -1.0, 1.0]).unwrap();
        let sel = thinet_select(&x, 2).unwrap();
        assert_eq!(sel.removed, vec![2, 1]);
        assert_eq!(sel.kept, vec![0]);
        // y = [3, 2]; w = ⟨c0, y⟩ / ‖c0‖² = (3 + 4) / 5 = 1.4.
        let w = thinet_scales(&x, &sel.kept).unwrap();
        assert!((w[0] - 1.4).abs() < 1e-12, "{w:?}");
        // Removing nothing keeps everything.
        let none = thinet_select(&x, 0).unwrap();
        assert_eq!(none.kept, vec![0, 1, 2]);
        assert!(none.removed.is_empty());
    }

    #[test]
    fn ties_go_to_the_lowest_index() {
        // Columns 1 and 2 are identical and smallest; column 0 is larger.
        let x = Matrix::from_vec(2, 3, vec![5.0, 1.0, 1.0, 5.0, -2.0, -2.0]).unwrap();
        assert_eq!(thinet_select(&x, 1).unwrap().removed, vec![1]);
    }

    #[test]
    fn removes_near_zero_channels() {
        let mut rng = StdRng::seed_from_u64(7);
        let scales = [1.0, 1.5, 0.6, 1.2, 2.0, 1e-3, 1e-3, 1e-3];
        let x = random_contributions(&mut rng, 400, &scales);
        let mut sel = thinet_select(&x, 3).unwrap();
        assert_eq!(sel.kept, vec![0, 1, 2, 3, 4]);
        sel.removed.sort_unstable();
        assert_eq!(sel.removed, vec![5, 6, 7]);
    }

    #[test]
    fn removes_a_cancelling_pair() {
        // Channel 6 = −channel 2 (+ tiny noise), channel 7 is near zero. Channel 2 is the
        // smallest of the rest, so the greedy removes 7, then 2 or 6, then the partner.
        let mut rng = StdRng::seed_from_u64(11);
        let scales = [1.0, 1.5, 0.3, 1.2, 2.0, 1.1, 1.0, 1e-3];
        let mut x = random_contributions(&mut rng, 400, &scales);
        for s in 0..x.rows {
            *x.get_mut(s, 6) = -x.get(s, 2) + 1e-4 * rng.random_range(-1.0..1.0);
        }
        let sel = thinet_select(&x, 3).unwrap();
        assert_eq!(sel.removed[0], 7);
        let mut removed = sel.removed.clone();
        removed.sort_unstable();
        assert_eq!(removed, vec![2, 6, 7]);
        assert_eq!(sel.kept, vec![0, 1, 3, 4, 5]);
    }

    #[test]
    fn rescaling_restores_a_correlated_channel() {
        // Channel 3 = 0.9·channel 1 + noise in [-0.05, 0.05]. Removing 3 and scaling
        // channel 1 by ≈ 1.9 leaves only the noise: the plain removal error is about
        // m·0.81/3 and the rescaled one about m·0.05²/3, a factor of ≈ 324.
        let mut rng = StdRng::seed_from_u64(3);
        let mut x = random_contributions(&mut rng, 400, &[1.0; 6]);
        for s in 0..x.rows {
            *x.get_mut(s, 3) = 0.9 * x.get(s, 1) + 0.05 * rng.random_range(-1.0..1.0);
        }
        let sel = thinet_select(&x, 1).unwrap();
        assert_eq!(sel.removed, vec![3]);
        let w = thinet_scales(&x, &sel.kept).unwrap();
        let (mut plain, mut rescaled) = (0.0, 0.0);
        for s in 0..x.rows {
            let y: f64 = x.row(s).iter().sum();
            let kept: f64 = sel.kept.iter().map(|&c| x.get(s, c)).sum();
            let fit: f64 = sel.kept.iter().zip(&w).map(|(&c, w)| w * x.get(s, c)).sum();
            plain += (y - kept).powi(2);
            rescaled += (y - fit).powi(2);
        }
        assert!(plain / rescaled >= 100.0, "{plain} / {rescaled}");
        // kept = [0, 1, 2, 4, 5]: channel 1 absorbs 0.9 of channel 3, the others stay at 1.
        for (t, &c) in sel.kept.iter().enumerate() {
            let expected = if c == 1 { 1.9 } else { 1.0 };
            assert!((w[t] - expected).abs() < 0.02, "channel {c}: {}", w[t]);
        }
    }

    #[test]
    fn scales_survive_dependent_kept_channels() {
        // Columns 0 and 1 are equal: singular normal equations, retried with a small ridge.
        let x =
            Matrix::from_vec(3, 3, vec![1.0, 1.0, 0.5, 2.0, 2.0, 0.1, -1.0, -1.0, 0.3]).unwrap();
        let w = thinet_scales(&x, &[0, 1]).unwrap();
        assert!(w.iter().all(|v| v.is_finite()));
        // The minimum-norm solution splits the weight evenly between the equal columns.
        assert!((w[0] - w[1]).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn errors_instead_of_panics() {
        let x = Matrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert!(matches!(
            thinet_select(&x, 3),
            Err(DataError::InvalidConfig { .. })
        ));
        assert!(matches!(
            thinet_select(&x, 9),
            Err(DataError::InvalidConfig { .. })
        ));
        let empty_rows = Matrix::zeros(0, 3);
        let empty_cols = Matrix::zeros(3, 0);
        assert!(matches!(
            thinet_select(&empty_rows, 0),
            Err(DataError::Model { .. })
        ));
        assert!(matches!(
            thinet_select(&empty_cols, 0),
            Err(DataError::Model { .. })
        ));
        let ragged = Matrix {
            rows: 2,
            cols: 3,
            data: vec![1.0; 5],
        };
        assert!(matches!(
            thinet_select(&ragged, 1),
            Err(DataError::Shape { .. })
        ));
        assert!(matches!(
            thinet_scales(&ragged, &[0]),
            Err(DataError::Shape { .. })
        ));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut y = x.clone();
            *y.get_mut(1, 2) = bad;
            assert!(matches!(
                thinet_select(&y, 1),
                Err(DataError::Numerical { .. })
            ));
            assert!(matches!(
                thinet_scales(&y, &[0]),
                Err(DataError::Numerical { .. })
            ));
        }
        assert!(matches!(
            thinet_scales(&x, &[]),
            Err(DataError::InvalidConfig { .. })
        ));
        assert!(matches!(
            thinet_scales(&x, &[0, 3]),
            Err(DataError::InvalidConfig { .. })
        ));
        assert!(matches!(
            thinet_scales(&x, &[1, 1]),
            Err(DataError::InvalidConfig { .. })
        ));
        // Finite values whose squared sums overflow.
        let huge = Matrix::from_vec(2, 2, vec![1e200, 1e200, 1e200, 1e200]).unwrap();
        assert!(matches!(
            thinet_select(&huge, 1),
            Err(DataError::Numerical { .. })
        ));
    }

    /// A random `m × c` matrix and a number of channels to remove, at least `min_remove`
    /// and below `c`.
    fn case(min_remove: usize) -> impl Strategy<Value = (Matrix, usize)> {
        (1usize..10, min_remove + 1..7).prop_flat_map(move |(m, c)| {
            (prop::collection::vec(-5.0f64..5.0, m * c), min_remove..c)
                .prop_map(move |(data, remove)| (Matrix::from_vec(m, c, data).unwrap(), remove))
        })
    }

    proptest! {
        #[test]
        fn selection_partitions_the_channels((x, remove) in case(0)) {
            let sel = thinet_select(&x, remove).unwrap();
            prop_assert_eq!(sel.removed.len(), remove);
            prop_assert_eq!(sel.kept.len(), x.cols - remove);
            prop_assert!(sel.kept.windows(2).all(|w| w[0] < w[1]));
            let mut all: Vec<usize> = sel.kept.iter().chain(&sel.removed).copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..x.cols).collect::<Vec<_>>());
        }

        #[test]
        fn first_pick_is_the_smallest_column((x, remove) in case(1)) {
            let sel = thinet_select(&x, remove).unwrap();
            let norms: Vec<f64> = (0..x.cols)
                .map(|j| (0..x.rows).map(|s| x.get(s, j).powi(2)).sum())
                .collect();
            let first = sel.removed[0];
            for (j, &n) in norms.iter().enumerate() {
                prop_assert!(norms[first] < n || (norms[first] == n && first <= j));
            }
        }

        #[test]
        fn every_step_is_the_greedy_minimum((x, remove) in case(0)) {
            let sel = thinet_select(&x, remove).unwrap();
            for t in 0..remove {
                let mut set = sel.removed[..=t].to_vec();
                let chosen = removal_cost(&x, &set);
                for j in (0..x.cols).filter(|j| !sel.removed[..=t].contains(j)) {
                    set[t] = j;
                    let other = removal_cost(&x, &set);
                    prop_assert!(chosen <= other + 1e-9 * (1.0 + other), "step {t}: {chosen} > {other}");
                }
            }
        }
    }
}

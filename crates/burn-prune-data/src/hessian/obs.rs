//! Layer-wise Optimal Brain Surgeon (Hassibi & Stork, 1993), in the per-row form of Optimal
//! Brain Compression (Frantar & Alistarh, 2022).
//!
//! For one row `w` with loss `½·δwᵀ·H·δw`, removing weight `q` and re-optimizing the others
//! costs `s_q = w_q² / (2·[H⁻¹]_qq)` and moves the row by `δw = −(w_q / [H⁻¹]_qq)·H⁻¹·e_q`,
//! which makes `w_q` exactly zero. Removing `q` from the problem turns `H⁻¹` into
//! `H⁻¹ − H⁻¹·e_q·e_qᵀ·H⁻¹ / [H⁻¹]_qq`, which on the remaining coordinates is the inverse of
//! `H` with row and column `q` deleted, so removals can be chained. Each step is the exact
//! `H`-norm projection onto a smaller subspace, so the saliencies of a sequence add up to the
//! exact total `½·δwᵀ·H·δw`.

use super::{check_finite, check_matrix};
use crate::error::{DataError, Result};
use crate::linalg::{Matrix, spd_inverse};

/// The outcome of [`obs_prune`] or [`obs_prune_inputs`].
#[derive(Clone, Debug, PartialEq)]
pub struct ObsResult {
    /// The updated `rows × d` weights; pruned entries are exactly `0.0`.
    pub weights: Matrix,
    /// `rows·d` flags in row-major order, `true` = kept.
    pub mask: Vec<bool>,
    /// Per row, the sum of the OBS saliencies `½·w_q²/[H⁻¹]_qq` of its removed weights (each
    /// taken at the moment of its removal). This equals the exact increase `½·δwᵀ·H·δw` of
    /// the row's layer-wise loss.
    pub loss_increase: Vec<f64>,
}

impl ObsResult {
    fn unpruned(weights: &Matrix) -> Self {
        Self {
            weights: weights.clone(),
            mask: vec![true; weights.data.len()],
            loss_increase: vec![0.0; weights.rows],
        }
    }

    /// The loss increase of the whole layer, `Σ_rows loss_increase`.
    pub fn total_loss_increase(&self) -> f64 {
        self.loss_increase.iter().sum()
    }
}

/// The inverse `H⁻¹` of a symmetric positive definite Hessian, through its Cholesky factor
/// (the result is exactly symmetric). Pass it to [`obs_scores`].
///
/// Errors: `hessian` is not square, holds a non-finite value, is not symmetric, or is not
/// positive definite (then raise the damping of
/// [`InputMoments::hessian`](super::InputMoments::hessian) / [`ObsConfig`](super::ObsConfig)).
pub fn inverse_hessian(hessian: &Matrix) -> Result<Matrix> {
    super::check_symmetric(hessian, hessian.rows, "OBS Hessian")?;
    let mut inv = spd_inverse(hessian, "OBS inverse Hessian").map_err(|e| match e {
        DataError::Numerical { problem, reason } => DataError::Numerical {
            problem,
            reason: format!(
                "{reason} (H is not positive definite: raise the OBS damping λ of \
                 H + λ·mean(diag H)·I, e.g. ObsConfig::damping)"
            ),
        },
        other => other,
    })?;
    let n = inv.rows;
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (inv.get(i, j) + inv.get(j, i));
            *inv.get_mut(i, j) = v;
            *inv.get_mut(j, i) = v;
        }
    }
    check_finite(&inv.data, "OBS inverse Hessian")?;
    Ok(inv)
}

/// One-shot OBS saliencies `s_ij = w_ij² / (2·[H⁻¹]_jj)` of a `rows × d` weight matrix, given
/// the `d × d` inverse Hessian (see [`inverse_hessian`]). `s_ij` is the exact loss increase of
/// removing `w_ij` alone with the optimal update of the rest of its row. A smaller score means
/// a less important weight; the result has the shape of `weights`.
///
/// Errors: shape mismatches, non-finite values, or a diagonal entry of `inverse_hessian` that
/// is not positive.
pub fn obs_scores(weights: &Matrix, inverse_hessian: &Matrix) -> Result<Matrix> {
    check_matrix(weights, "OBS weights")?;
    check_matrix(inverse_hessian, "OBS inverse Hessian")?;
    let d = weights.cols;
    if inverse_hessian.rows != d || inverse_hessian.cols != d {
        return Err(DataError::shape(
            "OBS inverse Hessian",
            format!("{d}×{d}"),
            format!("{}×{}", inverse_hessian.rows, inverse_hessian.cols),
        ));
    }
    let pivots = (0..d)
        .map(|j| pivot(inverse_hessian, j))
        .collect::<Result<Vec<_>>>()?;
    let data = weights
        .data
        .iter()
        .enumerate()
        .map(|(k, w)| w * w / (2.0 * pivots[k % d]))
        .collect();
    Matrix::from_vec(weights.rows, d, data)
}

/// Unstructured layer-wise OBS: removes `remove_per_row` weights from every row of the
/// `rows × d` matrix `weights`, given the (damped) `d × d` layer Hessian `hessian` shared by
/// all rows (see [`InputMoments::hessian`](super::InputMoments::hessian)).
///
/// Per row, starting from `H⁻¹`, it repeats `remove_per_row` times: pick the present weight
/// with the smallest saliency `s_q = w_q²/(2·[H⁻¹]_qq)` (the lowest index on ties), apply
/// `δw = −(w_q/[H⁻¹]_qq)·H⁻¹·e_q` (which zeroes `w_q`), then downdate
/// `H⁻¹ ← H⁻¹ − H⁻¹·e_q·e_qᵀ·H⁻¹/[H⁻¹]_qq`. With zero damping the result is the
/// least-squares optimum of the layer-wise loss over the kept weights; the choice of *which*
/// weights to remove is greedy.
///
/// Cost: one `d³` inversion, then `O(remove_per_row · d²)` per row; memory `O(d²)`.
///
/// Errors: shape mismatches, non-finite values, `remove_per_row ≥ d` (at least one weight per
/// row stays), or an `H` that is not symmetric positive definite (raise the damping).
///
/// # Example
///
/// ```
/// use burn_prune_data::hessian::{InputMoments, ObsConfig, obs_prune};
/// use burn_prune_data::linalg::Matrix;
///
/// // Four samples of three inputs; inputs 0 and 1 are nearly copies of each other.
/// let x = Matrix::from_vec(4, 3, vec![
///      1.0,  1.1,  0.0,
///      2.0,  1.9,  1.0,
///     -1.0, -1.0,  0.5,
///      0.5,  0.6, -1.0,
/// ])?;
/// let mut moments = InputMoments::new(3);
/// moments.add_batch(&x)?;
/// let h = ObsConfig::default().hessian(&moments)?;
///
/// // One output row; remove one of its three weights.
/// let w = Matrix::from_vec(1, 3, vec![0.4, 0.5, 2.0])?;
/// let pruned = obs_prune(&w, &h, 1)?;
/// assert_eq!(pruned.mask, vec![false, true, true]);
/// assert_eq!(pruned.weights.get(0, 0), 0.0);
/// // The correlated input 1 takes over the role of the removed input 0.
/// assert!(pruned.weights.get(0, 1) > 0.8);
/// assert!(pruned.loss_increase[0] >= 0.0);
/// # Ok::<(), burn_prune_data::DataError>(())
/// ```
pub fn obs_prune(weights: &Matrix, hessian: &Matrix, remove_per_row: usize) -> Result<ObsResult> {
    let hinv0 = prepare(weights, hessian, remove_per_row)?;
    let d = weights.cols;
    let mut out = ObsResult::unpruned(weights);
    for r in 0..weights.rows {
        let mut hinv = hinv0.clone();
        let w = &mut out.weights.data[r * d..(r + 1) * d];
        let kept = &mut out.mask[r * d..(r + 1) * d];
        for _ in 0..remove_per_row {
            let mut best: Option<(usize, f64)> = None;
            for j in (0..d).filter(|&j| kept[j]) {
                let s = w[j] * w[j] / (2.0 * pivot(&hinv, j)?);
                if best.is_none_or(|(_, b)| s < b) {
                    best = Some((j, s));
                }
            }
            let Some((q, s)) = best else { break };
            compensate(w, &hinv, q);
            downdate(&mut hinv, q);
            kept[q] = false;
            out.loss_increase[r] += s;
        }
    }
    check_finite(&out.weights.data, "OBS updated weights")?;
    Ok(out)
}

/// Structured layer-wise OBS: removes `remove` whole input columns (input channels) from the
/// `rows × d` matrix `weights`, the same columns in every row, given the shared `d × d` layer
/// Hessian `hessian`.
///
/// It repeats `remove` times: pick the present input `j` with the smallest summed saliency
/// `Σ_rows w_rj² / (2·[H⁻¹]_jj)` (the lowest index on ties), update every row by
/// `δw_r = −(w_rj/[H⁻¹]_jj)·H⁻¹·e_j`, then downdate the shared `H⁻¹` as in [`obs_prune`].
/// `loss_increase[r]` is row `r`'s part `Σ w_rj²/(2·[H⁻¹]_jj)` of the removed saliencies.
///
/// Errors: as [`obs_prune`], with `remove ≥ d` rejected (at least one input stays).
pub fn obs_prune_inputs(weights: &Matrix, hessian: &Matrix, remove: usize) -> Result<ObsResult> {
    let mut hinv = prepare(weights, hessian, remove)?;
    let (rows, d) = (weights.rows, weights.cols);
    let mut out = ObsResult::unpruned(weights);
    let mut present = vec![true; d];
    for _ in 0..remove {
        let mut best: Option<(usize, f64)> = None;
        for j in (0..d).filter(|&j| present[j]) {
            let p = pivot(&hinv, j)?;
            let s: f64 = (0..rows)
                .map(|r| out.weights.get(r, j).powi(2) / (2.0 * p))
                .sum();
            if best.is_none_or(|(_, b)| s < b) {
                best = Some((j, s));
            }
        }
        let Some((q, _)) = best else { break };
        let p = hinv.get(q, q);
        for r in 0..rows {
            let w = &mut out.weights.data[r * d..(r + 1) * d];
            out.loss_increase[r] += w[q] * w[q] / (2.0 * p);
            compensate(w, &hinv, q);
            out.mask[r * d + q] = false;
        }
        downdate(&mut hinv, q);
        present[q] = false;
    }
    check_finite(&out.weights.data, "OBS updated weights")?;
    Ok(out)
}

/// Validates the inputs of a pruning call and returns `H⁻¹`.
fn prepare(weights: &Matrix, hessian: &Matrix, remove: usize) -> Result<Matrix> {
    check_matrix(weights, "OBS weights")?;
    let d = weights.cols;
    if remove >= d {
        return Err(DataError::invalid(
            "OBS removals per row",
            format!("{remove} ≥ d = {d}; at least one weight per row must stay"),
        ));
    }
    super::check_symmetric(hessian, d, "OBS Hessian")?;
    inverse_hessian(hessian)
}

/// `[H⁻¹]_jj`, or an error when it is not positive (lost to rounding in an ill-conditioned
/// problem).
fn pivot(hinv: &Matrix, j: usize) -> Result<f64> {
    let p = hinv.get(j, j);
    if p > 0.0 && p.is_finite() {
        Ok(p)
    } else {
        Err(DataError::Numerical {
            problem: "OBS inverse Hessian".to_string(),
            reason: format!(
                "diagonal entry {j} is {p:e}, not positive; H is too ill-conditioned, raise \
                 the damping"
            ),
        })
    }
}

/// The OBS update `w ← w − (w_q/[H⁻¹]_qq)·H⁻¹·e_q`, with `w_q` set to exactly zero.
/// Coordinates already removed are untouched (their column of `H⁻¹` is zero).
fn compensate(w: &mut [f64], hinv: &Matrix, q: usize) {
    let f = w[q] / hinv.get(q, q);
    if f != 0.0 {
        for (i, wi) in w.iter_mut().enumerate() {
            *wi -= f * hinv.get(i, q);
        }
    }
    w[q] = 0.0;
}

/// `H⁻¹ ← H⁻¹ − H⁻¹·e_q·e_qᵀ·H⁻¹/[H⁻¹]_qq`, kept exactly symmetric, with row and column `q`
/// set to exactly zero.
fn downdate(hinv: &mut Matrix, q: usize) {
    let d = hinv.cols;
    let p = hinv.get(q, q);
    let col: Vec<f64> = (0..d).map(|i| hinv.get(i, q)).collect();
    for (i, &ci) in col.iter().enumerate() {
        if ci == 0.0 {
            continue;
        }
        let a = ci / p;
        for (j, &cj) in col.iter().enumerate().skip(i) {
            let v = hinv.get(i, j) - a * cj;
            *hinv.get_mut(i, j) = v;
            *hinv.get_mut(j, i) = v;
        }
    }
    for i in 0..d {
        *hinv.get_mut(i, q) = 0.0;
        *hinv.get_mut(q, i) = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{InputMoments, ObsConfig};
    use super::*;
    use crate::linalg::least_squares;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A least-squares layer: `n × d` inputs whose columns share `factors` latent factors
    /// (`x_j = z_{j mod factors} + noise_x·u_j`), targets `Y = X·W₀ᵀ + noise_y·ε` (`n × rows`)
    /// and the least-squares optimum `W*` (`rows × d`) that pruning starts from.
    struct Layer {
        x: Matrix,
        y: Matrix,
        w: Matrix,
    }

    fn layer(
        seed: u64,
        n: usize,
        d: usize,
        rows: usize,
        factors: usize,
        noise_x: f64,
        noise_y: f64,
    ) -> Layer {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut x = Matrix::zeros(n, d);
        for i in 0..n {
            let z: Vec<f64> = (0..factors).map(|_| rng.random_range(-1.0..1.0)).collect();
            for j in 0..d {
                *x.get_mut(i, j) = z[j % factors] + noise_x * rng.random_range(-1.0..1.0);
            }
        }
        let w0 = Matrix::from_vec(
            rows,
            d,
            (0..rows * d).map(|_| rng.random_range(-1.0..1.0)).collect(),
        )
        .unwrap();
        let mut y = x.matmul(&w0.transpose()).unwrap();
        for v in &mut y.data {
            *v += noise_y * rng.random_range(-1.0..1.0);
        }
        let w = least_squares(&x, &y, 0.0, "test").unwrap().transpose();
        Layer { x, y, w }
    }

    impl Layer {
        fn hessian(&self, damping: f64) -> Matrix {
            let mut m = InputMoments::new(self.x.cols);
            m.add_batch(&self.x).unwrap();
            m.hessian(damping).unwrap()
        }

        /// The layer-wise loss `1/(2N)·‖y_r − X·w‖²` of row `r` with weights `w`.
        fn loss(&self, r: usize, w: &[f64]) -> f64 {
            let n = self.x.rows;
            (0..n)
                .map(|i| {
                    let pred: f64 = self.x.row(i).iter().zip(w).map(|(a, b)| a * b).sum();
                    (self.y.get(i, r) - pred).powi(2)
                })
                .sum::<f64>()
                / (2.0 * n as f64)
        }

        /// The closed-form constrained optimum: least squares of `y_r` on the `kept` columns
        /// only, with zeros elsewhere.
        fn constrained(&self, r: usize, kept: &[bool]) -> Vec<f64> {
            let cols: Vec<usize> = (0..self.x.cols).filter(|&j| kept[j]).collect();
            let n = self.x.rows;
            let mut a = Matrix::zeros(n, cols.len());
            for i in 0..n {
                for (c, &j) in cols.iter().enumerate() {
                    *a.get_mut(i, c) = self.x.get(i, j);
                }
            }
            let b = Matrix::from_vec(n, 1, (0..n).map(|i| self.y.get(i, r)).collect()).unwrap();
            let sol = least_squares(&a, &b, 0.0, "test").unwrap();
            let mut w = vec![0.0; self.x.cols];
            for (c, &j) in cols.iter().enumerate() {
                w[j] = sol.get(c, 0);
            }
            w
        }
    }

    fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}: {a} vs {b}");
    }

    /// `½·δwᵀ·H·δw` for one row.
    fn quadratic(h: &Matrix, before: &[f64], after: &[f64]) -> f64 {
        let dw: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        let d = dw.len();
        let mut q = 0.0;
        for i in 0..d {
            for j in 0..d {
                q += dw[i] * h.get(i, j) * dw[j];
            }
        }
        0.5 * q
    }

    #[test]
    fn one_removal_is_the_constrained_least_squares_optimum() {
        for (seed, noise_y) in [(1, 0.0), (2, 0.3)] {
            let l = layer(seed, 200, 8, 4, 3, 0.3, noise_y);
            let h = l.hessian(0.0);
            let scores = obs_scores(&l.w, &inverse_hessian(&h).unwrap()).unwrap();
            let pruned = obs_prune(&l.w, &h, 1).unwrap();
            for r in 0..4 {
                let base = l.loss(r, l.w.row(r));
                // For every q, the one-shot saliency is the measured loss increase of the
                // best row with w_q = 0.
                let mut measured = Vec::new();
                for q in 0..8 {
                    let kept: Vec<bool> = (0..8).map(|j| j != q).collect();
                    let inc = l.loss(r, &l.constrained(r, &kept)) - base;
                    assert_close(scores.get(r, q), inc, 1e-9, "saliency vs measured");
                    measured.push(inc);
                }
                let kept = &pruned.mask[r * 8..(r + 1) * 8];
                let q = kept.iter().position(|k| !k).unwrap();
                assert_eq!(kept.iter().filter(|k| !**k).count(), 1);
                // OBS picked the weight whose removal costs least.
                let best = measured.iter().cloned().fold(f64::INFINITY, f64::min);
                assert!(measured[q] <= best + 1e-12);
                // The OBS update is the closed-form constrained solution.
                let expected = l.constrained(r, kept);
                for (a, b) in pruned.weights.row(r).iter().zip(&expected) {
                    assert!((a - b).abs() < 1e-9, "row {r}: {a} vs {b}");
                }
                assert_eq!(pruned.weights.get(r, q), 0.0);
                assert_close(pruned.loss_increase[r], measured[q], 1e-9, "loss increase");
            }
        }
    }

    #[test]
    fn sequential_removal_is_the_constrained_least_squares_optimum() {
        let l = layer(3, 300, 10, 3, 4, 0.4, 0.2);
        let h = l.hessian(0.0);
        for remove in [2, 4, 7] {
            let pruned = obs_prune(&l.w, &h, remove).unwrap();
            for r in 0..3 {
                let kept = &pruned.mask[r * 10..(r + 1) * 10];
                assert_eq!(kept.iter().filter(|k| **k).count(), 10 - remove);
                let expected = l.constrained(r, kept);
                for (a, b) in pruned.weights.row(r).iter().zip(&expected) {
                    assert!((a - b).abs() < 1e-9, "remove {remove}, row {r}: {a} vs {b}");
                }
                let measured = l.loss(r, pruned.weights.row(r)) - l.loss(r, l.w.row(r));
                assert_close(pruned.loss_increase[r], measured, 1e-9, "loss increase");
            }
        }
    }

    #[test]
    fn structured_removal_is_the_constrained_least_squares_optimum() {
        let l = layer(4, 250, 9, 5, 3, 0.3, 0.2);
        let h = l.hessian(0.0);
        // The first input removed is the one whose removal costs the whole layer least.
        let one = obs_prune_inputs(&l.w, &h, 1).unwrap();
        let q = (0..9).find(|&j| !one.mask[j]).unwrap();
        let cost = |j: usize| -> f64 {
            let kept: Vec<bool> = (0..9).map(|c| c != j).collect();
            (0..5)
                .map(|r| l.loss(r, &l.constrained(r, &kept)) - l.loss(r, l.w.row(r)))
                .sum()
        };
        let best = (0..9).map(cost).fold(f64::INFINITY, f64::min);
        assert!(cost(q) <= best + 1e-12);
        assert_close(one.total_loss_increase(), cost(q), 1e-9, "layer loss");

        let pruned = obs_prune_inputs(&l.w, &h, 4).unwrap();
        let kept: Vec<bool> = pruned.mask[..9].to_vec();
        assert_eq!(kept.iter().filter(|k| !**k).count(), 4);
        for r in 0..5 {
            assert_eq!(
                &pruned.mask[r * 9..(r + 1) * 9],
                &kept[..],
                "same columns in every row"
            );
            let expected = l.constrained(r, &kept);
            for (a, b) in pruned.weights.row(r).iter().zip(&expected) {
                assert!((a - b).abs() < 1e-9, "row {r}: {a} vs {b}");
            }
            let measured = l.loss(r, pruned.weights.row(r)) - l.loss(r, l.w.row(r));
            assert_close(pruned.loss_increase[r], measured, 1e-9, "row loss");
        }
    }

    #[test]
    fn obs_beats_magnitude_pruning_on_correlated_inputs() {
        // 16 inputs built from 4 latent factors: strongly correlated columns. Measured with
        // this seed the ratio is about 290; the assertion asks for a clear 50.
        const FACTOR: f64 = 50.0;
        let (d, rows) = (16, 8);
        let l = layer(5, 400, d, rows, 4, 0.05, 0.0);
        let h = ObsConfig::default()
            .hessian(&{
                let mut m = InputMoments::new(d);
                m.add_batch(&l.x).unwrap();
                m
            })
            .unwrap();
        let obs = obs_prune(&l.w, &h, d / 2).unwrap();
        let mut obs_loss = 0.0;
        let mut magnitude_loss = 0.0;
        for r in 0..rows {
            let base = l.loss(r, l.w.row(r));
            obs_loss += l.loss(r, obs.weights.row(r)) - base;
            // Magnitude pruning at the same 50% sparsity: zero the smaller half, no update.
            let mut order: Vec<usize> = (0..d).collect();
            order.sort_by(|&a, &b| l.w.get(r, a).abs().total_cmp(&l.w.get(r, b).abs()));
            let mut w = l.w.row(r).to_vec();
            for &j in &order[..d / 2] {
                w[j] = 0.0;
            }
            magnitude_loss += l.loss(r, &w) - base;
        }
        eprintln!("OBS loss {obs_loss:e}, magnitude loss {magnitude_loss:e}");
        assert_eq!(obs.mask.iter().filter(|k| !**k).count(), rows * d / 2);
        assert!(
            obs_loss * FACTOR < magnitude_loss,
            "OBS {obs_loss} should be {FACTOR}× below magnitude {magnitude_loss}"
        );
    }

    #[test]
    fn damping_makes_a_dead_input_prunable() {
        // Input 2 is always zero: H is singular without damping.
        let x = Matrix::from_vec(
            4,
            3,
            vec![1.0, 0.5, 0.0, -1.0, 2.0, 0.0, 0.3, 0.3, 0.0, 2.0, -1.0, 0.0],
        )
        .unwrap();
        let mut m = InputMoments::new(3);
        m.add_batch(&x).unwrap();
        let w = Matrix::from_vec(1, 3, vec![1.0, 1.0, 5.0]).unwrap();
        let err = obs_prune(&w, &m.hessian(0.0).unwrap(), 1).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Numerical { .. }));
        assert!(
            msg.contains("positive definite") && msg.contains("damping"),
            "{msg}"
        );
        let pruned = obs_prune(&w, &ObsConfig::default().hessian(&m).unwrap(), 1).unwrap();
        // The large weight on the dead input is the cheapest to remove and the rest stays.
        assert_eq!(pruned.mask, vec![true, true, false]);
        assert_eq!(pruned.weights.data, vec![1.0, 1.0, 0.0]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let h = Matrix::identity(3);
        let w = Matrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        type Prune = fn(&Matrix, &Matrix, usize) -> Result<ObsResult>;
        let prune_fns: [Prune; 2] = [obs_prune, obs_prune_inputs];
        for prune in prune_fns {
            assert!(matches!(
                prune(&w, &Matrix::identity(4), 1),
                Err(DataError::Shape { .. })
            ));
            assert!(matches!(
                prune(&w, &Matrix::zeros(3, 4), 1),
                Err(DataError::Shape { .. })
            ));
            for k in [3, 4] {
                assert!(matches!(
                    prune(&w, &h, k),
                    Err(DataError::InvalidConfig { .. })
                ));
            }
            let mut nan = w.clone();
            nan.data[4] = f64::NAN;
            assert!(matches!(
                prune(&nan, &h, 1),
                Err(DataError::Numerical { .. })
            ));
            let mut inf = h.clone();
            inf.data[1] = f64::INFINITY;
            assert!(matches!(
                prune(&w, &inf, 1),
                Err(DataError::Numerical { .. })
            ));
            let asym =
                Matrix::from_vec(3, 3, vec![2.0, 0.5, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0]).unwrap();
            assert!(matches!(
                prune(&w, &asym, 1),
                Err(DataError::Numerical { .. })
            ));
            let indefinite =
                Matrix::from_vec(3, 3, vec![1.0, 2.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0]).unwrap();
            let msg = prune(&w, &indefinite, 1).unwrap_err().to_string();
            assert!(
                msg.contains("positive definite") && msg.contains("damping"),
                "{msg}"
            );
            let malformed = Matrix {
                rows: 2,
                cols: 3,
                data: vec![1.0; 5],
            };
            assert!(matches!(
                prune(&malformed, &h, 1),
                Err(DataError::Shape { .. })
            ));
            let empty = Matrix::zeros(1, 0);
            assert!(matches!(
                prune(&empty, &Matrix::zeros(0, 0), 0),
                Err(DataError::InvalidConfig { .. })
            ));
        }
        assert!(matches!(
            obs_scores(&w, &Matrix::identity(2)),
            Err(DataError::Shape { .. })
        ));
        let mut zero_diag = Matrix::identity(3);
        *zero_diag.get_mut(1, 1) = 0.0;
        assert!(matches!(
            obs_scores(&w, &zero_diag),
            Err(DataError::Numerical { .. })
        ));
        assert!(matches!(
            inverse_hessian(&Matrix::zeros(2, 3)),
            Err(DataError::Shape { .. })
        ));
        // Removing nothing is allowed and changes nothing.
        let same = obs_prune(&w, &h, 0).unwrap();
        assert_eq!(same.weights, w);
        assert_eq!(same.loss_increase, vec![0.0, 0.0]);
    }

    fn spd_and_weights() -> impl Strategy<Value = (usize, usize, Matrix, Matrix, usize)> {
        (2usize..=6, 1usize..=3).prop_flat_map(|(d, rows)| {
            (
                prop::collection::vec(-2.0f64..2.0, d * d),
                prop::collection::vec(-3.0f64..3.0, rows * d),
                0..d,
            )
                .prop_map(move |(a, w, remove)| {
                    let a = Matrix::from_vec(d, d, a).unwrap();
                    let mut h = a.matmul(&a.transpose()).unwrap();
                    for i in 0..d {
                        *h.get_mut(i, i) += 1.0;
                    }
                    (d, rows, h, Matrix::from_vec(rows, d, w).unwrap(), remove)
                })
        })
    }

    proptest! {
        #[test]
        fn obs_prune_invariants((d, rows, h, w, remove) in spd_and_weights()) {
            let pruned = obs_prune(&w, &h, remove).unwrap();
            for r in 0..rows {
                let kept = &pruned.mask[r * d..(r + 1) * d];
                prop_assert_eq!(kept.iter().filter(|k| **k).count(), d - remove);
                for j in (0..d).filter(|&j| !kept[j]) {
                    prop_assert_eq!(pruned.weights.get(r, j), 0.0);
                }
                let inc = pruned.loss_increase[r];
                prop_assert!(inc >= 0.0);
                let exact = quadratic(&h, w.row(r), pruned.weights.row(r));
                prop_assert!((inc - exact).abs() <= 1e-8 * (1.0 + exact), "{} vs {}", inc, exact);
            }
            if remove + 1 < d {
                let more = obs_prune(&w, &h, remove + 1).unwrap();
                for r in 0..rows {
                    prop_assert!(more.loss_increase[r] >= pruned.loss_increase[r]);
                }
            }
        }

        #[test]
        fn obs_prune_inputs_invariants((d, rows, h, w, remove) in spd_and_weights()) {
            let pruned = obs_prune_inputs(&w, &h, remove).unwrap();
            let kept = pruned.mask[..d].to_vec();
            prop_assert_eq!(kept.iter().filter(|k| !**k).count(), remove);
            for r in 0..rows {
                prop_assert_eq!(&pruned.mask[r * d..(r + 1) * d], &kept[..]);
                for j in (0..d).filter(|&j| !kept[j]) {
                    prop_assert_eq!(pruned.weights.get(r, j), 0.0);
                }
                let inc = pruned.loss_increase[r];
                let exact = quadratic(&h, w.row(r), pruned.weights.row(r));
                prop_assert!(inc >= 0.0);
                prop_assert!((inc - exact).abs() <= 1e-8 * (1.0 + exact), "{} vs {}", inc, exact);
            }
        }
    }
}

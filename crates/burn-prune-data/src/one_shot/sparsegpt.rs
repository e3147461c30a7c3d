//! SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be
//! Accurately Pruned in One-Shot"): columns processed left to right in blocks, the mask
//! chosen adaptively inside each block, and every removal compensated by an OBS update of
//! the weights not processed yet, through the upper Cholesky factor of `H⁻¹`.

use super::target::{SparsityTarget, lowest};
use crate::error::{DataError, Result};
use crate::hessian::{ObsResult, check_finite, check_matrix};
use crate::linalg::{Matrix, cholesky};

/// The default column block of [`sparsegpt_prune`] (the paper's 128).
pub const DEFAULT_BLOCK_SIZE: usize = 128;

/// SparseGPT pruning of a `rows × d` weight matrix (row `r` = output `r`'s weights, see
/// [`hessian`](crate::hessian)) given the **undamped** `d × d` layer Hessian `H ∝ X·Xᵀ` of its
/// inputs (e.g. [`InputMoments::hessian(0.0)`](crate::hessian::InputMoments::hessian); any
/// positive multiple gives the same result, except for the diagonal of dead inputs).
///
/// As in the reference implementation:
///
/// 1. dead inputs (`H_jj = 0`) get `H_jj = 1` and their weights set to 0;
/// 2. `H += λ·mean(diag H)·I` with `λ = damping` (the paper's 1% is
///    [`DEFAULT_DAMPING`](crate::hessian::DEFAULT_DAMPING));
/// 3. `U` = the upper Cholesky factor of `H⁻¹` (`H⁻¹ = Uᵀ·U`);
/// 4. columns are processed in blocks of `block`: at the start of a block each output removes
///    its share of the unstructured target among the block's columns by the smallest
///    `w_rc² / U_cc²` (adaptive mask selection: `w` already holds the earlier updates); with
///    N:M, at the first column of each group of `m` each output removes the `m − n` smallest
///    of the group (the block is rounded up to a multiple of `m`);
/// 5. after column `c`, each row's error `e = (w_c − q_c)/U_cc` (`q_c` = 0 if removed, `w_c`
///    if kept) updates the row's later columns of the block by `−e·U_{c,:}`, which is the OBS
///    step `δ = −(w_c/[H_F⁻¹]_cc)·[H_F⁻¹]_{c,:}` on the columns `F` not processed yet; later
///    blocks get the block's errors at once (lazy batch update).
///
/// Unstructured: each output removes `k = target.pruned_per_output(d)` weights, of which the
/// block `[i₁, i₂)` takes `round(k·i₂/d) − round(k·i₁/d)`, so the sparsity is exact per
/// output. Ties go to the lower column index.
///
/// The result's `loss_increase[r]` is `½·Σ_c e_c²`, which equals `½·δwᵀ·H·δw` for the
/// modified, damped `H` of steps 1–2 (`H = 2·X·Xᵀ` makes it the squared output error).
///
/// Cost: two `d³` Cholesky factorizations and one inversion, then `O(rows·d²)`.
///
/// ```
/// use burn_prune_data::linalg::Matrix;
/// use burn_prune_data::one_shot::{SparsityTarget, sparsegpt_prune};
///
/// // Inputs 0 and 1 are nearly the same signal: removing w₀ moves its part onto w₁.
/// let h = Matrix::from_vec(3, 3, vec![1.0, 0.99, 0.0, 0.99, 1.0, 0.0, 0.0, 0.0, 1.0])?;
/// let w = Matrix::from_vec(1, 3, vec![0.3, 1.0, 2.0])?;
/// let r = sparsegpt_prune(&w, &h, SparsityTarget::Unstructured(0.34), 128, 0.0)?;
/// assert_eq!(r.mask, vec![false, true, true]);
/// assert_eq!(r.weights.get(0, 0), 0.0);
/// assert!((r.weights.get(0, 1) - 1.297).abs() < 1e-9); // 1.0 + 0.3·0.99
/// # Ok::<(), burn_prune_data::DataError>(())
/// ```
///
/// Errors ([`DataError`]): an invalid target or N:M with `d` not divisible by `m`;
/// `block = 0`; a negative or non-finite `damping`; shapes that disagree; non-finite values;
/// an `H` that is not symmetric, or not positive definite after steps 1–2 (raise the
/// damping).
pub fn sparsegpt_prune(
    weights: &Matrix,
    hessian: &Matrix,
    target: SparsityTarget,
    block: usize,
    damping: f64,
) -> Result<ObsResult> {
    check_matrix(weights, "SparseGPT weights")?;
    let (rows, d) = (weights.rows, weights.cols);
    target.check_inputs(d, "SparseGPT weights")?;
    if block == 0 {
        return Err(DataError::invalid(
            "SparseGPT block size",
            "0; it must be at least 1",
        ));
    }
    if !(damping.is_finite() && damping >= 0.0) {
        return Err(DataError::invalid(
            "SparseGPT damping",
            format!("{damping} must be finite and ≥ 0"),
        ));
    }
    crate::hessian::check_symmetric(hessian, d, "SparseGPT Hessian")?;
    let mut h = hessian.clone();
    let mut w = weights.data.clone();
    for i in 0..d {
        if h.get(i, i) == 0.0 {
            *h.get_mut(i, i) = 1.0;
            for r in 0..rows {
                w[r * d + i] = 0.0;
            }
        }
    }
    if d > 0 {
        let mean = (0..d).map(|i| h.get(i, i)).sum::<f64>() / d as f64;
        for i in 0..d {
            *h.get_mut(i, i) += damping * mean;
        }
    }
    let u = upper_inverse_factor(&h)?;
    let block = match target {
        SparsityTarget::NM { m, .. } => block.div_ceil(m) * m,
        SparsityTarget::Unstructured(_) => block,
    };
    let k = target.pruned_per_output(d);
    // Removals of the first `i` columns: round(k·i/d), exact at i = d.
    let allot = |i: usize| (2 * k * i + d) / (2 * d).max(1);
    let mut keep = vec![true; rows * d];
    let mut loss = vec![0.0; rows];
    let mut i1 = 0;
    while i1 < d {
        let i2 = (i1 + block).min(d);
        let count = i2 - i1;
        if let SparsityTarget::Unstructured(_) = target {
            let remove = allot(i2) - allot(i1);
            if remove > 0 {
                for r in 0..rows {
                    let scores: Vec<f64> = (i1..i2)
                        .map(|j| w[r * d + j].powi(2) / u.get(j, j).powi(2))
                        .collect();
                    for j in lowest(&scores, remove) {
                        keep[r * d + i1 + j] = false;
                    }
                }
            }
        }
        let mut err = vec![0.0; rows * count];
        for c in i1..i2 {
            if let SparsityTarget::NM { n, m } = target
                && c % m == 0
            {
                for r in 0..rows {
                    let scores: Vec<f64> = (c..c + m)
                        .map(|j| w[r * d + j].powi(2) / u.get(j, j).powi(2))
                        .collect();
                    for j in lowest(&scores, m - n) {
                        keep[r * d + c + j] = false;
                    }
                }
            }
            let ucc = u.get(c, c);
            let u_row = &u.data[c * d..(c + 1) * d];
            for r in 0..rows {
                let row = &mut w[r * d..(r + 1) * d];
                let wc = row[c];
                let q = if keep[r * d + c] { wc } else { 0.0 };
                let e = (wc - q) / ucc;
                if e != 0.0 {
                    for j in c + 1..i2 {
                        row[j] -= e * u_row[j];
                    }
                    loss[r] += 0.5 * e * e;
                }
                row[c] = q;
                err[r * count + (c - i1)] = e;
            }
        }
        if i2 < d {
            for r in 0..rows {
                for (t, c) in (i1..i2).enumerate() {
                    let e = err[r * count + t];
                    if e != 0.0 {
                        let u_row = &u.data[c * d..(c + 1) * d];
                        let row = &mut w[r * d..(r + 1) * d];
                        for j in i2..d {
                            row[j] -= e * u_row[j];
                        }
                    }
                }
            }
        }
        i1 = i2;
    }
    check_finite(&w, "SparseGPT updated weights")?;
    Ok(ObsResult {
        weights: Matrix::from_vec(rows, d, w)?,
        mask: keep,
        loss_increase: loss,
    })
}

/// The upper Cholesky factor `U` of `H⁻¹` (`H⁻¹ = Uᵀ·U`), row-major, as the reference code
/// computes it: `cholesky(H)`, its inverse, then the upper factor of that. A pivot of `H`'s
/// factorization below `10⁻¹²·max diag H` counts as singular.
fn upper_inverse_factor(h: &Matrix) -> Result<Matrix> {
    const PROBLEM: &str = "SparseGPT Hessian";
    let singular = || DataError::Numerical {
        problem: PROBLEM.into(),
        reason: format!(
            "the {n}×{n} damped Hessian is not positive definite (collinear inputs?); raise \
             the damping λ of H + λ·mean(diag H)·I",
            n = h.rows
        ),
    };
    let factor = cholesky(h, PROBLEM).map_err(|_| singular())?;
    let max_diag = (0..h.rows).map(|i| h.get(i, i)).fold(0.0_f64, f64::max);
    let l = factor.l();
    if (0..h.rows).any(|i| l[(i, i)].powi(2) <= 1e-12 * max_diag) {
        return Err(singular());
    }
    let mut inv = Matrix::from_nalgebra(&factor.inverse());
    let n = inv.rows;
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (inv.get(i, j) + inv.get(j, i));
            *inv.get_mut(i, j) = v;
            *inv.get_mut(j, i) = v;
        }
    }
    check_finite(&inv.data, "SparseGPT inverse Hessian")?;
    let upper = cholesky(&inv, "SparseGPT inverse Hessian").map_err(|_| singular())?;
    Ok(Matrix::from_nalgebra(&upper.l().transpose()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_factor_reproduces_the_inverse() {
        let h = Matrix::from_vec(3, 3, vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0]).unwrap();
        let u = upper_inverse_factor(&h).unwrap();
        let inv = u.transpose().matmul(&u).unwrap();
        let id = h.matmul(&inv).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                assert!((id.get(i, j) - f64::from(i == j)).abs() < 1e-12);
                if j < i {
                    assert_eq!(u.get(i, j), 0.0, "upper triangular");
                }
            }
        }
    }

    #[test]
    fn no_pruning_keeps_the_weights() {
        let h = Matrix::identity(4);
        let w = Matrix::from_vec(2, 4, vec![1.0, -2.0, 3.0, 0.5, 0.1, 0.2, 0.3, 0.4]).unwrap();
        let r = sparsegpt_prune(&w, &h, SparsityTarget::Unstructured(0.0), 2, 0.01).unwrap();
        assert_eq!(r.weights, w);
        assert!(r.mask.iter().all(|&k| k));
    }
}

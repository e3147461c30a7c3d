//! Wanda (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language
//! Models"): weights scored by their magnitude times the norm of their input, compared per
//! output, no weight update.

use super::target::{SparsityTarget, keep_highest};
use crate::error::{DataError, Result};
use crate::hessian::{check_finite, check_matrix};
use crate::linalg::Matrix;

/// Wanda scores `S_rj = |W_rj|·‖X_j‖₂` of a `rows × d` weight matrix (row `r` = output `r`'s
/// weights, see [`hessian`](crate::hessian)) given the `d` input norms `‖X_j‖₂`, the
/// Euclidean norm of input feature `j` over every calibration row (token, sample or conv
/// position). The result has the shape of `weights`.
///
/// Errors: `input_norms` of another length than `d`, a norm that is negative or not finite,
/// a weight that is not finite.
pub fn wanda_scores(weights: &Matrix, input_norms: &[f64]) -> Result<Matrix> {
    check_matrix(weights, "Wanda weights")?;
    if input_norms.len() != weights.cols {
        return Err(DataError::shape(
            "Wanda input norms",
            weights.cols,
            input_norms.len(),
        ));
    }
    check_finite(input_norms, "Wanda input norms")?;
    if let Some(j) = input_norms.iter().position(|&n| n < 0.0) {
        return Err(DataError::invalid(
            "Wanda input norms",
            format!("norm {j} is {} (negative)", input_norms[j]),
        ));
    }
    let d = weights.cols;
    let data = weights
        .data
        .iter()
        .enumerate()
        .map(|(k, w)| w.abs() * input_norms[k % d])
        .collect();
    Matrix::from_vec(weights.rows, d, data)
}

/// The Wanda mask of a `rows × d` weight matrix: row-major flags, `true` = kept. Each output
/// (row) loses its lowest [`wanda_scores`]: `target.pruned_per_output(d)` of them
/// (unstructured), or `m − n` of every `m` consecutive inputs (N:M). Ties go to the lower
/// input index (it is removed first).
///
/// ```
/// use burn_prune_data::linalg::Matrix;
/// use burn_prune_data::one_shot::{SparsityTarget, wanda_mask};
///
/// // One output, two inputs: the small weight sits on the input 100× larger, so Wanda keeps
/// // it (0.1·100 = 10 > 1·1) where magnitude pruning would not.
/// let w = Matrix::from_vec(1, 2, vec![0.1, 1.0])?;
/// let keep = wanda_mask(&w, &[100.0, 1.0], SparsityTarget::Unstructured(0.5))?;
/// assert_eq!(keep, vec![true, false]);
/// # Ok::<(), burn_prune_data::DataError>(())
/// ```
///
/// Errors: those of [`wanda_scores`], an invalid target, N:M with `d` not divisible by `m`.
pub fn wanda_mask(
    weights: &Matrix,
    input_norms: &[f64],
    target: SparsityTarget,
) -> Result<Vec<bool>> {
    target.check_inputs(weights.cols, "Wanda weights")?;
    let scores = wanda_scores(weights, input_norms)?;
    Ok(keep_highest(
        &scores.data,
        weights.rows,
        weights.cols,
        target,
    ))
}

//! Optimal Brain Damage (LeCun, Denker & Solla, 1990).

use super::{check_finite, check_matrix};
use crate::error::{DataError, Result};
use crate::linalg::Matrix;

/// OBD saliencies `s_ij = ½·h_jj·w_ij²` of a `rows × d` weight matrix, given a diagonal
/// Hessian estimate `hessian_diagonal` of length `d` (one entry per input, shared by all rows,
/// e.g. [`InputMoments::diagonal`](super::InputMoments::diagonal) in the layer-wise setting).
///
/// OBD keeps only the diagonal of the second-order Taylor expansion of the loss, so `s_ij` is
/// the predicted loss increase of setting `w_ij` to zero *without* adjusting the other weights.
/// A smaller score means a less important weight. The result has the shape of `weights`.
///
/// Errors: `hessian_diagonal.len() != d`, a non-finite value, or a negative diagonal entry (a
/// Gauss–Newton or Fisher diagonal is never negative).
pub fn obd_scores(weights: &Matrix, hessian_diagonal: &[f64]) -> Result<Matrix> {
    check_matrix(weights, "OBD weights")?;
    if hessian_diagonal.len() != weights.cols {
        return Err(DataError::shape(
            "OBD Hessian diagonal length",
            weights.cols,
            hessian_diagonal.len(),
        ));
    }
    check_finite(hessian_diagonal, "OBD Hessian diagonal")?;
    if let Some(j) = hessian_diagonal.iter().position(|&h| h < 0.0) {
        return Err(DataError::invalid(
            "OBD Hessian diagonal",
            format!(
                "entry {j} is {} < 0; a saliency needs a non-negative curvature",
                hessian_diagonal[j]
            ),
        ));
    }
    let d = weights.cols;
    let data = weights
        .data
        .iter()
        .enumerate()
        .map(|(k, w)| 0.5 * hessian_diagonal[k % d] * w * w)
        .collect();
    Matrix::from_vec(weights.rows, d, data)
}

#[cfg(test)]
mod tests {
    use super::super::{inverse_hessian, obs_prune, obs_scores};
    use super::*;

    #[test]
    fn hand_computed_two_by_two() {
        let w = Matrix::from_vec(2, 2, vec![1.0, -2.0, 3.0, 0.5]).unwrap();
        let s = obd_scores(&w, &[2.0, 4.0]).unwrap();
        // ½·2·1 = 1, ½·4·4 = 8, ½·2·9 = 9, ½·4·0.25 = 0.5.
        assert_eq!(s.data, vec![1.0, 8.0, 9.0, 0.5]);
        assert_eq!((s.rows, s.cols), (2, 2));
    }

    #[test]
    fn with_a_diagonal_hessian_obd_and_obs_agree() {
        let h_diag = [0.5, 2.0, 3.0, 0.25];
        let mut h = Matrix::zeros(4, 4);
        for (i, v) in h_diag.iter().enumerate() {
            *h.get_mut(i, i) = *v;
        }
        let w = Matrix::from_vec(2, 4, vec![1.0, -0.7, 0.2, 3.0, -1.5, 0.1, 0.9, -2.0]).unwrap();
        let obd = obd_scores(&w, &h_diag).unwrap();
        let obs = obs_scores(&w, &inverse_hessian(&h).unwrap()).unwrap();
        for (a, b) in obd.data.iter().zip(&obs.data) {
            assert!((a - b).abs() < 1e-14 * a.abs().max(1.0), "{a} vs {b}");
        }
        // With no off-diagonal curvature OBS cannot compensate: the kept weights are
        // unchanged and the loss increase is the sum of the removed OBD saliencies.
        let pruned = obs_prune(&w, &h, 2).unwrap();
        for r in 0..2 {
            let mut removed = 0.0;
            for j in 0..4 {
                if pruned.mask[r * 4 + j] {
                    assert_eq!(pruned.weights.get(r, j), w.get(r, j));
                } else {
                    removed += obd.get(r, j);
                }
            }
            assert!((pruned.loss_increase[r] - removed).abs() < 1e-14);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let w = Matrix::from_vec(1, 2, vec![1.0, 2.0]).unwrap();
        assert!(matches!(
            obd_scores(&w, &[1.0]),
            Err(DataError::Shape { .. })
        ));
        assert!(matches!(
            obd_scores(&w, &[1.0, f64::NAN]),
            Err(DataError::Numerical { .. })
        ));
        assert!(matches!(
            obd_scores(&w, &[1.0, -1.0]),
            Err(DataError::InvalidConfig { .. })
        ));
        let inf = Matrix::from_vec(1, 2, vec![f64::INFINITY, 2.0]).unwrap();
        assert!(matches!(
            obd_scores(&inf, &[1.0, 1.0]),
            Err(DataError::Numerical { .. })
        ));
    }
}

//! Second-order saliencies: Optimal Brain Damage (OBD) and layer-wise Optimal Brain
//! Surgeon (OBS), computed on the host in `f64`.
//!
//! # The layer-wise setting
//!
//! A linear layer computes `y = W·x` with `W` stored here as a `rows × d` [`Matrix`]: row `r`
//! holds output `r`'s weights over the `d` inputs. (Burn's `Linear` stores its weight as
//! `[d_in, d_out]`; transpose it before calling these functions, and transpose back after.)
//!
//! Pruning changes `W₀` into `W = W₀ + δW`. Over `N` calibration inputs `x_n` the layer-wise
//! reconstruction loss is
//!
//! ```text
//! E(W) = 1/(2N) · Σ_n ‖(W − W₀)·x_n‖²  =  Σ_r ½ · δw_rᵀ · H · δw_r,
//! H    = 1/N · Σ_n x_n·x_nᵀ              (d × d)
//! ```
//!
//! so every output row has the same Hessian `H`, the second moment of the layer's inputs (the
//! empirical Fisher of the layer-wise squared error). [`InputMoments`] accumulates it batch by
//! batch in `d²` memory, and [`InputMoments::hessian`] returns it damped as
//! `H + λ·mean(diag H)·I`, which keeps it positive definite when some inputs are dead or
//! collinear.
//!
//! * [`obd_scores`] — Optimal Brain Damage: `s_ij = ½·h_jj·w_ij²`, only the diagonal of `H`.
//! * [`obs_scores`] — one-shot OBS saliencies `s_ij = w_ij² / (2·[H⁻¹]_jj)`.
//! * [`obs_prune`] — OBS pruning of single weights, row by row, with the optimal update of the
//!   remaining weights after each removal.
//! * [`obs_prune_inputs`] — structured OBS: removes whole input columns (input channels) from
//!   every row at once.

mod obd;
mod obs;

pub use obd::obd_scores;
pub use obs::{ObsResult, inverse_hessian, obs_prune, obs_prune_inputs, obs_scores};

use crate::error::{DataError, Result};
use crate::linalg::Matrix;

/// The default relative damping `λ` of [`ObsConfig`]: `H + 0.01·mean(diag H)·I`, the value
/// used by OBC and SparseGPT.
pub const DEFAULT_DAMPING: f64 = 1e-2;

/// Settings of layer-wise OBS.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObsConfig {
    /// Relative damping `λ ≥ 0`: the Hessian used is `H + λ·mean(diag H)·I`. Zero gives the
    /// exact Hessian (which must then be positive definite); larger values trade exactness for
    /// stability. Default [`DEFAULT_DAMPING`] (`0.01`).
    pub damping: f64,
}

impl Default for ObsConfig {
    fn default() -> Self {
        Self {
            damping: DEFAULT_DAMPING,
        }
    }
}

impl ObsConfig {
    /// An error unless `damping` is finite and `≥ 0`.
    pub fn validate(&self) -> Result<()> {
        check_damping(self.damping)
    }

    /// The damped layer-wise Hessian of `moments` with this configuration's damping.
    pub fn hessian(&self, moments: &InputMoments) -> Result<Matrix> {
        moments.hessian(self.damping)
    }
}

/// Streaming accumulator of the input second moment `Σ_n x_n·x_nᵀ` of a linear layer.
///
/// Memory is `d²` values however many batches are added.
#[derive(Clone, Debug, PartialEq)]
pub struct InputMoments {
    d: usize,
    n: usize,
    sum_xxt: Matrix,
}

impl InputMoments {
    /// An empty accumulator for `d` inputs.
    pub fn new(d: usize) -> Self {
        Self {
            d,
            n: 0,
            sum_xxt: Matrix::zeros(d, d),
        }
    }

    /// The number of inputs `d`.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The number of samples accumulated so far.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The raw sum `Σ_n x_n·x_nᵀ` (`d × d`), not averaged.
    pub fn sum_xxt(&self) -> &Matrix {
        &self.sum_xxt
    }

    /// Adds a batch `x` with one sample per row (`samples × d`). An error, leaving the
    /// accumulator unchanged, when `x` does not have `d` columns or holds a non-finite value.
    /// An empty batch changes nothing.
    pub fn add_batch(&mut self, x: &Matrix) -> Result<()> {
        check_matrix(x, "input batch")?;
        if x.cols != self.d {
            return Err(DataError::shape("input batch columns", self.d, x.cols));
        }
        let g = x.gram();
        for (s, v) in self.sum_xxt.data.iter_mut().zip(&g.data) {
            *s += v;
        }
        self.n += x.rows;
        Ok(())
    }

    /// The layer-wise Hessian `H = Σ x·xᵀ / N`, damped as `H + damping·mean(diag H)·I`.
    ///
    /// An error when no sample was added or `damping` is negative or not finite. The result
    /// is symmetric; whether it is positive definite is checked where it is factorized.
    pub fn hessian(&self, damping: f64) -> Result<Matrix> {
        check_damping(damping)?;
        if self.n == 0 {
            return Err(DataError::Model {
                method: "layer-wise Hessian",
                reason: "no input samples were accumulated".to_string(),
            });
        }
        let inv_n = 1.0 / self.n as f64;
        let mut h = Matrix {
            rows: self.d,
            cols: self.d,
            data: self.sum_xxt.data.iter().map(|v| v * inv_n).collect(),
        };
        if self.d > 0 && damping > 0.0 {
            let mean_diag = (0..self.d).map(|i| h.get(i, i)).sum::<f64>() / self.d as f64;
            for i in 0..self.d {
                *h.get_mut(i, i) += damping * mean_diag;
            }
        }
        Ok(h)
    }

    /// The diagonal of the undamped `H = Σ x·xᵀ / N`, i.e. the mean square of each input
    /// (the OBD Hessian estimate). All zeros while no sample was added.
    pub fn diagonal(&self) -> Vec<f64> {
        let inv_n = if self.n == 0 {
            0.0
        } else {
            1.0 / self.n as f64
        };
        (0..self.d)
            .map(|i| self.sum_xxt.get(i, i) * inv_n)
            .collect()
    }
}

fn check_damping(damping: f64) -> Result<()> {
    if damping.is_finite() && damping >= 0.0 {
        Ok(())
    } else {
        Err(DataError::invalid(
            "OBS damping",
            format!("{damping} must be finite and ≥ 0"),
        ))
    }
}

/// An error when `m.data` does not hold `rows·cols` values or holds a non-finite one.
pub(crate) fn check_matrix(m: &Matrix, what: &str) -> Result<()> {
    if m.data.len() != m.rows * m.cols {
        return Err(DataError::shape(
            format!("{what} values"),
            format!("{}·{} = {}", m.rows, m.cols, m.rows * m.cols),
            m.data.len(),
        ));
    }
    check_finite(&m.data, what)
}

pub(crate) fn check_finite(values: &[f64], what: &str) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(DataError::Numerical {
            problem: what.to_string(),
            reason: format!("value {i} is {} (not finite)", values[i]),
        }),
    }
}

/// An error unless `h` is a finite, symmetric `d × d` matrix (`what` names it in the error).
pub(crate) fn check_symmetric(h: &Matrix, d: usize, what: &str) -> Result<()> {
    check_matrix(h, what)?;
    if h.rows != d || h.cols != d {
        return Err(DataError::shape(
            what,
            format!("{d}×{d}"),
            format!("{}×{}", h.rows, h.cols),
        ));
    }
    let scale = h.data.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for i in 0..d {
        for j in 0..i {
            if (h.get(i, j) - h.get(j, i)).abs() > 1e-10 * scale {
                return Err(DataError::Numerical {
                    problem: what.to_string(),
                    reason: format!(
                        "not symmetric: H[{i},{j}] = {} but H[{j},{i}] = {}",
                        h.get(i, j),
                        h.get(j, i)
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random(rng: &mut StdRng, rows: usize, cols: usize) -> Matrix {
        let data = (0..rows * cols)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Matrix::from_vec(rows, cols, data).unwrap()
    }

    fn concat(parts: &[Matrix]) -> Matrix {
        let cols = parts[0].cols;
        let data: Vec<f64> = parts.iter().flat_map(|p| p.data.clone()).collect();
        Matrix::from_vec(data.len() / cols, cols, data).unwrap()
    }

    #[test]
    fn streaming_equals_the_moment_of_the_concatenated_batch() {
        let mut rng = StdRng::seed_from_u64(7);
        let d = 5;
        let batches = [
            random(&mut rng, 7, d),
            Matrix::zeros(0, d),
            random(&mut rng, 13, d),
            random(&mut rng, 1, d),
            random(&mut rng, 9, d),
        ];
        let mut moments = InputMoments::new(d);
        for b in &batches {
            moments.add_batch(b).unwrap();
        }
        assert_eq!(moments.n(), 30);
        let all = concat(&batches);
        // XᵀX / N computed independently, as a plain matrix product.
        let expected = all.transpose().matmul(&all).unwrap();
        let h = moments.hessian(0.0).unwrap();
        for i in 0..d {
            for j in 0..d {
                let e = expected.get(i, j) / 30.0;
                assert!((h.get(i, j) - e).abs() < 1e-12, "({i},{j})");
                assert_eq!(h.get(i, j), h.get(j, i), "symmetric");
            }
        }
        let diag = moments.diagonal();
        for (i, v) in diag.iter().enumerate() {
            let mean_sq = (0..30).map(|n| all.get(n, i).powi(2)).sum::<f64>() / 30.0;
            assert!((v - mean_sq).abs() < 1e-12);
        }
    }

    #[test]
    fn damping_adds_a_multiple_of_the_mean_diagonal() {
        let x = Matrix::from_vec(2, 2, vec![1.0, 0.0, 1.0, 2.0]).unwrap();
        let mut moments = InputMoments::new(2);
        moments.add_batch(&x).unwrap();
        // H = [[1, 1], [1, 2]], mean diag = 1.5.
        let h = ObsConfig { damping: 0.1 }.hessian(&moments).unwrap();
        assert_eq!(h.data, vec![1.15, 1.0, 1.0, 2.15]);
        assert_eq!(ObsConfig::default().damping, DEFAULT_DAMPING);
    }

    #[test]
    fn bad_moments_input_is_an_error() {
        let mut moments = InputMoments::new(3);
        assert!(matches!(moments.hessian(0.0), Err(DataError::Model { .. })));
        assert_eq!(moments.diagonal(), vec![0.0; 3]);
        let wrong = Matrix::zeros(4, 2);
        assert!(matches!(
            moments.add_batch(&wrong),
            Err(DataError::Shape { .. })
        ));
        let nan = Matrix::from_vec(1, 3, vec![1.0, f64::NAN, 0.0]).unwrap();
        assert!(matches!(
            moments.add_batch(&nan),
            Err(DataError::Numerical { .. })
        ));
        let malformed = Matrix {
            rows: 2,
            cols: 3,
            data: vec![0.0; 5],
        };
        assert!(matches!(
            moments.add_batch(&malformed),
            Err(DataError::Shape { .. })
        ));
        assert_eq!(moments, InputMoments::new(3), "errors leave it unchanged");
        moments.add_batch(&Matrix::identity(3)).unwrap();
        for damping in [-1e-3, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                moments.hessian(damping),
                Err(DataError::InvalidConfig { .. })
            ));
            assert!(ObsConfig { damping }.validate().is_err());
        }
    }
}

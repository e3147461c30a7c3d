//! Channel pruning by LASSO regression and least-squares reconstruction (He et al. 2017).
//!
//! For each input channel `i` of the next layer, `Z_i = X_i·W_iᵀ` (`n × d_out`) is the next
//! layer's output computed from channel `i` alone on `n` sampled positions, and `Y`
//! (`n × d_out`) is the output to preserve (`Y = Σ_i Z_i` for the unpruned layer). The
//! selection solves
//!
//! ```text
//! min_β ‖Y − Σ_i β_i·Z_i‖²_F + λ·‖β‖₁
//! ```
//!
//! raising `λ` until at most `keep` coefficients are non-zero ([`lasso_select`]); the kept
//! channels' weights are then re-fitted by least squares ([`refit_least_squares`]).

use super::{check_matrix, normal_equations};
use crate::error::{DataError, Result};
use crate::linalg::Matrix;

const METHOD: &str = "LASSO channel pruning";
/// The first `λ` of the search, as a fraction of `λ_max = 2·max_i |⟨Z_i, Y⟩_F|`.
const START_RATIO: f64 = 1e-6;
/// The factor `λ` grows by until few enough coefficients are non-zero.
const GROWTH: f64 = 10.0;
/// The bisection stops when `λ_hi / λ_lo` is this close to 1.
const BISECTION_RATIO: f64 = 1.0 + 1e-12;

/// Limits of the LASSO solve and of the search for `λ`.
#[derive(Clone, Debug, PartialEq)]
pub struct LassoConfig {
    /// The most coordinate-descent sweeps (each `O(C²)`) per value of `λ`; the solve stops
    /// earlier once it has converged. A solve that hits the limit is used as it is.
    pub max_sweeps: usize,
    /// Convergence threshold of a solve: it stops after a sweep in which no coefficient
    /// changed by more than `tolerance · max(1, max_i |β_i|)`.
    pub tolerance: f64,
    /// The most LASSO solves (values of `λ`) the search for `λ` may run, growth and
    /// bisection together.
    pub max_lambda_steps: usize,
}

impl Default for LassoConfig {
    /// 1000 sweeps, tolerance `1e-9`, 100 values of `λ`.
    fn default() -> Self {
        Self {
            max_sweeps: 1000,
            tolerance: 1e-9,
            max_lambda_steps: 100,
        }
    }
}

impl LassoConfig {
    fn validate(&self) -> Result<()> {
        if self.max_sweeps == 0 {
            return Err(DataError::invalid("LASSO max_sweeps", "must be at least 1"));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(DataError::invalid(
                "LASSO tolerance",
                format!("{} is not a finite value ≥ 0", self.tolerance),
            ));
        }
        if self.max_lambda_steps == 0 {
            return Err(DataError::invalid(
                "LASSO max_lambda_steps",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The channels a LASSO selection keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct LassoSelection {
    /// Exactly `keep` kept channels, in increasing order: every channel with a non-zero
    /// coefficient, completed if needed by the fill rule of [`lasso_select`] (those
    /// channels have `beta` 0).
    pub kept: Vec<usize>,
    /// The LASSO coefficients at [`lambda`](Self::lambda), one per channel; 0 outside
    /// `kept`.
    pub beta: Vec<f64>,
    /// The chosen `λ`.
    pub lambda: f64,
}

/// The LASSO problem reduced to Frobenius inner products: `gram[i][j] = ⟨Z_i, Z_j⟩_F` and
/// `b[i] = ⟨Z_i, Y⟩_F`.
struct Problem {
    gram: Matrix,
    b: Vec<f64>,
}

impl Problem {
    fn new(features: &[Matrix], target: &Matrix) -> Result<Self> {
        if features.is_empty() {
            return Err(DataError::Model {
                method: METHOD,
                reason: "no channel features were given".to_string(),
            });
        }
        check_matrix(target, "target", METHOD)?;
        for (i, z) in features.iter().enumerate() {
            check_matrix(z, &format!("features of channel {i}"), METHOD)?;
            if (z.rows, z.cols) != (target.rows, target.cols) {
                return Err(DataError::shape(
                    format!("{METHOD} features of channel {i}"),
                    format!("{}×{} like the target", target.rows, target.cols),
                    format!("{}×{}", z.rows, z.cols),
                ));
            }
        }
        let dot = |a: &Matrix, b: &Matrix| a.data.iter().zip(&b.data).map(|(x, y)| x * y).sum();
        let c = features.len();
        let mut gram = Matrix::zeros(c, c);
        for i in 0..c {
            for j in i..c {
                let g: f64 = dot(&features[i], &features[j]);
                *gram.get_mut(i, j) = g;
                *gram.get_mut(j, i) = g;
            }
        }
        let b: Vec<f64> = features.iter().map(|z| dot(z, target)).collect();
        if gram.data.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(DataError::Numerical {
                problem: format!("{METHOD} inner products"),
                reason: "they overflow (the features are too large)".to_string(),
            });
        }
        Ok(Self { gram, b })
    }

    /// The smallest `λ` at which `β = 0` is optimal: `2·max_i |b_i|`.
    fn lambda_max(&self) -> f64 {
        2.0 * self.b.iter().fold(0.0f64, |m, v| m.max(v.abs()))
    }

    /// Coordinate descent for `λ`, warm-started from and written back to `beta`.
    fn solve(&self, lambda: f64, beta: &mut [f64], config: &LassoConfig) {
        let c = self.b.len();
        let half = lambda / 2.0;
        let mut q = vec![0.0; c];
        for _ in 0..config.max_sweeps {
            // q = G·β, recomputed each sweep (O(C²), like the sweep) so no drift builds up.
            for (i, qi) in q.iter_mut().enumerate() {
                *qi = self
                    .gram
                    .row(i)
                    .iter()
                    .zip(&*beta)
                    .map(|(g, b)| g * b)
                    .sum();
            }
            let (mut max_change, mut max_beta) = (0.0f64, 0.0f64);
            for i in 0..c {
                let gii = self.gram.get(i, i);
                let new = if gii > 0.0 {
                    // ⟨Z_i, R + β_i·Z_i⟩ with R = Y − Σ_j β_j·Z_j.
                    let rho = self.b[i] - q[i] + gii * beta[i];
                    soft_threshold(rho, half) / gii
                } else {
                    0.0
                };
                let change = new - beta[i];
                if change != 0.0 {
                    for (qj, g) in q.iter_mut().zip(self.gram.row(i)) {
                        *qj += change * g;
                    }
                    beta[i] = new;
                }
                max_change = max_change.max(change.abs());
                max_beta = max_beta.max(new.abs());
            }
            if max_change <= config.tolerance * max_beta.max(1.0) {
                break;
            }
        }
    }
}

/// `sign(x)·max(|x| − t, 0)`.
fn soft_threshold(x: f64, t: f64) -> f64 {
    if x > t {
        x - t
    } else if x < -t {
        x + t
    } else {
        0.0
    }
}

fn non_zero(beta: &[f64]) -> usize {
    beta.iter().filter(|b| **b != 0.0).count()
}

/// The LASSO coefficients `argmin_β ‖Y − Σ_i β_i·Z_i‖²_F + λ·‖β‖₁` for one given `λ ≥ 0`, by
/// coordinate descent from `β = 0`.
///
/// Each coordinate step is the exact 1-D minimiser
/// `β_i ← S(⟨Z_i, R + β_i·Z_i⟩_F, λ/2) / ‖Z_i‖²_F` (`S` the soft threshold, `R` the current
/// residual), computed from the precomputed `G_ij = ⟨Z_i, Z_j⟩_F` and `b_i = ⟨Z_i, Y⟩_F`, so
/// a sweep costs `O(C²)` after the `O(C²·n·d_out)` set-up. With `λ = 0` it converges to the
/// least-squares coefficients; for `λ ≥ 2·max_i |b_i|` all coefficients are 0. A channel
/// whose features are all zero gets coefficient 0.
///
/// # Errors
///
/// - [`DataError::InvalidConfig`] for a negative or non-finite `λ` or an invalid `config`;
/// - [`DataError::Model`] when `features` is empty or a matrix is empty;
/// - [`DataError::Shape`] when a feature matrix differs in shape from `target`;
/// - [`DataError::Numerical`] for a non-finite value or overflowing inner products.
pub fn lasso_solve(
    features: &[Matrix],
    target: &Matrix,
    lambda: f64,
    config: &LassoConfig,
) -> Result<Vec<f64>> {
    config.validate()?;
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(DataError::invalid(
            "LASSO λ",
            format!("{lambda} is not a finite value ≥ 0"),
        ));
    }
    let problem = Problem::new(features, target)?;
    let mut beta = vec![0.0; features.len()];
    problem.solve(lambda, &mut beta, config);
    Ok(beta)
}

/// Choose `keep` of the `C = features.len()` input channels by LASSO regression of `target`
/// on the per-channel outputs `features[i] = Z_i`.
///
/// **Search for `λ`.** With `λ_max = 2·max_i |⟨Z_i, Y⟩_F|` (where `β = 0`), the search starts
/// at `λ = 10⁻⁶·λ_max` and multiplies `λ` by 10 until at most `keep` coefficients are
/// non-zero (reaching `λ_max`, where all are 0, if needed). It then bisects in log space
/// between the last `λ` with too many non-zeros and the first with few enough, stopping at
/// exactly `keep` non-zeros, at a relative bracket width of `10⁻¹²`, or after
/// `config.max_lambda_steps` solves in all. Each solve is warm-started from the previous
/// one. The result is the solution at the upper end of the bracket, which has at most
/// `keep` non-zero coefficients.
///
/// **Fill rule.** If fewer than `keep` coefficients are non-zero there (two channels left
/// the path at the same `λ`, the step cap was hit, or the target has no component along
/// some channels), the remaining channels are added in decreasing order of `|β_i|` at the
/// last `λ` with too many non-zeros (the channels that left the LASSO path last), then of
/// the correlation `|⟨Z_i, Y⟩_F| / ‖Z_i‖_F`, then by increasing index. Their `beta` stays 0.
///
/// # Errors
///
/// - [`DataError::InvalidConfig`] when `keep` is 0 or greater than `C`, or for an invalid
///   `config`;
/// - the input errors of [`lasso_solve`].
pub fn lasso_select(
    features: &[Matrix],
    target: &Matrix,
    keep: usize,
    config: &LassoConfig,
) -> Result<LassoSelection> {
    config.validate()?;
    let problem = Problem::new(features, target)?;
    let c = features.len();
    if keep == 0 || keep > c {
        return Err(DataError::invalid(
            "LASSO channels to keep",
            format!("{keep} is not between 1 and the {c} channels"),
        ));
    }
    let lambda_max = problem.lambda_max();
    let mut steps = 0;
    let mut beta = vec![0.0; c];
    // The last λ with too many non-zeros, and the first with few enough.
    let mut lo: Option<(f64, Vec<f64>)> = None;
    let mut hi: Option<(f64, Vec<f64>)> = None;
    let mut lambda = START_RATIO * lambda_max;
    while lambda < lambda_max && steps < config.max_lambda_steps {
        problem.solve(lambda, &mut beta, config);
        steps += 1;
        if non_zero(&beta) <= keep {
            hi = Some((lambda, beta.clone()));
            break;
        }
        lo = Some((lambda, beta.clone()));
        lambda *= GROWTH;
    }
    // At λ_max, β = 0 is the exact solution.
    let (mut hi_lambda, mut hi_beta) = hi.unwrap_or_else(|| (lambda_max, vec![0.0; c]));
    if let Some((lo_lambda, lo_beta)) = lo.as_mut() {
        while non_zero(&hi_beta) < keep
            && steps < config.max_lambda_steps
            && hi_lambda > *lo_lambda * BISECTION_RATIO
        {
            let mid = (*lo_lambda * hi_lambda).sqrt();
            beta.clone_from(lo_beta);
            problem.solve(mid, &mut beta, config);
            steps += 1;
            if non_zero(&beta) > keep {
                *lo_lambda = mid;
                lo_beta.clone_from(&beta);
            } else {
                hi_lambda = mid;
                hi_beta.clone_from(&beta);
            }
        }
    }
    let mut kept: Vec<usize> = (0..c).filter(|&i| hi_beta[i] != 0.0).collect();
    if kept.len() < keep {
        let lo_beta = lo.map_or_else(|| vec![0.0; c], |(_, b)| b);
        let correlation = |i: usize| {
            let norm = problem.gram.get(i, i).sqrt();
            if norm > 0.0 {
                problem.b[i].abs() / norm
            } else {
                0.0
            }
        };
        let mut rest: Vec<usize> = (0..c).filter(|&i| hi_beta[i] == 0.0).collect();
        rest.sort_by(|&a, &b| {
            lo_beta[b]
                .abs()
                .total_cmp(&lo_beta[a].abs())
                .then(correlation(b).total_cmp(&correlation(a)))
                .then(a.cmp(&b))
        });
        kept.extend_from_slice(&rest[..keep - kept.len()]);
        kept.sort_unstable();
    }
    Ok(LassoSelection {
        kept,
        beta: hi_beta,
        lambda: hi_lambda,
    })
}

/// Re-fit the next layer's weights of the kept channels: `argmin_W ‖target − inputs·W‖²_F`.
///
/// `inputs` is `n × p`, the unfolded inputs of the kept channels on `n` sampled positions
/// (`p = kept channels · k_h · k_w`, one column per kept (channel, kernel offset));
/// `target` is `n × d_out`, the original output at those positions. The result is `p × d_out`:
/// column `o` holds the new weights of output channel `o`, so it is the transpose of the
/// `[d_out, p]` flattened convolution or linear weight. A thin wrapper over the normal
/// equations `(inputsᵀ·inputs + ridge·I)·W = inputsᵀ·target`, solved by Cholesky as in
/// [`linalg::least_squares`](crate::linalg::least_squares), with shape and value checks and
/// a rank check: a Cholesky pivot `L_jj² ≤ 10⁻¹⁰·G_jj` (a column that is nearly a
/// combination of the earlier ones) is an error rather than a noisy solution. A `ridge > 0`
/// is needed when `n < p` or columns are (nearly) linearly dependent, e.g. a channel that
/// is always zero.
///
/// # Errors
///
/// - [`DataError::Shape`] when the row counts differ;
/// - [`DataError::InvalidConfig`] for a negative or non-finite `ridge`;
/// - [`DataError::Model`] for an empty matrix;
/// - [`DataError::Numerical`] for a non-finite value, singular or rank-deficient normal
///   equations (raise `ridge`) or a non-finite solution.
pub fn refit_least_squares(inputs: &Matrix, target: &Matrix, ridge: f64) -> Result<Matrix> {
    const PROBLEM: &str = "LASSO least-squares refit";
    check_matrix(inputs, "refit inputs", METHOD)?;
    check_matrix(target, "refit target", METHOD)?;
    if inputs.rows != target.rows {
        return Err(DataError::shape(
            format!("{PROBLEM} target rows"),
            inputs.rows,
            target.rows,
        ));
    }
    if !(ridge.is_finite() && ridge >= 0.0) {
        return Err(DataError::invalid(
            "LASSO refit ridge",
            format!("{ridge} is not a finite value ≥ 0"),
        ));
    }
    let w = normal_equations(inputs, target, ridge, true, PROBLEM)?;
    if w.data.iter().any(|v| !v.is_finite()) {
        return Err(DataError::Numerical {
            problem: PROBLEM.to_string(),
            reason: "the solution is not finite".to_string(),
        });
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::least_squares;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random(rng: &mut StdRng, rows: usize, cols: usize, scale: f64) -> Matrix {
        let data = (0..rows * cols)
            .map(|_| scale * rng.random_range(-1.0..1.0))
            .collect();
        Matrix::from_vec(rows, cols, data).unwrap()
    }

    fn add(a: &Matrix, b: &Matrix) -> Matrix {
        let data = a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect();
        Matrix::from_vec(a.rows, a.cols, data).unwrap()
    }

    fn sum(ms: &[Matrix]) -> Matrix {
        ms[1..].iter().fold(ms[0].clone(), |acc, m| add(&acc, m))
    }

    fn frobenius_dot(a: &Matrix, b: &Matrix) -> f64 {
        a.data.iter().zip(&b.data).map(|(x, y)| x * y).sum()
    }

    fn squared_distance(a: &Matrix, b: &Matrix) -> f64 {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).powi(2))
            .sum()
    }

    /// Per-channel outputs `Z_i = X_i·W_iᵀ` of a layer with 3×3 kernels (9 unfolded inputs
    /// per channel) on `n` positions, `d_out` outputs; channel `i`'s weights are scaled by
    /// `weight_scales[i]`.
    fn conv_features(
        rng: &mut StdRng,
        n: usize,
        d_out: usize,
        weight_scales: &[f64],
    ) -> Vec<Matrix> {
        weight_scales
            .iter()
            .map(|&s| {
                let x = random(rng, n, 9, 1.0);
                let w = random(rng, d_out, 9, s);
                x.matmul(&w.transpose()).unwrap()
            })
            .collect()
    }

    fn precise() -> LassoConfig {
        LassoConfig {
            max_sweeps: 100_000,
            tolerance: 1e-14,
            max_lambda_steps: 200,
        }
    }

    #[test]
    fn one_channel_hand_computed() {
        // ‖Z‖² = 1 + 4 + 4 + 0 = 9 and ⟨Z, Y⟩ = 2 + 8 + 8 + 0 = 18, so
        // β(λ) = S(18, λ/2) / 9: 2 at λ = 0, (18 − 9)/9 = 1 at λ = 18, 0 from λ = 36 on.
        let z = Matrix::from_vec(2, 2, vec![1.0, 2.0, 2.0, 0.0]).unwrap();
        let y = Matrix::from_vec(2, 2, vec![2.0, 4.0, 4.0, 1.0]).unwrap();
        let cfg = LassoConfig::default();
        let f = [z];
        for (lambda, expected) in [(0.0, 2.0), (18.0, 1.0), (36.0, 0.0), (50.0, 0.0)] {
            let beta = lasso_solve(&f, &y, lambda, &cfg).unwrap();
            assert!((beta[0] - expected).abs() < 1e-12, "λ = {lambda}: {beta:?}");
        }
    }

    #[test]
    fn lambda_zero_is_least_squares() {
        let mut rng = StdRng::seed_from_u64(1);
        let (n, d, c) = (30, 4, 5);
        let features: Vec<Matrix> = (0..c).map(|_| random(&mut rng, n, d, 1.0)).collect();
        let target = random(&mut rng, n, d, 2.0);
        let beta = lasso_solve(&features, &target, 0.0, &precise()).unwrap();
        // The vectorised problem: column i of `a` is vec(Z_i), `b` is vec(Y).
        let mut a = Matrix::zeros(n * d, c);
        for (i, z) in features.iter().enumerate() {
            for (r, v) in z.data.iter().enumerate() {
                *a.get_mut(r, i) = *v;
            }
        }
        let b = Matrix::from_vec(n * d, 1, target.data.clone()).unwrap();
        let ls = least_squares(&a, &b, 0.0, "test").unwrap();
        for i in 0..c {
            assert!(
                (beta[i] - ls.data[i]).abs() < 1e-8,
                "{beta:?} vs {:?}",
                ls.data
            );
        }
    }

    #[test]
    fn soft_threshold_boundary() {
        let mut rng = StdRng::seed_from_u64(2);
        let features: Vec<Matrix> = (0..4).map(|_| random(&mut rng, 10, 3, 1.0)).collect();
        let target = sum(&features);
        // β = 0 is optimal exactly when λ ≥ 2·max_i |⟨Z_i, Y⟩|.
        let lambda_max = 2.0
            * features
                .iter()
                .map(|z| frobenius_dot(z, &target).abs())
                .fold(0.0, f64::max);
        let cfg = precise();
        for lambda in [1.0001 * lambda_max, 1e6 * lambda_max, 1e300] {
            let beta = lasso_solve(&features, &target, lambda, &cfg).unwrap();
            assert!(beta.iter().all(|b| *b == 0.0), "λ = {lambda}: {beta:?}");
        }
        let beta = lasso_solve(&features, &target, 0.999 * lambda_max, &cfg).unwrap();
        assert_eq!(non_zero(&beta), 1, "{beta:?}");
    }

    #[test]
    fn drops_near_zero_channels() {
        let mut rng = StdRng::seed_from_u64(5);
        let scales = [1.0, 1.5, 0.6, 1.2, 2.0, 1e-3, 1e-3, 1e-3];
        let features = conv_features(&mut rng, 200, 6, &scales);
        let target = sum(&features);
        let sel = lasso_select(&features, &target, 5, &LassoConfig::default()).unwrap();
        assert_eq!(sel.kept, vec![0, 1, 2, 3, 4]);
        assert!(sel.beta[5..].iter().all(|b| *b == 0.0), "{:?}", sel.beta);
        assert!(sel.lambda > 0.0);
    }

    #[test]
    fn drops_a_cancelling_pair() {
        // Z_6 = −Z_2, so Y = Σ_i Z_i has no component along channels 2 and 6, and Z_7 is
        // near zero: the LASSO keeps the other five.
        let mut rng = StdRng::seed_from_u64(6);
        let scales = [1.0, 1.5, 0.6, 1.2, 2.0, 1.1, 1.0, 1e-3];
        let mut features = conv_features(&mut rng, 200, 6, &scales);
        features[6] = Matrix {
            data: features[2].data.iter().map(|v| -v).collect(),
            ..features[2].clone()
        };
        let target = sum(&features);
        let sel = lasso_select(&features, &target, 5, &LassoConfig::default()).unwrap();
        assert_eq!(sel.kept, vec![0, 1, 3, 4, 5]);
    }

    #[test]
    fn hits_every_keep_exactly_on_generic_data() {
        let mut rng = StdRng::seed_from_u64(8);
        let features = conv_features(&mut rng, 60, 4, &[1.0, 0.8, 1.3, 0.5, 1.1, 0.9]);
        let noise = random(&mut rng, 60, 4, 0.5);
        let target = add(&sum(&features), &noise);
        let cfg = LassoConfig::default();
        for keep in 1..=features.len() {
            let sel = lasso_select(&features, &target, keep, &cfg).unwrap();
            assert_eq!(non_zero(&sel.beta), keep, "keep = {keep}: {:?}", sel.beta);
        }
        // The first channel on the LASSO path is the one most aligned with the target.
        let b: Vec<f64> = features
            .iter()
            .map(|z| frobenius_dot(z, &target).abs())
            .collect();
        let first = (0..b.len()).max_by(|&i, &j| b[i].total_cmp(&b[j])).unwrap();
        assert_eq!(
            lasso_select(&features, &target, 1, &cfg).unwrap().kept,
            vec![first]
        );
    }

    #[test]
    fn fills_up_to_keep() {
        // Y is zero: every β is 0 for every λ, so all kept channels come from the fill rule
        // (correlations are all 0 too, so the lowest indices).
        let mut rng = StdRng::seed_from_u64(9);
        let features: Vec<Matrix> = (0..4).map(|_| random(&mut rng, 5, 2, 1.0)).collect();
        let sel = lasso_select(&features, &Matrix::zeros(5, 2), 2, &LassoConfig::default());
        let sel = sel.unwrap();
        assert_eq!(sel.kept, vec![0, 1]);
        assert!(sel.beta.iter().all(|b| *b == 0.0));
        // keep = C keeps everything.
        let target = sum(&features);
        let all = lasso_select(&features, &target, 4, &LassoConfig::default()).unwrap();
        assert_eq!(all.kept, vec![0, 1, 2, 3]);
    }

    #[test]
    fn refit_restores_a_correlated_channel() {
        // X_3 = 0.9·X_1 + noise in [-0.05, 0.05]. Dropping channel 3 loses Z_3 = X_3·W_3ᵀ;
        // the refit moves 0.9·W_3 into channel 1's weights and leaves only the noise term:
        // the error ratio is about (0.81/3) / (0.05²/3) ≈ 324 (a bit more, as the refit also
        // fits part of the noise).
        let mut rng = StdRng::seed_from_u64(4);
        let (n, d_out, c) = (400, 4, 6);
        let mut xs: Vec<Matrix> = (0..c).map(|_| random(&mut rng, n, 9, 1.0)).collect();
        let noise = random(&mut rng, n, 9, 0.05);
        xs[3] = add(
            &Matrix {
                data: xs[1].data.iter().map(|v| 0.9 * v).collect(),
                ..xs[1].clone()
            },
            &noise,
        );
        let ws: Vec<Matrix> = (0..c).map(|_| random(&mut rng, d_out, 9, 1.0)).collect();
        let zs: Vec<Matrix> = (0..c)
            .map(|i| xs[i].matmul(&ws[i].transpose()).unwrap())
            .collect();
        let target = sum(&zs);
        let kept = [0, 1, 2, 4, 5];
        let plain = squared_distance(&target, &sum(&kept.map(|i| zs[i].clone())));
        // Unfolded inputs of the kept channels side by side: n × (5·9).
        let mut inputs = Matrix::zeros(n, kept.len() * 9);
        for r in 0..n {
            for (t, &i) in kept.iter().enumerate() {
                for k in 0..9 {
                    *inputs.get_mut(r, t * 9 + k) = xs[i].get(r, k);
                }
            }
        }
        let w = refit_least_squares(&inputs, &target, 0.0).unwrap();
        assert_eq!((w.rows, w.cols), (45, d_out));
        let refit = squared_distance(&target, &inputs.matmul(&w).unwrap());
        assert!(plain / refit >= 100.0, "{plain} / {refit}");
        // Channel 1's new weights are W_1 + 0.9·W_3.
        for o in 0..d_out {
            for k in 0..9 {
                let expected = ws[1].get(o, k) + 0.9 * ws[3].get(o, k);
                assert!((w.get(9 + k, o) - expected).abs() < 0.05);
            }
        }
    }

    #[test]
    fn errors_instead_of_panics() {
        let mut rng = StdRng::seed_from_u64(10);
        let features: Vec<Matrix> = (0..3).map(|_| random(&mut rng, 4, 2, 1.0)).collect();
        let target = sum(&features);
        let cfg = LassoConfig::default();
        let invalid = |r: Result<LassoSelection>| matches!(r, Err(DataError::InvalidConfig { .. }));
        assert!(invalid(lasso_select(&features, &target, 0, &cfg)));
        assert!(invalid(lasso_select(&features, &target, 4, &cfg)));
        for bad in [
            LassoConfig {
                max_sweeps: 0,
                ..cfg.clone()
            },
            LassoConfig {
                tolerance: -1.0,
                ..cfg.clone()
            },
            LassoConfig {
                tolerance: f64::NAN,
                ..cfg.clone()
            },
            LassoConfig {
                max_lambda_steps: 0,
                ..cfg.clone()
            },
        ] {
            assert!(invalid(lasso_select(&features, &target, 2, &bad)));
        }
        for lambda in [-1.0, f64::NAN, f64::INFINITY] {
            let r = lasso_solve(&features, &target, lambda, &cfg);
            assert!(matches!(r, Err(DataError::InvalidConfig { .. })));
        }
        assert!(matches!(
            lasso_select(&[], &target, 1, &cfg),
            Err(DataError::Model { .. })
        ));
        let mut mixed = features.clone();
        mixed[1] = Matrix::zeros(4, 3);
        assert!(matches!(
            lasso_select(&mixed, &target, 1, &cfg),
            Err(DataError::Shape { .. })
        ));
        let wide = Matrix::zeros(5, 2);
        assert!(matches!(
            lasso_select(&features, &wide, 1, &cfg),
            Err(DataError::Shape { .. })
        ));
        let empty = vec![Matrix::zeros(0, 2)];
        assert!(matches!(
            lasso_select(&empty, &Matrix::zeros(0, 2), 1, &cfg),
            Err(DataError::Model { .. })
        ));
        let mut nan = features.clone();
        *nan[2].get_mut(3, 1) = f64::NAN;
        assert!(matches!(
            lasso_select(&nan, &target, 1, &cfg),
            Err(DataError::Numerical { .. })
        ));
        let mut inf_target = target.clone();
        *inf_target.get_mut(0, 0) = f64::INFINITY;
        assert!(matches!(
            lasso_select(&features, &inf_target, 1, &cfg),
            Err(DataError::Numerical { .. })
        ));

        let inputs = random(&mut rng, 6, 3, 1.0);
        let y = random(&mut rng, 6, 2, 1.0);
        assert!(refit_least_squares(&inputs, &y, 0.0).is_ok());
        let short = random(&mut rng, 5, 2, 1.0);
        assert!(matches!(
            refit_least_squares(&inputs, &short, 0.0),
            Err(DataError::Shape { .. })
        ));
        for ridge in [-1.0, f64::NAN] {
            let r = refit_least_squares(&inputs, &y, ridge);
            assert!(matches!(r, Err(DataError::InvalidConfig { .. })));
        }
        let mut bad = inputs.clone();
        *bad.get_mut(2, 2) = f64::NEG_INFINITY;
        assert!(matches!(
            refit_least_squares(&bad, &y, 0.0),
            Err(DataError::Numerical { .. })
        ));
        // More unknowns than samples: singular without a ridge, solvable with one.
        let wide_inputs = random(&mut rng, 2, 3, 1.0);
        let y2 = random(&mut rng, 2, 1, 1.0);
        assert!(matches!(
            refit_least_squares(&wide_inputs, &y2, 0.0),
            Err(DataError::Numerical { .. })
        ));
        assert!(refit_least_squares(&wide_inputs, &y2, 1e-6).is_ok());
        assert!(matches!(
            refit_least_squares(&Matrix::zeros(0, 3), &Matrix::zeros(0, 1), 0.0),
            Err(DataError::Model { .. })
        ));
    }

    /// Random `features` (`c` matrices `n × d`), a target and a `keep` in `1..=c`.
    fn case() -> impl Strategy<Value = (Vec<Matrix>, Matrix, usize)> {
        (1usize..6, 1usize..5, 1usize..4).prop_flat_map(|(c, n, d)| {
            (
                prop::collection::vec(prop::collection::vec(-3.0f64..3.0, n * d), c),
                prop::collection::vec(-3.0f64..3.0, n * d),
                1..=c,
            )
                .prop_map(move |(fs, y, keep)| {
                    let fs = fs
                        .into_iter()
                        .map(|f| Matrix::from_vec(n, d, f).unwrap())
                        .collect();
                    (fs, Matrix::from_vec(n, d, y).unwrap(), keep)
                })
        })
    }

    proptest! {
        #[test]
        fn selection_keeps_exactly_keep((features, target, keep) in case()) {
            let sel = lasso_select(&features, &target, keep, &LassoConfig::default()).unwrap();
            prop_assert_eq!(sel.kept.len(), keep);
            prop_assert!(sel.kept.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(sel.kept.iter().all(|&i| i < features.len()));
            prop_assert_eq!(sel.beta.len(), features.len());
            prop_assert!(non_zero(&sel.beta) <= keep);
            for (i, b) in sel.beta.iter().enumerate() {
                prop_assert!(*b == 0.0 || sel.kept.contains(&i));
                prop_assert!(b.is_finite());
            }
            prop_assert!(sel.lambda.is_finite() && sel.lambda >= 0.0);
        }
    }
}

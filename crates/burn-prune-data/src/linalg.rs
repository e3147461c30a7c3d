//! Dense `f64` matrices for the reconstruction methods, with `nalgebra`'s Cholesky
//! factorization behind the solves, inverses and least squares they need.

use crate::error::{DataError, Result};
use nalgebra::{Cholesky, DMatrix, Dyn};

/// A dense row-major `f64` matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The `n × n` identity.
    pub fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n, n);
        for i in 0..n {
            m.data[i * n + i] = 1.0;
        }
        m
    }

    /// A matrix from row-major values; an error when `data.len() != rows·cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(DataError::shape(
                "matrix values",
                format!("{rows}·{cols} = {}", rows * cols),
                data.len(),
            ));
        }
        Ok(Self { rows, cols, data })
    }

    /// Entry `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    /// Mutable entry `(i, j)`.
    pub fn get_mut(&mut self, i: usize, j: usize) -> &mut f64 {
        &mut self.data[i * self.cols + j]
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The transpose.
    pub fn transpose(&self) -> Self {
        let mut t = Self::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                t.data[j * self.rows + i] = self.data[i * self.cols + j];
            }
        }
        t
    }

    /// `self · other`; an error when the inner sizes differ.
    pub fn matmul(&self, other: &Matrix) -> Result<Matrix> {
        if self.cols != other.rows {
            return Err(DataError::shape(
                "matrix product",
                format!("{} rows on the right", self.cols),
                other.rows,
            ));
        }
        Ok(Matrix::from_nalgebra(
            &(self.to_nalgebra() * other.to_nalgebra()),
        ))
    }

    /// The Gram matrix `selfᵀ · self` (`cols × cols`).
    pub fn gram(&self) -> Matrix {
        let m = self.to_nalgebra();
        Matrix::from_nalgebra(&m.tr_mul(&m))
    }

    /// The same matrix as a `nalgebra` matrix, to use its factorizations.
    pub fn to_nalgebra(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.rows, self.cols, &self.data)
    }

    /// A `nalgebra` matrix back in row-major storage.
    pub fn from_nalgebra(m: &DMatrix<f64>) -> Matrix {
        let (rows, cols) = m.shape();
        Matrix {
            rows,
            cols,
            data: m.transpose().as_slice().to_vec(),
        }
    }
}

/// The Cholesky factorization of a symmetric positive definite `a` (`nalgebra`'s); `problem`
/// names the computation in the error for a matrix that is not square, not finite or not
/// positive definite.
pub fn cholesky(a: &Matrix, problem: &str) -> Result<Cholesky<f64, Dyn>> {
    if a.rows != a.cols {
        return Err(DataError::shape(
            problem,
            "a square matrix",
            format!("{}×{}", a.rows, a.cols),
        ));
    }
    if let Some(pos) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(DataError::Numerical {
            problem: problem.to_string(),
            reason: format!(
                "entry ({}, {}) is {}",
                pos / a.cols,
                pos % a.cols,
                a.data[pos]
            ),
        });
    }
    Cholesky::new(a.to_nalgebra()).ok_or_else(|| DataError::Numerical {
        problem: problem.to_string(),
        reason: format!(
            "the {n}×{n} matrix is not positive definite; add damping",
            n = a.rows
        ),
    })
}

/// Solve `a·x = b` for each column of `b` given the Cholesky factorization of `a`.
pub fn cholesky_solve(factor: &Cholesky<f64, Dyn>, b: &Matrix) -> Matrix {
    Matrix::from_nalgebra(&factor.solve(&b.to_nalgebra()))
}

/// The inverse of a symmetric positive definite matrix.
pub fn spd_inverse(a: &Matrix, problem: &str) -> Result<Matrix> {
    Ok(Matrix::from_nalgebra(&cholesky(a, problem)?.inverse()))
}

/// The least-squares solution `x = argmin ‖a·x − b‖²` (for each column of `b`) through the
/// normal equations `(aᵀa + ridge·I)·x = aᵀb`; `ridge ≥ 0` regularises rank-deficient `a`.
pub fn least_squares(a: &Matrix, b: &Matrix, ridge: f64, problem: &str) -> Result<Matrix> {
    if a.rows != b.rows {
        return Err(DataError::shape(
            problem,
            format!("{} rows", a.rows),
            b.rows,
        ));
    }
    let mut g = a.gram();
    for i in 0..g.rows {
        *g.get_mut(i, i) += ridge;
    }
    let rhs = a.transpose().matmul(b)?;
    Ok(cholesky_solve(&cholesky(&g, problem)?, &rhs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_times_matrix_is_identity() {
        let a = Matrix::from_vec(3, 3, vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0]).unwrap();
        let inv = spd_inverse(&a, "test").unwrap();
        let id = a.matmul(&inv).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((id.get(i, j) - e).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn least_squares_recovers_an_exact_fit() {
        // b = a·[2, −1]ᵀ exactly.
        let a = Matrix::from_vec(4, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0]).unwrap();
        let b = Matrix::from_vec(4, 1, vec![2.0, -1.0, 1.0, 3.0]).unwrap();
        let x = least_squares(&a, &b, 0.0, "test").unwrap();
        assert!((x.get(0, 0) - 2.0).abs() < 1e-12 && (x.get(1, 0) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn not_positive_definite_is_an_error() {
        let a = Matrix::from_vec(2, 2, vec![1.0, 2.0, 2.0, 1.0]).unwrap();
        assert!(cholesky(&a, "test").is_err());
        let nan = Matrix::from_vec(1, 1, vec![f64::NAN]).unwrap();
        assert!(
            cholesky(&nan, "test")
                .unwrap_err()
                .to_string()
                .contains("NaN")
        );
    }

    #[test]
    fn products_match_hand_computed_ones() {
        let a = Matrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let b = Matrix::from_vec(3, 1, vec![1.0, 0.0, -1.0]).unwrap();
        assert_eq!(a.matmul(&b).unwrap().data, vec![-2.0, -2.0]);
        // aᵀa = [[17, 22, 27], [22, 29, 36], [27, 36, 45]].
        assert_eq!(
            a.gram().data,
            vec![17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]
        );
        assert!(a.matmul(&a).is_err());
    }
}

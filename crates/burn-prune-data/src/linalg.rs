//! Dense `f64` matrices and the few factorizations the reconstruction methods need
//! (Cholesky, symmetric positive definite solves and inverses, least squares).

use crate::error::{DataError, Result};

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
        let mut out = Matrix::zeros(self.rows, other.cols);
        for i in 0..self.rows {
            for k in 0..self.cols {
                let a = self.data[i * self.cols + k];
                if a == 0.0 {
                    continue;
                }
                let row = &other.data[k * other.cols..(k + 1) * other.cols];
                let out_row = &mut out.data[i * other.cols..(i + 1) * other.cols];
                for (o, b) in out_row.iter_mut().zip(row) {
                    *o += a * b;
                }
            }
        }
        Ok(out)
    }

    /// The Gram matrix `selfᵀ · self` (`cols × cols`).
    pub fn gram(&self) -> Matrix {
        let n = self.cols;
        let mut g = Matrix::zeros(n, n);
        for r in 0..self.rows {
            let row = self.row(r);
            for i in 0..n {
                let a = row[i];
                if a == 0.0 {
                    continue;
                }
                for (out, b) in g.data[i * n + i..(i + 1) * n].iter_mut().zip(&row[i..]) {
                    *out += a * b;
                }
            }
        }
        for i in 0..n {
            for j in 0..i {
                g.data[i * n + j] = g.data[j * n + i];
            }
        }
        g
    }
}

/// The lower Cholesky factor `L` of a symmetric positive definite `a` (`a = L·Lᵀ`); `problem`
/// names the computation in the error for a matrix that is not positive definite.
pub fn cholesky(a: &Matrix, problem: &str) -> Result<Matrix> {
    if a.rows != a.cols {
        return Err(DataError::shape(
            problem,
            "a square matrix",
            format!("{}×{}", a.rows, a.cols),
        ));
    }
    let n = a.rows;
    let mut l = Matrix::zeros(n, n);
    for j in 0..n {
        let mut d = a.get(j, j);
        for k in 0..j {
            d -= l.get(j, k) * l.get(j, k);
        }
        if !(d > 0.0 && d.is_finite()) {
            return Err(DataError::Numerical {
                problem: problem.to_string(),
                reason: format!(
                    "the matrix is not positive definite (pivot {j} is {d:e}); add damping"
                ),
            });
        }
        let d = d.sqrt();
        *l.get_mut(j, j) = d;
        for i in j + 1..n {
            let mut s = a.get(i, j);
            for k in 0..j {
                s -= l.get(i, k) * l.get(j, k);
            }
            *l.get_mut(i, j) = s / d;
        }
    }
    Ok(l)
}

/// Solve `L·Lᵀ·x = b` for each column of `b` given the Cholesky factor `l`.
pub fn cholesky_solve(l: &Matrix, b: &Matrix) -> Matrix {
    let n = l.rows;
    let mut x = b.clone();
    for c in 0..b.cols {
        for i in 0..n {
            let mut s = x.get(i, c);
            for k in 0..i {
                s -= l.get(i, k) * x.get(k, c);
            }
            *x.get_mut(i, c) = s / l.get(i, i);
        }
        for i in (0..n).rev() {
            let mut s = x.get(i, c);
            for k in i + 1..n {
                s -= l.get(k, i) * x.get(k, c);
            }
            *x.get_mut(i, c) = s / l.get(i, i);
        }
    }
    x
}

/// The inverse of a symmetric positive definite matrix.
pub fn spd_inverse(a: &Matrix, problem: &str) -> Result<Matrix> {
    let l = cholesky(a, problem)?;
    Ok(cholesky_solve(&l, &Matrix::identity(a.rows)))
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
    let l = cholesky(&g, problem)?;
    Ok(cholesky_solve(&l, &rhs))
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
    }
}

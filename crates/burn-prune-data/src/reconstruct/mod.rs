//! Channel selection with reconstruction, computed on the host in `f64`.
//!
//! Both methods choose which input channels of a layer to keep by looking at how much each
//! channel contributes to the *next* layer's output on sampled data, and then re-fit the
//! next layer so that its output changes as little as possible:
//!
//! - [`thinet`]: ThiNet (Luo et al. 2017). A greedy search removes the channels whose summed
//!   contributions are smallest ([`thinet_select`]), then one least-squares scale per kept
//!   channel is fitted ([`thinet_scales`]).
//! - [`lasso`]: the channel pruning of He et al. 2017. A LASSO regression on per-channel
//!   outputs chooses the channels ([`lasso_select`]), then the next layer's weights of the
//!   kept channels are re-fitted by least squares ([`refit_least_squares`]).
//!
//! The functions here take plain [`Matrix`] values; gathering the sampled contributions from
//! a model is left to the caller. Every function validates its inputs and returns a typed
//! [`DataError`] instead of panicking.

pub mod lasso;
pub mod thinet;

pub use lasso::{LassoConfig, LassoSelection, lasso_select, lasso_solve, refit_least_squares};
pub use thinet::{ChannelSelection, thinet_scales, thinet_select};

use crate::error::{DataError, Result};
use crate::linalg::{Matrix, cholesky, cholesky_solve};

/// A Cholesky pivot `L_jj²` at or below this fraction of its diagonal entry `G_jj` marks
/// the normal equations as rank-deficient: column `j` is, to within `10⁻⁵` of its norm, a
/// combination of the earlier columns.
const RANK_TOLERANCE: f64 = 1e-10;

/// Solve the normal equations `(aᵀa + ridge·I)·x = aᵀb` by Cholesky. With `check_rank`, a
/// factorisation with a pivot at or below [`RANK_TOLERANCE`] of its diagonal entry is a
/// [`DataError::Numerical`] error (rounding lets exactly singular systems through
/// [`cholesky`] with tiny positive pivots, and their solutions are noise).
pub(crate) fn normal_equations(
    a: &Matrix,
    b: &Matrix,
    ridge: f64,
    check_rank: bool,
    problem: &str,
) -> Result<Matrix> {
    let mut g = a.gram();
    for i in 0..g.rows {
        *g.get_mut(i, i) += ridge;
    }
    let factor = cholesky(&g, problem)?;
    let l = factor.l_dirty();
    if check_rank
        && let Some(j) = (0..g.rows).find(|&j| l[(j, j)].powi(2) <= RANK_TOLERANCE * g.get(j, j))
    {
        return Err(DataError::Numerical {
            problem: problem.to_string(),
            reason: format!(
                "the least-squares problem is rank-deficient (column {j} is nearly a \
                 combination of the earlier ones); add a ridge"
            ),
        });
    }
    let rhs = a.transpose().matmul(b)?;
    Ok(cholesky_solve(&factor, &rhs))
}

/// Check that `m` is non-empty, that its values fill `rows × cols`, and that all are finite.
/// `what` names the matrix and `method` the caller in the errors.
pub(crate) fn check_matrix(m: &Matrix, what: &str, method: &'static str) -> Result<()> {
    if m.data.len() != m.rows * m.cols {
        return Err(DataError::shape(
            format!("{method} {what} values"),
            format!("{}·{} = {}", m.rows, m.cols, m.rows * m.cols),
            m.data.len(),
        ));
    }
    if m.rows == 0 || m.cols == 0 {
        return Err(DataError::Model {
            method,
            reason: format!("the {what} matrix is empty ({}×{})", m.rows, m.cols),
        });
    }
    if let Some(pos) = m.data.iter().position(|v| !v.is_finite()) {
        return Err(DataError::Numerical {
            problem: format!("{method} {what}"),
            reason: format!(
                "entry ({}, {}) is {}",
                pos / m.cols,
                pos % m.cols,
                m.data[pos]
            ),
        });
    }
    Ok(())
}

/// Check that `indices` are distinct channel indices below `channels`, and that there is at
/// least one.
pub(crate) fn check_indices(
    indices: &[usize],
    channels: usize,
    what: &str,
    method: &'static str,
) -> Result<()> {
    if indices.is_empty() {
        return Err(DataError::invalid(
            format!("{method} {what}"),
            "at least one channel must be given",
        ));
    }
    let mut seen = vec![false; channels];
    for &i in indices {
        if i >= channels {
            return Err(DataError::invalid(
                format!("{method} {what}"),
                format!("channel {i} is out of range (there are {channels} channels)"),
            ));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(DataError::invalid(
                format!("{method} {what}"),
                format!("channel {i} is listed twice"),
            ));
        }
    }
    Ok(())
}

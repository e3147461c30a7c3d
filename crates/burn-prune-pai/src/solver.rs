//! An exact solver for the convex programs of PreCrop and PreConfig.
//!
//! PreCrop and PreConfig (Cai et al., *Towards Compute-Optimal Pruning at Initialization*,
//! arXiv 2203.02549) choose layer-wise densities (or channel keep ratios, or widening factors)
//! before training by solving a convex program. Written in log variables it is a
//! *geometric program*:
//!
//! ```text
//! maximise    f(x) = Σ_g w_g · x_g
//! subject to  g_k(x) = Σ_t a_{k,t} · exp(Σ_g e_{k,t,g} · x_g) ≤ b_k     for every budget k
//!             lo_g ≤ x_g ≤ hi_g                                          for every variable g
//! ```
//!
//! with weights `w_g ≥ 0`, coefficients `a_{k,t} ≥ 0`, exponents `e_{k,t,g} ≥ 0` (sparse; a term
//! without exponents is a constant), limits `b_k > 0`, finite lower bounds and upper bounds
//! `hi_g ∈ (lo_g, +∞]`. Every `g_k` is a positive sum of exponentials of linear functions, hence
//! convex (and increasing in every variable), and the objective is linear, so every local
//! optimum is global.
//!
//! # Instances
//!
//! * **PreCrop**: `x_g = log c_g`, where `c_g` is the keep ratio of channel group `g`. A
//!   convolution between groups `a` and `b` with `P_l` parameters contributes the term
//!   `P_l · exp(x_a + x_b)` to the parameter budget (and `F_l · exp(x_a + x_b)` to the MAC
//!   budget), a bias or BatchNorm of group `g` contributes `P · exp(x_g)`. The objective
//!   `Σ_l log p_l = Σ_l (x_a + x_b)` gives `w_g` = the number of layers touching `g`. The bounds
//!   are `hi_g = 0` (`c_g ≤ 1`) and `lo_g = −log C_g` (at least one of the `C_g` channels).
//! * **PreConfig**: the same with `hi_g = log(maximal widening factor)` or `hi_g = +∞`.
//! * **Unstructured densities** ([`allocate_densities`]): one variable `x_l = log p_l` per
//!   layer, the term `P_l · exp(x_l)`, `w_l = 1`, `hi_l = 0`, `lo_l = log(minimal density)`.
//!
//! # Algorithm: log barrier with damped Newton steps
//!
//! This is the barrier method of Boyd & Vandenberghe, *Convex Optimization*, chapter 11. For
//! `t > 0` the centring problem is
//!
//! ```text
//! minimise  φ_t(x) = −t · wᵀx − Σ_k log(b_k − g_k(x)) − Σ_g log(x_g − lo_g) − Σ_{hi_g < ∞} log(hi_g − x_g)
//! ```
//!
//! Its minimiser `x*(t)` (the central path) is computed by Newton's method:
//!
//! * gradient `∇φ_t = −t·w + Σ_k ∇g_k / s_k − 1/(x − lo) + 1/(hi − x)` with slacks
//!   `s_k = b_k − g_k(x)`, `∂g_k/∂x_g = Σ_t a_{k,t} e_{k,t,g} exp(σ_{k,t})` and
//!   `σ_{k,t} = Σ_g e_{k,t,g} x_g`;
//! * Hessian `∇²φ_t = Σ_k (∇²g_k / s_k + ∇g_k ∇g_kᵀ / s_k²) + diag(1/(x − lo)² + 1/(hi − x)²)`
//!   with `∇²g_k = Σ_t a_{k,t} exp(σ_{k,t}) e_{k,t} e_{k,t}ᵀ`. The lower-bound barrier makes it
//!   positive definite, so the Newton system `∇²φ_t Δ = −∇φ_t` is solved by a dense Cholesky
//!   factorisation (after a symmetric diagonal scaling, which keeps it well conditioned although
//!   its entries span many orders of magnitude near the boundary);
//! * the Newton decrement `λ² = −∇φ_tᵀΔ` stops the centring once `λ²/2 ≤ 10⁻¹⁴`, or once
//!   `λ²/2 ≤ 10⁻⁸` and a step no longer halves `λ²` (the rounding floor has been reached);
//! * the step `x ← x + sΔ` is damped by backtracking (`s ← s/2`) until `x + sΔ` is strictly
//!   feasible and the Armijo condition `φ_t(x + sΔ) ≤ φ_t(x) + 0.1 · s · ∇φ_tᵀΔ` holds. The
//!   change `φ_t(x + sΔ) − φ_t(x)` is computed directly from `log1p` and `expm1` of the
//!   increments (not as a difference of two large values), so the line search stays reliable
//!   when `t` is large.
//!
//! The outer loop multiplies `t` by `μ = 16` after each centring (the last increase only up to
//! 1.01 times the `t` that meets the stopping rule below). At `x*(t)` the multipliers
//!
//! ```text
//! λ_k = 1 / (t · (b_k − g_k(x))),   ν⁻_g = 1 / (t · (x_g − lo_g)),   ν⁺_g = 1 / (t · (hi_g − x_g))
//! ```
//!
//! are dual feasible and satisfy the stationarity condition of the Lagrangian exactly,
//!
//! ```text
//! w_g = Σ_k λ_k ∂g_k/∂x_g + ν⁺_g − ν⁻_g,
//! ```
//!
//! so the duality gap, which bounds the suboptimality of `x`, is `m / t` where `m` counts the
//! barrier terms (budgets plus finite bounds). The method stops when
//! `m / t ≤ 10⁻⁹ · max(1, |f(x)|)`.
//!
//! **Start.** Since every `g_k` is increasing, the lower corner `lo` is the point that makes
//! every budget smallest. If `g_k(lo) ≥ b_k` the program has no strictly feasible point and the
//! solver reports the budget with its smallest achievable value `g_k(lo)`. Otherwise it starts
//! at `x_g = lo_g + δ · (hi_g − lo_g)` (`lo_g + δ` when `hi_g = +∞`) with `δ = 1/2`, halving `δ`
//! until every slack is at least half of its largest value `b_k − g_k(lo)`. The first `t` is
//! the least-squares fit of `t·w ≈ ∇(barrier)` at the start (clamped to `[10⁻³, 10³]`, or `1`
//! when that fit is not positive), which puts the start near the central path.
//!
//! **Degenerate variables.** A variable with `w_g > 0`, `hi_g = +∞` and no budget term that
//! grows with it makes the program unbounded, which is reported. A variable with `w_g = 0` in
//! the same situation does not matter: it is left at its lower bound with zero multipliers.
//!
//! **Accuracy.** Near the optimum the slacks are of order `1/t`, i.e. small differences of
//! `O(1)` numbers: recomputed from `x` at every Newton step they would carry rounding noise of
//! relative size about `t · 10⁻¹⁶`, which Newton's method cannot converge through and which
//! would limit the multipliers to about five digits. The solver therefore recomputes the slacks
//! from `x` only at the start of each centring and within it updates them from the exact
//! increments of each step (`x_g − lo_g += Δx_g`, `b_k − g_k −= Σ_t a_t e^{σ_t} expm1(Δσ_t)`).
//! This is equivalent to perturbing the limits and bounds by a few rounding errors of `O(1)`
//! numbers, and it lets the centring converge to full precision: the reported multipliers
//! satisfy stationarity to about `10⁻¹²` relative, and [`LogProgram::kkt_residual`] is then
//! dominated by the relative duality gap (`≤ 10⁻⁹`).
//!
//! # Remark: closed form of the unstructured single-budget case
//!
//! With one parameter budget `Σ_l P_l p_l ≤ P`, `w = 1` and bounds `m_l ≤ p_l ≤ 1`, the
//! stationarity condition in `x_l = log p_l` reads `1 = λ P_l p_l + ν⁺_l − ν⁻_l`, whence
//!
//! ```text
//! p_l = min(1, max(m_l, 1 / (λ · P_l))),
//! ```
//!
//! where `λ > 0` solves the monotone equation `Σ_l P_l p_l(λ) = P` (or `λ = 0` and `p = 1` when
//! the budget is loose). With `m_l` inactive this is `p_l = min(1, 1/(λ P_l))`: every pruned
//! layer keeps the same *number* of weights `1/λ`. The tests check the solver against it.

use crate::error::{PaiError, Result};
use nalgebra::{Cholesky, DMatrix, DVector};

/// Factor `μ` by which the barrier parameter `t` grows after each centring.
const BARRIER_GROWTH: f64 = 16.0;
/// The method stops when the duality gap `m/t` is at most this times `max(1, |f(x)|)`.
const RELATIVE_GAP: f64 = 1e-9;
/// Centring stops when half the squared Newton decrement is at most this.
const NEWTON_TOLERANCE: f64 = 1e-14;
/// Centring also stops when half the squared Newton decrement is at most this and no longer
/// decreases quickly (or the line search cannot make progress), i.e. at the rounding floor.
const STALL_TOLERANCE: f64 = 1e-8;
/// Armijo fraction `α` of the predicted decrease that a step must achieve.
const ARMIJO_FRACTION: f64 = 0.1;
/// Backtracking factor `β` of the line search.
const BACKTRACK_FACTOR: f64 = 0.5;
/// Most halvings of the step in one line search.
const MAX_BACKTRACKS: usize = 80;
/// Most Newton steps in one centring.
const MAX_NEWTON_STEPS: usize = 200;
/// Most centrings (outer iterations).
const MAX_CENTRINGS: usize = 100;
/// Most halvings of `δ` while looking for the strictly feasible start.
const MAX_START_HALVINGS: usize = 2000;
/// Range of the first barrier parameter.
const INITIAL_T_RANGE: (f64, f64) = (1e-3, 1e3);

/// One term `a · exp(Σ_g e_g · x_g)` of a budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The coefficient `a ≥ 0` (parameters or MACs of the layer at full size).
    pub coefficient: f64,
    /// The sparse exponents `(g, e_g)` with `e_g ≥ 0`; empty for a constant term. Repeated
    /// indices add up.
    pub exponents: Vec<(usize, f64)>,
}

impl Term {
    /// The term `coefficient · exp(Σ_g e_g x_g)` with the given sparse exponents.
    pub fn new(coefficient: f64, exponents: Vec<(usize, f64)>) -> Self {
        Self {
            coefficient,
            exponents,
        }
    }

    /// A constant term (a layer that is not pruned, for instance).
    pub fn constant(value: f64) -> Self {
        Self::new(value, Vec::new())
    }

    /// The exponent `σ = Σ_g e_g x_g`; NaN when an index is outside `x`.
    fn exponent(&self, x: &[f64]) -> f64 {
        self.exponents
            .iter()
            .map(|&(g, e)| e * x.get(g).copied().unwrap_or(f64::NAN))
            .sum()
    }

    /// The value `a · exp(σ)` at `x` (exactly 0 when `a = 0`).
    pub fn value(&self, x: &[f64]) -> f64 {
        if self.coefficient == 0.0 {
            0.0
        } else {
            self.coefficient * self.exponent(x).exp()
        }
    }

    /// Whether the term grows with variable `g` (positive coefficient and exponent).
    fn grows_with(&self, g: usize) -> bool {
        self.coefficient > 0.0 && self.exponents.iter().any(|&(h, e)| h == g && e > 0.0)
    }
}

/// One budget `Σ_t a_t · exp(Σ_g e_{t,g} x_g) ≤ limit` (parameters, MACs, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The name used in error messages (`"parameters"`, `"MACs"`).
    pub name: String,
    /// The terms whose sum is bounded.
    pub terms: Vec<Term>,
    /// The limit `b > 0`.
    pub limit: f64,
}

impl Budget {
    /// A budget named `name` that bounds the sum of `terms` by `limit`.
    pub fn new(name: impl Into<String>, terms: Vec<Term>, limit: f64) -> Self {
        Self {
            name: name.into(),
            terms,
            limit,
        }
    }

    /// The value `g(x) = Σ_t a_t exp(σ_t)`; NaN when an exponent index is outside `x`.
    pub fn value(&self, x: &[f64]) -> f64 {
        let mut sum = CompensatedSum::default();
        for term in &self.terms {
            sum.add(term.value(x));
        }
        sum.value()
    }

    /// The gradient `∂g/∂x_g = Σ_t a_t e_{t,g} exp(σ_t)` at `x` (length `x.len()`; exponent
    /// indices outside `x` are ignored).
    pub fn gradient(&self, x: &[f64]) -> Vec<f64> {
        let mut gradient = vec![0.0; x.len()];
        for term in &self.terms {
            let value = term.value(x);
            if value == 0.0 {
                continue;
            }
            for &(g, e) in &term.exponents {
                if let Some(slot) = gradient.get_mut(g) {
                    *slot += value * e;
                }
            }
        }
        gradient
    }
}

/// A geometric program in log variables: maximise `wᵀx` subject to budgets and box bounds (see
/// the [module documentation](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct LogProgram {
    /// The objective weights `w_g ≥ 0`, one per variable.
    pub weights: Vec<f64>,
    /// The finite lower bounds `lo_g`.
    pub lower: Vec<f64>,
    /// The upper bounds `hi_g > lo_g`, possibly `+∞`.
    pub upper: Vec<f64>,
    /// The budgets `g_k(x) ≤ b_k`.
    pub budgets: Vec<Budget>,
}

/// The optimum of a [`LogProgram`] with its Karush–Kuhn–Tucker multipliers.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// The optimal point (log keep ratios, log densities, ...).
    pub x: Vec<f64>,
    /// The objective `wᵀx`.
    pub objective: f64,
    /// The budget values `g_k(x)`.
    pub budget_values: Vec<f64>,
    /// The budget multipliers `λ_k ≥ 0` (marginal objective per unit of budget).
    pub budget_multipliers: Vec<f64>,
    /// The lower-bound multipliers `ν⁻_g ≥ 0`.
    pub lower_multipliers: Vec<f64>,
    /// The upper-bound multipliers `ν⁺_g ≥ 0` (0 where `hi_g = +∞`).
    pub upper_multipliers: Vec<f64>,
    /// The number of Newton steps over all centrings.
    pub iterations: usize,
    /// The duality gap `m/t`, a bound on `f* − f(x)` (exact for an exactly centred iterate).
    pub duality_gap: f64,
}

impl LogProgram {
    /// The number of variables.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether the program has no variables.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The objective `wᵀx` (NaN when the lengths differ).
    pub fn objective(&self, x: &[f64]) -> f64 {
        if x.len() != self.weights.len() {
            return f64::NAN;
        }
        let mut sum = CompensatedSum::default();
        for (w, xg) in self.weights.iter().zip(x) {
            if *w != 0.0 {
                sum.add(w * xg);
            }
        }
        sum.value()
    }

    /// The value `g_k(x)` of budget `k`; NaN when `k` is out of range or `x` is too short.
    pub fn value(&self, k: usize, x: &[f64]) -> f64 {
        self.budgets
            .get(k)
            .map_or(f64::NAN, |budget| budget.value(x))
    }

    /// Solves the program by the barrier method (see the [module documentation](self)).
    /// `problem` names it in errors (`"PreCrop"`, `"PreConfig"`, `"layer-wise densities"`).
    ///
    /// # Errors
    ///
    /// [`PaiError::InvalidConfig`] for inconsistent lengths or out-of-range numbers;
    /// [`PaiError::Solver`] when a budget cannot be met even with every variable at its lower
    /// bound (the message gives that smallest value), when a weighted variable is unbounded,
    /// or when Newton's method fails to converge.
    pub fn solve(&self, problem: &str) -> Result<Solution> {
        self.validate(problem)?;
        let fixed = self.free_variables(problem)?;
        let barrier = Barrier::new(self, fixed);
        barrier.check_lower_corner(problem)?;
        let mut iterate = barrier.iterate(barrier.strictly_feasible_start(problem)?);
        let mut t = barrier.initial_t(&iterate);
        let mut iterations = 0;
        for _ in 0..MAX_CENTRINGS {
            iterations += barrier.center(&mut iterate, t, problem)?;
            let gap = barrier.barrier_terms() as f64 / t;
            let objective = self.objective(&iterate.x);
            if gap <= RELATIVE_GAP * objective.abs().max(1.0) {
                return Ok(barrier.solution(iterate, t, iterations));
            }
            t = barrier.next_t(t, objective);
        }
        Err(solver_error(
            problem,
            format!(
                "the barrier method did not reach a relative duality gap of {RELATIVE_GAP:e} in \
                 {MAX_CENTRINGS} centrings"
            ),
        ))
    }

    /// The largest violation of the Karush–Kuhn–Tucker conditions by `solution`, each measured
    /// relatively:
    ///
    /// * stationarity `|w_g − Σ_k λ_k ∂g_k/∂x_g − ν⁺_g + ν⁻_g|`, divided by the largest of
    ///   `max_g w_g` (1 if all weights are 0), `w_g`, `Σ_k λ_k ∂g_k/∂x_g`, `ν⁺_g`, `ν⁻_g`;
    /// * primal feasibility `max(0, g_k − b_k)/b_k` and the bound violations divided by
    ///   `max(1, |bound|)`;
    /// * dual feasibility: negative multipliers, and `ν⁺_g ≠ 0` where `hi_g = +∞`, divided by
    ///   the weight scale above;
    /// * complementary slackness `Σ_k λ_k (b_k − g_k) + Σ_g ν⁻_g (x_g − lo_g) + ν⁺_g (hi_g − x_g)`
    ///   divided by `max(1, |wᵀx|)` (a relative duality gap).
    ///
    /// The budget values and the objective are recomputed from `solution.x`. Returns `+∞` when
    /// the lengths of `solution` do not match the program, and NaN propagates.
    pub fn kkt_residual(&self, solution: &Solution) -> f64 {
        let n = self.weights.len();
        let k = self.budgets.len();
        let lengths_match = solution.x.len() == n
            && solution.lower_multipliers.len() == n
            && solution.upper_multipliers.len() == n
            && solution.budget_multipliers.len() == k
            && self.lower.len() == n
            && self.upper.len() == n;
        if !lengths_match {
            return f64::INFINITY;
        }
        let weight_scale = self.weights.iter().copied().fold(0.0, f64::max);
        let weight_scale = if weight_scale > 0.0 {
            weight_scale
        } else {
            1.0
        };
        let stationarity = self.stationarity_residual(solution, weight_scale);
        let primal = self.primal_violation(&solution.x);
        let dual = self.dual_violation(solution) / weight_scale;
        let complementarity =
            self.complementarity(solution) / self.objective(&solution.x).abs().max(1.0);
        [stationarity, primal, dual, complementarity]
            .into_iter()
            .fold(0.0, nan_max)
    }

    /// The largest relative stationarity residual.
    fn stationarity_residual(&self, solution: &Solution, weight_scale: f64) -> f64 {
        let mut pull = vec![0.0; self.weights.len()];
        for (budget, &lambda) in self.budgets.iter().zip(&solution.budget_multipliers) {
            for (slot, d) in pull.iter_mut().zip(budget.gradient(&solution.x)) {
                *slot += lambda * d;
            }
        }
        let mut worst: f64 = 0.0;
        for (g, &w) in self.weights.iter().enumerate() {
            let upper = solution.upper_multipliers[g];
            let lower = solution.lower_multipliers[g];
            let residual = w - pull[g] - upper + lower;
            let scale = [w, pull[g].abs(), upper.abs(), lower.abs()]
                .into_iter()
                .fold(weight_scale, f64::max);
            worst = nan_max(worst, residual.abs() / scale);
        }
        worst
    }

    /// The largest relative violation of a budget or a bound.
    fn primal_violation(&self, x: &[f64]) -> f64 {
        let mut worst: f64 = 0.0;
        for budget in &self.budgets {
            let excess = (budget.value(x) - budget.limit).max(0.0) / budget.limit;
            worst = nan_max(worst, excess);
        }
        for ((&xg, &lo), &hi) in x.iter().zip(&self.lower).zip(&self.upper) {
            worst = nan_max(worst, (lo - xg).max(0.0) / lo.abs().max(1.0));
            if hi.is_finite() {
                worst = nan_max(worst, (xg - hi).max(0.0) / hi.abs().max(1.0));
            }
        }
        worst
    }

    /// The largest absolute dual infeasibility.
    fn dual_violation(&self, solution: &Solution) -> f64 {
        let mut worst: f64 = 0.0;
        let multipliers = solution
            .budget_multipliers
            .iter()
            .chain(&solution.lower_multipliers)
            .chain(&solution.upper_multipliers);
        for &m in multipliers {
            worst = nan_max(worst, (-m).max(0.0));
        }
        for (&hi, &upper) in self.upper.iter().zip(&solution.upper_multipliers) {
            if !hi.is_finite() {
                worst = nan_max(worst, upper.abs());
            }
        }
        worst
    }

    /// The sum of the complementary products (the duality gap of `solution`).
    fn complementarity(&self, solution: &Solution) -> f64 {
        let mut sum = 0.0;
        for (budget, &lambda) in self.budgets.iter().zip(&solution.budget_multipliers) {
            sum += (lambda * (budget.limit - budget.value(&solution.x))).abs();
        }
        for (g, &xg) in solution.x.iter().enumerate() {
            sum += (solution.lower_multipliers[g] * (xg - self.lower[g])).abs();
            if self.upper[g].is_finite() {
                sum += (solution.upper_multipliers[g] * (self.upper[g] - xg)).abs();
            }
        }
        sum
    }

    /// Checks lengths, signs and finiteness of every input.
    fn validate(&self, problem: &str) -> Result<()> {
        let n = self.weights.len();
        if self.lower.len() != n || self.upper.len() != n {
            return Err(PaiError::invalid(
                format!("{problem} bounds"),
                format!(
                    "{n} weights but {} lower and {} upper bounds",
                    self.lower.len(),
                    self.upper.len()
                ),
            ));
        }
        for g in 0..n {
            self.validate_variable(problem, g)?;
        }
        for budget in &self.budgets {
            validate_budget(problem, budget, n)?;
        }
        Ok(())
    }

    /// Checks the weight and the bounds of variable `g`.
    fn validate_variable(&self, problem: &str, g: usize) -> Result<()> {
        let (w, lo, hi) = (self.weights[g], self.lower[g], self.upper[g]);
        if !(w.is_finite() && w >= 0.0) {
            return Err(PaiError::invalid(
                format!("{problem} weight of variable {g}"),
                format!("{w} is not a finite number ≥ 0"),
            ));
        }
        if !lo.is_finite() {
            return Err(PaiError::invalid(
                format!("{problem} lower bound of variable {g}"),
                format!("{lo} is not finite"),
            ));
        }
        if hi.is_nan() || hi <= lo {
            return Err(PaiError::invalid(
                format!("{problem} upper bound of variable {g}"),
                format!("{hi} is not greater than the lower bound {lo}"),
            ));
        }
        Ok(())
    }

    /// Marks the variables that do not matter (zero weight, no upper bound, no budget term
    /// grows with them); fails on a weighted variable in that situation (unbounded program).
    fn free_variables(&self, problem: &str) -> Result<Vec<bool>> {
        let mut fixed = vec![false; self.weights.len()];
        for (g, slot) in fixed.iter_mut().enumerate() {
            if self.upper[g].is_finite() || self.is_bounded_by_budget(g) {
                continue;
            }
            if self.weights[g] > 0.0 {
                return Err(solver_error(
                    problem,
                    format!(
                        "unbounded: variable {g} has weight {} > 0, no upper bound and no budget \
                         term grows with it, so the objective grows without limit",
                        self.weights[g]
                    ),
                ));
            }
            *slot = true;
        }
        Ok(fixed)
    }

    /// Whether some budget term grows with variable `g`.
    fn is_bounded_by_budget(&self, g: usize) -> bool {
        self.budgets
            .iter()
            .flat_map(|budget| &budget.terms)
            .any(|term| term.grows_with(g))
    }
}

/// Checks the limit and the terms of one budget of a program with `n` variables.
fn validate_budget(problem: &str, budget: &Budget, n: usize) -> Result<()> {
    let what = || format!("{problem} budget `{}`", budget.name);
    if !(budget.limit.is_finite() && budget.limit > 0.0) {
        return Err(PaiError::invalid(
            what(),
            format!("the limit {} is not a finite number > 0", budget.limit),
        ));
    }
    for (t, term) in budget.terms.iter().enumerate() {
        if !(term.coefficient.is_finite() && term.coefficient >= 0.0) {
            return Err(PaiError::invalid(
                what(),
                format!(
                    "term {t} has coefficient {}, not a finite number ≥ 0",
                    term.coefficient
                ),
            ));
        }
        for &(g, e) in &term.exponents {
            if g >= n {
                return Err(PaiError::invalid(
                    what(),
                    format!("term {t} refers to variable {g} of only {n}"),
                ));
            }
            if !(e.is_finite() && e >= 0.0) {
                return Err(PaiError::invalid(
                    what(),
                    format!("term {t} has exponent {e} on variable {g}, not a finite number ≥ 0"),
                ));
            }
        }
    }
    Ok(())
}

/// The densities of the unstructured allocation: maximise `Σ_l log p_l` subject to
/// `Σ_l P_l p_l ≤ param_budget`, optionally `Σ_l F_l p_l ≤ mac_budget`, and
/// `min_density_l ≤ p_l ≤ 1`. Layers with `min_density_l = 1` are kept dense (constants of
/// the budgets). `macs` is only read when `mac_budget` is given. See the module
/// documentation for the closed form of the single-budget case.
///
/// # Errors
///
/// [`PaiError::InvalidConfig`] when the lengths differ, a count is negative or not finite, a
/// budget is not a finite number > 0 or a minimal density is outside `(0, 1]`;
/// [`PaiError::Solver`] when even the minimal densities exceed a budget.
pub fn allocate_densities(
    params: &[f64],
    macs: &[f64],
    param_budget: f64,
    mac_budget: Option<f64>,
    min_density: &[f64],
) -> Result<Vec<f64>> {
    const PROBLEM: &str = "layer-wise densities";
    validate_density_inputs(params, macs, param_budget, mac_budget, min_density)?;
    let pruned: Vec<usize> = (0..params.len())
        .filter(|&l| min_density[l] < 1.0)
        .collect();
    let budget = |name: &str, counts: &[f64], limit: f64| {
        let terms = (0..counts.len())
            .map(|l| match pruned.binary_search(&l) {
                Ok(variable) => Term::new(counts[l], vec![(variable, 1.0)]),
                Err(_) => Term::constant(counts[l]),
            })
            .collect();
        Budget::new(name, terms, limit)
    };
    let mut budgets = vec![budget("parameters", params, param_budget)];
    if let Some(limit) = mac_budget {
        budgets.push(budget("MACs", macs, limit));
    }
    let program = LogProgram {
        weights: vec![1.0; pruned.len()],
        lower: pruned.iter().map(|&l| min_density[l].ln()).collect(),
        upper: vec![0.0; pruned.len()],
        budgets,
    };
    let solution = program.solve(PROBLEM)?;
    let mut densities = vec![1.0; params.len()];
    for (variable, &l) in pruned.iter().enumerate() {
        densities[l] = solution.x[variable].exp().clamp(min_density[l], 1.0);
    }
    Ok(densities)
}

/// Checks the inputs of [`allocate_densities`].
fn validate_density_inputs(
    params: &[f64],
    macs: &[f64],
    param_budget: f64,
    mac_budget: Option<f64>,
    min_density: &[f64],
) -> Result<()> {
    const WHAT: &str = "layer-wise density allocation";
    let layers = params.len();
    if min_density.len() != layers {
        return Err(PaiError::invalid(
            WHAT,
            format!(
                "{layers} parameter counts but {} minimal densities",
                min_density.len()
            ),
        ));
    }
    check_counts(WHAT, "parameter", params)?;
    check_limit(WHAT, "parameter", param_budget)?;
    if let Some(limit) = mac_budget {
        if macs.len() != layers {
            return Err(PaiError::invalid(
                WHAT,
                format!("{layers} parameter counts but {} MAC counts", macs.len()),
            ));
        }
        check_counts(WHAT, "MAC", macs)?;
        check_limit(WHAT, "MAC", limit)?;
    }
    for (l, &density) in min_density.iter().enumerate() {
        if !(density > 0.0 && density <= 1.0) {
            return Err(PaiError::invalid(
                WHAT,
                format!("the minimal density of layer {l} is {density}, not in (0, 1]"),
            ));
        }
    }
    Ok(())
}

/// Checks that every per-layer count is a finite number ≥ 0.
fn check_counts(what: &str, kind: &str, counts: &[f64]) -> Result<()> {
    match counts.iter().position(|&c| !(c.is_finite() && c >= 0.0)) {
        Some(l) => Err(PaiError::invalid(
            what,
            format!(
                "the {kind} count of layer {l} is {}, not a finite number ≥ 0",
                counts[l]
            ),
        )),
        None => Ok(()),
    }
}

/// Checks that a budget is a finite number > 0.
fn check_limit(what: &str, kind: &str, limit: f64) -> Result<()> {
    if limit.is_finite() && limit > 0.0 {
        Ok(())
    } else {
        Err(PaiError::invalid(
            what,
            format!("the {kind} budget {limit} is not a finite number > 0"),
        ))
    }
}

/// A [`PaiError::Solver`] for `problem`.
fn solver_error(problem: &str, reason: String) -> PaiError {
    PaiError::Solver {
        problem: problem.to_owned(),
        reason,
    }
}

/// Whether `value > 0` (false for NaN).
fn is_positive(value: f64) -> bool {
    value > 0.0
}

/// The larger of two numbers, NaN if either is NaN.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Neumaier's compensated summation.
#[derive(Debug, Default, Clone, Copy)]
struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    fn add(&mut self, value: f64) {
        let total = self.sum + value;
        if total.is_finite() {
            if self.sum.abs() >= value.abs() {
                self.compensation += (self.sum - total) + value;
            } else {
                self.compensation += (value - total) + self.sum;
            }
        }
        self.sum = total;
    }

    fn value(self) -> f64 {
        self.sum + self.compensation
    }
}

/// The barrier function of a validated program.
struct Barrier<'a> {
    program: &'a LogProgram,
    /// Variables that do not matter, left at their lower bound.
    fixed: Vec<bool>,
}

/// An iterate with its slacks. Within one centring the slacks are updated from the exact
/// increments of each step instead of being recomputed from `x`: a slack of order `1/t` is a
/// small difference of `O(1)` numbers, and recomputing it at every step would add rounding noise
/// of relative size `t · 10⁻¹⁶` that Newton's method cannot converge through. The tracked values
/// stay within a few rounding errors of `O(1)` numbers of the recomputed ones (the same as
/// perturbing the limits and bounds by that much).
#[derive(Debug, Clone)]
struct Iterate {
    /// The point.
    x: Vec<f64>,
    /// `x_g − lo_g`.
    below: Vec<f64>,
    /// `hi_g − x_g` (`+∞` without an upper bound).
    above: Vec<f64>,
    /// `b_k − g_k(x)`.
    slacks: Vec<f64>,
}

impl<'a> Barrier<'a> {
    fn new(program: &'a LogProgram, fixed: Vec<bool>) -> Self {
        Self { program, fixed }
    }

    fn n(&self) -> usize {
        self.program.weights.len()
    }

    /// The number `m` of barrier terms: budgets plus finite bounds of optimised variables.
    fn barrier_terms(&self) -> usize {
        let bounds: usize = (0..self.n())
            .filter(|&g| !self.fixed[g])
            .map(|g| 1 + usize::from(self.program.upper[g].is_finite()))
            .sum();
        self.program.budgets.len() + bounds
    }

    /// The iterate at `x` with its slacks computed from `x`.
    fn iterate(&self, x: Vec<f64>) -> Iterate {
        let program = self.program;
        let below = x.iter().zip(&program.lower).map(|(x, lo)| x - lo).collect();
        let above = x.iter().zip(&program.upper).map(|(x, hi)| hi - x).collect();
        let slacks = program
            .budgets
            .iter()
            .map(|b| b.limit - b.value(&x))
            .collect();
        Iterate {
            x,
            below,
            above,
            slacks,
        }
    }

    /// Fails when a budget is not strictly satisfied at the lower corner.
    fn check_lower_corner(&self, problem: &str) -> Result<()> {
        let lower = &self.program.lower;
        for budget in &self.program.budgets {
            let smallest = budget.value(lower);
            if smallest.is_nan() || smallest >= budget.limit {
                return Err(solver_error(
                    problem,
                    format!(
                        "the budget `{}` is infeasible: its smallest achievable value, with every \
                         variable at its lower bound, is {smallest}, which is not below the limit \
                         {}",
                        budget.name, budget.limit
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `lo + δ·(hi − lo)` (or `lo + δ`) with `δ` halved until every slack is at least half of
    /// its value at `lo`.
    fn strictly_feasible_start(&self, problem: &str) -> Result<Vec<f64>> {
        let program = self.program;
        let corner_slacks: Vec<f64> = program
            .budgets
            .iter()
            .map(|b| b.limit - b.value(&program.lower))
            .collect();
        let mut delta = 0.5;
        for _ in 0..MAX_START_HALVINGS {
            let x = self.start_point(delta);
            let interior = (0..self.n())
                .all(|g| self.fixed[g] || (x[g] > program.lower[g] && x[g] < program.upper[g]));
            if !interior {
                break;
            }
            let centred = program
                .budgets
                .iter()
                .zip(&corner_slacks)
                .all(|(b, &corner)| b.limit - b.value(&x) >= 0.5 * corner);
            if centred {
                return Ok(x);
            }
            delta *= 0.5;
        }
        Err(solver_error(
            problem,
            "no strictly feasible starting point found: the budgets leave no room above the \
             lower bounds in floating-point arithmetic"
                .to_owned(),
        ))
    }

    fn start_point(&self, delta: f64) -> Vec<f64> {
        let program = self.program;
        (0..self.n())
            .map(|g| {
                let lo = program.lower[g];
                if self.fixed[g] {
                    return lo;
                }
                let span = program.upper[g] - lo;
                let span = if span.is_finite() { span } else { 1.0 };
                lo + delta * span
            })
            .collect()
    }

    /// The least-squares `t` of `t·w ≈ ∇(barrier)` at `iterate`, clamped.
    fn initial_t(&self, iterate: &Iterate) -> f64 {
        let term_values = self.term_values(&iterate.x);
        let (gradient, _) = self.newton_system(iterate, &term_values, 0.0);
        let weights = &self.program.weights;
        let along: f64 = weights.iter().zip(&gradient).map(|(w, d)| w * d).sum();
        let norm: f64 = weights.iter().map(|w| w * w).sum();
        let t = along / norm;
        if t.is_finite() && t > 0.0 {
            t.clamp(INITIAL_T_RANGE.0, INITIAL_T_RANGE.1)
        } else {
            1.0
        }
    }

    /// The next barrier parameter: `μ·t`, or less when less suffices for the gap target at the
    /// current objective.
    fn next_t(&self, t: f64, objective: f64) -> f64 {
        let target = self.barrier_terms() as f64 / (RELATIVE_GAP * objective.abs().max(1.0));
        (BARRIER_GROWTH * t).min(1.01 * target)
    }

    /// `a_{k,t} exp(σ_{k,t})` per budget and term.
    fn term_values(&self, x: &[f64]) -> Vec<Vec<f64>> {
        self.program
            .budgets
            .iter()
            .map(|budget| budget.terms.iter().map(|term| term.value(x)).collect())
            .collect()
    }

    /// The gradient and the dense (row-major) Hessian of `φ_t` at `iterate`.
    fn newton_system(
        &self,
        iterate: &Iterate,
        term_values: &[Vec<f64>],
        t: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        let n = self.n();
        let program = self.program;
        let mut gradient: Vec<f64> = program.weights.iter().map(|w| -t * w).collect();
        let mut hessian = vec![0.0; n * n];
        for (k, budget) in program.budgets.iter().enumerate() {
            let slack = iterate.slacks[k];
            let mut budget_gradient = vec![0.0; n];
            for (term, &value) in budget.terms.iter().zip(&term_values[k]) {
                for &(g, e) in &term.exponents {
                    budget_gradient[g] += value * e;
                    for &(h, f) in &term.exponents {
                        hessian[g * n + h] += value * e * f / slack;
                    }
                }
            }
            let support: Vec<usize> = (0..n).filter(|&g| budget_gradient[g] != 0.0).collect();
            for &g in &support {
                gradient[g] += budget_gradient[g] / slack;
                for &h in &support {
                    hessian[g * n + h] += budget_gradient[g] * budget_gradient[h] / (slack * slack);
                }
            }
        }
        for g in 0..n {
            if self.fixed[g] {
                gradient[g] = 0.0;
                hessian[g * n + g] = 1.0;
                continue;
            }
            let below = iterate.below[g];
            gradient[g] -= 1.0 / below;
            hessian[g * n + g] += 1.0 / (below * below);
            let above = iterate.above[g];
            if above.is_finite() {
                gradient[g] += 1.0 / above;
                hessian[g * n + g] += 1.0 / (above * above);
            }
        }
        (gradient, hessian)
    }

    /// Minimises `φ_t` from `iterate` by damped Newton steps; returns the number of steps.
    fn center(&self, iterate: &mut Iterate, t: f64, problem: &str) -> Result<usize> {
        *iterate = self.iterate(std::mem::take(&mut iterate.x));
        let mut previous = f64::INFINITY;
        for step in 0..MAX_NEWTON_STEPS {
            let term_values = self.term_values(&iterate.x);
            let (gradient, hessian) = self.newton_system(iterate, &term_values, t);
            let rhs: Vec<f64> = gradient.iter().map(|d| -d).collect();
            let direction = solve_positive_definite(&hessian, &rhs).ok_or_else(|| {
                solver_error(
                    problem,
                    format!("the Newton system at t = {t:e} is not positive definite"),
                )
            })?;
            let slope: f64 = gradient.iter().zip(&direction).map(|(g, d)| g * d).sum();
            let decrement = -slope;
            if !decrement.is_finite() {
                return Err(solver_error(
                    problem,
                    format!("the Newton decrement at t = {t:e} is not finite"),
                ));
            }
            let stalled = decrement / 2.0 <= STALL_TOLERANCE && decrement > 0.5 * previous;
            if decrement / 2.0 <= NEWTON_TOLERANCE || stalled {
                return Ok(step);
            }
            previous = decrement;
            match self.line_search(iterate, &term_values, &direction, slope, t) {
                Some(next) => *iterate = next,
                None if decrement / 2.0 <= STALL_TOLERANCE => return Ok(step),
                None => {
                    return Err(solver_error(
                        problem,
                        format!(
                            "the line search stalled at t = {t:e} with squared Newton decrement \
                             {decrement:e}"
                        ),
                    ));
                }
            }
        }
        Err(solver_error(
            problem,
            format!("Newton's method did not centre in {MAX_NEWTON_STEPS} steps at t = {t:e}"),
        ))
    }

    /// Backtracking until `iterate + sΔ` is strictly feasible and satisfies the Armijo
    /// condition.
    fn line_search(
        &self,
        iterate: &Iterate,
        term_values: &[Vec<f64>],
        direction: &[f64],
        slope: f64,
        t: f64,
    ) -> Option<Iterate> {
        let mut step = 1.0;
        for _ in 0..MAX_BACKTRACKS {
            let moves: Vec<f64> = direction
                .iter()
                .zip(&self.fixed)
                .map(|(&d, &fixed)| if fixed { 0.0 } else { step * d })
                .collect();
            if let Some((trial, change)) = self.step(iterate, term_values, &moves, t)
                && change <= ARMIJO_FRACTION * step * slope
            {
                return Some(trial);
            }
            step *= BACKTRACK_FACTOR;
        }
        None
    }

    /// The iterate moved by `moves` and the change `φ_t(new) − φ_t(old)`, both computed from
    /// the increments (`log1p`, `expm1`); `None` if the new iterate is not strictly feasible.
    fn step(
        &self,
        iterate: &Iterate,
        term_values: &[Vec<f64>],
        moves: &[f64],
        t: f64,
    ) -> Option<(Iterate, f64)> {
        let program = self.program;
        let mut change = CompensatedSum::default();
        let mut trial = iterate.clone();
        for (g, &moved) in moves.iter().enumerate() {
            if self.fixed[g] {
                continue;
            }
            trial.x[g] += moved;
            trial.below[g] += moved;
            trial.above[g] -= moved;
            if !(is_positive(trial.below[g]) && is_positive(trial.above[g])) {
                return None;
            }
            change.add(-t * program.weights[g] * moved);
            change.add(-(moved / iterate.below[g]).ln_1p());
            if iterate.above[g].is_finite() {
                change.add(-(-moved / iterate.above[g]).ln_1p());
            }
        }
        for (k, budget) in program.budgets.iter().enumerate() {
            let mut increase = CompensatedSum::default();
            for (term, &value) in budget.terms.iter().zip(&term_values[k]) {
                if value != 0.0 && !term.exponents.is_empty() {
                    let moved: f64 = term.exponents.iter().map(|&(g, e)| e * moves[g]).sum();
                    increase.add(value * moved.exp_m1());
                }
            }
            let increase = increase.value();
            trial.slacks[k] -= increase;
            if !is_positive(trial.slacks[k]) {
                return None;
            }
            change.add(-(-increase / iterate.slacks[k]).ln_1p());
        }
        let change = change.value();
        change.is_finite().then_some((trial, change))
    }

    /// The solution with the barrier multipliers of the centred `iterate` at `t`.
    fn solution(&self, iterate: Iterate, t: f64, iterations: usize) -> Solution {
        let program = self.program;
        let n = self.n();
        let mut lower_multipliers = vec![0.0; n];
        let mut upper_multipliers = vec![0.0; n];
        for g in (0..n).filter(|&g| !self.fixed[g]) {
            lower_multipliers[g] = 1.0 / (t * iterate.below[g]);
            if iterate.above[g].is_finite() {
                upper_multipliers[g] = 1.0 / (t * iterate.above[g]);
            }
        }
        let x: Vec<f64> = (0..n)
            .map(|g| iterate.x[g].clamp(program.lower[g], program.upper[g]))
            .collect();
        Solution {
            objective: program.objective(&x),
            budget_values: program.budgets.iter().map(|b| b.value(&x)).collect(),
            budget_multipliers: iterate.slacks.iter().map(|s| 1.0 / (t * s)).collect(),
            x,
            lower_multipliers,
            upper_multipliers,
            iterations,
            duality_gap: self.barrier_terms() as f64 / t,
        }
    }
}

/// Solves `A z = b` for a symmetric positive definite row-major `A` by `nalgebra`'s Cholesky
/// factorisation after the symmetric scaling `D^{-1/2} A D^{-1/2}` with `D = diag(A)`. Returns
/// `None` when `A` is not numerically positive definite.
fn solve_positive_definite(matrix: &[f64], rhs: &[f64]) -> Option<Vec<f64>> {
    let n = rhs.len();
    let scale: Vec<f64> = (0..n)
        .map(|i| {
            let d = matrix[i * n + i];
            (d > 0.0 && d.is_finite()).then(|| 1.0 / d.sqrt())
        })
        .collect::<Option<_>>()?;
    let scaled = DMatrix::from_fn(n, n, |i, j| matrix[i * n + j] * scale[i] * scale[j]);
    let factor = Cholesky::new(scaled)?;
    let scaled_rhs = DVector::from_iterator(n, rhs.iter().zip(&scale).map(|(r, s)| r * s));
    let solution = factor.solve(&scaled_rhs);
    let z: Vec<f64> = solution.iter().zip(&scale).map(|(z, s)| z * s).collect();
    z.iter().all(|v| v.is_finite()).then_some(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The unstructured single-budget program with one term `P_l exp(x_l)` per layer.
    fn unstructured(params: &[f64], min_density: &[f64], limit: f64) -> LogProgram {
        let terms = params
            .iter()
            .enumerate()
            .map(|(l, &p)| Term::new(p, vec![(l, 1.0)]))
            .collect();
        LogProgram {
            weights: vec![1.0; params.len()],
            lower: min_density.iter().map(|m| m.ln()).collect(),
            upper: vec![0.0; params.len()],
            budgets: vec![Budget::new("parameters", terms, limit)],
        }
    }

    /// `p_l = clamp(1/(λ P_l), m_l, 1)` with `λ` found by bisection on `Σ P_l p_l(λ) = P`
    /// (in log space, 200 halvings).
    fn closed_form(params: &[f64], min_density: &[f64], limit: f64) -> Vec<f64> {
        let densities = |lambda: f64| -> Vec<f64> {
            params
                .iter()
                .zip(min_density)
                .map(|(&p, &m)| (1.0 / (lambda * p)).clamp(m, 1.0))
                .collect()
        };
        let used = |lambda: f64| -> f64 {
            densities(lambda)
                .iter()
                .zip(params)
                .map(|(d, p)| d * p)
                .sum()
        };
        let (mut low, mut high) = (-60.0_f64, 60.0_f64);
        for _ in 0..200 {
            let mid = 0.5 * (low + high);
            if used(mid.exp()) > limit {
                low = mid;
            } else {
                high = mid;
            }
        }
        densities(high.exp())
    }

    fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64) {
        assert_eq!(actual.len(), expected.len());
        for (l, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (a - e).abs() <= tolerance,
                "entry {l}: {a} vs {e} (all: {actual:?} vs {expected:?})"
            );
        }
    }

    const PARAMS: [f64; 6] = [1000.0, 5000.0, 20000.0, 300.0, 80000.0, 1200.0];

    #[test]
    fn single_budget_matches_closed_form() {
        // With min density 0.1 on layer 4: layers 0, 1, 3, 5 stay dense (upper bound active),
        // layer 4 sits at its minimum (lower bound active), layer 2 is interior.
        let mut min_density = [1e-3; 6];
        min_density[4] = 0.1;
        for (min_density, limit) in [([1e-3; 6], 21_500.0), (min_density, 21_500.0)] {
            let expected = closed_form(&PARAMS, &min_density, limit);
            let solution = unstructured(&PARAMS, &min_density, limit)
                .solve("test")
                .unwrap();
            let densities: Vec<f64> = solution.x.iter().map(|x| x.exp()).collect();
            assert_close(&densities, &expected, 1e-6);
            let allocated = allocate_densities(&PARAMS, &[], limit, None, &min_density).unwrap();
            assert_close(&allocated, &expected, 1e-6);
        }
        // The hand-computed optimum of the second case: 1/λ = 6000 weights per pruned layer.
        let expected = [1.0, 1.0, 0.3, 1.0, 0.1, 1.0];
        let allocated = allocate_densities(&PARAMS, &[], 21_500.0, None, &min_density).unwrap();
        assert_close(&allocated, &expected, 1e-6);
    }

    #[test]
    fn active_budget_is_met_and_kkt_holds() {
        let mut min_density = [1e-3; 6];
        min_density[4] = 0.1;
        let program = unstructured(&PARAMS, &min_density, 21_500.0);
        let solution = program.solve("test").unwrap();
        let used = program.value(0, &solution.x);
        assert!((used - 21_500.0).abs() <= 1e-6 * 21_500.0, "used {used}");
        assert!((solution.budget_values[0] - used).abs() <= 1e-9 * used);
        let residual = program.kkt_residual(&solution);
        assert!(residual < 1e-6, "KKT residual {residual}");
        // λ = 1/6000 (every interior layer keeps 6000 weights).
        let lambda = solution.budget_multipliers[0];
        assert!((lambda * 6000.0 - 1.0).abs() < 1e-6, "λ = {lambda}");
        // Complementary slackness: inactive bounds have (almost) zero multipliers, active ones
        // carry the difference w − λ ∂g/∂x.
        for l in [0, 1, 2, 3, 5] {
            assert!(solution.lower_multipliers[l] < 1e-6);
        }
        for l in [2, 4] {
            assert!(solution.upper_multipliers[l] < 1e-6);
        }
        // Layer 4: 1 = λ·P·p − ν⁻ ⇒ ν⁻ = 8000/6000 − 1.
        assert!((solution.lower_multipliers[4] - (8000.0 / 6000.0 - 1.0)).abs() < 1e-6);
        // Layer 0: 1 = λ·P + ν⁺ ⇒ ν⁺ = 1 − 1000/6000.
        assert!((solution.upper_multipliers[0] - (1.0 - 1000.0 / 6000.0)).abs() < 1e-6);
        let gap = lambda * (21_500.0 - used);
        assert!(gap.abs() < 1e-8, "λ·slack = {gap}");
        assert!(solution.duality_gap <= 1e-9 * solution.objective.abs().max(1.0));
    }

    /// The best feasible point of a 3-variable program on the lattice `top − i·step` of the box
    /// `[lo, top]` (anchored at the top so that upper bounds lie on it), restricted to `window`
    /// around `centre` when given.
    fn grid_search(
        program: &LogProgram,
        top: &[f64; 3],
        step: f64,
        window: Option<(&[f64], f64)>,
    ) -> (f64, [f64; 3]) {
        let axis = |g: usize| -> Vec<f64> {
            let (from, to) = match window {
                Some((centre, half)) => (
                    (centre[g] - half).max(program.lower[g]),
                    (centre[g] + half).min(top[g]),
                ),
                None => (program.lower[g], top[g]),
            };
            let first = ((top[g] - to) / step).ceil() as usize;
            let last = ((top[g] - from) / step).floor() as usize;
            (first..=last).map(|i| top[g] - i as f64 * step).collect()
        };
        let axes = [axis(0), axis(1), axis(2)];
        let mut best = (f64::NEG_INFINITY, [f64::NAN; 3]);
        for &a in &axes[0] {
            for &b in &axes[1] {
                for &c in &axes[2] {
                    let x = [a, b, c];
                    let feasible = (0..program.budgets.len())
                        .all(|k| program.value(k, &x) <= program.budgets[k].limit);
                    let objective = program.objective(&x);
                    if feasible && objective > best.0 {
                        best = (objective, x);
                    }
                }
            }
        }
        best
    }

    /// A coarse grid (step 0.02) over the whole box must not beat the solver (global check); a
    /// fine grid (step 0.001) within ±0.05 of the solver's point must not beat it either, must
    /// come within `‖w‖₁·step` of it, and its argmax must lie within `distance` of it.
    fn check_against_grid(program: &LogProgram, top: [f64; 3], distance: f64) -> Solution {
        let solution = program.solve("grid").unwrap();
        let (coarse, _) = grid_search(program, &top, 0.02, None);
        assert!(
            solution.objective >= coarse - 1e-9,
            "solver {} below the coarse grid {coarse}",
            solution.objective
        );
        let (best, argmax) = grid_search(program, &top, 1e-3, Some((&solution.x, 0.05)));
        assert!(
            solution.objective >= best - 1e-9,
            "solver {} below grid {best}",
            solution.objective
        );
        // Rounding the optimum down onto the grid stays feasible, so the grid gets within
        // ‖w‖₁·step of it: the solver's objective cannot be overstated.
        let slack: f64 = program.weights.iter().sum::<f64>() * 1e-3;
        assert!(
            solution.objective <= best + slack + 1e-9,
            "solver {solution:?} far above grid {best} at {argmax:?}"
        );
        for g in 0..3 {
            assert!(
                (solution.x[g] - argmax[g]).abs() <= distance,
                "x {:?} vs grid {argmax:?}, {solution:?}, grid best {best}",
                solution.x
            );
        }
        for (k, budget) in program.budgets.iter().enumerate() {
            assert!(program.value(k, &solution.x) <= budget.limit * (1.0 + 1e-12));
        }
        assert!(program.kkt_residual(&solution) < 1e-6);
        solution
    }

    /// Both budgets bind: their multipliers are clearly positive (relative to the limits).
    fn assert_both_budgets_bind(program: &LogProgram, solution: &Solution) {
        for (budget, &lambda) in program.budgets.iter().zip(&solution.budget_multipliers) {
            assert!(
                lambda * budget.limit > 1e-2,
                "λ = {lambda} for `{}`",
                budget.name
            );
        }
    }

    #[test]
    fn grid_search_three_layers_two_budgets() {
        // Parameters favour pruning layer 1, MACs favour pruning layer 0: both budgets bind,
        // and layer 2 is small enough to stay dense, so the optimum is a vertex.
        let lower = [0.05_f64.ln(); 3];
        let program = LogProgram {
            weights: vec![1.0; 3],
            lower: lower.to_vec(),
            upper: vec![0.0; 3],
            budgets: vec![
                Budget::new(
                    "parameters",
                    vec![
                        Term::new(100.0, vec![(0, 1.0)]),
                        Term::new(400.0, vec![(1, 1.0)]),
                        Term::new(20.0, vec![(2, 1.0)]),
                    ],
                    150.0,
                ),
                Budget::new(
                    "MACs",
                    vec![
                        Term::new(900.0, vec![(0, 1.0)]),
                        Term::new(300.0, vec![(1, 1.0)]),
                        Term::new(50.0, vec![(2, 1.0)]),
                    ],
                    500.0,
                ),
            ],
        };
        let solution = check_against_grid(&program, [0.0; 3], 5e-3);
        assert_both_budgets_bind(&program, &solution);
        assert!(solution.upper_multipliers[2] > 1e-3);
    }

    #[test]
    fn grid_search_structured_pair_term() {
        // Groups 0, 1, 2: an input conv P·exp(x0), a conv between groups 0 and 1
        // P·exp(x0 + x1), one between 1 and 2, an output layer P·exp(x2), and a BatchNorm per
        // group. The objective counts the layers touching each group.
        let lower = [-(16.0_f64.ln()), -(32.0_f64.ln()), -(16.0_f64.ln())];
        let parameters = vec![
            Term::new(432.0, vec![(0, 1.0)]),
            Term::new(4608.0, vec![(0, 1.0), (1, 1.0)]),
            Term::new(4608.0, vec![(1, 1.0), (2, 1.0)]),
            Term::new(160.0, vec![(2, 1.0)]),
            Term::new(32.0, vec![(0, 1.0)]),
            Term::new(64.0, vec![(1, 1.0)]),
            Term::new(32.0, vec![(2, 1.0)]),
            Term::constant(10.0),
        ];
        let macs = vec![
            Term::new(3_538_944.0, vec![(0, 1.0)]),
            Term::new(1_179_648.0, vec![(0, 1.0), (1, 1.0)]),
            Term::new(2_359_296.0, vec![(1, 1.0), (2, 1.0)]),
            Term::new(160.0, vec![(2, 1.0)]),
        ];
        let program = LogProgram {
            weights: vec![2.0, 2.0, 2.0],
            lower: lower.to_vec(),
            upper: vec![0.0; 3],
            budgets: vec![
                Budget::new("parameters", parameters, 2500.0),
                Budget::new("MACs", macs, 2_500_000.0),
            ],
        };
        let solution = check_against_grid(&program, [0.0; 3], 5e-3);
        assert_both_budgets_bind(&program, &solution);
        // PreConfig-like widening: upper bounds log 2 instead of 0.
        let mut widened = program.clone();
        widened.upper = vec![2.0_f64.ln(); 3];
        widened.budgets[0].limit = 8_000.0;
        widened.budgets[1].limit = 8_000_000.0;
        let solution = check_against_grid(&widened, [2.0_f64.ln(); 3], 5e-3);
        assert_both_budgets_bind(&widened, &solution);
        // Group 0 is widened, group 2 to the maximum.
        assert!(solution.x[0] > 0.1);
        assert!(solution.upper_multipliers[2] > 0.5);
    }

    #[test]
    fn infeasible_budget_names_budget_and_minimum() {
        let program = LogProgram {
            weights: vec![1.0, 1.0],
            lower: vec![0.0, -1.0],
            upper: vec![1.0, 0.0],
            budgets: vec![
                Budget::new(
                    "MACs",
                    vec![Term::new(1000.0, vec![(0, 1.0)]), Term::constant(2000.0)],
                    2500.0,
                ),
                Budget::new("parameters", vec![Term::new(1.0, vec![(1, 1.0)])], 10.0),
            ],
        };
        let error = program.solve("PreCrop").unwrap_err();
        assert!(matches!(error, PaiError::Solver { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.starts_with("PreCrop: "), "{message}");
        assert!(message.contains("`MACs`"), "{message}");
        assert!(message.contains("infeasible"), "{message}");
        assert!(message.contains("3000"), "{message}");
        assert!(message.contains("2500"), "{message}");

        let error = allocate_densities(&[100.0, 100.0], &[], 50.0, None, &[0.5, 0.5]).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, PaiError::Solver { .. }), "{error:?}");
        assert!(message.contains("layer-wise densities"), "{message}");
        assert!(message.contains("`parameters`"), "{message}");
    }

    #[test]
    fn unbounded_variable_is_reported() {
        let program = LogProgram {
            weights: vec![1.0, 1.0],
            lower: vec![-1.0, -1.0],
            upper: vec![0.0, f64::INFINITY],
            budgets: vec![Budget::new(
                "parameters",
                vec![Term::new(1.0, vec![(0, 1.0), (1, 0.0)])],
                10.0,
            )],
        };
        let error = program.solve("PreConfig").unwrap_err();
        assert!(matches!(error, PaiError::Solver { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("unbounded"), "{message}");
        assert!(message.contains("variable 1"), "{message}");
    }

    #[test]
    fn irrelevant_variable_stays_at_lower_bound() {
        // Variable 1 has zero weight, no upper bound and no term: any value is optimal.
        let program = LogProgram {
            weights: vec![1.0, 0.0],
            lower: vec![-3.0, -2.0],
            upper: vec![f64::INFINITY, f64::INFINITY],
            budgets: vec![Budget::new(
                "parameters",
                vec![Term::new(1.0, vec![(0, 1.0)])],
                2.0,
            )],
        };
        let solution = program.solve("test").unwrap();
        assert!((solution.x[0] - 2.0_f64.ln()).abs() < 1e-7);
        assert_eq!(solution.x[1], -2.0);
        assert_eq!(solution.lower_multipliers[1], 0.0);
        assert!(program.kkt_residual(&solution) < 1e-6);
    }

    fn valid_program() -> LogProgram {
        LogProgram {
            weights: vec![1.0, 2.0],
            lower: vec![-2.0, -2.0],
            upper: vec![0.0, 0.0],
            budgets: vec![Budget::new(
                "parameters",
                vec![Term::new(1.0, vec![(0, 1.0), (1, 1.0)])],
                0.5,
            )],
        }
    }

    #[test]
    fn invalid_inputs_are_rejected() {
        assert!(valid_program().solve("test").is_ok());
        let mutations: Vec<fn(&mut LogProgram)> = vec![
            |p| p.lower.truncate(1),
            |p| p.upper.push(0.0),
            |p| p.weights[0] = f64::NAN,
            |p| p.weights[1] = -1.0,
            |p| p.lower[0] = f64::NEG_INFINITY,
            |p| p.lower[1] = f64::NAN,
            |p| p.upper[0] = -2.0,
            |p| p.upper[1] = f64::NAN,
            |p| p.budgets[0].limit = 0.0,
            |p| p.budgets[0].limit = f64::INFINITY,
            |p| p.budgets[0].terms[0].coefficient = -1.0,
            |p| p.budgets[0].terms[0].coefficient = f64::NAN,
            |p| p.budgets[0].terms[0].exponents[1].0 = 2,
            |p| p.budgets[0].terms[0].exponents[1].1 = -0.5,
            |p| p.budgets[0].terms[0].exponents[0].1 = f64::INFINITY,
        ];
        for (i, mutate) in mutations.into_iter().enumerate() {
            let mut program = valid_program();
            mutate(&mut program);
            let error = program.solve("test").unwrap_err();
            assert!(
                matches!(error, PaiError::InvalidConfig { .. }),
                "mutation {i}: {error:?}"
            );
        }
        let invalid =
            |result: Result<Vec<f64>>| matches!(result, Err(PaiError::InvalidConfig { .. }));
        assert!(invalid(allocate_densities(
            &[1.0, 2.0],
            &[],
            1.0,
            None,
            &[0.1]
        )));
        assert!(invalid(allocate_densities(
            &[1.0],
            &[],
            1.0,
            Some(1.0),
            &[0.1]
        )));
        assert!(invalid(allocate_densities(&[-1.0], &[], 1.0, None, &[0.1])));
        assert!(invalid(allocate_densities(
            &[1.0],
            &[f64::NAN],
            1.0,
            Some(1.0),
            &[0.1]
        )));
        assert!(invalid(allocate_densities(&[1.0], &[], 1.0, None, &[0.0])));
        assert!(invalid(allocate_densities(&[1.0], &[], 1.0, None, &[1.5])));
        assert!(invalid(allocate_densities(&[1.0], &[], 0.0, None, &[0.1])));
        assert!(invalid(allocate_densities(
            &[1.0],
            &[1.0],
            1.0,
            Some(-1.0),
            &[0.1]
        )));
    }

    #[test]
    fn loose_budgets_keep_everything_dense() {
        let densities = allocate_densities(&PARAMS, &PARAMS, 1e6, Some(1e6), &[1e-3; 6]).unwrap();
        assert_close(&densities, &[1.0; 6], 1e-8);
    }

    #[test]
    fn dense_layers_are_constants_and_mac_budget_binds() {
        // Layer 0 must stay dense; the MAC budget is the binding one.
        let params = [100.0, 100.0, 100.0];
        let macs = [1000.0, 4000.0, 1000.0];
        let min_density = [1.0, 0.01, 0.01];
        let densities =
            allocate_densities(&params, &macs, 1000.0, Some(2000.0), &min_density).unwrap();
        assert_eq!(densities[0], 1.0);
        // Single binding budget with constant 1000: 4000 p1 + 1000 p2 = 1000, equal shares.
        assert_close(&densities, &[1.0, 0.125, 0.5], 1e-6);
    }

    #[test]
    fn empty_program_is_trivial() {
        let program = LogProgram {
            weights: Vec::new(),
            lower: Vec::new(),
            upper: Vec::new(),
            budgets: vec![Budget::new("parameters", vec![Term::constant(1.0)], 2.0)],
        };
        let solution = program.solve("test").unwrap();
        assert!(solution.x.is_empty());
        assert!(program.kkt_residual(&solution) < 1e-6);
        assert!(
            allocate_densities(&[], &[], 1.0, None, &[])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn value_and_residual_tolerate_bad_arguments() {
        let program = valid_program();
        assert!(program.value(3, &[0.0, 0.0]).is_nan());
        assert!(program.value(0, &[0.0]).is_nan());
        assert_eq!(program.value(0, &[0.0, 0.0]), 1.0);
        let mut solution = program.solve("test").unwrap();
        solution.lower_multipliers.pop();
        assert_eq!(program.kkt_residual(&solution), f64::INFINITY);
    }

    /// A chain of `groups` channel groups (PreCrop-like): a conv between consecutive groups,
    /// a BatchNorm per group, an input and an output layer; parameter and MAC budgets.
    fn chain_program(groups: usize, param_fraction: f64, mac_fraction: f64) -> LogProgram {
        let channels = |g: usize| 16.0 * (1 + g / 8) as f64;
        let spatial = |g: usize| (32.0 / (1 + g / 16) as f64).powi(2);
        let mut parameters = Vec::new();
        let mut macs = Vec::new();
        let mut weights = vec![0.0; groups];
        parameters.push(Term::new(27.0 * channels(0), vec![(0, 1.0)]));
        macs.push(Term::new(27.0 * channels(0) * spatial(0), vec![(0, 1.0)]));
        weights[0] += 1.0;
        for g in 0..groups {
            parameters.push(Term::new(2.0 * channels(g), vec![(g, 1.0)]));
            if g + 1 < groups {
                let count = 9.0 * channels(g) * channels(g + 1);
                parameters.push(Term::new(count, vec![(g, 1.0), (g + 1, 1.0)]));
                macs.push(Term::new(
                    count * spatial(g + 1),
                    vec![(g, 1.0), (g + 1, 1.0)],
                ));
                weights[g] += 1.0;
                weights[g + 1] += 1.0;
            }
        }
        parameters.push(Term::new(
            10.0 * channels(groups - 1),
            vec![(groups - 1, 1.0)],
        ));
        weights[groups - 1] += 1.0;
        let zero = vec![0.0; groups];
        let total = |terms: &[Term]| -> f64 { terms.iter().map(|t| t.value(&zero)).sum() };
        let (param_limit, mac_limit) = (
            param_fraction * total(&parameters),
            mac_fraction * total(&macs),
        );
        LogProgram {
            weights,
            lower: (0..groups).map(|g| -channels(g).ln()).collect(),
            upper: vec![0.0; groups],
            budgets: vec![
                Budget::new("parameters", parameters, param_limit),
                Budget::new("MACs", macs, mac_limit),
            ],
        }
    }

    #[test]
    fn sixty_variable_two_budget_report() {
        // Budget fractions for which both budgets bind (λ_k·b_k well above 0).
        for (param_fraction, mac_fraction) in [(0.15, 0.2), (0.2, 0.3), (0.25, 0.3)] {
            let program = chain_program(60, param_fraction, mac_fraction);
            let start = std::time::Instant::now();
            let solution = program.solve("PreCrop").unwrap();
            let elapsed = start.elapsed();
            let residual = program.kkt_residual(&solution);
            println!(
                "60 groups, budget fractions ({param_fraction}, {mac_fraction}): {} Newton \
                 steps, {elapsed:?}, KKT residual {residual:e}, duality gap {:e}",
                solution.iterations, solution.duality_gap
            );
            assert!(residual < 1e-6, "KKT residual {residual}");
            assert_both_budgets_bind(&program, &solution);
            for (k, budget) in program.budgets.iter().enumerate() {
                let used = program.value(k, &solution.x);
                assert!(used <= budget.limit && used >= budget.limit * (1.0 - 1e-6));
            }
        }
    }

    /// A small xorshift generator for the random comparison points.
    struct XorShift(u64);

    impl XorShift {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The top of the sampling box: `hi`, or `lo + 3` where `hi = +∞`.
    fn sampling_top(program: &LogProgram) -> Vec<f64> {
        program
            .lower
            .iter()
            .zip(&program.upper)
            .map(|(&lo, &hi)| hi.min(lo + 3.0))
            .collect()
    }

    fn feasible(program: &LogProgram, x: &[f64]) -> bool {
        program
            .budgets
            .iter()
            .all(|budget| budget.value(x) <= budget.limit)
    }

    /// A random feasible point: a uniform point `u` of the box, pulled towards `lo` to the
    /// boundary of the budgets (bisection on `lo + θ(u − lo)`) when it is infeasible.
    fn random_feasible_point(program: &LogProgram, rng: &mut XorShift) -> Vec<f64> {
        let top = sampling_top(program);
        let lower = &program.lower;
        let u: Vec<f64> = (0..lower.len())
            .map(|g| lower[g] + rng.uniform() * (top[g] - lower[g]))
            .collect();
        let at = |theta: f64| -> Vec<f64> {
            (0..lower.len())
                .map(|g| lower[g] + theta * (u[g] - lower[g]))
                .collect()
        };
        if feasible(program, &u) {
            return u;
        }
        let (mut inside, mut outside) = (0.0, 1.0);
        for _ in 0..60 {
            let mid = 0.5 * (inside + outside);
            if feasible(program, &at(mid)) {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        at(inside)
    }

    prop_compose! {
        fn random_term(n: usize)(
            log_coefficient in 0.0f64..14.0,
            first in 0..n,
            second in 0..n,
            exponents in (0.25f64..2.0, 0.25f64..2.0),
            pair in any::<bool>(),
        ) -> Term {
            let mut list = vec![(first, exponents.0)];
            if pair {
                list.push((second, exponents.1));
            }
            Term::new(log_coefficient.exp(), list)
        }
    }

    prop_compose! {
        fn random_program()(n in 2usize..=8, budgets in 1usize..=2)(
            weights in prop::collection::vec(0.0f64..3.0, n),
            lower in prop::collection::vec(-4.0f64..-0.5, n),
            upper_kind in prop::collection::vec(0u8..3, n),
            own in prop::collection::vec(0.0f64..14.0, n),
            extra in prop::collection::vec(prop::collection::vec(random_term(n), 0..6), budgets),
            constants in prop::collection::vec(0.1f64..2.0, budgets),
            fractions in prop::collection::vec(0.001f64..1.2, budgets),
        ) -> LogProgram {
            let upper = upper_kind
                .iter()
                .map(|kind| match kind {
                    0 => 0.0,
                    1 => 0.5,
                    _ => f64::INFINITY,
                })
                .collect();
            let mut program = LogProgram { weights, lower, upper, budgets: Vec::new() };
            for (k, mut terms) in extra.into_iter().enumerate() {
                if k == 0 {
                    // Every variable grows budget 0, so none is unbounded.
                    terms.extend(own.iter().enumerate().map(|(g, &a)| Term::new(a.exp(), vec![(g, 1.0)])));
                }
                terms.push(Term::constant(constants[k]));
                program.budgets.push(Budget::new(format!("budget {k}"), terms, 1.0));
            }
            let top = sampling_top(&program);
            for (budget, fraction) in program.budgets.iter_mut().zip(&fractions) {
                let (low, high) = (budget.value(&program.lower), budget.value(&top));
                budget.limit = low + fraction * (high - low) + 1e-3 * low;
            }
            program
        }
    }

    proptest! {
        #[test]
        fn random_programs_are_optimal(program in random_program(), seed in 1u64..u64::MAX) {
            let solution = program.solve("random").unwrap();
            let residual = program.kkt_residual(&solution);
            prop_assert!(residual < 1e-6, "KKT residual {}", residual);
            for (k, budget) in program.budgets.iter().enumerate() {
                prop_assert!(program.value(k, &solution.x) <= budget.limit);
            }
            for g in 0..program.len() {
                prop_assert!(solution.x[g] >= program.lower[g] && solution.x[g] <= program.upper[g]);
            }
            let tolerance = 1e-8 * solution.objective.abs().max(1.0);
            let mut rng = XorShift(seed);
            for _ in 0..200 {
                let point = random_feasible_point(&program, &mut rng);
                let objective = program.objective(&point);
                prop_assert!(
                    solution.objective >= objective - tolerance,
                    "random point {:?} beats the solver: {} > {}", point, objective, solution.objective
                );
            }
        }
    }
}

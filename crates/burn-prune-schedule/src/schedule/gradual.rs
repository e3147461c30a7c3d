//! Gradual schedules: a curve from an initial to a final sparsity, sampled every `interval`
//! steps (AGP, cosine, one-cycle).

use super::{SparsitySchedule, check_positive, check_sparsity, last_step};
use crate::error::{self, ScheduleError};
use burn::config::Config;
use serde::{Deserialize, Serialize};

/// The shape of a [`Gradual`] schedule, as a function of the position `p = j/n ∈ [0, 1]` of
/// the `j`-th of `n` updates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Curve {
    /// `s_f + (s_i − s_f)(1 − p)^power`. Power 3 is AGP (Zhu & Gupta 2017); power 1 is a
    /// linear ramp.
    Polynomial {
        /// The exponent, positive.
        power: f64,
    },
    /// `s_f + (s_i − s_f)(1 + cos(πp))/2`.
    Cosine,
    /// fasterai's one-cycle curve, `s_i + (s_f − s_i)(1 + e^{β−α})/(1 + e^{β−αp})`: slow,
    /// then steep, then slow. At `p = 0` it is `(1 + e^{β−α})/(1 + e^β)` of the way (0.25%
    /// for the defaults α = 14, β = 6), at `p = 1` exactly `s_f`.
    OneCycle {
        /// Steepness α (14 in fasterai).
        alpha: f64,
        /// Offset β (6 in fasterai).
        beta: f64,
    },
}

impl Curve {
    /// AGP's cubic curve.
    pub const AGP: Curve = Curve::Polynomial { power: 3.0 };
    /// The one-cycle curve with fasterai's constants.
    pub const ONE_CYCLE: Curve = Curve::OneCycle {
        alpha: 14.0,
        beta: 6.0,
    };

    /// The sparsity at position `p ∈ [0, 1]` between `initial` and `last`.
    pub fn at(&self, initial: f64, last: f64, p: f64) -> f64 {
        match *self {
            Curve::Polynomial { power } => last + (initial - last) * (1.0 - p).powf(power),
            Curve::Cosine => {
                last + (initial - last) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0
            }
            Curve::OneCycle { alpha, beta } => {
                initial
                    + (last - initial) * (1.0 + (beta - alpha).exp())
                        / (1.0 + (beta - alpha * p).exp())
            }
        }
    }

    fn check(&self) -> error::Result<()> {
        let bad = |what: &str, v: f64| {
            Err(ScheduleError::invalid(
                format!("{what} of the gradual curve"),
                format!("{v} must be finite and positive"),
            ))
        };
        match *self {
            Curve::Polynomial { power } if !(power.is_finite() && power > 0.0) => {
                bad("power", power)
            }
            Curve::OneCycle { alpha, .. } if !(alpha.is_finite() && alpha > 0.0) => {
                bad("alpha", alpha)
            }
            Curve::OneCycle { beta, .. } if !beta.is_finite() => bad("beta", beta),
            _ => Ok(()),
        }
    }
}

/// Configuration of a [`Gradual`] schedule.
///
/// The masks are updated at steps `t_j = begin + j·interval`, `j = 0..=updates`, to
/// `curve(j / updates)`. With [`Curve::AGP`] this is Zhu & Gupta's
/// `s_t = s_f + (s_i − s_f)(1 − (t − t₀)/(nΔt))³`.
///
/// ```
/// use burn_prune_schedule::{GradualConfig, SparsitySchedule};
///
/// // AGP from 0 to 90% in 10 updates, 100 steps apart (TF-MOT's default interval).
/// let agp = GradualConfig::agp(0.9, 10).init().unwrap();
/// assert_eq!(agp.sparsity(0), 0.0);
/// assert!((agp.sparsity(500) - 0.9 * (1.0 - 0.5f64.powi(3))).abs() < 1e-12);
/// assert_eq!(agp.sparsity(550), agp.sparsity(500)); // held between updates
/// assert!((agp.sparsity(1000) - 0.9).abs() < 1e-12);
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct GradualConfig {
    /// The final sparsity `s_f`, in `[0, 1)`.
    pub final_sparsity: f64,
    /// The number of steps `n` from the first to the last update (`n + 1` updates).
    pub updates: u64,
    /// Steps between updates `Δt`.
    #[config(default = 100)]
    pub interval: u64,
    /// The sparsity at the first update `s_i`, in `[0, s_f]`.
    #[config(default = 0.0)]
    pub initial_sparsity: f64,
    /// The step of the first update `t₀`.
    #[config(default = 0)]
    pub begin: u64,
    /// The curve.
    #[config(default = "Curve::AGP")]
    pub curve: Curve,
}

impl GradualConfig {
    /// AGP (cubic) to `final_sparsity` over `updates` intervals of 100 steps.
    pub fn agp(final_sparsity: f64, updates: u64) -> Self {
        Self::new(final_sparsity, updates)
    }

    /// A cosine ramp to `final_sparsity` over `updates` intervals of 100 steps.
    pub fn cosine(final_sparsity: f64, updates: u64) -> Self {
        Self::new(final_sparsity, updates).with_curve(Curve::Cosine)
    }

    /// fasterai's one-cycle ramp to `final_sparsity` over `updates` intervals of 100 steps.
    pub fn one_cycle(final_sparsity: f64, updates: u64) -> Self {
        Self::new(final_sparsity, updates).with_curve(Curve::ONE_CYCLE)
    }

    /// Check the configuration and build the schedule.
    ///
    /// Errors: sparsities outside `[0, 1)` or an initial sparsity above the final one (masks
    /// only grow), zero updates or a zero interval, a non-positive power or α, a last update
    /// past `u64::MAX`.
    pub fn init(&self) -> error::Result<Gradual> {
        check_sparsity(self.final_sparsity, "gradual final sparsity")?;
        check_sparsity(self.initial_sparsity, "gradual initial sparsity")?;
        if self.initial_sparsity > self.final_sparsity {
            return Err(ScheduleError::invalid(
                "gradual initial sparsity",
                format!(
                    "{} is above the final sparsity {}; pruned weights never come back, so the sparsity can only grow",
                    self.initial_sparsity, self.final_sparsity
                ),
            ));
        }
        check_positive(self.updates, "gradual updates")?;
        check_positive(self.interval, "gradual interval")?;
        self.curve.check()?;
        last_step(self.begin, self.updates, self.interval, "gradual schedule")?;
        Ok(Gradual {
            config: self.clone(),
        })
    }
}

/// A curve sampled every `interval` steps; see [`GradualConfig`].
#[derive(Clone, Debug)]
pub struct Gradual {
    config: GradualConfig,
}

impl Gradual {
    /// The configuration.
    pub fn config(&self) -> &GradualConfig {
        &self.config
    }
}

impl SparsitySchedule for Gradual {
    fn sparsity(&self, step: u64) -> f64 {
        let c = &self.config;
        if step < c.begin {
            return 0.0;
        }
        let j = ((step - c.begin) / c.interval).min(c.updates);
        if j == c.updates {
            // Exactly s_f, whatever the curve's rounding.
            return c.final_sparsity;
        }
        c.curve.at(
            c.initial_sparsity,
            c.final_sparsity,
            j as f64 / c.updates as f64,
        )
    }

    fn is_update(&self, step: u64) -> bool {
        let c = &self.config;
        step >= c.begin
            && (step - c.begin).is_multiple_of(c.interval)
            && (step - c.begin) / c.interval <= c.updates
    }

    fn update_steps(&self) -> Vec<u64> {
        let c = &self.config;
        (0..=c.updates).map(|j| c.begin + j * c.interval).collect()
    }
}

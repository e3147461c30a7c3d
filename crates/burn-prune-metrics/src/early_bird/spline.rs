//! The spline-partition early-bird detector (max-affine spline paper, arXiv 2101.02338).

pub use super::config::SplineEarlyBirdConfig;
use super::{EarlyBirdStatus, Firing, differing_bits};
use crate::error::{MetricsError, Result};
use burn_prune_core::BitMask;
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};

/// Side of the input grid in the paper's code (`N = 100`: 10 000 inputs).
pub const DEFAULT_GRID_SIDE: usize = 100;

/// The `n × n` grid of coefficients `(α, β)` of the inputs `α·x₀ + β·x₁`, with `α` and `β`
/// each taking the `n` evenly spaced values of `[0, 1]` (`t_i = i / (n − 1)`; `n = 1` gives
/// the single value `0`).
///
/// **Range.** `[0, 1]²` is the range of the paper's official code (`getCanvas` in
/// `GATECH-EIC/Spline-EB`: `np.meshgrid(np.linspace(0, 1, N), np.linspace(0, 1, N))`), so
/// that patterns and distances computed from this grid are comparable with the paper's
/// 0.16 threshold. The square's corners are `0`, `x₀` (α = 1, β = 0), `x₁` (α = 0, β = 1)
/// and `x₀ + x₁`: both images lie on it, and the segment between them crosses it diagonally.
/// For a square reaching beyond the two images use [`grid_coefficients_in`] (e.g. `[-1, 2]`).
///
/// **Order.** Point `p = row·n + col` has `α = t_col` and `β = t_row` (NumPy's
/// `meshgrid(...).reshape(-1)` order): `α` varies fastest. [`LayerPattern`] points and the
/// grid adjacency of [`spline_scores`](super::spline_scores) follow this order.
///
/// ```
/// use burn_prune_metrics::early_bird::grid_coefficients;
///
/// let g = grid_coefficients(3);
/// assert_eq!(g.len(), 9);
/// assert_eq!(g[0], (0.0, 0.0));
/// assert_eq!(g[1], (0.5, 0.0)); // α varies fastest
/// assert_eq!(g[3], (0.0, 0.5));
/// assert_eq!(g[8], (1.0, 1.0));
/// ```
pub fn grid_coefficients(n: usize) -> Vec<(f32, f32)> {
    grid(n, 0.0, 1.0)
}

/// [`grid_coefficients`] over `[lo, hi]²` instead of `[0, 1]²`: `t_i = lo + (hi − lo)·i/(n − 1)`
/// (`n = 1` gives `lo`), both ends exact.
///
/// Errors: a non-finite bound, or `lo ≥ hi`.
///
/// ```
/// use burn_prune_metrics::early_bird::grid_coefficients_in;
///
/// let g = grid_coefficients_in(4, -1.0, 2.0).unwrap();
/// assert_eq!(g[..4], [(-1.0, -1.0), (0.0, -1.0), (1.0, -1.0), (2.0, -1.0)]);
/// ```
pub fn grid_coefficients_in(n: usize, lo: f32, hi: f32) -> Result<Vec<(f32, f32)>> {
    if !lo.is_finite() || !hi.is_finite() || lo >= hi {
        return Err(MetricsError::invalid(
            "grid range",
            format!("[{lo}, {hi}] is not a finite interval with lo < hi"),
        ));
    }
    Ok(grid(n, lo, hi))
}

fn grid(n: usize, lo: f32, hi: f32) -> Vec<(f32, f32)> {
    let t: Vec<f32> = (0..n)
        .map(|i| {
            if i + 1 == n && n > 1 {
                hi
            } else if n > 1 {
                (lo as f64 + (hi as f64 - lo as f64) * i as f64 / (n - 1) as f64) as f32
            } else {
                lo
            }
        })
        .collect();
    let mut out = Vec::with_capacity(n * n);
    for &beta in &t {
        for &alpha in &t {
            out.push((alpha, beta));
        }
    }
    out
}

/// The binary activation pattern of one layer over the grid points: bit set where the unit's
/// pre-activation is positive (for a normalisation layer followed by ReLU: its output > 0).
///
/// **Layout: unit-major.** Bit `unit · points + point` is unit `unit` at grid point `point`
/// (points in [`grid_coefficients`] order). For a convolutional layer each (channel, spatial
/// position) pair is one unit, channel-major: `unit = channel · (H·W) + position`.
///
/// The fields are public; every function taking a pattern checks it first
/// ([`LayerPattern::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPattern {
    /// Layer name (module path), used to match layers between epochs and in error messages.
    pub name: String,
    /// Number of units (neurons; channels × positions for a convolution).
    pub units: usize,
    /// Number of grid points (`n²` for an `n × n` grid).
    pub points: usize,
    /// `units · points` bits, unit-major.
    pub bits: BitMask,
}

impl LayerPattern {
    /// A checked pattern.
    ///
    /// Errors: see [`LayerPattern::validate`].
    pub fn new(
        name: impl Into<String>,
        units: usize,
        points: usize,
        bits: BitMask,
    ) -> Result<Self> {
        let pattern = Self {
            name: name.into(),
            units,
            points,
            bits,
        };
        pattern.validate()?;
        Ok(pattern)
    }

    /// A pattern whose bit for `(unit, point)` is `active(unit, point)`.
    ///
    /// Errors: see [`LayerPattern::validate`].
    ///
    /// ```
    /// use burn_prune_metrics::early_bird::LayerPattern;
    ///
    /// // 2 units over a 2×2 grid: unit 0 active where α is large (col 1), unit 1 nowhere.
    /// let p = LayerPattern::from_fn("relu1", 2, 4, |u, p| u == 0 && p % 2 == 1).unwrap();
    /// assert_eq!(p.get(0, 1), Some(true));
    /// assert_eq!(p.bits.to_bools(), vec![false, true, false, true, false, false, false, false]);
    /// ```
    pub fn from_fn(
        name: impl Into<String>,
        units: usize,
        points: usize,
        mut active: impl FnMut(usize, usize) -> bool,
    ) -> Result<Self> {
        let len = units.checked_mul(points).ok_or_else(|| {
            MetricsError::invalid("activation pattern", "units × points overflows usize")
        })?;
        let mut bits = Vec::with_capacity(len);
        for u in 0..units {
            for p in 0..points {
                bits.push(active(u, p));
            }
        }
        Self::new(name, units, points, BitMask::from_bools(&bits))
    }

    /// The bit of `unit` at `point` (`None` out of range).
    pub fn get(&self, unit: usize, point: usize) -> Option<bool> {
        if unit >= self.units || point >= self.points {
            return None;
        }
        self.bits.get(unit * self.points + point)
    }

    /// Check that the pattern is non-empty and its bits are `units × points` long.
    ///
    /// Errors (naming the layer): no units, no points, or a bit count that differs.
    pub fn validate(&self) -> Result<()> {
        let what = || format!("activation pattern of layer `{}`", self.name);
        if self.units == 0 || self.points == 0 {
            return Err(MetricsError::invalid(
                what(),
                format!(
                    "it has {} units over {} points; both must be positive",
                    self.units, self.points
                ),
            ));
        }
        match self.units.checked_mul(self.points) {
            Some(n) if n == self.bits.len() => Ok(()),
            _ => Err(MetricsError::invalid(
                what(),
                format!(
                    "{} bits for {} units × {} points",
                    self.bits.len(),
                    self.units,
                    self.points
                ),
            )),
        }
    }

    /// The fraction of bits that differ from `other`'s (same name, units and points needed).
    fn distance(&self, other: &Self) -> Result<f64> {
        if self.name != other.name || self.units != other.units || self.points != other.points {
            return Err(MetricsError::Mismatch {
                context: format!("activation pattern of layer `{}`", other.name),
                reason: format!(
                    "`{}` with {} units × {} points against `{}` with {} units × {} points",
                    self.name, self.units, self.points, other.name, other.units, other.points
                ),
            });
        }
        Ok(differing_bits(&self.bits, &other.bits) as f64 / self.bits.len() as f64)
    }
}

/// The activation patterns of every normalisation/ReLU layer of a model at one epoch, in a
/// fixed layer order.
///
/// ```
/// use burn_prune_metrics::early_bird::{ActivationPatterns, LayerPattern, pattern_distance};
///
/// let layer = |name: &str, on: bool| {
///     LayerPattern::from_fn(name, 1, 4, |_, p| on && p < 2).unwrap()
/// };
/// let a = ActivationPatterns::new(vec![layer("bn1", true), layer("bn2", true)]).unwrap();
/// let b = ActivationPatterns::new(vec![layer("bn1", true), layer("bn2", false)]).unwrap();
/// // bn1: 0 of 4 bits differ, bn2: 2 of 4: mean 0.25.
/// assert_eq!(pattern_distance(&a, &b).unwrap(), 0.25);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationPatterns {
    /// One pattern per layer.
    pub layers: Vec<LayerPattern>,
}

impl ActivationPatterns {
    /// Checked patterns.
    ///
    /// Errors: see [`ActivationPatterns::validate`].
    pub fn new(layers: Vec<LayerPattern>) -> Result<Self> {
        let patterns = Self { layers };
        patterns.validate()?;
        Ok(patterns)
    }

    /// Check that there is at least one layer, every layer is valid
    /// ([`LayerPattern::validate`]) and no two layers share a name.
    pub fn validate(&self) -> Result<()> {
        if self.layers.is_empty() {
            return Err(MetricsError::invalid(
                "activation patterns",
                "there are no layers",
            ));
        }
        let mut names = HashSet::with_capacity(self.layers.len());
        for layer in &self.layers {
            layer.validate()?;
            if !names.insert(layer.name.as_str()) {
                return Err(MetricsError::invalid(
                    "activation patterns",
                    format!("layer name `{}` appears twice", layer.name),
                ));
            }
        }
        Ok(())
    }
}

/// Per-layer distances between the patterns of two epochs: the fraction of differing bits of
/// each layer, in layer order.
///
/// Errors: invalid patterns ([`ActivationPatterns::validate`]); a different number of layers;
/// a layer whose name, unit count or point count differs (naming it).
pub fn layer_distances(a: &ActivationPatterns, b: &ActivationPatterns) -> Result<Vec<f64>> {
    a.validate()?;
    b.validate()?;
    check_same_layout(a, b)?;
    a.layers
        .iter()
        .zip(&b.layers)
        .map(|(x, y)| x.distance(y))
        .collect()
}

/// The distance between the patterns of two epochs: the mean over layers of the fraction of
/// differing bits (the official code's `getDiff` averaged over BN layers). Symmetric, in
/// `[0, 1]`, `0` for identical patterns.
///
/// Errors: those of [`layer_distances`].
pub fn pattern_distance(a: &ActivationPatterns, b: &ActivationPatterns) -> Result<f64> {
    let d = layer_distances(a, b)?;
    Ok(d.iter().sum::<f64>() / d.len() as f64)
}

fn check_same_layout(a: &ActivationPatterns, b: &ActivationPatterns) -> Result<()> {
    for (x, y) in a.layers.iter().zip(&b.layers) {
        if x.name != y.name || x.units != y.units || x.points != y.points {
            return Err(MetricsError::Mismatch {
                context: format!("activation pattern of layer `{}`", y.name),
                reason: format!(
                    "expected layer `{}` with {} units × {} points, \
                     found `{}` with {} units × {} points",
                    x.name, x.units, x.points, y.name, y.units, y.points
                ),
            });
        }
    }
    if a.layers.len() != b.layers.len() {
        let extra = a
            .layers
            .get(b.layers.len())
            .or_else(|| b.layers.get(a.layers.len()))
            .map(|l| l.name.as_str())
            .unwrap_or_default();
        return Err(MetricsError::Mismatch {
            context: format!("activation pattern of layer `{extra}`"),
            reason: format!(
                "{} layers against {} layers",
                a.layers.len(),
                b.layers.len()
            ),
        });
    }
    Ok(())
}

impl SplineEarlyBirdConfig {
    /// Check the configuration and build an empty detector.
    ///
    /// Errors: a look-back of 0, a threshold outside `(0, 1]` (with a strict `<`, a threshold
    /// of 0 could never fire).
    pub fn init(&self) -> Result<SplineEarlyBirdDetector> {
        if self.lookback == 0 {
            return Err(MetricsError::invalid(
                "spline early-bird look-back",
                "0 previous epochs leave nothing to compare with; need at least 1",
            ));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(MetricsError::invalid(
                "spline early-bird distance threshold",
                format!("{} is outside (0, 1]", self.threshold),
            ));
        }
        Ok(SplineEarlyBirdDetector {
            config: self.clone(),
            previous: VecDeque::with_capacity(self.lookback + 1),
            firing: Firing::default(),
        })
    }
}

/// The spline early-bird detector: each epoch, the activation patterns over the input grid;
/// the ticket has emerged when patterns of `lookback` previous epochs are held and the largest
/// [`pattern_distance`] from the newest to each of them is below `threshold` (strict `<`).
///
/// A failed observation (invalid patterns, a layout that differs from earlier epochs) leaves
/// the detector as it was.
///
/// ```
/// use burn_prune_metrics::early_bird::{ActivationPatterns, LayerPattern, SplineEarlyBirdConfig};
///
/// let mut detector = SplineEarlyBirdConfig::new().with_lookback(2).init().unwrap();
/// // One layer of one unit over 10 points, active at the first `active` of them.
/// let epoch = |active: usize| {
///     let layer = LayerPattern::from_fn("bn1", 1, 10, |_, p| p < active).unwrap();
///     ActivationPatterns::new(vec![layer]).unwrap()
/// };
/// assert!(!detector.observe(epoch(5)).unwrap().emerged); // nothing to compare with
/// assert!(!detector.observe(epoch(7)).unwrap().emerged); // only one previous epoch
/// let s = detector.observe(epoch(8)).unwrap();
/// assert_eq!(s.distances, vec![0.3, 0.1]); // max 0.3: not yet
/// let s = detector.observe(epoch(8)).unwrap();
/// assert_eq!(s.distances, vec![0.1, 0.0]); // max 0.1 < 0.16: fired
/// assert!(s.emerged);
/// assert_eq!(detector.fired_at(), Some(3));
/// ```
#[derive(Clone, Debug)]
pub struct SplineEarlyBirdDetector {
    config: SplineEarlyBirdConfig,
    previous: VecDeque<ActivationPatterns>,
    firing: Firing,
}

impl SplineEarlyBirdDetector {
    /// Observe one epoch's patterns.
    ///
    /// Errors: invalid patterns ([`ActivationPatterns::validate`]); a layer list whose names,
    /// unit counts or point counts differ from the earlier epochs', naming the layer.
    pub fn observe(&mut self, patterns: ActivationPatterns) -> Result<EarlyBirdStatus> {
        patterns.validate()?;
        let distances = self
            .previous
            .iter()
            .map(|p| pattern_distance(p, &patterns))
            .collect::<Result<Vec<f64>>>()?;
        let emerged = self.previous.len() == self.config.lookback
            && distances.iter().all(|&d| d < self.config.threshold);
        self.previous.push_back(patterns);
        if self.previous.len() > self.config.lookback {
            self.previous.pop_front();
        }
        Ok(self.firing.record(distances, emerged))
    }

    /// Distances from the newest patterns to each previous epoch's compared at the last
    /// observation, oldest first.
    pub fn distances(&self) -> &[f64] {
        &self.firing.distances
    }

    /// Whether the ticket has emerged at some observation.
    pub fn fired(&self) -> bool {
        self.firing.fired_at.is_some()
    }

    /// The first observation (epoch index, from 0) at which the ticket emerged.
    pub fn fired_at(&self) -> Option<usize> {
        self.firing.fired_at
    }

    /// The patterns held for comparison with the next epoch, oldest first (at most
    /// `lookback`; the newest observed is the last).
    pub fn held(&self) -> impl ExactSizeIterator<Item = &ActivationPatterns> {
        self.previous.iter()
    }

    /// Number of observations so far.
    pub fn observations(&self) -> usize {
        self.firing.observations
    }

    /// The configuration.
    pub fn config(&self) -> &SplineEarlyBirdConfig {
        &self.config
    }

    /// Forget every observation (the configuration stays).
    pub fn reset(&mut self) {
        self.previous.clear();
        self.firing = Firing::default();
    }
}

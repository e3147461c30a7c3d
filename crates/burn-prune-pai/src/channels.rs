//! PreCrop's channel keep ratios and PreConfig's widths (Cai et al., arXiv 2203.02549): one
//! variable per dependency group, budgets that are posynomials of them, rounding to whole
//! channels.

use crate::error::{self, PaiError};
use crate::precrop::{LayerCosts, PreCrop};
use crate::solver::{Budget, LogProgram, Term};
use burn::module::Module;
use burn::prelude::*;
use burn_prune_core::structure::{DependencyGraph, GraphOptions, StructuralPlan, trace};
use std::collections::BTreeMap;

/// Most rounds of the condensation (see [`PreCrop::channels`]).
const MAX_CONDENSATIONS: usize = 50;
/// The condensation stops when no log ratio moves more than this.
const CONDENSATION_TOLERANCE: f64 = 1e-9;

/// One axis of a selected weight that lies in a dependency group with a variable.
#[derive(Clone, Debug)]
struct Share {
    /// The group.
    group: usize,
    /// The program's variable of that group.
    variable: usize,
    /// Indices of the axis whose unit is pinned.
    pinned: usize,
    /// Indices of the axis whose unit may go (or widen).
    free: usize,
}

impl Share {
    /// Length of the axis.
    fn len(&self) -> usize {
        self.pinned + self.free
    }
}

/// A selected weight: its full-size cost and the axes that change with the channels.
#[derive(Clone, Debug)]
struct Layer {
    /// Weights at full size.
    params: f64,
    /// MACs at full size (papers' convention).
    macs: f64,
    /// The axes in groups with a variable.
    shares: Vec<Share>,
}

/// The size of an axis with `pinned` fixed indices and `free` indices in a group that keeps
/// `kept` of its `group_free` free units (more than `group_free` when widened). A unit may
/// own several indices (a linear layer after a flatten): they scale together.
fn axis_width(pinned: usize, free: usize, group_free: usize, kept: usize) -> usize {
    pinned + (free as f64 * kept as f64 / group_free as f64).round() as usize
}

/// Channel counts chosen by [`PreCrop::channels`]: a keep (or widening) ratio per dependency
/// group, rounded to whole channels.
///
/// Groups are those of [`graph`](Self::graph). A group's *free* units are those the graph does
/// not pin (a model output, option-A padding, ...); pinned units always stay, and the ratio
/// applies to the free ones.
#[derive(Clone, Debug)]
pub struct ChannelAllocation {
    /// The dependency graph of the traced model.
    pub graph: DependencyGraph,
    /// The continuous optimum per group: the factor applied to its free units (1 for groups
    /// without a variable: nothing free, or touching no selected weight).
    pub ratios: Vec<f64>,
    /// Free units per group.
    pub free: Vec<usize>,
    /// Free units each group keeps after rounding (more than `free` where PreConfig widens).
    pub kept: Vec<usize>,
    /// Weights of each selected parameter at full size.
    pub params: BTreeMap<String, u64>,
    /// MACs of each selected parameter's layer at full size (papers' convention).
    pub macs: BTreeMap<String, u64>,
    /// The objective's layers, in the order of `params`.
    layers: Vec<Layer>,
}

/// PreConfig's new configuration is read from the allocation by the model's own
/// configuration, which alone knows which parameter holds which width:
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::{Vgg, VggConfig, VggLayer::{Conv, MaxPool}};
/// use burn_prune_pai::PreCropConfig;
///
/// let base = VggConfig::new(vec![Conv(8), MaxPool, Conv(16), MaxPool, Conv(16)]);
/// let model = base.init(&Device::flex()).unwrap();
/// // The dense model's MACs, with layers up to twice as wide.
/// let allocation = PreCropConfig::new().with_macs(Some(1.0)).with_max_widening(2.0)
///     .init().unwrap()
///     .channels(&model, [1, 3, 32, 32], |m: &Vgg, x| m.forward(x)).unwrap();
/// let wider = base.with_widths_of(&allocation).unwrap();
/// assert!(allocation.is_widened());
/// assert_ne!(wider.cfg, base.cfg);
/// let _ = wider.init(&Device::flex()).unwrap();
/// ```
impl burn_prune_core::structure::ParamShapes for ChannelAllocation {
    fn new_shape(&self, path: &str) -> Option<Vec<usize>> {
        ChannelAllocation::new_shape(self, path)
    }
}

impl ChannelAllocation {
    /// The shape `path` gets: every axis in a dependency group resized to the group's kept
    /// units. `None` for a path the trace did not see.
    pub fn new_shape(&self, path: &str) -> Option<Vec<usize>> {
        let mut shape = self.graph.shapes.get(path)?.clone();
        for (gi, g) in self.graph.groups.iter().enumerate() {
            for m in g.members.iter().filter(|m| m.path == path) {
                let pinned = m.units.iter().filter(|u| g.pinned.contains_key(u)).count();
                let free = m.units.len() - pinned;
                if let Some(size) = shape.get_mut(m.axis) {
                    *size = axis_width(pinned, free, self.free[gi].max(1), self.kept[gi]);
                }
            }
        }
        Some(shape)
    }

    /// The kept (or widened) fraction of each selected weight, `new size / full size`.
    pub fn densities(&self) -> BTreeMap<String, f64> {
        self.params
            .keys()
            .zip(&self.layers)
            .map(|(path, layer)| (path.clone(), fraction(layer, &self.kept, &self.free)))
            .collect()
    }

    /// Selected weights after rounding.
    pub fn kept_params(&self) -> f64 {
        self.layers
            .iter()
            .map(|l| l.params * fraction(l, &self.kept, &self.free))
            .sum()
    }

    /// MACs of the selected layers after rounding.
    pub fn kept_macs(&self) -> f64 {
        self.layers
            .iter()
            .map(|l| l.macs * fraction(l, &self.kept, &self.free))
            .sum()
    }

    /// The objective `Σ_l log p_l` at the rounded channel counts.
    pub fn log_density_sum(&self) -> f64 {
        self.layers
            .iter()
            .map(|l| fraction(l, &self.kept, &self.free).ln())
            .sum()
    }

    /// Whether some group is wider than in the model (PreConfig).
    pub fn is_widened(&self) -> bool {
        self.kept.iter().zip(&self.free).any(|(k, f)| k > f)
    }

    /// The structural plan removing the channels, for the core compactor
    /// ([`StructuralPlan::apply`], or [`StructuralPlan::apply_with_constants`] for grouped
    /// convolutions). Each group keeps its pinned units and `kept` free units evenly spaced
    /// among its free units: at initialization the weights are i.i.d., so which channels stay
    /// does not matter, only how many.
    ///
    /// Errors: a widened group (PreConfig): build the wider model from a configuration
    /// instead, with the widths of [`new_shape`](Self::new_shape).
    pub fn plan(&self) -> error::Result<StructuralPlan> {
        if let Some(gi) = (0..self.kept.len()).find(|&g| self.kept[g] > self.free[g]) {
            return Err(PaiError::Model {
                method: "PreConfig",
                reason: format!(
                    "group `{}` widens from {} to {} free channels: a plan can only remove \
                     channels; build the wider model from a configuration",
                    self.graph.groups[gi].root(),
                    self.free[gi],
                    self.kept[gi]
                ),
            });
        }
        let keep: Vec<Vec<bool>> = self
            .graph
            .groups
            .iter()
            .zip(self.kept.iter().zip(&self.free))
            .map(|(g, (&kept, &free))| {
                let mut keep: Vec<bool> =
                    (0..g.n_units).map(|u| g.pinned.contains_key(&u)).collect();
                let free_units: Vec<usize> = (0..g.n_units).filter(|&u| !keep[u]).collect();
                for i in 0..kept {
                    keep[free_units[i * free / kept]] = true;
                }
                keep
            })
            .collect();
        Ok(StructuralPlan::from_groups(&self.graph, &keep)?)
    }
}

/// The fraction `Π_axes width/len` of a layer at the given kept counts.
fn fraction(layer: &Layer, kept: &[usize], free: &[usize]) -> f64 {
    layer
        .shares
        .iter()
        .map(|s| axis_width(s.pinned, s.free, free[s.group], kept[s.group]) as f64 / s.len() as f64)
        .product()
}

impl PreCrop {
    /// The channel counts of `model` (traced with `forward` on an input of `input_shape`):
    /// PreCrop's structured allocation, or PreConfig's with
    /// [`max_widening`](crate::PreCropConfig::max_widening) above 1.
    ///
    /// # The program
    ///
    /// Every dependency group `g` with free units gets a variable `x_g = log c_g`, the factor
    /// applied to its free units. An axis of a selected weight in group `g` with `a` pinned
    /// and `b` free indices keeps `(a + b·c_g)/(a + b)` of its size, so a weight's kept
    /// fraction `p_l` is a product of such factors and its cost `P_l·p_l` (weights) or
    /// `F_l·p_l` (MACs) expands into a posynomial of `c`. PreCrop maximises `Σ_l log p_l`
    /// under the budgets, with `1/b_g ≤ c_g ≤ max_widening` (at least one free unit). Where
    /// nothing is pinned `log p_l = Σ x_g` is linear and [`crate::solver`] solves the program
    /// exactly; where an axis has pinned indices `log(a + b e^x)` is convex, and the program
    /// is solved by condensation: `log(a + b e^x)` is replaced by its tangent in `x` at the
    /// current point (a lower bound, exact there), the concave program is solved, and the
    /// tangent moves to the new point until the ratios stop moving (at most 50 rounds; each
    /// round cannot lower the objective, and the limit satisfies the optimality conditions).
    ///
    /// # Rounding
    ///
    /// Each group keeps `⌊c_g·b_g⌋` free units (at least one), which meets every budget, then
    /// units are added back one at a time, each time to the group with the largest gain of
    /// `Σ_l log p_l` per unit of the tightest budget, while every budget still holds. The
    /// counts then meet the budgets and use them up to less than one channel of the cheapest
    /// group.
    ///
    /// Errors: those of [`densities`](Self::densities); budgets that cannot be met even
    /// with one free channel per group.
    ///
    /// ```
    /// use burn::prelude::*;
    /// use burn::nn::{Linear, LinearConfig, Relu};
    /// use burn_prune_pai::PreCropConfig;
    ///
    /// #[derive(Module, Debug)]
    /// struct Mlp { a: Linear, b: Linear, c: Linear }
    ///
    /// let device = Device::flex();
    /// let mlp = Mlp {
    ///     a: LinearConfig::new(16, 64).init(&device),
    ///     b: LinearConfig::new(64, 64).init(&device),
    ///     c: LinearConfig::new(64, 4).init(&device),
    /// };
    /// let forward = |m: &Mlp, x: Tensor<2>| {
    ///     let x = Relu::new().forward(m.a.forward(x));
    ///     m.c.forward(Relu::new().forward(m.b.forward(x)))
    /// };
    /// let allocation = PreCropConfig::new().with_params(Some(0.5)).init().unwrap()
    ///     .channels(&mlp, [1, 16], forward).unwrap();
    /// assert!(allocation.kept_params() <= 0.5 * 5376.0);
    /// let small = allocation.plan().unwrap().apply(mlp).unwrap();
    /// assert_eq!(small.a.weight.dims()[1], small.b.weight.dims()[0]);
    /// // The first hidden layer is narrowed; the second, which only feeds the small output
    /// // layer, is cheap to keep (its optimum ratio would exceed 1).
    /// assert!(small.a.weight.dims()[1] < 64);
    /// assert_eq!(small.b.weight.dims()[1], 64);
    /// ```
    pub fn channels<M, F, const D: usize, const O: usize>(
        &self,
        model: &M,
        input_shape: [usize; D],
        forward: F,
    ) -> error::Result<ChannelAllocation>
    where
        M: Module,
        F: Fn(&M, Tensor<D>) -> Tensor<O>,
    {
        let problem = self.problem();
        let trace = trace(model, input_shape, forward)?;
        let costs = self.layer_costs(model, &trace)?;
        let graph = DependencyGraph::build(&trace, &GraphOptions::default())?;
        let (param_limit, mac_limit) = self.limits(&costs);
        let free: Vec<usize> = graph.groups.iter().map(|g| g.prunable()).collect();
        let (variables, layers) = self.variables(&graph, &costs, &free);
        let lower: Vec<f64> = variables.iter().map(|&g| -(free[g] as f64).ln()).collect();
        let upper = vec![self.config().max_widening.ln(); variables.len()];
        // (cost index: 0 weights, 1 MACs; limit) of each budget that is set.
        let limits: Vec<(usize, f64)> = [param_limit, mac_limit]
            .into_iter()
            .enumerate()
            .filter_map(|(k, limit)| limit.map(|l| (k, l)))
            .collect();
        let budgets = limits
            .iter()
            .map(|&(k, limit)| match k {
                0 => budget("parameters", &layers, |l| l.params, limit),
                _ => budget("MACs", &layers, |l| l.macs, limit),
            })
            .collect();
        let mut program = LogProgram {
            weights: vec![0.0; variables.len()],
            lower,
            upper,
            budgets,
        };
        let mut x = vec![0.0; variables.len()];
        for round in 0..MAX_CONDENSATIONS {
            program.weights = tangent_weights(&layers, &x);
            let next = program.solve(problem)?.x;
            let moved = x
                .iter()
                .zip(&next)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            x = next;
            if !has_pinned(&layers) || (round > 0 && moved <= CONDENSATION_TOLERANCE) {
                break;
            }
        }
        let mut ratios = vec![1.0; graph.groups.len()];
        for (v, &g) in variables.iter().enumerate() {
            ratios[g] = x[v].exp();
        }
        let most: Vec<usize> = free
            .iter()
            .map(|&f| (f as f64 * self.config().max_widening + 1e-9).floor() as usize)
            .collect();
        let kept = round_counts(&layers, &variables, &ratios, &free, &most, &limits);
        Ok(ChannelAllocation {
            graph,
            ratios,
            free,
            kept,
            params: costs.params,
            macs: costs.macs,
            layers,
        })
    }

    /// `"PreCrop"` or `"PreConfig"`, for messages.
    fn problem(&self) -> &'static str {
        if self.config().max_widening > 1.0 {
            "PreConfig"
        } else {
            "PreCrop"
        }
    }

    /// The groups that get a variable (free units, an axis of a selected weight, room between
    /// the bounds) and the selected weights with their shares of those groups.
    fn variables(
        &self,
        graph: &DependencyGraph,
        costs: &LayerCosts,
        free: &[usize],
    ) -> (Vec<usize>, Vec<Layer>) {
        let mut axis_group: BTreeMap<(&str, usize), usize> = BTreeMap::new();
        for (gi, g) in graph.groups.iter().enumerate() {
            for m in &g.members {
                axis_group.insert((m.path.as_str(), m.axis), gi);
            }
        }
        let widening = self.config().max_widening;
        let mut variable_of: BTreeMap<usize, usize> = BTreeMap::new();
        let mut variables = Vec::new();
        let mut layers = Vec::with_capacity(costs.params.len());
        for (path, shape) in &costs.shapes {
            let mut shares = Vec::new();
            for axis in 0..shape.len() {
                let Some(&gi) = axis_group.get(&(path.as_str(), axis)) else {
                    continue;
                };
                // A variable needs room: at least one free unit and lo = −log b < log(widening).
                if free[gi] == 0 || (free[gi] == 1 && widening <= 1.0) {
                    continue;
                }
                let g = &graph.groups[gi];
                let m = g
                    .members
                    .iter()
                    .find(|m| m.path == *path && m.axis == axis)
                    .expect("the member was indexed above");
                let pinned = m.units.iter().filter(|u| g.pinned.contains_key(u)).count();
                let member_free = m.units.len() - pinned;
                if member_free == 0 {
                    continue;
                }
                let variable = *variable_of.entry(gi).or_insert_with(|| {
                    variables.push(gi);
                    variables.len() - 1
                });
                shares.push(Share {
                    group: gi,
                    variable,
                    pinned,
                    free: member_free,
                });
            }
            layers.push(Layer {
                params: costs.params[path] as f64,
                macs: costs.macs[path] as f64,
                shares,
            });
        }
        (variables, layers)
    }
}

/// Whether an axis has pinned indices (then the objective needs condensation).
fn has_pinned(layers: &[Layer]) -> bool {
    layers.iter().flat_map(|l| &l.shares).any(|s| s.pinned > 0)
}

/// The budget `Σ_l cost_l · Π_axes (a + b·e^{x_g})/(a + b)`, expanded into terms.
fn budget(name: &str, layers: &[Layer], cost: impl Fn(&Layer) -> f64, limit: f64) -> Budget {
    let mut terms = Vec::new();
    for layer in layers {
        // (coefficient, exponents) of the product so far.
        let mut product: Vec<(f64, BTreeMap<usize, f64>)> = vec![(cost(layer), BTreeMap::new())];
        for s in &layer.shares {
            let len = s.len() as f64;
            let mut next = Vec::with_capacity(product.len() * 2);
            for (coefficient, exponents) in product {
                if s.pinned > 0 {
                    next.push((coefficient * s.pinned as f64 / len, exponents.clone()));
                }
                let mut grown = exponents;
                *grown.entry(s.variable).or_insert(0.0) += 1.0;
                next.push((coefficient * s.free as f64 / len, grown));
            }
            product = next;
        }
        terms.extend(
            product
                .into_iter()
                .filter(|(c, _)| *c > 0.0)
                .map(|(c, e)| Term::new(c, e.into_iter().collect())),
        );
    }
    Budget::new(name, terms, limit)
}

/// The objective's weights for the tangent of `Σ_l Σ_axes log(a + b e^{x_g})` at `x`: an axis
/// contributes `b e^{x_g} / (a + b e^{x_g})` to its variable's weight (1 where `a = 0`).
fn tangent_weights(layers: &[Layer], x: &[f64]) -> Vec<f64> {
    let mut weights = vec![0.0; x.len()];
    for s in layers.iter().flat_map(|l| &l.shares) {
        let grown = s.free as f64 * x[s.variable].exp();
        weights[s.variable] += grown / (s.pinned as f64 + grown);
    }
    weights
}

/// Whole free-unit counts per group: floors of the continuous optimum (at least one), then
/// units added greedily while every budget holds (see [`PreCrop::channels`]).
fn round_counts(
    layers: &[Layer],
    variables: &[usize],
    ratios: &[f64],
    free: &[usize],
    most: &[usize],
    limits: &[(usize, f64)],
) -> Vec<usize> {
    let mut kept: Vec<usize> = ratios
        .iter()
        .zip(free)
        .map(|(&r, &f)| ((r * f as f64 + 1e-9).floor() as usize).max(f.min(1)))
        .collect();
    let mut touching: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (li, l) in layers.iter().enumerate() {
        for s in &l.shares {
            let list = touching.entry(s.group).or_default();
            if list.last() != Some(&li) {
                list.push(li);
            }
        }
    }
    let costs = |layer: &Layer, kept: &[usize]| {
        let f = fraction(layer, kept, free);
        [layer.params * f, layer.macs * f, f.ln()]
    };
    let mut totals = [0.0f64; 3];
    for l in layers {
        let c = costs(l, &kept);
        (0..3).for_each(|i| totals[i] += c[i]);
    }
    loop {
        let mut best: Option<(f64, usize, [f64; 3])> = None;
        for &g in variables {
            if kept[g] >= most[g] {
                continue;
            }
            let mut delta = [0.0f64; 3];
            for &li in &touching[&g] {
                let before = costs(&layers[li], &kept);
                kept[g] += 1;
                let after = costs(&layers[li], &kept);
                kept[g] -= 1;
                (0..3).for_each(|i| delta[i] += after[i] - before[i]);
            }
            let fits = limits
                .iter()
                .all(|&(k, limit)| totals[k] + delta[k] <= limit * (1.0 + 1e-12));
            if !fits {
                continue;
            }
            let tightest = limits
                .iter()
                .map(|&(k, limit)| delta[k] / limit)
                .fold(0.0, f64::max);
            let score = delta[2] / tightest.max(f64::MIN_POSITIVE);
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, g, delta));
            }
        }
        let Some((_, g, delta)) = best else {
            return kept;
        };
        kept[g] += 1;
        (0..3).for_each(|i| totals[i] += delta[i]);
    }
}

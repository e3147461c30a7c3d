//! Structural plans within a cost budget: a measured latency, a MAC count, or any cost of
//! the kept widths ([`GroupCost`]).
//!
//! The selection starts from the dense model and removes, one step at a time, the units whose
//! importance per unit of cost saved is least, until the cost is within the budget; then it
//! gives back, best first, any removed units the budget still affords (a width the kernels
//! run at no extra cost is taken back for free).

use super::config::GroupPrunerConfig;
use super::scoring::{Addresses, GroupPruner, addresses};
use super::select::{explicit_keep, removable, removal_order};
use crate::error::{PruneError, Result};
use crate::structure::graph::DependencyGraph;
use crate::structure::plan::StructuralPlan;
use burn::module::Module;
use burn::tensor::Tensor;

/// What a model costs as a function of how many units each dependency group keeps: a
/// measured latency, MACs, parameters, energy.
///
/// The group pruner's budget selection ([`GroupPruner::plan_within`]) asks it about many
/// candidate widths, so `cost` should be cheap (a table look-up, not a measurement).
/// `burn_prune_metrics` implements it with measured per-layer latency tables and with MAC
/// counts; implement it for your own cost.
///
/// ```
/// use burn_prune_core::structure::GroupCost;
///
/// /// Cost: the sum of the squares of the kept widths.
/// struct Squares;
/// impl GroupCost for Squares {
///     fn cost(&self, kept: &[usize]) -> f64 {
///         kept.iter().map(|&k| (k * k) as f64).sum()
///     }
///     fn unit(&self) -> String {
///         "width²".into()
///     }
/// }
/// assert_eq!(Squares.cost(&[2, 3]), 13.0);
/// assert_eq!(Squares.step(0, 3), 1);
/// ```
pub trait GroupCost {
    /// The cost when group `g` of the graph keeps `kept[g]` of its units (`kept` has one
    /// entry per group, in the graph's order).
    fn cost(&self, kept: &[usize]) -> f64;

    /// How many units of group `group`, now keeping `kept`, to remove at once: a step the
    /// hardware favours (the spacing of its measured widths). At least 1; 1 by default.
    fn step(&self, group: usize, kept: usize) -> usize {
        let _ = (group, kept);
        1
    }

    /// What the cost counts, for reports and messages (`ms`, `MACs`).
    fn unit(&self) -> String;
}

/// A structural plan chosen within a budget, with the costs the model gave.
#[derive(Clone, Debug)]
pub struct BudgetPlan {
    /// The plan.
    pub plan: StructuralPlan,
    /// Units kept in each group, in the graph's order.
    pub kept: Vec<usize>,
    /// The budget asked for.
    pub budget: f64,
    /// The cost of the plan, as the cost model predicts it.
    pub predicted: f64,
    /// The dense model's cost.
    pub dense: f64,
    /// What the costs count.
    pub unit: String,
}

impl std::fmt::Display for BudgetPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "budget {:.4} {u}: predicted {:.4} {u} (dense {:.4} {u}, {:.1}% of it)",
            self.budget,
            self.predicted,
            self.dense,
            100.0 * self.predicted / self.dense,
            u = self.unit
        )
    }
}

impl GroupPruner {
    /// The plan of least importance removed within `budget`: units go, one step at a time,
    /// from the group whose next step has the least importance (the sum of its units'
    /// normalised scores) per unit of cost saved, until `cost` is at most `budget`; then
    /// removed units are given back, most important per unit of cost first, while the budget
    /// holds. The configuration's `sparsity` and scope are not used (the budget sets how
    /// much goes); its normalisation, `round_to`, `max_ratio`, ignored layers and explicit
    /// channel counts apply.
    ///
    /// Errors: a budget that is not a positive finite number ([`PruneError::Config`]), a
    /// cost model returning a non-finite cost ([`PruneError::NonFiniteCost`]), a budget below
    /// what removing everything allowed reaches ([`PruneError::BudgetUnreachable`]), and the
    /// errors of [`plan`](Self::plan).
    pub fn plan_within<M: Module>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        cost: &dyn GroupCost,
        budget: f64,
    ) -> Result<BudgetPlan> {
        let addresses = addresses(model);
        let scores = self.scores_at(model, &addresses, graph, None)?;
        self.config()
            .within(&addresses, graph, &scores, cost, budget)
    }

    /// [`plan_within`](Self::plan_within) with gradients gathered over `batches` (see
    /// [`scores_with_data`](Self::scores_with_data)).
    pub fn plan_within_with_data<M, B, I, F>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        cost: &dyn GroupCost,
        budget: f64,
        batches: I,
        loss: F,
    ) -> Result<BudgetPlan>
    where
        M: Module,
        I: IntoIterator<Item = B>,
        F: FnMut(&M, B) -> Tensor<1>,
    {
        let scores = self.scores_with_data(model, graph, batches, loss)?;
        self.config()
            .within(&addresses(model), graph, &scores, cost, budget)
    }
}

impl GroupPrunerConfig {
    /// [`GroupPruner::plan_within`] from unit scores computed elsewhere (one per unit of every
    /// group, as [`plan_from_scores`](Self::plan_from_scores) takes them, normalised by the
    /// configuration).
    pub fn plan_from_scores_within<M: Module>(
        &self,
        model: &M,
        graph: &DependencyGraph,
        scores: &[Vec<f32>],
        cost: &dyn GroupCost,
        budget: f64,
    ) -> Result<BudgetPlan> {
        self.check()?;
        let addresses = addresses(model);
        let normalized = self.checked_scores(graph, scores, &addresses)?;
        self.within(&addresses, graph, &normalized, cost, budget)
    }

    /// The budget selection over normalised `scores`.
    pub(super) fn within(
        &self,
        addresses: &Addresses,
        graph: &DependencyGraph,
        scores: &[Vec<f32>],
        cost: &dyn GroupCost,
        budget: f64,
    ) -> Result<BudgetPlan> {
        if !(budget.is_finite() && budget > 0.0) {
            return Err(PruneError::Config(format!(
                "the budget must be a positive number of {} (got {budget})",
                cost.unit()
            )));
        }
        let fixed = self.fixed_units(addresses, graph)?;
        let explicit = self.explicit_counts(addresses, graph)?;
        let groups = &graph.groups;
        // Groups with explicit counts keep them; the others compete, each in its removal order.
        let mut fixed_keep: Vec<Option<Vec<bool>>> = Vec::with_capacity(groups.len());
        let mut order: Vec<Vec<usize>> = Vec::with_capacity(groups.len());
        for (gi, g) in groups.iter().enumerate() {
            if explicit[gi].is_empty() {
                fixed_keep.push(None);
                order.push(removal_order(
                    g,
                    &scores[gi],
                    &fixed[gi],
                    self.cap(g, &fixed[gi]),
                ));
            } else {
                fixed_keep.push(Some(explicit_keep(
                    g,
                    &scores[gi],
                    &fixed[gi],
                    &explicit[gi],
                )?));
                order.push(Vec::new());
            }
        }
        let n: Vec<usize> = groups.iter().map(|g| g.n_units).collect();
        let eval = |kept: &[usize]| -> Result<f64> {
            let c = cost.cost(kept);
            if c.is_finite() {
                Ok(c)
            } else {
                Err(PruneError::NonFiniteCost {
                    value: c,
                    unit: cost.unit(),
                    kept: kept.to_vec(),
                })
            }
        };
        let dense = eval(&n)?;
        // `taken[g]`: how many of `order[g]` are removed.
        let mut taken = vec![0usize; groups.len()];
        let kept_of = |taken: &[usize]| -> Vec<usize> {
            (0..groups.len())
                .map(|gi| match &fixed_keep[gi] {
                    Some(k) => k.iter().filter(|&&k| k).count(),
                    None => n[gi] - taken[gi],
                })
                .collect()
        };
        let mut kept = kept_of(&taken);
        let mut now = eval(&kept)?;
        // Remove: least importance per cost saved first.
        while now > budget {
            let mut best: Option<(f64, usize, usize, f64)> = None; // (priority, group, new taken, cost)
            for gi in 0..groups.len() {
                let Some(next) = self.next_cut(gi, &order[gi], n[gi], taken[gi], cost, kept[gi])
                else {
                    continue;
                };
                let mut trial = kept.clone();
                trial[gi] = n[gi] - next;
                let c = eval(&trial)?;
                let saved = now - c;
                if saved <= 0.0 {
                    continue;
                }
                let importance: f64 = order[gi][taken[gi]..next]
                    .iter()
                    .map(|&u| f64::from(scores[gi][u]).max(0.0))
                    .sum();
                let priority = importance / saved;
                if best.is_none_or(|(p, ..)| priority < p) {
                    best = Some((priority, gi, next, c));
                }
            }
            let Some((_, gi, next, c)) = best else {
                return Err(PruneError::BudgetUnreachable {
                    budget,
                    reached: now,
                    dense,
                    unit: cost.unit(),
                });
            };
            taken[gi] = next;
            kept[gi] = n[gi] - next;
            now = c;
        }
        // Give back: most importance per cost added first, while the budget holds.
        loop {
            let mut best: Option<(f64, usize, usize, f64)> = None;
            for gi in 0..groups.len() {
                let Some(back) = self.next_return(gi, n[gi], taken[gi], cost, kept[gi]) else {
                    continue;
                };
                let mut trial = kept.clone();
                trial[gi] = n[gi] - back;
                let c = eval(&trial)?;
                if c > budget {
                    continue;
                }
                let importance: f64 = order[gi][back..taken[gi]]
                    .iter()
                    .map(|&u| f64::from(scores[gi][u]).max(0.0))
                    .sum();
                let priority = importance / (c - now).max(f64::MIN_POSITIVE);
                if best.is_none_or(|(p, ..)| priority > p) {
                    best = Some((priority, gi, back, c));
                }
            }
            let Some((_, gi, back, c)) = best else { break };
            taken[gi] = back;
            kept[gi] = n[gi] - back;
            now = c;
        }
        let keep: Vec<Vec<bool>> = (0..groups.len())
            .map(|gi| match &fixed_keep[gi] {
                Some(k) => k.clone(),
                None => {
                    let mut k = vec![true; n[gi]];
                    order[gi][..taken[gi]].iter().for_each(|&u| k[u] = false);
                    k
                }
            })
            .collect();
        Ok(BudgetPlan {
            plan: StructuralPlan::from_groups(graph, &keep)?,
            kept,
            budget,
            predicted: now,
            dense,
            unit: cost.unit(),
        })
    }

    /// How many of a group's ordered units are removed after its next step (its cost model's
    /// step, the kept count a multiple of `round_to`), or `None` when it can lose no more.
    fn next_cut(
        &self,
        gi: usize,
        order: &[usize],
        n: usize,
        taken: usize,
        cost: &dyn GroupCost,
        kept: usize,
    ) -> Option<usize> {
        let step = cost.step(gi, kept).max(1);
        // The kept count after the step, rounded down to a multiple of `round_to`, within
        // the group's cap (`order` holds every unit it may lose).
        let target = n.saturating_sub(taken + step) / self.round_to * self.round_to;
        let next = (n - target).min(removable(n, order.len(), self.round_to));
        (next > taken).then_some(next)
    }

    /// How many of a group's ordered units stay removed after giving one step back, or
    /// `None` when none is removed.
    fn next_return(
        &self,
        gi: usize,
        n: usize,
        taken: usize,
        cost: &dyn GroupCost,
        kept: usize,
    ) -> Option<usize> {
        if taken == 0 {
            return None;
        }
        let step = cost.step(gi, kept).max(1);
        // Kept counts stay multiples of `round_to` (or the whole group).
        let mut back = taken.saturating_sub(step);
        while back > 0 && !(n - back).is_multiple_of(self.round_to) {
            back -= 1;
        }
        Some(back)
    }
}

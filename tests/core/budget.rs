//! Structural plans within a cost budget (`GroupPruner::plan_within`), on hand-computed costs.

use burn::prelude::*;
use burn_prune::PruneError;
use burn_prune::models::{Mlp, MlpConfig};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupCost, GroupNormalization, GroupPrunerConfig, trace,
};

/// Cost: `per_unit[g]` for every unit group `g` keeps.
struct Linear(Vec<f64>);

impl GroupCost for Linear {
    fn cost(&self, kept: &[usize]) -> f64 {
        kept.iter().zip(&self.0).map(|(&k, &c)| k as f64 * c).sum()
    }
    fn unit(&self) -> String {
        "units".into()
    }
}

/// A 3 → 4 → 4 → 2 MLP and its graph; the indices of the groups of its two hidden layers.
fn mlp() -> (Mlp, DependencyGraph, usize, usize) {
    let model = MlpConfig::new(3, vec![4, 4], 2)
        .init(&Device::flex())
        .unwrap();
    let t = trace(&model, [2, 3], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let group = |path: &str| {
        graph
            .groups
            .iter()
            .position(|g| g.members.iter().any(|m| m.path == path && m.axis == 1))
            .unwrap()
    };
    let (h1, h2) = (group("layers.0.weight"), group("layers.1.weight"));
    (model, graph, h1, h2)
}

/// Scores of every group: `a` for the first hidden layer's units, `b` for the second's.
fn scores(
    graph: &DependencyGraph,
    h1: usize,
    h2: usize,
    a: [f32; 4],
    b: [f32; 4],
) -> Vec<Vec<f32>> {
    (0..graph.groups.len())
        .map(|gi| match gi {
            _ if gi == h1 => a.to_vec(),
            _ if gi == h2 => b.to_vec(),
            _ => vec![1.0; graph.groups[gi].n_units],
        })
        .collect()
}

fn costs(graph: &DependencyGraph, h1: usize, h2: usize, c1: f64, c2: f64) -> Linear {
    Linear(
        (0..graph.groups.len())
            .map(|gi| match gi {
                _ if gi == h1 => c1,
                _ if gi == h2 => c2,
                _ => 0.0,
            })
            .collect(),
    )
}

#[test]
fn least_importance_per_cost_saved_goes_first() {
    let (model, graph, h1, h2) = mlp();
    // Unit costs 10 (first hidden layer) and 1 (second): dense 44. Budget 30.
    // Step 1: h1's weakest (score 1) saves 10: 0.1 per unit of cost; h2's weakest (0.5)
    // saves 1: 0.5. h1 loses a unit: 34. Step 2: h1's next (2) saves 10: 0.2 < 0.5: 24 ≤ 30.
    // Giving a unit back to h1 costs 34 > 30; h2 lost none. Kept: 2 and 4.
    let config = GroupPrunerConfig::new(0.0).with_normalization(GroupNormalization::None);
    let s = scores(&graph, h1, h2, [4.0, 1.0, 3.0, 2.0], [0.5, 0.6, 0.7, 0.8]);
    let cost = costs(&graph, h1, h2, 10.0, 1.0);
    let plan = config
        .plan_from_scores_within(&model, &graph, &s, &cost, 30.0)
        .unwrap();
    assert_eq!((plan.kept[h1], plan.kept[h2]), (2, 4));
    assert_eq!(plan.predicted, 24.0);
    assert_eq!(plan.dense, 44.0);
    // The kept units of h1 are its two best (scores 4 and 3: units 0 and 2).
    let keep = &plan.plan.params["layers.0.weight"].keep[0];
    assert_eq!(keep.axis, 1);
    assert_eq!(keep.indices, vec![0, 2]);
}

#[test]
fn budget_slack_is_given_back_to_the_most_important_units() {
    let (model, graph, h1, h2) = mlp();
    // Unit costs 10 and 3: dense 52, budget 37.
    let config = GroupPrunerConfig::new(0.0).with_normalization(GroupNormalization::None);
    let s = scores(&graph, h1, h2, [1.0, 2.1, 5.0, 6.0], [0.5, 0.9, 4.0, 4.0]);
    let cost = costs(&graph, h1, h2, 10.0, 3.0);
    // Removal: h1 (1.0/10 = 0.1) before h2 (0.5/3 = 0.17): 42. h2 (0.17) before h1
    // (2.1/10 = 0.21): 39. h1 (0.21) before h2 (0.9/3 = 0.3): 29 ≤ 37. Give back: h1's unit
    // (2.1) would cost 39 > 37; h2's (0.5) costs 32 ≤ 37: taken back. Kept: h1 2, h2 4.
    let plan = config
        .plan_from_scores_within(&model, &graph, &s, &cost, 37.0)
        .unwrap();
    assert_eq!((plan.kept[h1], plan.kept[h2]), (2, 4));
    assert_eq!(plan.predicted, 32.0);
}

#[test]
fn an_unreachable_budget_is_an_error_with_the_lowest_cost() {
    let (model, graph, h1, h2) = mlp();
    let config = GroupPrunerConfig::new(0.0);
    let s = scores(&graph, h1, h2, [1.0; 4], [1.0; 4]);
    let cost = costs(&graph, h1, h2, 10.0, 1.0);
    // At least one unit stays per layer: the lowest cost is 10 + 1.
    let err = config
        .plan_from_scores_within(&model, &graph, &s, &cost, 5.0)
        .unwrap_err();
    match err {
        PruneError::BudgetUnreachable { reached, dense, .. } => {
            assert_eq!(reached, 11.0);
            assert_eq!(dense, 44.0);
        }
        other => panic!("expected BudgetUnreachable, got {other}"),
    }
    let err = config
        .plan_from_scores_within(&model, &graph, &s, &cost, f64::NAN)
        .unwrap_err();
    assert!(err.to_string().contains("budget"), "{err}");
}

#[test]
fn round_to_and_the_cost_models_step_hold() {
    let (model, graph, h1, h2) = mlp();
    // A step of 2 units for every group: widths move 4 → 2.
    struct Stepped(Linear);
    impl GroupCost for Stepped {
        fn cost(&self, kept: &[usize]) -> f64 {
            self.0.cost(kept)
        }
        fn step(&self, _group: usize, _kept: usize) -> usize {
            2
        }
        fn unit(&self) -> String {
            "units".into()
        }
    }
    let config = GroupPrunerConfig::new(0.0).with_normalization(GroupNormalization::None);
    let s = scores(&graph, h1, h2, [4.0, 1.0, 3.0, 2.0], [0.5, 0.6, 0.7, 0.8]);
    let cost = Stepped(costs(&graph, h1, h2, 10.0, 1.0));
    let plan = config
        .plan_from_scores_within(&model, &graph, &s, &cost, 40.0)
        .unwrap();
    assert!(
        plan.kept[h1].is_multiple_of(2) && plan.kept[h2].is_multiple_of(2),
        "{:?}",
        plan.kept
    );
    assert!(plan.predicted <= 40.0);
    // round_to 4 leaves nothing removable: 4 units is the only multiple of 4 above 0.
    let err = config
        .clone()
        .with_round_to(4)
        .plan_from_scores_within(&model, &graph, &s, &cost, 40.0)
        .unwrap_err();
    assert!(matches!(err, PruneError::BudgetUnreachable { .. }), "{err}");
}

//! Empty things: a layer of width zero, a group without units, a model without parameters.
//! Errors or nothing to do, never a panic.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use burn_prune::{ParamSelector, PruneError, PrunerConfig};

/// A branch of width zero beside a normal layer (Burn cannot initialise a layer reading zero
/// features: its fan-in is zero).
#[derive(Module, Debug)]
struct Thin {
    a: Linear,
    act: Relu,
    c: Linear,
}

impl Thin {
    fn new(hidden: usize) -> Self {
        let device = Device::flex();
        Self {
            a: LinearConfig::new(3, hidden).init(&device),
            act: Relu::new(),
            c: LinearConfig::new(3, 2).init(&device),
        }
    }
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let empty = self.act.forward(self.a.forward(x.clone())).sum_dim(1);
        self.c.forward(x) + empty
    }
}

#[test]
fn a_layer_of_width_zero_has_nothing_to_prune() {
    let model = burn_prune::models::initialized(Thin::new(0));
    // Unstructured: only `c.weight` (3 × 2) is selected; half of it is pruned.
    let masks = PrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .and_then(|p| p.masks(&model))
        .unwrap();
    assert_eq!(masks.counts(), (6, 3));
    assert!(masks.get("a.weight").is_none());
    // Selecting only the empty layer selects nothing: an error, not a panic.
    let err = PrunerConfig::new(0.5)
        .with_selector(ParamSelector::default().include("a.*"))
        .init(Magnitude::l1())
        .and_then(|p| p.masks(&model))
        .unwrap_err();
    assert!(matches!(err, PruneError::NothingSelected { .. }), "{err}");
    // Structural: the width-zero layer forms no group; the one group left is the model's
    // output (pinned), so the plan cuts nothing, and it applies.
    let t = trace(&model, [2, 3], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    assert!(graph.groups.iter().all(|g| g.n_units > 0));
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .and_then(|p| p.plan(&model, &graph))
        .unwrap();
    assert!(plan.params.is_empty(), "{:?}", plan.params.keys());
    let cut = plan.apply(model.clone()).unwrap();
    let x = Tensor::<2>::ones([2, 3], &Device::flex());
    assert_eq!(cut.forward(x).dims(), [2, 2]);
}

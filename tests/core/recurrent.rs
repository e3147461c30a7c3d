//! Recurrent layers: an LSTM's and a GRU's hidden units are groups (all gates, the recurrent
//! weights on both axes, the next layer's inputs), compacted exactly with their `d_hidden`.

use crate::common::{assert_close, values};
use burn::nn::{Gru, GruConfig, Linear, LinearConfig, Lstm, LstmConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::PruneError;
use burn_prune::criterion::Magnitude;
use burn_prune::structure::{
    DependencyGraph, GraphOptions, Group, GroupPrunerConfig, ModuleConstants, trace,
};

/// An LSTM over a sequence, read at every step by a linear layer.
#[derive(Module, Debug, ModuleConstants)]
struct Tagger {
    lstm: Lstm,
    head: Linear,
}

impl Tagger {
    fn new(device: &Device) -> Self {
        Self {
            lstm: LstmConfig::new(3, 8, true)
                .with_batch_first(true)
                .init(device),
            head: LinearConfig::new(8, 2).init(device),
        }
    }
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let (out, _) = self.lstm.forward(x, None);
        self.head.forward(out)
    }
}

fn member<'g>(g: &'g Group, path: &str, axis: usize) -> &'g [usize] {
    &g.members
        .iter()
        .find(|m| m.path == path && m.axis == axis)
        .unwrap_or_else(|| panic!("{path}:{axis} is not in {g:?}"))
        .units
}

#[test]
fn lstm_hidden_units_are_one_group_and_compact_exactly() {
    let device = Device::flex();
    let model = Tagger::new(&device);
    let t = trace(&model, [2, 5, 3], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let (_, g) = graph
        .group_of("lstm.input_gate.input_transform.weight", 1)
        .unwrap();
    assert_eq!((g.n_units, g.prunable()), (8, 8), "{:?}", g.pinned);
    let identity: Vec<usize> = (0..8).collect();
    for gate in ["input_gate", "forget_gate", "output_gate", "cell_gate"] {
        for (path, axis) in [
            (format!("lstm.{gate}.input_transform.weight"), 1),
            (format!("lstm.{gate}.input_transform.bias"), 0),
            (format!("lstm.{gate}.hidden_transform.weight"), 0),
            (format!("lstm.{gate}.hidden_transform.weight"), 1),
        ] {
            assert_eq!(member(g, &path, axis), identity.as_slice(), "{path}:{axis}");
        }
    }
    assert_eq!(member(g, "head.weight", 0), identity.as_slice());

    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let err = plan.apply(model.clone()).unwrap_err();
    assert!(
        matches!(err, PruneError::PlanMismatch { ref path, ref reason } if path == "lstm" && reason.contains("d_hidden")),
        "{err:?}"
    );
    let x = Tensor::<3>::random([2, 5, 3], Distribution::Normal(0.0, 1.0), &device);
    let zeroed = plan.apply_as_zeros(model.clone()).unwrap();
    let small = plan.apply_with_constants(model).unwrap();
    assert_eq!(small.lstm.d_hidden, 4);
    assert_eq!(small.lstm.cell_gate.hidden_transform.weight.dims(), [4, 4]);
    assert_close(
        &values(small.forward(x.clone())),
        &values(zeroed.forward(x)),
    );
}

/// A GRU read at its last step.
#[derive(Module, Debug, ModuleConstants)]
struct Classifier {
    gru: Gru,
    head: Linear,
}

impl Classifier {
    fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let out = self.gru.forward(x, None);
        let [b, s, h] = out.dims();
        self.head
            .forward(out.slice([0..b, s - 1..s, 0..h]).reshape([b, h]))
    }
}

#[test]
fn gru_hidden_units_are_one_group_and_compact_exactly() {
    let device = Device::flex();
    let model = Classifier {
        gru: GruConfig::new(3, 6, true).init(&device),
        head: LinearConfig::new(6, 2).init(&device),
    };
    let t = trace(&model, [2, 4, 3], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let (_, g) = graph
        .group_of("gru.update_gate.input_transform.weight", 1)
        .unwrap();
    assert_eq!((g.n_units, g.prunable()), (6, 6), "{:?}", g.pinned);
    for gate in ["update_gate", "reset_gate", "new_gate"] {
        let path = format!("gru.{gate}.hidden_transform.weight");
        assert_eq!(member(g, &path, 0).len(), 6);
        assert_eq!(member(g, &path, 1).len(), 6);
    }
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let x = Tensor::<3>::random([2, 4, 3], Distribution::Normal(0.0, 1.0), &device);
    let zeroed = plan.apply_as_zeros(model.clone()).unwrap();
    let small = plan.apply_with_constants(model).unwrap();
    assert_eq!(small.gru.d_hidden, 3);
    assert_close(
        &values(small.forward(x.clone())),
        &values(zeroed.forward(x)),
    );
}

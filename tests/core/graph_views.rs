//! Seeing and steering the graph: printed summaries of groups and plans, traces of token
//! models, patterns that match nothing, normalised global ranking.

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn_prune::PruneError;
use burn_prune::Scope;
use burn_prune::criterion::Magnitude;
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupNormalization, GroupPrunerConfig, KeepChannels, trace,
    trace_int,
};

#[derive(Module, Debug)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(4, 3).init(device),
            fc2: LinearConfig::new(3, 2).init(device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(relu(self.fc1.forward(x)))
    }
}

fn mlp_graph(model: &Mlp) -> DependencyGraph {
    let t = trace(model, [1, 4], |m, x| m.forward(x)).unwrap();
    DependencyGraph::build(&t, &GraphOptions::default()).unwrap()
}

#[test]
fn the_graph_prints_as_a_table_of_groups() {
    let device = Device::flex();
    let model = Mlp::new(&device);
    let graph = mlp_graph(&model);
    let expected = "\
dependency graph: 2 groups, 5 units (3 prunable, 2 pinned)
#  root        units  prunable/pinned  members                                 pinned
0  fc1.weight      3              3/0  fc1.weight:1, fc1.bias:0, fc2.weight:0  -
1  fc2.weight      2              0/2  fc2.weight:1, fc2.bias:0                2 pinned: a channel of the model output
";
    assert_eq!(graph.to_string(), expected);
    assert_eq!(
        graph.groups[1].to_string(),
        "fc2.weight: 2 units (0 prunable, 2 pinned); members fc2.weight:1, fc2.bias:0; \
         2 pinned: a channel of the model output"
    );
    assert_eq!(
        graph.groups[0].to_string(),
        "fc1.weight: 3 units (3 prunable, 0 pinned); members fc1.weight:1, fc1.bias:0, fc2.weight:0"
    );
}

#[test]
fn a_plan_prints_its_groups_and_new_shapes() {
    let device = Device::flex();
    let model = Mlp::new(&device);
    let graph = mlp_graph(&model);
    // One of fc1's three outputs goes (round(0.34 · 3) = 1).
    let plan = GroupPrunerConfig::new(0.34)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    // 1 bias entry + a column of 4 + a row of 2.
    assert_eq!(plan.removed_elements(), 7);
    let params = "\
parameter   shape   new shape  kept
fc1.bias    [3]     [2]        axis 0: 2 of 3
fc1.weight  [4, 3]  [4, 2]     axis 1: 2 of 3
fc2.weight  [3, 2]  [2, 2]     axis 0: 2 of 3
";
    assert_eq!(
        plan.to_string(),
        format!("structural plan: 3 parameters cut, 7 elements removed\n{params}")
    );
    assert_eq!(
        plan.summary(&graph),
        format!(
            "structural plan: 1 of 2 groups cut, 3 parameters, 7 elements removed\n\
             #  root        kept\n\
             0  fc1.weight  2 of 3\n\
             1  fc2.weight  2 of 2\n\
             {params}"
        )
    );
    let nothing = GroupPrunerConfig::new(0.0)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert_eq!(nothing.to_string(), "structural plan: nothing cut\n");
}

#[test]
fn pins_with_the_same_reason_collapse_into_a_count() {
    let device = Device::flex();
    // A 12-way head: its 12 output channels are pinned for one reason.
    let model = Mlp {
        fc1: LinearConfig::new(4, 3).init(&device),
        fc2: LinearConfig::new(3, 12).init(&device),
    };
    let graph = mlp_graph(&model);
    let text = graph.to_string();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .ends_with("  12 pinned: a channel of the model output"),
        "{text}"
    );
    assert!(text.starts_with("dependency graph: 2 groups, 15 units (3 prunable, 12 pinned)\n"));
}

/// A token model: ids → embedding → linear.
#[derive(Module, Debug)]
struct TokenNet {
    embedding: Embedding,
    fc: Linear,
}

#[test]
fn token_models_trace_from_integer_inputs() {
    let device = Device::flex();
    let model = TokenNet {
        embedding: EmbeddingConfig::new(10, 6).init(&device),
        fc: LinearConfig::new(6, 3).init(&device),
    };
    let forward = |m: &TokenNet, tokens: Tensor<2, Int>| m.fc.forward(m.embedding.forward(tokens));
    let t = trace_int(&model, [2, 5], forward).unwrap();
    assert_eq!(t.input_shape(), &[2, 5]);
    assert_eq!(t.output_shape(), &[2, 5, 3]);
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    // The embedding width is one group: the table's axis 1 and fc's inputs (axis 0).
    let (_, g) = graph
        .group_of("embedding.weight", 1)
        .expect("embedding group");
    assert_eq!(g.n_units, 6);
    assert_eq!(g.prunable(), 6);
    let members: Vec<(&str, usize)> = g
        .members
        .iter()
        .map(|m| (m.path.as_str(), m.axis))
        .collect();
    assert_eq!(members, [("embedding.weight", 1), ("fc.weight", 0)]);
    assert_eq!(g.members[0].units, g.members[1].units);
    // The structural pruner narrows the embedding and the linear layer together.
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert_eq!(plan.params["embedding.weight"].new_shape(), [10, 3]);
    assert_eq!(plan.params["fc.weight"].new_shape(), [3, 3]);
    let small = plan.apply(model).unwrap();
    let tokens = Tensor::<2, Int>::from_data([[1, 2, 3], [9, 0, 4]], &device);
    assert_eq!(forward(&small, tokens).dims(), [2, 3, 3]);
    // A zero-sized input is an error, not a panic.
    let err = trace_int(&small, [0, 5], forward).unwrap_err();
    assert!(matches!(err, PruneError::Trace { .. }), "{err}");
}

#[test]
fn patterns_that_match_no_parameter_are_errors_at_plan_time() {
    let device = Device::flex();
    let model = Mlp::new(&device);
    let graph = mlp_graph(&model);
    let plan = |c: GroupPrunerConfig| c.init(Magnitude::l1()).unwrap().plan(&model, &graph);
    let err = plan(GroupPrunerConfig::new(0.5).with_ignored(vec!["fc9.**".into()])).unwrap_err();
    assert!(
        matches!(&err, PruneError::PatternMatchesNothing { which: "ignored", pattern } if pattern == "fc9.**"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "ignored pattern `fc9.**` matches no parameter of the model"
    );
    // The same from external scores.
    let scores: Vec<Vec<f32>> = graph.groups.iter().map(|g| vec![1.0; g.n_units]).collect();
    let err = GroupPrunerConfig::new(0.5)
        .with_ignored(vec!["fc9.**".into()])
        .plan_from_scores(&model, &graph, &scores)
        .unwrap_err();
    assert!(matches!(
        err,
        PruneError::PatternMatchesNothing {
            which: "ignored",
            ..
        }
    ));
    // keep_channels and density paths as well.
    let err = plan(
        GroupPrunerConfig::new(0.5).with_keep_channels(vec![KeepChannels::new("fc9.weight", 1)]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PruneError::PatternMatchesNothing { which: "keep_channels", pattern } if pattern == "fc9.weight"),
        "{err:?}"
    );
    let densities = std::collections::BTreeMap::from([("fc9.weight".to_string(), 0.5)]);
    let err =
        plan(GroupPrunerConfig::new(0.5).with_scope(Scope::Densities(densities))).unwrap_err();
    assert!(
        matches!(
            &err,
            PruneError::PatternMatchesNothing {
                which: "density",
                ..
            }
        ),
        "{err:?}"
    );
    // A pattern that matches keeps working.
    let ok = plan(GroupPrunerConfig::new(0.5).with_ignored(vec!["fc1.*".into()])).unwrap();
    assert!(
        ok.params.is_empty(),
        "fc1's outputs are ignored, fc2's pinned"
    );
}

/// fc1: 4 → 4 with large weights (column j all `100·(j+1)`); fc2: 4 → 16 with small ones
/// (column k all `0.01·(k+1)`); fc3: 16 → 2, the head (all `0.01`). No biases.
#[derive(Module, Debug)]
struct Scales {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

fn scales(device: &Device) -> Scales {
    let linear = |d_in: usize, d_out: usize, value: &dyn Fn(usize) -> f32| {
        let data: Vec<f32> = (0..d_in * d_out).map(|i| value(i % d_out)).collect();
        Linear {
            weight: Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(data, [d_in, d_out]),
                device,
            )),
            bias: None,
        }
    };
    Scales {
        fc1: linear(4, 4, &|j| 100.0 * (j + 1) as f32),
        fc2: linear(4, 16, &|k| 0.01 * (k + 1) as f32),
        fc3: linear(16, 2, &|_| 0.01),
    }
}

#[test]
fn a_global_ranking_is_normalised_per_group_by_default() {
    let device = Device::flex();
    let model = scales(&device);
    let t = trace(&model, [1, 4], |m: &Scales, x| {
        m.fc3.forward(relu(m.fc2.forward(relu(m.fc1.forward(x)))))
    })
    .unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let removed = |config: GroupPrunerConfig| {
        let keep = config
            .with_scope(Scope::Global)
            .init(Magnitude::l1())
            .unwrap()
            .keep(&model, &graph)
            .unwrap();
        ["fc1.weight", "fc2.weight"].map(|p| {
            let (g, _) = graph.group_of(p, 1).unwrap();
            keep[g].iter().filter(|&&k| !k).count()
        })
    };
    // The default (each group's scores divided by their mean): both layers lose channels.
    // Normalised, fc1's units score ≈ 0.4, 0.8, 1.2, 1.6 and fc2's ≈ 0.17, 0.28, ... 1.8:
    // the 10 lowest of 20 are 2 of fc1's and 8 of fc2's.
    assert_eq!(
        GroupPrunerConfig::new(0.5).normalization,
        GroupNormalization::Mean
    );
    assert_eq!(removed(GroupPrunerConfig::new(0.5)), [2, 8]);
    // Raw scores: fc1's are ten thousand times larger, so all ten come from fc2.
    assert_eq!(
        removed(GroupPrunerConfig::new(0.5).with_normalization(GroupNormalization::None)),
        [0, 10]
    );
}

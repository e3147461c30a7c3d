//! Filter masks keep the model's outputs: the filters of the layer that writes the logits.

use crate::common::SmallCnn;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn_prune::criterion::Magnitude;
use burn_prune::structure::{DependencyGraph, GraphOptions, trace};
use burn_prune::{Granularity, OutputLayers, PruneError, PrunerConfig, Scope};

#[derive(Module, Debug)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

fn mlp(device: &Device) -> Mlp {
    device.seed(7);
    Mlp {
        fc1: LinearConfig::new(4, 8).init(device),
        fc2: LinearConfig::new(8, 3).init(device),
    }
}

fn filters(sparsity: f64, scope: Scope) -> PrunerConfig {
    PrunerConfig::new(sparsity)
        .with_granularity(Granularity::Filter)
        .with_scope(scope)
}

#[test]
fn filter_masks_keep_every_output_of_the_last_layer() {
    let device = Device::flex();
    let model = mlp(&device);
    for scope in [Scope::Local, Scope::Global, Scope::Lamp] {
        let masks = filters(0.5, scope.clone())
            .init(Magnitude::l1())
            .unwrap()
            .masks(&model)
            .unwrap();
        // The head keeps its 3 outputs; the 50% come from fc1's 8 filters alone.
        let head = masks.get("fc2.weight").unwrap();
        assert_eq!(head.unit_counts(), (3, 0), "{scope}");
        assert_eq!(
            masks.get("fc1.weight").unwrap().unit_counts(),
            (8, 4),
            "{scope}"
        );
    }
    // The opt-out: the head's outputs compete like any filter (round(0.5 · 3) = 2 go).
    let masks = filters(0.5, Scope::Local)
        .with_output_layers(OutputLayers::None)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_eq!(masks.get("fc2.weight").unwrap().unit_counts(), (3, 2));
    // Other granularities never remove a whole output and are unchanged.
    let channels = filters(0.5, Scope::Local).with_granularity(Granularity::Channel);
    let by_default = channels
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    let opted_out = channels
        .with_output_layers(OutputLayers::None)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_eq!(by_default, opted_out);
}

#[test]
fn a_cnn_keeps_its_logits_and_the_model_still_answers_every_class() {
    let device = Device::flex();
    device.seed(3);
    let model = SmallCnn::new(&[3, 8, 8], 5, &device);
    let (pruned, masks) = filters(0.5, Scope::Global)
        .init(Magnitude::l1())
        .unwrap()
        .prune(model)
        .unwrap();
    assert_eq!(masks.get("fc.weight").unwrap().unit_counts(), (5, 0));
    let (c0, c1) = (
        masks.get("blocks.0.conv.weight").unwrap().unit_counts(),
        masks.get("blocks.1.conv.weight").unwrap().unit_counts(),
    );
    assert_eq!(c0.1 + c1.1, 8, "half of the 16 conv filters");
    // No logit column is zero.
    let w = pruned.fc.weight.val().abs().sum_dim(0);
    let zero_columns = w.equal_elem(0.0).int().sum().into_scalar::<i64>();
    assert_eq!(zero_columns, 0);
}

#[test]
fn a_model_that_is_only_its_output_layer_keeps_everything() {
    let device = Device::flex();
    let model = Mlp {
        fc1: LinearConfig::new(4, 8).init(&device),
        fc2: LinearConfig::new(8, 3).init(&device),
    };
    let masks = filters(0.5, Scope::Global)
        .with_selector(burn_prune::ParamSelector::paths(["fc2.weight"]))
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_eq!(masks.counts(), (24, 0));
}

/// The head is declared before the body: declaration order says the last layer is `body`.
#[derive(Module, Debug)]
struct HeadFirst {
    head: Linear,
    body: Linear,
}

#[test]
fn the_output_layers_can_come_from_the_traced_graph() {
    let device = Device::flex();
    device.seed(5);
    let model = HeadFirst {
        head: LinearConfig::new(8, 3).init(&device),
        body: LinearConfig::new(4, 8).init(&device),
    };
    let forward = |m: &HeadFirst, x: Tensor<2>| m.head.forward(relu(m.body.forward(x)));
    let t = trace(&model, [1, 4], forward).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let output = OutputLayers::from_graph(&model, &graph);
    assert_eq!(
        output,
        OutputLayers::Paths(vec!["head.weight".into(), "head.bias".into()])
    );
    let masks = filters(0.5, Scope::Local)
        .with_output_layers(output)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_eq!(masks.get("head.weight").unwrap().unit_counts(), (3, 0));
    assert_eq!(masks.get("body.weight").unwrap().unit_counts(), (8, 4));
    // Declaration order alone protects the wrong layer here: the reason for `from_graph`.
    let by_order = filters(0.5, Scope::Local)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    assert_eq!(by_order.get("body.weight").unwrap().unit_counts(), (8, 0));
    // A pattern that matches nothing is an error naming it.
    let err = filters(0.5, Scope::Local)
        .with_output_layers(OutputLayers::Paths(vec!["classifier.*".into()]))
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap_err();
    assert!(
        matches!(&err, PruneError::PatternMatchesNothing { which: "output layers", pattern } if pattern == "classifier.*"),
        "{err:?}"
    );
    // A malformed one is refused by `init`.
    assert!(matches!(
        filters(0.5, Scope::Local)
            .with_output_layers(OutputLayers::Paths(vec!["a.***".into()]))
            .init(Magnitude::l1()),
        Err(PruneError::InvalidPattern { .. })
    ));
}

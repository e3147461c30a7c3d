//! Structural pruning of the reference models: the compacted model computes what the dense
//! model computes with the same channels at zero; Li et al.'s pruned networks come out of the
//! plan API with the published parameter counts.

use crate::common::{assert_close, randomize_batch_norms, values};
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::PruneError;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{
    MlpConfig, MobileNetV2Config, ResNetCifarConfig, ShortcutKind, VggConfig, VggHead, VggLayer,
    param_count,
};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupPrunerConfig, KeepChannels, StructuralPlan, trace,
};

/// Prune `ratio` of every group by L1 norm; the compacted model (made by `compact`) must equal
/// the dense model with the removed channels zeroed, on random inputs in eval mode.
fn check_equivalence<M, const D: usize>(
    model: M,
    shape: [usize; D],
    ratio: f64,
    forward: impl Fn(&M, Tensor<D>) -> Tensor<2> + Copy,
    compact: impl Fn(&StructuralPlan, M) -> burn_prune::Result<M>,
) -> StructuralPlan
where
    M: Module + Clone,
{
    let device = Device::flex();
    let model = randomize_batch_norms(model, 7);
    let t = trace(&model, shape, forward).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(ratio)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert!(plan.removed_elements() > 0);
    let x = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    // Zero a copy whose running statistics are its own (Burn shares them between clones).
    let record = model.clone().into_record();
    let zeroed = plan
        .apply_as_zeros(model.clone().fork(&device).load_record(record))
        .unwrap();
    let expected = values(forward(&zeroed, x.clone()));
    let dense_params = param_count(&model);
    let small = compact(&plan, model).unwrap();
    assert_close(&values(forward(&small, x)), &expected);
    assert_eq!(
        param_count(&small),
        dense_params - removed_learned(&plan),
        "parameter count after compaction"
    );
    plan
}

/// Elements the plan removes from learned parameters (not BatchNorm running statistics).
fn removed_learned(plan: &StructuralPlan) -> usize {
    plan.params
        .iter()
        .filter(|(p, _)| !p.contains("running_"))
        .map(|(_, s)| s.removed_elements())
        .sum()
}

#[test]
fn resnet20_option_a_compacts_exactly() {
    let model = ResNetCifarConfig::new(20).init(&Device::flex()).unwrap();
    let plan = check_equivalence(
        model,
        [2, 3, 32, 32],
        0.5,
        |m, x| m.forward(x),
        |p, m| p.apply(m),
    );
    // Option A's zero padding puts stage s's channels in the middle of stage s+1's: they form
    // one group with the padded channels pinned. Half of the 16 free channels go, and half
    // of every block's inner channels.
    assert_eq!(
        plan.params["layer1.0.conv1.conv.weight"].new_shape(),
        [8, 8, 3, 3]
    );
    assert_eq!(
        plan.params["layer2.0.conv2.conv.weight"].new_shape(),
        [24, 16, 3, 3]
    );
}

#[test]
fn resnet20_option_b_compacts_exactly() {
    let model = ResNetCifarConfig::new(20)
        .with_shortcut(ShortcutKind::B)
        .init(&Device::flex())
        .unwrap();
    let plan = check_equivalence(
        model,
        [2, 3, 32, 32],
        0.5,
        |m, x| m.forward(x),
        |p, m| p.apply(m),
    );
    // Projection shortcuts free the stage widths: the stem and stage 1 share one group.
    assert_eq!(plan.params["stem.conv.weight"].new_shape(), [8, 3, 3, 3]);
    assert_eq!(
        plan.params["layer3.2.conv2.conv.weight"].new_shape(),
        [32, 32, 3, 3]
    );
}

#[test]
fn vgg_compacts_exactly() {
    use VggLayer::{Conv, MaxPool};
    let config = VggConfig::new(vec![
        Conv(16),
        MaxPool,
        Conv(32),
        Conv(32),
        MaxPool,
        Conv(24),
    ])
    .with_head(VggHead::Mlp { hidden: 20 });
    let model = config.init(&Device::flex()).unwrap();
    let plan = check_equivalence(
        model,
        [2, 3, 16, 16],
        0.4,
        |m, x| m.forward(x),
        |p, m| p.apply(m),
    );
    assert_eq!(
        plan.params["features.5.Conv.conv.weight"].new_shape(),
        [14, 19, 3, 3]
    );
    assert_eq!(
        plan.params["classifier.Mlp.linear1.weight"].new_shape(),
        [14, 12]
    );
}

#[test]
fn mlp_compacts_exactly() {
    let model = MlpConfig::new(12, vec![32, 16], 4)
        .init(&Device::flex())
        .unwrap();
    let plan = check_equivalence(model, [5, 12], 0.5, |m, x| m.forward(x), |p, m| p.apply(m));
    assert_eq!(plan.params["layers.1.weight"].new_shape(), [16, 8]);
    assert!(
        !plan.params.contains_key("layers.0.weight") || {
            let s = &plan.params["layers.0.weight"];
            s.keep.iter().all(|k| k.axis == 1)
        }
    );
}

#[test]
fn mobilenet_v2_depthwise_groups_shrink() {
    let config = MobileNetV2Config::cifar().with_width_mult(0.25);
    let model = config.init(&Device::flex()).unwrap();
    let forward = |m: &burn_prune::models::MobileNetV2, x| m.forward(x);
    let plan = check_equivalence(model, [2, 3, 32, 32], 0.5, forward, |p, m| {
        p.apply_with_constants(m)
    });
    let dw = &plan.params["blocks.1.depthwise.conv.weight"];
    let g = dw.groups.expect("the depthwise conv loses groups");
    assert_eq!(g.to, dw.new_shape()[0]);
    assert_eq!(g.from, dw.shape[0]);
    assert!(g.to < g.from);

    // The plan changes `groups`: the plain mapper refuses, naming the conv.
    let model = config.init(&Device::flex()).unwrap();
    let err = plan.apply(model).unwrap_err();
    assert!(
        matches!(&err, PruneError::PlanMismatch { path, reason } if path.ends_with("depthwise.conv") && reason.contains("groups")),
        "{err:?}"
    );
    // The plan (with its groups) survives JSON.
    assert_eq!(
        StructuralPlan::from_json(&plan.to_json().unwrap()).unwrap(),
        plan
    );
}

#[test]
fn pinned_grouped_convs_keep_their_channels() {
    let model = MobileNetV2Config::cifar()
        .with_width_mult(0.25)
        .init(&Device::flex())
        .unwrap();
    let t = trace(&model, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap();
    let graph =
        DependencyGraph::build(&t, &GraphOptions::default().with_pinned_grouped_convs()).unwrap();
    assert!(graph.grouped_convs.is_empty());
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert!(plan.params.values().all(|s| s.groups.is_none()));
    assert!(!plan.params.keys().any(|p| p.contains("depthwise")));
    plan.apply(model).unwrap();
}

/// Li et al.'s per-layer widths, as keep counts on the dense network's layers.
fn li_resnet_counts(config: &ResNetCifarConfig) -> Vec<KeepChannels> {
    let n = config.blocks_per_stage().unwrap();
    config
        .resolved_block_widths()
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(b, w)| {
            KeepChannels::new(format!("layer{}.{}.conv1.conv.weight", b / n + 1, b % n), w)
        })
        .collect()
}

fn li_resnet56(pruned: ResNetCifarConfig, expected: usize) {
    let device = Device::flex();
    let dense = ResNetCifarConfig::new(56).init(&device).unwrap();
    assert_eq!(param_count(&dense), 853_018);
    let t = trace(&dense, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.0)
        .with_keep_channels(li_resnet_counts(&pruned))
        .init(Magnitude::l1())
        .unwrap()
        .plan(&dense, &graph)
        .unwrap();
    let small = plan.apply(dense).unwrap();
    assert_eq!(param_count(&small), expected);
    // Same shapes as the network built at the pruned widths: it loads the compacted record.
    let built = pruned.init(&device).unwrap();
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
    let expected_out = values(small.forward(x.clone()));
    let loaded = built.load_record(small.into_record());
    assert_close(&values(loaded.forward(x)), &expected_out);
}

#[test]
fn li_resnet56_pruned_a_through_the_plan_api() {
    li_resnet56(ResNetCifarConfig::li_pruned_a(56).unwrap(), 773_336);
}

#[test]
fn li_resnet56_pruned_b_through_the_plan_api() {
    li_resnet56(ResNetCifarConfig::li_pruned_b(56).unwrap(), 735_712);
}

#[test]
fn li_vgg16_pruned_a_through_the_plan_api() {
    let device = Device::flex();
    let dense = VggConfig::vgg16().init(&device).unwrap();
    let pruned = VggConfig::vgg16_li_pruned_a();
    let counts = VggConfig::vgg16()
        .cfg
        .iter()
        .zip(&pruned.cfg)
        .enumerate()
        .filter_map(|(i, (d, p))| match (d, p) {
            (VggLayer::Conv(a), VggLayer::Conv(b)) if a != b => Some(KeepChannels::new(
                format!("features.{i}.Conv.conv.weight"),
                *b,
            )),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(counts.len(), 7, "conv1 and conv8-13");
    let t = trace(&dense, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.0)
        .with_keep_channels(counts)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&dense, &graph)
        .unwrap();
    let small = plan.apply(dense).unwrap();
    assert_eq!(param_count(&small), 5_397_034);
    let built = pruned.init(&device).unwrap();
    let _ = built.load_record(small.into_record());
}

#[test]
fn keep_channels_errors_name_the_layer() {
    let device = Device::flex();
    let model = ResNetCifarConfig::new(20).init(&device).unwrap();
    let t = trace(&model, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = |counts: Vec<KeepChannels>| {
        GroupPrunerConfig::new(0.0)
            .with_keep_channels(counts)
            .init(Magnitude::l1())
            .unwrap()
            .plan(&model, &graph)
    };
    let err = plan(vec![KeepChannels::new("layer9.*.conv1.conv.weight", 4)]).unwrap_err();
    assert!(
        matches!(&err, PruneError::PatternMatchesNothing { which: "keep_channels", pattern } if pattern.contains("layer9")),
        "{err:?}"
    );
    let err = plan(vec![KeepChannels::new("layer1.0.conv1.conv.weight", 17)]).unwrap_err();
    assert!(
        matches!(&err, PruneError::Config(m) if m.contains("layer1.0.conv1")),
        "{err:?}"
    );
    // Under option A the stem's channels run through stage 1 (and the middle of stages 2 and
    // 3): the stem and a stage-1 block's last conv share them.
    let err = plan(vec![
        KeepChannels::new("stem.conv.weight", 8),
        KeepChannels::new("layer1.1.conv2.conv.weight", 10),
    ])
    .unwrap_err();
    assert!(
        matches!(&err, PruneError::Config(m) if m.contains("stem")),
        "{err:?}"
    );
    let stem = plan(vec![KeepChannels::new("stem.conv.weight", 8)]).unwrap();
    assert_eq!(stem.params["stem.conv.weight"].new_shape(), [8, 3, 3, 3]);
    assert_eq!(stem.params["layer2.0.conv2.conv.weight"].new_shape()[0], 24);
    let ok = plan(vec![KeepChannels::new("layer2.*.conv1.conv.weight", 5)]).unwrap();
    for b in 0..3 {
        assert_eq!(
            ok.params[&format!("layer2.{b}.conv1.conv.weight")].new_shape()[0],
            5
        );
    }
    assert!(!ok.params.contains_key("layer1.0.conv1.conv.weight"));
}

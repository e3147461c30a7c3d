//! Structural pruning: dependency groups by hand, compaction ≡ zeroed channels, plan replay.

use crate::common::{assert_close, values};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;
use burn_prune::PruneError;
use burn_prune::criterion::Magnitude;
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupPrunerConfig, ModuleConstants, StructuralPlan, trace,
};

/// A residual block, a two-branch concat, a strided conv and a flatten into a linear layer.
#[derive(Module, Debug)]
pub struct Branchy {
    stem: Conv2d,
    stem_bn: BatchNorm,
    res1: Conv2d,
    res1_bn: BatchNorm,
    res2: Conv2d,
    res2_bn: BatchNorm,
    a: Conv2d,
    b: Conv2d,
    mix: Conv2d,
    mix_bn: BatchNorm,
    pool: AdaptiveAvgPool2d,
    fc1: Linear,
    fc2: Linear,
}

fn conv(i: usize, o: usize, k: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([i, o], [k, k])
        .with_padding(PaddingConfig2d::Same)
        .init(device)
}

impl Branchy {
    pub fn new(device: &Device) -> Self {
        Self {
            stem: conv(3, 8, 3, device),
            stem_bn: BatchNormConfig::new(8).init(device),
            res1: conv(8, 6, 3, device),
            res1_bn: BatchNormConfig::new(6).init(device),
            res2: conv(6, 8, 3, device),
            res2_bn: BatchNormConfig::new(8).init(device),
            a: conv(8, 4, 1, device),
            b: conv(8, 6, 3, device),
            mix: Conv2dConfig::new([10, 12], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            mix_bn: BatchNormConfig::new(12).init(device),
            pool: AdaptiveAvgPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(48, 16).init(device),
            fc2: LinearConfig::new(16, 5).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.stem_bn.forward(self.stem.forward(x)));
        let y = relu(self.res1_bn.forward(self.res1.forward(x.clone())));
        let y = self.res2_bn.forward(self.res2.forward(y));
        let x = relu(x + y);
        let c = Tensor::cat(vec![self.a.forward(x.clone()), self.b.forward(x)], 1);
        let z = relu(self.mix_bn.forward(self.mix.forward(c)));
        let z: Tensor<2> = self.pool.forward(z).flatten(1, 3);
        self.fc2.forward(relu(self.fc1.forward(z)))
    }
}

fn members(graph: &DependencyGraph, root: &str) -> Vec<String> {
    let (_, g) = graph.group_of(root, 0).expect("group");
    g.members
        .iter()
        .map(|m| format!("{}:{}", m.path, m.axis))
        .collect()
}

fn bn(prefix: &str) -> Vec<String> {
    ["gamma", "beta", "running_mean", "running_var"]
        .iter()
        .map(|p| format!("{prefix}.{p}:0"))
        .collect()
}

#[test]
fn groups_match_the_architecture() {
    let device = Device::flex();
    let model = Branchy::new(&device);
    let t = trace(&model, [2, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    assert_eq!(graph.groups.len(), 6, "{:#?}", graph.groups);

    // The residual stream: the stem, the block's last conv, and every reader of the sum.
    let mut stream = vec!["stem.weight:0".to_string(), "stem.bias:0".into()];
    stream.extend(bn("stem_bn"));
    stream.push("res1.weight:1".into());
    stream.extend(["res2.weight:0".to_string(), "res2.bias:0".into()]);
    stream.extend(bn("res2_bn"));
    stream.extend(["a.weight:1".to_string(), "b.weight:1".into()]);
    let mut got = members(&graph, "stem.weight");
    got.sort();
    stream.sort();
    assert_eq!(got, stream);

    // Concatenated branches form one group of 4 + 6 units read by `mix`.
    let (_, cat) = graph.group_of("a.weight", 0).unwrap();
    assert_eq!(cat.n_units, 10);
    let mix_in = cat.members.iter().find(|m| m.path == "mix.weight").unwrap();
    assert_eq!(mix_in.axis, 1);
    let b_out = cat.members.iter().find(|m| m.path == "b.weight").unwrap();
    assert_eq!(mix_in.units[4..].to_vec(), b_out.units);

    // Flatten: each of the 12 channels feeds 2·2 consecutive inputs of fc1.
    let (_, g) = graph.group_of("mix.weight", 0).unwrap();
    let fc1_in = g.members.iter().find(|m| m.path == "fc1.weight").unwrap();
    assert_eq!(fc1_in.axis, 0);
    assert_eq!(fc1_in.units, (0..48).map(|i| i / 4).collect::<Vec<_>>());

    // The classifier's outputs are pinned.
    let (_, out) = graph.group_of("fc2.weight", 1).unwrap();
    assert_eq!(out.n_units, 5);
    assert_eq!(out.prunable(), 0);
}

fn run(model: &Branchy, x: &Tensor<4>) -> Vec<f32> {
    values(model.forward(x.clone()))
}

#[test]
fn compacted_model_equals_the_zeroed_dense_model_and_replays() {
    let device = Device::flex();
    let model = Branchy::new(&device);
    let x = Tensor::<4>::random([3, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let t = trace(&model, [3, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let pruner = GroupPrunerConfig::new(0.5).init(Magnitude::l1()).unwrap();
    let plan = pruner.plan(&model, &graph).unwrap();
    assert_eq!(plan.params["stem.weight"].new_shape(), vec![4, 3, 3, 3]);
    assert_eq!(plan.params["mix.weight"].new_shape(), vec![6, 5, 3, 3]);
    assert_eq!(plan.params["fc1.weight"].new_shape(), vec![24, 8]);
    assert!(!plan.params["fc2.weight"].keep.iter().any(|k| k.axis == 1));

    let zeroed = plan
        .apply_as_zeros(Branchy::new(&device).load_record(model.clone().into_record()))
        .unwrap();
    let expected = run(&zeroed, &x);
    let small = plan.apply(model).unwrap();
    assert_close(&run(&small, &x), &expected);
    assert_eq!(small.stem.weight.dims(), [4, 3, 3, 3]);

    // The plan survives JSON and rebuilds the small shapes on a fresh model, which then loads
    // the compacted model's record.
    let plan2 = StructuralPlan::from_json(&plan.to_json().unwrap()).unwrap();
    assert_eq!(plan2, plan);
    let fresh = plan2.apply(Branchy::new(&device)).unwrap();
    let reloaded = fresh.load_record(small.clone().into_record());
    assert_close(&run(&reloaded, &x), &expected);
}

#[derive(Module, Debug)]
struct Odd {
    conv: Conv2d,
    fc: Linear,
}

impl Odd {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let y = self.conv.forward(x).cumsum(1);
        self.fc.forward(y.mean_dims(&[2, 3]).flatten(1, 3))
    }
}

#[test]
fn unknown_channel_ops_are_errors_unless_declared_barriers() {
    let device = Device::flex();
    let model = Odd {
        conv: conv(3, 4, 3, &device),
        fc: LinearConfig::new(4, 2).init(&device),
    };
    let t = trace(&model, [1, 3, 6, 6], |m, x| m.forward(x)).unwrap();
    let err = DependencyGraph::build(&t, &GraphOptions::default()).unwrap_err();
    match &err {
        PruneError::UnknownChannelOp { op, near, .. } => {
            assert_eq!(op, "CumSum");
            assert_eq!(near, "conv.weight");
        }
        other => panic!("unexpected {other:?}"),
    }
    let graph =
        DependencyGraph::build(&t, &GraphOptions::default().with_barrier("CumSum")).unwrap();
    let (_, g) = graph.group_of("conv.weight", 0).unwrap();
    assert_eq!(g.prunable(), 0, "the barrier pins the conv's channels");
}

#[test]
fn a_panicking_forward_is_a_trace_error() {
    let device = Device::flex();
    let model = Branchy::new(&device);
    let err = trace(&model, [1, 5, 8, 8], |m, x| m.forward(x)).unwrap_err();
    assert!(matches!(err, PruneError::Trace { .. }), "{err:?}");
}

#[test]
fn plan_errors_name_the_parameter() {
    let device = Device::flex();
    let model = Branchy::new(&device);
    let t = trace(&model, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let mut keep: Vec<Vec<bool>> = graph.groups.iter().map(|g| vec![true; g.n_units]).collect();
    let out = graph.groups.len() - 1;
    keep[out][0] = false;
    assert!(matches!(
        StructuralPlan::from_groups(&graph, &keep),
        Err(PruneError::Config(_))
    ));
    let bad =
        r#"{"params":{"stem.weight":{"shape":[8,3,3,3],"keep":[{"axis":0,"indices":[3,1]}]}}}"#;
    assert!(matches!(
        StructuralPlan::from_json(bad),
        Err(PruneError::PlanMismatch { .. })
    ));
    let other =
        r#"{"params":{"stem.weight":{"shape":[9,3,3,3],"keep":[{"axis":0,"indices":[1]}]}}}"#;
    let plan = StructuralPlan::from_json(other).unwrap();
    let err = plan.apply(model).unwrap_err();
    assert!(
        matches!(err, PruneError::PlanMismatch { ref path, .. } if path == "stem.weight"),
        "{err:?}"
    );
}

/// A grouped convolution (2 groups of 4 channels) between two plain ones.
#[derive(Module, Debug, ModuleConstants)]
struct Grouped {
    conv1: Conv2d,
    grouped: Conv2d,
    conv3: Conv2d,
    fc: Linear,
}

impl Grouped {
    fn new(device: &Device) -> Self {
        Self {
            conv1: conv(3, 8, 3, device),
            grouped: Conv2dConfig::new([8, 8], [3, 3])
                .with_groups(2)
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            conv3: conv(8, 4, 1, device),
            fc: LinearConfig::new(4, 2).init(device),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let y = relu(self.grouped.forward(relu(self.conv1.forward(x))));
        self.fc
            .forward(self.conv3.forward(y).mean_dims(&[2, 3]).flatten(1, 3))
    }
}

#[test]
fn grouped_convs_lose_whole_groups() {
    let device = Device::flex();
    let model = Grouped::new(&device);
    let t = trace(&model, [2, 3, 6, 6], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    // conv1's outputs, the grouped conv's inputs and outputs, conv3's inputs: one unit per
    // conv group.
    let (_, g) = graph.group_of("conv1.weight", 0).unwrap();
    assert_eq!(g.n_units, 2);
    let units = |path: &str, axis: usize| {
        g.members
            .iter()
            .find(|m| m.path == path && m.axis == axis)
            .unwrap()
            .units
            .clone()
    };
    let halves = vec![0, 0, 0, 0, 1, 1, 1, 1];
    assert_eq!(units("conv1.weight", 0), halves);
    assert_eq!(units("grouped.weight", 0), halves);
    assert_eq!(units("conv3.weight", 1), halves);
    assert!(
        g.members
            .iter()
            .all(|m| m.path != "grouped.weight" || m.axis == 0)
    );
    assert_eq!(graph.grouped_convs["grouped.weight"].groups, 2);

    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let slice = &plan.params["grouped.weight"];
    assert_eq!(slice.new_shape(), vec![4, 4, 3, 3]);
    assert_eq!(slice.groups.map(|g| (g.from, g.to)), Some((2, 1)));
    let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let zeroed = plan
        .apply_as_zeros(Grouped::new(&device).load_record(model.clone().into_record()))
        .unwrap();
    let err = plan.apply(model.clone()).unwrap_err();
    assert!(
        matches!(err, PruneError::PlanMismatch { ref path, ref reason } if path == "grouped" && reason.contains("groups") && reason.contains("ModuleConstants")),
        "{err:?}"
    );
    let small = plan.apply_with_constants(model).unwrap();
    assert_eq!(small.grouped.groups, 1);
    assert_close(
        &values(small.forward(x.clone())),
        &values(zeroed.forward(x)),
    );
}

/// GroupNorm normalises each group of channels together: a whole group is one unit (what the
/// other groups compute does not change), and `num_groups` is a module constant that
/// `apply_with_constants` updates.
#[derive(Module, Debug, ModuleConstants)]
struct Normed {
    conv1: Conv2d,
    norm: burn::nn::GroupNorm,
    conv2: Conv2d,
    fc: Linear,
}

impl Normed {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let y = relu(self.norm.forward(self.conv1.forward(x)));
        self.fc
            .forward(self.conv2.forward(y).mean_dims(&[2, 3]).flatten(1, 3))
    }
}

#[test]
fn group_norm_groups_are_units_and_compaction_is_exact() {
    let device = Device::flex();
    let model = Normed {
        conv1: conv(3, 8, 3, &device),
        norm: burn::nn::GroupNormConfig::new(2, 8).init(&device),
        conv2: conv(8, 6, 3, &device),
        fc: LinearConfig::new(6, 2).init(&device),
    };
    let t = trace(&model, [2, 3, 6, 6], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let (_, g) = graph.group_of("conv1.weight", 0).unwrap();
    // Two units of four channels each: conv1's filters, γ and β, conv2's inputs.
    assert_eq!(g.n_units, 2, "{g:?}");
    assert!(g.pinned.is_empty(), "{:?}", g.pinned);
    assert!(!g.is_approximate());
    let units = |path: &str, axis: usize| {
        g.members
            .iter()
            .find(|m| m.path == path && m.axis == axis)
            .unwrap_or_else(|| panic!("{path}:{axis} in the group"))
            .units
            .clone()
    };
    let halves = vec![0, 0, 0, 0, 1, 1, 1, 1];
    assert_eq!(units("conv1.weight", 0), halves);
    assert_eq!(units("norm.gamma", 0), halves);
    assert_eq!(units("norm.beta", 0), halves);
    assert_eq!(units("conv2.weight", 1), halves);
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert_eq!(plan.params["norm.gamma"].new_shape(), vec![4]);
    assert_eq!(plan.params["conv2.weight"].new_shape(), vec![3, 4, 3, 3]);
    let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let zeroed = plan.apply_as_zeros(model.clone()).unwrap();
    let expected = values(zeroed.forward(x.clone()));
    let err = plan.apply(model.clone()).unwrap_err();
    assert!(
        matches!(err, PruneError::PlanMismatch { ref path, ref reason } if path == "norm" && reason.contains("num_groups")),
        "{err:?}"
    );
    let small = plan.apply_with_constants(model).unwrap();
    assert_eq!((small.norm.num_groups, small.norm.num_channels), (1, 4));
    assert_close(&values(small.forward(x)), &expected);
}

/// A plan that keeps part of a GroupNorm group is refused, naming the module.
#[test]
fn group_norm_refuses_a_plan_that_splits_a_group() {
    let device = Device::flex();
    let model = Normed {
        conv1: conv(3, 8, 3, &device),
        norm: burn::nn::GroupNormConfig::new(2, 8).init(&device),
        conv2: conv(8, 6, 3, &device),
        fc: LinearConfig::new(6, 2).init(&device),
    };
    let json =
        r#"{"params":{"norm.gamma":{"shape":[8],"keep":[{"axis":0,"indices":[0,1,2,4,5,6]}]}}}"#;
    let plan = StructuralPlan::from_json(json).unwrap();
    let err = plan.apply_with_constants(model).unwrap_err();
    assert!(
        matches!(err, PruneError::PlanMismatch { ref path, ref reason } if path == "norm" && reason.contains("whole groups")),
        "{err:?}"
    );
}

/// Two heads reading the halves of one conv's channels.
#[derive(Module, Debug)]
struct Halves {
    stem: Conv2d,
    left: Conv2d,
    right: Conv2d,
    fc: Linear,
}

impl Halves {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let y = relu(self.stem.forward(x));
        let [a, b]: [Tensor<4>; 2] = y.split(4, 1).try_into().expect("two halves");
        let z = self.left.forward(a) + self.right.forward(b);
        self.fc.forward(z.mean_dims(&[2, 3]).flatten(1, 3))
    }
}

#[test]
fn channel_slices_pin_what_they_split_and_the_rest_compacts() {
    let device = Device::flex();
    let model = Halves {
        stem: conv(3, 8, 3, &device),
        left: conv(4, 6, 3, &device),
        right: conv(4, 6, 3, &device),
        fc: LinearConfig::new(6, 2).init(&device),
    };
    let t = trace(&model, [2, 3, 6, 6], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let (_, g) = graph.group_of("stem.weight", 0).unwrap();
    assert_eq!(g.prunable(), 0);
    assert!(g.pinned.values().all(|why| why.contains("Slice")));
    // The two heads add into one stream of 6 channels, which may shrink.
    let (_, sum) = graph.group_of("left.weight", 0).unwrap();
    assert!(
        sum.members
            .iter()
            .any(|m| m.path == "right.weight" && m.axis == 0)
    );
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert_eq!(plan.params["right.weight"].new_shape(), vec![3, 4, 3, 3]);
    let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let expected = values(
        plan.apply_as_zeros(model.clone())
            .unwrap()
            .forward(x.clone()),
    );
    let small = plan.apply(model).unwrap();
    assert_close(&values(small.forward(x)), &expected);
}

/// Soft pruning between training steps: a plan zeroed into an autodiff model leaves trainable
/// leaves (the next backward pass runs), the removed entries are exactly zero, and gradients
/// reach them again.
#[test]
fn zeros_applied_between_training_steps_keep_parameters_trainable() {
    use crate::common::SmallCnn;
    use burn::optim::GradientsParams;
    let device = Device::flex().autodiff();
    device.seed(8);
    let model = SmallCnn::new(&[3, 8, 6], 4, &device);
    let t = trace(&model, [1, 3, 8, 8], |m: &SmallCnn, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let loss = |m: &SmallCnn| m.forward(x.clone()).powi_scalar(2).mean();
    // A training step's graph, consumed by its backward pass, then zeros.
    let _ = loss(&model).backward();
    let zeroed = plan.apply_as_zeros(model).unwrap();
    let weight = values(zeroed.blocks[0].conv.weight.val());
    let kept = &plan.params["blocks.0.conv.weight"].keep[0].indices;
    let row = weight.len() / 8;
    for f in (0..8).filter(|f| !kept.contains(f)) {
        assert!(
            weight[f * row..(f + 1) * row].iter().all(|v| *v == 0.0),
            "filter {f}"
        );
    }
    // The next step runs and its gradients reach the zeroed filters.
    let grads = GradientsParams::from_grads(loss(&zeroed).backward(), &zeroed);
    let g = grads
        .get::<4>(zeroed.blocks[0].conv.weight.id)
        .expect("the zeroed weight is still trainable");
    assert_eq!(g.dims(), [8, 3, 3, 3]);
}

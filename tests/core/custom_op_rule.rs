//! A graph op rule defined outside the library, as a downstream crate would: the dependency
//! graph follows an op it has no built-in rule for, and compaction stays exact through it.

use crate::common::{randomize_batch_norms, values};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::structure::{
    ChannelFlow, DependencyGraph, GraphOptions, GroupPrunerConfig, OpRule, ir, trace,
};
use burn_prune::{PruneError, Result};

/// A cumulative sum keeps channels where they are when it runs along another axis; summed
/// over its channels it reads them all, so they are pinned.
#[derive(Debug)]
struct CumSumRule;

impl OpRule for CumSumRule {
    fn name(&self) -> String {
        "cumsum".into()
    }

    fn apply(&self, flow: &mut ChannelFlow<'_, '_>) -> Result<bool> {
        let ir::OperationIr::NumericFloat(_, ir::NumericOperationIr::CumSum(c)) = flow.op() else {
            return Ok(false);
        };
        let (input, out, axis) = (c.input.clone(), c.out.clone(), c.axis);
        if flow.channel_axis(&input) == Some(axis) {
            flow.pin(&input, "summed over its channels by a cumsum");
        } else {
            flow.pass(&input, &out)?;
        }
        Ok(true)
    }
}

/// conv → BatchNorm → cumsum along `axis` → conv.
#[derive(Module, Debug)]
struct CumSumNet {
    conv1: Conv2d,
    bn: BatchNorm,
    conv2: Conv2d,
    axis: usize,
}

impl CumSumNet {
    fn new(axis: usize, device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        Self {
            conv1: conv(3, 8),
            bn: BatchNormConfig::new(8).init(device),
            conv2: conv(8, 4),
            axis,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.bn.forward(self.conv1.forward(x));
        self.conv2.forward(x.cumsum(self.axis))
    }
}

fn graph(model: &CumSumNet, options: &GraphOptions) -> burn_prune::Result<DependencyGraph> {
    let t = trace(model, [1, 3, 6, 6], |m, x| m.forward(x))?;
    DependencyGraph::build(&t, options)
}

#[test]
fn a_downstream_rule_lets_the_graph_follow_an_unknown_op() {
    let device = Device::flex();
    device.seed(5);
    let model = randomize_batch_norms(CumSumNet::new(2, &device), 9);
    // Without a rule the op is an error naming it and the layer before it.
    let err = graph(&model, &GraphOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PruneError::UnknownChannelOp { op, .. } if op == "CumSum"),
        "{err}"
    );

    // With it, conv1's filters, the BatchNorm and conv2's inputs are one group.
    let options = GraphOptions::default().with_rule(CumSumRule);
    let g = graph(&model, &options).unwrap();
    let (_, group) = g.group_of("conv1.weight", 0).unwrap();
    let members: Vec<(&str, usize)> = group
        .members
        .iter()
        .map(|m| (m.path.as_str(), m.axis))
        .collect();
    assert!(members.contains(&("conv2.weight", 1)), "{members:?}");
    assert!(members.contains(&("bn.gamma", 0)), "{members:?}");
    assert!(group.pinned.is_empty());

    // Compaction through the op is exact: the smaller model computes what the dense one
    // computes with those channels at zero.
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &g)
        .unwrap();
    assert_eq!(plan.params["conv1.weight"].new_shape(), vec![4, 3, 3, 3]);
    assert_eq!(plan.params["conv2.weight"].new_shape(), vec![4, 4, 3, 3]);
    let x = Tensor::<4>::random([2, 3, 6, 6], burn::tensor::Distribution::Default, &device);
    let zeroed = plan
        .apply_as_zeros(model.clone())
        .unwrap()
        .forward(x.clone());
    let small = plan.apply(model).unwrap().forward(x);
    for (a, b) in values(zeroed).iter().zip(values(small)) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn a_downstream_rule_pins_what_it_cannot_cut() {
    let device = Device::flex();
    // Summed over the channel axis: the rule pins conv1's channels.
    let model = CumSumNet::new(1, &device);
    let g = graph(&model, &GraphOptions::default().with_rule(CumSumRule)).unwrap();
    let (_, group) = g.group_of("conv1.weight", 0).unwrap();
    assert_eq!(group.pinned.len(), 8);
    assert!(
        group.pinned.values().all(|r| r.contains("cumsum")),
        "{:?}",
        group.pinned
    );
    // Rules are named in the options, and options with the same rules compare equal.
    let a = GraphOptions::default().with_rule(CumSumRule);
    assert_eq!(a, GraphOptions::default().with_rule(CumSumRule));
    assert_ne!(a, GraphOptions::default());
    assert!(format!("{a:?}").contains("cumsum"));
}

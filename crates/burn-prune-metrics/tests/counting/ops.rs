//! MACs and FLOPs of single ops, computed by hand.

use crate::device;
use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2dConfig, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d,
    Relu,
};
use burn::prelude::*;
use burn_prune_metrics::{Convention, OpCounts, OpKind};

fn conv_counts(config: Conv2dConfig, input: [usize; 4]) -> OpCounts {
    let conv: Conv2d = config.init(&device());
    OpCounts::of_model(&conv, input, |m, x| m.forward(x)).unwrap()
}

#[test]
fn conv_with_stride_padding_dilation() {
    // 3 → 8, 3×3, stride 2, padding 1, dilation 2 on 9×9: output side
    // ⌊(9 + 2 − 2·(3 − 1) − 1) / 2⌋ + 1 = 4. Batch 2.
    let counts = conv_counts(
        Conv2dConfig::new([3, 8], [3, 3])
            .with_stride([2, 2])
            .with_dilation([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
        [2, 3, 9, 9],
    );
    assert_eq!(counts.output_shape, vec![2, 8, 4, 4]);
    let macs = 2 * 8 * 4 * 4 * (3 * 3 * 3);
    assert_eq!(counts.macs(Convention::Papers), macs);
    assert_eq!(counts.macs(Convention::Full), macs);
    assert_eq!(counts.flops(Convention::Papers), 2 * macs);
    // Plus one add per output for the bias.
    assert_eq!(counts.flops(Convention::Full), 2 * macs + 2 * 8 * 4 * 4);
    let conv = &counts.ops[0];
    assert_eq!(conv.kind, OpKind::Conv);
    assert_eq!(conv.param.as_deref(), Some("weight"));
    assert_eq!(conv.macs_per_weight, 2 * 4 * 4);
}

#[test]
fn grouped_and_depthwise_convs() {
    // 4 → 6 in 2 groups, 1×1: every output reads 2 inputs.
    let grouped = conv_counts(
        Conv2dConfig::new([4, 6], [1, 1])
            .with_groups(2)
            .with_bias(false),
        [1, 4, 5, 5],
    );
    assert_eq!(grouped.macs(Convention::Papers), 6 * 25 * 2);
    // Depthwise 3×3, padding 1: every output reads 9 inputs of its own channel.
    let depthwise = conv_counts(
        Conv2dConfig::new([4, 4], [3, 3])
            .with_groups(4)
            .with_bias(false)
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
        [1, 4, 5, 5],
    );
    assert_eq!(depthwise.macs(Convention::Papers), 4 * 25 * 9);
    assert_eq!(depthwise.flops(Convention::Full), 2 * 4 * 25 * 9);
}

#[test]
fn transposed_conv() {
    // 4 → 2, 3×3, stride 2 on 3×3: output (3 − 1)·2 + 3 = 7; each input scatters 2·9 MACs.
    let conv: ConvTranspose2d = ConvTranspose2dConfig::new([4, 2], [3, 3])
        .with_stride([2, 2])
        .with_bias(false)
        .init(&device());
    let counts = OpCounts::of_model(&conv, [1, 4, 3, 3], |m, x| m.forward(x)).unwrap();
    assert_eq!(counts.output_shape, vec![1, 2, 7, 7]);
    assert_eq!(counts.ops[0].kind, OpKind::ConvTranspose);
    assert_eq!(counts.macs(Convention::Papers), 4 * 9 * 2 * 9);
}

#[test]
fn linear_on_two_and_three_dims() {
    let linear: Linear = LinearConfig::new(5, 3).init(&device());
    let counts = OpCounts::of_model(&linear, [4, 5], |m, x| m.forward(x)).unwrap();
    assert_eq!(counts.macs(Convention::Papers), 4 * 3 * 5);
    assert_eq!(counts.flops(Convention::Full), 2 * 4 * 3 * 5 + 4 * 3);
    let counts = OpCounts::of_model(&linear, [2, 4, 5], |m, x| m.forward(x)).unwrap();
    assert_eq!(counts.macs(Convention::Papers), 2 * 4 * 3 * 5);
    assert_eq!(
        counts.flops(Convention::Full),
        2 * 2 * 4 * 3 * 5 + 2 * 4 * 3
    );
    // Every op of the layer, bias add included, is attributed to it.
    let layers = counts.layers();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].path, "");
    assert_eq!(
        layers[0].flops(Convention::Full),
        counts.flops(Convention::Full)
    );
}

#[derive(Module, Debug)]
struct Scaled {
    w: Param<Tensor<2>>,
}

#[test]
fn matmuls_and_parameter_preprocessing() {
    // x [2, 3, 4] · xᵀ [2, 4, 3]: 2·3·3 outputs of 4 MACs, counted in both conventions.
    let unit = Scaled {
        w: Param::from_tensor(Tensor::ones([4, 6], &device())),
    };
    let counts =
        OpCounts::of_model(&unit, [2, 3, 4], |_, x| x.clone().matmul(x.swap_dims(1, 2))).unwrap();
    assert_eq!(counts.macs(Convention::Papers), 2 * 3 * 3 * 4);
    assert_eq!(counts.ops.len(), 2); // swap_dims (no arithmetic) and the matmul
    assert_eq!(counts.ops[1].param, None);

    // A weight scaled before use: the scaling touches only the parameter and is not counted;
    // the matmul is still attributed to `w`.
    let counts = OpCounts::of_model(&unit, [3, 4], |m, x| x.matmul(m.w.val() * 2.0)).unwrap();
    assert_eq!(counts.ops.len(), 1);
    assert_eq!(counts.ops[0].param.as_deref(), Some("w"));
    assert_eq!(counts.macs(Convention::Full), 3 * 6 * 4);
    assert_eq!(counts.ops[0].macs_per_weight, 3);
}

#[test]
fn norms() {
    let bn: BatchNorm = BatchNormConfig::new(4).init(&device());
    let counts = OpCounts::of_model(&bn, [2, 4, 3, 3], |m, x| m.forward(x)).unwrap();
    assert_eq!(counts.macs(Convention::Papers), 0);
    assert_eq!(counts.macs(Convention::Full), 72);
    assert_eq!(counts.flops(Convention::Full), 144);
    assert_eq!(counts.ops[0].param.as_deref(), Some("gamma"));

    let ln: LayerNorm = LayerNormConfig::new(5).init(&device());
    let counts = OpCounts::of_model(&ln, [3, 5], |m, x| m.forward(x)).unwrap();
    assert_eq!(counts.macs(Convention::Papers), 0);
    let flops = counts.flops(Convention::Full);
    // Either Burn's fused layer-norm op (7 per element with γ and β), or its decomposition.
    assert!(flops >= 15 * 5, "layer norm FLOPs {flops}");
}

#[test]
fn pools_and_elementwise() {
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let counts = OpCounts::of_model(&Relu::new(), [1, 2, 4, 4], |_, x| pool.forward(x)).unwrap();
    assert_eq!(counts.ops[0].kind, OpKind::Pool);
    assert_eq!(counts.flops(Convention::Full), 8 * 4);
    assert_eq!(counts.flops(Convention::Papers), 0);

    let gap = AdaptiveAvgPool2dConfig::new([1, 1]).init();
    let counts = OpCounts::of_model(&Relu::new(), [1, 2, 4, 4], |_, x| gap.forward(x)).unwrap();
    assert_eq!(counts.flops(Convention::Full), 32);

    // relu (6), add (6), sum over everything (reads 6), reshape (0).
    let counts = OpCounts::of_model(&Relu::new(), [2, 3], |m, x| {
        (m.forward(x.clone()) + x).sum().reshape([1, 1])
    })
    .unwrap();
    let kinds: Vec<OpKind> = counts.ops.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [
            OpKind::Elementwise,
            OpKind::Elementwise,
            OpKind::Reduction,
            OpKind::Other
        ]
    );
    assert_eq!(counts.flops(Convention::Full), 18);
    assert_eq!(counts.unattributed().count(), 4);
}

#[derive(Module, Debug)]
struct Small {
    conv: Conv2d,
    bn: BatchNorm,
    fc: Linear,
}

#[test]
fn layers_of_a_small_net() {
    let device = device();
    let net = Small {
        conv: Conv2dConfig::new([3, 4], [3, 3])
            .with_bias(false)
            .init(&device),
        bn: BatchNormConfig::new(4).init(&device),
        fc: LinearConfig::new(4, 2).init(&device),
    };
    let counts = OpCounts::of_model(&net, [1, 3, 6, 6], |m, x| {
        let y = burn::tensor::activation::relu(m.bn.forward(m.conv.forward(x)));
        m.fc.forward(y.mean_dims(&[2, 3]).reshape([1, 4]))
    })
    .unwrap();
    let layers = counts.layers();
    let paths: Vec<&str> = layers.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(paths, ["conv", "bn", "fc"]);
    assert_eq!(layers[0].kind, OpKind::Conv);
    assert_eq!(layers[0].input_shape, vec![1, 3, 6, 6]);
    assert_eq!(layers[0].output_shape, vec![1, 4, 4, 4]);
    assert_eq!(layers[0].macs(Convention::Papers), 4 * 16 * 27);
    assert_eq!(layers[1].kind, OpKind::Norm);
    assert_eq!(layers[2].macs(Convention::Papers), 8);
    assert_eq!(counts.macs(Convention::Papers), 4 * 16 * 27 + 8);
    // Layers and unattributed ops partition the total.
    let by_layer: u64 = layers.iter().map(|l| l.flops(Convention::Full)).sum();
    let rest: u64 = counts.unattributed().map(|o| o.flops).sum();
    assert_eq!(by_layer + rest, counts.flops(Convention::Full));
}

#[test]
fn lstm_counts_every_step_including_the_product_on_the_initial_state() {
    use burn::nn::{Lstm, LstmConfig};
    // 3 inputs, 8 hidden units, 5 steps, batch 2: at every step each of the 4 gates multiplies
    // the input (3·8) and the previous hidden state (8·8, zeros at the first step).
    let lstm: Lstm = LstmConfig::new(3, 8, true)
        .with_batch_first(true)
        .init(&device());
    let counts = OpCounts::of_model(&lstm, [2, 5, 3], |m, x| m.forward(x, None).0).unwrap();
    assert_eq!(counts.macs(Convention::Papers), 5 * 2 * 4 * (3 * 8 + 8 * 8));
    let hidden: u64 = counts
        .ops
        .iter()
        .filter(|o| o.layer().is_some_and(|l| l.ends_with("hidden_transform")))
        .map(|o| o.macs(Convention::Papers))
        .sum();
    assert_eq!(hidden, 5 * 2 * 4 * 8 * 8);
}

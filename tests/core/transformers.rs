//! Transformers: attention heads and head dimensions as units, grouped key/value heads,
//! normalised widths by opt-in, and Burn's own attention modules.

use crate::common::{assert_close, values};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::PruneError;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{SelfAttention, SelfAttentionConfig, ViT, ViTConfig};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, Group, GroupPrunerConfig, HeadUnits, ModuleConstants,
    StructuralPlan, trace,
};

/// A ViT small enough to check by hand: 8×8 images, 4 patches of 4×4, width 16, one block of
/// 4 heads of 4, MLP 32, 3 classes.
fn tiny_vit(device: &Device) -> ViT {
    ViTConfig::new(8, 1, 4, 16, 1, 4, 4, 32, 3)
        .init(device)
        .unwrap()
}

fn images(device: &Device) -> Tensor<4> {
    Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), device)
}

fn group<'g>(graph: &'g DependencyGraph, path: &str, axis: usize) -> &'g Group {
    graph
        .group_of(path, axis)
        .unwrap_or_else(|| panic!("{path}:{axis} is in no group"))
        .1
}

fn units(g: &Group, path: &str, axis: usize) -> Vec<usize> {
    g.members
        .iter()
        .find(|m| m.path == path && m.axis == axis)
        .unwrap_or_else(|| panic!("{path}:{axis} is not a member of {}", g.root()))
        .units
        .clone()
}

/// The plan, the compacted model (through its constants) and the zeroed dense model agree.
fn compacts_exactly(model: ViT, plan: &StructuralPlan, device: &Device) -> ViT {
    let x = images(device);
    let zeroed = plan.apply_as_zeros(model.clone()).unwrap();
    let small = plan.apply_with_constants(model).unwrap();
    assert_close(
        &values(small.forward(x.clone())),
        &values(zeroed.forward(x)),
    );
    small
}

#[test]
fn vit_heads_are_units_and_compaction_is_exact() {
    let device = Device::flex();
    let model = tiny_vit(&device);
    let t = trace(&model, [2, 1, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let heads = group(&graph, "blocks.0.attention.query.weight", 1);
    assert_eq!(heads.n_units, 4, "{heads:?}");
    assert!(heads.pinned.is_empty() && !heads.is_approximate());
    // Head h is features 4h..4h+4 of the query, key and value projections and of the output
    // projection's inputs.
    let by_head: Vec<usize> = (0..16).map(|f| f / 4).collect();
    for (path, axis) in [
        ("blocks.0.attention.query.weight", 1),
        ("blocks.0.attention.key.weight", 1),
        ("blocks.0.attention.value.weight", 1),
        ("blocks.0.attention.query.bias", 0),
        ("blocks.0.attention.output.weight", 0),
    ] {
        assert_eq!(units(heads, path, axis), by_head, "{path}:{axis}");
    }
    // The residual width is normalised by the LayerNorms: pinned, and the reason says how to
    // allow it.
    let width = group(&graph, "embed.weight", 1);
    assert_eq!(width.prunable(), 0);
    assert!(
        width
            .pinned
            .values()
            .any(|why| why.contains("LayerNorm") && why.contains("with_approximate_norms")),
        "{:?}",
        width.pinned
    );

    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert_eq!(
        plan.params["blocks.0.attention.query.weight"].new_shape(),
        vec![16, 8]
    );
    assert_eq!(plan.params["blocks.0.fc1.weight"].new_shape(), vec![16, 16]);
    assert!(plan.is_exact());
    let small = compacts_exactly(model, &plan, &device);
    let attention = &small.blocks[0].attention;
    assert_eq!(
        (attention.n_heads, attention.d_qk, attention.d_v),
        (2, 4, 4)
    );
}

#[test]
fn vit_head_dimensions_are_units_by_choice() {
    let device = Device::flex();
    let model = tiny_vit(&device);
    let t = trace(&model, [2, 1, 8, 8], |m, x| m.forward(x)).unwrap();
    let options = GraphOptions::default().with_head_units(HeadUnits::Dims);
    let graph = DependencyGraph::build(&t, &options).unwrap();
    // Queries and keys share their dimensions (contracted in the scores); values have their
    // own (carried to the output projection).
    let qk = group(&graph, "blocks.0.attention.query.weight", 1);
    let by_dim: Vec<usize> = (0..16).map(|f| f % 4).collect();
    assert_eq!(qk.n_units, 4);
    assert_eq!(units(qk, "blocks.0.attention.query.weight", 1), by_dim);
    assert_eq!(units(qk, "blocks.0.attention.key.weight", 1), by_dim);
    assert!(qk.members.iter().all(|m| !m.path.contains("value")));
    let v = group(&graph, "blocks.0.attention.value.weight", 1);
    assert_eq!(v.n_units, 4);
    assert_eq!(units(v, "blocks.0.attention.output.weight", 0), by_dim);

    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let small = compacts_exactly(model, &plan, &device);
    let attention = &small.blocks[0].attention;
    assert_eq!(
        (attention.n_heads, attention.d_qk, attention.d_v),
        (4, 2, 2)
    );
    // The scale of the scores is the configuration's, not 1/√2.
    assert_eq!(attention.scale, 0.5);
}

/// A token mixer with grouped key/value heads between two linear layers.
#[derive(Module, Debug, ModuleConstants)]
struct Gqa {
    embed: Linear,
    attention: SelfAttention,
    head: Linear,
}

impl Gqa {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = self.embed.forward(x);
        self.head.forward(y.clone() + self.attention.forward(y))
    }
}

#[test]
fn grouped_key_value_heads_take_their_query_heads_along() {
    let device = Device::flex();
    let model = Gqa {
        embed: LinearConfig::new(5, 12).init(&device),
        attention: SelfAttentionConfig::new(12, 4, 3)
            .with_n_kv_heads(Some(2))
            .with_causal(true)
            .init(&device)
            .unwrap(),
        head: LinearConfig::new(12, 2).init(&device),
    };
    let t = trace(&model, [2, 6, 5], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let g = group(&graph, "attention.key.weight", 1);
    // Two units: key/value head 0 with query heads 0 and 1, head 1 with query heads 2 and 3.
    assert_eq!(g.n_units, 2, "{g:?}");
    let kv: Vec<usize> = (0..6).map(|f| f / 3).collect();
    let q: Vec<usize> = (0..12).map(|f| f / 6).collect();
    assert_eq!(units(g, "attention.key.weight", 1), kv);
    assert_eq!(units(g, "attention.value.weight", 1), kv);
    assert_eq!(units(g, "attention.query.weight", 1), q);
    assert_eq!(units(g, "attention.output.weight", 0), q);

    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let x = Tensor::<3>::random([2, 6, 5], Distribution::Normal(0.0, 1.0), &device);
    let zeroed = plan.apply_as_zeros(model.clone()).unwrap();
    let small = plan.apply_with_constants(model).unwrap();
    assert_eq!(
        (small.attention.n_heads, small.attention.n_kv_heads),
        (2, 1)
    );
    assert_close(
        &values(small.forward(x.clone())),
        &values(zeroed.forward(x)),
    );
}

#[test]
fn normalised_widths_are_prunable_by_opt_in_and_marked_approximate() {
    let device = Device::flex();
    let model = tiny_vit(&device);
    let t = trace(&model, [2, 1, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph =
        DependencyGraph::build(&t, &GraphOptions::default().with_approximate_norms()).unwrap();
    let width = group(&graph, "embed.weight", 1);
    assert_eq!(width.n_units, 16);
    assert!(width.pinned.is_empty(), "{:?}", width.pinned);
    assert!(width.is_approximate());
    assert!(
        width
            .approximate
            .iter()
            .any(|why| why.contains("LayerNorm"))
    );
    // The whole residual stream: embedding, positions, every norm, the projections reading
    // and writing it, the classifier's inputs.
    for (path, axis) in [
        ("position", 2),
        ("blocks.0.norm1.gamma", 0),
        ("blocks.0.attention.query.weight", 0),
        ("blocks.0.attention.output.weight", 1),
        ("blocks.0.fc2.weight", 1),
        ("norm.beta", 0),
        ("head.weight", 0),
    ] {
        assert_eq!(units(width, path, axis).len(), 16, "{path}:{axis}");
    }
    // The heads stay exact.
    assert!(!group(&graph, "blocks.0.attention.query.weight", 1).is_approximate());

    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    // The plan says so too, and it survives JSON.
    assert!(!plan.is_exact());
    assert!(
        plan.approximate["embed.weight"]
            .iter()
            .any(|why| why.contains("LayerNorm"))
    );
    assert_eq!(
        StructuralPlan::from_json(&plan.to_json().unwrap()).unwrap(),
        plan
    );
    let small = plan.apply_with_constants(model).unwrap();
    assert_eq!(small.position.val().dims(), [1, 4, 8]);
    assert_eq!(small.blocks[0].norm1.gamma.val().dims(), [8]);
    let y = small.forward(images(&device));
    assert_eq!(y.dims(), [2, 3]);
    assert!(values(y).iter().all(|v| v.is_finite()));
}

/// Burn's encoder, whose attention reshapes its context to its input width.
#[derive(Module, Debug, ModuleConstants)]
struct BurnEncoder {
    embed: Linear,
    encoder: TransformerEncoder,
    head: Linear,
}

impl BurnEncoder {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = self
            .encoder
            .forward(TransformerEncoderInput::new(self.embed.forward(x)));
        self.head.forward(y)
    }
}

#[test]
fn burn_multi_head_attention_heads_are_explained_not_broken() {
    let device = Device::flex();
    let model = BurnEncoder {
        embed: LinearConfig::new(5, 16).init(&device),
        encoder: TransformerEncoderConfig::new(16, 32, 4, 1).init(&device),
        head: LinearConfig::new(16, 2).init(&device),
    };
    let t = trace(&model, [2, 3, 5], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    // The feed-forward width is exact and free.
    let ff = group(&graph, "encoder.layers.0.pwff.linear_inner.weight", 1);
    assert_eq!(ff.prunable(), 32);
    let heads = group(&graph, "encoder.layers.0.mha.query.weight", 1);
    assert_eq!(heads.prunable(), 0, "{heads:?}");
    assert!(
        heads
            .pinned
            .values()
            .all(|why| why.contains("MultiHeadAttention") && why.contains("d_model")),
        "{:?}",
        heads.pinned
    );
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let x = Tensor::<3>::random([2, 3, 5], Distribution::Normal(0.0, 1.0), &device);
    let zeroed = plan.apply_as_zeros(model.clone()).unwrap();
    let small = plan.apply_with_constants(model.clone()).unwrap();
    assert_close(
        &values(small.forward(x.clone())),
        &values(zeroed.forward(x)),
    );

    // A plan that removes heads anyway is refused with the reason, not a panic later.
    let json = r#"{"params":{"encoder.layers.0.mha.query.weight":{"shape":[16,16],"keep":[{"axis":1,"indices":[0,1,2,3,4,5,6,7,8,9,10,11]}]}}}"#;
    let err = StructuralPlan::from_json(json)
        .unwrap()
        .apply_with_constants(model)
        .unwrap_err();
    assert!(
        matches!(err, PruneError::PlanMismatch { ref path, ref reason } if path == "encoder.layers.0.mha" && reason.contains("d_model")),
        "{err:?}"
    );
}

#[test]
fn llama_heads_and_mlp_compact_exactly_and_rms_norm_pins_the_width() {
    use burn_prune::models::{Llama, LlamaConfig};
    use burn_prune::structure::trace_int;
    let device = Device::flex();
    let model = LlamaConfig::new(32, 16, 1, 4, 2, 4, 24)
        .init(&device)
        .unwrap();
    let forward = |m: &Llama, t: Tensor<2, Int>| m.forward(t);
    let t = trace_int(&model, [2, 5], forward).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    // Two key/value heads, each with its two query heads.
    let heads = group(&graph, "blocks.0.attention.key.weight", 1);
    assert_eq!(heads.n_units, 2, "{heads:?}");
    assert_eq!(heads.prunable(), 2);
    let mlp = group(&graph, "blocks.0.gate.weight", 1);
    assert_eq!((mlp.n_units, mlp.prunable()), (24, 24));
    assert_eq!(units(mlp, "blocks.0.up.weight", 1).len(), 24);
    assert_eq!(units(mlp, "blocks.0.down.weight", 0).len(), 24);
    let width = group(&graph, "embed.weight", 1);
    assert_eq!(width.prunable(), 0);
    assert!(
        width.pinned.values().any(|why| why.contains("MeanDim")),
        "{:?}",
        width.pinned
    );

    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let tokens = Tensor::<2, Int>::from_data(
        TensorData::new(vec![1i64, 7, 3, 31, 0, 5, 5, 9, 12, 2], [2, 5]),
        &device,
    );
    let zeroed = plan.apply_as_zeros(model.clone()).unwrap();
    let small = plan.apply_with_constants(model).unwrap();
    let attention = &small.blocks[0].attention;
    assert_eq!((attention.n_heads, attention.n_kv_heads), (2, 1));
    assert_eq!(small.blocks[0].gate.weight.dims(), [16, 12]);
    assert_close(
        &values(small.forward(tokens.clone())),
        &values(zeroed.forward(tokens)),
    );
}

#[test]
fn bert_heads_compact_exactly_and_its_width_by_opt_in() {
    use burn_prune::models::{Bert, BertConfig};
    use burn_prune::structure::trace_int;
    let device = Device::flex();
    let model = BertConfig::tiny().init(&device).unwrap();
    let forward = |m: &Bert, t: Tensor<2, Int>| m.forward(t);
    let t = trace_int(&model, [2, 6], forward).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    assert_eq!(
        group(&graph, "blocks.1.attention.query.weight", 1).n_units,
        4
    );
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let tokens = Tensor::<2, Int>::from_data(
        TensorData::new(vec![3i64, 9, 27, 81, 100, 1, 2, 4, 8, 16, 32, 64], [2, 6]),
        &device,
    );
    let zeroed = plan.apply_as_zeros(model.clone()).unwrap();
    let small = plan.apply_with_constants(model.clone()).unwrap();
    assert_eq!(small.blocks[1].attention.n_heads, 2);
    assert_close(
        &values(small.forward(tokens.clone())),
        &values(zeroed.forward(tokens.clone())),
    );

    // The width: token, position and segment tables, every LayerNorm, the pooler's inputs.
    let graph =
        DependencyGraph::build(&t, &GraphOptions::default().with_approximate_norms()).unwrap();
    let width = group(&graph, "tokens.weight", 1);
    assert!(
        width.is_approximate() && width.prunable() == 32,
        "{width:?}"
    );
    for (path, axis) in [("positions", 1), ("segments", 1), ("pooler.weight", 0)] {
        assert_eq!(units(width, path, axis).len(), 32, "{path}");
    }
    let plan = GroupPrunerConfig::new(0.25)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let small = plan.apply_with_constants(model).unwrap();
    assert_eq!(small.positions.val().dims(), [16, 24]);
    assert_eq!(small.forward(tokens).dims(), [2, 2]);
}

#[test]
fn reference_transformers_have_their_published_parameter_counts() {
    use burn_prune::models::{BertConfig, LlamaConfig, param_count};
    let device = Device::flex();
    // bert-base-uncased: embeddings 30522·768 + 512·768 + 2·768 + LayerNorm 2·768; per
    // block 4·(768² + 768) + 2·768 + (768·3072 + 3072) + (3072·768 + 768) + 2·768; pooler
    // 768² + 768: 109,482,240 (Devlin et al.'s 110M). The classifier adds 768·2 + 2.
    let bert = BertConfig::base(2).init(&device).unwrap();
    assert_eq!(param_count(&bert), 109_482_240 + 768 * 2 + 2);
    // The ViT of the examples: patch embedding 49·64 + 64, positions 16·64; per block two
    // LayerNorms 4·64, q/k/v/o 4·(64² + 64), MLP 64·128 + 128 + 128·64 + 64; final norm
    // 2·64; classifier 64·10 + 10.
    let vit = ViTConfig::fashion_mnist().init(&device).unwrap();
    let block = 4 * 64 + 4 * (64 * 64 + 64) + 64 * 128 + 128 + 128 * 64 + 64;
    assert_eq!(
        param_count(&vit),
        49 * 64 + 64 + 16 * 64 + 4 * block + 2 * 64 + 64 * 10 + 10
    );
    // LLaMA-style tiny: embeddings 256·64; per block two RMS norms 2·64, q 64·64, k and v
    // 64·32 (2 key/value heads of 16), o 64·64, SwiGLU 3·64·172; final norm 64; output 64·256.
    let llama = LlamaConfig::tiny().init(&device).unwrap();
    let block = 2 * 64 + 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 172;
    assert_eq!(param_count(&llama), 256 * 64 + 2 * block + 64 + 64 * 256);
}

//! Structural pruning of the reference transformers, end to end: trace one forward pass,
//! build the dependency groups, rank by L2 and keep 50% of every group's free units (heads,
//! MLP widths; with `_width`, also the residual width through the norms, approximately),
//! compact with the modules' constants.
//!
//! `cargo bench --bench transformers`
//!
//! - `prune/vit_fashion_mnist`: the examples' ViT (138,890 parameters), batch 1;
//! - `prune/vit_fashion_mnist_width`: the same with `with_approximate_norms`;
//! - `prune/bert_base`: BERT-base (109.5M parameters), 32 tokens;
//! - `prune/llama_tiny`: the LLaMA-style decoder, 16 tokens.
//!
//! The models are built and initialised outside the timed part.

use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{Bert, BertConfig, Llama, LlamaConfig, ViT, ViTConfig, initialized};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupPrunerConfig, ModuleConstants, Trace, trace, trace_int,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::time::Duration;

/// Group, plan 50% by L2, compact.
fn prune_half<M: Module + ModuleConstants>(model: M, t: &Trace, options: &GraphOptions) -> M {
    let graph = DependencyGraph::build(t, options).expect("groups");
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .expect("plan");
    plan.apply_with_constants(model).expect("compaction")
}

fn prune(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("prune");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (name, options) in [
        ("vit_fashion_mnist", GraphOptions::default()),
        (
            "vit_fashion_mnist_width",
            GraphOptions::default().with_approximate_norms(),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || initialized(ViTConfig::fashion_mnist().init(&device).expect("model")),
                |m| {
                    let t = trace(&m, [1, 1, 28, 28], |m: &ViT, x| m.forward(x)).expect("trace");
                    prune_half(m, &t, &options)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.bench_function("bert_base", |b| {
        b.iter_batched(
            || initialized(BertConfig::base(2).init(&device).expect("model")),
            |m| {
                let t = trace_int(&m, [1, 32], |m: &Bert, x| m.forward(x)).expect("trace");
                prune_half(m, &t, &GraphOptions::default())
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("llama_tiny", |b| {
        b.iter_batched(
            || initialized(LlamaConfig::tiny().init(&device).expect("model")),
            |m| {
                let t = trace_int(&m, [1, 16], |m: &Llama, x| m.forward(x)).expect("trace");
                prune_half(m, &t, &GraphOptions::default())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, prune);
criterion_main!(benches);

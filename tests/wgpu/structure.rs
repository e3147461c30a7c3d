//! Transformers and recurrent layers compacted on wgpu compute what they compute on the CPU:
//! attention heads, a normalised width (opt-in, approximate) and LSTM hidden units.

use crate::common::{assert_close, values};
use crate::wgpu;
use burn::nn::{Linear, LinearConfig, Lstm, LstmConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{ViT, ViTConfig};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupPrunerConfig, ModuleConstants, StructuralPlan, trace,
};

fn tiny_vit(device: &Device) -> ViT {
    ViTConfig::new(8, 1, 4, 16, 1, 4, 4, 32, 3)
        .init(device)
        .unwrap()
}

/// The plan of `options` on the CPU model, applied on the CPU and to the model moved to wgpu.
fn vit_on_both(options: GraphOptions) {
    let cpu = Device::flex();
    cpu.seed(5);
    let model = tiny_vit(&cpu);
    let t = trace(&model, [2, 1, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &options).unwrap();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let x = Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &cpu);
    let on_gpu = plan
        .apply_with_constants(model.clone().to_device(&wgpu()))
        .unwrap();
    let on_cpu = plan.apply_with_constants(model).unwrap();
    assert_eq!(
        on_gpu.blocks[0].attention.n_heads,
        on_cpu.blocks[0].attention.n_heads
    );
    assert_close(
        &values(on_gpu.forward(x.clone().to_device(&wgpu()))),
        &values(on_cpu.forward(x)),
    );
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn attention_heads_compacted_on_wgpu_equal_cpu() {
    vit_on_both(GraphOptions::default());
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn normalised_width_compacted_on_wgpu_equals_cpu() {
    vit_on_both(GraphOptions::default().with_approximate_norms());
}

#[derive(Module, Debug, ModuleConstants)]
struct Tagger {
    lstm: Lstm,
    head: Linear,
}

impl Tagger {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.head.forward(self.lstm.forward(x, None).0)
    }
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn lstm_hidden_units_compacted_on_wgpu_equal_cpu() {
    let cpu = Device::flex();
    cpu.seed(6);
    let model = Tagger {
        lstm: LstmConfig::new(3, 8, true)
            .with_batch_first(true)
            .init(&cpu),
        head: LinearConfig::new(8, 2).init(&cpu),
    };
    let t = trace(&model, [2, 4, 3], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan: StructuralPlan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    let x = Tensor::<3>::random([2, 4, 3], Distribution::Normal(0.0, 1.0), &cpu);
    let on_gpu = plan
        .apply_with_constants(model.clone().to_device(&wgpu()))
        .unwrap();
    let on_cpu = plan.apply_with_constants(model).unwrap();
    assert_eq!(on_gpu.lstm.d_hidden, 4);
    assert_close(
        &values(on_gpu.forward(x.clone().to_device(&wgpu()))),
        &values(on_cpu.forward(x)),
    );
}

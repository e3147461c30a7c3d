//! The same masks on wgpu as on the CPU.
//!
//! These tests need a Vulkan driver (on a machine without a GPU, Mesa's lavapipe:
//! `apt-get install mesa-vulkan-drivers libvulkan1`), so they are `#[ignore]`d in the plain
//! `cargo test` run; `.ci/run` installs the driver and runs them with `--features wgpu -- --ignored`.

#[path = "../common/mod.rs"]
mod common;
mod data;
mod hardware;
mod metrics;
mod pai;
mod schedule;
mod structure;

use burn::prelude::*;
use burn_prune::criterion::{Fpgm, Magnitude};
use burn_prune::{Granularity, PrunerConfig, Scope, SparsityReport};
use common::{SmallCnn, batch, values};

fn wgpu() -> Device {
    Device::wgpu(DeviceKind::DefaultDevice)
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn masks_on_wgpu_equal_cpu_masks_exactly() {
    let cpu = Device::flex();
    cpu.seed(21);
    let model = SmallCnn::new(&[4, 8, 16], 10, &cpu);
    let on_gpu = model.clone().to_device(&wgpu());
    let configs = [
        (Granularity::Element, Scope::Global, 0.5),
        (Granularity::Filter, Scope::Local, 0.5),
        (Granularity::Kernel, Scope::Lamp, 0.7),
        (Granularity::NM { n: 2, m: 4 }, Scope::Global, 0.5),
    ];
    for (g, scope, s) in configs {
        let pruner = PrunerConfig::new(s)
            .with_granularity(g)
            .with_scope(scope)
            .init(Magnitude::l2())
            .unwrap();
        assert_eq!(
            pruner.masks(&on_gpu).unwrap(),
            pruner.masks(&model).unwrap(),
            "{g}"
        );
    }
    let fpgm = PrunerConfig::new(0.25)
        .with_granularity(Granularity::Filter)
        .init(Fpgm)
        .unwrap();
    assert_eq!(fpgm.masks(&on_gpu).unwrap(), fpgm.masks(&model).unwrap());
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn masked_model_on_wgpu_matches_cpu() {
    let cpu = Device::flex();
    cpu.seed(4);
    let model = SmallCnn::new(&[3, 8, 8], 4, &cpu);
    let pruner = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .init(Magnitude::l1())
        .unwrap();
    let (masked_cpu, masks) = pruner.prune(model.clone()).unwrap();
    let (masked_gpu, masks_gpu) = pruner.prune(model.to_device(&wgpu())).unwrap();
    assert_eq!(masks, masks_gpu);
    let weights_cpu = values(masked_cpu.blocks[1].conv.weight.val());
    let weights_gpu = values(masked_gpu.blocks[1].conv.weight.val());
    assert_eq!(weights_cpu, weights_gpu, "masking is exact");
    let report_cpu = SparsityReport::of_model(&masked_cpu, &masks).unwrap();
    let report_gpu = SparsityReport::of_model(&masked_gpu, &masks).unwrap();
    assert_eq!(report_cpu, report_gpu);
    let (x, _) = batch(2, 3, 8, 4, 9, &cpu);
    let out_cpu = values(masked_cpu.valid().forward(x.clone()));
    let out_gpu = values(masked_gpu.valid().forward(x.to_device(&wgpu())));
    for (a, b) in out_cpu.iter().zip(&out_gpu) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn structural_plan_and_compaction_on_wgpu_match_cpu() {
    use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
    let cpu = Device::flex();
    cpu.seed(8);
    let model = common::randomize_batch_norms(SmallCnn::new(&[3, 8, 6], 4, &cpu), 5);
    let on_gpu = model.clone().fork(&wgpu());
    // The trace and the plan only read the model: the same on both devices.
    let t = trace(&on_gpu, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let pruner = GroupPrunerConfig::new(0.5).init(Magnitude::l1()).unwrap();
    let plan = pruner.plan(&on_gpu, &graph).unwrap();
    let t_cpu = trace(&model, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph_cpu = DependencyGraph::build(&t_cpu, &GraphOptions::default()).unwrap();
    assert_eq!(graph, graph_cpu);
    assert_eq!(plan, pruner.plan(&model, &graph_cpu).unwrap());

    let (x, _) = batch(2, 3, 8, 4, 3, &cpu);
    let zeroed_cpu = plan
        .apply_as_zeros(SmallCnn::new(&[3, 8, 6], 4, &cpu).load_record(model.clone().into_record()))
        .unwrap();
    let expected = values(zeroed_cpu.forward(x.clone()));
    let small_gpu = plan.apply(on_gpu).unwrap();
    assert_eq!(small_gpu.blocks[0].conv.weight.dims(), [4, 3, 3, 3]);
    let got = values(small_gpu.forward(x.to_device(&wgpu())));
    common::assert_close(&expected, &got);
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn gathering_gradients_and_compacting_a_clone_on_wgpu_leave_the_model() {
    use burn_prune::criterion::Taylor;
    use burn_prune::deep_clone;
    use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
    let device = wgpu().autodiff();
    let model = SmallCnn::new(&[3, 4, 6], 2, &device);
    let (x, _) = batch(4, 3, 8, 2, 9, &device);
    let _ = model.forward(x.clone()); // training mode: the running statistics move
    let stats = |m: &SmallCnn| values(m.blocks[1].bn.running_var.value_sync());
    let before = stats(&model);
    assert_ne!(before, vec![1.0; 6]);

    let loss = |m: &SmallCnn, x: Tensor<4>| m.forward(x).sum();
    PrunerConfig::new(0.5)
        .init(Taylor::element())
        .unwrap()
        .masks_with_data(&model, [x.clone()], loss)
        .unwrap();
    assert_eq!(stats(&model), before);

    let copy = deep_clone(&model);
    assert_eq!(stats(&copy), before);
    let _ = copy.forward(x);
    assert_eq!(stats(&model), before);
    assert!(copy.devices().iter().all(|d| d.is_autodiff()));

    let valid = model.valid();
    let t = trace(&valid, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&valid, &graph)
        .unwrap();
    let small = plan.apply(valid.clone()).unwrap();
    assert_eq!(small.blocks[1].bn.running_var.value().dims(), [3]);
    assert_eq!(stats(&valid), before);
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn global_magnitude_over_many_pieces_on_wgpu_equals_cpu() {
    // 123,697 weights with installed masks: read off the GPU in slices, settled in one pass.
    let model = common::wide(&Device::flex());
    let on_gpu = model.clone().to_device(&wgpu());
    for sparsity in [0.6, 0.9] {
        let pruner = PrunerConfig::new(sparsity)
            .with_scope(Scope::Global)
            .init(Magnitude::l1())
            .unwrap();
        assert_eq!(
            pruner.masks(&on_gpu).unwrap(),
            pruner.masks(&model).unwrap(),
            "{sparsity}"
        );
    }
}

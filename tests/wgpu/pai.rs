//! Pruning at initialization on wgpu against the CPU.
//!
//! SynFlow (in `f32`, and in `f64` where the adapter has it) and the data-free baselines give
//! the same masks on both backends. SNIP and GraSP rank products of gradients: the two backends sum in different
//! orders, so scores differ in the last bits and weights whose scores tie within that noise
//! may swap across the threshold; the masks agree everywhere else.

use crate::common::{SmallCnn, batch};
use crate::wgpu;
use burn::prelude::*;
use burn_prune::pai::{Baseline, GraspConfig, Precision, Snip, SynFlowConfig};
use burn_prune::{MaskSet, ParamSelector, PrunerConfig};

fn disagreements(a: &MaskSet, b: &MaskSet) -> usize {
    a.iter()
        .map(|m| {
            let other = b.get(&m.path).unwrap().keep.to_bools();
            m.keep
                .to_bools()
                .iter()
                .zip(other)
                .filter(|(x, y)| **x != *y)
                .count()
        })
        .sum()
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn synflow_and_baselines_on_wgpu_equal_cpu_masks() {
    let cpu = Device::flex();
    cpu.seed(31);
    let model = SmallCnn::new(&[3, 8, 16], 4, &cpu);
    let on_gpu = model.clone().fork(&wgpu());
    let synflow = SynFlowConfig::new()
        .with_rounds(5)
        .with_precision(Precision::F32)
        .init()
        .unwrap();
    let forward = |m: &SmallCnn, x| m.forward(x);
    let (_, masks_cpu) = synflow
        .prune(model.clone(), 0.8, [1, 3, 8, 8], forward)
        .unwrap();
    let (_, masks_gpu) = synflow
        .prune(on_gpu.clone(), 0.8, [1, 3, 8, 8], forward)
        .unwrap();
    assert_eq!(masks_gpu, masks_cpu);
    // Auto computes in f64 where the adapter has it (lavapipe does, many GPUs do not).
    let auto = SynFlowConfig::new().with_rounds(5).init().unwrap();
    let s = auto.scores(&on_gpu, [1, 3, 8, 8], forward).unwrap();
    let f64_on_gpu = wgpu().supports_dtype(burn::tensor::FloatDType::F64);
    let expected = if f64_on_gpu {
        burn::tensor::FloatDType::F64
    } else {
        burn::tensor::FloatDType::F32
    };
    assert_eq!(s.dtype, expected);
    if f64_on_gpu {
        let (_, cpu64) = auto
            .prune(model.clone(), 0.8, [1, 3, 8, 8], forward)
            .unwrap();
        let (_, gpu64) = auto
            .prune(on_gpu.clone(), 0.8, [1, 3, 8, 8], forward)
            .unwrap();
        assert_eq!(gpu64, cpu64);
    }
    for baseline in [Baseline::Uniform, Baseline::Random, Baseline::Erk] {
        let pruner = baseline
            .pruner(&model, 0.7, &ParamSelector::default(), 4)
            .unwrap();
        assert_eq!(
            pruner.masks(&on_gpu).unwrap(),
            pruner.masks(&model).unwrap()
        );
    }
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn snip_and_grasp_on_wgpu_agree_with_cpu_up_to_ties() {
    let cpu = Device::flex().autodiff();
    cpu.seed(32);
    let gpu = wgpu().autodiff();
    let model = SmallCnn::new(&[3, 8, 8], 4, &cpu);
    let on_gpu = model.clone().fork(&gpu);
    let (x, y) = batch(16, 3, 8, 4, 5, &cpu);
    let loss = |m: &SmallCnn, (x, y): (Tensor<4>, Tensor<1, Int>)| {
        burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&x.device())
            .forward(m.forward(x), y)
    };
    let pruner = PrunerConfig::new(0.5).init(Snip).unwrap();
    let snip_cpu = pruner
        .masks_with_data(&model, [(x.clone(), y.clone())], loss)
        .unwrap();
    let snip_gpu = pruner
        .masks_with_data(
            &on_gpu,
            [(x.clone().to_device(&gpu), y.clone().to_device(&gpu))],
            loss,
        )
        .unwrap();
    let (total, _) = snip_cpu.counts();
    let differ = disagreements(&snip_cpu, &snip_gpu);
    assert!(
        differ * 100 <= total,
        "SNIP: {differ} of {total} weights differ"
    );

    let logits = |m: &SmallCnn, (x, y): (Tensor<4>, Tensor<1, Int>)| (m.forward(x), y);
    let grasp = GraspConfig::new().init().unwrap();
    let (_, grasp_cpu) = grasp
        .prune(model, 0.5, &[(x.clone(), y.clone())], logits)
        .unwrap();
    let (_, grasp_gpu) = grasp
        .prune(
            on_gpu,
            0.5,
            &[(x.to_device(&gpu), y.to_device(&gpu))],
            logits,
        )
        .unwrap();
    let differ = disagreements(&grasp_cpu, &grasp_gpu);
    assert!(
        differ * 50 <= total,
        "GraSP: {differ} of {total} weights differ"
    );
}

/// PreCrop's channel allocation comes from the trace, not from values: the model on wgpu gets
/// the same channel counts as on the CPU, and the compacted wgpu model computes the compacted
/// CPU model's outputs.
#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn precrop_channels_on_wgpu_equal_cpu() {
    use burn_prune::pai::PreCropConfig;
    let cpu = Device::flex();
    cpu.seed(33);
    let model = SmallCnn::new(&[3, 8, 16, 16], 4, &cpu);
    // A clone shares BatchNorm running statistics, which compaction cuts in place: give the
    // wgpu copy its own (`valid().train()`: fresh statistics, equal to the untrained model's).
    let on_gpu = model.valid().train().fork(&wgpu());
    let forward = |m: &SmallCnn, x| m.forward(x);
    let precrop = PreCropConfig::new()
        .with_params(Some(0.4))
        .with_macs(Some(0.5))
        .init()
        .unwrap();
    let a_cpu = precrop.channels(&model, [1, 3, 8, 8], forward).unwrap();
    let a_gpu = precrop.channels(&on_gpu, [1, 3, 8, 8], forward).unwrap();
    assert_eq!(a_gpu.kept, a_cpu.kept);
    assert_eq!(a_gpu.ratios, a_cpu.ratios);
    let small_cpu = a_cpu.plan().unwrap().apply(model).unwrap();
    let small_gpu = a_gpu.plan().unwrap().apply(on_gpu).unwrap();
    assert_eq!(
        small_gpu.blocks[1].conv.weight.dims(),
        small_cpu.blocks[1].conv.weight.dims()
    );
    let (x, _) = batch(4, 3, 8, 4, 5, &cpu);
    let y_cpu = small_cpu.valid().forward(x.clone());
    let y_gpu = small_gpu.valid().forward(x.to_device(&wgpu()));
    crate::common::assert_close(
        &crate::common::values(y_gpu.to_device(&cpu)),
        &crate::common::values(y_cpu),
    );
}

//! Metrics and activation patterns on wgpu against the CPU.

use crate::common::{SmallCnn, randomize_batch_norms, values};
use crate::wgpu;
use burn::backend::{CubeDevice, Flex, FlexDevice, Wgpu, WgpuDeviceKind};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::metrics::early_bird::{PatternCaptureConfig, layer_distances};
use burn_prune::metrics::{
    Convention, LatencyConfig, ModelMetrics, PruningReport, theoretical_speedup,
};
use burn_prune::{Granularity, PrunerConfig};

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn counts_of_a_masked_model_on_wgpu_equal_cpu_counts() {
    let cpu = Device::flex();
    cpu.seed(12);
    let model = SmallCnn::new(&[3, 8, 8], 4, &cpu);
    let (masked, _) = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .init(Magnitude::l1())
        .unwrap()
        .prune(model.clone())
        .unwrap();
    let forward = |m: &SmallCnn, x| m.forward(x);
    // Masks installed on the CPU move to the GPU with the model.
    let on_gpu = masked.clone().to_device(&wgpu());
    let x = Tensor::<4>::from_data(
        TensorData::new(crate::common::host_floats(2 * 3 * 64, 4), [2, 3, 8, 8]),
        &cpu,
    );
    let out_cpu = values(masked.forward(x.clone()));
    let out_gpu = values(on_gpu.forward(x.to_device(&wgpu())));
    crate::common::assert_close(&out_gpu, &out_cpu);
    let cpu_metrics = ModelMetrics::of_model(&masked, [1, 3, 8, 8], forward).unwrap();
    let gpu_metrics = ModelMetrics::of_model(&on_gpu, [1, 3, 8, 8], forward).unwrap();
    assert_eq!(cpu_metrics, gpu_metrics);
    let dense = ModelMetrics::of_model(&model, [1, 3, 8, 8], forward).unwrap();
    // Papers' MACs of unmasked weights, by hand: each non-zero conv weight is used at the
    // 8×8 output positions ("same" padding), each non-zero linear weight once.
    let nonzero = |t: Tensor<4>| values(t).iter().filter(|&&v| v != 0.0).count() as u64;
    let fc_nonzero = values(masked.fc.weight.val())
        .iter()
        .filter(|&&v| v != 0.0)
        .count() as u64;
    let by_hand = 64 * nonzero(masked.blocks[0].conv.weight.val())
        + 64 * nonzero(masked.blocks[1].conv.weight.val())
        + fc_nonzero;
    assert_eq!(gpu_metrics.effective_macs(Convention::Papers), by_hand);
    let speedup = theoretical_speedup(&dense, &gpu_metrics, Convention::Papers);
    assert_eq!(
        speedup,
        dense.macs(Convention::Papers) as f64 / by_hand as f64
    );
    let report = PruningReport::new(&dense, &gpu_metrics, Convention::Papers);
    assert_eq!(
        report,
        PruningReport::new(&dense, &cpu_metrics, Convention::Papers)
    );
    assert!(report.rows.iter().any(|r| r.density < 1.0));

    // Latency plumbing on the GPU: the forward passes are waited for and timed.
    let latency = LatencyConfig::new(4)
        .with_warmup(1)
        .with_runs(3)
        .measure(&on_gpu, [3, 8, 8], &wgpu(), forward)
        .unwrap();
    assert!(latency.median() > std::time::Duration::ZERO);
    assert!(latency.min() <= latency.median() && latency.median() <= latency.max());
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn activation_patterns_on_wgpu_equal_cpu_patterns() {
    let cpu = Device::flex();
    cpu.seed(5);
    let model = randomize_batch_norms(SmallCnn::new(&[3, 4, 6], 3, &cpu), 2);
    let capture = PatternCaptureConfig::new()
        .with_grid_side(6)
        .with_batch_size(12)
        .init(&model, [1, 3, 8, 8], |m, x| m.forward(x))
        .unwrap();
    let sample = |seed: u64| TensorData::new(crate::common::host_floats(3 * 64, seed), [3, 8, 8]);
    let (x0, x1) = (sample(1), sample(2));
    let on_cpu = capture
        .capture::<Flex, _>(&model, &x0, &x1, FlexDevice)
        .unwrap();
    let on_gpu = capture
        .capture::<Wgpu, _>(
            &model,
            &x0,
            &x1,
            CubeDevice::wgpu(WgpuDeviceKind::DefaultDevice).unwrap(),
        )
        .unwrap();
    // Pre-activations within float rounding of 0 may fall on either side.
    for (layer, d) in on_cpu
        .layers
        .iter()
        .zip(layer_distances(&on_cpu, &on_gpu).unwrap())
    {
        assert!(d <= 1e-3, "layer {}: {d} of the bits differ", layer.name);
    }
}

//! Activation statistics, layer-wise moments and one-shot pruning replayed on wgpu against
//! the CPU.

use crate::common::{SmallCnn, batch, randomize_batch_norms};
use burn::backend::{CubeDevice, Flex, FlexDevice, Wgpu, WgpuDeviceKind};
use burn::prelude::*;
use burn_prune::data::{ActivationCapture, ActivationCriterion, CaptureBatch, TapPoint};

/// The same batches give the same statistics on wgpu as on flex: zero counts exactly where
/// no value sits within rounding of 0 (ReLU outputs are exactly 0 or clearly positive
/// here), sums within float tolerance, and the same APoZ ranking.
#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn activation_statistics_on_wgpu_equal_cpu() {
    let cpu = Device::flex();
    cpu.seed(7);
    let model = randomize_batch_norms(SmallCnn::new(&[3, 6, 8], 4, &cpu), 3);
    let capture = ActivationCapture::new(&model, [8, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let batches = || {
        (0..2).map(|k| {
            let (x, y) = batch(8, 3, 8, 4, 20 + k, &Device::flex());
            let labels = crate::common::values(y.float())
                .iter()
                .map(|&v| v as usize)
                .collect();
            CaptureBatch::new(x.to_data()).with_labels(labels)
        })
    };
    let paths = [
        "blocks.0.conv.weight".to_string(),
        "blocks.1.conv.weight".to_string(),
    ];
    let on_cpu = capture
        .statistics::<Flex, _>(&model, batches(), FlexDevice, TapPoint::Activation, &paths)
        .unwrap();
    let on_gpu = capture
        .statistics::<Wgpu, _>(
            &model,
            batches(),
            CubeDevice::wgpu(WgpuDeviceKind::DefaultDevice).unwrap(),
            TapPoint::Activation,
            &paths,
        )
        .unwrap();
    for (a, b) in on_cpu.iter().zip(&on_gpu) {
        assert_eq!(a.zeros, b.zeros, "{}", a.path);
        for (x, y) in a.sum.iter().zip(&b.sum) {
            assert!(
                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                "{}: {x} vs {y}",
                a.path
            );
        }
    }
    assert_eq!(
        ActivationCriterion::apoz(&on_cpu).scores(),
        ActivationCriterion::apoz(&on_gpu).scores()
    );
}

/// ThiNet and LASSO choose the same channels from inputs replayed on wgpu as on flex, and
/// reconstruct weights within float tolerance.
#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn channel_reconstruction_on_wgpu_equals_cpu() {
    use burn_prune::data::ChannelMethod;
    use burn_prune::data::reconstruct::LassoConfig;
    let cpu = Device::flex();
    cpu.seed(9);
    let model = randomize_batch_norms(SmallCnn::new(&[3, 6, 8], 4, &cpu), 4);
    let capture = ActivationCapture::new(&model, [8, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let batches = || {
        (0..2).map(|k| CaptureBatch::new(batch(8, 3, 8, 4, 30 + k, &Device::flex()).0.to_data()))
    };
    for method in [
        ChannelMethod::ThiNet,
        ChannelMethod::Lasso(LassoConfig::default()),
    ] {
        let on_cpu = capture
            .reconstruct_channels::<Flex, _>(
                &model,
                batches(),
                FlexDevice,
                "blocks.1.conv.weight",
                2,
                &method,
                32,
                5,
            )
            .unwrap();
        let on_gpu = capture
            .reconstruct_channels::<Wgpu, _>(
                &model,
                batches(),
                CubeDevice::wgpu(WgpuDeviceKind::DefaultDevice).unwrap(),
                "blocks.1.conv.weight",
                2,
                &method,
                32,
                5,
            )
            .unwrap();
        assert_eq!(on_gpu.kept, on_cpu.kept, "{method:?}");
        let scale = on_cpu.weight.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (a, b) in on_cpu.weight.iter().zip(&on_gpu.weight) {
            assert!((a - b).abs() <= 1e-3 * scale, "{method:?}: {a} vs {b}");
        }
    }
}

/// Layer-wise input moments (the OBD/OBS Hessians) from a wgpu replay equal flex's.
#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn input_moments_on_wgpu_equal_cpu() {
    let cpu = Device::flex();
    cpu.seed(11);
    let model = randomize_batch_norms(SmallCnn::new(&[3, 4, 6], 3, &cpu), 5);
    let capture = ActivationCapture::new(&model, [4, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    let data = batch(4, 3, 8, 3, 6, &cpu).0.to_data();
    let on_cpu = capture
        .input_moments::<Flex, _>(&model, [CaptureBatch::new(data.clone())], FlexDevice, &[])
        .unwrap();
    let on_gpu = capture
        .input_moments::<Wgpu, _>(
            &model,
            [CaptureBatch::new(data)],
            CubeDevice::wgpu(WgpuDeviceKind::DefaultDevice).unwrap(),
            &[],
        )
        .unwrap();
    assert_eq!(
        on_cpu.keys().collect::<Vec<_>>(),
        on_gpu.keys().collect::<Vec<_>>()
    );
    for (path, a) in &on_cpu {
        let (a, b) = (a.sum_xxt(), on_gpu[path].sum_xxt());
        let scale = a.data.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
        for (x, y) in a.data.iter().zip(&b.data) {
            assert!((x - y).abs() <= 1e-4 * scale, "{path}: {x} vs {y}");
        }
    }
}

/// Wanda and SparseGPT (2:4) from calibration inputs replayed on wgpu give flex's masks and,
/// within float tolerance, its weights.
#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn one_shot_pruning_on_wgpu_equals_cpu() {
    use burn::nn::{Linear, LinearConfig};
    use burn_prune::data::one_shot::{OneShotConfig, SparsityTarget, one_shot_prune};

    #[derive(Module, Debug)]
    struct Mlp {
        fc1: Linear,
        fc2: Linear,
    }
    let cpu = Device::flex();
    cpu.seed(13);
    let model = Mlp {
        fc1: LinearConfig::new(8, 8).init(&cpu),
        fc2: LinearConfig::new(8, 4).init(&cpu),
    };
    let forward = |m: &Mlp, x: Tensor<2>| {
        m.fc2
            .forward(burn::tensor::activation::relu(m.fc1.forward(x)))
    };
    let capture = ActivationCapture::new(&model, [16, 8], forward).unwrap();
    let batches: Vec<CaptureBatch> = (0..2)
        .map(|k| {
            let x = crate::common::host_floats(16 * 8, 40 + k);
            CaptureBatch::new(TensorData::new(x, [16, 8]))
        })
        .collect();
    for config in [
        OneShotConfig::wanda(SparsityTarget::Unstructured(0.5)),
        OneShotConfig::sparsegpt(SparsityTarget::NM { n: 2, m: 4 }),
    ] {
        let on_cpu =
            one_shot_prune::<Flex, _>(model.clone(), &capture, &batches, FlexDevice, &config)
                .unwrap();
        let on_gpu = one_shot_prune::<Wgpu, _>(
            model.clone(),
            &capture,
            &batches,
            CubeDevice::wgpu(WgpuDeviceKind::DefaultDevice).unwrap(),
            &config,
        )
        .unwrap();
        assert_eq!(on_gpu.masks, on_cpu.masks, "{:?}", config.method);
        for (a, b) in [
            (&on_cpu.model.fc1, &on_gpu.model.fc1),
            (&on_cpu.model.fc2, &on_gpu.model.fc2),
        ] {
            crate::common::assert_close(
                &crate::common::values(a.weight.val()),
                &crate::common::values(b.weight.val()),
            );
        }
    }
}

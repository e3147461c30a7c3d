//! Data-driven criteria at CIFAR shapes on the flex backend.
//!
//! `cargo bench --bench data`
//!
//! - `capture/resnet56_statistics`: ResNet-56 traced at batch 32, one batch of 32 images
//!   replayed, and the post-ReLU channel statistics of its 28 layers with a ReLU right after
//!   them accumulated (zeros, sums, per-sample means);
//! - `capture/resnet56_forward`: the plain forward pass of the same batch, for comparison;
//! - `reconstruct/*`: ThiNet and LASSO pruning of half of the 16 input channels of
//!   `layer1.0.conv2` (4 batches of 32 images, 320 sampled positions per batch: ThiNet's
//!   10 per image), selection and reconstruction.

use burn::backend::{Flex, FlexDevice};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::data::reconstruct::LassoConfig;
use burn_prune::data::{ActivationCapture, CaptureBatch, ChannelMethod, TapPoint};
use burn_prune::models::{ResNetCifar, ResNetCifarConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    device.seed(0);
    let model = ResNetCifarConfig::new(56).init(&device).unwrap();
    let forward = |m: &ResNetCifar, x: Tensor<4>| m.forward(x);
    let capture = ActivationCapture::new(&model, [32, 3, 32, 32], forward).unwrap();
    let with_relu: Vec<String> = capture
        .taps()
        .iter()
        .filter(|t| t.has_activation)
        .map(|t| t.path.clone())
        .collect();
    let images = |seed: u64| {
        device.seed(seed);
        Tensor::<4>::random([32, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device)
    };
    let x = images(1);
    let data = x.to_data();

    let mut group = c.benchmark_group("capture");
    group.sample_size(10);
    group.bench_function("resnet56_statistics", |b| {
        b.iter(|| {
            capture
                .statistics::<Flex, _>(
                    &model,
                    [CaptureBatch::new(data.clone())],
                    FlexDevice,
                    TapPoint::Activation,
                    &with_relu,
                )
                .unwrap()
        })
    });
    group.bench_function("resnet56_forward", |b| {
        b.iter(|| model.forward(x.clone()).into_data())
    });
    group.finish();

    let batches: Vec<TensorData> = (0..4).map(|k| images(10 + k).to_data()).collect();
    let mut group = c.benchmark_group("reconstruct");
    group.sample_size(10);
    for (name, method) in [
        ("thinet_layer1.0.conv2", ChannelMethod::ThiNet),
        (
            "lasso_layer1.0.conv2",
            ChannelMethod::Lasso(LassoConfig::default()),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                capture
                    .reconstruct_channels::<Flex, _>(
                        &model,
                        batches.iter().cloned().map(CaptureBatch::new),
                        FlexDevice,
                        "layer1.0.conv2.conv.weight",
                        8,
                        &method,
                        320,
                        3,
                    )
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

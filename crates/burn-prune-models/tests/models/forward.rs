//! Forward output shapes on small batches (CPU, inference-mode batch norm).

use burn::prelude::*;
use burn_prune_models::*;

use crate::{all_finite, device, images};

fn cifar_logits(forward: impl Fn(Tensor<4>) -> Tensor<2>) {
    let logits = forward(images(2, 32, &device()));
    assert_eq!(logits.dims(), [2, 10]);
    assert!(all_finite(logits));
}

#[test]
fn resnet_cifar_shapes() {
    let d = device();
    for config in [
        ResNetCifarConfig::new(20),
        ResNetCifarConfig::new(32),
        ResNetCifarConfig::new(56),
        ResNetCifarConfig::new(110),
        ResNetCifarConfig::new(56).with_shortcut(ShortcutKind::B),
        ResNetCifarConfig::li_pruned_a(56).unwrap(),
        ResNetCifarConfig::li_pruned_b(56).unwrap(),
        ResNetCifarConfig::li_pruned_b(110).unwrap(),
    ] {
        let model = config.init(&d).unwrap();
        cifar_logits(|x| model.forward(x));
    }
}

#[test]
fn resnet_cifar_other_class_count() {
    let model = ResNetCifarConfig::new(20)
        .with_num_classes(100)
        .init(&device())
        .unwrap();
    assert_eq!(model.forward(images(2, 32, &device())).dims(), [2, 100]);
}

#[test]
fn resnet_cifar_stage_shapes() {
    let d = device();
    let model = ResNetCifarConfig::new(20).init(&d).unwrap();
    let x = model.stem.forward(images(2, 32, &d));
    assert_eq!(x.dims(), [2, 16, 32, 32]);
    let x = model.layer1.iter().fold(x, |x, b| b.forward(x));
    assert_eq!(x.dims(), [2, 16, 32, 32]);
    let x = model.layer2.iter().fold(x, |x, b| b.forward(x));
    assert_eq!(x.dims(), [2, 32, 16, 16]);
    let x = model.layer3.iter().fold(x, |x, b| b.forward(x));
    assert_eq!(x.dims(), [2, 64, 8, 8]);
}

#[test]
fn vgg_shapes() {
    let d = device();
    for config in [
        VggConfig::vgg16(),
        VggConfig::vgg16().with_head(VggHead::Linear),
        VggConfig::vgg19(),
        VggConfig::vgg16_li_pruned_a(),
    ] {
        let model = config.init(&d).unwrap();
        cifar_logits(|x| model.forward(x));
    }
}

#[test]
fn vgg_features_end_at_2x2() {
    let d = device();
    let model = VggConfig::vgg16().init(&d).unwrap();
    let mut x = images(2, 32, &d);
    for layer in &model.features {
        x = match layer {
            VggFeature::Conv(conv) => conv.forward(x),
            VggFeature::MaxPool(pool) => pool.forward(x),
        };
    }
    assert_eq!(x.dims(), [2, 512, 2, 2]);
}

#[test]
fn mobilenet_v2_shapes() {
    let d = device();
    let cifar = MobileNetV2Config::cifar().init(&d).unwrap();
    cifar_logits(|x| cifar.forward(x));
    let imagenet = MobileNetV2Config::new().init(&d).unwrap();
    let logits = imagenet.forward(images(1, 64, &d));
    assert_eq!(logits.dims(), [1, 1000]);
    assert!(all_finite(logits));
}

#[test]
fn mobilenet_v2_cifar_downsamples_8x() {
    let d = device();
    let model = MobileNetV2Config::cifar().init(&d).unwrap();
    let x = model.stem.forward(images(1, 32, &d));
    let x = model.blocks.iter().fold(x, |x, b| b.forward(x));
    assert_eq!(x.dims(), [1, 320, 4, 4]);
    let residual = model.blocks.iter().filter(|b| b.use_residual).count();
    // Blocks with the shape kept: 1 + 2 + 3 + 2 + 2 of the repeats 2, 3, 4, 3, 3.
    assert_eq!(residual, 10);
}

#[test]
fn resnet_imagenet_shapes() {
    let d = device();
    for config in [
        ResNetImagenetConfig::resnet18(),
        ResNetImagenetConfig::resnet50(),
    ] {
        let model = config.init(&d).unwrap();
        let logits = model.forward(images(1, 64, &d));
        assert_eq!(logits.dims(), [1, 1000]);
        assert!(all_finite(logits));
    }
}

#[test]
fn mlp_shape() {
    let d = device();
    let mlp = MlpConfig::new(12, vec![8, 6], 3).init(&d).unwrap();
    let x = Tensor::<2>::ones([5, 12], &d);
    assert_eq!(mlp.forward(x).dims(), [5, 3]);
}

#[test]
fn mlp_relu_between_layers_only() {
    // Hand-set weights: identity hidden layer, negating output layer. With ReLU after the last
    // layer the output would be clamped to 0.
    let d = device();
    let mut mlp = MlpConfig::new(2, vec![2], 2).init(&d).unwrap();
    let set = |values: [[f32; 2]; 2]| {
        burn::module::Param::from_tensor(Tensor::<2>::from_data(values, &d))
    };
    mlp.layers[0].weight = set([[1.0, 0.0], [0.0, 1.0]]);
    mlp.layers[1].weight = set([[-1.0, 0.0], [0.0, -1.0]]);
    for layer in &mut mlp.layers {
        layer.bias = Some(burn::module::Param::from_tensor(Tensor::zeros([2], &d)));
    }
    let y = mlp.forward(Tensor::<2>::from_data([[3.0, -2.0]], &d));
    // relu([3, -2]) = [3, 0], then negated: [-3, 0].
    assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), vec![-3.0, 0.0]);
}

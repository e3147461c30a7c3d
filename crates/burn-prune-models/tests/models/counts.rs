//! Exact parameter counts against published numbers (docs: REFERENCE.md), counted with
//! `param_count` (BN γ/β yes, running statistics no).

use burn::prelude::*;
use burn_prune_models::*;

use crate::device;

/// Sum of the channels of every batch norm in the module (each has a running mean and var).
fn bn_channels<M: Module>(model: &M) -> usize {
    (model.num_params() - param_count(model)) / 2
}

fn resnet_cifar(config: ResNetCifarConfig) -> usize {
    param_count(&config.init(&device()).unwrap())
}

#[test]
fn resnet_cifar_option_a() {
    assert_eq!(resnet_cifar(ResNetCifarConfig::new(20)), 269_722);
    assert_eq!(resnet_cifar(ResNetCifarConfig::new(32)), 464_154);
    assert_eq!(resnet_cifar(ResNetCifarConfig::new(56)), 853_018);
    assert_eq!(resnet_cifar(ResNetCifarConfig::new(110)), 1_727_962);
}

#[test]
fn resnet56_option_b() {
    let config = ResNetCifarConfig::new(56).with_shortcut(ShortcutKind::B);
    assert_eq!(resnet_cifar(config), 855_770);
}

#[test]
fn li_pruned_resnets() {
    assert_eq!(
        resnet_cifar(ResNetCifarConfig::li_pruned_a(56).unwrap()),
        773_336
    );
    assert_eq!(
        resnet_cifar(ResNetCifarConfig::li_pruned_b(56).unwrap()),
        735_712
    );
    assert_eq!(
        resnet_cifar(ResNetCifarConfig::li_pruned_b(110).unwrap()),
        1_168_424
    );
}

#[test]
fn li_width_rule() {
    // ResNet-56-pruned-A: 16·0.9 → 14, 32·0.9 → 28, 64·0.9 → 57; layers 16, 20, 38, 54 kept.
    // Stage 1 holds layers 2..=18, stage 2 20..=36, stage 3 38..=54.
    let w = li_block_widths(56, [0.1; 3], &[16, 20, 38, 54]).unwrap();
    let mut expected = vec![14; 9];
    expected[7] = 16; // layer 16 = block 7
    expected.extend([32].into_iter().chain([28; 8]));
    expected.extend([64].into_iter().chain([57; 7]).chain([64]));
    assert_eq!(w, expected);
    let config = ResNetCifarConfig::li_pruned_b(56).unwrap();
    let w = config.block_widths.unwrap();
    // (0.6, 0.3, 0.1): 6, 22, 57; layers 16, 18 (stage 1), 20, 34 (stage 2), 38, 54 kept.
    assert_eq!(&w[..9], &[6, 6, 6, 6, 6, 6, 6, 16, 16]);
    assert_eq!(&w[9..18], &[32, 22, 22, 22, 22, 22, 22, 32, 22]);
    assert_eq!(&w[18..], &[64, 57, 57, 57, 57, 57, 57, 57, 64]);
}

#[test]
fn burn_num_params_also_counts_running_stats() {
    // ResNet-20: stem BN 16, 3 blocks × 2 BN × 16, 3 × 2 × 32, 3 × 2 × 64 = 688 BN channels.
    let model = ResNetCifarConfig::new(20).init(&device()).unwrap();
    assert_eq!(bn_channels(&model), 16 + 6 * 16 + 6 * 32 + 6 * 64);
    assert_eq!(model.num_params(), 269_722 + 2 * 688);
}

#[test]
fn vgg() {
    let count = |config: VggConfig| param_count(&config.init(&device()).unwrap());
    assert_eq!(count(VggConfig::vgg16()), 14_987_722);
    assert_eq!(
        count(VggConfig::vgg16().with_head(VggHead::Linear)),
        14_724_042
    );
    assert_eq!(count(VggConfig::vgg19()), 20_035_018);
    assert_eq!(count(VggConfig::vgg16_li_pruned_a()), 5_397_034);
}

#[test]
fn mobilenet_v2() {
    let imagenet = MobileNetV2Config::new().init(&device()).unwrap();
    assert_eq!(param_count(&imagenet), 3_504_872);
    let cifar = MobileNetV2Config::cifar().init(&device()).unwrap();
    // Same network with a Linear(1280, 10) classifier: 3,504,872 − 990 · 1281.
    assert_eq!(param_count(&cifar), 3_504_872 - 990 * 1281);
    assert_eq!(param_count(&cifar), 2_236_682);
}

#[test]
fn resnet_imagenet() {
    let r18 = ResNetImagenetConfig::resnet18().init(&device()).unwrap();
    assert_eq!(param_count(&r18), 11_689_512);
    let r50 = ResNetImagenetConfig::resnet50().init(&device()).unwrap();
    assert_eq!(param_count(&r50), 25_557_032);
}

#[test]
fn mlp() {
    let mlp = MlpConfig::new(3, vec![4, 5], 2).init(&device()).unwrap();
    assert_eq!(param_count(&mlp), (3 * 4 + 4) + (4 * 5 + 5) + (5 * 2 + 2));
    assert_eq!(mlp.num_params(), param_count(&mlp));
    let single = MlpConfig::new(3, vec![], 2).init(&device()).unwrap();
    assert_eq!(param_count(&single), 3 * 2 + 2);
}

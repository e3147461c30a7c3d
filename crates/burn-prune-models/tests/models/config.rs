//! Invalid configurations are errors, not panics; configs round-trip through JSON.

use burn::config::{Config, config_to_json};
use burn_prune_models::*;

use crate::device;

#[test]
fn unsupported_depths() {
    for depth in [0, 2, 7, 8 + 1, 21, 57] {
        assert_eq!(
            ResNetCifarConfig::new(depth).init(&device()).err(),
            Some(ModelError::UnsupportedCifarDepth { depth })
        );
    }
    assert_eq!(
        ResNetImagenetConfig::new(20).init(&device()).err(),
        Some(ModelError::UnsupportedImagenetDepth { depth: 20 })
    );
}

#[test]
fn block_width_errors() {
    let err = ResNetCifarConfig::new(20)
        .with_block_widths(Some(vec![16; 8]))
        .init(&device())
        .err();
    assert_eq!(
        err,
        Some(ModelError::BlockWidthsLength {
            depth: 20,
            expected: 9,
            got: 8
        })
    );
    let mut widths = vec![16; 9];
    widths[4] = 0;
    let err = ResNetCifarConfig::new(20)
        .with_block_widths(Some(widths))
        .init(&device())
        .err();
    assert!(matches!(err, Some(ModelError::Zero { .. })));
}

#[test]
fn li_rule_errors() {
    assert_eq!(
        li_block_widths(56, [0.1, 1.0, 0.1], &[]),
        Err(ModelError::InvalidRatio {
            stage: 1,
            ratio: 1.0
        })
    );
    assert!(matches!(
        li_block_widths(56, [f64::NAN, 0.1, 0.1], &[]),
        Err(ModelError::InvalidRatio { stage: 0, .. })
    ));
    assert_eq!(
        li_block_widths(56, [0.95, 0.1, 0.1], &[]),
        Err(ModelError::NothingKept {
            stage: 0,
            ratio: 0.95,
            width: 16
        })
    );
    for layer in [1, 3, 56, 0] {
        assert_eq!(
            li_block_widths(56, [0.1; 3], &[layer]),
            Err(ModelError::InvalidSkipLayer {
                layer,
                depth: 56,
                max: 54
            })
        );
    }
    assert_eq!(
        ResNetCifarConfig::li_pruned_a(110).err(),
        Some(ModelError::NoLiPreset {
            variant: "A",
            depth: 110
        })
    );
    assert!(ResNetCifarConfig::li_pruned_b(20).is_err());
}

#[test]
fn other_errors() {
    let d = device();
    assert_eq!(
        ZeroPadShortcut::new(32, 16, 2).err(),
        Some(ModelError::ShortcutShrinks {
            input: 32,
            output: 16
        })
    );
    assert!(matches!(
        ResNetCifarConfig::new(20).with_num_classes(0).init(&d),
        Err(ModelError::Zero { .. })
    ));
    assert_eq!(
        VggConfig::new(vec![VggLayer::MaxPool]).init(&d).err(),
        Some(ModelError::NoConvolution)
    );
    assert!(matches!(
        VggConfig::new(vec![VggLayer::Conv(0)]).init(&d),
        Err(ModelError::Zero { .. })
    ));
    assert!(matches!(
        VggConfig::vgg16()
            .with_head(VggHead::Mlp { hidden: 0 })
            .init(&d),
        Err(ModelError::Zero { .. })
    ));
    assert_eq!(
        MobileNetV2Config::new()
            .with_width_mult(-1.0)
            .init(&d)
            .err(),
        Some(ModelError::InvalidWidthMultiplier(-1.0))
    );
    assert_eq!(
        MobileNetV2Config::new()
            .with_settings(vec![])
            .init(&d)
            .err(),
        Some(ModelError::NoStages)
    );
    assert!(matches!(
        MobileNetV2Config::new().with_stem_stride(0).init(&d),
        Err(ModelError::Zero { .. })
    ));
    assert!(matches!(
        MlpConfig::new(4, vec![0], 2).init(&d),
        Err(ModelError::Zero { .. })
    ));
    // Errors say what is wrong.
    assert_eq!(
        ModelError::UnsupportedCifarDepth { depth: 21 }.to_string(),
        "unsupported CIFAR ResNet depth 21: must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...)"
    );
}

#[test]
fn configs_round_trip_through_json() {
    let resnet = ResNetCifarConfig::li_pruned_b(56).unwrap();
    let back = ResNetCifarConfig::load_binary(config_to_json(&resnet).as_bytes()).unwrap();
    assert_eq!(back.block_widths, resnet.block_widths);
    assert_eq!(back.shortcut, ShortcutKind::A);

    let vgg = VggConfig::vgg16_li_pruned_a();
    let back = VggConfig::load_binary(config_to_json(&vgg).as_bytes()).unwrap();
    assert_eq!(back.cfg, VGG16_LI_PRUNED_A_CFG);
    assert_eq!(back.head, VggHead::LI);

    let mobilenet = MobileNetV2Config::cifar();
    let back = MobileNetV2Config::load_binary(config_to_json(&mobilenet).as_bytes()).unwrap();
    assert_eq!(back.settings, MOBILENET_V2_CIFAR);
    assert_eq!(back.stem_stride, 1);
}

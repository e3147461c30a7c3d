//! Parameter counts from configurations equal the counts of the built models, and absurd
//! configurations are refused before anything is allocated.

use crate::device;
use burn_prune_models::{
    MAX_PARAMS, ModelError, ResNetCifarConfig, ShortcutKind, VggConfig, VggHead, ViTConfig,
    param_count,
};

#[test]
fn config_counts_equal_the_built_models() {
    let resnets = [
        ResNetCifarConfig::new(20),
        ResNetCifarConfig::new(56).with_shortcut(ShortcutKind::B),
        ResNetCifarConfig::li_pruned_b(56).unwrap(),
        ResNetCifarConfig::new(20)
            .with_stage_blocks(Some(vec![0, 2, 1]))
            .with_stage_widths(Some(vec![8, 24, 40]))
            .with_in_channels(1),
        ResNetCifarConfig::new(14)
            .with_block_widths(Some(vec![3, 5, 7, 9, 11, 13]))
            .with_shortcut(ShortcutKind::B),
    ];
    for config in resnets {
        let built = param_count(&config.init(&device()).unwrap());
        assert_eq!(config.param_count().unwrap(), built, "{config:?}");
    }
    for config in [
        VggConfig::vgg16(),
        VggConfig::vgg19(),
        VggConfig::vgg16_li_pruned_a().with_head(VggHead::Mlp { hidden: 40 }),
    ] {
        let built = param_count(&config.init(&device()).unwrap());
        assert_eq!(config.param_count().unwrap(), built);
    }
    let base = ViTConfig::fashion_mnist();
    for config in [
        base.clone(),
        ViTConfig::new(32, 3, 8, 48, 2, 3, 12, 96, 10),
        ViTConfig::new(28, 1, 14, 20, 3, 5, 7, 33, 4),
    ] {
        let built = param_count(&config.init(&device()).unwrap());
        assert_eq!(config.param_count().unwrap(), built, "{config:?}");
    }
}

#[test]
fn absurd_configurations_are_refused_before_allocation() {
    let too_large = |r: Result<usize, ModelError>| matches!(r, Err(ModelError::TooLarge { .. }));
    // Each would need terabytes (or overflows usize): refused at once, nothing allocated.
    let wide = ResNetCifarConfig::new(20).with_stage_widths(Some(vec![16, 32, 1 << 24]));
    assert!(too_large(wide.param_count()));
    assert!(matches!(
        wide.init(&device()),
        Err(ModelError::TooLarge { .. })
    ));
    let deep = ResNetCifarConfig::new(6 * (1usize << 40) + 2);
    assert!(too_large(deep.param_count()));
    assert!(deep.init(&device()).is_err());
    let overflow = ResNetCifarConfig::new(20).with_stage_widths(Some(vec![16, usize::MAX, 64]));
    assert!(overflow.init(&device()).is_err());
    let blocks = ResNetCifarConfig::new(20).with_stage_blocks(Some(vec![usize::MAX, 1, 1]));
    assert!(blocks.init(&device()).is_err());
    assert!(
        VggConfig::vgg16()
            .with_head(VggHead::Mlp { hidden: 1 << 40 })
            .init(&device())
            .is_err()
    );
    let vit = ViTConfig {
        depth: usize::MAX,
        ..ViTConfig::fashion_mnist()
    };
    assert!(too_large(vit.param_count()));
    assert!(vit.init(&device()).is_err());
    let vit = ViTConfig {
        d_mlp: MAX_PARAMS,
        ..ViTConfig::fashion_mnist()
    };
    assert!(vit.init(&device()).is_err());
    // The message says what and why.
    let message = wide.init(&device()).unwrap_err().to_string();
    assert!(
        message.contains("CIFAR ResNet") && message.contains("parameters"),
        "{message}"
    );
}

//! # burn-prune-models
//!
//! Reference models for the tests, examples and benchmarks of `burn-prune`, written with Burn
//! modules and tensor operations only, each with a [`Config`](burn::config::Config) whose
//! `init(&device)` checks it and returns a [`ModelError`] instead of panicking:
//!
//! | model | config | parameters (10 classes unless said) |
//! |---|---|---|
//! | CIFAR ResNet-20/32/56/110, option A or B shortcuts | [`ResNetCifarConfig`] | 269,722 / 464,154 / 853,018 / 1,727,962; ResNet-56-B 855,770 |
//! | Li et al. ResNet-56-pruned-A/B, ResNet-110-pruned-B | [`ResNetCifarConfig::li_pruned_a`], [`ResNetCifarConfig::li_pruned_b`] | 773,336 / 735,712 / 1,168,424 |
//! | VGG-16 (Li et al. head / single linear), VGG-19, VGG-16-pruned-A | [`VggConfig`] | 14,987,722 / 14,724,042 / 20,035,018 / 5,397,034 |
//! | MobileNetV2, ImageNet (1000) / CIFAR | [`MobileNetV2Config`] | 3,504,872 / 2,236,682 |
//! | ResNet-18 / ResNet-50 v1.5, ImageNet (1000) | [`ResNetImagenetConfig`] | 11,689,512 / 25,557,032 |
//! | MLP | [`MlpConfig`] | |
//! | BERT-base (without the classifier) / tiny | [`BertConfig::base`], [`BertConfig::tiny`] | 109,482,240 |
//! | LLaMA-style decoder, tiny (RMS norm, SwiGLU, rotary, grouped KV heads) | [`LlamaConfig::tiny`] | 123,712 |
//! | ViT (Fashion-MNIST: 7×7 patches, width 64, 4 blocks of 4 heads) | [`ViTConfig::fashion_mnist`] | 138,890 |
//!
//! The counts are the usual (PyTorch) ones: weights, biases and batch-norm `γ`/`β`, not the
//! batch-norm running statistics. Burn's [`Module::num_params`]
//! counts those too (they are float tensors of the module); [`param_count`] does not.
//!
//! The ResNets can carry a learned scale on every residual branch and drop whole blocks
//! (they implement [`burn_prune_schedule::methods::ResidualStages`], for sparse structure
//! selection; the trait lives with the algorithm); without scales (the default) their
//! parameters, paths and counts are the ones above.
//!
//! ```
//! use burn::prelude::*;
//! use burn_prune_models::{param_count, ResNetCifarConfig};
//!
//! let device = Device::flex();
//! let model = ResNetCifarConfig::li_pruned_a(56).unwrap().init(&device).unwrap();
//! assert_eq!(param_count(&model), 773_336);
//! let logits = model.forward(Tensor::<4>::zeros([2, 3, 32, 32], &device));
//! assert_eq!(logits.dims(), [2, 10]);
//! ```

#![warn(missing_docs)]

mod attention;
mod bert;
mod block_scale;
mod error;
mod layers;
mod lazy;
mod llama;
mod mlp;
mod mobilenet_v2;
mod resnet_cifar;
mod resnet_imagenet;
mod size;
mod vgg;
mod vit;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn_prune_core::PathStack;

pub use attention::{SelfAttention, SelfAttentionConfig};
pub use bert::{Bert, BertBlock, BertConfig};
pub use block_scale::resnet_block_path;
pub use error::ModelError;
pub use layers::ConvBn;
pub use lazy::initialized;
pub use llama::{DecoderBlock, Llama, LlamaConfig};
pub use mlp::{Mlp, MlpConfig};
pub use mobilenet_v2::{
    InvertedResidual, InvertedResidualSetting, MOBILENET_V2_CIFAR, MOBILENET_V2_IMAGENET,
    MobileNetV2, MobileNetV2Config,
};
pub use resnet_cifar::{
    BasicBlock, CIFAR_STAGE_WIDTHS, ResNetCifar, ResNetCifarConfig, Shortcut, ShortcutKind,
    ZeroPadShortcut, li_block_widths,
};
pub use resnet_imagenet::{ResNetImagenet, ResNetImagenetConfig, ResidualBlock};
pub use size::MAX_PARAMS;
pub use vgg::{
    VGG16_CFG, VGG16_LI_PRUNED_A_CFG, VGG19_CFG, Vgg, VggClassifier, VggConfig, VggFeature,
    VggHead, VggLayer, VggMlpHead,
};
pub use vit::{EncoderBlock, ViT, ViTConfig};

/// The number of parameters as papers and PyTorch count them: every float parameter of
/// `module` except batch-norm running statistics (fields named `running_*`).
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::BatchNormConfig;
/// use burn_prune_models::param_count;
///
/// let bn = BatchNormConfig::new(16).init(&Device::flex());
/// assert_eq!(param_count(&bn), 32); // gamma, beta
/// assert_eq!(bn.num_params(), 64); // Burn also counts running_mean, running_var
/// ```
pub fn param_count<M: Module>(module: &M) -> usize {
    let mut counter = ParamCounter::default();
    module.visit(&mut counter);
    counter.count
}

#[derive(Default)]
struct ParamCounter {
    path: PathStack,
    count: usize,
}

impl ModuleVisitor for ParamCounter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.path.at_running_stat() {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

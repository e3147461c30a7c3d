//! A small Vision Transformer (Dosovitskiy et al. 2021) for 28×28 images: non-overlapping
//! patches embedded by one linear layer, learned positions, pre-norm encoder blocks
//! (LayerNorm → [`SelfAttention`] → residual, LayerNorm → MLP with GELU → residual), a final
//! LayerNorm, the mean over patches and a linear classifier.

use burn::module::Param;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use burn_prune_core::structure::ModuleConstants;

use crate::ModelError;
use crate::attention::{SelfAttention, SelfAttentionConfig};
use crate::layers::nonzero;
use crate::size::Tally;

/// Configuration of a [`ViT`].
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::{param_count, ViTConfig};
///
/// let device = Device::flex();
/// let vit = ViTConfig::fashion_mnist().init(&device).unwrap();
/// assert_eq!(param_count(&vit), 138_890);
/// let logits = vit.forward(Tensor::<4>::zeros([2, 1, 28, 28], &device));
/// assert_eq!(logits.dims(), [2, 10]);
/// ```
#[derive(Config, Debug)]
pub struct ViTConfig {
    /// Image side (square images).
    pub image: usize,
    /// Image channels.
    pub channels: usize,
    /// Patch side (divides `image`).
    pub patch: usize,
    /// Embedding width.
    pub d_model: usize,
    /// Encoder blocks.
    pub depth: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Dimension per head.
    pub d_head: usize,
    /// Hidden width of the MLPs.
    pub d_mlp: usize,
    /// Classes.
    pub classes: usize,
}

impl ViTConfig {
    /// The Fashion-MNIST model of the examples: 7×7 patches (16 of them), width 64, 4 blocks
    /// of 4 heads of 16, MLP 128, 10 classes; 138,890 parameters.
    pub fn fashion_mnist() -> Self {
        Self::new(28, 1, 7, 64, 4, 4, 16, 128, 10)
    }

    /// The number of parameters the configuration builds (as
    /// [`param_count`](crate::param_count) counts them), from the configuration alone.
    ///
    /// Errors: more than [`MAX_PARAMS`](crate::MAX_PARAMS) (or sizes whose product
    /// overflows).
    ///
    /// ```
    /// use burn_prune_models::ViTConfig;
    ///
    /// assert_eq!(ViTConfig::fashion_mnist().param_count().unwrap(), 138_890);
    /// ```
    pub fn param_count(&self) -> Result<usize, ModelError> {
        let mut t = Tally::new("ViT");
        let patch_area = Tally::product(&[self.channels, self.patch, self.patch]);
        let patches = (self.patch > 0)
            .then(|| self.image / self.patch)
            .and_then(|side| side.checked_mul(side));
        let inner = self.n_heads.checked_mul(self.d_head);
        let (Some(patch_area), Some(patches), Some(inner)) = (patch_area, patches, inner) else {
            return Err(ModelError::TooLarge {
                model: "ViT",
                limit: crate::MAX_PARAMS,
            });
        };
        t.linear(patch_area, self.d_model, true)?;
        t.add(patches.checked_mul(self.d_model))?;
        t.repeat(self.depth, |t| {
            t.batch_norm(self.d_model)?; // a layer norm: weight and bias
            for _ in 0..3 {
                t.linear(self.d_model, inner, true)?;
            }
            t.linear(inner, self.d_model, true)?;
            t.batch_norm(self.d_model)?;
            t.linear(self.d_model, self.d_mlp, true)?;
            t.linear(self.d_mlp, self.d_model, true)
        })?;
        t.batch_norm(self.d_model)?;
        t.linear(self.d_model, self.classes, true)?;
        Ok(t.total())
    }

    /// Checks the configuration and builds the model on `device`.
    pub fn init(&self, device: &Device) -> Result<ViT, ModelError> {
        self.param_count()?;
        for (v, what) in [
            (self.image, "ViT image side"),
            (self.channels, "ViT image channels"),
            (self.patch, "ViT patch side"),
            (self.d_model, "ViT width"),
            (self.depth, "ViT depth"),
            (self.d_mlp, "ViT MLP width"),
            (self.classes, "ViT classes"),
        ] {
            nonzero(v, what)?;
        }
        if !self.image.is_multiple_of(self.patch) {
            return Err(ModelError::NotDivisible {
                what: "ViT image side per patch side",
                value: self.image,
                by: self.patch,
            });
        }
        let patches = (self.image / self.patch).pow(2);
        let attention = SelfAttentionConfig::new(self.d_model, self.n_heads, self.d_head);
        let blocks = (0..self.depth)
            .map(|_| {
                Ok(EncoderBlock {
                    norm1: LayerNormConfig::new(self.d_model).init(device),
                    attention: attention.init(device)?,
                    norm2: LayerNormConfig::new(self.d_model).init(device),
                    fc1: LinearConfig::new(self.d_model, self.d_mlp).init(device),
                    fc2: LinearConfig::new(self.d_mlp, self.d_model).init(device),
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(ViT {
            embed: LinearConfig::new(self.channels * self.patch * self.patch, self.d_model)
                .init(device),
            position: Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([1, patches, self.d_model], device),
            blocks,
            norm: LayerNormConfig::new(self.d_model).init(device),
            head: LinearConfig::new(self.d_model, self.classes).init(device),
            patch: self.patch,
        })
    }
}

/// A pre-norm transformer encoder block.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct EncoderBlock {
    /// LayerNorm before the attention.
    pub norm1: LayerNorm,
    /// Multi-head self-attention.
    pub attention: SelfAttention,
    /// LayerNorm before the MLP.
    pub norm2: LayerNorm,
    /// MLP `d_model → d_mlp`.
    pub fc1: Linear,
    /// MLP `d_mlp → d_model`.
    pub fc2: Linear,
}

impl EncoderBlock {
    /// `[batch, seq, d_model] → [batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attention.forward(self.norm1.forward(x));
        x.clone()
            + self
                .fc2
                .forward(gelu(self.fc1.forward(self.norm2.forward(x))))
    }
}

/// A small Vision Transformer (see the [module docs](self)).
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct ViT {
    /// Patch embedding, `channels·patch² → d_model`.
    pub embed: Linear,
    /// Learned positions, `[1, patches, d_model]`.
    pub position: Param<Tensor<3>>,
    /// The encoder blocks.
    pub blocks: Vec<EncoderBlock>,
    /// The final LayerNorm.
    pub norm: LayerNorm,
    /// The classifier.
    pub head: Linear,
    /// Patch side.
    pub patch: usize,
}

impl ViT {
    /// Images `[batch, channels, side, side]` → logits `[batch, classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [b, c, h, w] = images.dims();
        let p = self.patch;
        let (gh, gw) = (h / p, w / p);
        let patches = images
            .reshape([b, c, gh, p, gw, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b, gh * gw, c * p * p]);
        let mut x = self.embed.forward(patches) + self.position.val();
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [_, _, d] = x.dims();
        self.head
            .forward(self.norm.forward(x).mean_dim(1).reshape([b, d]))
    }
}

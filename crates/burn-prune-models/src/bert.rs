//! A BERT-style encoder (Devlin et al. 2019): token, position and segment embeddings summed
//! and normalised, post-norm blocks (self-attention → residual → LayerNorm, GELU MLP →
//! residual → LayerNorm), and the pooler (the first token through a linear layer and tanh)
//! feeding a classifier.

use burn::module::Param;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::prelude::*;
use burn::tensor::activation::{gelu, tanh};
use burn_prune_core::structure::ModuleConstants;

use crate::ModelError;
use crate::attention::{SelfAttention, SelfAttentionConfig};
use crate::layers::nonzero;

/// Configuration of a [`Bert`].
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::{param_count, BertConfig};
///
/// let device = Device::flex();
/// let bert = BertConfig::tiny().init(&device).unwrap();
/// let tokens = Tensor::<2, Int>::zeros([2, 8], &device);
/// assert_eq!(bert.forward(tokens).dims(), [2, 2]);
/// ```
#[derive(Config, Debug)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab: usize,
    /// Longest sequence (learned positions).
    pub max_len: usize,
    /// Segment (token type) vocabulary.
    pub segments: usize,
    /// Model width.
    pub d_model: usize,
    /// Encoder blocks.
    pub depth: usize,
    /// Attention heads (of `d_model / n_heads` each).
    pub n_heads: usize,
    /// Hidden width of the MLPs.
    pub d_ff: usize,
    /// Classes of the classifier on the pooled output.
    pub classes: usize,
}

impl BertConfig {
    /// BERT-base: vocabulary 30,522, 512 positions, 2 segments, width 768, 12 blocks of 12
    /// heads, MLP 3072. Without the classifier (`classes` = 0 is not allowed, so count it
    /// apart) it has the published 109,482,240 parameters of `bert-base-uncased`.
    pub fn base(classes: usize) -> Self {
        Self::new(30522, 512, 2, 768, 12, 12, 3072, classes)
    }

    /// A tiny encoder for tests and benches: vocabulary 128, 16 positions, width 32, 2 blocks
    /// of 4 heads, MLP 64, 2 classes.
    pub fn tiny() -> Self {
        Self::new(128, 16, 2, 32, 2, 4, 64, 2)
    }

    /// Checks the configuration and builds the model on `device`.
    pub fn init(&self, device: &Device) -> Result<Bert, ModelError> {
        for (v, what) in [
            (self.vocab, "BERT vocabulary"),
            (self.max_len, "BERT positions"),
            (self.segments, "BERT segments"),
            (self.d_model, "BERT width"),
            (self.depth, "BERT depth"),
            (self.n_heads, "BERT heads"),
            (self.d_ff, "BERT MLP width"),
            (self.classes, "BERT classes"),
        ] {
            nonzero(v, what)?;
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(ModelError::NotDivisible {
                what: "BERT width per head",
                value: self.d_model,
                by: self.n_heads,
            });
        }
        let norm = || {
            LayerNormConfig::new(self.d_model)
                .with_epsilon(1e-12)
                .init(device)
        };
        let attention =
            SelfAttentionConfig::new(self.d_model, self.n_heads, self.d_model / self.n_heads);
        let blocks = (0..self.depth)
            .map(|_| {
                Ok(BertBlock {
                    attention: attention.init(device)?,
                    attention_norm: norm(),
                    fc1: LinearConfig::new(self.d_model, self.d_ff).init(device),
                    fc2: LinearConfig::new(self.d_ff, self.d_model).init(device),
                    mlp_norm: norm(),
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let table = |rows: usize| {
            Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([rows, self.d_model], device)
        };
        Ok(Bert {
            tokens: EmbeddingConfig::new(self.vocab, self.d_model).init(device),
            positions: table(self.max_len),
            segments: table(self.segments),
            embed_norm: norm(),
            blocks,
            pooler: LinearConfig::new(self.d_model, self.d_model).init(device),
            classifier: LinearConfig::new(self.d_model, self.classes).init(device),
        })
    }
}

/// A post-norm encoder block.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct BertBlock {
    /// Self-attention.
    pub attention: SelfAttention,
    /// LayerNorm after the attention's residual.
    pub attention_norm: LayerNorm,
    /// MLP `d_model → d_ff`.
    pub fc1: Linear,
    /// MLP `d_ff → d_model`.
    pub fc2: Linear,
    /// LayerNorm after the MLP's residual.
    pub mlp_norm: LayerNorm,
}

impl BertBlock {
    /// `[batch, seq, d_model] → [batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = self
            .attention_norm
            .forward(x.clone() + self.attention.forward(x));
        self.mlp_norm
            .forward(x.clone() + self.fc2.forward(gelu(self.fc1.forward(x))))
    }
}

/// A BERT-style encoder with a sequence classifier (see the [module docs](self)).
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct Bert {
    /// Token embeddings.
    pub tokens: Embedding,
    /// Learned positions, `[max_len, d_model]`.
    pub positions: Param<Tensor<2>>,
    /// Segment embeddings, `[segments, d_model]` (every token is segment 0 here).
    pub segments: Param<Tensor<2>>,
    /// LayerNorm of the summed embeddings.
    pub embed_norm: LayerNorm,
    /// The encoder blocks.
    pub blocks: Vec<BertBlock>,
    /// The pooler, on the first token.
    pub pooler: Linear,
    /// The classifier on the pooled output.
    pub classifier: Linear,
}

impl Bert {
    /// Tokens `[batch, seq]` (seq ≤ `max_len`, all of segment 0) → logits `[batch, classes]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<2> {
        let [b, s] = tokens.dims();
        let [_, d] = self.positions.val().dims();
        let positions = self
            .positions
            .val()
            .slice([0..s, 0..d])
            .unsqueeze_dim::<3>(0);
        let segment = self
            .segments
            .val()
            .slice([0..1, 0..d])
            .unsqueeze_dim::<3>(0);
        let mut x = self
            .embed_norm
            .forward(self.tokens.forward(tokens) + positions + segment);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let first = x.slice([0..b, 0..1, 0..d]).reshape([b, d]);
        self.classifier.forward(tanh(self.pooler.forward(first)))
    }
}

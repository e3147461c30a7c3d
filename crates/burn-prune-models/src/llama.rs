//! A LLaMA-style decoder (Touvron et al. 2023): token embeddings, pre-norm blocks of RMS norm →
//! causal [`SelfAttention`] with rotary positions and optional grouped key/value heads →
//! residual, RMS norm → SwiGLU MLP → residual, a final RMS norm and an untied output layer.
//! No biases.

use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;
use burn_prune_core::structure::ModuleConstants;

use crate::ModelError;
use crate::attention::{SelfAttention, SelfAttentionConfig};
use crate::layers::nonzero;

/// Configuration of a [`Llama`].
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::{param_count, LlamaConfig};
///
/// let device = Device::flex();
/// let llama = LlamaConfig::tiny().init(&device).unwrap();
/// assert_eq!(param_count(&llama), 123_712);
/// let tokens = Tensor::<2, Int>::zeros([2, 8], &device);
/// assert_eq!(llama.forward(tokens).dims(), [2, 8, 256]);
/// ```
#[derive(Config, Debug)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab: usize,
    /// Model width.
    pub d_model: usize,
    /// Decoder blocks.
    pub depth: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`).
    pub n_kv_heads: usize,
    /// Dimension per head (even, for the rotary pairs).
    pub d_head: usize,
    /// Hidden width of the SwiGLU MLPs.
    pub d_ff: usize,
    /// The rotary base.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
}

impl LlamaConfig {
    /// A tiny decoder for tests and benches: vocabulary 256, width 64, 2 blocks of 4 query and
    /// 2 key/value heads of 16, MLP 172; 123,712 parameters.
    pub fn tiny() -> Self {
        Self::new(256, 64, 2, 4, 2, 16, 172)
    }

    /// Checks the configuration and builds the model on `device`.
    pub fn init(&self, device: &Device) -> Result<Llama, ModelError> {
        for (v, what) in [
            (self.vocab, "LLaMA vocabulary"),
            (self.d_model, "LLaMA width"),
            (self.depth, "LLaMA depth"),
            (self.d_ff, "LLaMA MLP width"),
        ] {
            nonzero(v, what)?;
        }
        if !self.d_head.is_multiple_of(2) {
            return Err(ModelError::NotDivisible {
                what: "LLaMA head dimension (rotary pairs)",
                value: self.d_head,
                by: 2,
            });
        }
        let attention = SelfAttentionConfig::new(self.d_model, self.n_heads, self.d_head)
            .with_n_kv_heads(Some(self.n_kv_heads))
            .with_causal(true)
            .with_bias(false);
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        let blocks = (0..self.depth)
            .map(|_| {
                Ok(DecoderBlock {
                    attention_norm: RmsNormConfig::new(self.d_model).init(device),
                    attention: attention.init(device)?,
                    mlp_norm: RmsNormConfig::new(self.d_model).init(device),
                    gate: linear(self.d_model, self.d_ff),
                    up: linear(self.d_model, self.d_ff),
                    down: linear(self.d_ff, self.d_model),
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Llama {
            embed: EmbeddingConfig::new(self.vocab, self.d_model).init(device),
            blocks,
            norm: RmsNormConfig::new(self.d_model).init(device),
            output: linear(self.d_model, self.vocab),
            d_rotary: self.d_head,
            rope_theta: self.rope_theta,
        })
    }
}

/// A pre-norm decoder block.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct DecoderBlock {
    /// RMS norm before the attention.
    pub attention_norm: RmsNorm,
    /// Causal self-attention (rotary positions applied to queries and keys).
    pub attention: SelfAttention,
    /// RMS norm before the MLP.
    pub mlp_norm: RmsNorm,
    /// SwiGLU gate projection.
    pub gate: Linear,
    /// SwiGLU up projection.
    pub up: Linear,
    /// SwiGLU down projection.
    pub down: Linear,
}

impl DecoderBlock {
    /// `[batch, seq, d_model] → [batch, seq, d_model]` with rotary tables `(cos, sin)` of
    /// shape `[seq, d_rotary]`.
    pub fn forward(&self, x: Tensor<3>, rotary: &(Tensor<2>, Tensor<2>)) -> Tensor<3> {
        let h = self.attention_norm.forward(x.clone());
        let x = x + self
            .attention
            .forward_with(h, |q, k| (rotate(q, rotary), rotate(k, rotary)));
        let h = self.mlp_norm.forward(x.clone());
        x.clone()
            + self
                .down
                .forward(silu(self.gate.forward(h.clone())) * self.up.forward(h))
    }
}

/// Rotary positions on `[batch, heads, seq, d]`, in the "rotate half" form: the first and
/// second halves of each head are the pairs.
fn rotate(x: Tensor<4>, (cos, sin): &(Tensor<2>, Tensor<2>)) -> Tensor<4> {
    let [b, h, s, d] = x.dims();
    let half = d / 2;
    let first = x.clone().slice([0..b, 0..h, 0..s, 0..half]);
    let second = x.clone().slice([0..b, 0..h, 0..s, half..d]);
    let rotated = Tensor::cat(vec![second.neg(), first], 3);
    let cos = cos.clone().reshape([1, 1, s, d]);
    let sin = sin.clone().reshape([1, 1, s, d]);
    x * cos + rotated * sin
}

/// A LLaMA-style decoder (see the [module docs](self)).
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct Llama {
    /// Token embeddings, `[vocab, d_model]`.
    pub embed: Embedding,
    /// The decoder blocks.
    pub blocks: Vec<DecoderBlock>,
    /// The final RMS norm.
    pub norm: RmsNorm,
    /// The output layer, `d_model → vocab`.
    pub output: Linear,
    /// Dimension the rotary tables are built for (the configured head dimension; kept when
    /// head dimensions are pruned, which the rotary pairs pin).
    pub d_rotary: usize,
    /// The rotary base.
    pub rope_theta: f64,
}

impl Llama {
    /// Tokens `[batch, seq]` → logits `[batch, seq, vocab]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [_, s] = tokens.dims();
        let rotary = self.rotary(s, &tokens.device());
        let mut x = self.embed.forward(tokens);
        for block in &self.blocks {
            x = block.forward(x, &rotary);
        }
        self.output.forward(self.norm.forward(x))
    }

    /// The `(cos, sin)` tables `[seq, d_rotary]`: position `p`, pair `i` turns by
    /// `p·θ^(−2i/d)`, the same angle on both halves.
    fn rotary(&self, seq: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
        let d = self.d_rotary;
        let half = d / 2;
        let mut cos = Vec::with_capacity(seq * d);
        let mut sin = Vec::with_capacity(seq * d);
        for p in 0..seq {
            for k in 0..d {
                let i = k % half;
                let angle = p as f64 * self.rope_theta.powf(-2.0 * i as f64 / d as f64);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        (
            Tensor::from_data(TensorData::new(cos, [seq, d]), device),
            Tensor::from_data(TensorData::new(sin, [seq, d]), device),
        )
    }
}

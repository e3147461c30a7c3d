//! Multi-head self-attention whose sizes are its own: the reference transformers' attention.
//!
//! Unlike `burn::nn::attention::MultiHeadAttention`, which reshapes its context back to its
//! input width (so its heads can shrink only together with the model width), this module's
//! output projection reads `n_heads · d_v` features of its own, and queries/keys and values
//! have their own head dimensions. Heads, head dimensions and the model width can therefore
//! be pruned independently, and it implements
//! [`ModuleConstants`] to follow a structural plan. Grouped-query attention (`n_kv_heads <
//! n_heads`, each key/value head shared by `n_heads / n_kv_heads` query heads) and a causal
//! mask are options; rotary positions are applied by the caller through
//! [`SelfAttention::forward_with`].

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn_prune_core::structure::{ConstantUpdate, ModuleConstants};

use crate::ModelError;
use crate::layers::nonzero;

/// Configuration of a [`SelfAttention`].
#[derive(Config, Debug)]
pub struct SelfAttentionConfig {
    /// Input and output width.
    pub d_model: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Query and key dimension per head.
    pub d_head: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`); `None`: `n_heads`.
    #[config(default = "None")]
    pub n_kv_heads: Option<usize>,
    /// Whether each position attends only to itself and earlier positions (a decoder).
    #[config(default = false)]
    pub causal: bool,
    /// Whether the four projections have biases.
    #[config(default = true)]
    pub bias: bool,
}

impl SelfAttentionConfig {
    /// Checks the configuration and builds the module on `device`.
    pub fn init(&self, device: &Device) -> Result<SelfAttention, ModelError> {
        nonzero(self.d_model, "attention width")?;
        nonzero(self.n_heads, "attention heads")?;
        nonzero(self.d_head, "attention head dimension")?;
        let n_kv = self.n_kv_heads.unwrap_or(self.n_heads);
        nonzero(n_kv, "attention key/value heads")?;
        if !self.n_heads.is_multiple_of(n_kv) {
            return Err(ModelError::NotDivisible {
                what: "attention query heads per key/value head",
                value: self.n_heads,
                by: n_kv,
            });
        }
        let linear = |i, o| LinearConfig::new(i, o).with_bias(self.bias).init(device);
        Ok(SelfAttention {
            query: linear(self.d_model, self.n_heads * self.d_head),
            key: linear(self.d_model, n_kv * self.d_head),
            value: linear(self.d_model, n_kv * self.d_head),
            output: linear(self.n_heads * self.d_head, self.d_model),
            n_heads: self.n_heads,
            n_kv_heads: n_kv,
            d_qk: self.d_head,
            d_v: self.d_head,
            scale: 1.0 / (self.d_head as f64).sqrt(),
            causal: self.causal,
        })
    }
}

/// Multi-head self-attention with sizes of its own (see the [module docs](self)).
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// `d_model → n_heads · d_qk`.
    pub query: Linear,
    /// `d_model → n_kv_heads · d_qk`.
    pub key: Linear,
    /// `d_model → n_kv_heads · d_v`.
    pub value: Linear,
    /// `n_heads · d_v → d_model`.
    pub output: Linear,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`).
    pub n_kv_heads: usize,
    /// Query/key dimension per head.
    pub d_qk: usize,
    /// Value dimension per head.
    pub d_v: usize,
    /// The scores' scale, `1/√d_head` of the configuration; kept when head dimensions are
    /// pruned, so the pruned model computes what the dense one computes on the kept ones.
    pub scale: f64,
    /// Whether the attention is causal.
    pub causal: bool,
}

impl SelfAttention {
    /// `[batch, seq, d_model] → [batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_with(x, |q, k| (q, k))
    }

    /// [`forward`](Self::forward) with `positions` applied to the queries and keys
    /// (`[batch, heads, seq, d_qk]`, after the split into heads and before the scores), as
    /// rotary position embeddings are.
    pub fn forward_with(
        &self,
        x: Tensor<3>,
        positions: impl Fn(Tensor<4>, Tensor<4>) -> (Tensor<4>, Tensor<4>),
    ) -> Tensor<3> {
        let [b, n, _] = x.dims();
        let heads = |t: Tensor<3>, h: usize, d: usize| t.reshape([b, n, h, d]).swap_dims(1, 2);
        let q = heads(self.query.forward(x.clone()), self.n_heads, self.d_qk);
        let k = heads(self.key.forward(x.clone()), self.n_kv_heads, self.d_qk);
        let v = heads(self.value.forward(x), self.n_kv_heads, self.d_v);
        let (q, k) = positions(q, k);
        let (k, v) = (self.shared(k), self.shared(v));
        let mut scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(self.scale);
        if self.causal {
            let device = scores.device();
            let future = Tensor::<2, Bool>::tril_mask([n, n], 0, &device).reshape([1, 1, n, n]);
            scores = scores.mask_fill(future, -1.0e9);
        }
        let context = softmax(scores, 3).matmul(v);
        self.output.forward(
            context
                .swap_dims(1, 2)
                .reshape([b, n, self.n_heads * self.d_v]),
        )
    }

    /// Key/value heads repeated for the query heads that share them.
    fn shared(&self, t: Tensor<4>) -> Tensor<4> {
        let rep = self.n_heads / self.n_kv_heads;
        if rep == 1 {
            return t;
        }
        let [b, h, n, d] = t.dims();
        t.unsqueeze_dim::<5>(2)
            .expand([b, h, rep, n, d])
            .reshape([b, h * rep, n, d])
    }
}

impl ModuleConstants for SelfAttention {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        if !update.touches() {
            return;
        }
        // Heads (whole blocks) or head dimensions (the same positions of every head), read
        // from the kept output features of a projection.
        let read = |update: &ConstantUpdate<'_>, path: &str, heads: usize, dim: usize| match update
            .kept(path, 1)
        {
            None => Some((heads, dim)),
            Some(kept) => ConstantUpdate::whole_blocks(kept, heads * dim, dim)
                .map(|h| (h, dim))
                .or_else(|| {
                    ConstantUpdate::same_positions(kept, heads * dim, heads).map(|d| (heads, d))
                }),
        };
        let q = read(update, "query.weight", self.n_heads, self.d_qk);
        let k = read(update, "key.weight", self.n_kv_heads, self.d_qk);
        let v = read(update, "value.weight", self.n_kv_heads, self.d_v);
        let (Some((n_heads, d_q)), Some((n_kv, d_k)), Some((n_kv_v, d_v))) = (q, k, v) else {
            update.fail("the plan keeps attention features that are neither whole heads nor the same dimensions of every head");
            return;
        };
        if d_q != d_k || n_kv != n_kv_v || n_kv == 0 || !n_heads.is_multiple_of(n_kv) {
            update.fail(format!(
                "the plan gives {n_heads} query heads of {d_q}, {n_kv} key heads of {d_k} and {n_kv_v} value heads: queries and keys must keep the same dimensions, keys and values the same heads, and every key/value head the same number of query heads"
            ));
            return;
        }
        self.n_heads = n_heads;
        self.n_kv_heads = n_kv;
        self.d_qk = d_q;
        self.d_v = d_v;
        update.updated();
    }
}

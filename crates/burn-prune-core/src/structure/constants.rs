//! Module constants: the sizes Burn modules keep as plain fields, which compaction must
//! update along with the parameters.
//!
//! A [`ModuleMapper`](burn::module::ModuleMapper) sees parameters only, so a plan that removes
//! a convolution's whole conv groups, a `GroupNorm`'s groups, an attention's heads or an
//! LSTM's hidden units leaves `groups`, `num_groups`, `n_heads`/`d_k` or `d_hidden` behind, and
//! the compacted model would fail in its forward pass.
//! [`StructuralPlan::apply_with_constants`](super::StructuralPlan::apply_with_constants)
//! updates them through [`ModuleConstants`], which this crate implements for every module of
//! `burn::nn` and which `#[derive(ModuleConstants)]` implements for your own structs (it only
//! visits the fields). A module of your own that keeps a size as a field implements the trait
//! by hand: one method, reading the plan through [`ConstantUpdate`].

use super::plan::{ParamSlice, StructuralPlan};
use crate::error::PruneError;
use burn::module::Param;
use burn::nn;
use burn::prelude::*;
use std::collections::BTreeSet;

/// A module whose sizes compaction may have to update (see the [module docs](self)).
///
/// Derive it (`#[derive(Module, ModuleConstants)]`) for structs that hold modules: the derived
/// impl visits every field by its name. Implement it by hand for a module that keeps a size
/// as a field:
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::prelude::*;
/// use burn_prune_core::structure::{ConstantUpdate, ModuleConstants};
///
/// /// Splits its projection into `n_heads` heads in its forward pass.
/// #[derive(Module, Debug)]
/// struct Heads {
///     proj: Linear,
///     n_heads: usize,
///     d_head: usize,
/// }
///
/// impl ModuleConstants for Heads {
///     fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
///         update.visit("proj", &mut self.proj);
///         // Whole heads removed: `d_head` stays, `n_heads` follows the kept features.
///         if let Some(kept) = update.kept("proj.weight", 1) {
///             match ConstantUpdate::whole_blocks(kept, self.n_heads * self.d_head, self.d_head) {
///                 Some(n) => self.n_heads = n,
///                 None => update.fail("the plan keeps part of a head"),
///             }
///         }
///     }
/// }
/// ```
pub trait ModuleConstants {
    /// Update the constants of this module (and of the modules it holds, through
    /// [`ConstantUpdate::visit`]) to the plan being applied. Called after the parameters
    /// were cut, so their new shapes are in place.
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>);
}

/// The plan being applied, seen from one module: what [`ModuleConstants`] implementations
/// read, and where they report a plan they cannot follow.
pub struct ConstantUpdate<'a> {
    plan: &'a StructuralPlan,
    stack: Vec<String>,
    updated: BTreeSet<String>,
    error: Option<PruneError>,
}

impl<'a> ConstantUpdate<'a> {
    pub(super) fn new(plan: &'a StructuralPlan) -> Self {
        Self {
            plan,
            stack: Vec::new(),
            updated: BTreeSet::new(),
            error: None,
        }
    }

    /// Visit a module held under `name` (a field name, a `Vec` index, an enum variant, as
    /// Burn's `Module` derive names it).
    pub fn visit<T: ModuleConstants + ?Sized>(&mut self, name: &str, module: &mut T) {
        self.stack.push(name.to_string());
        module.update_constants(self);
        self.stack.pop();
    }

    /// The path of the module being updated (`encoder.layers.0.mha`; empty at the root).
    pub fn path(&self) -> String {
        self.stack.join(".")
    }

    fn full(&self, param: &str) -> String {
        if self.stack.is_empty() {
            param.to_string()
        } else {
            format!("{}.{param}", self.path())
        }
    }

    /// How the plan cuts the parameter at `param`, relative to this module (`weight`,
    /// `query.weight`), if it cuts it.
    pub fn slice(&self, param: &str) -> Option<&'a ParamSlice> {
        self.plan.params.get(&self.full(param))
    }

    /// The kept indices of `param`'s axis `axis`, if the plan cuts that axis.
    pub fn kept(&self, param: &str, axis: usize) -> Option<&'a [usize]> {
        self.slice(param)?
            .keep
            .iter()
            .find(|k| k.axis == axis)
            .map(|k| k.indices.as_slice())
    }

    /// Whether the plan cuts any parameter of this module.
    pub fn touches(&self) -> bool {
        let prefix = self.full("");
        self.plan.params.keys().any(|p| p.starts_with(&prefix))
    }

    /// Record that this module's constants were brought to the plan.
    pub fn updated(&mut self) {
        self.updated.insert(self.path());
    }

    /// Report that this module cannot follow the plan (the first report wins; the model is
    /// not returned).
    pub fn fail(&mut self, reason: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(PruneError::PlanMismatch {
                path: self.path(),
                reason: reason.into(),
            });
        }
    }

    /// If `kept` (ascending indices of an axis of `total` entries) is a union of whole blocks
    /// of `block` consecutive entries, how many blocks it keeps.
    pub fn whole_blocks(kept: &[usize], total: usize, block: usize) -> Option<usize> {
        if block == 0 || !total.is_multiple_of(block) || !kept.len().is_multiple_of(block) {
            return None;
        }
        kept.chunks(block)
            .all(|c| c[0].is_multiple_of(block) && c.windows(2).all(|w| w[1] == w[0] + 1))
            .then_some(kept.len() / block)
    }

    /// If `kept` keeps the same positions of every one of `blocks` equal blocks (an axis of
    /// `total` entries), how many positions per block it keeps.
    pub fn same_positions(kept: &[usize], total: usize, blocks: usize) -> Option<usize> {
        if blocks == 0 || !total.is_multiple_of(blocks) || !kept.len().is_multiple_of(blocks) {
            return None;
        }
        let (size, per) = (total / blocks, kept.len() / blocks);
        let first: Vec<usize> = kept[..per].to_vec();
        (first.iter().all(|&i| i < size)
            && kept
                .chunks(per)
                .enumerate()
                .all(|(b, c)| c.iter().zip(&first).all(|(&i, &f)| i == b * size + f)))
        .then_some(per)
    }

    pub(super) fn finish(self) -> Result<BTreeSet<String>, PruneError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.updated),
        }
    }
}

// ---------------------------------------------------------------- containers and leaves

impl<T: ModuleConstants> ModuleConstants for Vec<T> {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        for (i, m) in self.iter_mut().enumerate() {
            update.visit(&i.to_string(), m);
        }
    }
}

impl<T: ModuleConstants, const N: usize> ModuleConstants for [T; N] {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        for (i, m) in self.iter_mut().enumerate() {
            update.visit(&i.to_string(), m);
        }
    }
}

impl<T: ModuleConstants> ModuleConstants for Option<T> {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        if let Some(m) = self {
            m.update_constants(update);
        }
    }
}

impl<T: ModuleConstants + ?Sized> ModuleConstants for Box<T> {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        (**self).update_constants(update);
    }
}

/// Types with no constants compaction changes.
macro_rules! no_constants {
    ($($t:ty),* $(,)?) => {
        $(impl ModuleConstants for $t {
            fn update_constants(&mut self, _update: &mut ConstantUpdate<'_>) {}
        })*
    };
}

no_constants!(
    bool,
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize,
    f32,
    f64,
    String,
    nn::Linear,
    nn::Embedding,
    nn::BatchNorm,
    nn::LayerNorm,
    nn::RmsNorm,
    nn::InstanceNorm,
    nn::LocalResponseNorm,
    nn::Dropout,
    nn::GaussianNoise,
    nn::Identity,
    nn::PositionalEncoding,
    nn::RotaryEncoding,
    nn::transformer::PositionWiseFeedForward,
    nn::GateController,
    nn::activation::SwiGlu,
    nn::activation::GLU,
    nn::activation::Relu,
    nn::activation::Relu6,
    nn::activation::Gelu,
    nn::activation::Sigmoid,
    nn::activation::Tanh,
    nn::activation::SiLU,
    nn::activation::Mish,
    nn::activation::LeakyRelu,
    nn::activation::PRelu,
    nn::activation::RRelu,
    nn::activation::Elu,
    nn::activation::Celu,
    nn::activation::Selu,
    nn::activation::HardSigmoid,
    nn::activation::HardSwish,
    nn::activation::Hardtanh,
    nn::activation::HardShrink,
    nn::activation::SoftShrink,
    nn::activation::Shrink,
    nn::activation::Softplus,
    nn::activation::Softsign,
    nn::activation::Tanhshrink,
    nn::activation::Threshold,
    nn::activation::ThresholdedRelu,
    nn::activation::LogSigmoid,
    nn::activation::Activation,
    nn::PixelShuffle,
    nn::PixelUnshuffle,
    nn::Unfold4d,
    nn::Fold4d,
    nn::CosineSimilarity,
    nn::PairwiseDistance,
    nn::pool::AvgPool1d,
    nn::pool::AvgPool2d,
    nn::pool::MaxPool1d,
    nn::pool::MaxPool2d,
    nn::pool::AdaptiveAvgPool1d,
    nn::pool::AdaptiveAvgPool2d,
    nn::pool::AdaptiveAvgPool3d,
    nn::interpolate::Interpolate1d,
    nn::interpolate::Interpolate2d,
    nn::conv::DeformConv2d,
    nn::loss::CrossEntropyLoss,
    nn::loss::MseLoss,
    nn::loss::BinaryCrossEntropyLoss,
    nn::loss::HuberLoss,
);

impl<const D: usize, K: burn::tensor::kind::Basic> ModuleConstants for Tensor<D, K> {
    fn update_constants(&mut self, _update: &mut ConstantUpdate<'_>) {}
}

impl<T: burn::module::Parameter> ModuleConstants for Param<T> {
    fn update_constants(&mut self, _update: &mut ConstantUpdate<'_>) {}
}

// ---------------------------------------------------------------- convolutions

macro_rules! conv_groups {
    ($($t:ty),*) => {
        $(impl ModuleConstants for $t {
            fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
                let Some(change) = update.slice("weight").and_then(|s| s.groups) else {
                    return;
                };
                if self.groups != change.from {
                    update.fail(format!(
                        "the convolution has groups = {}, the plan expects {}",
                        self.groups, change.from
                    ));
                    return;
                }
                self.groups = change.to;
                update.updated();
            }
        })*
    };
}

conv_groups!(
    nn::conv::Conv1d,
    nn::conv::Conv2d,
    nn::conv::Conv3d,
    nn::conv::ConvTranspose1d,
    nn::conv::ConvTranspose2d,
    nn::conv::ConvTranspose3d
);

// ---------------------------------------------------------------- normalisation

impl ModuleConstants for nn::GroupNorm {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        let Some(kept) = update.kept("gamma", 0).or_else(|| update.kept("beta", 0)) else {
            return;
        };
        let per = self.num_channels / self.num_groups.max(1);
        match ConstantUpdate::whole_blocks(kept, self.num_channels, per) {
            Some(groups) => {
                self.num_groups = groups;
                self.num_channels = kept.len();
                update.updated();
            }
            None => update.fail(format!(
                "the plan keeps {} of the {} channels, not whole groups of {per}: a GroupNorm's statistics are per group",
                kept.len(),
                self.num_channels
            )),
        }
    }
}

impl ModuleConstants for nn::norm::Normalization {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        // Batch, instance, layer and RMS norms keep no sizes.
        if let nn::norm::Normalization::Group(m) = self {
            update.visit("Group", m);
        }
    }
}

// ---------------------------------------------------------------- attention and transformers

impl ModuleConstants for nn::attention::MultiHeadAttention {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        if !update.touches() {
            return;
        }
        let width = self.n_heads * self.d_k;
        let d_model = update
            .kept("query.weight", 0)
            .or_else(|| update.kept("output.weight", 1))
            .map_or(self.d_model, <[usize]>::len);
        let (mut n_heads, mut d_k) = (self.n_heads, self.d_k);
        if let Some(kept) = update
            .kept("query.weight", 1)
            .or_else(|| update.kept("output.weight", 0))
        {
            if let Some(n) = ConstantUpdate::whole_blocks(kept, width, self.d_k) {
                n_heads = n;
            } else if let Some(d) = ConstantUpdate::same_positions(kept, width, self.n_heads) {
                d_k = d;
            } else {
                update.fail(format!(
                    "the plan keeps {} of the {width} attention features, neither whole heads of {} nor the same dimensions of all {} heads",
                    kept.len(),
                    self.d_k,
                    self.n_heads
                ));
                return;
            }
        }
        if n_heads * d_k != d_model {
            update.fail(format!(
                "Burn's MultiHeadAttention reshapes its context to its input width (d_model), so n_heads·d_k must equal d_model; the plan gives {n_heads}·{d_k} = {} against d_model = {d_model}. Its heads can shrink only with the model width: prune heads in an attention module whose output projection reads its own width (the reference ViT's), or keep them",
                n_heads * d_k
            ));
            return;
        }
        self.d_model = d_model;
        self.n_heads = n_heads;
        self.d_k = d_k;
        update.updated();
    }
}

impl ModuleConstants for nn::attention::CrossAttention {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        if update.touches() {
            update.fail(
                "Burn's CrossAttention keeps its sizes (heads, head dimension) in private fields that no code outside Burn can change; keep its channels (a barrier or `ignored`) or use an attention module of your own",
            );
        }
    }
}

impl ModuleConstants for nn::transformer::TransformerEncoderLayer {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        update.visit("mha", &mut self.mha);
    }
}

impl ModuleConstants for nn::transformer::TransformerEncoder {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        update.visit("layers", &mut self.layers);
        // Informational sizes (not read by the forward pass), kept in step with layer 0.
        if let Some(layer) = self.layers.first() {
            self.d_model = layer.mha.d_model;
            self.n_heads = layer.mha.n_heads;
        }
    }
}

impl ModuleConstants for nn::transformer::TransformerDecoderLayer {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        update.visit("cross_attn", &mut self.cross_attn);
        update.visit("self_attn", &mut self.self_attn);
    }
}

impl ModuleConstants for nn::transformer::TransformerDecoder {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        update.visit("layers", &mut self.layers);
        if let Some(layer) = self.layers.first() {
            self.d_model = layer.self_attn.d_model;
            self.n_heads = layer.self_attn.n_heads;
        }
    }
}

// ---------------------------------------------------------------- recurrent layers

/// The new hidden size of a recurrent layer whose gate `gate` the plan cuts: the gate's
/// input transform's outputs (axis 1), else its hidden transform's.
fn hidden_size(update: &ConstantUpdate<'_>, gate: &str) -> Option<usize> {
    update
        .kept(&format!("{gate}.input_transform.weight"), 1)
        .or_else(|| update.kept(&format!("{gate}.hidden_transform.weight"), 1))
        .or_else(|| update.kept(&format!("{gate}.hidden_transform.weight"), 0))
        .map(<[usize]>::len)
}

impl ModuleConstants for nn::Lstm {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        if let Some(h) = hidden_size(update, "input_gate") {
            self.d_hidden = h;
            update.updated();
        }
    }
}

impl ModuleConstants for nn::Gru {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        if let Some(h) = hidden_size(update, "update_gate") {
            self.d_hidden = h;
            update.updated();
        }
    }
}

impl ModuleConstants for nn::Rnn {
    fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
        if let Some(h) = hidden_size(update, "gate") {
            self.d_hidden = h;
            update.updated();
        }
    }
}

macro_rules! bidirectional {
    ($($t:ty),*) => {
        $(impl ModuleConstants for $t {
            fn update_constants(&mut self, update: &mut ConstantUpdate<'_>) {
                update.visit("forward", &mut self.forward);
                update.visit("reverse", &mut self.reverse);
                if self.forward.d_hidden != self.reverse.d_hidden {
                    update.fail(format!(
                        "the plan gives the forward direction {} hidden units and the reverse {}",
                        self.forward.d_hidden, self.reverse.d_hidden
                    ));
                    return;
                }
                if self.d_hidden != self.forward.d_hidden {
                    self.d_hidden = self.forward.d_hidden;
                    update.updated();
                }
            }
        })*
    };
}

bidirectional!(nn::BiLstm, nn::BiGru, nn::BiRnn);

/// Burn modules (by container type, without `Struct:`) whose constants follow their
/// parameters' shapes, with a test of whether cutting the parameter at `relative` path
/// (inside the module) on `axes` changes one.
pub(super) fn constant_of(
    container: &str,
    relative: &str,
    slice: &ParamSlice,
) -> Option<&'static str> {
    let axes: Vec<usize> = slice.keep.iter().map(|k| k.axis).collect();
    match container {
        "Conv1d" | "Conv2d" | "Conv3d" | "ConvTranspose1d" | "ConvTranspose2d"
        | "ConvTranspose3d" => slice.groups.is_some().then_some("groups"),
        "GroupNorm" => Some("num_groups and num_channels"),
        "MultiHeadAttention" => Some("d_model, n_heads or d_k"),
        "CrossAttention" => Some("its private sizes"),
        "Lstm" | "Gru" | "Rnn" | "BiLstm" | "BiGru" | "BiRnn" => {
            let input_only = relative.ends_with("input_transform.weight") && axes == [0];
            (!input_only).then_some("d_hidden")
        }
        _ => None,
    }
}

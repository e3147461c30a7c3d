//! Parameter addressing: which parameters a model has, where, of what shape and layer kind.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The kind of layer a parameter belongs to, read from the type of the module that holds it.
///
/// Burn's modules report their type when visited (`"Struct:Conv2d"`); any type not listed
/// here, a user's own layer included, is [`LayerKind::Other`] with the type name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LayerKind {
    /// `Conv1d`, `Conv2d`, `Conv3d`, `DeformConv2d`: weight `[out, in/groups, k...]`.
    Conv,
    /// `ConvTranspose1d/2d/3d`: weight `[in, out/groups, k...]`.
    ConvTranspose,
    /// `Linear`: weight `[d_input, d_output]`.
    Linear,
    /// `BatchNorm`.
    BatchNorm,
    /// `LayerNorm`.
    LayerNorm,
    /// `GroupNorm`.
    GroupNorm,
    /// `Embedding`: weight `[n_embedding, d_model]`.
    Embedding,
    /// Any other module type, by name.
    Other(String),
}

impl LayerKind {
    /// Map a Burn container type (`"Struct:Conv2d"`, `"Vec"`, ...) to a layer kind.
    pub fn from_container_type(container_type: &str) -> Self {
        let name = container_type
            .strip_prefix("Struct:")
            .or_else(|| container_type.strip_prefix("Enum:"))
            .unwrap_or(container_type);
        match name {
            "Conv1d" | "Conv2d" | "Conv3d" | "DeformConv2d" => Self::Conv,
            "ConvTranspose1d" | "ConvTranspose2d" | "ConvTranspose3d" => Self::ConvTranspose,
            "Linear" => Self::Linear,
            "BatchNorm" => Self::BatchNorm,
            "LayerNorm" => Self::LayerNorm,
            "GroupNorm" => Self::GroupNorm,
            "Embedding" => Self::Embedding,
            other => Self::Other(other.to_string()),
        }
    }

    /// Whether weights of this kind are pruned by default (convolutions and linear layers).
    pub fn is_prunable_by_default(&self) -> bool {
        matches!(self, Self::Conv | Self::ConvTranspose | Self::Linear)
    }

    /// A normalisation layer (BatchNorm, LayerNorm, GroupNorm).
    pub fn is_norm(&self) -> bool {
        matches!(self, Self::BatchNorm | Self::LayerNorm | Self::GroupNorm)
    }
}

impl std::fmt::Display for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Conv => f.write_str("conv"),
            Self::ConvTranspose => f.write_str("conv-transpose"),
            Self::Linear => f.write_str("linear"),
            Self::BatchNorm => f.write_str("batch-norm"),
            Self::LayerNorm => f.write_str("layer-norm"),
            Self::GroupNorm => f.write_str("group-norm"),
            Self::Embedding => f.write_str("embedding"),
            Self::Other(name) => write!(f, "{name}"),
        }
    }
}

/// Where a parameter lives in a model and what it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamAddress {
    /// Dotted path, e.g. `layers.0.conv.weight`.
    pub path: String,
    /// Burn's stable parameter id.
    pub id: ParamId,
    /// The parameter's shape.
    pub shape: Vec<usize>,
    /// The kind of layer that holds it.
    pub kind: LayerKind,
    /// Whether it is a running statistic (BatchNorm `running_mean`/`running_var`), which is
    /// state rather than a trained weight.
    pub running_stat: bool,
    /// Name of a reparameterization attached to it (`"mask"` for a pruning mask), if any.
    pub reparameterization: Option<String>,
}

impl ParamAddress {
    /// The last path segment (`weight`, `bias`, `gamma`, `running_mean`, ...).
    pub fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether this is a weight of a convolution or linear layer, pruned by default.
    pub fn is_default_prunable(&self) -> bool {
        self.name() == "weight" && self.kind.is_prunable_by_default() && self.shape.len() >= 2
    }
}

/// List every float parameter of `module` (running statistics included), in visiting order.
///
/// Parameters nested inside a reparameterization (LoRA factors, say) are not listed: they
/// belong to the parameter they adapt, whose [`ParamAddress::reparameterization`] names them.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{LinearConfig, Linear};
/// use burn_prune_core::{param_addresses, LayerKind};
///
/// #[derive(Module, Debug)]
/// struct Net { fc: Linear }
///
/// let device = Device::flex();
/// let net = Net { fc: LinearConfig::new(3, 2).init(&device) };
/// let params = param_addresses(&net);
/// assert_eq!(params[0].path, "fc.weight");
/// assert_eq!(params[0].shape, vec![3, 2]); // Burn stores linear weights [d_input, d_output]
/// assert_eq!(params[0].kind, LayerKind::Linear);
/// assert_eq!(params[1].path, "fc.bias");
/// ```
pub fn param_addresses<M: Module>(module: &M) -> Vec<ParamAddress> {
    let mut visitor = AddressVisitor::default();
    module.visit(&mut visitor);
    visitor.out
}

#[derive(Default)]
struct AddressVisitor {
    stack: Vec<(String, String)>,
    /// Depth at which we entered a reparameterization (params inside are skipped).
    inside_reparam: Option<usize>,
    out: Vec<ParamAddress>,
}

impl ModuleVisitor for AddressVisitor {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if container_type == "Reparameterization" && self.inside_reparam.is_none() {
            self.inside_reparam = Some(self.stack.len());
            if let Some(last) = self.out.last_mut() {
                let owner: Vec<&str> = self.stack.iter().map(|(n, _)| n.as_str()).collect();
                if last.path == owner.join(".") {
                    last.reparameterization = Some(name.to_string());
                }
            }
        }
        self.stack
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
        if self.inside_reparam == Some(self.stack.len()) {
            self.inside_reparam = None;
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.inside_reparam.is_some() {
            return;
        }
        let path: Vec<&str> = self.stack.iter().map(|(n, _)| n.as_str()).collect();
        let kind = self
            .stack
            .last()
            .map(|(_, c)| LayerKind::from_container_type(c))
            .unwrap_or_else(|| LayerKind::Other(String::new()));
        let name = path.last().copied().unwrap_or_default();
        self.out.push(ParamAddress {
            path: path.join("."),
            id: param.id,
            shape: param.lazy_shape().as_slice().to_vec(),
            kind,
            running_stat: is_running_stat(name),
            reparameterization: None,
        });
    }
}

/// Whether a parameter named `name` (the last path segment) is a running statistic
/// (BatchNorm's `running_mean` and `running_var`): state, never trained, scored or counted
/// as a weight. The one place that rule lives; [`ParamAddress::running_stat`] holds it.
pub fn is_running_stat(name: &str) -> bool {
    name.starts_with("running_")
}

/// The module path during a `ModuleVisitor` or `ModuleMapper` pass: push on `enter_module`,
/// pop on `exit_module`, read at `visit_float`/`map_float`.
///
/// ```
/// use burn_prune_core::PathStack;
///
/// let mut stack = PathStack::default();
/// stack.enter("bn");
/// stack.enter("running_var");
/// assert_eq!(stack.path(), "bn.running_var");
/// assert!(stack.at_running_stat());
/// stack.exit();
/// assert_eq!(stack.last(), Some("bn"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct PathStack(Vec<String>);

impl PathStack {
    /// Entering module or field `name`.
    pub fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }

    /// Leaving the innermost module or field.
    pub fn exit(&mut self) {
        self.0.pop();
    }

    /// The dotted path of the current position.
    pub fn path(&self) -> String {
        self.0.join(".")
    }

    /// The innermost name (a parameter's name at `visit_float`).
    pub fn last(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    /// Whether the current position is a running statistic (see [`is_running_stat`]).
    pub fn at_running_stat(&self) -> bool {
        self.last().is_some_and(is_running_stat)
    }

    /// At `<owner>.prune_mask.pruned` (a pruning mask's tensor): the owner's path.
    pub fn mask_owner(&self) -> Option<String> {
        match self.0.as_slice() {
            [owner @ .., reparam, field]
                if !owner.is_empty()
                    && reparam == crate::mask::PruneMask::PATH_NAME
                    && field == "pruned" =>
            {
                Some(owner.join("."))
            }
            _ => None,
        }
    }
}

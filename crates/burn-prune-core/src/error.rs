//! The error type of `burn-prune-core`.

use thiserror::Error;

/// Everything that can go wrong while pruning. Each variant names what was wrong and where
/// (the parameter path, the pattern, the file), so that a user can act on it.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum PruneError {
    /// A sparsity target outside `[0, 1)`.
    #[error("sparsity {value} for {context} is outside [0, 1)")]
    InvalidSparsity {
        /// The rejected value.
        value: f64,
        /// Where it was given (`"global target"`, a parameter path, ...).
        context: String,
    },
    /// A density outside `(0, 1]` in an explicit density map.
    #[error("density {value} for `{path}` is outside (0, 1]")]
    InvalidDensity {
        /// The rejected value.
        value: f64,
        /// The parameter it was given for.
        path: String,
    },
    /// A criterion produced a NaN or infinite score.
    #[error(
        "criterion `{criterion}` produced a non-finite score ({value}) for `{path}` at index {index}"
    )]
    NonFiniteScore {
        /// The criterion's name.
        criterion: String,
        /// The parameter path.
        path: String,
        /// Flat index of the first offending score.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// `N` must be smaller than `M` (and positive) for N:M sparsity.
    #[error("invalid N:M pattern {n}:{m}: need 0 < N < M")]
    InvalidNm {
        /// Kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
    /// A dimension is not divisible by the group or block size it is cut into.
    #[error(
        "`{path}`: dimension {axis} of shape {shape:?} has size {size}, not divisible by {divisor} ({what})"
    )]
    NotDivisible {
        /// The parameter path.
        path: String,
        /// The shape of the parameter.
        shape: Vec<usize>,
        /// The axis that does not divide.
        axis: usize,
        /// Its size.
        size: usize,
        /// The group or block size.
        divisor: usize,
        /// What was being cut (`"N:M group"`, `"block rows"`, ...).
        what: &'static str,
    },
    /// The granularity cannot be applied to this parameter (e.g. channels of a rank-1 tensor).
    #[error("granularity {granularity} does not apply to `{path}` with shape {shape:?}: {reason}")]
    UnsupportedGranularity {
        /// The granularity, displayed.
        granularity: String,
        /// The parameter path.
        path: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Why.
        reason: String,
    },
    /// A criterion that works on whole units was asked for a granularity it does not support.
    #[error(
        "criterion `{criterion}` does not support granularity {granularity} (at `{path}`): {reason}"
    )]
    UnsupportedCriterion {
        /// The criterion's name.
        criterion: String,
        /// The granularity, displayed.
        granularity: String,
        /// The parameter path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A criterion returned the wrong number of scores.
    #[error(
        "criterion `{criterion}` returned {got} scores for `{path}`, expected {expected} ({what})"
    )]
    ScoreCount {
        /// The criterion's name.
        criterion: String,
        /// The parameter path.
        path: String,
        /// How many were expected.
        expected: usize,
        /// How many came back.
        got: usize,
        /// `"elements"` or `"units"`.
        what: &'static str,
    },
    /// A path pattern (a selector's include or exclude, a group pruner's `ignored`,
    /// `keep_channels` or density path, a pruner's output layers) matched no parameter of the
    /// model.
    #[error("{which} pattern `{pattern}` matches no parameter of the model")]
    PatternMatchesNothing {
        /// Which list the pattern is from: `"include"`, `"exclude"`, `"ignored"`,
        /// `"keep_channels"`, `"density"` or `"output layers"`.
        which: &'static str,
        /// The pattern.
        pattern: String,
    },
    /// A pattern is malformed.
    #[error("invalid path pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The selection is empty: nothing to prune.
    #[error("no parameter selected for pruning ({reason})")]
    NothingSelected {
        /// What the selection was.
        reason: String,
    },
    /// A parameter path that the model does not have.
    #[error("the model has no parameter `{path}`{hint}")]
    UnknownParam {
        /// The path.
        path: String,
        /// A hint (possibly empty).
        hint: String,
    },
    /// A mask's shape disagrees with the parameter's.
    #[error("mask for `{path}` has shape {mask:?} but the parameter has shape {param:?}")]
    ShapeMismatch {
        /// The parameter path.
        path: String,
        /// The mask's shape.
        mask: Vec<usize>,
        /// The parameter's shape.
        param: Vec<usize>,
    },
    /// A gradient-based criterion was used without any batch to compute gradients from.
    #[error(
        "criterion `{criterion}` needs gradients: call `Pruner::masks_with_data` with at least one batch"
    )]
    MissingBatches {
        /// The criterion's name.
        criterion: String,
    },
    /// Gradients were asked for on a model that does not track them.
    #[error("gradients for `{path}` are not available: {reason}")]
    MissingGradient {
        /// The parameter path.
        path: String,
        /// Why (no autodiff device, parameter not used by the loss, ...).
        reason: String,
    },
    /// A criterion needs the BatchNorm next to a layer and none was found.
    #[error(
        "criterion `{criterion}` needs a BatchNorm {relation} `{path}` with {channels} channels, but none was found{hint}"
    )]
    MissingBatchNorm {
        /// The criterion's name.
        criterion: String,
        /// The parameter path.
        path: String,
        /// `"after"` or `"before"`.
        relation: &'static str,
        /// The number of channels it must have.
        channels: usize,
        /// A hint (possibly empty).
        hint: String,
    },
    /// The scope cannot prune as many units as asked without emptying a parameter.
    #[error(
        "cannot prune {requested} units: with at least {min_kept} kept per parameter only {available} can be pruned"
    )]
    TooManyToPrune {
        /// Units the target asks for.
        requested: usize,
        /// Units that may be pruned at most.
        available: usize,
        /// The minimum kept per parameter.
        min_kept: usize,
    },
    /// A parameter already carries a reparameterization that is not a pruning mask.
    #[error(
        "`{path}` already carries a `{name}` reparameterization; burn allows one per parameter"
    )]
    ForeignReparameterization {
        /// The parameter path.
        path: String,
        /// The name of the existing reparameterization.
        name: String,
    },
    /// A parameter snapshot does not fit the model it is restored into.
    #[error("the snapshot does not fit the model at `{path}`: {reason}")]
    SnapshotMismatch {
        /// The parameter path.
        path: String,
        /// What differs.
        reason: String,
    },
    /// The tensor data could not be read to the host as `f32` or `bool`.
    #[error("cannot read `{path}` to the host: {reason}")]
    Data {
        /// The parameter path.
        path: String,
        /// The underlying error.
        reason: String,
    },
    /// A serialized mask set is malformed.
    #[error("invalid mask set: {0}")]
    Format(String),
    /// An I/O error while reading or writing a mask set.
    #[error("I/O error on `{path}`: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        reason: String,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Capturing the forward pass failed (or the forward pass itself panicked).
    #[error("cannot trace the model: {reason}")]
    Trace {
        /// What went wrong.
        reason: String,
    },
    /// Running a trace on a backend failed, or its inputs do not fit the trace.
    #[error("cannot replay the trace: {reason}")]
    Replay {
        /// What went wrong.
        reason: String,
    },
    /// The tracer met an operation whose effect on channels it does not know, on a tensor that
    /// carries prunable channels. Declare it a barrier to treat its inputs as unprunable.
    #[error(
        "operation #{index} `{op}` (near `{near}`) acts on prunable channels in a way the \
         dependency analysis does not know: {reason}; declare `{op}` a barrier to keep those \
         channels"
    )]
    UnknownChannelOp {
        /// Position of the operation in the traced graph.
        index: usize,
        /// The operation's name (as in Burn's IR, e.g. `Gather`).
        op: String,
        /// The nearest parameter path (the layer that produced the channels, or the last one
        /// before the operation).
        near: String,
        /// Why the analysis cannot follow it.
        reason: String,
    },
    /// A structural plan does not fit the model it is applied to.
    #[error("the structural plan does not fit the model at `{path}`: {reason}")]
    PlanMismatch {
        /// The parameter path.
        path: String,
        /// What disagrees.
        reason: String,
    },
    /// A cost budget that no plan allowed by the configuration meets.
    #[error(
        "no plan meets the budget of {budget} {unit}: removing every unit the configuration \
         allows still costs {reached} {unit} (the dense model: {dense} {unit}); raise the \
         budget, max_ratio, or unpin layers"
    )]
    BudgetUnreachable {
        /// The budget asked for.
        budget: f64,
        /// The lowest cost reached.
        reached: f64,
        /// The dense model's cost.
        dense: f64,
        /// What the cost counts (`ms`, `MACs`).
        unit: String,
    },
    /// A cost model returned a cost that is not a finite number.
    #[error("the cost model returned {value} {unit} for the widths {kept:?}")]
    NonFiniteCost {
        /// The value returned.
        value: f64,
        /// What the cost counts.
        unit: String,
        /// The kept units per group it was asked about.
        kept: Vec<usize>,
    },
}

/// Result alias with [`PruneError`].
pub type Result<T, E = PruneError> = std::result::Result<T, E>;

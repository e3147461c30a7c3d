//! Structural pruning: trace a model, find the parameter dimensions coupled to each channel,
//! rank whole channels, and cut them out physically.
//!
//! ```text
//! model ──trace──▶ Trace ──DependencyGraph::build──▶ groups ──GroupPruner::plan──▶
//!       StructuralPlan ──apply──▶ smaller model of the same type
//! ```
//!
//! A channel removed from a group is removed from every member (a conv's filter, the
//! BatchNorm entries after it, the next layer's input channel, every layer joined to it by a
//! residual add), so the compacted model computes what the dense model computes with those
//! channels at zero.

mod batch_norm_pairs;
mod constants;
mod display;
mod graph;
mod group_pruner;
mod plan;
mod replay;
mod shapes;
mod trace;

pub use batch_norm_pairs::BatchNormPairs;
/// Burn's IR, for [`OpRule`]s: the ops of a trace and their tensors.
pub use burn::backend::ir;
pub use burn_prune_derive::ModuleConstants;
pub use constants::{ConstantUpdate, ModuleConstants};
pub use graph::{
    ChannelFlow, DependencyGraph, GraphOptions, Group, GroupMember, GroupedConv, HeadUnits, OpRule,
    OpRules, op_name,
};
pub use group_pruner::{
    BudgetPlan, GroupCost, GroupNormalization, GroupPruner, GroupPrunerConfig, GroupReduction,
    KeepChannels,
};
pub use plan::{AxisKeep, GroupsChange, ParamSlice, StructuralPlan};
pub use replay::Replay;
pub use shapes::ParamShapes;
pub use trace::{Trace, TracedParam, trace, trace_int};

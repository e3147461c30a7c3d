//! Group importance and selection: which units of each dependency group to keep.
//!
//! - `config`: what to remove and how scores combine ([`GroupPrunerConfig`]), checked once;
//! - `scoring`: a criterion's scores of every unit of every group ([`GroupPruner`]);
//! - `select`: which units go, given the scores (local, global, LAMP, densities, explicit
//!   counts, caps), through the crate's one selection of the lowest scores;
//! - `budget`: which units go to bring a cost of the widths (measured latency, MACs) within a
//!   budget ([`GroupCost`], [`BudgetPlan`]).

mod budget;
mod config;
mod scoring;
mod select;

pub use budget::{BudgetPlan, GroupCost};
pub use config::{GroupNormalization, GroupPrunerConfig, GroupReduction, KeepChannels};
pub use scoring::GroupPruner;

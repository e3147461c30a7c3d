//! Integration tests of burn-prune on CPU backends (flex and ndarray).

#[path = "../common/mod.rs"]
mod common;

mod criteria;
mod custom_criterion;
mod errors;
mod granularities;
mod group_importance;
mod masked_training;
mod masks_in_model;
mod replay;
mod shared_state;
mod structure;
mod structure_models;
mod supervised_training;

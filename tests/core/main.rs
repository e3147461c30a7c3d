//! Integration tests of burn-prune on CPU backends (flex and ndarray).

#[path = "../common/mod.rs"]
mod common;

mod batch_norm_pairs;
mod budget;
mod concurrency;
mod criteria;
mod custom_criterion;
mod custom_op_rule;
mod empty;
mod errors;
mod fuzz;
mod granularities;
mod graph_views;
mod group_importance;
mod large_models;
mod masked_training;
mod masks_in_model;
mod output_units;
mod quiet_panics;
mod recurrent;
mod replay;
mod shared_state;
mod structure;
mod structure_models;
mod supervised_training;
mod transformers;

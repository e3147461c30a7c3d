//! Schedules, the scheduled pruner and the training-time methods.

#[path = "../common/mod.rs"]
mod common;

mod custom_schedule;
mod data_parallel;
mod methods;
mod scheduled;
mod schedules;
mod scratch;
mod sparse_structure;
mod supervised;
mod task;

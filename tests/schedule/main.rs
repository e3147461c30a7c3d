//! Schedules, the scheduled pruner and the training-time methods.

#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;

mod schedules;

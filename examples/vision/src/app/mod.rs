//! The `prune-vision` command line as a library: every subcommand is a function over a
//! [`Context`](context::Context), so tests and other programs can drive it without a process.

pub mod budget;
pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod context;
pub mod data;
pub mod device;
pub mod error;
pub mod network;
pub mod pipeline;
pub mod prune;
pub mod recipe;
pub mod report;
pub mod sparse_structure;
pub mod spec;
pub mod study;
pub mod synthetic;
pub mod train;

//! Data-driven criteria: activation capture against the model's own forward pass, the
//! activation criteria against hand-built channels, errors.

mod activations;
#[path = "../common/mod.rs"]
mod common;
mod hessian;
mod reconstruction;

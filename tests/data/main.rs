//! Data-driven criteria: activation capture against the model's own forward pass, the
//! activation criteria against hand-built channels, one-shot Wanda/SparseGPT, errors.

mod activations;
#[path = "../common/mod.rs"]
mod common;
mod hessian;
mod one_shot;
mod reconstruction;

//! Pruning at initialization: SNIP, GraSP, SynFlow and the baselines against hand-computed
//! values and the papers' claims.

mod baselines;
mod channels;
#[path = "../common/mod.rs"]
mod common;
mod grasp;
mod precrop;
mod snip;
mod synflow;

//! Counting parameters, MACs and FLOPs: hand-computed small cases, the published numbers of
//! REFERENCE.md, and the sparsity-aware measures.

mod analysis;
mod latency;
mod ops;
mod published;
mod report;
mod space;
mod sparsity;

use burn::prelude::*;

fn device() -> Device {
    Device::flex()
}

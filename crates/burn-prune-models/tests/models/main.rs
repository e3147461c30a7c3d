//! Tests of the reference models: published parameter counts, forward shapes, the option-A
//! shortcut, and configuration errors. One test binary (linking Burn is the slow part).

mod config;
mod counts;
mod forward;
mod shortcut;
mod size;

use burn::prelude::*;

/// The CPU device the tests run on.
pub fn device() -> Device {
    Device::flex()
}

/// A deterministic non-trivial image batch `[n, 3, size, size]`.
pub fn images(n: usize, size: usize, device: &Device) -> Tensor<4> {
    let len = n * 3 * size * size;
    let values: Vec<f32> = (0..len)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [n, 3, size, size]), device)
}

/// All values finite.
pub fn all_finite<const D: usize>(t: Tensor<D>) -> bool {
    t.into_data()
        .try_to_vec::<f32>()
        .unwrap()
        .iter()
        .all(|v| v.is_finite())
}

//! A small CNN shared by the integration tests (conv-BN-ReLU blocks, global pooling, linear).
#![allow(dead_code)]

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: Conv2d,
    pub bn: BatchNorm,
    pub act: Relu,
}

#[derive(Module, Debug)]
pub struct SmallCnn {
    pub blocks: Vec<ConvBlock>,
    pub pool: AdaptiveAvgPool2d,
    pub fc: Linear,
}

impl SmallCnn {
    /// `channels[0]` input channels, then one block per further entry, then `classes` outputs.
    pub fn new(channels: &[usize], classes: usize, device: &Device) -> Self {
        let blocks = channels
            .windows(2)
            .map(|w| ConvBlock {
                conv: Conv2dConfig::new([w[0], w[1]], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
                bn: BatchNormConfig::new(w[1]).init(device),
                act: Relu::new(),
            })
            .collect();
        Self {
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(*channels.last().unwrap(), classes).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for b in &self.blocks {
            x = b.act.forward(b.bn.forward(b.conv.forward(x)));
        }
        let [n, c, _, _] = x.dims();
        self.fc.forward(self.pool.forward(x).reshape([n, c]))
    }
}

/// Deterministic pseudo-random floats in [-1, 1) (host side, identical on every backend).
pub fn host_floats(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A batch of inputs and labels made on the host and moved to `device`.
pub fn batch(
    n: usize,
    channels: usize,
    size: usize,
    classes: usize,
    seed: u64,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let x = host_floats(n * channels * size * size, seed);
    let y: Vec<i64> = (0..n)
        .map(|i| ((i as u64 * 7 + seed) % classes as u64) as i64)
        .collect();
    (
        Tensor::<4>::from_data(TensorData::new(x, [n, channels, size, size]), device),
        Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device),
    )
}

/// The flat values of a float tensor.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Every BatchNorm statistic and affine parameter of `model` replaced by seeded values (γ and
/// the running variance in `[0.5, 1.5)`, β and the running mean in `[-0.5, 0.5)`), so that
/// slicing them wrongly shows in the outputs.
pub fn randomize_batch_norms<M: Module>(model: M, seed: u64) -> M {
    struct Randomize {
        path: Vec<String>,
        seed: u64,
    }
    impl burn::module::ModuleMapper for Randomize {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let name = self.path.last().cloned().unwrap_or_default();
            let offset = match name.as_str() {
                "gamma" | "running_var" => 1.0,
                "beta" | "running_mean" => 0.0,
                _ => return param,
            };
            self.seed += 1;
            let seed = self.seed;
            param.map(|t| {
                let dims = t.dims();
                let n = dims.iter().product();
                let v: Vec<f32> = host_floats(n, seed)
                    .into_iter()
                    .map(|x| offset + 0.5 * x)
                    .collect();
                Tensor::from_data(TensorData::new(v, dims), &t.device())
            })
        }
    }
    model.map(&mut Randomize {
        path: Vec::new(),
        seed,
    })
}

/// `a` and `b` agree within `1e-4` relative to the largest magnitude in `a`.
pub fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale,
            "output {i}: {x} vs {y} (scale {scale})"
        );
    }
}

/// Side of the [`quadrants`] images.
pub const QUADRANT_SIZE: usize = 8;
/// Classes of the [`quadrants`] task.
pub const QUADRANT_CLASSES: usize = 4;

/// A small learning task generated on the host: `n` images `[n, 3, 8, 8]` of 4 classes, the
/// class being the bright quadrant, plus uniform noise in ±0.5, and their labels.
pub fn quadrants(n: usize, seed: u64, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * 3 * QUADRANT_SIZE * QUADRANT_SIZE);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let class = rng.random_range(0..QUADRANT_CLASSES);
        let (qr, qc) = (class / 2, class % 2);
        for _ in 0..3 {
            for r in 0..QUADRANT_SIZE {
                for c in 0..QUADRANT_SIZE {
                    let bright = r / (QUADRANT_SIZE / 2) == qr && c / (QUADRANT_SIZE / 2) == qc;
                    let noise: f32 = rng.random_range(-0.5..0.5);
                    x.push(if bright { 1.0 } else { 0.0 } + noise);
                }
            }
        }
        y.push(class as i64);
    }
    (
        Tensor::<4>::from_data(
            TensorData::new(x, [n, 3, QUADRANT_SIZE, QUADRANT_SIZE]),
            device,
        ),
        Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device),
    )
}

/// Weights of 90,000 and 33,667 elements (several selection pieces, one not a multiple of 64)
/// and a small layer: 123,697 weights in all.
#[derive(Module, Debug)]
pub struct Wide {
    pub a: Linear,
    pub b: Linear,
    pub c: Linear,
}

/// The model, with 30% of every weight (the default selection, not the biases) pruned by
/// installed masks: zeros, the lowest magnitudes, pruned again by any larger global target.
pub fn wide(device: &Device) -> Wide {
    device.seed(11);
    let net = Wide {
        a: LinearConfig::new(300, 300).init(device),
        b: LinearConfig::new(257, 131).init(device),
        c: LinearConfig::new(10, 3).init(device),
    };
    burn_prune::PrunerConfig::new(0.3)
        .with_scope(burn_prune::Scope::Local)
        .init(burn_prune::criterion::Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap()
        .0
}

//! Quick start: build a small CNN, prune it two ways, print the sparsity reports.
//!
//! `cargo run --example quickstart` (CPU, flex backend; no set-up, no download)

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::{Granularity, PrunerConfig, Scope, SparsityReport};

#[derive(Module, Debug)]
struct Block {
    conv: Conv2d,
    bn: BatchNorm,
    act: Relu,
}

#[derive(Module, Debug)]
struct Cnn {
    blocks: Vec<Block>,
    pool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl Cnn {
    fn new(device: &Device) -> Self {
        let block = |i, o| Block {
            conv: Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            bn: BatchNormConfig::new(o).init(device),
            act: Relu::new(),
        };
        Self {
            blocks: vec![block(3, 16), block(16, 32), block(32, 64)],
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(64, 10).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for b in &self.blocks {
            x = b.act.forward(b.bn.forward(b.conv.forward(x)));
        }
        let [n, c, _, _] = x.dims();
        self.fc.forward(self.pool.forward(x).reshape([n, c]))
    }
}

fn main() -> Result<(), burn_prune::PruneError> {
    let device = Device::flex();
    device.seed(0);
    let model = Cnn::new(&device);
    let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);

    // 1. Unstructured: one global L1 threshold over every conv and linear weight.
    let (pruned, masks) = PrunerConfig::new(0.5)
        .with_scope(Scope::Global)
        .init(Magnitude::l1())?
        .prune(model.clone())?;
    println!(
        "50% global L1, unstructured\n{}\n",
        SparsityReport::of_model(&pruned, &masks)?
    );
    println!(
        "output of the pruned model: {:?}\n",
        pruned.forward(x.clone()).dims()
    );

    // 2. Structured: half the filters of each layer, by L1 norm (the head's filters are the
    //    model's outputs and stay: `PrunerConfig::output_layers`).
    let (pruned, masks) = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Local)
        .init(Magnitude::l1())?
        .prune(model)?;
    println!(
        "50% of filters per layer, L1 norm\n{}\n",
        SparsityReport::of_model(&pruned, &masks)?
    );
    println!("output of the pruned model: {:?}", pruned.forward(x).dims());
    Ok(())
}

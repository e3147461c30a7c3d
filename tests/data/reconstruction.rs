//! ThiNet and LASSO channel pruning on a real two-block CNN whose first block has redundant
//! channels: both methods find them, the reconstruction beats plain removal by a large
//! factor, and the compacted model computes what the reconstruction predicts.

use crate::common::{SmallCnn, batch, values};
use burn::backend::{Flex, FlexDevice};
use burn::module::Param;
use burn::prelude::*;
use burn_prune::data::reconstruct::LassoConfig;
use burn_prune::data::{ActivationCapture, CaptureBatch, ChannelMethod};
use burn_prune::structure::{DependencyGraph, GraphOptions, trace};

fn set(p: &mut Param<Tensor<4>>, f: impl Fn(&mut [f32], [usize; 4])) {
    let t = p.val();
    let dims = t.dims();
    let device = t.device();
    let mut v = values(t);
    f(&mut v, dims);
    *p = Param::from_tensor(Tensor::from_data(TensorData::new(v, dims), &device));
}

/// Block 0 (6 channels): channel 3 = 0.9 × channel 1 (same filter scaled, BN identity, so
/// after the ReLU too), channel 4 nearly dead (filter × 1e-3), channel 5 dead (zero filter).
/// Block 1 reads channel 3 with the same weights as channel 1, and channels 0 and 2 with 5×
/// weights, so channel 3 is the weakest live contributor and is explained by channel 1.
fn redundant_cnn(device: &Device) -> SmallCnn {
    device.seed(12);
    let mut m = SmallCnn::new(&[3, 6, 8], 4, device);
    let b0 = &mut m.blocks[0];
    set(&mut b0.conv.weight, |v, [_, i, kh, kw]| {
        let k = i * kh * kw;
        for j in 0..k {
            v[3 * k + j] = 0.9 * v[k + j];
            v[4 * k + j] *= 1e-3;
            v[5 * k + j] = 0.0;
        }
    });
    if let Some(b) = b0.conv.bias.as_mut() {
        *b = Param::from_tensor(Tensor::zeros([6], device));
    }
    set(&mut m.blocks[1].conv.weight, |v, [o, i, kh, kw]| {
        let k = kh * kw;
        for f in 0..o {
            for j in 0..k {
                v[(f * i + 3) * k + j] = v[(f * i + 1) * k + j];
                v[(f * i) * k + j] *= 5.0;
                v[(f * i + 2) * k + j] *= 5.0;
            }
        }
    });
    m
}

#[test]
fn thinet_and_lasso_find_the_redundant_channels_and_reconstruct() {
    let device = Device::flex();
    let model = redundant_cnn(&device);
    let forward = |m: &SmallCnn, x: Tensor<4>| m.forward(x);
    let capture = ActivationCapture::new(&model, [8, 3, 8, 8], forward).unwrap();
    let batches = || {
        (0..4).map(|k| CaptureBatch::new(batch(8, 3, 8, 4, 40 + k, &Device::flex()).0.to_data()))
    };
    let traced = trace(&model, [1, 3, 8, 8], forward).unwrap();
    let graph = DependencyGraph::build(&traced, &GraphOptions::default()).unwrap();
    let (x, _) = batch(16, 3, 8, 4, 99, &device);
    let block1_input = |m: &SmallCnn| {
        let b0 = &m.blocks[0];
        b0.act.forward(b0.bn.forward(b0.conv.forward(x.clone())))
    };
    let dense = model.blocks[1].conv.forward(block1_input(&model));
    let methods = [
        ChannelMethod::ThiNet,
        ChannelMethod::Lasso(LassoConfig::default()),
    ];
    for method in methods {
        let r = capture
            .reconstruct_channels::<Flex, _>(
                &model,
                batches(),
                FlexDevice,
                "blocks.1.conv.weight",
                3,
                &method,
                64,
                7,
            )
            .unwrap();
        // The dead and nearly dead channels go, and one of the two proportional ones.
        assert!(
            !r.kept.contains(&4) && !r.kept.contains(&5),
            "{method:?}: {:?}",
            r.kept
        );
        assert!(
            r.kept.contains(&0) && r.kept.contains(&2),
            "{method:?}: {:?}",
            r.kept
        );
        assert_eq!(r.shape, [8, 3, 3, 3]);
        // Plain removal loses channel 3's (or 1's) contribution; the reconstruction gives it
        // back up to the nearly dead channel's residue: at least 100× less error.
        assert!(
            r.reconstructed_error * 100.0 < r.removal_error,
            "{method:?}: {} vs {}",
            r.reconstructed_error,
            r.removal_error
        );
        // The compacted model computes the reconstruction on fresh data.
        let small = r.apply(model.clone(), &graph).unwrap();
        assert_eq!(small.blocks[0].conv.weight.dims()[0], 3);
        let out = small.blocks[1].conv.forward(block1_input(&small));
        let err = (out - dense.clone())
            .powf_scalar(2.0)
            .mean()
            .into_scalar::<f32>();
        let scale = dense.clone().powf_scalar(2.0).mean().into_scalar::<f32>();
        assert!(
            err < 1e-4 * scale,
            "{method:?}: output error {err} (signal {scale})"
        );
    }
}

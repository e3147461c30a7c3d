//! Global magnitude pruning (90%) over ResNet-50's conv/linear weight shapes (25.5M weights in
//! 54 tensors) and over a 100M-weight set (6 × 4096×4096).
//!
//! `cargo bench --bench global_magnitude`
//!
//! - `select/*`: from host weight buffers to bit masks: exact global k-th selection by `|w|`,
//!   masks (what `torch.nn.utils.prune.global_unstructured` and a numpy partition + mask do);
//! - `pruner/*`: the whole `Pruner::masks` on a Burn model on the flex backend: read the
//!   weights off the device, score, select, build the `MaskSet`;
//! - `read/*`: reading every weight off the device with plain `into_data` (flex copies a
//!   buffer shared with the `Param` twice), what the pruner avoids;
//! - `memcpy/*`: the floor: one copy of the same host buffers into fresh vectors, in pieces
//!   (no page faults), which any read off a device costs at least.
//!
//! On the 2-core CPU with flex, nothing else running (2026-12-05), ResNet-50 / 100M: `pruner`
//! 11.4 / 45.4 ms, `memcpy` 3.5 / 14.7 ms, `read` 24.2 / 300 ms, `select` 8.6 / 35.4 ms.
//! (Before the pieces were read as they are ranked, in a loaded run: `pruner` 163–174 ms and
//! 0.94–1.01 s.)

use burn::module::{Module, Param};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::{ParamSelector, PrunerConfig, prune_lowest_magnitude};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;

/// ResNet-50 (v1.5) conv and fc weight shapes, in Burn's layouts.
fn resnet50_shapes() -> Vec<Vec<usize>> {
    let mut shapes = vec![vec![64, 3, 7, 7]];
    let mut in_ch = 64;
    for (width, blocks) in [(64, 3), (128, 4), (256, 6), (512, 3)] {
        let out = width * 4;
        for b in 0..blocks {
            shapes.push(vec![width, in_ch, 1, 1]);
            shapes.push(vec![width, width, 3, 3]);
            shapes.push(vec![out, width, 1, 1]);
            if b == 0 {
                shapes.push(vec![out, in_ch, 1, 1]);
            }
            in_ch = out;
        }
    }
    shapes.push(vec![2048, 1000]);
    shapes
}

fn big_shapes() -> Vec<Vec<usize>> {
    vec![vec![4096, 4096]; 6]
}

fn random_buffers(shapes: &[Vec<usize>]) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(0);
    shapes
        .iter()
        .map(|s| {
            (0..s.iter().product::<usize>())
                .map(|_| rng.random::<f32>() * 2.0 - 1.0)
                .collect()
        })
        .collect()
}

#[derive(Module, Debug)]
struct WeightSet {
    weights: Vec<Param<Tensor<2>>>,
}

fn model(buffers: &[Vec<f32>], device: &Device) -> WeightSet {
    WeightSet {
        weights: buffers
            .iter()
            .map(|b| {
                Param::from_tensor(Tensor::<2>::from_data(
                    TensorData::new(b.clone(), [1, b.len()]),
                    device,
                ))
            })
            .collect(),
    }
}

/// The floor: one copy of every weight into freshly allocated vectors, in pieces of a million
/// values dropped as they go (the allocator recycles their memory, as it recycles the pieces the
/// pruner reads), so that the copy is measured, not the page faults of fresh memory.
fn memcpy(buffers: &[Vec<f32>]) -> usize {
    buffers
        .iter()
        .flat_map(|b| b.chunks(1 << 20))
        .map(|piece| black_box(piece.to_vec()).len())
        .sum()
}

fn select(buffers: &[Vec<f32>], sparsity: f64) -> usize {
    let refs: Vec<&[f32]> = buffers.iter().map(|s| s.as_slice()).collect();
    let total: usize = refs.iter().map(|s| s.len()).sum();
    let k = (sparsity * total as f64).round() as usize;
    let masks = prune_lowest_magnitude(&refs, k).unwrap();
    masks.iter().map(|m| m.count_zeros()).sum()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("global_magnitude_90");
    group.sample_size(10);
    let device = Device::flex();
    for (name, shapes) in [
        ("resnet50_25.5M", resnet50_shapes()),
        ("mlp_100M", big_shapes()),
    ] {
        let buffers = random_buffers(&shapes);
        let n: usize = buffers.iter().map(|b| b.len()).sum();
        assert_eq!(select(&buffers, 0.9), (0.9 * n as f64).round() as usize);
        group.bench_function(format!("select/{name}"), |b| {
            b.iter(|| select(&buffers, 0.9))
        });
        let net = model(&buffers, &device);
        let pruner = PrunerConfig::new(0.9)
            .with_selector(ParamSelector::default().include("weights.*"))
            .init(Magnitude::l1())
            .unwrap();
        group.bench_function(format!("read/{name}"), |b| {
            b.iter(|| {
                net.weights
                    .iter()
                    .map(|p| p.val().into_data().num_elements())
                    .sum::<usize>()
            })
        });
        group.bench_function(format!("memcpy/{name}"), |b| b.iter(|| memcpy(&buffers)));
        group.bench_function(format!("pruner/{name}"), |b| {
            b.iter_batched(
                || (),
                |_| pruner.masks(&net).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

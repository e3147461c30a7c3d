//! GraSP against the Hessian-gradient product of softmax regression computed by hand.

use crate::common::{SmallCnn, batch, host_floats};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_prune::ParamSnapshot;
use burn_prune::pai::GraspConfig;

#[derive(Module, Debug)]
struct Softmax {
    fc: Linear,
}

const D: usize = 3;
const C: usize = 4;
const N: usize = 6;
const T: f64 = 2.0;

fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// `−W ⊙ H g` for `L = mean_n CE(softmax(x_n W / T), y_n)`, in f64: with `p_n` the
/// probabilities, `g = (1/N) Σ x_n (p_n − e_{y_n})ᵀ / T` and
/// `H V = (1/N) Σ x_n (J_n Vᵀ x_n)ᵀ / T²`, `J_n = diag(p_n) − p_n p_nᵀ`.
fn exact(w: &[f64], x: &[f64], y: &[usize]) -> Vec<f64> {
    let probs: Vec<Vec<f64>> = (0..N)
        .map(|n| {
            let z: Vec<f64> = (0..C)
                .map(|c| (0..D).map(|i| x[n * D + i] * w[i * C + c]).sum::<f64>() / T)
                .collect();
            softmax(&z)
        })
        .collect();
    let mut g = [0.0; D * C];
    for n in 0..N {
        for i in 0..D {
            for c in 0..C {
                let target = if y[n] == c { 1.0 } else { 0.0 };
                g[i * C + c] += x[n * D + i] * (probs[n][c] - target) / T / N as f64;
            }
        }
    }
    let mut hg = [0.0; D * C];
    for n in 0..N {
        let p = &probs[n];
        let u: Vec<f64> = (0..C)
            .map(|c| (0..D).map(|i| x[n * D + i] * g[i * C + c]).sum())
            .collect();
        let pu: f64 = p.iter().zip(&u).map(|(p, u)| p * u).sum();
        for i in 0..D {
            for c in 0..C {
                hg[i * C + c] += x[n * D + i] * (p[c] * u[c] - p[c] * pu) / (T * T) / N as f64;
            }
        }
    }
    w.iter().zip(&hg).map(|(w, h)| -w * h).collect()
}

#[test]
fn grasp_scores_match_the_exact_hessian_gradient_product_and_the_largest_are_pruned() {
    let device = Device::flex().autodiff();
    let w: Vec<f32> = host_floats(D * C, 5).iter().map(|v| 2.0 * v).collect();
    let x: Vec<f32> = host_floats(N * D, 6).iter().map(|v| 3.0 * v).collect();
    let y: Vec<usize> = vec![0, 1, 2, 3, 1, 2];
    let mut fc = LinearConfig::new(D, C).with_bias(false).init(&device);
    fc.weight = fc.weight.map(|old| {
        Tensor::from_data(TensorData::new(w.clone(), [D, C]), &old.device()).require_grad()
    });
    let model = Softmax { fc };
    let xs = Tensor::<2>::from_data(TensorData::new(x.clone(), [N, D]), &device);
    let ys = Tensor::<1, Int>::from_data(
        TensorData::new(y.iter().map(|&c| c as i64).collect::<Vec<_>>(), [N]),
        &device,
    );
    let grasp = GraspConfig::new().with_temperature(T).init().unwrap();
    let logits = |m: &Softmax, (x, y): (Tensor<2>, Tensor<1, Int>)| (m.fc.forward(x), y);
    let got = grasp
        .scores(&model, &[(xs.clone(), ys.clone())], logits)
        .unwrap();
    let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let want = exact(&w64, &x64, &y);
    let got = &got.scores["fc.weight"];
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
        assert!((g - e).abs() < 2e-3 * scale, "[{i}] {g} vs exact {e}");
    }

    // Pruning removes the 4 largest GraSP scores.
    let mut order: Vec<usize> = (0..D * C).collect();
    order.sort_by(|&a, &b| want[b].total_cmp(&want[a]));
    assert!(
        want[order[3]] - want[order[4]] > 0.05 * scale,
        "no clear gap"
    );
    let (_, masks) = grasp.prune(model, 4.0 / 12.0, &[(xs, ys)], logits).unwrap();
    let keep = masks.get("fc.weight").unwrap().keep.to_bools();
    for (rank, &i) in order.iter().enumerate() {
        assert_eq!(keep[i], rank >= 4, "weight {i} (rank {rank})");
    }
}

#[test]
fn grasp_leaves_the_model_unchanged_and_rejects_bad_input() {
    let device = Device::flex().autodiff();
    device.seed(21);
    let model = crate::common::randomize_batch_norms(SmallCnn::new(&[3, 8, 8], 4, &device), 2);
    let before = ParamSnapshot::capture(&model).unwrap();
    let batches: Vec<_> = (0..2).map(|s| batch(8, 3, 8, 4, s, &device)).collect();
    let logits = |m: &SmallCnn, (x, y): (Tensor<4>, Tensor<1, Int>)| (m.forward(x), y);
    let grasp = GraspConfig::new().init().unwrap();
    let scores = grasp.scores(&model, &batches, logits).unwrap();
    assert_eq!(scores.scores.len(), 3);
    assert!(scores.step > 0.0);
    // The training-mode passes ran on a copy: running statistics included, nothing changed.
    assert_eq!(ParamSnapshot::capture(&model).unwrap(), before);

    let err = grasp.scores(&model, &[], logits).unwrap_err().to_string();
    assert!(err.contains("no batch"), "{err}");
    // A model on a plain device is scored through its autodiff twin: the same scores.
    let plain = Device::flex();
    let on_plain = model.valid();
    let plain_batches: Vec<_> = (0..2).map(|s| batch(8, 3, 8, 4, s, &plain)).collect();
    let again = grasp.scores(&on_plain, &plain_batches, logits).unwrap();
    for (path, s) in &scores.scores {
        let t = &again.scores[path];
        let scale = s.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in s.iter().zip(t) {
            assert!((a - b).abs() <= 1e-6 * scale, "{path}: {a} vs {b}");
        }
    }
    let wrong_labels = vec![(batches[0].0.clone(), batches[1].1.clone().slice(0..3))];
    let err = grasp
        .scores(&model, &wrong_labels, logits)
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 labels for 8 rows"), "{err}");
    assert!(GraspConfig::new().with_relative_step(-1.0).init().is_err());
}

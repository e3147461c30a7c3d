//! SNIP against `|g·w|` computed by hand.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_prune::PrunerConfig;
use burn_prune::criterion::Magnitude;
use burn_prune::pai::Snip;

#[derive(Module, Debug)]
struct Net {
    fc: Linear,
}

fn net(device: &Device) -> Net {
    let mut fc = LinearConfig::new(2, 2).with_bias(false).init(device);
    // Burn's linear weight is [d_input, d_output].
    fc.weight = fc.weight.map(|w| {
        Tensor::from_data(
            TensorData::new(vec![0.5f32, -1.0, 2.0, 0.1], [2, 2]),
            &w.device(),
        )
        .require_grad()
    });
    Net { fc }
}

/// `x = [1, 2]`, `y = x·W = [4.5, −0.8]`, `L = (y₀² + y₁²)/2`: `∂L/∂W_ij = x_i·y_j`, so
/// `|g·w|` = `[[2.25, 0.8], [18, 0.16]]`. Magnitude would rank `[[0.5, 1], [2, 0.1]]`.
#[test]
fn snip_scores_are_gradient_times_weight_computed_by_hand() {
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 2]), &device);
    let loss = |n: &Net, x: Tensor<2>| n.fc.forward(x).powi_scalar(2).sum().div_scalar(2.0);
    for (sparsity, keep) in [
        (0.5, vec![true, false, true, false]),
        (0.75, vec![false, false, true, false]),
        (0.25, vec![true, true, true, false]),
    ] {
        let masks = PrunerConfig::new(sparsity)
            .init(Snip)
            .unwrap()
            .masks_with_data(&net(&device), [x.clone()], loss)
            .unwrap();
        assert_eq!(
            masks.get("fc.weight").unwrap().keep.to_bools(),
            keep,
            "sparsity {sparsity}"
        );
    }
    // Magnitude keeps a different half: SNIP is not magnitude in disguise.
    let magnitude = PrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&net(&device))
        .unwrap();
    assert_eq!(
        magnitude.get("fc.weight").unwrap().keep.to_bools(),
        vec![false, true, true, false]
    );
}

#[test]
fn snip_without_batches_is_an_error() {
    let device = Device::flex().autodiff();
    let err = PrunerConfig::new(0.5)
        .init(Snip)
        .and_then(|p| p.masks(&net(&device)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("snip"), "{err}");
}

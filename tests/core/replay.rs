//! Replaying a trace on a real backend: every intermediate tensor is readable and equals what
//! the model computes directly.

use crate::common::{SmallCnn, assert_close, randomize_batch_norms, values};
use burn::backend::ir::{ActivationOperationIr, OperationIr};
#[allow(deprecated)]
use burn::backend::{Flex, FlexDevice, NdArray, NdArrayDevice};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune::criterion::Magnitude;
use burn_prune::models::ResNetCifarConfig;
use burn_prune::structure::{Replay, trace};
use burn_prune::{PruneError, PrunerConfig};

fn floats(data: TensorData) -> Vec<f32> {
    data.convert::<f32>().try_into_vec::<f32>().unwrap()
}

#[test]
#[allow(deprecated)] // burn 0.22 deprecates ndarray; it is still one of our backends
fn replayed_resnet_equals_the_direct_forward_on_flex_and_ndarray() {
    let device = Device::flex();
    let model = randomize_batch_norms(ResNetCifarConfig::new(20).init(&device).unwrap(), 3);
    let shape = [2, 3, 16, 16];
    let t = trace(&model, shape, |m, x| m.forward(x)).unwrap();
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let direct = values(model.forward(x.clone()));

    let on_flex = Replay::<Flex>::new(&t, &model, FlexDevice).unwrap();
    let out = on_flex.run(x.to_data(), &[t.output()]).unwrap();
    assert_close(&floats(out[0].clone()), &direct);

    let on_ndarray = Replay::<NdArray>::new(&t, &model, NdArrayDevice::Cpu).unwrap();
    let out = on_ndarray.run(x.to_data(), &[t.output()]).unwrap();
    assert_close(&floats(out[0].clone()), &direct);
    // A second run of the same replay starts from scratch.
    let again = on_flex.run(x.to_data(), &[t.output()]).unwrap();
    assert_close(&floats(again[0].clone()), &direct);
}

#[test]
fn intermediate_activations_are_readable() {
    let device = Device::flex();
    let model = randomize_batch_norms(SmallCnn::new(&[3, 4, 6], 5, &device), 11);
    let shape = [3, 3, 8, 8];
    let t = trace(&model, shape, |m, x| m.forward(x)).unwrap();
    let relus: Vec<_> = t
        .operations()
        .iter()
        .filter_map(|op| match op {
            OperationIr::Activation(ActivationOperationIr::Relu(r)) => Some(r.out.id),
            _ => None,
        })
        .collect();
    assert_eq!(relus.len(), 2);
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let replay = Replay::<Flex>::new(&t, &model, FlexDevice).unwrap();
    let got = replay.run(x.to_data(), &relus).unwrap();

    let b0 = &model.blocks[0];
    let a0 = b0.act.forward(b0.bn.forward(b0.conv.forward(x)));
    let b1 = &model.blocks[1];
    let a1 = b1.act.forward(b1.bn.forward(b1.conv.forward(a0.clone())));
    assert_eq!(got[0].shape().as_slice(), &[3, 4, 8, 8]);
    assert_close(&floats(got[0].clone()), &values(a0));
    assert_close(&floats(got[1].clone()), &values(a1));
    assert_eq!(
        replay.tensor(relus[1]).unwrap().shape.as_slice(),
        &[3, 6, 8, 8]
    );
}

#[test]
fn masks_installed_in_the_model_are_applied_by_the_replay() {
    let device = Device::flex();
    let model = SmallCnn::new(&[3, 4, 6], 5, &device);
    let (model, _) = PrunerConfig::new(0.6)
        .init(Magnitude::l1())
        .unwrap()
        .prune(model)
        .unwrap();
    let shape = [2, 3, 8, 8];
    let t = trace(&model, shape, |m, x| m.forward(x)).unwrap();
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let direct = values(model.forward(x.clone()));
    let unmasked = values(
        burn_prune::remove_masks(model.clone())
            .unwrap()
            .forward(x.clone()),
    );
    let replay = Replay::<Flex>::new(&t, &model, FlexDevice).unwrap();
    let out = floats(replay.run(x.to_data(), &[t.output()]).unwrap().remove(0));
    assert_close(&out, &direct);
    assert!(out.iter().zip(&unmasked).any(|(a, b)| (a - b).abs() > 1e-3));
}

#[test]
fn bad_replay_inputs_are_errors() {
    let device = Device::flex();
    let model = SmallCnn::new(&[3, 4], 2, &device);
    let t = trace(&model, [1, 3, 4, 4], |m, x| m.forward(x)).unwrap();
    let replay = Replay::<Flex>::new(&t, &model, FlexDevice).unwrap();

    let wrong = TensorData::zeros::<f32, _>([2, 3, 4, 4]);
    let err = replay.run(wrong, &[t.output()]).unwrap_err();
    assert!(matches!(&err, PruneError::Replay { reason } if reason.contains("[2, 3, 4, 4]")));

    let ok = TensorData::zeros::<f32, _>([1, 3, 4, 4]);
    let err = replay.run(ok.clone(), &[t.input()]).unwrap_err();
    assert!(matches!(&err, PruneError::Replay { reason } if reason.contains("no operation")));

    let ints = TensorData::zeros::<i32, _>([1, 3, 4, 4]);
    assert!(matches!(
        replay.run(ints, &[t.output()]),
        Err(PruneError::Replay { .. })
    ));

    // Another model than the traced one.
    let wider = SmallCnn::new(&[3, 5], 2, &device);
    let err = Replay::<Flex>::new(&t, &wider, FlexDevice).unwrap_err();
    assert!(
        matches!(&err, PruneError::Replay { reason } if reason.contains("blocks.0.conv.weight")),
        "{err}"
    );
    assert!(replay.run(ok, &[]).unwrap().is_empty());
}

//! Sparse Structure Selection (Huang & Wang 2018): the APG update by hand, block removal as an
//! equivalence, and a small ResNet that drops blocks on the quadrant task.

use crate::common::{randomize_batch_norms, values};
use crate::task::quadrants;
use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn_prune::models::{
    ModelError, ResNetCifar, ResNetCifarConfig, ResNetImagenetConfig, param_count,
};
use burn_prune::schedule::ScheduleError;
use burn_prune::schedule::methods::{
    BlockId, ResidualStages, ScaledBlock, SparseStructureSelectionConfig, block_scales,
};

fn id(stage: usize, index: usize) -> BlockId {
    BlockId { stage, index }
}

fn set_scale<M: ResidualStages>(mut model: M, block: BlockId, lambda: f32, device: &Device) -> M {
    let mut stages = model.stages_mut();
    let slot = stages[block.stage][block.index].scale_mut();
    *slot = Some(Param::from_tensor(Tensor::from_data([lambda], device)));
    model
}

fn scale_id(model: &ResNetCifar, block: BlockId) -> burn::module::ParamId {
    let stage = [&model.layer1, &model.layer2, &model.layer3][block.stage];
    stage[block.index].scale.as_ref().unwrap().id
}

fn scale_of(model: &ResNetCifar, block: BlockId) -> f32 {
    block_scales(model)
        .unwrap()
        .into_iter()
        .find(|(b, _)| *b == block)
        .unwrap()
        .1
}

#[test]
fn apg_update_matches_two_steps_computed_by_hand() {
    let device = Device::flex();
    let model = ResNetCifarConfig::new(8)
        .init(&device)
        .unwrap()
        .with_block_scales();
    // η = 0.5, γ = 0.25 (threshold ηγ = 0.125), μ = 0.5; every number below is dyadic, so
    // f32 holds it exactly.
    let mut sss = SparseStructureSelectionConfig::new(0.5)
        .with_penalty(0.25)
        .with_momentum(0.5)
        .init()
        .unwrap();
    let (a, b, c) = (id(0, 0), id(1, 0), id(2, 0));
    let (ia, ib, ic) = (
        scale_id(&model, a),
        scale_id(&model, b),
        scale_id(&model, c),
    );
    let fc_id = model.fc.weight.id;

    let grads = |ga: f32, gb: f32| {
        let mut g = GradientsParams::new();
        g.register(ia, Tensor::<1>::from_data([ga], &device));
        g.register(ib, Tensor::<1>::from_data([gb], &device));
        g.register(fc_id, Tensor::<2>::ones([64, 10], &device));
        g
    };

    // Step 1, block a: λ = 1, ∇ = 0.5, v = 0.
    //   z = 1 − 0.5·0.5 = 0.75 → 0.75 − 0.125 = 0.625
    //   v = 0.625 − 1 + 0.5·0 = −0.375;  λ = 0.625 + 0.5·(−0.375) = 0.4375
    // block b: λ = 1, ∇ = 2: z = 1 − 1 = 0 → 0; v = 0 − 1 = −1; λ = 0 + 0.5·(−1) = −0.5
    // block c has no gradient: untouched.
    let (model, rest) = sss.step(model, grads(0.5, 2.0)).unwrap();
    assert_eq!(scale_of(&model, a), 0.4375);
    assert_eq!(sss.velocity(ia), Some(-0.375));
    assert_eq!(scale_of(&model, b), -0.5);
    assert_eq!(sss.velocity(ib), Some(-1.0));
    assert_eq!(scale_of(&model, c), 1.0);
    assert_eq!(sss.velocity(ic), None);
    // The scale gradients are taken out, the others stay for the optimizer.
    assert!(rest.get::<1>(ia).is_none() && rest.get::<1>(ib).is_none());
    assert_eq!(rest.len(), 1);
    assert!(rest.get::<2>(fc_id).is_some());

    // Step 2, block a: λ = 0.4375, ∇ = −0.25, v = −0.375.
    //   z = 0.4375 + 0.125 = 0.5625 → 0.4375
    //   v = 0.4375 − 0.4375 + 0.5·(−0.375) = −0.1875;  λ = 0.4375 − 0.09375 = 0.34375
    // block b: λ = −0.5, ∇ = −1: z = −0.5 + 0.5 = 0 → 0;
    //   v = 0 + 0.5 + 0.5·(−1) = 0;  λ = 0: a second step at z = 0 lands exactly on zero.
    let (model, _) = sss.step(model, grads(-0.25, -1.0)).unwrap();
    assert_eq!(scale_of(&model, a), 0.34375);
    assert_eq!(sss.velocity(ia), Some(-0.1875));
    assert_eq!(scale_of(&model, b), 0.0);
    assert_eq!(sss.velocity(ib), Some(0.0));
    // Ids are kept, so the regular optimizer's state and the momentum buffers stay attached.
    assert_eq!(scale_id(&model, a), ia);
}

fn invalid<T>(r: Result<T, ScheduleError>) -> bool {
    matches!(r, Err(ScheduleError::InvalidConfig { .. }))
}

#[test]
fn bad_configurations_and_models_are_typed_errors() {
    assert!(invalid(SparseStructureSelectionConfig::new(0.0).init()));
    assert!(invalid(
        SparseStructureSelectionConfig::new(f64::NAN).init()
    ));
    assert!(invalid(
        SparseStructureSelectionConfig::new(0.1)
            .with_penalty(-1.0)
            .init()
    ));
    assert!(invalid(
        SparseStructureSelectionConfig::new(0.1)
            .with_momentum(1.0)
            .init()
    ));
    let mut sss = SparseStructureSelectionConfig::new(0.1).init().unwrap();
    assert!(invalid(sss.set_lr(-0.1)));
    assert_eq!(sss.lr(), 0.1);

    let device = Device::flex();
    let plain = ResNetCifarConfig::new(8).init(&device).unwrap();
    let no_scales = sss.step(plain, GradientsParams::new());
    assert!(matches!(no_scales, Err(ScheduleError::Model { .. })));
    let scaled = ResNetCifarConfig::new(8)
        .init(&device)
        .unwrap()
        .with_block_scales();
    // Gradients that hold no scale (taken from another model): refused, nothing changed.
    assert!(matches!(
        sss.step(scaled, GradientsParams::new()),
        Err(ScheduleError::Model { .. })
    ));
    let model = ResNetCifarConfig::new(8).init(&device).unwrap();
    assert!(matches!(
        model.remove_blocks(&[id(0, 1)]),
        Err(ScheduleError::Model { reason, .. }) if reason.starts_with("layer1.1:")
    ));
}

#[test]
fn removing_zero_scale_blocks_changes_no_output_and_keeps_downsampling_blocks() {
    let device = Device::flex();
    device.seed(11);
    let model = ResNetCifarConfig::new(14).init(&device).unwrap();
    let model = randomize_batch_norms(model, 5).with_block_scales();
    // Zero: layer1.1, layer2.0 (downsamples), layer2.1; the others get scales ≠ 1.
    let mut model = model;
    for (block, lambda) in [
        (id(0, 0), 0.7),
        (id(0, 1), 0.0),
        (id(1, 0), 0.0),
        (id(1, 1), 0.0),
        (id(2, 0), -0.3),
        (id(2, 1), 1.9),
    ] {
        model = set_scale(model, block, lambda, &device);
    }
    let x = Tensor::<4>::random(
        [4, 3, 16, 16],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let before = values(model.forward(x.clone()));
    let params_before = param_count(&model);

    let mut sss = SparseStructureSelectionConfig::new(0.1).init().unwrap();
    let (pruned, selection) = sss.remove_zero_blocks(model).unwrap();
    assert_eq!(selection.removed, vec![id(0, 1), id(1, 1)]);
    assert_eq!(selection.kept, vec![id(1, 0)]);
    assert_eq!(selection.scales.len(), 6);
    assert_eq!(
        (
            pruned.layer1.len(),
            pruned.layer2.len(),
            pruned.layer3.len()
        ),
        (1, 1, 2)
    );
    // Exactly equal: a zero-scale block passes its non-negative input through unchanged.
    assert_eq!(values(pruned.forward(x)), before);
    // layer1.1: two 16→16 3×3 convs, two BNs (γ, β), the scale: 2·2304 + 2·32 + 1 = 4673;
    // layer2.1: two 32→32 3×3 convs, two BNs, the scale: 2·9216 + 2·64 + 1 = 18561.
    assert_eq!(params_before - param_count(&pruned), 4673 + 18561);
    // What is left has no zero scale except the kept downsampling block.
    let left = block_scales(&pruned).unwrap();
    assert_eq!(
        left.iter()
            .filter(|(_, l)| *l == 0.0)
            .map(|(b, _)| *b)
            .collect::<Vec<_>>(),
        vec![id(1, 0)]
    );
}

#[test]
fn imagenet_resnet_blocks_are_removed_the_same_way() {
    let device = Device::flex();
    device.seed(12);
    let model = ResNetImagenetConfig::resnet18()
        .with_num_classes(5)
        .init(&device)
        .unwrap();
    let model = randomize_batch_norms(model, 9).with_block_scales();
    let model = set_scale(model, id(0, 1), 0.0, &device);
    let model = set_scale(model, id(1, 0), 0.0, &device);
    let model = set_scale(model, id(3, 1), 0.5, &device);
    let x = Tensor::<4>::random(
        [2, 3, 32, 32],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let before = values(model.forward(x.clone()));
    let mut sss = SparseStructureSelectionConfig::new(0.1).init().unwrap();
    let (pruned, selection) = sss.remove_zero_blocks(model).unwrap();
    assert_eq!(selection.removed, vec![id(0, 1)]);
    assert_eq!(selection.kept, vec![id(1, 0)]);
    assert_eq!(pruned.layer1.len(), 1);
    assert_eq!(values(pruned.forward(x)), before);
}

/// Cross-entropy of a ResNet's logits.
fn loss(model: &ResNetCifar, x: Tensor<4>, y: Tensor<1, Int>) -> Tensor<1> {
    let logits = model.forward(x);
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, y)
}

fn accuracy(model: &ResNetCifar, x: Tensor<4>, y: Tensor<1, Int>) -> f64 {
    let n = y.dims()[0];
    let predicted = model.valid().forward(x.inner()).argmax(1).reshape([n]);
    let correct = predicted.equal(y.inner()).int().sum().into_scalar::<i64>();
    correct as f64 / n as f64
}

#[test]
fn a_large_penalty_drops_blocks_of_a_small_resnet_that_still_solves_the_task() {
    let device = Device::flex().autodiff();
    device.seed(21);
    // ResNet-14 (two blocks per stage), 8 filters in the first conv of every block.
    let model = ResNetCifarConfig::new(14)
        .with_num_classes(4)
        .with_block_widths(Some(vec![8; 6]))
        .init(&device)
        .unwrap()
        .with_block_scales();
    let (x, y) = quadrants(512, 3, &device);
    let (x_test, y_test) = quadrants(256, 4, &device);
    // γ = 0.1, ten times the paper's ImageNet value, with η = 0.1 and μ = 0.9.
    let mut sss = SparseStructureSelectionConfig::new(0.1)
        .with_penalty(0.1)
        .init()
        .unwrap();
    let mut optim = AdamConfig::new().init();
    let mut model = model;
    for step in 0..160 {
        let b = step % 16;
        let batch = b * 32..(b + 1) * 32;
        let l = loss(
            &model,
            x.clone().slice(batch.clone()),
            y.clone().slice(batch),
        );
        let grads = GradientsParams::from_grads(l.backward(), &model);
        let (scaled, grads) = sss.step(model, grads).unwrap();
        model = optim.step(1e-2, scaled, grads);
    }
    let trained_accuracy = accuracy(&model, x_test.clone(), y_test.clone());
    let params = param_count(&model);
    let (pruned, selection) = sss.remove_zero_blocks(model).unwrap();
    let pruned_accuracy = accuracy(&pruned, x_test, y_test);
    eprintln!(
        "sparse structure selection: removed {:?}, kept {:?}; held-out accuracy {trained_accuracy} \
         before removal, {pruned_accuracy} after",
        selection.removed, selection.kept
    );
    assert!(!selection.removed.is_empty(), "no block reached λ = 0");
    let zero: Vec<BlockId> = selection
        .scales
        .iter()
        .filter(|(_, l)| *l == 0.0)
        .map(|(b, _)| *b)
        .collect();
    // Every zero-scale block is removed except the downsampling ones (first of stages 2, 3).
    for b in &zero {
        let downsamples = b.stage > 0 && b.index == 0;
        assert_eq!(selection.kept.contains(b), downsamples, "{b}");
        assert_eq!(selection.removed.contains(b), !downsamples, "{b}");
    }
    assert_eq!(selection.removed.len() + selection.kept.len(), zero.len());
    assert!(param_count(&pruned) < params);
    // Removal is exact, so the held-out predictions are those of the trained network.
    assert_eq!(pruned_accuracy, trained_accuracy);
    assert!(pruned_accuracy >= 0.9, "accuracy {pruned_accuracy}");
}

/// The largest absolute difference between two equally long vectors.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_configuration_without_the_removed_blocks_loads_the_cut_model() {
    let device = Device::flex();
    device.seed(13);
    // ResNet-20 with custom inner widths: removing blocks must also drop their widths.
    let widths = vec![4, 5, 6, 7, 8, 9, 10, 11, 12];
    let config = ResNetCifarConfig::new(20).with_block_widths(Some(widths));
    let model = randomize_batch_norms(config.init(&device).unwrap(), 3).with_block_scales();
    let zero = [id(0, 0), id(0, 2), id(1, 1), id(2, 2)];
    let mut model = model;
    for b in zero {
        model = set_scale(model, b, 0.0, &device);
    }
    let x = Tensor::<4>::random(
        [3, 3, 12, 12],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let (cut, removal) = model.remove_blocks(&zero).unwrap();
    assert_eq!(removal.removed, zero.to_vec());
    let before = values(cut.forward(x.clone()));

    let cut_config = config.without_blocks(&zero).unwrap();
    assert_eq!(cut_config.stage_blocks, Some(vec![1, 2, 2]));
    // Blocks left: layer1.1 (5), layer2.0 (7), layer2.2 (9), layer3.0 (10), layer3.1 (11).
    assert_eq!(cut_config.block_widths, Some(vec![5, 7, 9, 10, 11]));
    let rebuilt = cut_config
        .init(&device)
        .unwrap()
        .with_block_scales()
        .load_record(cut.clone().into_record());
    assert_eq!(param_count(&rebuilt), param_count(&cut));
    assert_eq!(values(rebuilt.forward(x)), before);
}

#[test]
fn stage_block_counts_that_cannot_be_built_are_errors() {
    let device = Device::flex();
    let config = ResNetCifarConfig::new(20);
    assert!(matches!(
        config
            .clone()
            .with_stage_blocks(Some(vec![1, 1]))
            .init(&device),
        Err(ModelError::StageBlocksLength { got: 2 })
    ));
    assert!(matches!(
        config
            .clone()
            .with_stage_blocks(Some(vec![1, 1, 0]))
            .init(&device),
        Err(ModelError::EmptyStage { stage: 2 })
    ));
    assert!(matches!(
        config.without_blocks(&[id(2, 0)]),
        Err(ModelError::BlockChangesShape { .. })
    ));
    assert!(matches!(
        config.without_blocks(&[id(0, 3)]),
        Err(ModelError::UnknownBlock { .. })
    ));
    // Stage 1 may lose every block: its blocks keep the stem's shape.
    let empty_first = config
        .without_blocks(&[id(0, 0), id(0, 1), id(0, 2)])
        .unwrap();
    let model = empty_first.init(&device).unwrap();
    assert!(model.layer1.is_empty());
    let y = model.forward(Tensor::zeros([1, 3, 8, 8], &device));
    assert_eq!(y.dims(), [1, 10]);
}

#[test]
fn folding_scales_into_batch_norms_keeps_outputs_in_training_and_inference() {
    let device = Device::flex().autodiff();
    device.seed(14);
    let model = ResNetCifarConfig::new(14).init(&device).unwrap();
    let mut model = randomize_batch_norms(model, 7).with_block_scales();
    for (block, lambda) in [
        (id(0, 0), 0.5),
        (id(0, 1), -1.25),
        (id(1, 0), 0.0),
        (id(1, 1), 2.0),
        (id(2, 0), 0.75),
        (id(2, 1), 1.5),
    ] {
        model = set_scale(model, block, lambda, &device);
    }
    let x = Tensor::<4>::random(
        [4, 3, 12, 12],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    // Inference first: a forward pass in training mode updates the running statistics.
    let eval_before = values(model.valid().forward(x.clone().inner()));
    let folded = model.clone().fold_block_scales();
    assert!(folded.blocks().iter().all(|(_, b)| b.scale().is_none()));
    assert!(
        max_diff(
            &values(folded.valid().forward(x.clone().inner())),
            &eval_before
        ) < 1e-5
    );
    // Training mode normalises with the batch's statistics: the same outputs too.
    let train_before = values(model.forward(x.clone()));
    assert!(max_diff(&values(folded.forward(x.clone())), &train_before) < 1e-5);
    // The folded network is the plain architecture: a configuration without scales holds it.
    let plain = ResNetCifarConfig::new(14).init(&device).unwrap();
    assert_eq!(param_count(&folded), param_count(&plain));
    // The folded affine parameters of a freshly built network still train (the randomised
    // ones above were written as plain values).
    let fresh = ResNetCifarConfig::new(8)
        .init(&device)
        .unwrap()
        .with_block_scales();
    let fresh = set_scale(fresh, id(1, 0), 0.5, &device).fold_block_scales();
    let loss = fresh.forward(x).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &fresh);
    let bn = &fresh.layer2[0].conv2.bn;
    assert!(grads.get::<1>(bn.gamma.id).is_some());
    assert!(grads.get::<1>(bn.beta.id).is_some());
}

#[test]
fn momentum_buffers_saved_by_block_resume_a_rebuilt_model_exactly() {
    let device = Device::flex().autodiff();
    device.seed(15);
    let config = ResNetCifarConfig::new(8).with_num_classes(4);
    let (x, y) = quadrants(64, 5, &device);
    let step = |sss: &mut burn_prune::schedule::methods::SparseStructureSelection,
                model: ResNetCifar| {
        let l = loss(&model, x.clone(), y.clone());
        let grads = GradientsParams::from_grads(l.backward(), &model);
        sss.step(model, grads).unwrap().0
    };
    let mut sss = SparseStructureSelectionConfig::new(0.1)
        .with_penalty(0.05)
        .init()
        .unwrap();
    let mut model = config.init(&device).unwrap().with_block_scales();
    for _ in 0..2 {
        model = step(&mut sss, model);
    }
    let saved = sss.velocities(&model);
    assert_eq!(saved.len(), 3);
    assert!(saved.iter().any(|(_, v)| *v != 0.0));
    // A rebuilt network (new parameter ids) with the record loaded and a new state.
    let rebuilt = config
        .init(&device)
        .unwrap()
        .with_block_scales()
        .load_record(model.clone().into_record());
    let mut resumed = SparseStructureSelectionConfig::new(0.1)
        .with_penalty(0.05)
        .init()
        .unwrap();
    resumed.set_velocities(&rebuilt, &saved).unwrap();
    assert_eq!(resumed.velocities(&rebuilt), saved);
    let continued = block_scales(&step(&mut sss, model)).unwrap();
    let after_resume = block_scales(&step(&mut resumed, rebuilt)).unwrap();
    assert_eq!(after_resume, continued);
    // Unknown blocks and non-finite values are refused.
    let plain = ResNetCifarConfig::new(8).init(&device).unwrap();
    assert!(matches!(
        resumed.set_velocities(&plain, &saved),
        Err(ScheduleError::Model { .. })
    ));
    let scaled = plain.with_block_scales();
    assert!(
        resumed
            .set_velocities(&scaled, &[(id(0, 0), f32::NAN)])
            .is_err()
    );
}

#[test]
fn a_tolerance_removes_small_scales_and_changes_outputs_by_their_branches_only() {
    let device = Device::flex();
    device.seed(16);
    let model = ResNetCifarConfig::new(14).init(&device).unwrap();
    let model = randomize_batch_norms(model, 4).with_block_scales();
    let model = set_scale(model, id(0, 1), 0.004, &device);
    let model = set_scale(model, id(2, 1), -0.009, &device);
    let model = set_scale(model, id(1, 1), 0.02, &device);
    let model = set_scale(model, id(1, 0), 0.001, &device);
    let mut sss = SparseStructureSelectionConfig::new(0.1).init().unwrap();
    let (cut, selection) = sss.remove_blocks_below(model.clone(), 0.01).unwrap();
    assert_eq!(selection.removed, vec![id(0, 1), id(2, 1)]);
    assert_eq!(selection.kept, vec![id(1, 0)]);
    // The same network with those two scales set to zero: removal is then exact.
    let zeroed = set_scale(model.clone(), id(0, 1), 0.0, &device);
    let zeroed = set_scale(zeroed, id(2, 1), 0.0, &device);
    let x = Tensor::<4>::random(
        [2, 3, 12, 12],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    assert_eq!(
        values(cut.forward(x.clone())),
        values(zeroed.forward(x.clone()))
    );
    // ... and close to the network before, as the scales were small.
    let before = values(model.forward(x.clone()));
    let after = values(cut.forward(x));
    assert_ne!(before, after);
    assert!(max_diff(&before, &after) < 0.1 * before.iter().fold(0.0f32, |m, v| m.max(v.abs())));
    // Zero tolerance is exact removal; a negative one is refused.
    let (_, exact) = sss.remove_blocks_below(model.clone(), 0.0).unwrap();
    assert!(exact.removed.is_empty());
    assert!(sss.remove_blocks_below(model, -0.1).is_err());
}

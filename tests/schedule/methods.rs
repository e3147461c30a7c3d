//! Lottery tickets, soft filter pruning, network slimming and early-bird training on the
//! quadrant task.

use crate::common::SmallCnn;
use crate::task::{Batches, accuracy, loss, quadrants, train};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn_prune::metrics::early_bird::EarlyBirdConfig;
use burn_prune::schedule::methods::{
    EarlyBirdTraining, LotteryTicketConfig, NetworkSlimmingConfig, SoftFilterPruningConfig,
};
use burn_prune::structure::{DependencyGraph, GraphOptions, trace};
use burn_prune::{ParamSnapshot, masks_of};

fn graph(model: &SmallCnn) -> DependencyGraph {
    let t = trace(model, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    DependencyGraph::build(&t, &GraphOptions::default()).unwrap()
}

fn gammas(model: &SmallCnn) -> Vec<f32> {
    model
        .blocks
        .iter()
        .flat_map(|b| {
            b.bn.gamma
                .val()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap()
        })
        .collect()
}

/// Train with the slimming penalty added to every step's gradients.
fn train_slimming(
    mut model: SmallCnn,
    data: &Batches,
    epochs: usize,
    penalty: f64,
    mut after_epoch: impl FnMut(&SmallCnn) -> bool,
) -> SmallCnn {
    let slimming = NetworkSlimmingConfig::new(0.5)
        .with_penalty(penalty)
        .init()
        .unwrap();
    let mut optim = AdamConfig::new().init();
    for _ in 0..epochs {
        for (x, y) in &data.batches {
            let grads =
                GradientsParams::from_grads(loss(&model, x.clone(), y.clone()).backward(), &model);
            let grads = slimming.add_penalty(&model, grads).unwrap();
            model = optim.step(1e-2, model, grads);
        }
        if after_epoch(&model) {
            break;
        }
    }
    model
}

#[test]
fn lottery_rounds_prune_a_fifth_of_the_rest_and_rewind_the_survivors_exactly() {
    let device = Device::flex().autodiff();
    device.seed(31);
    let model = SmallCnn::new(&[3, 8, 16], 4, &device);
    let at_init = ParamSnapshot::capture(&model).unwrap();
    let data = Batches::new(256, 5, &device);
    let lottery = LotteryTicketConfig::new().init().unwrap();
    let mut model = model;
    let mut previous: Option<burn_prune::MaskSet> = None;
    for round in 1..=3u32 {
        let trained = train(model, &data, 2, |m, _| m, |m, _| m);
        let (rewound, r) = lottery.next_round(trained, &at_init).unwrap();
        let (total, pruned) = r.masks.counts();
        let expected = lottery.sparsity_after(round) * total as f64;
        assert!(
            (pruned as f64 - expected).abs() <= 2.0,
            "round {round}: {pruned} of {total}"
        );
        assert_eq!(r.held_pruned, 0);
        // Every stored value is back at its initial value, bit for bit.
        let now = ParamSnapshot::capture(&rewound).unwrap();
        for path in at_init.paths() {
            assert_eq!(now.get(path), at_init.get(path), "{path} not rewound");
        }
        // Masks only grow.
        if let Some(prev) = &previous {
            for m in r.masks.iter() {
                let p = prev.get(&m.path).unwrap().keep.to_bools();
                assert!(
                    m.keep
                        .to_bools()
                        .iter()
                        .zip(p)
                        .all(|(&now, was)| was || !now)
                );
            }
        }
        assert_eq!(masks_of(&rewound).unwrap(), {
            let mut installed = r.masks.clone();
            // masks_of reports element granularity; compare the bits only.
            for m in r.masks.iter() {
                let mut e = m.clone();
                e.granularity = burn_prune::Granularity::Element;
                installed.insert(e).unwrap();
            }
            installed
        });
        previous = Some(r.masks);
        model = rewound;
    }
    // The ticket (48.8% sparse) trained from the initial values learns the task.
    let ticket = train(model, &data, 4, |m, _| m, |m, _| m);
    let (x, y) = quadrants(256, 77, &device);
    let acc = accuracy(&ticket, x, y);
    assert!(acc >= 0.9, "ticket accuracy {acc}");

    // The random re-initialisation control: the same masks, a fresh twin's values.
    device.seed(32);
    let twin = SmallCnn::new(&[3, 8, 16], 4, &device);
    let control_init = ParamSnapshot::capture(&twin).unwrap();
    let masks = masks_of(&ticket).unwrap();
    let control = control_init.restore(ticket).unwrap();
    assert_eq!(masks_of(&control).unwrap(), masks);
    assert_eq!(ParamSnapshot::capture(&control).unwrap(), control_init);

    // A snapshot of another architecture is refused.
    let other = ParamSnapshot::capture(&SmallCnn::new(&[3, 4], 4, &device)).unwrap();
    let err = other.restore(control).unwrap_err().to_string();
    assert!(
        err.contains("the snapshot holds shape [4], the model has [8]"),
        "{err}"
    );
}

#[test]
fn soft_pruned_filters_recover_during_training_and_are_removed_at_the_end() {
    let device = Device::flex().autodiff();
    device.seed(41);
    let model = SmallCnn::new(&[3, 8, 16], 4, &device);
    let data = Batches::new(256, 6, &device);
    let sfp = SoftFilterPruningConfig::new(0.75).init().unwrap();
    let mut zeroed = Vec::new();
    let mut recovered = 0;
    let filter_norm = |m: &SmallCnn, f: usize| {
        let w = m.blocks[1]
            .conv
            .weight
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        w[f * 72..(f + 1) * 72].iter().map(|v| v * v).sum::<f32>()
    };
    let last_zeroed = std::cell::RefCell::new(Vec::<usize>::new());
    let trained = train(
        model,
        &data,
        4,
        |m, step| {
            // The step after each epoch's zeroing: the zeroed filters move again.
            if step % 8 == 1 && step > 1 {
                recovered += last_zeroed
                    .borrow()
                    .iter()
                    .filter(|&&f| filter_norm(&m, f) > 0.0)
                    .count();
            }
            m
        },
        |m, _| {
            let (m, masks) = sfp.zero_filters(m).unwrap();
            let keep = masks.get("blocks.1.conv.weight").unwrap().unit_counts();
            assert_eq!(keep, (16, 4), "a quarter of the 16 filters");
            let bits = masks.get("blocks.1.conv.weight").unwrap().keep.to_bools();
            *last_zeroed.borrow_mut() = (0..16).filter(|&f| !bits[f * 72]).collect();
            for &f in last_zeroed.borrow().iter() {
                assert_eq!(filter_norm(&m, f), 0.0, "filter {f} zeroed");
            }
            assert!(masks_of(&m).unwrap().is_empty(), "no mask installed");
            zeroed.push(last_zeroed.borrow().clone());
            m
        },
    );
    assert_eq!(
        recovered,
        3 * 4,
        "every zeroed filter is non-zero after the next step"
    );
    // Hard pruning: the last zeroed filters are the ones removed.
    let g = graph(&trained);
    let (compact, plan) = sfp.compact(trained, &g).unwrap();
    assert_eq!(compact.blocks[1].conv.weight.dims(), [12, 6, 3, 3]);
    assert_eq!(compact.blocks[0].conv.weight.dims(), [6, 3, 3, 3]);
    let kept = &plan.params["blocks.1.conv.weight"]
        .keep
        .iter()
        .find(|k| k.axis == 0)
        .unwrap()
        .indices;
    assert!(zeroed.last().unwrap().iter().all(|f| !kept.contains(f)));
    // Fine-tuned briefly, the compact model solves the task.
    let tuned = train(compact, &data, 2, |m, _| m, |m, _| m);
    let (x, y) = quadrants(256, 78, &device);
    let acc = accuracy(&tuned, x, y);
    assert!(acc >= 0.9, "accuracy {acc}");
}

#[test]
fn slimming_penalty_is_lambda_sign_gamma_and_drives_the_scales_toward_zero() {
    let device = Device::flex().autodiff();
    device.seed(51);
    let model = SmallCnn::new(&[3, 8, 16], 4, &device);
    // Hand check: the penalty adds exactly λ·sign(γ) to each scale's gradient.
    let (x, y) = quadrants(32, 9, &device);
    let grads = GradientsParams::from_grads(loss(&model, x, y).backward(), &model);
    let id = model.blocks[0].bn.gamma.id;
    let before = grads
        .get::<1>(id)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let slimming = NetworkSlimmingConfig::new(0.5)
        .with_penalty(0.25)
        .init()
        .unwrap();
    let grads = slimming.add_penalty(&model, grads).unwrap();
    let after = grads
        .get::<1>(id)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let gamma = model.blocks[0]
        .bn
        .gamma
        .val()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    for i in 0..8 {
        assert_eq!(
            after[i],
            before[i] + 0.25 * gamma[i].signum(),
            "channel {i}"
        );
    }

    // Trained with and without the penalty from the same start.
    let data = Batches::new(256, 7, &device);
    let start = ParamSnapshot::capture(&model).unwrap();
    let plain = train_slimming(model.clone(), &data, 5, 0.0, |_| false);
    let slim = train_slimming(start.restore(model).unwrap(), &data, 5, 0.1, |_| false);
    let l1 = |g: Vec<f32>| g.iter().map(|v| v.abs()).sum::<f32>();
    let (plain_l1, slim_l1) = (l1(gammas(&plain)), l1(gammas(&slim)));
    assert!(
        slim_l1 < 0.6 * plain_l1,
        "Σ|γ| {slim_l1} vs {plain_l1} without the penalty"
    );

    // Global |γ| threshold: half of the 24 scaled channels go, the smallest ones, except that
    // no layer loses all of its channels. Expected by hand: walk the channels in increasing
    // |γ| and remove each unless it is the last of its layer.
    let g = graph(&slim);
    let all = gammas(&slim);
    let mut order: Vec<usize> = (0..24).collect();
    order.sort_by(|&a, &b| all[a].abs().total_cmp(&all[b].abs()));
    let mut left = [8usize, 16];
    let mut removed = [false; 24];
    let mut count = 0;
    for &c in &order {
        let layer = usize::from(c >= 8);
        if count < 12 && left[layer] > 1 {
            removed[c] = true;
            left[layer] -= 1;
            count += 1;
        }
    }
    let expected: Vec<usize> = (0..24).filter(|&c| !removed[c]).collect();
    let plan = slimming.plan(&slim, &g).unwrap();
    let kept = |path: &str, offset: usize| -> Vec<usize> {
        plan.params[path].keep[0]
            .indices
            .iter()
            .map(|&i| i + offset)
            .collect()
    };
    let mut planned = kept("blocks.0.bn.gamma", 0);
    planned.extend(kept("blocks.1.bn.gamma", 8));
    assert_eq!(planned, expected);
    // A quarter of the channels removed and a short fine-tune: the task is solved again.
    let quarter = NetworkSlimmingConfig::new(0.25).init().unwrap();
    let (pruned, _) = quarter.prune(slim, &g).unwrap();
    let tuned = train(pruned, &data, 3, |m, _| m, |m, _| m);
    let (x, y) = quadrants(256, 79, &device);
    let acc = accuracy(&tuned, x, y);
    assert!(acc >= 0.9, "accuracy {acc}");
}

#[test]
fn early_bird_training_stops_when_the_channel_mask_settles_and_draws_the_ticket() {
    let device = Device::flex().autodiff();
    device.seed(61);
    let model = SmallCnn::new(&[3, 8, 16], 4, &device);
    let data = Batches::new(256, 8, &device);
    let mut eb = EarlyBirdTraining::new(&EarlyBirdConfig::new(0.3)).unwrap();
    let mut epochs = 0;
    let dense = train_slimming(model, &data, 40, 1e-2, |m| {
        epochs += 1;
        eb.end_of_epoch(m).unwrap().first_emerged.is_some()
    });
    assert!(eb.fired(), "no ticket in 40 epochs");
    assert!((5..40).contains(&epochs), "stopped after {epochs} epochs");
    assert_eq!(eb.fired_at(), Some(epochs - 1));
    // Every distance of the last observation is within the threshold.
    assert!(eb.detector().distances().iter().all(|&d| d <= 0.1));
    let g = graph(&dense);
    let (ticket, _) = eb.draw(dense, &g).unwrap();
    let kept = ticket.blocks[0].conv.weight.dims()[0] + ticket.blocks[1].conv.weight.dims()[0];
    assert!(
        (16..=17).contains(&kept),
        "30% of the 24 channels removed, {kept} kept"
    );
    let tuned = train(ticket, &data, 6, |m, _| m, |m, _| m);
    let (x, y) = quadrants(256, 80, &device);
    let acc = accuracy(&tuned, x, y);
    assert!(acc >= 0.9, "accuracy {acc}");
}

/// Soft pruning of whole dependency groups: a ResNet-8 (residual stream shared by the stem and
/// every block, option-A shortcuts, BatchNorms with non-zero shifts and statistics) zeroed by
/// `zero_groups` computes exactly what it computes after `compact` removes those channels.
/// Zeroing the filters alone (`zero_filters`) leaves the BatchNorm shifts, which removal drops:
/// its compacted network computes something else.
#[test]
fn channels_zeroed_by_group_are_removed_without_changing_outputs() {
    use burn_prune::models::{ResNetCifar, ResNetCifarConfig};
    let device = Device::flex();
    device.seed(3);
    let model =
        crate::common::randomize_batch_norms(ResNetCifarConfig::new(8).init(&device).unwrap(), 9);
    let t = trace(&model, [1, 3, 16, 16], |m: &ResNetCifar, x| m.forward(x)).unwrap();
    let g = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let sfp = SoftFilterPruningConfig::new(0.7).init().unwrap();
    let x = Tensor::<4>::random(
        [4, 3, 16, 16],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let max_diff = |a: Tensor<2>, b: Tensor<2>| (a - b).abs().max().into_scalar::<f32>();

    let (zeroed, plan) = sfp.zero_groups(model.clone(), &g).unwrap();
    let (compact, final_plan) = sfp.compact(zeroed.clone(), &g).unwrap();
    assert_eq!(plan, final_plan, "the zeroed channels are the ones removed");
    assert!(plan.removed_elements() > 0);
    let d = max_diff(zeroed.forward(x.clone()), compact.forward(x.clone()));
    assert!(
        d < 1e-4,
        "group-zeroed and compacted networks differ by {d}"
    );

    let (filters_only, _) = sfp.zero_filters(model).unwrap();
    let (compact, _) = sfp.compact(filters_only.clone(), &g).unwrap();
    let d = max_diff(filters_only.forward(x.clone()), compact.forward(x));
    assert!(
        d > 1e-3,
        "removing filters zeroed alone should change the output ({d})"
    );
}

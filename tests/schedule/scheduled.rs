//! The scheduled pruner inside a hand-written training loop.

use crate::common::SmallCnn;
use crate::task::{Batches, accuracy, quadrants, train};
use burn::prelude::*;
use burn_prune::criterion::{Magnitude, Random};
use burn_prune::schedule::{GradualConfig, IterativeConfig, PruneEvent, ScheduledPrunerConfig};
use burn_prune::{Granularity, MaskSet, PrunerConfig, Scope, masks_of};

fn zero_count(masks: &MaskSet) -> usize {
    masks.counts().1
}

#[test]
fn agp_masks_follow_the_schedule_at_every_update_of_a_real_training_run() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = SmallCnn::new(&[3, 8, 16], 4, &device);
    let data = Batches::new(256, 1, &device); // 8 steps per epoch
    // AGP to 80%: updates at steps 8, 12, ..., 40; 6 epochs = 48 steps.
    let pruner = ScheduledPrunerConfig::new(
        GradualConfig::agp(0.8, 8)
            .with_interval(4)
            .with_begin(8)
            .into(),
    )
    .init(Magnitude::l1())
    .unwrap();
    let schedule_steps = pruner.schedule().update_steps();

    let mut events: Vec<PruneEvent> = Vec::new();
    let mut checked_between = 0;
    let trained = train(
        model,
        &data,
        6,
        |m, step| {
            let (m, event) = pruner.update(m, step).unwrap();
            match event {
                Some(e) => events.push(e),
                None => {
                    // Between updates the installed masks are the last update's.
                    if let Some(last) = events.last().filter(|_| step % 3 == 0) {
                        let installed = masks_of(&m).unwrap();
                        for mask in last.masks.iter() {
                            assert_eq!(
                                installed.get(&mask.path).unwrap().keep,
                                mask.keep,
                                "{} changed between updates (step {step})",
                                mask.path
                            );
                        }
                        checked_between += 1;
                    }
                }
            }
            m
        },
        |m, _| m,
    );

    let steps: Vec<u64> = events.iter().map(|e| e.step).collect();
    assert_eq!(steps, schedule_steps, "one update at each scheduled step");
    assert!(checked_between >= 5);
    let mut previous = 0;
    for e in &events {
        let (total, pruned) = e.masks.counts();
        // Element granularity, global scope: exactly round-down-or-up of target × total.
        let expected = e.target * total as f64;
        assert!(
            (pruned as f64 - expected).abs() <= 1.0,
            "step {}: {pruned} pruned, target {} of {total}",
            e.step,
            e.target
        );
        assert!((e.target - pruner.schedule().sparsity(e.step)).abs() < 1e-12);
        assert!(pruned >= previous, "masks only grow");
        assert_eq!(e.held_pruned, 0, "magnitude never revives a pruned weight");
        // Masks of step k contain those of step k-1.
        previous = pruned;
    }
    let last = events.last().unwrap();
    assert!((last.sparsity - 0.8).abs() < 1e-3);
    // The pruned weights are exactly zero in the trained model, and it learned the task.
    let installed = masks_of(&trained).unwrap();
    assert_eq!(zero_count(&installed), zero_count(&last.masks));
    let w = trained.blocks[1]
        .conv
        .weight
        .val()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let keep = installed
        .get("blocks.1.conv.weight")
        .unwrap()
        .keep
        .to_bools();
    assert!(keep.iter().zip(&w).all(|(&k, &v)| k || v == 0.0));
    let (x, y) = quadrants(256, 99, &device);
    let acc = accuracy(&trained, x, y);
    assert!(acc >= 0.9, "accuracy {acc} at 80% sparsity");
}

#[test]
fn iterative_filter_pruning_follows_its_rounds_and_a_random_criterion_is_held_monotone() {
    let device = Device::flex().autodiff();
    device.seed(3);
    let model = SmallCnn::new(&[3, 8, 16], 4, &device);
    let data = Batches::new(128, 2, &device); // 4 steps per epoch
    // 3 rounds of 25% of the remaining filters (local), every 4 steps from step 2.
    let pruner =
        ScheduledPrunerConfig::new(IterativeConfig::per_round(0.25, 3, 4).with_begin(2).into())
            .with_pruner(
                PrunerConfig::new(0.0)
                    .with_granularity(Granularity::Filter)
                    .with_scope(Scope::Local),
            )
            .init(Random::new(11))
            .unwrap();
    let mut events = Vec::new();
    train(
        model,
        &data,
        4,
        |m, step| {
            let (m, e) = pruner.update(m, step).unwrap();
            events.extend(e);
            m
        },
        |m, _| m,
    );
    assert_eq!(
        events.iter().map(|e| e.step).collect::<Vec<_>>(),
        vec![2, 6, 10]
    );
    // A random criterion redraws its scores: what it would revive stays pruned, so each
    // round's pruned set contains the previous one.
    for pair in events.windows(2) {
        for m in pair[1].masks.iter() {
            let before = pair[0].masks.get(&m.path).unwrap();
            for (i, (now, was)) in m
                .keep
                .to_bools()
                .into_iter()
                .zip(before.keep.to_bools())
                .enumerate()
            {
                assert!(
                    was || !now,
                    "{}[{i}] revived at step {}",
                    m.path,
                    pair[1].step
                );
            }
        }
    }
    // Filters of blocks.1.conv (16): the criterion alone would keep ceil-ish of target;
    // the held-pruned filters can only add to that.
    let conv = |e: &PruneEvent| {
        let m = e.masks.get("blocks.1.conv.weight").unwrap();
        m.unit_counts()
    };
    let (units, pruned_first) = conv(&events[0]);
    assert_eq!(units, 16);
    assert_eq!(pruned_first, 4, "25% of 16 filters");
    // A seeded random criterion ranks the same way every round, so it never needs holding.
    assert!(events.iter().all(|e| e.held_pruned == 0));
}

/// Scores `1 / (1 + |w|)`: prefers to keep small weights, so it would revive pruned ones.
struct KeepSmall;

impl burn_prune::Criterion for KeepSmall {
    fn name(&self) -> String {
        "keep-small".into()
    }
    fn score(&self, ctx: &burn_prune::ScoreContext<'_>) -> burn_prune::Result<burn_prune::Scores> {
        Ok(burn_prune::Scores::Elements(
            ctx.weight.iter().map(|w| 1.0 / (1.0 + w.abs())).collect(),
        ))
    }
}

#[test]
fn a_criterion_that_would_revive_pruned_weights_is_held_and_the_count_reported() {
    let device = Device::flex();
    let model = SmallCnn::new(&[3, 8], 4, &device);
    let pruner = ScheduledPrunerConfig::new(GradualConfig::agp(0.6, 2).with_interval(1).into())
        .init(KeepSmall)
        .unwrap();
    let (model, first) = pruner.update(model, 1).unwrap();
    let first = first.unwrap();
    let (_, second) = pruner.update(model, 2).unwrap();
    let second = second.unwrap();
    // The pruned weights are zero, so KeepSmall ranks them first to keep: the 40% it keeps
    // are all pruned weights (130 of 248 are), and stay pruned; the 60% it prunes are the
    // 118 non-zero weights and 31 more zeros. Together: everything.
    let (total, pruned_first) = first.masks.counts();
    let kept_by_criterion = total as f64 * 0.4;
    assert!(pruned_first as f64 > kept_by_criterion);
    assert!(
        (second.held_pruned as f64 - kept_by_criterion).abs() <= 1.0,
        "{}",
        second.held_pruned
    );
    assert_eq!(second.masks.counts().1, total);
    assert!(
        second.sparsity > second.target,
        "held weights push past the target"
    );
}

#[test]
fn a_gradient_criterion_takes_batches_at_update_steps_and_is_refused_without_them() {
    use burn_prune::criterion::Taylor;
    let device = Device::flex().autodiff();
    device.seed(5);
    let model = SmallCnn::new(&[3, 8], 4, &device);
    let pruner = ScheduledPrunerConfig::new(GradualConfig::agp(0.5, 2).with_interval(1).into())
        .init(Taylor::element())
        .unwrap();
    let err = pruner.update(model.clone(), 0).unwrap_err().to_string();
    assert!(err.contains("needs gradients"), "{err}");
    let (x, y) = quadrants(16, 4, &device);
    let loss = |m: &SmallCnn, (x, y): (Tensor<4>, Tensor<1, Int>)| crate::task::loss(m, x, y);
    let (model, e) = pruner
        .update_with_data(model, 2, [(x.clone(), y.clone())], loss)
        .unwrap();
    let e = e.unwrap();
    assert!((e.sparsity - 0.5).abs() < 0.01, "{}", e.sparsity);
    // Not an update step: the batches are not needed and the model is unchanged.
    let (_, none) = pruner.update_with_data(model, 3, [(x, y)], loss).unwrap();
    assert!(none.is_none());
}

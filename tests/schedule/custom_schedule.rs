//! A sparsity schedule defined outside the library, as a downstream crate would: it plugs
//! into the scheduled pruner as Burn's learner takes any `LrScheduler`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_prune::PrunerConfig;
use burn_prune::criterion::Magnitude;
use burn_prune::schedule::{ScheduleError, ScheduledPruner, SparsitySchedule};

/// Explicit `(step, sparsity)` pairs: the masks jump to each sparsity at its step.
#[derive(Debug)]
struct Steps(Vec<(u64, f64)>);

impl SparsitySchedule for Steps {
    fn sparsity(&self, step: u64) -> f64 {
        self.0
            .iter()
            .take_while(|(s, _)| *s <= step)
            .last()
            .map_or(0.0, |(_, v)| *v)
    }

    fn is_update(&self, step: u64) -> bool {
        self.0.iter().any(|(s, _)| *s == step)
    }

    fn update_steps(&self) -> Vec<u64> {
        self.0.iter().map(|(s, _)| *s).collect()
    }
}

#[derive(Module, Debug)]
struct Net {
    fc: Linear,
}

fn zeros(net: &Net) -> i64 {
    net.fc
        .weight
        .val()
        .equal_elem(0.0)
        .int()
        .sum()
        .into_scalar::<i64>()
}

#[test]
fn a_downstream_schedule_drives_the_scheduled_pruner() {
    let device = Device::flex();
    device.seed(3);
    let mut net = Net {
        fc: LinearConfig::new(10, 10).init(&device),
    };
    let pruner = ScheduledPruner::new(
        Steps(vec![(2, 0.3), (5, 0.6)]),
        PrunerConfig::new(0.0),
        Magnitude::l1(),
    )
    .unwrap();
    let mut pruned_at = Vec::new();
    for step in 0..=6 {
        let (next, event) = pruner.update(net, step).unwrap();
        net = next;
        if let Some(e) = event {
            pruned_at.push((e.step, e.target));
        }
        // 100 weights: 30 pruned from step 2, 60 from step 5 (global magnitude, exact counts).
        let expected = match step {
            0..=1 => 0,
            2..=4 => 30,
            _ => 60,
        };
        assert_eq!(zeros(&net), expected, "step {step}");
    }
    assert_eq!(pruned_at, vec![(2, 0.3), (5, 0.6)]);
    assert_eq!(pruner.schedule().final_sparsity(), 0.6);
}

#[test]
fn a_downstream_schedule_is_checked_once_when_the_pruner_is_built() {
    let build = |steps: Vec<(u64, f64)>| {
        ScheduledPruner::new(Steps(steps), PrunerConfig::new(0.0), Magnitude::l1())
    };
    let invalid = |r: Result<ScheduledPruner, ScheduleError>, needle: &str| match r {
        Err(e @ ScheduleError::InvalidConfig { .. }) => {
            assert!(e.to_string().contains(needle), "{e}")
        }
        other => panic!("expected an invalid configuration, got {other:?}"),
    };
    invalid(build(vec![(1, 1.2)]), "outside [0, 1)");
    invalid(build(vec![(1, 0.5), (3, 0.2)]), "masks only grow");
    invalid(build(vec![(3, 0.2), (1, 0.5)]), "steps must increase");
    assert!(build(vec![(1, 0.2), (3, 0.5)]).is_ok());
}

#[test]
fn pruner_settings_are_checked_at_every_target_when_built() {
    // N:M sparsity is fixed at (m - n) / m: a schedule that ramps to it asks for other
    // targets on the way, which `new` refuses before any training.
    let ramp = Steps(vec![(1, 0.25), (2, 0.5)]);
    let nm = PrunerConfig::new(0.0).with_granularity(burn_prune::Granularity::NM { n: 2, m: 4 });
    assert!(matches!(
        ScheduledPruner::new(ramp, nm.clone(), Magnitude::l1()),
        Err(ScheduleError::Prune(_))
    ));
    // A one-step schedule straight to 2:4 is fine.
    assert!(ScheduledPruner::new(Steps(vec![(1, 0.5)]), nm, Magnitude::l1()).is_ok());
}

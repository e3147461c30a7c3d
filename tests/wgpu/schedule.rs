//! Scheduled pruning and the training-time methods on wgpu against the CPU.

use crate::common::{SmallCnn, values};
use crate::wgpu;
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::schedule::methods::{LotteryTicketConfig, SoftFilterPruningConfig};
use burn_prune::schedule::{GradualConfig, ScheduledPrunerConfig};
use burn_prune::{ParamSnapshot, masks_of};

/// The values of a fresh `SmallCnn` drawn from `seed` on the CPU: "training" that moves both
/// copies of a model to the same new weights.
fn weights(seed: u64) -> ParamSnapshot {
    let cpu = Device::flex();
    cpu.seed(seed);
    ParamSnapshot::capture(&SmallCnn::new(&[3, 8, 8], 4, &cpu)).unwrap()
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn agp_updates_on_wgpu_equal_cpu_updates() {
    let cpu = Device::flex();
    cpu.seed(3);
    let mut on_cpu = SmallCnn::new(&[3, 8, 8], 4, &cpu);
    let mut on_gpu = on_cpu.clone().fork(&wgpu());
    // AGP to 75% in 4 steps of 2: updates at steps 0, 2, 4, 6, 8 (t₀ + jΔt, j = 0..=n).
    let pruner = ScheduledPrunerConfig::new(GradualConfig::agp(0.75, 4).with_interval(2).into())
        .init(Magnitude::l1())
        .unwrap();
    let mut updates = 0;
    for step in 0..10u64 {
        // New weights before every step, the same on both devices; pruned ones stay pruned.
        let w = weights(100 + step);
        on_cpu = w.restore(on_cpu).unwrap();
        on_gpu = w.restore(on_gpu).unwrap();
        let (c, event_cpu) = pruner.update(on_cpu, step).unwrap();
        let (g, event_gpu) = pruner.update(on_gpu, step).unwrap();
        assert_eq!(event_gpu, event_cpu, "step {step}");
        updates += usize::from(event_cpu.is_some());
        assert_eq!(masks_of(&g).unwrap(), masks_of(&c).unwrap(), "step {step}");
        (on_cpu, on_gpu) = (c, g);
    }
    assert_eq!(updates, pruner.schedule().update_steps().len());
    assert_eq!(updates, 5);
    assert_eq!(
        values(on_gpu.blocks[1].conv.weight.val()),
        values(on_cpu.blocks[1].conv.weight.val()),
        "masked values are exact"
    );
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn lottery_rewinding_on_wgpu_restores_the_stored_values_and_cpu_masks() {
    let cpu = Device::flex();
    cpu.seed(5);
    let at_init_cpu = SmallCnn::new(&[3, 8, 8], 4, &cpu);
    let at_init = ParamSnapshot::capture(&at_init_cpu.clone().fork(&wgpu())).unwrap();
    assert_eq!(at_init, ParamSnapshot::capture(&at_init_cpu).unwrap());
    let lottery = LotteryTicketConfig::new().init().unwrap();
    let trained = weights(6).restore(at_init_cpu).unwrap();
    let (rewound_gpu, round_gpu) = lottery
        .next_round(trained.clone().fork(&wgpu()), &at_init)
        .unwrap();
    let (rewound_cpu, round_cpu) = lottery.next_round(trained, &at_init).unwrap();
    assert_eq!(round_gpu.masks, round_cpu.masks);
    assert_eq!(ParamSnapshot::capture(&rewound_gpu).unwrap(), at_init);
    assert_eq!(
        masks_of(&rewound_gpu).unwrap(),
        masks_of(&rewound_cpu).unwrap()
    );
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --ignored"]
fn soft_filter_zeroing_on_wgpu_equals_cpu() {
    let cpu = Device::flex();
    cpu.seed(9);
    let model = SmallCnn::new(&[3, 8, 8], 4, &cpu);
    let sfp = SoftFilterPruningConfig::new(0.5).init().unwrap();
    let (zeroed_gpu, masks_gpu) = sfp.zero_filters(model.clone().fork(&wgpu())).unwrap();
    let (zeroed_cpu, masks_cpu) = sfp.zero_filters(model).unwrap();
    assert_eq!(masks_gpu, masks_cpu);
    assert_eq!(
        ParamSnapshot::capture(&zeroed_gpu).unwrap(),
        ParamSnapshot::capture(&zeroed_cpu).unwrap()
    );
}

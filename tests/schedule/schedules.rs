//! Every schedule against its published formula, at many steps and at the boundaries.

use burn_prune::schedule::{
    Curve, GradualConfig, IterativeConfig, OneShotConfig, RoundSpacing, ScheduleConfig,
    ScheduleError, SparsitySchedule,
};
use proptest::prelude::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12
}

/// Zhu & Gupta (2017), eq. 1: `s_t = s_f + (s_i − s_f)(1 − (t − t₀)/(nΔt))³` at the update
/// steps `t ∈ {t₀, t₀ + Δt, …, t₀ + nΔt}`.
fn zhu_gupta(t: u64, s_i: f64, s_f: f64, t0: u64, n: u64, dt: u64) -> f64 {
    s_f + (s_i - s_f) * (1.0 - (t - t0) as f64 / (n * dt) as f64).powi(3)
}

#[test]
fn agp_follows_zhu_and_gupta_at_every_update_and_holds_between() {
    let (s_i, s_f, t0, n, dt) = (0.05, 0.875, 300, 12, 100);
    let agp = GradualConfig::agp(s_f, n)
        .with_initial_sparsity(s_i)
        .with_begin(t0)
        .init()
        .unwrap();
    let updates = agp.update_steps();
    assert_eq!(updates.len(), 13);
    assert_eq!(updates[0], 300);
    assert_eq!(*updates.last().unwrap(), 1500);
    for t in 0..3000u64 {
        let expected = if t < t0 {
            0.0
        } else {
            // The value of the last update at or before t.
            let last = t0 + ((t - t0) / dt).min(n) * dt;
            zhu_gupta(last, s_i, s_f, t0, n, dt)
        };
        assert!(
            close(agp.sparsity(t), expected),
            "step {t}: {} vs {expected}",
            agp.sparsity(t)
        );
        let is_update = t >= t0 && (t - t0) % dt == 0 && t <= t0 + n * dt;
        assert_eq!(agp.is_update(t), is_update, "step {t}");
    }
    // Boundaries: the first update is s_i, the last s_f exactly, the one before the first 0.
    assert_eq!(agp.sparsity(299), 0.0);
    assert!(close(agp.sparsity(300), s_i));
    assert_eq!(agp.sparsity(1500), s_f);
    assert_eq!(agp.sparsity(u64::MAX), s_f);
    assert_eq!(agp.final_sparsity(), s_f);
    // Hand-computed: half way, (1 - 1/2)^3 = 1/8 of the distance is left.
    assert!(close(agp.sparsity(900), 0.875 - 0.825 / 8.0));
}

#[test]
fn agp_takes_any_power_and_linear_is_power_one() {
    let quadratic = GradualConfig::agp(0.8, 4)
        .with_interval(10)
        .with_curve(Curve::Polynomial { power: 2.0 })
        .init()
        .unwrap();
    // 0.8 (1 − (1 − j/4)²): 0, 0.35, 0.6, 0.75, 0.8.
    for (j, want) in [0.0, 0.35, 0.6, 0.75, 0.8].into_iter().enumerate() {
        assert!(close(quadratic.sparsity(10 * j as u64), want), "j = {j}");
    }
    let linear = GradualConfig::agp(0.8, 4)
        .with_interval(10)
        .with_curve(Curve::Polynomial { power: 1.0 })
        .init()
        .unwrap();
    for j in 0..=4u64 {
        assert!(close(linear.sparsity(10 * j), 0.2 * j as f64));
    }
}

#[test]
fn cosine_and_one_cycle_follow_their_formulas() {
    let (s_i, s_f, t0, n, dt) = (0.1, 0.9, 7, 9, 3);
    let cosine = GradualConfig::cosine(s_f, n)
        .with_initial_sparsity(s_i)
        .with_begin(t0)
        .with_interval(dt)
        .init()
        .unwrap();
    let one_cycle = GradualConfig::one_cycle(s_f, n)
        .with_initial_sparsity(s_i)
        .with_begin(t0)
        .with_interval(dt)
        .init()
        .unwrap();
    for t in 0..60u64 {
        if t < t0 {
            assert_eq!(cosine.sparsity(t), 0.0);
            assert_eq!(one_cycle.sparsity(t), 0.0);
            continue;
        }
        let p = ((t - t0) / dt).min(n) as f64 / n as f64;
        let cos = s_f + (s_i - s_f) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0;
        // fasterai: start + (end − start)(1 + e^{−α+β})/(1 + e^{−αp+β}), α = 14, β = 6.
        let oc =
            s_i + (s_f - s_i) * (1.0 + (-14.0f64 + 6.0).exp()) / (1.0 + (-14.0 * p + 6.0).exp());
        assert!(close(cosine.sparsity(t), cos), "cosine at {t}");
        assert!(
            (one_cycle.sparsity(t) - oc).abs() < 1e-12,
            "one-cycle at {t}"
        );
    }
    // Cosine is half way at the middle update; one-cycle starts within 0.25% of s_i.
    let cos_mid = GradualConfig::cosine(0.8, 2).init().unwrap();
    assert!(close(cos_mid.sparsity(100), 0.4));
    assert!((one_cycle.sparsity(t0) - s_i) < 0.0026 * (s_f - s_i));
    assert_eq!(one_cycle.sparsity(t0 + n * dt), s_f);
}

#[test]
fn iterative_rounds_remove_a_constant_fraction_of_the_remainder_or_a_linear_share() {
    // IMP: 20% of what remains per round; round j leaves 0.8^j.
    let imp = IterativeConfig::per_round(0.2, 5, 50)
        .with_begin(10)
        .init()
        .unwrap();
    assert_eq!(imp.update_steps(), vec![10, 60, 110, 160, 210]);
    for t in 0..400u64 {
        let expected = if t < 10 {
            0.0
        } else {
            let j = ((t - 10) / 50 + 1).min(5) as i32;
            1.0 - 0.8f64.powi(j)
        };
        assert!(close(imp.sparsity(t), expected), "step {t}");
        assert_eq!(
            imp.is_update(t),
            t >= 10 && (t - 10) % 50 == 0 && t <= 210,
            "step {t}"
        );
    }
    assert!(close(imp.final_sparsity(), 1.0 - 0.8f64.powi(5)));

    let linear = IterativeConfig::new(0.6, 3, 5)
        .with_spacing(RoundSpacing::Linear)
        .init()
        .unwrap();
    for (t, want) in [(0, 0.2), (4, 0.2), (5, 0.4), (10, 0.6), (99, 0.6)] {
        assert!(close(linear.sparsity(t), want), "step {t}");
    }
}

#[test]
fn one_shot_is_dense_before_its_step_and_at_target_from_it() {
    let s = OneShotConfig::new(0.7).with_step(3).init().unwrap();
    assert_eq!(
        (0..6).map(|t| s.sparsity(t)).collect::<Vec<_>>(),
        vec![0.0, 0.0, 0.0, 0.7, 0.7, 0.7]
    );
    assert_eq!(
        (0..6).filter(|&t| s.is_update(t)).collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(s.final_sparsity(), 0.7);
}

#[test]
fn bad_configurations_are_errors_naming_the_setting() {
    let message = |r: Result<Box<dyn SparsitySchedule>, ScheduleError>| r.unwrap_err().to_string();
    let cases: Vec<(ScheduleConfig, &str)> = vec![
        (GradualConfig::agp(1.0, 10).into(), "gradual final sparsity"),
        (
            GradualConfig::agp(f64::NAN, 10).into(),
            "gradual final sparsity",
        ),
        (GradualConfig::agp(0.5, 0).into(), "gradual updates"),
        (
            GradualConfig::agp(0.5, 3).with_interval(0).into(),
            "gradual interval",
        ),
        (
            GradualConfig::agp(0.5, 3).with_initial_sparsity(0.6).into(),
            "gradual initial sparsity",
        ),
        (
            GradualConfig::agp(0.5, 3)
                .with_curve(Curve::Polynomial { power: -1.0 })
                .into(),
            "power",
        ),
        (
            GradualConfig::agp(0.5, 3).with_begin(u64::MAX - 5).into(),
            "gradual schedule",
        ),
        (IterativeConfig::new(0.5, 0, 10).into(), "iterative rounds"),
        (
            IterativeConfig::new(-0.1, 2, 10).into(),
            "iterative final sparsity",
        ),
        (OneShotConfig::new(1.5).into(), "one-shot sparsity"),
    ];
    for (config, what) in cases {
        let m = message(config.init());
        assert!(m.contains(what), "{m:?} should name {what:?}");
    }
}

#[test]
fn schedule_configs_round_trip_through_json() {
    let config: ScheduleConfig = GradualConfig::one_cycle(0.9, 20).with_begin(5).into();
    let json = serde_json::to_string(&config).unwrap();
    let back: ScheduleConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);
    assert_eq!(
        back.init().unwrap().update_steps(),
        config.init().unwrap().update_steps()
    );
}

proptest! {
    #[test]
    fn gradual_schedules_grow_monotonically_from_zero_to_their_final_sparsity(
        s_f in 0.0f64..0.99,
        frac in 0.0f64..=1.0,
        n in 1u64..40,
        dt in 1u64..50,
        t0 in 0u64..100,
        curve in prop_oneof![
            (0.25f64..6.0).prop_map(|power| Curve::Polynomial { power }),
            Just(Curve::Cosine),
            Just(Curve::ONE_CYCLE),
        ],
    ) {
        let s_i = s_f * frac;
        let s = GradualConfig::new(s_f, n)
            .with_initial_sparsity(s_i)
            .with_interval(dt)
            .with_begin(t0)
            .with_curve(curve)
            .init()
            .unwrap();
        let mut previous = 0.0;
        for t in 0..t0 + (n + 2) * dt {
            let v = s.sparsity(t);
            prop_assert!(v >= previous - 1e-12, "decreased at {}: {} < {}", t, v, previous);
            prop_assert!((0.0..1.0).contains(&v));
            if !s.is_update(t) && t > 0 {
                prop_assert_eq!(v, s.sparsity(t - 1), "changed between updates at {}", t);
            }
            previous = v;
        }
        prop_assert_eq!(s.final_sparsity(), s_f);
        prop_assert_eq!(s.update_steps().len() as u64, n + 1);
    }
}

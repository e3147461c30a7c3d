//! Pruning spaces: structural counts against compacted models, regimes, bands, EDFs.

use crate::device;
use burn_prune_core::criterion::Magnitude;
use burn_prune_core::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use burn_prune_metrics::{
    Convention, Edf, MetricsError, ModelMetrics, OpCounts, ParamStats, PruningSpace,
    PruningSpaceConfig, Regime, Subnetwork, ratio_band,
};
use burn_prune_models::{ResNetCifar, ResNetCifarConfig};

fn resnet20() -> ResNetCifar {
    ResNetCifarConfig::new(20).init(&device()).unwrap()
}

fn space(
    model: &ResNetCifar,
    config: PruningSpaceConfig,
) -> burn_prune_metrics::Result<PruningSpace> {
    let t = trace(model, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    PruningSpace::new(
        graph,
        &ParamStats::of_model(model).unwrap(),
        &OpCounts::of_trace(&t),
        config,
    )
}

fn measured(model: ResNetCifar) -> ModelMetrics {
    ModelMetrics::of_model(&model, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap()
}

#[test]
fn structural_counts_equal_the_compacted_models() {
    let model = resnet20();
    let mut space = space(&model, PruningSpaceConfig::new().with_seed(3)).unwrap();
    let free: Vec<usize> = space.groups().iter().map(|g| g.free).collect();
    // Everything kept: the dense counts.
    let full = space.measure(&free).unwrap();
    assert_eq!(full.params, 269_722);
    assert_eq!(full.macs, 40_550_400 + 640);
    for _ in 0..3 {
        let net = space.sample().unwrap();
        let plan = space.plan(&net.kept).unwrap();
        let small = measured(plan.apply(resnet20()).unwrap());
        assert_eq!(net.params, small.params.total());
        assert_eq!(net.macs, small.macs(Convention::Papers));
        assert_eq!(net.flops_per_param(), net.macs as f64 / net.params as f64);
    }
}

#[test]
fn keep_channels_rebuild_a_subnetwork_with_any_criterion() {
    let model = resnet20();
    let mut space = space(&model, PruningSpaceConfig::new().with_seed(9)).unwrap();
    let net = space.sample().unwrap();
    let plan = GroupPrunerConfig::new(0.0)
        .with_keep_channels(space.keep_channels(&net))
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, space.graph())
        .unwrap();
    let small = measured(plan.apply(model).unwrap());
    assert_eq!(small.params.total(), net.params);
    assert_eq!(small.macs(Convention::Papers), net.macs);
}

#[test]
fn sampling_in_a_regime_and_a_band() {
    let model = resnet20();
    let config = PruningSpaceConfig::new().with_min_keep(0.2).with_seed(1);
    let mut a = space(&model, config.clone()).unwrap();
    let regime = Regime::around(15_000_000, 0.1);
    assert_eq!(
        regime,
        Regime {
            min_macs: 13_500_000,
            max_macs: 16_500_000
        }
    );
    let nets = a.sample_in(regime, 50, 20_000).unwrap();
    assert_eq!(nets.len(), 50);
    assert!(nets.iter().all(|n| regime.contains(n.macs)));
    // Kept units respect the range: at least ⌊0.2·f⌉ and at most f (f ≥ 1).
    for n in &nets {
        for (k, g) in n.kept.iter().zip(space_groups(&a)) {
            assert!(*k >= ((0.2 * g as f64).round() as usize).max(1) && *k <= g);
        }
    }
    // The same seed draws the same subnetworks.
    let mut b = space(&model, config.clone()).unwrap();
    assert_eq!(b.sample_in(regime, 50, 20_000).unwrap(), nets);

    // Refine: errors made up so that high ratios are best; the band of the best fifth, then
    // every later draw lies in it.
    let error: Vec<f64> = nets.iter().map(|n| 1.0 / n.flops_per_param()).collect();
    let (lo, hi) = ratio_band(&nets, &error, 0.2).unwrap();
    let mut ratios: Vec<f64> = nets.iter().map(Subnetwork::flops_per_param).collect();
    ratios.sort_by(f64::total_cmp);
    assert_eq!((lo, hi), (ratios[40], ratios[49]));
    let mut refined = space(&model, config.with_ratio_band(Some((lo, hi)))).unwrap();
    let nets = refined.sample_in(regime, 5, 200_000).unwrap();
    assert!(
        nets.iter()
            .all(|n| (lo..=hi).contains(&n.flops_per_param()))
    );
}

fn space_groups(space: &PruningSpace) -> Vec<usize> {
    space.groups().iter().map(|g| g.free).collect()
}

#[test]
fn a_thousand_subnetworks_are_measured_without_the_model() {
    let model = resnet20();
    let mut space = space(&model, PruningSpaceConfig::new().with_round_to(2)).unwrap();
    let nets: Vec<Subnetwork> = (0..1000).map(|_| space.sample().unwrap()).collect();
    let edf = Edf::new(&nets.iter().map(|n| n.macs as f64).collect::<Vec<_>>()).unwrap();
    assert_eq!(edf.at(f64::INFINITY), 1.0);
    assert!(edf.quantile(0.5) < 40_551_040.0);
    // With round_to 2, every kept count is even unless it is the whole group or 1.
    for n in &nets {
        for (k, f) in n.kept.iter().zip(space_groups(&space)) {
            assert!(k % 2 == 0 || *k == f || *k == 1, "kept {k} of {f}");
        }
    }
}

#[test]
fn edf_by_hand() {
    let edf = Edf::new(&[3.0, 1.0, 2.0, 2.0]).unwrap();
    assert_eq!(edf.at(0.5), 0.0);
    assert_eq!(edf.at(1.0), 0.25);
    assert_eq!(edf.at(2.0), 0.75);
    assert_eq!(edf.at(9.0), 1.0);
    assert_eq!(edf.quantile(0.5), 2.0);
    assert_eq!(edf.quantile(1.0), 3.0);
    assert_eq!(
        edf.points(),
        vec![(1.0, 0.25), (2.0, 0.5), (2.0, 0.75), (3.0, 1.0)]
    );
    assert!(Edf::new(&[]).is_err());
    assert!(Edf::new(&[1.0, f64::NAN]).is_err());
}

#[test]
fn bad_spaces_are_errors() {
    let model = resnet20();
    let bad = [
        PruningSpaceConfig::new().with_min_keep(0.0),
        PruningSpaceConfig::new()
            .with_min_keep(0.8)
            .with_max_keep(0.5),
        PruningSpaceConfig::new().with_max_keep(1.5),
        PruningSpaceConfig::new().with_round_to(0),
        PruningSpaceConfig::new().with_ratio_band(Some((5.0, 1.0))),
        PruningSpaceConfig::new().with_fixed(vec!["**".into()]),
    ];
    for config in bad {
        match space(&model, config.clone()) {
            Err(MetricsError::InvalidArgument { .. }) => {}
            Err(e) => panic!("{config:?}: {e}"),
            Ok(_) => panic!("{config:?} was accepted"),
        }
    }
    let mut s = space(&model, PruningSpaceConfig::new()).unwrap();
    let n = s.groups().len();
    assert!(matches!(
        s.measure(&vec![1; n + 1]),
        Err(MetricsError::Mismatch { .. })
    ));
    assert!(s.measure(&vec![0; n]).is_err());
    let err = s
        .sample_in(
            Regime {
                min_macs: 1,
                max_macs: 2,
            },
            3,
            50,
        )
        .unwrap_err();
    assert!(err.to_string().contains("only 0 of 3"), "{err}");
}

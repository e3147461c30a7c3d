//! Bad input is an error value naming what was wrong and where — never a panic.

use crate::common::SmallCnn;
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::{
    Criterion, Granularity, ParamSelector, PruneError, PrunerConfig, Scope, ScoreContext, Scores,
};

fn model() -> SmallCnn {
    SmallCnn::new(&[3, 6, 8], 4, &Device::flex())
}

#[test]
fn sparsity_outside_unit_interval() {
    for s in [-0.1, 1.0, 1.5, f64::NAN] {
        let err = PrunerConfig::new(s)
            .init(Magnitude::l1())
            .and_then(|p| p.masks(&model()))
            .unwrap_err();
        assert!(
            matches!(err, PruneError::InvalidSparsity { .. }),
            "{s}: {err}"
        );
    }
    let mut map = std::collections::BTreeMap::new();
    map.insert("fc.weight".to_string(), 0.0);
    let err = PrunerConfig::new(0.5)
        .with_scope(Scope::Densities(map))
        .init(Magnitude::l1())
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(
        matches!(&err, PruneError::InvalidDensity { path, .. } if path == "fc.weight"),
        "{err}"
    );
}

/// Returns NaN for one parameter.
struct Poisoned;
impl Criterion for Poisoned {
    fn name(&self) -> String {
        "poisoned".into()
    }
    fn score(&self, ctx: &ScoreContext<'_>) -> burn_prune::Result<Scores> {
        let mut s: Vec<f32> = ctx.weight.iter().map(|w| w.abs()).collect();
        if ctx.param.path == "blocks.1.conv.weight" {
            s[5] = f32::NAN;
        }
        if ctx.param.path == "fc.weight" {
            s[0] = f32::INFINITY;
        }
        Ok(Scores::Elements(s))
    }
}

#[test]
fn non_finite_scores_name_the_parameter() {
    let err = PrunerConfig::new(0.5)
        .init(Poisoned)
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(
        matches!(&err, PruneError::NonFiniteScore { path, index: 5, .. } if path == "blocks.1.conv.weight"),
        "{err}"
    );
    assert!(err.to_string().contains("blocks.1.conv.weight"));
    let err = PrunerConfig::new(0.5)
        .with_selector(ParamSelector::paths(["fc.weight"]))
        .init(Poisoned)
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(
        matches!(&err, PruneError::NonFiniteScore { path, index: 0, .. } if path == "fc.weight"),
        "{err}"
    );
}

#[test]
fn bad_n_m_patterns() {
    let nm = |n, m, s| {
        PrunerConfig::new(s)
            .with_granularity(Granularity::NM { n, m })
            .init(Magnitude::l1())
            .and_then(|p| p.masks(&model()))
    };
    assert!(matches!(
        nm(4, 4, 0.0),
        Err(PruneError::InvalidNm { n: 4, m: 4 })
    ));
    assert!(matches!(nm(5, 4, 0.0), Err(PruneError::InvalidNm { .. })));
    assert!(matches!(nm(0, 4, 0.0), Err(PruneError::InvalidNm { .. })));
    // blocks.0.conv has 3 input channels: not divisible by 4.
    let err = nm(2, 4, 0.5).unwrap_err();
    assert!(
        matches!(&err, PruneError::NotDivisible { path, axis: 1, size: 3, divisor: 4, .. } if path == "blocks.0.conv.weight"),
        "{err}"
    );
    // The sparsity of 2:4 is 0.5; anything else is a configuration error.
    assert!(matches!(nm(2, 4, 0.3), Err(PruneError::Config(_))));
}

#[test]
fn patterns_that_match_nothing() {
    let err = PrunerConfig::new(0.5)
        .with_selector(ParamSelector::default().include("encoder.**"))
        .init(Magnitude::l1())
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(
        matches!(&err, PruneError::PatternMatchesNothing { which: "include", pattern } if pattern == "encoder.**"),
        "{err}"
    );
    let err = PrunerConfig::new(0.5)
        .with_selector(ParamSelector::default().exclude("blocks.9.*"))
        .init(Magnitude::l1())
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(matches!(
        err,
        PruneError::PatternMatchesNothing {
            which: "exclude",
            ..
        }
    ));
    let err = PrunerConfig::new(0.5)
        .with_selector(ParamSelector::default().include("blocks.***"))
        .init(Magnitude::l1())
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(matches!(err, PruneError::InvalidPattern { .. }));
}

#[test]
fn unknown_density_paths_and_empty_selections() {
    let mut map = std::collections::BTreeMap::new();
    map.insert("blocks.0.conv.wieght".to_string(), 0.5);
    let err = PrunerConfig::new(0.5)
        .with_scope(Scope::Densities(map))
        .init(Magnitude::l1())
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(
        matches!(&err, PruneError::UnknownParam { path, .. } if path == "blocks.0.conv.wieght"),
        "{err}"
    );
    let err = PrunerConfig::new(0.5)
        .with_selector(
            ParamSelector::default()
                .include("**.bias")
                .kinds([burn_prune::LayerKind::Embedding]),
        )
        .init(Magnitude::l1())
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(matches!(err, PruneError::NothingSelected { .. }), "{err}");
}

#[test]
fn a_criterion_returning_the_wrong_count_is_an_error() {
    struct Short;
    impl Criterion for Short {
        fn name(&self) -> String {
            "short".into()
        }
        fn score(&self, _: &ScoreContext<'_>) -> burn_prune::Result<Scores> {
            Ok(Scores::Units(vec![1.0; 2]))
        }
    }
    let err = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .init(Short)
        .and_then(|p| p.masks(&model()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            PruneError::ScoreCount {
                expected: 6,
                got: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn settings_are_checked_once_by_init_without_a_model() {
    // Everything a configuration alone can get wrong fails in `init`, before any model.
    let init = |c: PrunerConfig| c.init(Magnitude::l1()).map(|_| ());
    assert!(matches!(
        init(PrunerConfig::new(1.5)),
        Err(PruneError::InvalidSparsity { .. })
    ));
    assert!(matches!(
        init(PrunerConfig::new(0.25).with_granularity(Granularity::NM { n: 2, m: 4 })),
        Err(PruneError::Config(_))
    ));
    assert!(matches!(
        init(PrunerConfig::new(0.0).with_granularity(Granularity::NM { n: 4, m: 4 })),
        Err(PruneError::InvalidNm { n: 4, m: 4 })
    ));
    assert!(matches!(
        init(PrunerConfig::new(0.5).with_selector(ParamSelector::default().include("a.***"))),
        Err(PruneError::InvalidPattern { .. })
    ));
    let layouts = vec![("a.***".to_string(), burn_prune::Layout::out_in())];
    assert!(init(PrunerConfig::new(0.5).with_layouts(layouts)).is_err());
    // A model-dependent problem (a pattern matching nothing) passes `init` and is reported
    // by the first masks.
    let pruner = PrunerConfig::new(0.5)
        .with_selector(ParamSelector::default().include("encoder.**"))
        .init(Magnitude::l1())
        .unwrap();
    assert!(matches!(
        pruner.masks(&model()),
        Err(PruneError::PatternMatchesNothing { .. })
    ));

    // The same pruner at another target: only the target is checked again.
    let pruner = PrunerConfig::new(0.25).init(Magnitude::l1()).unwrap();
    assert!(matches!(
        pruner.with_sparsity(1.0),
        Err(PruneError::InvalidSparsity { .. })
    ));
    let m = model();
    assert_eq!(
        pruner.with_sparsity(0.5).unwrap().masks(&m).unwrap(),
        PrunerConfig::new(0.5)
            .init(Magnitude::l1())
            .unwrap()
            .masks(&m)
            .unwrap()
    );

    // The structural pruner's settings, likewise.
    use burn_prune::structure::{GroupPrunerConfig, KeepChannels};
    let init = |c: GroupPrunerConfig| c.init(Magnitude::l1()).map(|_| ());
    assert!(matches!(
        init(GroupPrunerConfig::new(1.0)),
        Err(PruneError::InvalidSparsity { .. })
    ));
    assert!(init(GroupPrunerConfig::new(0.5).with_round_to(0)).is_err());
    assert!(init(GroupPrunerConfig::new(0.5).with_max_ratio(1.5)).is_err());
    assert!(matches!(
        init(GroupPrunerConfig::new(0.5).with_ignored(vec!["a.***".into()])),
        Err(PruneError::InvalidPattern { .. })
    ));
    let zero = vec![KeepChannels::new("blocks.0.conv.weight", 0)];
    assert!(matches!(
        init(GroupPrunerConfig::new(0.5).with_keep_channels(zero)),
        Err(PruneError::Config(m)) if m.contains("blocks.0.conv.weight")
    ));
}

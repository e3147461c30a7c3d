//! Early-bird detectors and spline scores against hand-computed values.

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn_prune_core::BitMask;
use burn_prune_metrics::MetricsError;
use burn_prune_metrics::early_bird::{
    ActivationPatterns, EarlyBirdConfig, LayerPattern, Redundancy, SplineEarlyBirdConfig,
    bn_channel_mask, grid_coefficients, grid_coefficients_in, layer_distances, mask_distance,
    pattern_distance, spline_channel_scores, spline_score_details, spline_scores,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Models

#[derive(Module, Debug)]
struct TwoBn {
    fc: Linear,
    bn1: BatchNorm,
    bn2: BatchNorm,
}

fn bn(gamma: &[f32], device: &Device) -> BatchNorm {
    let mut layer = BatchNormConfig::new(gamma.len()).init(device);
    layer.gamma = Param::from_tensor(Tensor::from_floats(gamma, device));
    layer
}

fn two_bn(g1: &[f32], g2: &[f32]) -> TwoBn {
    let d = Device::flex();
    TwoBn {
        fc: LinearConfig::new(3, 4).init(&d),
        bn1: bn(g1, &d),
        bn2: bn(g2, &d),
    }
}

#[derive(Module, Debug)]
struct NoBn {
    fc: Linear,
    norm: LayerNorm,
}

#[derive(Module, Debug)]
struct Nested {
    blocks: Vec<TwoBn>,
}

fn bools(s: &str) -> Vec<bool> {
    s.chars().map(|c| c == '1').collect()
}

fn mask(s: &str) -> BitMask {
    BitMask::from_bools(&bools(s))
}

fn assert_invalid(result: Result<impl std::fmt::Debug, MetricsError>, what: &str) {
    match result {
        Err(MetricsError::InvalidArgument { what: w, reason }) => {
            assert!(
                w.contains(what),
                "`{w}` (reason: {reason}) should name `{what}`"
            )
        }
        other => panic!("expected InvalidArgument naming `{what}`, got {other:?}"),
    }
}

fn assert_mismatch(result: Result<impl std::fmt::Debug, MetricsError>, needle: &str) {
    match result {
        Err(MetricsError::Mismatch { context, reason }) => assert!(
            context.contains(needle) || reason.contains(needle),
            "mismatch `{context}: {reason}` should mention `{needle}`"
        ),
        other => panic!("expected Mismatch mentioning `{needle}`, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// BatchNorm channel mask

#[test]
fn bn_mask_at_half_by_hand() {
    // |γ| = bn1 [0.5, 0.1, 0.3, 0.05], bn2 [0.9, 0.2, 0.01, 0.4]. At p = 0.5, ⌊0.5·8⌋ = 4
    // pruned: the four smallest, 0.01 (bn2[2]), 0.05 (bn1[3]), 0.1 (bn1[1]), 0.2 (bn2[1]).
    let net = two_bn(&[0.5, -0.1, 0.3, 0.05], &[-0.9, 0.2, 0.01, 0.4]);
    let m = bn_channel_mask(&net, 0.5).unwrap();
    assert_eq!(m.mask.to_bools(), bools("10101001"));
    assert_eq!(m.layers.len(), 2);
    assert_eq!(
        (
            m.layers[0].path.as_str(),
            m.layers[0].offset,
            m.layers[0].channels
        ),
        ("bn1.gamma", 0, 4)
    );
    assert_eq!(
        (
            m.layers[1].path.as_str(),
            m.layers[1].offset,
            m.layers[1].channels
        ),
        ("bn2.gamma", 4, 4)
    );
    let split = m.split();
    assert_eq!(split[0].to_bools(), bools("1010"));
    assert_eq!(split[1].to_bools(), bools("1001"));

    // p = 0.25: ⌊2⌋ = 2 pruned (0.01 and 0.05); p = 0.3: ⌊2.4⌋ = 2 as well.
    for p in [0.25, 0.3] {
        let m = bn_channel_mask(&net, p).unwrap();
        assert_eq!(m.mask.to_bools(), bools("11101101"), "p = {p}");
    }
    // p = 0: nothing pruned.
    assert_eq!(bn_channel_mask(&net, 0.0).unwrap().mask.count_ones(), 8);
}

#[test]
fn bn_mask_breaks_ties_by_position() {
    // |γ|: bn1 all 0.2, bn2 [0.2, 0.2, 0.1, 0.2]. p = 0.5 prunes 4: 0.1 (bn2[2]) then the
    // first three of the seven tied 0.2s in position order: bn1[0], bn1[1], bn1[2].
    let net = two_bn(&[0.2, -0.2, 0.2, 0.2], &[-0.2, 0.2, 0.1, 0.2]);
    let a = bn_channel_mask(&net, 0.5).unwrap();
    assert_eq!(a.mask.to_bools(), bools("00011101"));
    assert_eq!(bn_channel_mask(&net, 0.5).unwrap(), a);
}

#[test]
fn bn_mask_snaps_ratio_times_count() {
    // 0.29 · 100 = 28.999999999999996 in f64: still 29 channels pruned.
    let gammas: Vec<f32> = (0..50).map(|i| i as f32 + 1.0).collect();
    let net = two_bn(&gammas, &gammas);
    let m = bn_channel_mask(&net, 0.29).unwrap();
    assert_eq!(m.mask.count_zeros(), 29);
}

#[test]
fn bn_mask_finds_nested_batch_norms() {
    let net = Nested {
        blocks: vec![two_bn(&[1.0, 2.0], &[3.0]), two_bn(&[0.5], &[4.0, 0.1])],
    };
    // |γ| in visiting order: 1, 2, 3, 0.5, 4, 0.1. p = 0.5 prunes 0.1, 0.5, 1.
    let m = bn_channel_mask(&net, 0.5).unwrap();
    assert_eq!(m.mask.to_bools(), bools("011010"));
    let paths: Vec<&str> = m.layers.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "blocks.0.bn1.gamma",
            "blocks.0.bn2.gamma",
            "blocks.1.bn1.gamma",
            "blocks.1.bn2.gamma"
        ]
    );
}

#[test]
fn model_without_batch_norm_is_an_error() {
    // LayerNorm has a `gamma` too: it must not be taken for a BatchNorm scale.
    let d = Device::flex();
    let net = NoBn {
        fc: LinearConfig::new(3, 4).init(&d),
        norm: LayerNormConfig::new(4).init(&d),
    };
    let err = bn_channel_mask(&net, 0.5).unwrap_err();
    assert!(err.to_string().contains("no BatchNorm"), "{err}");
    let mut detector = EarlyBirdConfig::new(0.5).init().unwrap();
    assert_invalid(detector.observe(&net), "model");
    assert_eq!(detector.observations(), 0);
}

#[test]
fn non_finite_scale_names_the_layer() {
    let net = two_bn(&[1.0, 2.0], &[3.0, f32::NAN]);
    let err = bn_channel_mask(&net, 0.5).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bn2.gamma") && msg.contains("channel 1"),
        "{msg}"
    );
}

#[test]
fn bn_mask_rejects_bad_ratio() {
    let net = two_bn(&[1.0], &[2.0]);
    for p in [1.0, -0.1, f64::NAN] {
        assert_invalid(bn_channel_mask(&net, p), "ratio");
    }
}

// ---------------------------------------------------------------------------------------------
// Mask-distance detector

#[test]
fn mask_distance_by_hand() {
    assert_eq!(
        mask_distance(&mask("1100110011"), &mask("1100110011")).unwrap(),
        0.0
    );
    assert_eq!(
        mask_distance(&mask("1100110011"), &mask("0100110010")).unwrap(),
        0.2
    );
    assert_eq!(mask_distance(&mask("1111"), &mask("0000")).unwrap(), 1.0);
    assert_mismatch(mask_distance(&mask("11"), &mask("110")), "2 and 3");
    assert_invalid(mask_distance(&mask(""), &mask("")), "masks");
}

/// Ten channels, so that one differing channel is a distance of exactly 0.1.
const BASE: &str = "1111100000";

fn flip(s: &str, at: &[usize]) -> BitMask {
    let mut b = bools(s);
    for &i in at {
        b[i] = !b[i];
    }
    BitMask::from_bools(&b)
}

#[test]
fn detector_fires_exactly_when_the_newest_is_within_of_the_previous_four() {
    // Distances to BASE: e0 0.3, e1 0.2, e2 0.1, e3.. 0.
    let seq = [
        flip(BASE, &[0, 1, 2]),
        flip(BASE, &[0, 1]),
        flip(BASE, &[0]),
        mask(BASE),
        mask(BASE),
        mask(BASE),
        mask(BASE),
        mask(BASE),
    ];
    let mut d = EarlyBirdConfig::new(0.5).init().unwrap();
    let status: Vec<_> = seq
        .iter()
        .map(|m| d.observe_mask(m.clone()).unwrap())
        .collect();
    // While the FIFO fills up, distances to every earlier mask, but never fired.
    assert_eq!(status[0].distances, Vec::<f64>::new());
    assert_eq!(status[1].distances, vec![0.1]);
    assert_eq!(status[3].distances, vec![0.3, 0.2, 0.1]);
    assert!(status[..4].iter().all(|s| !s.emerged));
    // e4: FIFO e0..e4, distances 0.3, 0.2, 0.1, 0: not yet.
    assert_eq!(status[4].distances, vec![0.3, 0.2, 0.1, 0.0]);
    assert!(!status[4].emerged);
    // e5: e0 was discarded; 0.2, 0.1, 0, 0: not yet (one earlier than the firing epoch).
    assert_eq!(status[5].distances, vec![0.2, 0.1, 0.0, 0.0]);
    assert!(!status[5].emerged);
    assert_eq!(status[5].first_emerged, None);
    // e6: 0.1, 0, 0, 0: a distance of exactly 0.1 counts as within (≤): fired.
    assert_eq!(status[6].distances, vec![0.1, 0.0, 0.0, 0.0]);
    assert!(status[6].emerged);
    assert_eq!(status[6].epoch, 6);
    assert_eq!(status[6].max_distance(), Some(0.1));
    // It keeps reporting, and remembers the first epoch.
    assert!(status[7].emerged);
    assert_eq!(status[7].first_emerged, Some(6));
    assert!(d.fired());
    assert_eq!(d.fired_at(), Some(6));
    assert_eq!(d.ticket(), Some(&mask(BASE)));
    assert_eq!(d.distances(), &[0.0, 0.0, 0.0, 0.0]);
    assert_eq!(d.observations(), 8);
}

#[test]
fn boundary_distance_with_a_lower_threshold_does_not_count() {
    // Same sequence, threshold 0.09: the 0.1 at e6 is now outside; e7 (all 0) fires.
    let seq = [
        flip(BASE, &[0, 1, 2]),
        flip(BASE, &[0, 1]),
        flip(BASE, &[0]),
        mask(BASE),
        mask(BASE),
        mask(BASE),
        mask(BASE),
        mask(BASE),
    ];
    let mut d = EarlyBirdConfig::new(0.5)
        .with_threshold(0.09)
        .init()
        .unwrap();
    let fired: Vec<bool> = seq
        .iter()
        .map(|m| d.observe_mask(m.clone()).unwrap().emerged)
        .collect();
    assert_eq!(
        fired,
        [false, false, false, false, false, false, false, true]
    );
    assert_eq!(d.fired_at(), Some(7));
}

#[test]
fn identical_masks_fire_only_once_the_window_is_full() {
    let mut d = EarlyBirdConfig::new(0.5).init().unwrap();
    for epoch in 0..4 {
        let s = d.observe_mask(mask(BASE)).unwrap();
        assert!(!s.emerged, "epoch {epoch}: only {} masks", epoch + 1);
    }
    assert!(d.observe_mask(mask(BASE)).unwrap().emerged);
    assert_eq!(d.fired_at(), Some(4));
}

#[test]
fn fifo_discards_the_oldest() {
    let mut d = EarlyBirdConfig::new(0.5).with_window(3).init().unwrap();
    let far = mask("0000011111");
    d.observe_mask(far.clone()).unwrap();
    d.observe_mask(mask(BASE)).unwrap();
    // FIFO [far, BASE, BASE]: distance 1 to `far`.
    let s = d.observe_mask(mask(BASE)).unwrap();
    assert_eq!(s.distances, vec![1.0, 0.0]);
    assert!(!s.emerged);
    assert_eq!(d.masks().next(), Some(&far));
    // `far` leaves: FIFO [BASE, BASE, BASE].
    let s = d.observe_mask(mask(BASE)).unwrap();
    assert_eq!(s.distances, vec![0.0, 0.0]);
    assert!(s.emerged);
    assert_eq!(d.masks().len(), 3);
    assert!(d.masks().all(|m| *m == mask(BASE)));
    d.reset();
    assert_eq!(
        (d.observations(), d.masks().len(), d.fired()),
        (0, 0, false)
    );
}

#[test]
fn observe_mask_errors_leave_the_detector_unchanged() {
    let mut d = EarlyBirdConfig::new(0.5).init().unwrap();
    d.observe_mask(mask(BASE)).unwrap();
    assert_invalid(d.observe_mask(mask("")), "early-bird mask");
    assert_mismatch(d.observe_mask(mask("111")), "3 channels");
    assert_eq!(d.observations(), 1);
    assert_eq!(d.masks().len(), 1);
}

#[test]
fn config_validation() {
    assert_invalid(EarlyBirdConfig::new(1.0).init(), "ratio");
    assert_invalid(EarlyBirdConfig::new(-0.01).init(), "ratio");
    assert_invalid(EarlyBirdConfig::new(f64::NAN).init(), "ratio");
    assert_invalid(EarlyBirdConfig::new(0.5).with_window(0).init(), "window");
    assert_invalid(EarlyBirdConfig::new(0.5).with_window(1).init(), "window");
    assert_invalid(
        EarlyBirdConfig::new(0.5).with_threshold(1.5).init(),
        "threshold",
    );
    assert_invalid(
        EarlyBirdConfig::new(0.5).with_threshold(-0.1).init(),
        "threshold",
    );
    let ok = EarlyBirdConfig::new(0.0).init().unwrap();
    assert_eq!(
        (ok.config().window, ok.config().threshold, ok.config().ratio),
        (5, 0.1, 0.0)
    );

    assert_invalid(
        SplineEarlyBirdConfig::new().with_lookback(0).init(),
        "look-back",
    );
    for t in [0.0, -0.1, 1.5, f64::NAN] {
        assert_invalid(
            SplineEarlyBirdConfig::new().with_threshold(t).init(),
            "threshold",
        );
    }
    let ok = SplineEarlyBirdConfig::new().init().unwrap();
    assert_eq!((ok.config().lookback, ok.config().threshold), (3, 0.16));
}

#[test]
fn detector_observes_models() {
    // Window 2, threshold 0.25. p = 0.5 of 8 channels.
    let mut d = EarlyBirdConfig::new(0.5)
        .with_window(2)
        .with_threshold(0.25)
        .init()
        .unwrap();
    // Epoch 0: mask 10101001 (see `bn_mask_at_half_by_hand`).
    let e0 = two_bn(&[0.5, -0.1, 0.3, 0.05], &[-0.9, 0.2, 0.01, 0.4]);
    assert!(!d.observe(&e0).unwrap().emerged);
    // Epoch 1: bn1[1] grows past bn1[2] → mask 11001001: 2 of 8 differ = 0.25 ≤ 0.25.
    let e1 = two_bn(&[0.5, 0.35, 0.3, 0.05], &[-0.9, 0.2, 0.01, 0.4]);
    let s = d.observe(&e1).unwrap();
    assert_eq!(s.distances, vec![0.25]);
    assert!(s.emerged);
    assert_eq!(d.ticket().unwrap().to_bools(), bools("11001001"));
    assert_eq!(d.layers().unwrap()[1].path, "bn2.gamma");

    // A model whose BatchNorm layout changed is an error naming the layer.
    let other = two_bn(&[0.5, 0.35, 0.3, 0.05], &[0.9, 0.2, 0.01]);
    assert_mismatch(d.observe(&other), "bn2.gamma");
    assert_eq!(d.observations(), 2);
}

// ---------------------------------------------------------------------------------------------
// Spline patterns and detector

fn layer(name: &str, units: usize, points: usize, bits: &str) -> LayerPattern {
    LayerPattern::new(name, units, points, mask(bits)).unwrap()
}

#[test]
fn spline_distances_by_hand() {
    let a = ActivationPatterns::new(vec![
        layer("bn1", 2, 4, "10000000"),
        layer("bn2", 1, 4, "1111"),
    ])
    .unwrap();
    let b = ActivationPatterns::new(vec![
        layer("bn1", 2, 4, "00000001"),
        layer("bn2", 1, 4, "1100"),
    ])
    .unwrap();
    // bn1: 2 of 8 bits differ; bn2: 2 of 4.
    assert_eq!(layer_distances(&a, &b).unwrap(), vec![0.25, 0.5]);
    assert_eq!(pattern_distance(&a, &b).unwrap(), 0.375);
    assert_eq!(pattern_distance(&b, &a).unwrap(), 0.375);
    assert_eq!(pattern_distance(&a, &a).unwrap(), 0.0);
}

/// One layer of one unit over 100 points, active at the first `active` of them.
fn prefix(active: usize) -> ActivationPatterns {
    ActivationPatterns::new(vec![
        LayerPattern::from_fn("bn1", 1, 100, |_, p| p < active).unwrap(),
    ])
    .unwrap()
}

#[test]
fn spline_detector_fires_at_the_right_epoch() {
    let mut d = SplineEarlyBirdConfig::new().init().unwrap();
    let seq = [0, 30, 40, 45, 50, 52];
    let s: Vec<_> = seq.iter().map(|&a| d.observe(prefix(a)).unwrap()).collect();
    assert_eq!(s[1].distances, vec![0.3]);
    assert_eq!(s[2].distances, vec![0.4, 0.1]);
    // e3: three previous epochs, max 0.45.
    assert_eq!(s[3].distances, vec![0.45, 0.15, 0.05]);
    // e4: epoch 0 dropped; max 0.2.
    assert_eq!(s[4].distances, vec![0.2, 0.1, 0.05]);
    assert!(s[..5].iter().all(|x| !x.emerged));
    // e5: 0.12, 0.07, 0.02: max 0.12 < 0.16.
    assert_eq!(s[5].distances, vec![0.12, 0.07, 0.02]);
    assert!(s[5].emerged);
    assert_eq!(d.fired_at(), Some(5));
    assert_eq!(d.held().len(), 3);
}

#[test]
fn spline_threshold_is_strict() {
    // e4's largest distance is exactly 0.16: not below 0.16, so not fired; e5 fires.
    let seq = [0, 50, 60, 66, 66, 66];
    let mut d = SplineEarlyBirdConfig::new().init().unwrap();
    let s: Vec<_> = seq.iter().map(|&a| d.observe(prefix(a)).unwrap()).collect();
    assert_eq!(s[4].distances, vec![0.16, 0.06, 0.0]);
    assert!(!s[4].emerged);
    assert!(s[5].emerged);
    assert_eq!(d.fired_at(), Some(5));
    // With a threshold just above, e4 fires.
    let mut d = SplineEarlyBirdConfig::new()
        .with_threshold(0.17)
        .init()
        .unwrap();
    for &a in &seq[..5] {
        d.observe(prefix(a)).unwrap();
    }
    assert_eq!(d.fired_at(), Some(4));
}

#[test]
fn spline_layout_mismatches_name_the_layer() {
    let mut d = SplineEarlyBirdConfig::new().init().unwrap();
    let two = |n1: &str, u2: usize| {
        ActivationPatterns::new(vec![
            LayerPattern::from_fn(n1, 2, 4, |u, p| u == p).unwrap(),
            LayerPattern::from_fn("bn2", u2, 4, |_, p| p == 0).unwrap(),
        ])
        .unwrap()
    };
    d.observe(two("bn1", 3)).unwrap();
    assert_mismatch(d.observe(two("bn1_renamed", 3)), "bn1_renamed");
    assert_mismatch(d.observe(two("bn1", 5)), "bn2");
    let one = ActivationPatterns::new(vec![
        LayerPattern::from_fn("bn1", 2, 4, |u, p| u == p).unwrap(),
    ])
    .unwrap();
    assert_mismatch(d.observe(one), "bn2");
    // Different point counts.
    let points = ActivationPatterns::new(vec![
        LayerPattern::from_fn("bn1", 2, 9, |u, p| u == p).unwrap(),
        LayerPattern::from_fn("bn2", 3, 9, |_, p| p == 0).unwrap(),
    ])
    .unwrap();
    assert_mismatch(d.observe(points), "bn1");
    assert_eq!(d.observations(), 1);
    assert!(d.observe(two("bn1", 3)).is_ok());
}

#[test]
fn empty_and_malformed_patterns_are_errors() {
    assert_invalid(ActivationPatterns::new(vec![]), "activation patterns");
    let mut d = SplineEarlyBirdConfig::new().init().unwrap();
    assert_invalid(
        d.observe(ActivationPatterns { layers: vec![] }),
        "activation patterns",
    );
    assert_invalid(LayerPattern::new("bn1", 0, 4, mask("")), "bn1");
    assert_invalid(LayerPattern::new("bn1", 2, 0, mask("")), "bn1");
    assert_invalid(LayerPattern::new("bn1", 2, 4, mask("1010")), "bn1");
    let dup = ActivationPatterns::new(vec![layer("bn1", 1, 2, "10"), layer("bn1", 1, 2, "01")]);
    assert_invalid(dup, "activation patterns");
    // A pattern with a wrong bit count built through the public fields.
    let bad = ActivationPatterns {
        layers: vec![LayerPattern {
            name: "relu3".into(),
            units: 2,
            points: 4,
            bits: mask("101"),
        }],
    };
    assert_invalid(d.observe(bad.clone()), "relu3");
    assert_invalid(pattern_distance(&bad, &bad), "relu3");
    assert_eq!(d.observations(), 0);
}

// ---------------------------------------------------------------------------------------------
// Grid

#[test]
fn grid_coefficients_cover_the_unit_square_alpha_fastest() {
    let g = grid_coefficients(100);
    assert_eq!(g.len(), 10_000);
    assert_eq!(g[0], (0.0, 0.0));
    assert_eq!(g[99], (1.0, 0.0));
    assert_eq!(g[100], (0.0, (1.0f64 / 99.0) as f32));
    assert_eq!(g[1], ((1.0f64 / 99.0) as f32, 0.0));
    assert_eq!(g[9_999], (1.0, 1.0));
    // Row r, column c holds (t_c, t_r).
    assert_eq!(
        g[37 * 100 + 12],
        ((12.0f64 / 99.0) as f32, (37.0f64 / 99.0) as f32)
    );
    assert!(
        g.iter()
            .all(|&(a, b)| (0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b))
    );

    assert_eq!(grid_coefficients(1), vec![(0.0, 0.0)]);
    assert!(grid_coefficients(0).is_empty());
    assert_eq!(
        grid_coefficients(2),
        vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
    );

    let wide = grid_coefficients_in(4, -1.0, 2.0).unwrap();
    assert_eq!(wide[5], (0.0, 0.0));
    assert_eq!(wide[15], (2.0, 2.0));
    assert_invalid(grid_coefficients_in(4, 1.0, 1.0), "grid range");
    assert_invalid(grid_coefficients_in(4, f32::NAN, 1.0), "grid range");
}

#[test]
fn a_unit_thresholding_alpha_on_the_grid_has_one_straight_boundary() {
    // Pre-activation α − 0.5 on a 4×4 grid (t = 0, 1/3, 2/3, 1): active in columns 2 and 3.
    // Its boundary crosses the grid vertically: 4 of the 24 adjacent pairs flip.
    let n = 4;
    let g = grid_coefficients(n);
    let p = LayerPattern::from_fn("relu1", 1, n * n, |_, i| g[i].0 - 0.5 > 0.0).unwrap();
    assert_eq!(p.bits.to_bools(), bools("0011001100110011"));
    assert_eq!(spline_scores(&p, n).unwrap(), vec![(4.0f64 / 24.0) as f32]);
}

// ---------------------------------------------------------------------------------------------
// Spline scores

/// 4×4 grid patterns (point = row·4 + col).
const VERTICAL: &str = "0011001100110011"; // col ≥ 2
const VERTICAL_COMPLEMENT: &str = "1100110011001100";
const HORIZONTAL: &str = "0000000011111111"; // row ≥ 2
const VERTICAL_NUDGED: &str = "0111001100110011"; // VERTICAL plus (row 0, col 1)
const CHECKER: &str = "0101101001011010";

fn units(patterns: &[&str]) -> LayerPattern {
    let bits: String = patterns.concat();
    layer("relu", patterns.len(), 16, &bits)
}

#[test]
fn redundant_units_score_exactly_zero() {
    let p = units(&[
        "0000000000000000",  // 0: never active
        VERTICAL,            // 1
        "1111111111111111",  // 2: always active
        VERTICAL,            // 3: duplicate of 1
        VERTICAL_COMPLEMENT, // 4: complement of 1
        HORIZONTAL,          // 5
    ]);
    let d = spline_score_details(&p, 4).unwrap();
    let why: Vec<_> = d.iter().map(|s| s.redundancy).collect();
    assert_eq!(
        why,
        [
            Some(Redundancy::Constant),
            None,
            Some(Redundancy::Constant),
            Some(Redundancy::DuplicateOf(1)),
            Some(Redundancy::ComplementOf(1)),
            None
        ]
    );
    // Unit 1 and 5: a straight boundary each, 4 of 24 pairs; they differ at 8 of 16 points,
    // so the nearest other boundary is as far as can be (E = 2·8/16 = 1): score 1/6.
    let sixth = (1.0f64 / 6.0) as f32;
    assert_eq!(
        spline_scores(&p, 4).unwrap(),
        vec![0.0, sixth, 0.0, 0.0, 0.0, sixth]
    );
    assert_eq!(d[1].boundary, sixth);
    assert_eq!(d[1].distinctness, 1.0);
    assert_eq!(d[0].boundary, 0.0);
}

#[test]
fn nearly_coinciding_boundaries_score_their_distinctness() {
    // VERTICAL and VERTICAL_NUDGED differ at 1 of 16 points: E = 2/16 = 0.125, below their
    // boundary fractions (4/24 and 5/24). HORIZONTAL: nearest is VERTICAL_NUDGED at
    // min(9, 7) = 7 points, E = 0.875, so its score is its boundary fraction 4/24.
    let p = units(&[VERTICAL, VERTICAL_NUDGED, HORIZONTAL]);
    let d = spline_score_details(&p, 4).unwrap();
    assert_eq!(d[1].boundary, (5.0f64 / 24.0) as f32);
    assert_eq!(d[0].distinctness, 0.125);
    assert_eq!(d[1].distinctness, 0.125);
    assert_eq!(d[2].distinctness, 0.875);
    assert_eq!(
        spline_scores(&p, 4).unwrap(),
        vec![0.125, 0.125, (4.0f64 / 24.0) as f32]
    );
}

#[test]
fn a_checkerboard_scores_one() {
    // Every one of the 24 adjacent pairs flips; no other boundary.
    let p = units(&[CHECKER, "0000000000000000"]);
    assert_eq!(spline_scores(&p, 4).unwrap(), vec![1.0, 0.0]);
}

#[test]
fn channel_scores_average_their_units() {
    // 2 channels × 2 positions: channel 0 = [VERTICAL, HORIZONTAL] (1/6 each), channel 1 =
    // [duplicate of VERTICAL, constant].
    let p = units(&[VERTICAL, HORIZONTAL, VERTICAL, "0000000000000000"]);
    let s = spline_channel_scores(&p, 4, 2).unwrap();
    assert_eq!(s, vec![(1.0f64 / 6.0) as f32, 0.0]);
    assert_eq!(spline_channel_scores(&p, 4, 4).unwrap().len(), 4);
    assert_mismatch(spline_channel_scores(&p, 4, 3), "3 channels");
    assert_mismatch(spline_channel_scores(&p, 4, 0), "0 channels");
}

#[test]
fn spline_scores_reject_bad_grids() {
    let p = units(&[VERTICAL]);
    assert_mismatch(spline_scores(&p, 3), "relu");
    assert_mismatch(spline_scores(&p, 5), "relu");
    let single = layer("relu9", 2, 1, "10");
    assert_mismatch(spline_scores(&single, 1), "relu9");
    let bad = LayerPattern {
        name: "relu7".into(),
        units: 2,
        points: 16,
        bits: mask(VERTICAL),
    };
    assert_invalid(spline_scores(&bad, 4), "relu7");
}

// ---------------------------------------------------------------------------------------------
// Properties

fn arb_pattern() -> impl Strategy<Value = (LayerPattern, usize)> {
    (1usize..8, 2usize..6).prop_flat_map(|(u, n)| {
        prop::collection::vec(any::<bool>(), u * n * n).prop_map(move |bits| {
            (
                LayerPattern::new("l", u, n * n, BitMask::from_bools(&bits)).unwrap(),
                n,
            )
        })
    })
}

fn unit_bits(p: &LayerPattern, u: usize) -> Vec<bool> {
    (0..p.points).map(|i| p.get(u, i).unwrap()).collect()
}

fn arb_pair() -> impl Strategy<Value = (ActivationPatterns, ActivationPatterns)> {
    prop::collection::vec((1usize..5, 1usize..40), 1..4).prop_flat_map(|shapes| {
        let total: usize = shapes.iter().map(|(u, p)| u * p).sum();
        (
            prop::collection::vec(any::<bool>(), total),
            prop::collection::vec(any::<bool>(), total),
        )
            .prop_map(move |(a, b)| {
                let build = |bits: &[bool]| {
                    let mut at = 0;
                    let layers = shapes
                        .iter()
                        .enumerate()
                        .map(|(i, &(u, p))| {
                            let chunk = &bits[at..at + u * p];
                            at += u * p;
                            LayerPattern::new(format!("l{i}"), u, p, BitMask::from_bools(chunk))
                                .unwrap()
                        })
                        .collect();
                    ActivationPatterns::new(layers).unwrap()
                };
                (build(&a), build(&b))
            })
    })
}

proptest! {
    #[test]
    fn scores_lie_in_the_unit_interval((p, n) in arb_pattern()) {
        let d = spline_score_details(&p, n).unwrap();
        for s in &d {
            prop_assert!((0.0..=1.0).contains(&s.score));
            prop_assert_eq!(s.score == 0.0, s.redundancy.is_some());
        }
    }

    #[test]
    fn permuting_units_permutes_the_scores(
        (p, n) in arb_pattern(),
        keys in prop::collection::vec(any::<u32>(), 8),
    ) {
        // perm[new] = old.
        let mut perm: Vec<usize> = (0..p.units).collect();
        perm.sort_by_key(|&i| (keys[i], i));
        let permuted = LayerPattern::from_fn("l", p.units, p.points, |u, i| {
            p.get(perm[u], i).unwrap()
        })
        .unwrap();
        let before = spline_scores(&p, n).unwrap();
        let after = spline_scores(&permuted, n).unwrap();
        // Units without an equal or complementary partner keep their score.
        for (new, &old) in perm.iter().enumerate() {
            let b = unit_bits(&p, old);
            let c: Vec<bool> = b.iter().map(|x| !x).collect();
            let has_partner = (0..p.units)
                .any(|v| v != old && (unit_bits(&p, v) == b || unit_bits(&p, v) == c));
            if !has_partner {
                prop_assert_eq!(after[new], before[old]);
            }
        }
        // The multiset of scores is unchanged.
        let sorted = |mut v: Vec<f32>| { v.sort_by(f32::total_cmp); v };
        prop_assert_eq!(sorted(after), sorted(before));
    }

    #[test]
    fn appending_a_duplicate_or_complement_scores_zero(
        (p, n) in arb_pattern(),
        which in any::<prop::sample::Index>(),
        complement in any::<bool>(),
    ) {
        let src = which.index(p.units);
        let grown = LayerPattern::from_fn("l", p.units + 1, p.points, |u, i| {
            if u < p.units { p.get(u, i).unwrap() } else { p.get(src, i).unwrap() ^ complement }
        })
        .unwrap();
        let before = spline_scores(&p, n).unwrap();
        let after = spline_scores(&grown, n).unwrap();
        prop_assert_eq!(after[p.units], 0.0);
        prop_assert_eq!(&after[..p.units], &before[..]);
    }

    #[test]
    fn pattern_distance_is_symmetric_and_zero_on_identical((a, b) in arb_pair()) {
        let ab = pattern_distance(&a, &b).unwrap();
        prop_assert_eq!(ab, pattern_distance(&b, &a).unwrap());
        prop_assert!((0.0..=1.0).contains(&ab));
        prop_assert_eq!(pattern_distance(&a, &a).unwrap(), 0.0);
        prop_assert_eq!(layer_distances(&a, &b).unwrap(), layer_distances(&b, &a).unwrap());
    }

    #[test]
    fn mask_distance_is_symmetric_and_zero_on_identical(
        (a, b) in (1usize..200).prop_flat_map(|n| (
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(any::<bool>(), n),
        ))
    ) {
        let (x, y) = (BitMask::from_bools(&a), BitMask::from_bools(&b));
        let d = mask_distance(&x, &y).unwrap();
        let differing = a.iter().zip(&b).filter(|(p, q)| p != q).count();
        prop_assert_eq!(d, differing as f64 / a.len() as f64);
        prop_assert_eq!(d, mask_distance(&y, &x).unwrap());
        prop_assert_eq!(mask_distance(&x, &x).unwrap(), 0.0);
    }
}

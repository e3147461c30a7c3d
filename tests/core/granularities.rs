//! Granularities × scopes: exact counts, unit alignment, order, floors, determinism, and the
//! same masks on flex and ndarray — as properties over random models and targets.

use crate::common::{SmallCnn, values};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::{Granularity, MaskSet, OutputLayers, PrunerConfig, Scope, SparsityReport};
use proptest::prelude::*;

/// Unit count of each default-selected parameter of `SmallCnn::new(channels, classes)`, by hand.
fn units_by_hand(channels: &[usize], classes: usize, g: Granularity) -> Vec<usize> {
    let mut shapes: Vec<(usize, usize, usize)> =
        channels.windows(2).map(|w| (w[1], w[0], 9)).collect();
    shapes.push((classes, *channels.last().unwrap(), 1)); // (out, in, kernel) of the linear head
    shapes
        .into_iter()
        .map(|(o, i, k)| match g {
            Granularity::Element => o * i * k,
            Granularity::Kernel => o * i,
            Granularity::Filter => o,
            Granularity::Channel => i,
            _ => unreachable!(),
        })
        .collect()
}

fn check_unit_aligned(masks: &MaskSet) {
    for m in masks.iter() {
        let map = burn_prune::UnitMap::new(&m.path, &m.shape, m.layout, m.granularity).unwrap();
        let bits = m.keep.to_bools();
        let mut state: Vec<Option<bool>> = vec![None; map.n_units()];
        map.for_each(|e, u| match state[u] {
            None => state[u] = Some(bits[e]),
            Some(s) => assert_eq!(s, bits[e], "{}: unit {u} partly pruned", m.path),
        });
    }
}

fn granularity() -> impl Strategy<Value = Granularity> {
    prop_oneof![
        Just(Granularity::Element),
        Just(Granularity::Kernel),
        Just(Granularity::Filter),
        Just(Granularity::Channel),
    ]
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Scope::Local), Just(Scope::Global), Just(Scope::Lamp)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn exact_counts_and_floors(
        channels in prop::collection::vec(1usize..7, 2..4),
        classes in 1usize..5,
        sparsity in 0.0f64..0.95,
        g in granularity(),
        scope in scope(),
        seed in 0u64..1000,
    ) {
        let device = Device::flex();
        device.seed(seed);
        let model = SmallCnn::new(&channels, classes, &device);
        // Every selected parameter competes, the head's filters (the model's outputs) included.
        let pruner = PrunerConfig::new(sparsity).with_granularity(g).with_scope(scope.clone())
            .with_output_layers(OutputLayers::None).init(Magnitude::l2()).unwrap();
        let units = units_by_hand(&channels, classes, g);
        let result = pruner.masks(&model);
        let total: usize = units.iter().sum();
        let want_total = (sparsity * total as f64).round() as usize;
        let capacity: usize = units.iter().map(|u| u - 1).sum();
        if scope != Scope::Local && want_total > capacity {
            let too_many = matches!(result, Err(burn_prune::PruneError::TooManyToPrune { .. }));
            prop_assert!(too_many, "expected TooManyToPrune, got {:?}", result);
            return Ok(());
        }
        let masks = result.unwrap();
        check_unit_aligned(&masks);
        let report = SparsityReport::from_masks(&masks);
        let pruned: Vec<usize> = report.params.iter().map(|p| p.units_pruned).collect();
        prop_assert_eq!(report.params.iter().map(|p| p.units).collect::<Vec<_>>(), units.clone());
        for (p, u) in pruned.iter().zip(&units) {
            prop_assert!(p < u, "a parameter lost all its units");
        }
        match scope {
            Scope::Local => for (p, u) in pruned.iter().zip(&units) {
                let want = ((sparsity * *u as f64).round() as usize).min(u - 1);
                prop_assert_eq!(*p, want);
            },
            _ => prop_assert_eq!(pruned.iter().sum::<usize>(), want_total),
        }
        prop_assert_eq!(pruner.masks(&model).unwrap(), masks, "deterministic");
    }

    #[test]
    fn global_magnitude_prunes_the_smallest_units(
        channels in prop::collection::vec(2usize..6, 2..4),
        sparsity in 0.05f64..0.6,
        g in granularity(),
        seed in 0u64..1000,
    ) {
        let device = Device::flex();
        device.seed(seed);
        let model = SmallCnn::new(&channels, 3, &device);
        let masks = PrunerConfig::new(sparsity)
            .with_granularity(g)
            .with_min_kept(0)
            .with_output_layers(OutputLayers::None)
            .init(Magnitude::l1()).unwrap()
            .masks(&model)
            .unwrap();
        let weights: Vec<Vec<f32>> = model
            .blocks
            .iter()
            .map(|b| values(b.conv.weight.val()))
            .chain([values(model.fc.weight.val())])
            .collect();
        let (mut max_pruned, mut min_kept) = (f32::MIN, f32::MAX);
        for (m, w) in masks.iter().zip(&weights) {
            let map = burn_prune::UnitMap::new(&m.path, &m.shape, m.layout, g).unwrap();
            let l1 = map.reduce(w, burn_prune::Reduction::L1);
            let bits = m.keep.to_bools();
            let mut unit_kept = vec![false; map.n_units()];
            map.for_each(|e, u| unit_kept[u] |= bits[e]);
            for (s, k) in l1.iter().zip(unit_kept) {
                if k { min_kept = min_kept.min(*s) } else { max_pruned = max_pruned.max(*s) }
            }
        }
        prop_assert!(max_pruned <= min_kept, "pruned {max_pruned} > kept {min_kept}");
    }
}

#[test]
fn n_m_keeps_the_largest_n_in_every_group() {
    let device = Device::flex();
    device.seed(3);
    let model = SmallCnn::new(&[4, 8, 8], 4, &device);
    let masks = PrunerConfig::new(0.5)
        .with_granularity(Granularity::NM { n: 2, m: 4 })
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    // Conv [8, 8, 3, 3]: groups are 4 consecutive input channels at one (out, ky, kx).
    let w = values(model.blocks[1].conv.weight.val());
    let bits = masks.get("blocks.1.conv.weight").unwrap().keep.to_bools();
    let flat = |o: usize, i: usize, k: usize| (o * 8 + i) * 9 + k;
    for o in 0..8 {
        for k in 0..9 {
            for g in 0..2 {
                let idx: Vec<usize> = (0..4).map(|j| flat(o, g * 4 + j, k)).collect();
                assert_eq!(idx.iter().filter(|&&e| bits[e]).count(), 2);
                let kept_min = idx
                    .iter()
                    .filter(|&&e| bits[e])
                    .map(|&e| w[e].abs())
                    .fold(f32::MAX, f32::min);
                let pruned_max = idx
                    .iter()
                    .filter(|&&e| !bits[e])
                    .map(|&e| w[e].abs())
                    .fold(f32::MIN, f32::max);
                assert!(pruned_max <= kept_min);
            }
        }
    }
    // Linear [8, 4]: groups are 4 consecutive inputs (rows) of one output column.
    let fc = masks.get("fc.weight").unwrap().keep.to_bools();
    for o in 0..4 {
        for g in 0..2 {
            let kept = (0..4).filter(|j| fc[(g * 4 + j) * 4 + o]).count();
            assert_eq!(kept, 2, "column {o}, group {g}");
        }
    }
    assert_eq!(SparsityReport::from_masks(&masks).sparsity(), 0.5);
}

#[test]
fn blocks_are_whole_tiles() {
    let device = Device::flex();
    let model = SmallCnn::new(&[4, 8, 8], 4, &device);
    let masks = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Block { out: 4, input: 2 })
        .with_scope(Scope::Local)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&model)
        .unwrap();
    check_unit_aligned(&masks);
    let report = SparsityReport::from_masks(&masks);
    // conv0 [8, 4]: 2×2 tiles, conv1 [8, 8]: 2×4, fc [in 8, out 4]: 1×4.
    let units: Vec<(usize, usize)> = report
        .params
        .iter()
        .map(|p| (p.units, p.units_pruned))
        .collect();
    assert_eq!(units, [(4, 2), (8, 4), (4, 2)]);
}

#[test]
#[allow(deprecated)] // Device::ndarray is deprecated in Burn 0.22 but still a supported backend
fn flex_and_ndarray_give_the_same_masks() {
    let flex = Device::flex();
    flex.seed(11);
    let model = SmallCnn::new(&[4, 8, 16], 10, &flex);
    let on_ndarray = model.clone().to_device(&Device::ndarray());
    for g in [
        Granularity::Element,
        Granularity::Filter,
        Granularity::Kernel,
        Granularity::NM { n: 1, m: 2 },
    ] {
        let sparsity = if matches!(g, Granularity::NM { .. }) {
            0.5
        } else {
            0.6
        };
        let scope = if matches!(g, Granularity::NM { .. }) {
            Scope::Global
        } else {
            Scope::Lamp
        };
        let pruner = PrunerConfig::new(sparsity)
            .with_granularity(g)
            .with_scope(scope)
            .init(Magnitude::l2())
            .unwrap();
        let a = pruner.masks(&model);
        let b = pruner.masks(&on_ndarray);
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{g}"),
            (Err(a), Err(b)) => assert_eq!(a, b, "{g}"),
            (a, b) => panic!("{g}: {a:?} vs {b:?}"),
        }
    }
}

//! A criterion defined outside the library, as a downstream crate would.

use crate::common::SmallCnn;
use burn::prelude::*;
use burn_prune::{
    Criterion, Granularity, LayerKind, Needs, OutputLayers, PrunerConfig, Result, Scope,
    ScoreContext, Scores,
};

/// Scores each filter by the index of its output channel, reversed: filter 0 is the most
/// important, the last the least. Easy to predict, so the masks can be checked by hand.
struct ReverseIndex;

impl Criterion for ReverseIndex {
    fn name(&self) -> String {
        "reverse-index".into()
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        let n = ctx.units.n_units();
        assert_eq!(ctx.weight.len(), ctx.param.numel());
        Ok(Scores::Units((0..n).map(|u| (n - u) as f32).collect()))
    }
}

#[test]
fn downstream_criterion_drives_the_pruner() {
    let device = Device::flex();
    let model = SmallCnn::new(&[3, 8, 6], 4, &device);
    let pruner = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Local)
        .with_output_layers(OutputLayers::None) // the head's columns are pruned too
        .init(ReverseIndex)
        .unwrap();
    let masks = pruner.masks(&model).unwrap();
    // Convs: filters are axis 0; 8 filters → the last 4 pruned; 6 → the last 3 pruned.
    let conv0 = masks.get("blocks.0.conv.weight").unwrap();
    let per_filter = 3 * 3 * 3;
    for f in 0..8 {
        let kept = conv0.keep.get(f * per_filter).unwrap();
        assert_eq!(kept, f < 4, "filter {f}");
    }
    let conv1 = masks.get("blocks.1.conv.weight").unwrap();
    assert_eq!(conv1.keep.count_zeros(), 3 * 8 * 9);
    // Linear [6, 4]: filters are columns; columns 2 and 3 pruned.
    let fc = masks.get("fc.weight").unwrap();
    let fc_bits = fc.keep.to_bools();
    for i in 0..6 {
        for o in 0..4 {
            assert_eq!(fc_bits[i * 4 + o], o < 2, "fc ({i}, {o})");
        }
    }
    // Defaults selected exactly the conv and linear weights.
    let paths: Vec<&str> = masks.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        paths,
        ["blocks.0.conv.weight", "blocks.1.conv.weight", "fc.weight"]
    );
    let kinds: Vec<LayerKind> = burn_prune::param_addresses(&model)
        .into_iter()
        .filter(|p| p.is_default_prunable())
        .map(|p| p.kind)
        .collect();
    assert_eq!(kinds, [LayerKind::Conv, LayerKind::Conv, LayerKind::Linear]);
}

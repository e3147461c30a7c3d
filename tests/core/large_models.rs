//! Global magnitude pruning of weights too many to select in one piece: the pruner reads
//! them off the device in pieces and settles the threshold in one pass; the masks must be
//! those of a full sort of the effective weights.

use crate::common::{values, wide};
use burn::prelude::*;
use burn_prune::criterion::{Criterion, Magnitude, ScoreContext, Scores};
use burn_prune::{MaskSet, PrunerConfig, Result, Scope, masks_of};

/// Magnitude without declaring it: the pruner holds every weight and ranks the copies.
struct Undeclared;

impl Criterion for Undeclared {
    fn name(&self) -> String {
        "undeclared magnitude".into()
    }
    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        Magnitude::l1().score(ctx)
    }
}

/// A parameter's effective values (pruned entries at zero), read on the host.
fn effective(weight: &Tensor<2>, path: &str, installed: &MaskSet) -> Vec<f32> {
    let values = values(weight.clone());
    let keep = installed.get(path).expect("installed mask").keep.to_bools();
    values
        .iter()
        .zip(keep)
        .map(|(&v, k)| if k { v } else { 0.0 })
        .collect()
}

#[test]
fn global_magnitude_over_many_pieces_equals_a_full_sort() {
    let net = wide(&Device::flex());
    let installed = masks_of(&net).unwrap();
    let host: Vec<(&str, Vec<f32>)> = vec![
        (
            "a.weight",
            effective(&net.a.weight.val(), "a.weight", &installed),
        ),
        (
            "b.weight",
            effective(&net.b.weight.val(), "b.weight", &installed),
        ),
        (
            "c.weight",
            effective(&net.c.weight.val(), "c.weight", &installed),
        ),
    ];
    let total: usize = host.iter().map(|(_, v)| v.len()).sum();
    assert_eq!(total, 123_697);
    for sparsity in [0.6, 0.9] {
        let config = PrunerConfig::new(sparsity).with_scope(Scope::Global);
        let masks = config.init(Magnitude::l1()).unwrap().masks(&net).unwrap();
        // The reference: sort every magnitude, prune the k lowest (no ties but the zeros,
        // which all fall below the threshold at these targets).
        let k = (sparsity * total as f64).round() as usize;
        let mut all: Vec<f32> = host
            .iter()
            .flat_map(|(_, v)| v.iter().map(|x| x.abs()))
            .collect();
        all.sort_by(f32::total_cmp);
        let kth = all[k - 1];
        assert!(
            all[k] > kth,
            "a tie at the threshold would make the reference ambiguous"
        );
        for (path, values) in &host {
            let want: Vec<bool> = values.iter().map(|v| v.abs() > kth).collect();
            assert_eq!(
                masks.get(path).unwrap().keep.to_bools(),
                want,
                "{path} at {sparsity}"
            );
        }
        // The same masks when the pruner holds the weights instead of streaming them.
        let held = config.init(Undeclared).unwrap().masks(&net).unwrap();
        assert_eq!(masks, held, "{sparsity}");
    }
}

//! Scopes: how a sparsity target is shared out among parameters.

use crate::error::{PruneError, Result};
use crate::mask::BitMask;
use crate::threshold::{Keys, NonFinite, Segments, SelectError, Subset, prune_lowest_in};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the pruned units are shared out among the selected parameters.
///
/// Every scope prunes exactly `round(s·n)` units (of `n` in its pool), lowest scores first,
/// ties broken by position (model order, then index), and never leaves a parameter with fewer
/// than `min_kept` units.
///
/// The structural pruner takes the same scopes for channels
/// ([`GroupPrunerConfig::scope`](crate::structure::GroupPrunerConfig::scope)): per dependency
/// group instead of per parameter, and a density names a layer whose output channels it
/// keeps. Both select through the same O(n) selection of the lowest scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Scope {
    /// Each parameter loses `round(s·n_p)` of its own `n_p` units (fewer if that would leave
    /// it under `min_kept`).
    Local,
    /// One threshold over all selected parameters: `round(s·N)` of all `N` units, wherever they
    /// are. A parameter about to go under `min_kept` is held there and the count is made up
    /// from the others. Scores are ranked as the criterion gives them ([`Scope::Lamp`] is
    /// the normalised variant); the structural pruner divides each group's channel scores by
    /// their mean first by default
    /// ([`GroupPrunerConfig::normalization`](crate::structure::GroupPrunerConfig::normalization)),
    /// so that layers of different sizes and scales all lose channels.
    #[default]
    Global,
    /// Layer-adaptive magnitude pruning (Lee et al. 2021): within each parameter, unit `u`
    /// gets `s_u² / Σ_{v ranked at or above u} s_v²` (see [`lamp_scores`]); then one global
    /// threshold as in [`Scope::Global`].
    Lamp,
    /// An explicit density (fraction kept, in `(0, 1]`) per parameter path; selected
    /// parameters not in the map are pruned locally at the pruner's sparsity.
    Densities(BTreeMap<String, f64>),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::Global => f.write_str("global"),
            Self::Lamp => f.write_str("LAMP"),
            Self::Densities(m) => write!(f, "densities ({} parameters)", m.len()),
        }
    }
}

/// `round(s·n)`.
pub(crate) fn count_for(sparsity: f64, n: usize) -> usize {
    ((sparsity * n as f64).round() as usize).min(n)
}

/// LAMP scores of one parameter's unit scores (see [`Scope::Lamp`]): [`lamp`] of the squared
/// scores, as Lee et al. define it on weights (`w²`).
pub fn lamp_scores(scores: &[f32]) -> Vec<f32> {
    lamp_of(scores.iter().map(|&s| (s as f64) * (s as f64)).collect())
}

/// LAMP (Lee et al. 2021) of non-negative importances `s`: unit `u` gets
/// `s_u / Σ_{v ranked at or above u} s_v`, ranking by importance descending, ties by index
/// (the lower index ranks higher); 0 where that sum is 0. The strongest unit scores 1.
///
/// The one definition of LAMP in the crate: [`Scope::Lamp`] applies it to squared unit
/// scores ([`lamp_scores`]), `GroupNormalization::Lamp` to group importances as they are
/// (Torch-Pruning's `lamp` normaliser).
///
/// ```
/// use burn_prune_core::lamp;
///
/// // Ranked 3 (u0), 2 (u2), 1 (u1): running sums 3, 5, 6.
/// let l = lamp(&[3.0, 1.0, 2.0]);
/// for (a, b) in l.iter().zip([1.0, 1.0 / 6.0, 2.0 / 5.0]) {
///     assert!((a - b).abs() < 1e-7);
/// }
/// ```
pub fn lamp(s: &[f32]) -> Vec<f32> {
    lamp_of(s.iter().map(|&v| v as f64).collect())
}

fn lamp_of(s: Vec<f64>) -> Vec<f32> {
    let mut order: Vec<usize> = (0..s.len()).collect();
    order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
    let mut out = vec![0f32; s.len()];
    let mut sum = 0f64;
    for &u in &order {
        sum += s[u];
        out[u] = if sum > 0.0 { (s[u] / sum) as f32 } else { 0.0 };
    }
    out
}

/// Unit keep masks for each parameter's unit scores under `scope`.
///
/// `paths[i]` names segment `i` of `scores` (host buffers, or parameters still on their
/// device, read in pieces); `keys` says whether the values are scores or weights ranked by
/// magnitude; a NaN or infinite value is an error naming `criterion` and the path.
/// `sparsity` is the pruner's target; densities were validated by the caller.
pub(crate) fn allocate<S>(
    scope: &Scope,
    sparsity: f64,
    min_kept: usize,
    criterion: &str,
    paths: &[&str],
    scores: &S,
    keys: Keys,
) -> Result<Vec<BitMask>>
where
    S: Segments + ?Sized,
    PruneError: From<S::Error>,
{
    let lens = scores.lens();
    // A non-finite value of `members[e.segment]`, named.
    let named = |members: &[usize], e: NonFinite| PruneError::NonFiniteScore {
        criterion: criterion.to_string(),
        path: paths[members[e.segment]].to_string(),
        index: e.index,
        value: e.value,
    };
    let select = |members: &[usize], k: usize, keys: Keys| {
        let subset = Subset {
            inner: scores,
            members,
        };
        prune_lowest_in(&subset, k, keys).map_err(|e| match e {
            SelectError::NonFinite(e) => named(members, e),
            SelectError::Read(e) => PruneError::from(e),
        })
    };
    let local = |i: usize, s: f64| {
        let n = lens[i];
        let k = count_for(s, n).min(n.saturating_sub(min_kept));
        Ok::<_, PruneError>(select(&[i], k, keys)?.remove(0))
    };
    match scope {
        Scope::Local => (0..lens.len()).map(|i| local(i, sparsity)).collect(),
        Scope::Densities(map) => (0..lens.len())
            .map(|i| local(i, map.get(paths[i]).map_or(sparsity, |d| 1.0 - d)))
            .collect(),
        Scope::Global => global(sparsity, min_kept, &lens, |m, k| select(m, k, keys)),
        Scope::Lamp => {
            // Check first, so that an error names the criterion's value, not its LAMP score.
            let all: Vec<usize> = (0..lens.len()).collect();
            select(&all, 0, keys)?;
            // LAMP squares the scores, so weights and their magnitudes give the same result.
            let lamp = (0..lens.len())
                .map(|i| scores.read(i, 0..lens[i], lamp_scores))
                .collect::<std::result::Result<Vec<Vec<f32>>, _>>()?;
            let lamp: Vec<&[f32]> = lamp.iter().map(Vec::as_slice).collect();
            global(sparsity, min_kept, &lens, |members, k| {
                let subset = Subset {
                    inner: lamp.as_slice(),
                    members,
                };
                prune_lowest_in(&subset, k, Keys::Scores).map_err(|e| match e {
                    SelectError::NonFinite(e) => named(members, e),
                    SelectError::Read(never) => match never {},
                })
            })
        }
    }
}

/// Global selection with a per-parameter floor of `min_kept` units, over parameters of
/// `lens` units. `select(members, k)` prunes the `k` lowest of the parameters `members`.
fn global(
    sparsity: f64,
    min_kept: usize,
    lens: &[usize],
    select: impl Fn(&[usize], usize) -> Result<Vec<BitMask>>,
) -> Result<Vec<BitMask>> {
    let total: usize = lens.iter().sum();
    let k = count_for(sparsity, total);
    let cap = |i: usize| lens[i].saturating_sub(min_kept);
    let available: usize = (0..lens.len()).map(cap).sum();
    if k > available {
        return Err(PruneError::TooManyToPrune {
            requested: k,
            available,
            min_kept,
        });
    }
    let mut result: Vec<Option<BitMask>> = vec![None; lens.len()];
    let mut active: Vec<usize> = (0..lens.len()).collect();
    let mut remaining = k;
    loop {
        let masks = select(&active, remaining)?;
        // Parameters that would drop under the floor are fixed at the floor and leave the pool;
        // the others can only lose more units once the threshold rises, so they are settled
        // when no one overflows.
        let over: Vec<usize> = active
            .iter()
            .zip(&masks)
            .filter(|&(&i, m)| m.count_zeros() > cap(i))
            .map(|(&i, _)| i)
            .collect();
        if over.is_empty() {
            for (&i, m) in active.iter().zip(masks) {
                result[i] = Some(m);
            }
            break;
        }
        for &i in &over {
            let c = cap(i);
            result[i] = Some(select(&[i], c)?.remove(0));
            remaining -= c;
        }
        active.retain(|i| !over.contains(i));
    }
    Ok(result
        .into_iter()
        .map(|m| m.expect("every parameter settled"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocate(
        scope: &Scope,
        sparsity: f64,
        min_kept: usize,
        paths: &[&str],
        scores: &[Vec<f32>],
    ) -> Result<Vec<BitMask>> {
        let refs: Vec<&[f32]> = scores.iter().map(Vec::as_slice).collect();
        super::allocate(
            scope,
            sparsity,
            min_kept,
            "test",
            paths,
            refs.as_slice(),
            Keys::Scores,
        )
    }

    fn pruned(m: &BitMask) -> Vec<usize> {
        (0..m.len()).filter(|&i| m.get(i) == Some(false)).collect()
    }

    #[test]
    fn tied_units_rank_by_index_in_both_lamps() {
        // Equal importances: the lower index ranks higher (smaller running sum).
        assert_eq!(lamp(&[2.0, 2.0, 0.0]), vec![1.0, 0.5, 0.0]);
        assert_eq!(lamp_scores(&[-1.0, 1.0]), vec![1.0, 0.5]);
        assert_eq!(lamp(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn lamp_by_hand() {
        // squares: [9, 1, 4] sorted: 1 (u1), 4 (u2), 9 (u0); suffix sums 14, 13, 9
        let l = lamp_scores(&[3.0, 1.0, 2.0]);
        let expect = [9.0 / 9.0, 1.0 / 14.0, 4.0 / 13.0];
        for (a, b) in l.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{l:?}");
        }
    }

    #[test]
    fn local_and_global_by_hand() {
        let scores = vec![vec![0.1, 0.2, 0.3, 0.4], vec![5.0, 6.0]];
        let paths = ["a", "b"];
        let local = allocate(&Scope::Local, 0.5, 1, &paths, &scores).unwrap();
        assert_eq!(pruned(&local[0]), vec![0, 1]);
        assert_eq!(pruned(&local[1]), vec![0]);
        let global = allocate(&Scope::Global, 0.5, 1, &paths, &scores).unwrap();
        assert_eq!(pruned(&global[0]), vec![0, 1, 2]);
        assert!(pruned(&global[1]).is_empty());
    }

    #[test]
    fn global_floor_moves_the_count_elsewhere() {
        // 5 of 8: the 5 lowest would empty `a` (4 units); it is held at 1 kept and `b`
        // makes up the count.
        let scores = vec![vec![0.1, 0.2, 0.3, 0.4], vec![5.0, 6.0, 7.0, 8.0]];
        let masks = allocate(&Scope::Global, 0.625, 1, &["a", "b"], &scores).unwrap();
        assert_eq!(pruned(&masks[0]), vec![0, 1, 2]);
        assert_eq!(pruned(&masks[1]), vec![0, 1]);
        let err = allocate(&Scope::Global, 0.99, 1, &["a", "b"], &scores).unwrap_err();
        assert!(matches!(
            err,
            PruneError::TooManyToPrune {
                requested: 8,
                available: 6,
                ..
            }
        ));
    }

    #[test]
    fn densities_override_per_path() {
        let scores = vec![vec![1.0, 2.0, 3.0, 4.0], vec![1.0, 2.0, 3.0, 4.0]];
        let map = BTreeMap::from([("b".to_string(), 0.25)]);
        let masks = allocate(&Scope::Densities(map), 0.5, 1, &["a", "b"], &scores).unwrap();
        assert_eq!(pruned(&masks[0]), vec![0, 1]);
        assert_eq!(pruned(&masks[1]), vec![0, 1, 2]);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(count_for(0.5, 5), 3);
        assert_eq!(count_for(0.3, 10), 3);
        assert_eq!(count_for(0.0, 10), 0);
    }
}

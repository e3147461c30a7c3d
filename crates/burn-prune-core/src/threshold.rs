//! Exact selection of the `k` lowest scores across many score buffers, in O(n).
//!
//! Scores are compared by value, ties broken by position (earlier segment first, then lower
//! index), so the result is one well-defined set whatever the platform or thread count.
//! Large inputs use a two-level radix select on the order-preserving bit pattern of the `f32`
//! scores (a 65 536-bin histogram of the high 16 bits, then of the low 16 bits inside the one
//! bin that holds the k-th score), followed by one pass that writes the masks: three linear
//! passes, split over the available cores. Small inputs use `select_nth_unstable` on packed
//! `(score, index)` keys. Neither sorts.

use crate::mask::BitMask;

/// Inputs at or below this many elements use `select_nth_unstable` instead of radix select.
const SMALL: usize = 1 << 16;
/// Elements per parallel work item (a multiple of 64 so items own whole mask words); small
/// under test so that the multi-item paths run on small inputs.
#[cfg(not(test))]
const CHUNK: usize = 1 << 20;
#[cfg(test)]
const CHUNK: usize = 1 << 12;

/// Order-preserving map from a finite `f32` to `u32` (`-0.0` and `0.0` map to the same key).
#[inline(always)]
pub(crate) fn key(x: f32) -> u32 {
    let b = (x + 0.0).to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Keep masks (one per segment) that prune exactly the `k` lowest scores over all segments.
///
/// All scores must be finite (callers check). `k` larger than the total prunes everything.
pub(crate) fn prune_lowest(segments: &[&[f32]], k: usize) -> Vec<BitMask> {
    let total: usize = segments.iter().map(|s| s.len()).sum();
    if k == 0 {
        return segments
            .iter()
            .map(|s| BitMask::filled(s.len(), true))
            .collect();
    }
    if k >= total {
        return segments
            .iter()
            .map(|s| BitMask::filled(s.len(), false))
            .collect();
    }
    if total <= SMALL {
        return prune_lowest_small(segments, k);
    }
    prune_lowest_radix(segments, k)
}

fn prune_lowest_small(segments: &[&[f32]], k: usize) -> Vec<BitMask> {
    let mut packed: Vec<u64> = Vec::with_capacity(segments.iter().map(|s| s.len()).sum());
    for s in segments {
        for &x in s.iter() {
            let idx = packed.len() as u64;
            packed.push((key(x) as u64) << 32 | idx);
        }
    }
    let mut work = packed.clone();
    let (_, &mut kth, _) = work.select_nth_unstable(k - 1);
    let mut offset = 0;
    segments
        .iter()
        .map(|s| {
            let bools: Vec<bool> = packed[offset..offset + s.len()]
                .iter()
                .map(|&p| p > kth)
                .collect();
            offset += s.len();
            BitMask::from_bools(&bools)
        })
        .collect()
}

/// A contiguous piece of one segment.
#[derive(Clone, Copy)]
struct Item {
    segment: usize,
    start: usize,
    end: usize,
}

fn work_items(segments: &[&[f32]]) -> Vec<Item> {
    let mut items = Vec::new();
    for (segment, s) in segments.iter().enumerate() {
        let mut start = 0;
        while start < s.len() {
            let end = (start + CHUNK).min(s.len());
            items.push(Item {
                segment,
                start,
                end,
            });
            start = end;
        }
    }
    items
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1)
}

/// Run `f` over the items on all cores; results come back in item order.
fn par_map<T: Send>(items: &[Item], f: impl Fn(Item) -> T + Sync) -> Vec<T> {
    let n_threads = threads().min(items.len()).max(1);
    if n_threads == 1 {
        return items.iter().map(|&it| f(it)).collect();
    }
    let f = &f;
    let mut slots: Vec<Option<T>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n_threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..items.len())
                        .step_by(n_threads)
                        .map(|i| (i, f(items[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().expect("selection worker panicked") {
                slots[i] = Some(r);
            }
        }
    });
    slots
        .into_iter()
        .map(|s| s.expect("every item produces a result"))
        .collect()
}

/// Histogram (high 16 bits, or low 16 bits restricted to one high bin) over all items.
fn histogram(segments: &[&[f32]], items: &[Item], high_bin: Option<u32>) -> Vec<u64> {
    let parts = par_map(items, |it| {
        let mut h = vec![0u32; 1 << 16];
        let data = &segments[it.segment][it.start..it.end];
        match high_bin {
            None => {
                for &x in data {
                    h[(key(x) >> 16) as usize] += 1;
                }
            }
            Some(b) => {
                for &x in data {
                    let k = key(x);
                    if k >> 16 == b {
                        h[(k & 0xffff) as usize] += 1;
                    }
                }
            }
        }
        h
    });
    let mut total = vec![0u64; 1 << 16];
    for h in parts {
        for (t, v) in total.iter_mut().zip(h) {
            *t += v as u64;
        }
    }
    total
}

/// Find the bin holding the `k`-th (1-based) value: returns (bin, count strictly before it).
fn locate(hist: &[u64], k: u64) -> (u32, u64) {
    let mut before = 0u64;
    for (bin, &c) in hist.iter().enumerate() {
        if before + c >= k {
            return (bin as u32, before);
        }
        before += c;
    }
    unreachable!("k is at most the number of values")
}

fn prune_lowest_radix(segments: &[&[f32]], k: usize) -> Vec<BitMask> {
    let items = work_items(segments);
    let k = k as u64;
    let (hi, before_hi) = locate(&histogram(segments, &items, None), k);
    let (lo, before_lo) = locate(&histogram(segments, &items, Some(hi)), k - before_hi);
    let t = hi << 16 | lo;
    // How many scores equal to `t` are pruned (the first ones in position order).
    let mut ties = k - before_hi - before_lo;

    // Write words with everything `<= t` pruned, counting the `== t` in each item.
    let parts = par_map(&items, |it| {
        let data = &segments[it.segment][it.start..it.end];
        let mut words = vec![0u64; data.len().div_ceil(64)];
        let mut equal = 0u64;
        for (w, chunk) in words.iter_mut().zip(data.chunks(64)) {
            let mut acc = 0u64;
            for (i, &x) in chunk.iter().enumerate() {
                let kx = key(x);
                acc |= ((kx > t) as u64) << i;
                equal += (kx == t) as u64;
            }
            *w = acc;
        }
        (words, equal)
    });
    let mut seg_words: Vec<Vec<u64>> = segments
        .iter()
        .map(|s| Vec::with_capacity(s.len().div_ceil(64)))
        .collect();
    for (it, (mut words, equal)) in items.iter().zip(parts) {
        // Scores equal to `t` beyond the first `ties` (in position order) are kept.
        if equal > 0 {
            let data = &segments[it.segment][it.start..it.end];
            let mut skip = ties.min(equal);
            ties -= skip;
            for (i, &x) in data.iter().enumerate() {
                if key(x) == t {
                    if skip > 0 {
                        skip -= 1;
                    } else {
                        words[i / 64] |= 1 << (i % 64);
                    }
                }
            }
        }
        seg_words[it.segment].extend(words);
    }
    segments
        .iter()
        .zip(seg_words)
        .map(|(s, w)| BitMask::from_words(s.len(), w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference: full sort by (score, position).
    fn reference(segments: &[Vec<f32>], k: usize) -> Vec<Vec<bool>> {
        let mut all: Vec<(f32, usize, usize)> = Vec::new();
        for (s, seg) in segments.iter().enumerate() {
            for (i, &x) in seg.iter().enumerate() {
                all.push((x, s, i));
            }
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let mut keep: Vec<Vec<bool>> = segments.iter().map(|s| vec![true; s.len()]).collect();
        for &(_, s, i) in all.iter().take(k) {
            keep[s][i] = false;
        }
        keep
    }

    fn run(segments: &[Vec<f32>], k: usize) -> Vec<Vec<bool>> {
        let refs: Vec<&[f32]> = segments.iter().map(|s| s.as_slice()).collect();
        prune_lowest(&refs, k)
            .iter()
            .map(|m| m.to_bools())
            .collect()
    }

    #[test]
    fn key_orders_floats() {
        let xs = [-3.0f32, -1.0, -0.0, 0.0, 1e-30, 0.5, 2.0, 1e30];
        for w in xs.windows(2) {
            assert!(key(w[0]) <= key(w[1]), "{} vs {}", w[0], w[1]);
        }
        assert_eq!(key(-0.0), key(0.0));
    }

    #[test]
    fn ties_break_by_position() {
        let segs = vec![vec![1.0, 0.5, 0.5], vec![0.5, 2.0]];
        assert_eq!(
            run(&segs, 2),
            vec![vec![true, false, false], vec![true, true]]
        );
        assert_eq!(
            run(&segs, 3),
            vec![vec![true, false, false], vec![false, true]]
        );
    }

    #[test]
    fn radix_path_matches_reference_with_heavy_ties() {
        // 300k values over only 1000 distinct levels: many ties at the threshold.
        let n: usize = 300_000;
        let a: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 10.0).collect();
        let b: Vec<f32> = (0..n / 3)
            .map(|i| ((i * 104_729) % 997) as f32 / 10.0 - 5.0)
            .collect();
        let segs = vec![a, b];
        for k in [1, 12_345, 200_000, 399_999] {
            assert_eq!(run(&segs, k), reference(&segs, k), "k = {k}");
        }
    }

    proptest! {
        #[test]
        fn matches_full_sort(
            segs in prop::collection::vec(prop::collection::vec(-4i32..4, 0..40), 1..5),
            frac in 0.0f64..1.0,
        ) {
            let segs: Vec<Vec<f32>> = segs.into_iter().map(|s| s.into_iter().map(|v| v as f32 * 0.25).collect()).collect();
            let total: usize = segs.iter().map(|s| s.len()).sum();
            let k = (frac * total as f64).round() as usize;
            let got = run(&segs, k);
            prop_assert_eq!(got.iter().flatten().filter(|&&b| !b).count(), k);
            prop_assert_eq!(got, reference(&segs, k));
        }
    }
}

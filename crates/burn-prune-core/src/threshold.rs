//! Exact selection of the `k` lowest scores across many score buffers, in O(n).
//!
//! Scores are compared by value, ties broken by position (earlier segment first, then lower
//! index), so the result is one well-defined set whatever the platform or thread count.
//!
//! Large inputs use a radix select on the order-preserving bit pattern of the `f32` scores:
//! one pass builds a 65 536-bin histogram of the high 16 bits (and finds any NaN or infinite
//! score on the way), a second pass writes the masks for every score outside the one bin that
//! holds the `k`-th score and collects the scores inside it, and `select_nth_unstable` on those
//! few candidates settles the rest. Both passes are split over the available cores. If that
//! bin is too crowded (heavy ties), a second histogram over the low 16 bits replaces the
//! candidate list. Small inputs use `select_nth_unstable` on packed `(score, index)` keys.
//! Nothing sorts. Before the two passes, one pass is tried: a sample of every piece places
//! a window of keys around the `k`-th, and one pass settles it when it falls inside (see
//! `window`), which halves the reading.
//!
//! A buffer can be read as scores, or as weights whose magnitude `|w|` is the score
//! ([`Keys::Magnitude`]), which saves materialising a score buffer for magnitude pruning.
//! The passes read the values in pieces of at most a million ([`Segments`]): from host
//! buffers, or straight from parameters on their device, one piece at a time, so that
//! magnitude pruning never holds a copy of every weight.

mod parallel;
mod segments;
mod window;

pub(crate) use parallel::{largest_first, par_map, threads};
pub(crate) use segments::{Segments, Subset};

use crate::error::PruneError;
use crate::mask::BitMask;
use std::convert::Infallible;

/// Inputs at or below this many elements use `select_nth_unstable` instead of radix select.
const SMALL: usize = 1 << 16;
/// Elements per parallel work item (a multiple of 64 so items own whole mask words); small
/// under test so that the multi-item paths run on small inputs.
#[cfg(not(test))]
const CHUNK: usize = 1 << 16;
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

/// Order-preserving map from `|x|` to `u32` (finite values map below `0x7f80_0000`).
#[inline(always)]
fn magnitude_key(x: f32) -> u32 {
    x.to_bits() & 0x7fff_ffff
}

/// How the values of a buffer are ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keys {
    /// The values are the scores.
    Scores,
    /// The values are weights, ranked by magnitude `|w|`.
    Magnitude,
}

/// A NaN or infinite value, by segment and index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct NonFinite {
    pub segment: usize,
    pub index: usize,
    pub value: f32,
}

/// Why a selection over [`Segments`] gave no masks.
#[derive(Debug)]
pub(crate) enum SelectError<E> {
    /// A NaN or infinite value (the first in position order).
    NonFinite(NonFinite),
    /// A piece of a segment could not be read.
    Read(E),
}

/// Host buffers are always readable: a selection over them fails only on a non-finite value.
impl From<Infallible> for PruneError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// Keep masks (one per segment) that prune exactly the `k` lowest scores over all segments.
///
/// `k` larger than the total prunes everything. A NaN or infinite value is reported (the first
/// in position order) instead of a result.
pub(crate) fn prune_lowest(
    segments: &[&[f32]],
    k: usize,
    keys: Keys,
) -> Result<Vec<BitMask>, NonFinite> {
    prune_lowest_in(segments, k, keys).map_err(|e| match e {
        SelectError::NonFinite(e) => e,
        SelectError::Read(never) => match never {},
    })
}

/// [`prune_lowest`] over segments read in pieces (see [`Segments`]); a piece that cannot be
/// read is reported as [`SelectError::Read`].
pub(crate) fn prune_lowest_in<S: Segments + ?Sized>(
    segments: &S,
    k: usize,
    keys: Keys,
) -> Result<Vec<BitMask>, SelectError<S::Error>> {
    match keys {
        Keys::Scores => select(segments, k, key, |b| !(0x0080..0xff80).contains(&b)),
        Keys::Magnitude => select(segments, k, magnitude_key, |b| b >= 0x7f80),
    }
}

/// The first NaN or infinite value in position order, as an error.
fn first_non_finite<S: Segments + ?Sized>(
    segments: &S,
    items: &[Item],
) -> Result<(), SelectError<S::Error>> {
    for it in items {
        let found = segments
            .read(it.segment, it.start..it.end, |data| {
                let i = data.iter().position(|x| !x.is_finite())?;
                Some((i, data[i]))
            })
            .map_err(SelectError::Read)?;
        if let Some((i, value)) = found {
            return Err(SelectError::NonFinite(NonFinite {
                segment: it.segment,
                index: it.start + i,
                value,
            }));
        }
    }
    Ok(())
}

/// `keyf` maps a value to its order-preserving key; `bad_bin` tells whether a high-16-bit bin
/// holds only non-finite values.
fn select<S, K, B>(
    segments: &S,
    k: usize,
    keyf: K,
    bad_bin: B,
) -> Result<Vec<BitMask>, SelectError<S::Error>>
where
    S: Segments + ?Sized,
    K: Fn(f32) -> u32 + Copy + Sync,
    B: Fn(u32) -> bool,
{
    let lens = segments.lens();
    let total: usize = lens.iter().sum();
    let items = work_items(&lens);
    if total <= SMALL {
        first_non_finite(segments, &items)?;
        return small(segments, &lens, k.min(total), keyf).map_err(SelectError::Read);
    }
    if 0 < k && k < total {
        let words = window::one_pass(segments, &lens, &items, k as u64, keyf, &bad_bin)
            .map_err(SelectError::Read)?;
        if let Some(words) = words {
            return Ok(bit_masks(&lens, words));
        }
    }
    let hist = histogram(segments, &items, keyf, None).map_err(SelectError::Read)?;
    if hist
        .iter()
        .enumerate()
        .any(|(b, &c)| c > 0 && bad_bin(b as u32))
    {
        first_non_finite(segments, &items)?;
    }
    if k == 0 || k >= total {
        return Ok(lens.iter().map(|&n| BitMask::filled(n, k == 0)).collect());
    }
    let k = k as u64;
    let (hi, before_hi) = locate(&hist, k);
    let in_bin = hist[hi as usize];
    let mut masks = alloc_masks(&lens);
    if in_bin as usize <= (total / 8).max(SMALL) {
        let candidates = write_masks(segments, &items, &mut masks, keyf, Bound::High(hi))
            .map_err(SelectError::Read)?;
        settle_candidates(&mut masks, &items, candidates, k - before_hi);
    } else {
        let low = histogram(segments, &items, keyf, Some(hi)).map_err(SelectError::Read)?;
        let (lo, before_lo) = locate(&low, k - before_hi);
        let t = hi << 16 | lo;
        let equal = write_masks(segments, &items, &mut masks, keyf, Bound::Exact(t))
            .map_err(SelectError::Read)?;
        let ties = k - before_hi - before_lo;
        settle_ties(segments, &items, &mut masks, keyf, t, equal, ties)
            .map_err(SelectError::Read)?;
    }
    Ok(bit_masks(&lens, masks))
}

fn bit_masks(lens: &[usize], words: Vec<Vec<u64>>) -> Vec<BitMask> {
    lens.iter()
        .zip(words)
        .map(|(&n, w)| BitMask::from_words(n, w))
        .collect()
}

fn small<S, K>(segments: &S, lens: &[usize], k: usize, keyf: K) -> Result<Vec<BitMask>, S::Error>
where
    S: Segments + ?Sized,
    K: Fn(f32) -> u32,
{
    if k == 0 {
        return Ok(lens.iter().map(|&n| BitMask::filled(n, true)).collect());
    }
    let mut packed: Vec<u64> = Vec::with_capacity(lens.iter().sum());
    for (s, &n) in lens.iter().enumerate().filter(|&(_, &n)| n > 0) {
        segments.read(s, 0..n, |data| {
            for &x in data {
                let idx = packed.len() as u64;
                packed.push((keyf(x) as u64) << 32 | idx);
            }
        })?;
    }
    let mut work = packed.clone();
    let (_, &mut kth, _) = work.select_nth_unstable(k - 1);
    let mut offset = 0;
    Ok(lens
        .iter()
        .map(|&n| {
            let bools: Vec<bool> = packed[offset..offset + n]
                .iter()
                .map(|&p| p > kth)
                .collect();
            offset += n;
            BitMask::from_bools(&bools)
        })
        .collect())
}

/// A contiguous piece of one segment.
#[derive(Clone, Copy)]
struct Item {
    segment: usize,
    start: usize,
    end: usize,
}

fn work_items(lens: &[usize]) -> Vec<Item> {
    let mut items = Vec::new();
    for (segment, &len) in lens.iter().enumerate() {
        let mut start = 0;
        while start < len {
            let end = (start + CHUNK).min(len);
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

/// Histogram of the high 16 bits of the keys, or of the low 16 bits of the keys whose high
/// 16 bits are `high_bin`. One histogram per thread (not per item) keeps the merge cheap.
fn histogram<S, K>(
    segments: &S,
    items: &[Item],
    keyf: K,
    high_bin: Option<u32>,
) -> Result<Vec<u64>, S::Error>
where
    S: Segments + ?Sized,
    K: Fn(f32) -> u32 + Copy + Sync,
{
    let n_threads = threads().min(items.len()).max(1);
    let jobs: Vec<Vec<Item>> = (0..n_threads)
        .map(|t| items.iter().skip(t).step_by(n_threads).copied().collect())
        .collect();
    let parts = par_map(jobs, |mine| {
        let mut h = Lanes::new();
        for it in mine {
            segments.read(it.segment, it.start..it.end, |data| {
                h.count(data, keyf, high_bin)
            })?;
        }
        Ok(h)
    });
    let mut total = vec![0u64; 1 << 16];
    for h in parts {
        h?.add_to(&mut total);
    }
    Ok(total)
}

/// Four histograms of 16-bit bins, counting every fourth key each: consecutive keys in one
/// bin (common: weights crowd a few bins) then update different counters, instead of each
/// increment waiting for the one before.
struct Lanes(Vec<[u32; 1 << 16]>);

impl Lanes {
    fn new() -> Self {
        Self(vec![[0u32; 1 << 16]; 4])
    }

    /// Count `data`'s keys: their high 16 bits, or (`high_bin`) the low 16 bits of those whose
    /// high 16 bits are `high_bin`.
    #[inline(always)]
    fn count<K: Fn(f32) -> u32>(&mut self, data: &[f32], keyf: K, high_bin: Option<u32>) {
        let [h0, h1, h2, h3] = self.0.as_mut_slice() else {
            unreachable!("four lanes")
        };
        let mut quads = data.chunks_exact(4);
        match high_bin {
            None => {
                let bin = |x: f32| (keyf(x) >> 16) as usize;
                for q in quads.by_ref() {
                    h0[bin(q[0])] += 1;
                    h1[bin(q[1])] += 1;
                    h2[bin(q[2])] += 1;
                    h3[bin(q[3])] += 1;
                }
                for &x in quads.remainder() {
                    h0[bin(x)] += 1;
                }
            }
            Some(b) => {
                for &x in data {
                    let k = keyf(x);
                    if k >> 16 == b {
                        h0[(k & 0xffff) as usize] += 1;
                    }
                }
            }
        }
    }

    /// Add the four lanes' counts to `total`.
    fn add_to(&self, total: &mut [u64]) {
        for lane in &self.0 {
            for (t, &c) in total.iter_mut().zip(lane.iter()) {
                *t += c as u64;
            }
        }
    }
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

fn alloc_masks(lens: &[usize]) -> Vec<Vec<u64>> {
    lens.iter().map(|&n| vec![0u64; n.div_ceil(64)]).collect()
}

/// What [`write_masks`] keeps outright.
#[derive(Clone, Copy)]
enum Bound {
    /// Keep keys whose high 16 bits exceed this bin; collect those in it.
    High(u32),
    /// Keep keys above this key; count those equal to it.
    Exact(u32),
}

/// Per item: the candidates (`Bound::High`: low 16 bits and index inside the item of each key
/// in the bin) or the number of keys equal to the threshold (`Bound::Exact`).
enum Found {
    Candidates(Vec<(u16, u32)>),
    Equal(u64),
}

fn write_masks<S, K>(
    segments: &S,
    items: &[Item],
    masks: &mut [Vec<u64>],
    keyf: K,
    bound: Bound,
) -> Result<Vec<Found>, S::Error>
where
    S: Segments + ?Sized,
    K: Fn(f32) -> u32 + Copy + Sync,
{
    par_map(item_words(items, masks), |(it, words)| {
        segments.read(it.segment, it.start..it.end, |data| {
            mask_item(data, words, keyf, bound)
        })
    })
    .into_iter()
    .collect()
}

/// Every item with the mask words of its elements (items own whole words).
fn item_words<'a>(items: &[Item], masks: &'a mut [Vec<u64>]) -> Vec<(Item, &'a mut [u64])> {
    let mut jobs: Vec<(Item, &mut [u64])> = Vec::with_capacity(items.len());
    for (segment, words) in masks.iter_mut().enumerate() {
        let mut rest: &mut [u64] = words;
        for it in items.iter().filter(|it| it.segment == segment) {
            let (mine, tail) = rest.split_at_mut((it.end - it.start).div_ceil(64));
            jobs.push((*it, mine));
            rest = tail;
        }
    }
    jobs
}

/// One item's share of [`write_masks`].
fn mask_item<K: Fn(f32) -> u32 + Copy>(
    data: &[f32],
    words: &mut [u64],
    keyf: K,
    bound: Bound,
) -> Found {
    // Keep keys above `top`; keys in `from..=top` need a closer look.
    let (top, from) = match bound {
        Bound::High(b) => (b << 16 | 0xffff, b << 16),
        Bound::Exact(t) => (t, t),
    };
    let mut cand = Vec::new();
    let mut equal = 0u64;
    for (w, (c, chunk)) in words.iter_mut().zip(data.chunks(64).enumerate()) {
        let (above, at_least) = compare64(chunk, keyf, top, from);
        *w = above;
        let mut inside = at_least & !above;
        match bound {
            Bound::High(_) => {
                while inside != 0 {
                    let i = inside.trailing_zeros() as usize;
                    inside &= inside - 1;
                    cand.push((keyf(chunk[i]) as u16, (c * 64 + i) as u32));
                }
            }
            Bound::Exact(_) => equal += inside.count_ones() as u64,
        }
    }
    match bound {
        Bound::High(_) => Found::Candidates(cand),
        Bound::Exact(_) => Found::Equal(equal),
    }
}

/// For up to 64 values: bit `i` of the first word is set where `key > top`, of the second
/// where `key >= from`. Full chunks go through byte flags packed eight at a time, which the
/// compiler vectorises (about 3× faster than shifting bits in one by one).
#[inline(always)]
fn compare64<K: Fn(f32) -> u32>(chunk: &[f32], keyf: K, top: u32, from: u32) -> (u64, u64) {
    let Ok(chunk) = <&[f32; 64]>::try_from(chunk) else {
        let (mut above, mut at_least) = (0u64, 0u64);
        for (i, &x) in chunk.iter().enumerate() {
            let k = keyf(x);
            above |= ((k > top) as u64) << i;
            at_least |= ((k >= from) as u64) << i;
        }
        return (above, at_least);
    };
    let mut gt = [0u8; 64];
    let mut ge = [0u8; 64];
    for i in 0..64 {
        let k = keyf(chunk[i]);
        gt[i] = (k > top) as u8;
        ge[i] = (k >= from) as u8;
    }
    let (mut above, mut at_least) = (0u64, 0u64);
    for j in 0..8 {
        above |= pack8(&gt[j * 8..j * 8 + 8]) << (j * 8);
        at_least |= pack8(&ge[j * 8..j * 8 + 8]) << (j * 8);
    }
    (above, at_least)
}

/// Eight 0/1 bytes to eight bits (byte `i` to bit `i`): the multiplication moves byte `i`'s
/// low bit to bit `56 + i` without carries, since no two partial products overlap below it.
#[inline(always)]
fn pack8(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_le_bytes(b).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Prune the `k` lowest candidates (by low bits, then position) and keep the others.
fn settle_candidates(masks: &mut [Vec<u64>], items: &[Item], found: Vec<Found>, k: u64) {
    let lists: Vec<Vec<(u16, u32)>> = found
        .into_iter()
        .map(|f| match f {
            Found::Candidates(c) => c,
            Found::Equal(_) => unreachable!("written with Bound::High"),
        })
        .collect();
    // Candidates in position order: item order, then index inside the item.
    let mut packed: Vec<u64> = Vec::with_capacity(lists.iter().map(Vec::len).sum());
    for c in &lists {
        for &(lo, _) in c {
            let ordinal = packed.len() as u64;
            packed.push((lo as u64) << 40 | ordinal);
        }
    }
    let mut work = packed.clone();
    let (_, &mut kth, _) = work.select_nth_unstable(k as usize - 1);
    let mut ordinal = 0;
    for (it, c) in items.iter().zip(&lists) {
        for &(_, i) in c {
            if packed[ordinal] > kth {
                let e = it.start + i as usize;
                masks[it.segment][e / 64] |= 1 << (e % 64);
            }
            ordinal += 1;
        }
    }
}

/// Keep the keys equal to `t` beyond the first `ties` of them in position order.
fn settle_ties<S, K>(
    segments: &S,
    items: &[Item],
    masks: &mut [Vec<u64>],
    keyf: K,
    t: u32,
    found: Vec<Found>,
    mut ties: u64,
) -> Result<(), S::Error>
where
    S: Segments + ?Sized,
    K: Fn(f32) -> u32,
{
    for (it, f) in items.iter().zip(found) {
        let Found::Equal(equal) = f else {
            unreachable!("written with Bound::Exact")
        };
        if equal == 0 {
            continue;
        }
        let mut skip = ties.min(equal);
        ties -= skip;
        let words = &mut masks[it.segment];
        segments.read(it.segment, it.start..it.end, |data| {
            for (i, &x) in data.iter().enumerate() {
                if keyf(x) == t {
                    if skip > 0 {
                        skip -= 1;
                    } else {
                        let e = it.start + i;
                        words[e / 64] |= 1 << (e % 64);
                    }
                }
            }
        })?;
    }
    Ok(())
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
                all.push((x + 0.0, s, i));
            }
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let mut keep: Vec<Vec<bool>> = segments.iter().map(|s| vec![true; s.len()]).collect();
        for &(_, s, i) in all.iter().take(k) {
            keep[s][i] = false;
        }
        keep
    }

    fn run(segments: &[Vec<f32>], k: usize, keys: Keys) -> Vec<Vec<bool>> {
        let refs: Vec<&[f32]> = segments.iter().map(|s| s.as_slice()).collect();
        prune_lowest(&refs, k, keys)
            .unwrap()
            .iter()
            .map(|m| m.to_bools())
            .collect()
    }

    fn abs(segments: &[Vec<f32>]) -> Vec<Vec<f32>> {
        segments
            .iter()
            .map(|s| s.iter().map(|x| x.abs()).collect())
            .collect()
    }

    #[test]
    fn key_orders_floats() {
        let xs = [-3.0f32, -1.0, -0.0, 0.0, 1e-30, 0.5, 2.0, 1e30];
        for w in xs.windows(2) {
            assert!(key(w[0]) <= key(w[1]), "{} vs {}", w[0], w[1]);
            let (a, b) = (w[0].abs(), w[1].abs());
            assert_eq!(a <= b, magnitude_key(w[0]) <= magnitude_key(w[1]));
        }
        assert_eq!(key(-0.0), key(0.0));
        assert_eq!(magnitude_key(-0.0), magnitude_key(0.0));
    }

    #[test]
    fn pack8_and_compare64_by_hand() {
        assert_eq!(pack8(&[1, 0, 0, 0, 0, 0, 0, 0]), 0b1);
        assert_eq!(pack8(&[0, 0, 0, 0, 0, 0, 0, 1]), 0b1000_0000);
        assert_eq!(pack8(&[1, 1, 0, 1, 0, 0, 1, 1]), 0b1100_1011);
        assert_eq!(pack8(&[1; 8]), 0xff);
        let xs: Vec<f32> = (0..64).map(|i| i as f32).collect();
        let (t, f) = (key(40.0), key(10.0));
        let expect_above: u64 = (41..64).map(|i| 1u64 << i).sum();
        let expect_from: u64 = (10..64).map(|i| 1u64 << i).sum();
        assert_eq!(compare64(&xs, key, t, f), (expect_above, expect_from));
        assert_eq!(
            compare64(&xs[..20], key, t, f),
            (0, (10..20).map(|i| 1u64 << i).sum())
        );
    }

    #[test]
    fn ties_break_by_position() {
        let segs = vec![vec![1.0, 0.5, 0.5], vec![0.5, 2.0]];
        assert_eq!(
            run(&segs, 2, Keys::Scores),
            vec![vec![true, false, false], vec![true, true]]
        );
        assert_eq!(
            run(&segs, 3, Keys::Scores),
            vec![vec![true, false, false], vec![false, true]]
        );
    }

    #[test]
    fn non_finite_values_are_reported_on_both_paths() {
        for n in [10, SMALL + 10] {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut a = vec![1.0f32; n];
                a[n - 3] = bad;
                let segs = [&[0.5f32, 2.0][..], &a[..]];
                for keys in [Keys::Scores, Keys::Magnitude] {
                    let err = prune_lowest(&segs, 5, keys).unwrap_err();
                    assert_eq!((err.segment, err.index), (1, n - 3), "{bad} {keys:?}");
                }
            }
        }
    }

    #[test]
    fn radix_paths_match_reference_with_heavy_ties() {
        // 300k values over only 1000 distinct levels: many ties at the threshold, so the
        // bin of the k-th value is crowded (second-histogram path).
        let n: usize = 300_000;
        let a: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 10.0).collect();
        let b: Vec<f32> = (0..n / 3)
            .map(|i| ((i * 104_729) % 997) as f32 / 10.0 - 5.0)
            .collect();
        let segs = vec![a, b];
        for k in [1, 12_345, 200_000, 399_999] {
            assert_eq!(run(&segs, k, Keys::Scores), reference(&segs, k), "k = {k}");
            let mags = abs(&segs);
            assert_eq!(
                run(&segs, k, Keys::Magnitude),
                reference(&mags, k),
                "|.| k = {k}"
            );
        }
    }

    #[test]
    fn radix_crowded_bin_matches_reference() {
        // Every value shares its high 16 bits (five neighbouring floats above 1.0, and their
        // negatives for magnitudes): the second-histogram path, with ties across items.
        let n: usize = 200_000;
        let level = |i: usize| f32::from_bits(1.0f32.to_bits() + (i * 7 % 5) as u32);
        let a: Vec<f32> = (0..n).map(level).collect();
        let b: Vec<f32> = (0..n / 2).map(|i| -level(i * 3)).collect();
        let segs = vec![a, b];
        let mags = abs(&segs);
        for k in [1, 40_000, 150_001, 299_999] {
            assert_eq!(run(&mags, k, Keys::Scores), reference(&mags, k), "k = {k}");
            assert_eq!(
                run(&segs, k, Keys::Magnitude),
                reference(&mags, k),
                "|.| k = {k}"
            );
        }
    }

    #[test]
    fn radix_candidate_path_matches_reference() {
        // Spread-out values (a sparse k-th bin) with a few exact ties planted across items.
        let mut rng = crate::test_rng::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut next = || crate::test_rng::unit(rng()) * 4.0 - 2.0;
        let mut a: Vec<f32> = (0..150_000).map(|_| next()).collect();
        let mut b: Vec<f32> = (0..70_001).map(|_| next()).collect();
        for i in (0..a.len()).step_by(997) {
            a[i] = 0.75;
        }
        for i in (0..b.len()).step_by(991) {
            b[i] = -0.75;
        }
        let segs = vec![a, b];
        let n = 220_001;
        for k in [1, 1000, n / 2, (0.9 * n as f64) as usize, n - 1] {
            assert_eq!(run(&segs, k, Keys::Scores), reference(&segs, k), "k = {k}");
            let mags = abs(&segs);
            assert_eq!(
                run(&segs, k, Keys::Magnitude),
                reference(&mags, k),
                "|.| k = {k}"
            );
        }
        assert!(run(&segs, 0, Keys::Scores).iter().flatten().all(|&b| b));
        assert!(
            run(&segs, n + 5, Keys::Scores)
                .iter()
                .flatten()
                .all(|&b| !b)
        );
    }

    /// The one-pass selection of [`window`] alone: `None` when it cannot settle.
    fn one_pass(segments: &[Vec<f32>], k: usize) -> Option<Vec<Vec<bool>>> {
        let refs: Vec<&[f32]> = segments.iter().map(|s| s.as_slice()).collect();
        let lens = refs.as_slice().lens();
        let items = work_items(&lens);
        let bad = |b: u32| !(0x0080..0xff80).contains(&b);
        let words = window::one_pass(refs.as_slice(), &lens, &items, k as u64, key, bad);
        let words = words.unwrap_or_else(|never| match never {})?;
        Some(
            bit_masks(&lens, words)
                .iter()
                .map(BitMask::to_bools)
                .collect(),
        )
    }

    #[test]
    fn one_pass_settles_exactly_when_the_sample_is_like_the_rest() {
        let mut rng = crate::test_rng::xorshift(0x853c_49e6_748f_ea9b);
        let mut next = || crate::test_rng::unit(rng()) * 2.0 - 1.0;
        let mut a: Vec<f32> = (0..90_000).map(|_| next()).collect();
        let b: Vec<f32> = (0..33_333).map(|_| next() * 0.5).collect();
        // Exact ties across items, and a crowd of equal keys at one level.
        for i in (0..a.len()).step_by(101) {
            a[i] = 0.25;
        }
        let segs = vec![a, b];
        let n = 123_333;
        for k in [n / 10, n / 2, (0.9 * n as f64) as usize, n - 2000] {
            let got = one_pass(&segs, k).expect("the sample places the k-th");
            assert_eq!(got, reference(&segs, k), "k = {k}");
            assert_eq!(run(&segs, k, Keys::Scores), got, "k = {k}");
        }
    }

    #[test]
    fn a_sample_unlike_the_rest_falls_back_to_the_exact_passes() {
        // The head of every item (what the sample reads) is tiny, the rest large: the sample
        // puts the median among tiny values, where it is not.
        let n: usize = 20 * CHUNK;
        let a: Vec<f32> = (0..n)
            .map(|i| {
                let v = (i * 7919 % 1000) as f32;
                if i % CHUNK < CHUNK / 8 {
                    v * 1e-6
                } else {
                    10.0 + v
                }
            })
            .collect();
        // The same with the large values crowding one high-16-bit bin (the exact path's
        // second histogram).
        let level = |i: usize| f32::from_bits(1.0f32.to_bits() + (i * 7 % 5) as u32);
        let crowded: Vec<f32> = (0..n)
            .map(|i| {
                if i % CHUNK < CHUNK / 8 {
                    1e-6
                } else {
                    level(i)
                }
            })
            .collect();
        for segs in [vec![a], vec![crowded]] {
            for k in [n / 2, n - 10] {
                assert!(one_pass(&segs, k).is_none(), "k = {k}");
                assert_eq!(run(&segs, k, Keys::Scores), reference(&segs, k), "k = {k}");
            }
        }
        // A NaN the sample does not see is found by the pass, and reported by the exact path.
        let mut b: Vec<f32> = (0..n).map(|i| (i * 7919 % 1000) as f32).collect();
        b[CHUNK + 900] = f32::NAN;
        assert!(one_pass(&[b.clone()], n / 2).is_none());
        let err = prune_lowest(&[&b[..]], n / 2, Keys::Scores).unwrap_err();
        assert_eq!((err.segment, err.index), (0, CHUNK + 900));
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
            let got = run(&segs, k, Keys::Scores);
            prop_assert_eq!(got.iter().flatten().filter(|&&b| !b).count(), k);
            prop_assert_eq!(got, reference(&segs, k));
            prop_assert_eq!(run(&segs, k, Keys::Magnitude), reference(&abs(&segs), k));
        }
    }
}

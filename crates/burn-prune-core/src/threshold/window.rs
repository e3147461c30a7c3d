//! The selection in one pass over the values, when a sample places the `k`-th.
//!
//! The exact radix select reads every value twice: a histogram, then the masks. Reading is
//! most of the cost when the values are weights read off a device, so this tries to do with
//! one read. A sample — the first `1/SAMPLE` of every work item — is histogrammed; the bins
//! around the sample's quantile, widened by a margin, make a window of keys. One pass then
//! keeps every key above the window, prunes every key below it (counting them), and
//! collects those inside. When the `k`-th key falls inside the window (the sample was like
//! the rest), the candidates settle it exactly, by key then position: the same masks as the
//! two passes. Otherwise — a sample unlike the rest, or a NaN or infinite value — the caller
//! runs the two exact passes.

use super::{Item, Segments, compare64, histogram, locate, par_map};

/// The sample is the first `1/SAMPLE` of every item (at least 64 values).
const SAMPLE: usize = 32;

/// The window is the sample's quantile widened by this fraction of the sample on each side
/// (plus a few values), which covers the sampling error of a sample of every item.
const MARGIN: f64 = 1.0 / 256.0;

/// Keys in `from..=top` are candidates.
#[derive(Clone, Copy)]
struct Window {
    from: u32,
    top: u32,
}

/// What one item's pass found.
struct Pass {
    /// Keys below the window (pruned).
    below: u64,
    /// Keys inside the window: the key and the index inside the item, in index order.
    candidates: Vec<(u32, u32)>,
    /// Whether every value was finite.
    finite: bool,
}

/// Keep masks (as words, one vector per segment) pruning the `k` lowest keys, from one pass
/// over the values; `None` when the sample did not place the `k`-th key (the caller then
/// runs the exact two passes). `0 < k < total`.
/// `bad_bin` tells whether a high-16-bit bin holds only non-finite values.
pub(super) fn one_pass<S, K, B>(
    segments: &S,
    lens: &[usize],
    items: &[Item],
    k: u64,
    keyf: K,
    bad_bin: B,
) -> Result<Option<Vec<Vec<u64>>>, S::Error>
where
    S: Segments + ?Sized,
    K: Fn(f32) -> u32 + Copy + Sync,
    B: Fn(u32) -> bool,
{
    let total: usize = lens.iter().sum();
    let q = k as f64 / total as f64;
    let Some(window) = sample_window(segments, items, q, keyf, bad_bin)? else {
        return Ok(None);
    };
    let mut masks = super::alloc_masks(lens);
    let found = pass(segments, items, &mut masks, keyf, window)?;
    let below: u64 = found.iter().map(|p| p.below).sum();
    let inside: u64 = found.iter().map(|p| p.candidates.len() as u64).sum();
    if found.iter().any(|p| !p.finite) || !(below < k && k <= below + inside) {
        return Ok(None);
    }
    settle(&mut masks, items, &found, window, k - below);
    Ok(Some(masks))
}

/// The window around quantile `q` of a sample of every item; `None` if the sample holds a
/// value that is not finite.
fn sample_window<S, K, B>(
    segments: &S,
    items: &[Item],
    q: f64,
    keyf: K,
    bad_bin: B,
) -> Result<Option<Window>, S::Error>
where
    S: Segments + ?Sized,
    K: Fn(f32) -> u32 + Copy + Sync,
    B: Fn(u32) -> bool,
{
    let sample: Vec<Item> = items
        .iter()
        .map(|it| Item {
            end: it
                .end
                .min(it.start + ((it.end - it.start) / SAMPLE).max(64)),
            ..*it
        })
        .collect();
    let hist = histogram(segments, &sample, keyf, None)?;
    let n: u64 = hist.iter().sum();
    if hist
        .iter()
        .enumerate()
        .any(|(b, &c)| c > 0 && bad_bin(b as u32))
    {
        return Ok(None);
    }
    let rank = q * n as f64;
    let margin = n as f64 * MARGIN + 16.0;
    let at = |r: f64| locate(&hist, (r.clamp(1.0, n as f64)) as u64).0;
    let (lo, hi) = (at(rank - margin), at(rank + margin));
    Ok(Some(Window {
        from: lo << 16,
        top: hi << 16 | 0xffff,
    }))
}

/// The pass: per item, mask words written for every key outside the window, the keys below
/// it counted, those inside collected.
fn pass<S, K>(
    segments: &S,
    items: &[Item],
    masks: &mut [Vec<u64>],
    keyf: K,
    window: Window,
) -> Result<Vec<Pass>, S::Error>
where
    S: Segments + ?Sized,
    K: Fn(f32) -> u32 + Copy + Sync,
{
    par_map(super::item_words(items, masks), |(it, words)| {
        segments.read(it.segment, it.start..it.end, |data| {
            pass_item(data, words, keyf, window)
        })
    })
    .into_iter()
    .collect()
}

/// One item's share of [`pass`].
fn pass_item<K: Fn(f32) -> u32 + Copy>(
    data: &[f32],
    words: &mut [u64],
    keyf: K,
    window: Window,
) -> Pass {
    let mut found = Pass {
        below: 0,
        candidates: Vec::new(),
        finite: data.iter().fold(true, |ok, x| ok & x.is_finite()),
    };
    for (w, (c, chunk)) in words.iter_mut().zip(data.chunks(64).enumerate()) {
        let (above, at_least) = compare64(chunk, keyf, window.top, window.from);
        *w = above;
        found.below += (chunk.len() as u32 - at_least.count_ones()) as u64;
        let mut inside = at_least & !above;
        while inside != 0 {
            let i = inside.trailing_zeros() as usize;
            inside &= inside - 1;
            found.candidates.push((keyf(chunk[i]), (c * 64 + i) as u32));
        }
    }
    found
}

/// Prune the `k` lowest candidates (by key, then position) and keep the others: a histogram
/// of the candidates' keys finds the bin of the `k`-th, and only that bin's candidates are
/// compared one by one.
fn settle(masks: &mut [Vec<u64>], items: &[Item], found: &[Pass], window: Window, k: u64) {
    let span = u64::from(window.top - window.from) + 1;
    let shift = (64 - (span - 1).leading_zeros()).saturating_sub(16);
    let bin = |key: u32| ((key - window.from) >> shift) as usize;
    let mut hist = vec![0u64; 1 << 16];
    for &(key, _) in found.iter().flat_map(|p| &p.candidates) {
        hist[bin(key)] += 1;
    }
    let (b, before) = locate(&hist, k);
    let b = b as usize;
    // The candidates of bin `b` in position order, packed as (key, ordinal).
    let tied: Vec<u64> = found
        .iter()
        .flat_map(|p| &p.candidates)
        .filter(|&&(key, _)| bin(key) == b)
        .enumerate()
        .map(|(ordinal, &(key, _))| u64::from(key) << 32 | ordinal as u64)
        .collect();
    let mut work = tied.clone();
    let (_, &mut kth, _) = work.select_nth_unstable((k - before) as usize - 1);
    let mut ordinal = 0;
    for (it, p) in items.iter().zip(found) {
        for &(key, i) in &p.candidates {
            let keep = match bin(key).cmp(&b) {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => {
                    ordinal += 1;
                    tied[ordinal - 1] > kth
                }
            };
            if keep {
                let e = it.start + i as usize;
                masks[it.segment][e / 64] |= 1 << (e % 64);
            }
        }
    }
}

//! Mapping between the elements of a parameter and its prunable units.

use super::{Granularity, Layout, Reduction};
use crate::error::{PruneError, Result};
use crate::mask::BitMask;

/// The element → unit map of one parameter at one granularity.
///
/// Units are numbered row-major over the axes that define them: filters by output index,
/// channels by input index, kernels and blocks as `(out, in)` pairs, N:M groups over every axis
/// with the input axis cut into groups. For [`Granularity::NM`] the units of this map are the
/// *groups*; the pruner then keeps `n` elements inside each.
///
/// ```
/// use burn_prune_core::{Granularity, Layout, Reduction, UnitMap};
///
/// // Linear weight [2 inputs, 3 outputs] (Burn's [d_input, d_output]).
/// let w = [1.0, -4.0, 0.5, -2.0, 1.0, 0.5];
/// let filters = UnitMap::new("fc.weight", &[2, 3], Layout::in_out(), Granularity::Filter).unwrap();
/// assert_eq!(filters.reduce(&w, Reduction::L1), vec![3.0, 5.0, 1.0]);
/// let channels = UnitMap::new("fc.weight", &[2, 3], Layout::in_out(), Granularity::Channel).unwrap();
/// assert_eq!(channels.reduce(&w, Reduction::L1), vec![5.5, 3.5]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitMap {
    shape: Vec<usize>,
    granularity: Granularity,
    /// Per axis: divisor applied to the index before it enters the unit id.
    div: Vec<usize>,
    /// Per axis: stride of the (divided) index in the unit id; 0 when the axis does not count.
    ustride: Vec<usize>,
    n_units: usize,
}

impl UnitMap {
    /// Build the map for a parameter at `path` of `shape` read through `layout`.
    ///
    /// Errors: a granularity that needs an input axis on a rank-1 parameter, an N:M group or a
    /// block size that does not divide its axis, an invalid N:M pattern, a layout that names
    /// axes the shape does not have.
    pub fn new(
        path: &str,
        shape: &[usize],
        layout: Layout,
        granularity: Granularity,
    ) -> Result<Self> {
        granularity.validate()?;
        let rank = shape.len();
        let bad_layout = layout.out_axis >= rank.max(1)
            || layout
                .in_axis
                .is_some_and(|a| a >= rank || a == layout.out_axis);
        if bad_layout && rank > 0 {
            return Err(PruneError::Config(format!(
                "layout {layout:?} does not fit `{path}` of shape {shape:?}"
            )));
        }
        let unsupported = |reason: &str| PruneError::UnsupportedGranularity {
            granularity: granularity.to_string(),
            path: path.to_string(),
            shape: shape.to_vec(),
            reason: reason.to_string(),
        };
        let need_in = || {
            layout
                .in_axis
                .ok_or_else(|| unsupported("it has no input axis (rank 1)"))
        };
        let divisible = |axis: usize, divisor: usize, what: &'static str| {
            if shape[axis].is_multiple_of(divisor) {
                Ok(())
            } else {
                Err(PruneError::NotDivisible {
                    path: path.to_string(),
                    shape: shape.to_vec(),
                    axis,
                    size: shape[axis],
                    divisor,
                    what,
                })
            }
        };
        // (axis, divisor) pairs that make up the unit id, most significant first.
        let axes: Vec<(usize, usize)> = match granularity {
            Granularity::Element => (0..rank).map(|a| (a, 1)).collect(),
            Granularity::Filter => {
                if rank == 0 {
                    return Err(unsupported("it is a scalar"));
                }
                vec![(layout.out_axis, 1)]
            }
            Granularity::Channel => vec![(need_in()?, 1)],
            Granularity::Kernel => vec![(layout.out_axis, 1), (need_in()?, 1)],
            Granularity::Block { out, input } => {
                let in_axis = need_in()?;
                divisible(layout.out_axis, out, "block outputs")?;
                divisible(in_axis, input, "block inputs")?;
                vec![(layout.out_axis, out), (in_axis, input)]
            }
            Granularity::NM { m, .. } => {
                let in_axis = need_in()?;
                divisible(in_axis, m, "N:M group")?;
                (0..rank)
                    .map(|a| (a, if a == in_axis { m } else { 1 }))
                    .collect()
            }
        };
        let mut div = vec![1; rank];
        let mut ustride = vec![0; rank];
        let mut n_units = 1usize;
        for &(axis, d) in axes.iter().rev() {
            div[axis] = d;
            ustride[axis] = n_units;
            n_units *= shape[axis] / d;
        }
        Ok(Self {
            shape: shape.to_vec(),
            granularity,
            div,
            ustride,
            n_units,
        })
    }

    /// The granularity this map was built for.
    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// The parameter's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements of the parameter.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of units (N:M: number of groups).
    pub fn n_units(&self) -> usize {
        self.n_units
    }

    /// Elements per unit (all units have the same size).
    pub fn unit_size(&self) -> usize {
        self.numel().checked_div(self.n_units).unwrap_or(0)
    }

    /// Call `f(element, unit)` for every element in row-major order.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        let numel = self.numel();
        if numel == 0 {
            return;
        }
        let rank = self.shape.len();
        if rank == 0 {
            f(0, 0);
            return;
        }
        let last = rank - 1;
        let inner = self.shape[last];
        let (d_last, s_last) = (self.div[last], self.ustride[last]);
        let mut idx = vec![0usize; last];
        let mut e = 0usize;
        loop {
            let base: usize = (0..last)
                .map(|a| idx[a] / self.div[a] * self.ustride[a])
                .sum();
            if d_last == 1 {
                for j in 0..inner {
                    f(e + j, base + j * s_last);
                }
            } else {
                for j in 0..inner {
                    f(e + j, base + j / d_last * s_last);
                }
            }
            e += inner;
            // odometer over the outer axes
            let mut a = last;
            loop {
                if a == 0 {
                    return;
                }
                a -= 1;
                idx[a] += 1;
                if idx[a] < self.shape[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
    }

    /// The unit of every element (row-major), as one vector.
    pub fn unit_ids(&self) -> Vec<usize> {
        let mut ids = vec![0; self.numel()];
        self.for_each(|e, u| ids[e] = u);
        ids
    }

    /// Combine element scores into unit scores.
    pub fn reduce(&self, values: &[f32], reduction: Reduction) -> Vec<f32> {
        debug_assert_eq!(values.len(), self.numel());
        let n = self.n_units;
        match reduction {
            Reduction::Max => {
                let mut acc = vec![f32::NEG_INFINITY; n];
                self.for_each(|e, u| acc[u] = acc[u].max(values[e]));
                acc
            }
            Reduction::L1 => self
                .accumulate(values, |v| v.abs())
                .into_iter()
                .map(|s| s as f32)
                .collect(),
            Reduction::L2 => self
                .accumulate(values, |v| v * v)
                .into_iter()
                .map(|s| s as f32)
                .collect(),
            Reduction::Euclidean => self
                .accumulate(values, |v| v * v)
                .into_iter()
                .map(|s| s.sqrt() as f32)
                .collect(),
            Reduction::Mean => {
                let size = self.unit_size().max(1) as f64;
                self.accumulate(values, |v| v)
                    .into_iter()
                    .map(|s| (s / size) as f32)
                    .collect()
            }
        }
    }

    /// Per-unit sum of `f(value)`, accumulated in `f64` in element order.
    pub fn accumulate(&self, values: &[f32], f: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut acc = vec![0f64; self.n_units];
        // Trailing axes that do not enter the unit id (a filter's kernel, a linear row's
        // outputs) make contiguous runs of one unit: each run is summed in a tight loop, then
        // added to its unit.
        let rank = self.shape.len();
        let mut lead = rank;
        let mut run = 1usize;
        while lead > 0 && self.ustride[lead - 1] == 0 {
            lead -= 1;
            run *= self.shape[lead];
        }
        if run < 4 || values.len() != self.numel() {
            self.for_each(|e, u| acc[u] += f(values[e] as f64));
        } else if lead == 0 {
            acc[0] += run_sum(values, &f);
        } else if lead == 1 && self.div[0] == 1 {
            // One run per unit, in unit order (a conv filter, a linear row).
            let stride = self.ustride[0];
            let mut sums = Vec::with_capacity(values.len() / run);
            run_sums(values, run, &f, &mut sums);
            for (c, s) in sums.into_iter().enumerate() {
                acc[c * stride] += s;
            }
        } else {
            self.accumulate_runs(values, run, lead, &f, &mut acc);
        }
        acc
    }

    /// [`accumulate`](Self::accumulate) over runs of `run` elements whose unit depends on the
    /// `lead` leading axes: the runs along the last of them (a filter's input channels) are
    /// summed together, then added to their units.
    fn accumulate_runs(
        &self,
        values: &[f32],
        run: usize,
        lead: usize,
        f: &impl Fn(f64) -> f64,
        acc: &mut [f64],
    ) {
        let last = lead - 1;
        let (n_last, d_last, s_last) = (self.shape[last], self.div[last], self.ustride[last]);
        let mut rows = values.chunks_exact(n_last * run);
        let mut sums = Vec::with_capacity(n_last);
        let mut idx = vec![0usize; last];
        loop {
            let base: usize = (0..last)
                .map(|a| idx[a] / self.div[a] * self.ustride[a])
                .sum();
            if let Some(row) = rows.next() {
                sums.clear();
                run_sums(row, run, f, &mut sums);
                if d_last == 1 && s_last == 1 {
                    let units = &mut acc[base..base + sums.len()];
                    units.iter_mut().zip(&sums).for_each(|(a, s)| *a += s);
                } else {
                    for (j, &s) in sums.iter().enumerate() {
                        acc[base + j / d_last * s_last] += s;
                    }
                }
            }
            // odometer over the axes before the last
            let mut a = last;
            loop {
                if a == 0 {
                    return;
                }
                a -= 1;
                idx[a] += 1;
                if idx[a] < self.shape[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
    }

    /// The elements of each unit, in row-major order within the unit.
    pub fn unit_vectors(&self, values: &[f32]) -> Vec<Vec<f32>> {
        let size = self.unit_size();
        let mut out: Vec<Vec<f32>> = (0..self.n_units)
            .map(|_| Vec::with_capacity(size))
            .collect();
        self.for_each(|e, u| out[u].push(values[e]));
        out
    }

    /// Expand a per-unit keep mask to a per-element keep mask.
    pub fn expand(&self, unit_keep: &BitMask) -> BitMask {
        debug_assert_eq!(unit_keep.len(), self.n_units);
        let numel = self.numel();
        let mut words = vec![0u64; numel.div_ceil(64)];
        let unit_words = unit_keep.words();
        self.for_each(|e, u| {
            let keep = unit_words[u / 64] >> (u % 64) & 1;
            words[e / 64] |= keep << (e % 64);
        });
        BitMask::from_words(numel, words)
    }
}

/// `Σ f(v)` over `values` in order, in `f64`.
#[inline(always)]
fn run_sum(values: &[f32], f: &impl Fn(f64) -> f64) -> f64 {
    values.iter().map(|&v| f(v as f64)).sum::<f64>()
}

/// Runs summed in lockstep by [`run_sums`].
const LANES: usize = 8;

/// [`run_sum`] of each consecutive run of `run` values (`values.len()` is a multiple of it),
/// appended to `out`.
///
/// Each sum is a chain of dependent additions, so [`LANES`] runs are summed in lockstep,
/// which lets their chains overlap; each run still adds its values in order, from `-0.0` as
/// [`run_sum`] does, so every sum is the same to the bit.
fn run_sums(values: &[f32], run: usize, f: &impl Fn(f64) -> f64, out: &mut Vec<f64>) {
    let mut blocks = values.chunks_exact(LANES * run);
    for block in blocks.by_ref() {
        let rows: [&[f32]; LANES] = std::array::from_fn(|l| &block[l * run..][..run]);
        let mut s = [-0.0f64; LANES];
        for k in 0..run {
            for (s, row) in s.iter_mut().zip(&rows) {
                *s += f(row[k] as f64);
            }
        }
        out.extend(s);
    }
    out.extend(blocks.remainder().chunks_exact(run).map(|r| run_sum(r, f)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv_map(g: Granularity) -> UnitMap {
        UnitMap::new("c.weight", &[4, 6, 2, 2], Layout::out_in(), g).unwrap()
    }

    #[test]
    fn unit_counts() {
        assert_eq!(conv_map(Granularity::Element).n_units(), 96);
        assert_eq!(conv_map(Granularity::Filter).n_units(), 4);
        assert_eq!(conv_map(Granularity::Channel).n_units(), 6);
        assert_eq!(conv_map(Granularity::Kernel).n_units(), 24);
        assert_eq!(
            conv_map(Granularity::Block { out: 2, input: 3 }).n_units(),
            4
        );
        assert_eq!(conv_map(Granularity::NM { n: 1, m: 2 }).n_units(), 48);
    }

    #[test]
    fn conv_units_by_hand() {
        // element (o, i, y, x) has flat index ((o*6 + i)*2 + y)*2 + x
        let flat = |o: usize, i: usize, y: usize, x: usize| ((o * 6 + i) * 2 + y) * 2 + x;
        let ids = conv_map(Granularity::Filter).unit_ids();
        assert_eq!(ids[flat(3, 5, 1, 1)], 3);
        let ids = conv_map(Granularity::Channel).unit_ids();
        assert_eq!(ids[flat(3, 5, 1, 0)], 5);
        let ids = conv_map(Granularity::Kernel).unit_ids();
        assert_eq!(ids[flat(2, 4, 0, 1)], 2 * 6 + 4);
        let ids = conv_map(Granularity::Block { out: 2, input: 3 }).unit_ids();
        assert_eq!(ids[flat(3, 2, 1, 1)], 2); // block (1, 0)
        assert_eq!(ids[flat(1, 5, 0, 0)], 1); // block (0, 1)
        // N:M along inputs: groups over (o, i/2, y, x)
        let ids = conv_map(Granularity::NM { n: 1, m: 2 }).unit_ids();
        assert_eq!(ids[flat(0, 0, 1, 1)], ids[flat(0, 1, 1, 1)]);
        assert_ne!(ids[flat(0, 1, 1, 1)], ids[flat(0, 2, 1, 1)]);
    }

    #[test]
    fn linear_nm_groups_rows() {
        // Linear [d_in = 4, d_out = 2]: groups of 2 consecutive inputs in each column.
        let m = UnitMap::new(
            "fc.weight",
            &[4, 2],
            Layout::in_out(),
            Granularity::NM { n: 1, m: 2 },
        )
        .unwrap();
        let ids = m.unit_ids();
        // elements (in, out): (0,0)=0 (0,1)=1 (1,0)=2 (1,1)=3 (2,0)=4 ...
        assert_eq!(ids[0], ids[2]);
        assert_eq!(ids[1], ids[3]);
        assert_ne!(ids[0], ids[4]);
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn reductions_and_expand() {
        let m = conv_map(Granularity::Filter);
        let vals: Vec<f32> = (0..96).map(|i| if i < 24 { -1.0 } else { 2.0 }).collect();
        assert_eq!(m.reduce(&vals, Reduction::L1), vec![24.0, 48.0, 48.0, 48.0]);
        assert_eq!(m.reduce(&vals, Reduction::Mean), vec![-1.0, 2.0, 2.0, 2.0]);
        assert_eq!(m.reduce(&vals, Reduction::Max), vec![-1.0, 2.0, 2.0, 2.0]);
        // Unit 0: 24 elements of -1, units 1-3: 24 elements of 2.
        assert_eq!(m.reduce(&vals, Reduction::L2), vec![24.0, 96.0, 96.0, 96.0]);
        let euclid = m.reduce(&vals, Reduction::Euclidean);
        assert!((euclid[0] - 24f32.sqrt()).abs() < 1e-6);
        assert!((euclid[1] - 96f32.sqrt()).abs() < 1e-6);
        let keep = BitMask::from_bools(&[true, false, true, false]);
        let e = m.expand(&keep);
        assert_eq!(e.count_ones(), 48);
        assert_eq!(e.get(0), Some(true));
        assert_eq!(e.get(24), Some(false));
    }

    /// The accumulation as first written (every run summed on its own, units by odometer):
    /// the fast paths must give the same bits.
    fn accumulate_reference(m: &UnitMap, values: &[f32], f: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut acc = vec![0f64; m.n_units()];
        let rank = m.shape.len();
        let mut lead = rank;
        let mut run = 1usize;
        while lead > 0 && m.ustride[lead - 1] == 0 {
            lead -= 1;
            run *= m.shape[lead];
        }
        if run < 4 {
            m.for_each(|e, u| acc[u] += f(values[e] as f64));
            return acc;
        }
        let mut idx = vec![0usize; lead];
        for chunk in values.chunks_exact(run) {
            let u: usize = (0..lead).map(|a| idx[a] / m.div[a] * m.ustride[a]).sum();
            acc[u] += chunk.iter().map(|&v| f(v as f64)).sum::<f64>();
            for a in (0..lead).rev() {
                idx[a] += 1;
                if idx[a] < m.shape[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        acc
    }

    #[test]
    fn accumulate_matches_the_reference_to_the_bit() {
        let mut rng = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1d);
        let mut next = || {
            let s = rng();
            // Values over many magnitudes, some negative zeros: rounding shows any reordering.
            match s % 17 {
                0 => -0.0,
                1 => 1e-9,
                _ => (crate::test_rng::unit(s) - 0.5) * (s % 7) as f32,
            }
        };
        let cases: Vec<(Vec<usize>, Layout, Granularity)> = vec![
            (vec![9, 7, 3, 3], Layout::out_in(), Granularity::Filter),
            (vec![9, 7, 3, 3], Layout::out_in(), Granularity::Channel),
            (vec![9, 7, 3, 3], Layout::out_in(), Granularity::Kernel),
            (
                vec![6, 4, 3, 3],
                Layout::out_in(),
                Granularity::Block { out: 2, input: 2 },
            ),
            (vec![9, 7, 3, 3], Layout::in_out(), Granularity::Filter),
            (vec![5, 13], Layout::in_out(), Granularity::Channel),
            (vec![5, 13], Layout::in_out(), Granularity::Filter),
            (vec![7, 2, 2], Layout::out_in(), Granularity::Filter),
        ];
        for (shape, layout, g) in cases {
            let m = UnitMap::new("w", &shape, layout, g).unwrap();
            let values: Vec<f32> = (0..m.numel()).map(|_| next()).collect();
            for f in [|v: f64| v.abs(), |v: f64| v * v, |v: f64| v] {
                let got = m.accumulate(&values, f);
                let want = accumulate_reference(&m, &values, f);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{shape:?} {g}");
            }
        }
    }

    #[test]
    fn errors() {
        let e = UnitMap::new(
            "b",
            &[4],
            Layout {
                out_axis: 0,
                in_axis: None,
            },
            Granularity::Channel,
        );
        assert!(matches!(e, Err(PruneError::UnsupportedGranularity { .. })));
        let e = UnitMap::new(
            "w",
            &[4, 6, 1, 1],
            Layout::out_in(),
            Granularity::NM { n: 2, m: 4 },
        );
        assert!(matches!(
            e,
            Err(PruneError::NotDivisible {
                axis: 1,
                size: 6,
                divisor: 4,
                ..
            })
        ));
        let e = UnitMap::new(
            "w",
            &[4, 8],
            Layout::out_in(),
            Granularity::NM { n: 4, m: 4 },
        );
        assert!(matches!(e, Err(PruneError::InvalidNm { n: 4, m: 4 })));
        let e = UnitMap::new(
            "w",
            &[4, 8],
            Layout::out_in(),
            Granularity::Block { out: 3, input: 2 },
        );
        assert!(matches!(e, Err(PruneError::NotDivisible { axis: 0, .. })));
    }
}

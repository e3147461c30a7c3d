//! The values a selection ranks: segments read in pieces.

use std::convert::Infallible;
use std::ops::Range;

/// Values to select from, in segments (one per parameter), read one piece at a time.
///
/// Host buffers (`[&[f32]]`) hand out sub-slices. Parameters still on their device are read
/// piece by piece (each read is a copy), so that the selection never holds a copy of every
/// value: a piece read, ranked and dropped keeps the memory it used hot for the next one.
pub(crate) trait Segments: Sync {
    /// Why a piece could not be read.
    type Error: Send;

    /// Number of segments.
    fn count(&self) -> usize;

    /// Number of values in segment `s`.
    fn len(&self, s: usize) -> usize;

    /// `f` applied to values `range` of segment `s`.
    fn read<R>(
        &self,
        s: usize,
        range: Range<usize>,
        f: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, Self::Error>;

    /// The length of every segment.
    fn lens(&self) -> Vec<usize> {
        (0..self.count()).map(|s| self.len(s)).collect()
    }
}

impl Segments for [&[f32]] {
    type Error = Infallible;

    fn count(&self) -> usize {
        <[&[f32]]>::len(self)
    }

    fn len(&self, s: usize) -> usize {
        self[s].len()
    }

    fn read<R>(
        &self,
        s: usize,
        range: Range<usize>,
        f: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, Infallible> {
        Ok(f(&self[s][range]))
    }
}

/// Some of another set's segments, by index: segment `i` is `inner`'s `members[i]`.
pub(crate) struct Subset<'a, S: ?Sized> {
    /// The whole set.
    pub inner: &'a S,
    /// Which of its segments, in order.
    pub members: &'a [usize],
}

impl<S: Segments + ?Sized> Segments for Subset<'_, S> {
    type Error = S::Error;

    fn count(&self) -> usize {
        self.members.len()
    }

    fn len(&self, s: usize) -> usize {
        self.inner.len(self.members[s])
    }

    fn read<R>(
        &self,
        s: usize,
        range: Range<usize>,
        f: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, S::Error> {
        self.inner.read(self.members[s], range, f)
    }
}

//! A tiny deterministic generator for the unit tests (xorshift64), so that test data is the
//! same on every machine and run.

/// A xorshift64 stream from `seed` (nonzero).
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// The top 24 bits of `s` as a float in `[0, 1)`.
pub(crate) fn unit(s: u64) -> f32 {
    (s >> 40) as f32 / (1u64 << 24) as f32
}

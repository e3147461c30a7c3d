//! A packed bit vector: one bit per weight, set where the weight is kept.

use serde::{Deserialize, Serialize};

/// A packed boolean vector (64 per word), `true` meaning *kept*.
///
/// Deserialisation checks that the word count matches the length and that the unused bits of
/// the last word are zero, so a corrupt file cannot produce a mask that disagrees with itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawBits")]
pub struct BitMask {
    len: usize,
    words: Vec<u64>,
}

#[derive(Deserialize)]
struct RawBits {
    len: usize,
    words: Vec<u64>,
}

impl TryFrom<RawBits> for BitMask {
    type Error = String;
    fn try_from(raw: RawBits) -> Result<Self, String> {
        let need = raw.len.div_ceil(64);
        if raw.words.len() != need {
            return Err(format!(
                "bit mask of length {} needs {need} words, found {}",
                raw.len,
                raw.words.len()
            ));
        }
        let rem = raw.len % 64;
        if rem != 0 && raw.words[need - 1] >> rem != 0 {
            return Err(format!(
                "bit mask of length {} has bits set past its end",
                raw.len
            ));
        }
        Ok(Self {
            len: raw.len,
            words: raw.words,
        })
    }
}

impl BitMask {
    /// A mask of `len` bits, all `value`.
    pub fn filled(len: usize, value: bool) -> Self {
        let mut words = vec![if value { u64::MAX } else { 0 }; len.div_ceil(64)];
        let rem = len % 64;
        if let Some(last) = words.last_mut().filter(|_| value && rem != 0) {
            *last = (1u64 << rem) - 1;
        }
        Self { len, words }
    }

    /// Build from booleans.
    pub fn from_bools(bits: &[bool]) -> Self {
        let mut words = vec![0u64; bits.len().div_ceil(64)];
        for (w, chunk) in words.iter_mut().zip(bits.chunks(64)) {
            let mut acc = 0u64;
            for (i, &b) in chunk.iter().enumerate() {
                acc |= (b as u64) << i;
            }
            *w = acc;
        }
        Self {
            len: bits.len(),
            words,
        }
    }

    /// Build from packed words (bit `i` of word `w` is element `64·w + i`).
    pub(crate) fn from_words(len: usize, words: Vec<u64>) -> Self {
        debug_assert_eq!(words.len(), len.div_ceil(64));
        Self { len, words }
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mask has no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bit `i` (`None` past the end).
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.len).then(|| self.words[i / 64] >> (i % 64) & 1 == 1)
    }

    /// Set bit `i`; out-of-range indices are ignored and reported as `false`.
    pub fn set(&mut self, i: usize, value: bool) -> bool {
        if i >= self.len {
            return false;
        }
        let bit = 1u64 << (i % 64);
        if value {
            self.words[i / 64] |= bit;
        } else {
            self.words[i / 64] &= !bit;
        }
        true
    }

    /// Number of `true` (kept) bits.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Number of `false` (pruned) bits.
    pub fn count_zeros(&self) -> usize {
        self.len - self.count_ones()
    }

    /// The bits as booleans.
    pub fn to_bools(&self) -> Vec<bool> {
        (0..self.len)
            .map(|i| self.words[i / 64] >> (i % 64) & 1 == 1)
            .collect()
    }

    /// The packed words.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Bitwise AND with another mask of the same length (`None` if the lengths differ).
    pub fn and(&self, other: &BitMask) -> Option<BitMask> {
        (self.len == other.len).then(|| BitMask {
            len: self.len,
            words: self
                .words
                .iter()
                .zip(&other.words)
                .map(|(a, b)| a & b)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_counts() {
        let bools: Vec<bool> = (0..130).map(|i| i % 3 == 0).collect();
        let m = BitMask::from_bools(&bools);
        assert_eq!(m.to_bools(), bools);
        assert_eq!(m.count_ones(), 44);
        assert_eq!(m.count_zeros(), 86);
        assert_eq!(BitMask::filled(130, true).count_ones(), 130);
        assert_eq!(BitMask::filled(130, false).count_ones(), 0);
        assert_eq!(m.get(129), Some(true));
        assert_eq!(m.get(130), None);
    }

    #[test]
    fn deserialize_rejects_inconsistent_words() {
        let bad_len = r#"{"len":65,"words":[1]}"#;
        assert!(serde_json::from_str::<BitMask>(bad_len).is_err());
        let stray = r#"{"len":3,"words":[8]}"#;
        assert!(serde_json::from_str::<BitMask>(stray).is_err());
        let ok = r#"{"len":3,"words":[5]}"#;
        let m: BitMask = serde_json::from_str(ok).unwrap();
        assert_eq!(m.to_bools(), vec![true, false, true]);
    }
}

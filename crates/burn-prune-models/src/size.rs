//! Parameter counts from configurations, before anything is allocated: a configuration too
//! large to build (a typo, a corrupted checkpoint) is an error, not an allocation that takes
//! the machine's memory.

use crate::ModelError;

/// The most parameters a configuration of this crate builds: 2³² (4.3 billion, 17 GB in f32),
/// 200 times VGG-19. The configurations' `init` reject larger ones with
/// [`ModelError::TooLarge`] before allocating anything; their `param_count` says how many
/// parameters a configuration has without building it.
pub const MAX_PARAMS: usize = 1 << 32;

/// A running parameter count that stops at [`MAX_PARAMS`] (or an overflow).
pub(crate) struct Tally {
    model: &'static str,
    total: usize,
}

impl Tally {
    pub(crate) fn new(model: &'static str) -> Self {
        Self { model, total: 0 }
    }

    fn too_large(&self) -> ModelError {
        ModelError::TooLarge {
            model: self.model,
            limit: MAX_PARAMS,
        }
    }

    /// Add `n` (`None`: a count that overflowed).
    pub(crate) fn add(&mut self, n: Option<usize>) -> Result<(), ModelError> {
        self.total = n
            .and_then(|n| self.total.checked_add(n))
            .filter(|&t| t <= MAX_PARAMS)
            .ok_or_else(|| self.too_large())?;
        Ok(())
    }

    /// `times` copies of what `part` adds.
    pub(crate) fn repeat(
        &mut self,
        times: usize,
        part: impl FnOnce(&mut Tally) -> Result<(), ModelError>,
    ) -> Result<(), ModelError> {
        let mut one = Tally::new(self.model);
        part(&mut one)?;
        self.add(one.total.checked_mul(times))
    }

    /// The product of `dims`.
    pub(crate) fn product(dims: &[usize]) -> Option<usize> {
        dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }

    /// A bias-free `k × k` convolution and its batch norm (weight and bias of the norm).
    pub(crate) fn conv_bn(&mut self, cin: usize, cout: usize, k: usize) -> Result<(), ModelError> {
        self.add(Self::product(&[cin, cout, k, k]))?;
        self.batch_norm(cout)
    }

    /// A batch norm's weight and bias.
    pub(crate) fn batch_norm(&mut self, features: usize) -> Result<(), ModelError> {
        self.add(features.checked_mul(2))
    }

    /// A linear layer.
    pub(crate) fn linear(&mut self, i: usize, o: usize, bias: bool) -> Result<(), ModelError> {
        self.add(Self::product(&[i, o]))?;
        if bias {
            self.add(Some(o))?;
        }
        Ok(())
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_the_limit_and_at_overflows() {
        let mut t = Tally::new("test");
        t.linear(3, 4, true).unwrap();
        assert_eq!(t.total(), 16);
        t.repeat(10, |t| t.conv_bn(2, 3, 3)).unwrap();
        assert_eq!(t.total(), 16 + 10 * (54 + 6));
        assert!(t.add(Some(MAX_PARAMS)).is_err());
        assert!(t.linear(usize::MAX, 2, false).is_err());
        let mut t = Tally::new("test");
        assert!(t.add(Some(MAX_PARAMS)).is_ok());
        assert!(t.add(Some(1)).is_err());
    }
}

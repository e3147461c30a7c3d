//! Measured forward latency, dense against pruned, next to the theoretical speedup.

use crate::error::{self, MetricsError};
use burn::config::Config;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, Instant};

/// How to time a forward pass.
#[derive(Config, Debug)]
pub struct LatencyConfig {
    /// Batch size of the timed input (the first dimension of the input shape).
    pub batch_size: usize,
    /// Untimed runs first (kernel compilation, allocator warm-up, caches).
    #[config(default = 3)]
    pub warmup: usize,
    /// Timed runs; the median is reported.
    #[config(default = 10)]
    pub runs: usize,
    /// Seed of the random input.
    #[config(default = 0)]
    pub seed: u64,
}

/// Timings of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Batch size of the input.
    pub batch_size: usize,
    /// Every timed run, in order.
    pub samples: Vec<Duration>,
}

impl Latency {
    fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }

    /// The median run (the mean of the two middle runs for an even count; zero without
    /// runs).
    pub fn median(&self) -> Duration {
        let s = self.sorted();
        let n = s.len();
        if n == 0 {
            Duration::ZERO
        } else if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2
        }
    }

    /// The fastest run (zero without runs).
    pub fn min(&self) -> Duration {
        self.samples.iter().min().copied().unwrap_or_default()
    }

    /// The slowest run (zero without runs).
    pub fn max(&self) -> Duration {
        self.samples.iter().max().copied().unwrap_or_default()
    }

    /// Median time per input sample.
    pub fn per_sample(&self) -> Duration {
        self.median()
            .checked_div(self.batch_size as u32)
            .unwrap_or_default()
    }

    /// Samples per second at the median.
    pub fn throughput(&self) -> f64 {
        self.batch_size as f64 / self.median().as_secs_f64()
    }
}

impl LatencyConfig {
    fn validate(&self) -> error::Result<()> {
        if self.batch_size == 0 {
            return Err(MetricsError::invalid("batch_size", "must be at least 1"));
        }
        if self.runs == 0 {
            return Err(MetricsError::invalid("runs", "must be at least 1"));
        }
        Ok(())
    }

    /// Time `forward(model, x)` on `device` for a random normal input of shape
    /// `[batch_size, sample_shape..]`: `warmup` untimed runs, then `runs` timed ones, each
    /// waiting for the device to finish (`Device::sync`) before the clock stops.
    ///
    /// ```
    /// use burn::nn::{Linear, LinearConfig};
    /// use burn::prelude::*;
    /// use burn_prune_metrics::LatencyConfig;
    ///
    /// let device = Device::flex();
    /// let layer: Linear = LinearConfig::new(16, 4).init(&device);
    /// let latency = LatencyConfig::new(8)
    ///     .with_runs(5)
    ///     .measure(&layer, [16], &device, |l, x: Tensor<2>| l.forward(x))
    ///     .unwrap();
    /// assert_eq!(latency.samples.len(), 5);
    /// assert!(latency.min() <= latency.median());
    /// ```
    pub fn measure<M, F, const S: usize, const D: usize, const O: usize>(
        &self,
        model: &M,
        sample_shape: [usize; S],
        device: &Device,
        forward: F,
    ) -> error::Result<Latency>
    where
        F: Fn(&M, Tensor<D>) -> Tensor<O>,
    {
        self.validate()?;
        if S + 1 != D {
            return Err(MetricsError::invalid(
                "sample shape",
                format!(
                    "{S} dimensions plus the batch make {}, the model takes {D}",
                    S + 1
                ),
            ));
        }
        let mut shape = [self.batch_size; D];
        shape[1..].copy_from_slice(&sample_shape);
        device.seed(self.seed);
        let x = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), device);
        let sync = |what: &str| {
            device.sync().map_err(|e| MetricsError::Mismatch {
                context: format!("latency ({what})"),
                reason: format!("the device failed to execute the forward pass: {e:?}"),
            })
        };
        sync("input")?;
        let run = || -> error::Result<Duration> {
            let start = Instant::now();
            let y = forward(model, x.clone());
            sync("forward")?;
            let elapsed = start.elapsed();
            drop(y);
            Ok(elapsed)
        };
        for _ in 0..self.warmup {
            run()?;
        }
        let samples = (0..self.runs)
            .map(|_| run())
            .collect::<error::Result<_>>()?;
        Ok(Latency {
            batch_size: self.batch_size,
            samples,
        })
    }

    /// Time `dense` and `pruned` alike (alternating, so that slow phases of a shared machine
    /// hit both) and compare the measured speedup with `theoretical_speedup`.
    pub fn compare<M, P, F, G, const S: usize, const D: usize, const O: usize>(
        &self,
        dense: (&M, F),
        pruned: (&P, G),
        sample_shape: [usize; S],
        device: &Device,
        theoretical_speedup: f64,
    ) -> error::Result<LatencyComparison>
    where
        F: Fn(&M, Tensor<D>) -> Tensor<O>,
        G: Fn(&P, Tensor<D>) -> Tensor<O>,
    {
        let once = Self {
            runs: 1,
            warmup: 0,
            ..self.clone()
        };
        // Warm both up first, then interleave single timed runs.
        let warm = Self {
            runs: self.warmup.max(1),
            warmup: 0,
            ..self.clone()
        };
        warm.measure(dense.0, sample_shape, device, &dense.1)?;
        warm.measure(pruned.0, sample_shape, device, &pruned.1)?;
        let mut d = Vec::with_capacity(self.runs);
        let mut p = Vec::with_capacity(self.runs);
        for _ in 0..self.runs {
            d.extend(
                once.measure(dense.0, sample_shape, device, &dense.1)?
                    .samples,
            );
            p.extend(
                once.measure(pruned.0, sample_shape, device, &pruned.1)?
                    .samples,
            );
        }
        let dense = Latency {
            batch_size: self.batch_size,
            samples: d,
        };
        let pruned = Latency {
            batch_size: self.batch_size,
            samples: p,
        };
        Ok(LatencyComparison {
            measured_speedup: dense.median().as_secs_f64() / pruned.median().as_secs_f64(),
            theoretical_speedup,
            dense,
            pruned,
        })
    }
}

/// Dense and pruned latency side by side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyComparison {
    /// The dense model's timings.
    pub dense: Latency,
    /// The pruned model's timings.
    pub pruned: Latency,
    /// Median dense time / median pruned time.
    pub measured_speedup: f64,
    /// The MAC ratio given by the caller (see [`theoretical_speedup`](crate::theoretical_speedup)).
    pub theoretical_speedup: f64,
}

impl LatencyComparison {
    /// Measured / theoretical speedup: how much of the MAC reduction turned into time.
    pub fn efficiency(&self) -> f64 {
        self.measured_speedup / self.theoretical_speedup
    }
}

impl fmt::Display for LatencyComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch {}: dense {:.2?} (median of {}), pruned {:.2?}: measured {:.2}× vs theoretical {:.2}× ({:.0}%)",
            self.dense.batch_size,
            self.dense.median(),
            self.dense.samples.len(),
            self.pruned.median(),
            self.measured_speedup,
            self.theoretical_speedup,
            100.0 * self.efficiency()
        )
    }
}

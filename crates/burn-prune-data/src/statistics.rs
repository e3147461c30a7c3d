//! Streaming per-channel statistics of captured activations: zeros (APoZ), mean, variance,
//! and each sample's channel means with its label (for the mutual information).

use crate::capture::{ActivationCapture, TapPoint};
use crate::error::{DataError, Result};
use burn::backend::ir::BackendIr;
use burn::module::Module;
use burn::prelude::*;

/// One batch for [`ActivationCapture::statistics`]: inputs, and labels when a statistic
/// needs them (the mutual information).
#[derive(Clone, Debug)]
pub struct CaptureBatch {
    /// The inputs, `[samples, ...]` with the traced sample shape.
    pub inputs: TensorData,
    /// One class index per sample.
    pub labels: Option<Vec<usize>>,
}

impl CaptureBatch {
    /// A batch without labels.
    pub fn new(inputs: TensorData) -> Self {
        Self {
            inputs,
            labels: None,
        }
    }

    /// The same batch with `labels`.
    pub fn with_labels(mut self, labels: Vec<usize>) -> Self {
        self.labels = Some(labels);
        self
    }
}

/// Statistics of one layer's channels at one [`TapPoint`], accumulated over batches.
///
/// Memory: four numbers per channel, plus one `f32` per sample and channel (the sample's
/// mean over positions, kept for the mutual information): 10,000 samples of a 512-channel
/// layer take 20 MB. The activations themselves are never stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelStatistics {
    /// The layer's weight path.
    pub path: String,
    /// Where the values were read.
    pub point: TapPoint,
    /// Channels.
    pub channels: usize,
    /// Samples seen.
    pub samples: usize,
    /// Values per channel and sample (spatial positions; 1 for a linear layer).
    pub positions: usize,
    /// Values exactly `0` per channel.
    pub zeros: Vec<u64>,
    /// Sum of the values per channel.
    pub sum: Vec<f64>,
    /// Sum of the squared values per channel.
    pub sum_squares: Vec<f64>,
    /// Each sample's mean over positions, `samples × channels`, sample-major.
    pub sample_means: Vec<f32>,
    /// Each sample's label, when every batch had labels.
    pub labels: Option<Vec<usize>>,
}

impl ChannelStatistics {
    fn new(path: String, point: TapPoint, channels: usize, positions: usize) -> Self {
        Self {
            path,
            point,
            channels,
            samples: 0,
            positions,
            zeros: vec![0; channels],
            sum: vec![0.0; channels],
            sum_squares: vec![0.0; channels],
            sample_means: Vec::new(),
            labels: Some(Vec::new()),
        }
    }

    /// Values seen per channel.
    fn count(&self) -> f64 {
        (self.samples * self.positions) as f64
    }

    /// Average Percentage of Zeros (Hu et al. 2016): the fraction of a channel's values that
    /// are exactly 0 (after a ReLU: the fraction of inactive positions).
    pub fn apoz(&self) -> Vec<f64> {
        self.zeros
            .iter()
            .map(|&z| z as f64 / self.count())
            .collect()
    }

    /// The mean value of each channel.
    pub fn mean(&self) -> Vec<f64> {
        self.sum.iter().map(|s| s / self.count()).collect()
    }

    /// The (population) variance of each channel's values.
    pub fn variance(&self) -> Vec<f64> {
        let n = self.count();
        self.sum
            .iter()
            .zip(&self.sum_squares)
            .map(|(s, q)| (q / n - (s / n) * (s / n)).max(0.0))
            .collect()
    }

    /// Add one batch: `values` of shape `shape` with channels on `axis`.
    fn add(&mut self, values: &[f32], shape: &[usize], axis: usize, labels: Option<&[usize]>) {
        let n = shape[0];
        let inner: usize = shape[axis + 1..].iter().product();
        let outer: usize = shape[1..axis].iter().product();
        let c = self.channels;
        let mut means = vec![0f64; n * c];
        for s in 0..n {
            for o in 0..outer {
                for ch in 0..c {
                    let start = ((s * outer + o) * c + ch) * inner;
                    for &v in &values[start..start + inner] {
                        let v = v as f64;
                        if v == 0.0 {
                            self.zeros[ch] += 1;
                        }
                        self.sum[ch] += v;
                        self.sum_squares[ch] += v * v;
                        means[s * c + ch] += v;
                    }
                }
            }
        }
        let per_sample = (outer * inner) as f64;
        self.sample_means
            .extend(means.iter().map(|m| (m / per_sample) as f32));
        self.samples += n;
        match (&mut self.labels, labels) {
            (Some(all), Some(l)) => all.extend_from_slice(l),
            (all, _) => *all = None,
        }
    }
}

impl ActivationCapture {
    /// The [`ChannelStatistics`] of the layers whose weight paths are `paths` (all layers when
    /// empty) at `point`, over `batches` replayed on backend `B`.
    ///
    /// Channels are axis 1 of a convolution's tensors and the last axis of a linear layer's.
    ///
    /// Errors: a path that is no captured layer; [`TapPoint::Activation`] for a layer
    /// without one; labels whose count differs from the batch's samples; no batch; the
    /// errors of [`run`](Self::run).
    pub fn statistics<B, M>(
        &self,
        model: &M,
        batches: impl IntoIterator<Item = CaptureBatch>,
        device: B::Device,
        point: TapPoint,
        paths: &[String],
    ) -> Result<Vec<ChannelStatistics>>
    where
        B: BackendIr,
        M: Module,
    {
        let layers: Vec<usize> = if paths.is_empty() {
            (0..self.taps().len()).collect()
        } else {
            paths
                .iter()
                .map(|p| {
                    self.index_of(p).ok_or_else(|| DataError::Model {
                        method: "activation statistics",
                        reason: format!("{p}: not the weight of a captured conv or linear layer"),
                    })
                })
                .collect::<Result<_>>()?
        };
        let mut slot = vec![usize::MAX; self.taps().len()];
        let mut stats = Vec::with_capacity(layers.len());
        let mut axes = Vec::with_capacity(layers.len());
        for (k, &l) in layers.iter().enumerate() {
            let tap = &self.taps()[l];
            tap.tensor(point, "activation statistics")?;
            let shape = tap.shape(point);
            let axis = if tap.op == "Linear" {
                shape.len() - 1
            } else {
                1
            };
            let positions = shape[1..].iter().product::<usize>() / shape[axis];
            slot[l] = k;
            axes.push(axis);
            stats.push(ChannelStatistics::new(
                tap.path.clone(),
                point,
                shape[axis],
                positions,
            ));
        }
        let requests: Vec<(usize, TapPoint)> = layers.iter().map(|&l| (l, point)).collect();
        let mut labels: Vec<Option<Vec<usize>>> = Vec::new();
        let mut inputs = Vec::new();
        for (i, b) in batches.into_iter().enumerate() {
            let n = b.inputs.shape().first().copied().unwrap_or(0);
            if let Some(l) = &b.labels
                && l.len() != n
            {
                return Err(DataError::shape(format!("labels of batch {i}"), n, l.len()));
            }
            labels.push(b.labels);
            inputs.push(b.inputs);
        }
        if inputs.is_empty() {
            return Err(DataError::invalid(
                "activation statistics",
                "no batch given",
            ));
        }
        // Batches seen by each layer: the index of the batch a sink call belongs to.
        let mut seen = vec![0usize; layers.len()];
        self.run::<B, M>(
            model,
            inputs,
            device,
            &requests,
            |layer, _, values, shape| {
                let k = slot[layer];
                stats[k].add(values, shape, axes[k], labels[seen[k]].as_deref());
                seen[k] += 1;
            },
        )?;
        Ok(stats)
    }
}

//! Measured latency of layers against their channel counts, per device, saved and reused.

use crate::error::{self, MetricsError};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// How layer latencies are measured.
#[derive(burn::config::Config, Debug)]
pub struct HardwareConfig {
    /// Widths measured along each channel axis of a layer: the full width and evenly spaced
    /// ones below it (every width when the layer has at most this many).
    #[config(default = 8)]
    pub points_per_axis: usize,
    /// Untimed runs before each measured width.
    #[config(default = 1)]
    pub warmup: usize,
    /// Timed runs per width; the median is kept.
    #[config(default = 5)]
    pub runs: usize,
    /// Seed of the random inputs and weights.
    #[config(default = 0)]
    pub seed: u64,
}

impl HardwareConfig {
    pub(crate) fn validate(&self) -> error::Result<()> {
        if self.points_per_axis < 2 {
            return Err(MetricsError::invalid(
                "points_per_axis",
                "at least 2 widths per axis are needed to interpolate",
            ));
        }
        if self.runs == 0 {
            return Err(MetricsError::invalid("runs", "must be at least 1"));
        }
        Ok(())
    }

    /// The widths measured along an axis of `full` channels, ascending, `full` included.
    pub fn widths(&self, full: usize) -> Vec<usize> {
        let points = self.points_per_axis.max(2);
        if full <= points {
            return (1..=full).collect();
        }
        let mut w: Vec<usize> = (1..=points)
            .map(|i| ((full * i) as f64 / points as f64).round() as usize)
            .filter(|&w| w >= 1)
            .collect();
        w.dedup();
        w
    }
}

/// A layer whose latency is measured: the shape its kernel sees at full width. Channel counts
/// are varied from it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LayerShape {
    /// A 2-d convolution with `groups = 1`.
    Conv2d {
        /// Input `[batch, channels, height, width]`.
        input: [usize; 4],
        /// Output channels.
        out_channels: usize,
        /// Kernel size.
        kernel: [usize; 2],
        /// Stride.
        stride: [usize; 2],
        /// Padding, `(before, after)` per spatial axis.
        padding: [(usize, usize); 2],
        /// Dilation.
        dilation: [usize; 2],
        /// Whether a bias is added.
        bias: bool,
    },
    /// A linear layer on `rows` input rows.
    Linear {
        /// Rows (the product of the input's leading dimensions).
        rows: usize,
        /// Input features.
        d_input: usize,
        /// Output features.
        d_output: usize,
        /// Whether a bias is added.
        bias: bool,
    },
}

impl LayerShape {
    /// Full input and output channels.
    pub fn channels(&self) -> (usize, usize) {
        match self {
            Self::Conv2d {
                input,
                out_channels,
                ..
            } => (input[1], *out_channels),
            Self::Linear {
                d_input, d_output, ..
            } => (*d_input, *d_output),
        }
    }

    /// A compact text key (the table's key).
    pub fn key(&self) -> String {
        match self {
            Self::Conv2d {
                input: [b, c, h, w],
                out_channels,
                kernel,
                stride,
                padding,
                dilation,
                bias,
            } => format!(
                "conv2d b{b} {c}x{h}x{w} -> {out_channels} k{}x{} s{}x{} p{},{},{},{} d{}x{}{}",
                kernel[0],
                kernel[1],
                stride[0],
                stride[1],
                padding[0].0,
                padding[0].1,
                padding[1].0,
                padding[1].1,
                dilation[0],
                dilation[1],
                if *bias { " bias" } else { "" }
            ),
            Self::Linear {
                rows,
                d_input,
                d_output,
                bias,
            } => format!(
                "linear {rows}x{d_input} -> {d_output}{}",
                if *bias { " bias" } else { "" }
            ),
        }
    }

    /// The median time in milliseconds of the layer with `cin` input and `cout` output
    /// channels on `device`.
    fn time(
        &self,
        cin: usize,
        cout: usize,
        device: &Device,
        config: &HardwareConfig,
    ) -> error::Result<f64> {
        device.seed(config.seed);
        let normal = Distribution::Normal(0.0, 1.0);
        let run: Box<dyn Fn() -> Tensor<1>> = match self {
            Self::Conv2d {
                input: [b, _, h, w],
                kernel,
                stride,
                padding,
                dilation,
                bias,
                ..
            } => {
                let x = Tensor::<4>::random([*b, cin, *h, *w], normal, device);
                let weight = Tensor::<4>::random([cout, cin, kernel[0], kernel[1]], normal, device);
                let bias = bias.then(|| Tensor::<1>::random([cout], normal, device));
                let options = ConvOptions::new_with_padding(*stride, *padding, *dilation, 1);
                Box::new(move || {
                    conv2d(x.clone(), weight.clone(), bias.clone(), options.clone()).reshape([-1])
                })
            }
            Self::Linear { rows, bias, .. } => {
                let x = Tensor::<2>::random([*rows, cin], normal, device);
                let weight = Tensor::<2>::random([cin, cout], normal, device);
                let bias = bias.then(|| Tensor::<1>::random([cout], normal, device));
                Box::new(move || linear(x.clone(), weight.clone(), bias.clone()).reshape([-1]))
            }
        };
        median_ms(device, config.warmup, config.runs, run, &self.key())
    }
}

/// Runs `f` `warmup` times untimed, then `runs` times timed (each waiting for the device), and
/// gives the median in milliseconds.
pub(crate) fn median_ms<T>(
    device: &Device,
    warmup: usize,
    runs: usize,
    f: impl Fn() -> T,
    what: &str,
) -> error::Result<f64> {
    let sync = || {
        device.sync().map_err(|e| MetricsError::Mismatch {
            context: format!("latency of {what}"),
            reason: format!("the device failed to run it: {e:?}"),
        })
    };
    sync()?;
    for _ in 0..warmup {
        let y = f();
        sync()?;
        drop(y);
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let y = f();
        sync()?;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
        drop(y);
    }
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    Ok(if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    })
}

/// A layer's measured latency over a grid of input and output channel counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerCurve {
    /// Input channel counts measured, ascending.
    pub widths_in: Vec<usize>,
    /// Output channel counts measured, ascending.
    pub widths_out: Vec<usize>,
    /// Median milliseconds, `ms[i][o]` at `widths_in[i]` inputs and `widths_out[o]` outputs.
    pub ms: Vec<Vec<f64>>,
}

impl LayerCurve {
    /// The latency at `cin` inputs and `cout` outputs (fractional counts allowed): bilinear
    /// between the measured widths, the smallest measured width's value below it.
    pub fn at(&self, cin: f64, cout: f64) -> f64 {
        let (i0, i1, ti) = bracket(&self.widths_in, cin);
        let (o0, o1, to) = bracket(&self.widths_out, cout);
        let row = |i: usize| self.ms[i][o0] * (1.0 - to) + self.ms[i][o1] * to;
        row(i0) * (1.0 - ti) + row(i1) * ti
    }

    /// The spacing of the measured widths along the input (`false`) or output (`true`) axis
    /// just below `width` channels: the step at which the table resolves the layer.
    pub fn spacing(&self, output: bool, width: usize) -> usize {
        let w = if output {
            &self.widths_out
        } else {
            &self.widths_in
        };
        let below = w.iter().rev().find(|&&x| x < width).copied().unwrap_or(0);
        width.saturating_sub(below).max(1)
    }

    fn check(&self, key: &str) -> error::Result<()> {
        let ok = !self.widths_in.is_empty()
            && !self.widths_out.is_empty()
            && self.widths_in.windows(2).all(|w| w[0] < w[1])
            && self.widths_out.windows(2).all(|w| w[0] < w[1])
            && self.ms.len() == self.widths_in.len()
            && self.ms.iter().all(|r| {
                r.len() == self.widths_out.len() && r.iter().all(|v| v.is_finite() && *v >= 0.0)
            });
        if ok {
            Ok(())
        } else {
            Err(MetricsError::Json {
                context: format!("latency table entry `{key}`"),
                reason: "widths must ascend and every latency be a finite non-negative number, one per pair of widths".into(),
            })
        }
    }
}

/// The two grid indices around `x` and the weight of the upper one.
fn bracket(grid: &[usize], x: f64) -> (usize, usize, f64) {
    let last = grid.len() - 1;
    if x <= grid[0] as f64 {
        return (0, 0, 0.0);
    }
    if x >= grid[last] as f64 {
        return (last, last, 0.0);
    }
    let hi = grid.iter().position(|&g| g as f64 >= x).unwrap_or(last);
    let lo = hi - 1;
    let t = (x - grid[lo] as f64) / (grid[hi] - grid[lo]) as f64;
    (lo, hi, t)
}

/// Measured layer latencies per device: `entries[device][layer key]`. Measuring is slow
/// (seconds per layer shape); save the table and load it to reuse the measurements on the
/// same device.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyTable {
    /// Curves by device name (Burn's `Debug` of the device), then layer key.
    pub entries: BTreeMap<String, BTreeMap<String, LayerCurve>>,
}

impl LatencyTable {
    /// The table saved at `path`, or an empty one when there is no file yet. A file that
    /// does not parse, or holds an inconsistent curve, is an error naming it.
    pub fn load_or_default(path: impl AsRef<Path>) -> error::Result<Self> {
        let path = path.as_ref();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(MetricsError::Io {
                    action: "reading the latency table".into(),
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let table: Self = serde_json::from_str(&text).map_err(|e| MetricsError::Json {
            context: format!("latency table `{}`", path.display()),
            reason: e.to_string(),
        })?;
        for curves in table.entries.values() {
            for (key, curve) in curves {
                curve.check(key).map_err(|e| match e {
                    MetricsError::Json { context, reason } => MetricsError::Json {
                        context: format!("{context} in `{}`", path.display()),
                        reason,
                    },
                    other => other,
                })?;
            }
        }
        Ok(table)
    }

    /// Write the table to `path` (a temporary file beside it, synced, then renamed: an
    /// interrupted save leaves the old table whole).
    pub fn save(&self, path: impl AsRef<Path>) -> error::Result<()> {
        let path = path.as_ref();
        let io = |action: &str, source| MetricsError::Io {
            action: action.into(),
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| MetricsError::Json {
            context: "latency table".into(),
            reason: e.to_string(),
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
        }
        burn_prune_core::write_atomic(path, text.as_bytes()).map_err(|e| io("writing", e))
    }

    /// The curve of `layer` on `device`, measured now unless the table has it.
    pub fn curve(
        &mut self,
        layer: &LayerShape,
        device: &Device,
        config: &HardwareConfig,
    ) -> error::Result<&LayerCurve> {
        config.validate()?;
        let key = layer.key();
        let curves = self.entries.entry(device_name(device)).or_default();
        if !curves.contains_key(&key) {
            let (cin, cout) = layer.channels();
            let widths_in = config.widths(cin);
            let widths_out = config.widths(cout);
            let ms = widths_in
                .iter()
                .map(|&i| {
                    widths_out
                        .iter()
                        .map(|&o| layer.time(i, o, device, config))
                        .collect::<error::Result<Vec<f64>>>()
                })
                .collect::<error::Result<Vec<_>>>()?;
            curves.insert(
                key.clone(),
                LayerCurve {
                    widths_in,
                    widths_out,
                    ms,
                },
            );
        }
        Ok(&curves[&key])
    }
}

/// The name a device's measurements are kept under.
pub fn device_name(device: &Device) -> String {
    format!("{device:?}")
}

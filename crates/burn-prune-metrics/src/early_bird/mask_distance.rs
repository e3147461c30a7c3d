//! The mask-distance early-bird detector of You et al. (ICLR 2020).

pub use super::config::EarlyBirdConfig;
use super::{EarlyBirdStatus, Firing, differing_bits};
use crate::error::{MetricsError, Result};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn_prune_core::{BitMask, LayerKind, PruneError, param_addresses, prune_lowest_magnitude};
use std::collections::{HashMap, HashSet, VecDeque};

impl EarlyBirdConfig {
    /// Check the configuration and build an empty detector.
    ///
    /// Errors: a ratio outside `[0, 1)` (NaN included), a window below 2, a threshold outside
    /// `[0, 1]`.
    pub fn init(&self) -> Result<MaskDistanceDetector> {
        if !(0.0..1.0).contains(&self.ratio) {
            return Err(MetricsError::invalid(
                "early-bird pruning ratio",
                format!("{} is outside [0, 1)", self.ratio),
            ));
        }
        if self.window < 2 {
            return Err(MetricsError::invalid(
                "early-bird window",
                format!(
                    "{} masks cannot compare the newest with an earlier one; need at least 2",
                    self.window
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(MetricsError::invalid(
                "early-bird distance threshold",
                format!(
                    "{} is outside [0, 1] (distances are fractions of channels)",
                    self.threshold
                ),
            ));
        }
        Ok(MaskDistanceDetector {
            config: self.clone(),
            masks: VecDeque::with_capacity(self.window),
            layers: None,
            firing: Firing::default(),
            ticket: None,
        })
    }
}

/// Normalised Hamming distance between two channel masks: the fraction of channels whose bit
/// differs, `1 − mean(a == b)` as in the paper.
///
/// Errors: masks of different lengths, or empty masks.
///
/// ```
/// use burn_prune_core::BitMask;
/// use burn_prune_metrics::early_bird::mask_distance;
///
/// let a = BitMask::from_bools(&[true, true, false, false]);
/// let b = BitMask::from_bools(&[true, false, false, true]);
/// assert_eq!(mask_distance(&a, &b).unwrap(), 0.5);
/// ```
pub fn mask_distance(a: &BitMask, b: &BitMask) -> Result<f64> {
    if a.len() != b.len() {
        return Err(MetricsError::Mismatch {
            context: "mask distance".into(),
            reason: format!("masks of {} and {} channels", a.len(), b.len()),
        });
    }
    if a.is_empty() {
        return Err(MetricsError::invalid(
            "masks",
            "the distance of two empty masks is undefined",
        ));
    }
    Ok(differing_bits(a, b) as f64 / a.len() as f64)
}

/// One BatchNorm layer's place in a [`BnChannelMask`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BnLayer {
    /// Path of the layer's scale parameter (`features.1.gamma`).
    pub path: String,
    /// Index of the layer's first channel in the concatenated mask.
    pub offset: usize,
    /// Number of channels.
    pub channels: usize,
}

/// The early-bird channel mask of a model: all BatchNorm channels concatenated in visiting
/// order, `true` where the channel is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BnChannelMask {
    /// The concatenated mask.
    pub mask: BitMask,
    /// Where each BatchNorm layer's channels lie in [`BnChannelMask::mask`], in order.
    pub layers: Vec<BnLayer>,
}

impl BnChannelMask {
    /// The mask cut into one mask per BatchNorm layer, in the order of
    /// [`BnChannelMask::layers`].
    pub fn split(&self) -> Vec<BitMask> {
        self.layers
            .iter()
            .map(|l| {
                let bits: Vec<bool> = (l.offset..l.offset + l.channels)
                    .map(|i| self.mask.get(i).unwrap_or(false))
                    .collect();
                BitMask::from_bools(&bits)
            })
            .collect()
    }
}

/// The channel mask of the early-bird paper: over **all** BatchNorm layers together, prune the
/// `k = ⌊p·N⌋` channels with the smallest `|γ|` (`N` = total number of BN channels; `p·N` is
/// first snapped to the nearest integer when within a relative `1e-9` of it, so that
/// `0.29 · 100` prunes 29). Ties are broken by position: the earlier channel (earlier layer in
/// visiting order, then lower index) is pruned first, so the mask is deterministic.
///
/// BatchNorm scales are found generically: every float parameter named `gamma` whose
/// [`LayerKind`] is [`LayerKind::BatchNorm`] (a module of Burn's `BatchNorm` type, at any
/// depth). The values read are the effective ones (`Param::val`, so an installed pruning mask
/// is applied).
///
/// Note: the official code thresholds with `|γ| > sorted[⌊p·N⌋]`, which prunes `⌊p·N⌋ + 1`
/// channels when the scales are distinct; this function prunes exactly `⌊p·N⌋`.
///
/// Errors: a model without BatchNorm, a ratio outside `[0, 1)`, a non-finite `γ` (naming the
/// layer and channel), or a scale that cannot be read to the host.
///
/// ```
/// use burn::prelude::*;
/// use burn::module::Param;
/// use burn::nn::{BatchNorm, BatchNormConfig};
/// use burn_prune_metrics::early_bird::bn_channel_mask;
///
/// #[derive(Module, Debug)]
/// struct Net { bn: BatchNorm }
///
/// let device = Device::flex();
/// let mut bn = BatchNormConfig::new(4).init(&device);
/// bn.gamma = Param::from_tensor(Tensor::from_floats([0.4, -0.1, 0.3, 0.2], &device));
/// let m = bn_channel_mask(&Net { bn }, 0.5).unwrap();
/// assert_eq!(m.mask.to_bools(), vec![true, false, true, false]);
/// assert_eq!(m.layers[0].path, "bn.gamma");
/// ```
pub fn bn_channel_mask<M: Module>(model: &M, ratio: f64) -> Result<BnChannelMask> {
    if !(0.0..1.0).contains(&ratio) {
        return Err(MetricsError::invalid(
            "early-bird pruning ratio",
            format!("{ratio} is outside [0, 1)"),
        ));
    }
    let scales: Vec<(ParamId, String)> = param_addresses(model)
        .into_iter()
        .filter(|a| a.kind == LayerKind::BatchNorm && a.name() == "gamma" && !a.running_stat)
        .map(|a| (a.id, a.path))
        .collect();
    if scales.is_empty() {
        return Err(MetricsError::invalid(
            "model",
            "it has no BatchNorm layer (no `gamma` parameter in a `BatchNorm` module); the \
             early-bird mask is computed from BatchNorm scales",
        ));
    }
    let paths: HashMap<ParamId, String> = scales.iter().cloned().collect();
    let mut reader = GammaReader {
        wanted: scales.iter().map(|(id, _)| *id).collect(),
        paths: &paths,
        out: Vec::with_capacity(scales.len()),
        error: None,
    };
    model.visit(&mut reader);
    if let Some(e) = reader.error {
        return Err(e);
    }
    let mut layers = Vec::with_capacity(reader.out.len());
    let mut offset = 0;
    for (path, values) in &reader.out {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::invalid(
                "BatchNorm scale",
                format!(
                    "`{path}` has a non-finite value ({}) at channel {i}",
                    values[i]
                ),
            ));
        }
        layers.push(BnLayer {
            path: path.clone(),
            offset,
            channels: values.len(),
        });
        offset += values.len();
    }
    let total = offset;
    if total == 0 {
        return Err(MetricsError::invalid(
            "model",
            "its BatchNorm layers have no channels",
        ));
    }
    let segments: Vec<&[f32]> = reader.out.iter().map(|(_, v)| v.as_slice()).collect();
    let kept = prune_lowest_magnitude(&segments, pruned_count(ratio, total))?;
    let mut bits = Vec::with_capacity(total);
    for m in &kept {
        bits.extend(m.to_bools());
    }
    Ok(BnChannelMask {
        mask: BitMask::from_bools(&bits),
        layers,
    })
}

/// `⌊p·n⌋`, with `p·n` snapped to the nearest integer when within a relative `1e-9` of it.
fn pruned_count(ratio: f64, n: usize) -> usize {
    let x = ratio * n as f64;
    let nearest = x.round();
    let k = if (x - nearest).abs() <= 1e-9 * x.max(1.0) {
        nearest
    } else {
        x.floor()
    };
    (k as usize).min(n)
}

/// Reads the BatchNorm scales (by parameter id) in visiting order.
struct GammaReader<'a> {
    wanted: HashSet<ParamId>,
    paths: &'a HashMap<ParamId, String>,
    out: Vec<(String, Vec<f32>)>,
    error: Option<MetricsError>,
}

impl ModuleVisitor for GammaReader<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_some() || !self.wanted.remove(&param.id) {
            return;
        }
        let path = self.paths.get(&param.id).cloned().unwrap_or_default();
        match param.val().try_into_vec_as::<f32>() {
            Ok(values) => self.out.push((path, values)),
            Err(e) => {
                self.error = Some(MetricsError::Prune(PruneError::Data {
                    path,
                    reason: format!("{e:?}"),
                }))
            }
        }
    }
}

/// The early-bird detector of You et al. (ICLR 2020): a FIFO of the last `window` BatchNorm
/// channel masks; the ticket has emerged when the FIFO is full and the newest mask is within
/// `threshold` (non-strict: `≤`) of every other mask in it.
///
/// Hand it the model once per epoch ([`MaskDistanceDetector::observe`]), or your own masks
/// ([`MaskDistanceDetector::observe_mask`]). A failed observation leaves the detector as it
/// was.
///
/// ```
/// use burn_prune_core::BitMask;
/// use burn_prune_metrics::early_bird::EarlyBirdConfig;
///
/// let mut detector = EarlyBirdConfig::new(0.5).with_window(3).init().unwrap();
/// let m = |bits: [bool; 4]| BitMask::from_bools(&bits);
/// // Epoch 0 and 1: the window is not full yet.
/// assert!(!detector.observe_mask(m([true, true, false, false])).unwrap().emerged);
/// assert!(!detector.observe_mask(m([true, false, true, false])).unwrap().emerged);
/// // Epoch 2: distances 0.5 (to epoch 0) and 0 (to epoch 1): not all within 0.1.
/// let s = detector.observe_mask(m([true, false, true, false])).unwrap();
/// assert_eq!(s.distances, vec![0.5, 0.0]);
/// assert!(!s.emerged);
/// // Epoch 3: distances 0 and 0: the ticket is drawn.
/// assert!(detector.observe_mask(m([true, false, true, false])).unwrap().emerged);
/// assert_eq!(detector.fired_at(), Some(3));
/// ```
#[derive(Clone, Debug)]
pub struct MaskDistanceDetector {
    config: EarlyBirdConfig,
    masks: VecDeque<BitMask>,
    layers: Option<Vec<BnLayer>>,
    firing: Firing,
    ticket: Option<BitMask>,
}

impl MaskDistanceDetector {
    /// Compute the model's channel mask ([`bn_channel_mask`] at the configured ratio) and
    /// observe it.
    ///
    /// Errors: those of [`bn_channel_mask`]; a BatchNorm layout (paths, channel counts) that
    /// differs from the previous model observation's, naming the first layer that differs;
    /// those of [`MaskDistanceDetector::observe_mask`].
    pub fn observe<M: Module>(&mut self, model: &M) -> Result<EarlyBirdStatus> {
        let bn = bn_channel_mask(model, self.config.ratio)?;
        if let Some(previous) = &self.layers {
            check_same_layers(previous, &bn.layers)?;
        }
        let status = self.observe_mask(bn.mask)?;
        self.layers = Some(bn.layers);
        Ok(status)
    }

    /// Observe a channel mask (`true` = kept) computed elsewhere.
    ///
    /// Errors: an empty mask, or a mask whose length differs from the masks already held.
    pub fn observe_mask(&mut self, mask: BitMask) -> Result<EarlyBirdStatus> {
        if mask.is_empty() {
            return Err(MetricsError::invalid(
                "early-bird mask",
                "it has no channels",
            ));
        }
        if let Some(held) = self.masks.front().filter(|m| m.len() != mask.len()) {
            return Err(MetricsError::Mismatch {
                context: "early-bird mask".into(),
                reason: format!(
                    "the new mask has {} channels, the masks held have {}",
                    mask.len(),
                    held.len()
                ),
            });
        }
        // The oldest mask leaves the FIFO when the new one enters a full one.
        let evicted = usize::from(self.masks.len() == self.config.window);
        let distances: Vec<f64> = self
            .masks
            .iter()
            .skip(evicted)
            .map(|m| differing_bits(&mask, m) as f64 / mask.len() as f64)
            .collect();
        let emerged = self.masks.len() + 1 - evicted == self.config.window
            && distances.iter().all(|&d| d <= self.config.threshold);
        let status = self.firing.record(distances, emerged);
        if status.first_emerged == Some(status.epoch) {
            self.ticket = Some(mask.clone());
        }
        if evicted == 1 {
            self.masks.pop_front();
        }
        self.masks.push_back(mask);
        Ok(status)
    }

    /// Distances from the newest mask to each earlier mask held, oldest first (empty before
    /// the first observation).
    pub fn distances(&self) -> &[f64] {
        &self.firing.distances
    }

    /// Whether the ticket has emerged at some observation.
    pub fn fired(&self) -> bool {
        self.firing.fired_at.is_some()
    }

    /// The first observation (epoch index, from 0) at which the ticket emerged.
    pub fn fired_at(&self) -> Option<usize> {
        self.firing.fired_at
    }

    /// The early-bird ticket: the newest mask at the first observation that fired.
    pub fn ticket(&self) -> Option<&BitMask> {
        self.ticket.as_ref()
    }

    /// The masks held, oldest first (at most `window`).
    pub fn masks(&self) -> impl ExactSizeIterator<Item = &BitMask> {
        self.masks.iter()
    }

    /// The BatchNorm layout of the models observed (`None` if only masks were observed).
    pub fn layers(&self) -> Option<&[BnLayer]> {
        self.layers.as_deref()
    }

    /// Number of observations so far.
    pub fn observations(&self) -> usize {
        self.firing.observations
    }

    /// The configuration.
    pub fn config(&self) -> &EarlyBirdConfig {
        &self.config
    }

    /// Forget every observation (the configuration stays).
    pub fn reset(&mut self) {
        self.masks.clear();
        self.layers = None;
        self.firing = Firing::default();
        self.ticket = None;
    }
}

fn check_same_layers(previous: &[BnLayer], now: &[BnLayer]) -> Result<()> {
    for (i, (a, b)) in previous.iter().zip(now).enumerate() {
        if a.path != b.path || a.channels != b.channels {
            return Err(MetricsError::Mismatch {
                context: format!("BatchNorm layer {i} (`{}`)", b.path),
                reason: format!(
                    "earlier epochs had `{}` with {} channels, now `{}` has {}",
                    a.path, a.channels, b.path, b.channels
                ),
            });
        }
    }
    if previous.len() != now.len() {
        let extra = previous.get(now.len()).or_else(|| now.get(previous.len()));
        return Err(MetricsError::Mismatch {
            context: format!(
                "BatchNorm layer `{}`",
                extra.map(|l| l.path.as_str()).unwrap_or_default()
            ),
            reason: format!(
                "earlier epochs had {} BatchNorm layers, now {}",
                previous.len(),
                now.len()
            ),
        });
    }
    Ok(())
}

//! The configurations of the two early-bird detectors.
//!
//! Kept apart from the detectors: Burn's `Config` derive refers to an unqualified `Result`,
//! which must be the standard one here.

use burn::config::Config;

/// Configuration of a [`MaskDistanceDetector`](super::MaskDistanceDetector). The defaults are
/// the paper's and its official code's (`EarlyBird(percent, epoch_keep=5)`, distance threshold
/// `0.1`).
///
/// ```
/// use burn_prune_metrics::early_bird::EarlyBirdConfig;
///
/// let detector = EarlyBirdConfig::new(0.5).with_threshold(0.05).init().unwrap();
/// assert_eq!(detector.config().window, 5);
/// assert!(EarlyBirdConfig::new(1.0).init().is_err()); // the ratio must be below 1
/// ```
#[derive(Config, Debug)]
pub struct EarlyBirdConfig {
    /// Pruning ratio `p` of every epoch's channel mask, in `[0, 1)`: the `⌊p·N⌋` channels with
    /// the smallest `|γ|` over all `N` BatchNorm channels are pruned (see
    /// [`bn_channel_mask`](super::bn_channel_mask)).
    pub ratio: f64,
    /// Length of the FIFO of masks, the newest included (the paper's 5): the newest mask is
    /// compared with the `window − 1` masks before it. At least 2.
    #[config(default = 5)]
    pub window: usize,
    /// Largest mask distance that counts as "within", in `[0, 1]`. The rule is **non-strict**:
    /// the detector fires when every distance is `≤ threshold`, as in the official code
    /// (which returns "not yet" as soon as a distance is `> 0.1`).
    #[config(default = 0.1)]
    pub threshold: f64,
}

/// Configuration of a [`SplineEarlyBirdDetector`](super::SplineEarlyBirdDetector). The defaults
/// are the official code's (`detect_eb(..., thres=0.16, lookback=3)`).
///
/// ```
/// use burn_prune_metrics::early_bird::SplineEarlyBirdConfig;
///
/// let detector = SplineEarlyBirdConfig::new().with_threshold(0.1).init().unwrap();
/// assert_eq!(detector.config().lookback, 3);
/// assert!(SplineEarlyBirdConfig::new().with_lookback(0).init().is_err());
/// ```
#[derive(Config, Debug)]
pub struct SplineEarlyBirdConfig {
    /// Number of previous epochs the newest patterns are compared with (the paper's 3). At
    /// least 1.
    #[config(default = 3)]
    pub lookback: usize,
    /// Distance bound, in `(0, 1]`. The rule is **strict**, as in the official code
    /// (`if maxi < thres`): the detector fires when the largest distance is `< threshold`.
    #[config(default = 0.16)]
    pub threshold: f64,
}

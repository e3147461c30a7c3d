//! PreConfig: the channel counts of a [`ChannelAllocation`] as a new configuration of the
//! reference models, so a wider (or narrower) network is built from scratch.

use crate::channels::ChannelAllocation;
use crate::error::{self, PaiError};
use burn_prune_models::{ResNetCifarConfig, VggConfig, VggHead, VggLayer};

impl ChannelAllocation {
    /// The size of `axis` of `path` after the allocation, or a model error naming them.
    fn width(&self, path: &str, axis: usize) -> error::Result<usize> {
        self.new_shape(path)
            .and_then(|s| s.get(axis).copied())
            .ok_or_else(|| PaiError::Model {
                method: "PreConfig",
                reason: format!(
                    "{path}: not a traced parameter with an axis {axis}; the allocation was \
                     computed for another model"
                ),
            })
    }

    /// `base` with every convolution (and the hidden layer of an MLP head) at the
    /// allocation's width: PreConfig's configuration of a [`Vgg`](burn_prune_models::Vgg).
    /// The allocation must have been computed on `base.init(..)`.
    ///
    /// ```
    /// use burn::prelude::*;
    /// use burn_prune_models::{Vgg, VggConfig, VggLayer::{Conv, MaxPool}};
    /// use burn_prune_pai::PreCropConfig;
    ///
    /// let base = VggConfig::new(vec![Conv(8), MaxPool, Conv(16), MaxPool, Conv(16)]);
    /// let model = base.init(&Device::flex()).unwrap();
    /// // The dense model's MACs, with layers up to twice as wide.
    /// let allocation = PreCropConfig::new().with_macs(Some(1.0)).with_max_widening(2.0)
    ///     .init().unwrap()
    ///     .channels(&model, [1, 3, 32, 32], |m: &Vgg, x| m.forward(x)).unwrap();
    /// let wider = allocation.vgg_config(&base).unwrap();
    /// assert!(allocation.is_widened());
    /// assert_ne!(wider.cfg, base.cfg);
    /// let _ = wider.init(&Device::flex()).unwrap();
    /// ```
    pub fn vgg_config(&self, base: &VggConfig) -> error::Result<VggConfig> {
        let mut cfg = Vec::with_capacity(base.cfg.len());
        for (i, layer) in base.cfg.iter().enumerate() {
            cfg.push(match layer {
                VggLayer::Conv(_) => {
                    VggLayer::Conv(self.width(&format!("features.{i}.Conv.conv.weight"), 0)?)
                }
                VggLayer::MaxPool => VggLayer::MaxPool,
            });
        }
        let head = match base.head {
            VggHead::Linear => VggHead::Linear,
            VggHead::Mlp { .. } => VggHead::Mlp {
                hidden: self.width("classifier.Mlp.linear1.weight", 1)?,
            },
        };
        Ok(VggConfig::new(cfg)
            .with_num_classes(base.num_classes)
            .with_head(head)
            .with_in_channels(base.in_channels))
    }

    /// `base` with the allocation's stage widths (`stage_widths`) and block widths
    /// (`block_widths`): PreConfig's configuration of a
    /// [`ResNetCifar`](burn_prune_models::ResNetCifar). The allocation must have been
    /// computed on `base.init(..)`.
    ///
    /// With option-A shortcuts the zero padding couples the stages: the channels of stage 1
    /// run through all three, and the padded ones cannot change, so the stage widths move
    /// together (`w₁`, `w₁ + 16`, `w₁ + 48` from the standard 16/32/64). Option B frees them.
    pub fn resnet_cifar_config(
        &self,
        base: &ResNetCifarConfig,
    ) -> error::Result<ResNetCifarConfig> {
        let n = base.blocks_per_stage().map_err(|e| PaiError::Model {
            method: "PreConfig",
            reason: e.to_string(),
        })?;
        let mut stages = Vec::with_capacity(3);
        let mut blocks = Vec::with_capacity(3 * n);
        for s in 1..=3 {
            stages.push(self.width(&format!("layer{s}.0.conv2.conv.weight"), 0)?);
            for b in 0..n {
                blocks.push(self.width(&format!("layer{s}.{b}.conv1.conv.weight"), 0)?);
            }
        }
        Ok(base
            .clone()
            .with_stage_widths(Some(stages))
            .with_block_widths(Some(blocks)))
    }
}

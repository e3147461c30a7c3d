//! The training loop shared by every command that trains: SGD with momentum and weight decay,
//! step decay of the learning rate, augmentation, a progress bar with throughput and ETA,
//! evaluation and a checkpoint after every epoch, and resumption from the last one.

use super::checkpoint::{Checkpoint, RunMeta};
use super::context::eval_batcher;
use super::data::{Images, Splits};
use super::error::{AppError, Result};
use super::network::Network;
use crate::{DatasetKind, ImageBatch, ImageBatcher, ImageItem};
use burn::data::dataloader::batcher::Batcher;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// The largest batch a run takes: 4,096 CIFAR images already hold several GB of activations
/// in a ResNet's training step.
pub const MAX_BATCH: usize = 4096;

/// The most epochs a run takes (more is a typo: 10,000 epochs of CIFAR-10 take months here).
pub const MAX_EPOCHS: usize = 10_000;

/// How a run trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Epochs.
    pub epochs: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// Epochs (as fractions of `epochs`) after which the rate is multiplied by `gamma`.
    pub milestones: Vec<f64>,
    /// The decay factor at each milestone.
    pub gamma: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Images per step.
    pub batch_size: usize,
    /// Random crop with 4-pixel padding and horizontal flip.
    pub augment: bool,
}

impl Default for TrainConfig {
    /// The usual CIFAR ResNet recipe (He et al. 2016): 160 epochs, lr 0.1 divided by 10 at
    /// 50% and 75%, momentum 0.9, weight decay 1e-4, batch 128, augmentation.
    fn default() -> Self {
        Self {
            epochs: 160,
            lr: 0.1,
            milestones: vec![0.5, 0.75],
            gamma: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            batch_size: 128,
            augment: true,
        }
    }
}

impl TrainConfig {
    /// Fine-tuning defaults: 40 epochs at lr 0.01 (Li et al.).
    pub fn finetune() -> Self {
        Self {
            epochs: 40,
            lr: 0.01,
            milestones: vec![0.5],
            ..Self::default()
        }
    }

    /// Dense training of `dataset`: CIFAR-10's is [`TrainConfig::default`] (160 epochs);
    /// Fashion-MNIST's is the same recipe over 30 epochs (a ResNet-20 is near its final
    /// accuracy by then on this easier set; 160 epochs would take days on a CPU).
    pub fn dense(dataset: DatasetKind) -> Self {
        match dataset {
            DatasetKind::Cifar10 => Self::default(),
            DatasetKind::FashionMnist => Self {
                epochs: 30,
                ..Self::default()
            },
        }
    }

    /// Fine-tuning of `dataset`: [`TrainConfig::finetune`] for CIFAR-10, 10 epochs at lr
    /// 0.01 for Fashion-MNIST.
    pub fn finetune_on(dataset: DatasetKind) -> Self {
        match dataset {
            DatasetKind::Cifar10 => Self::finetune(),
            DatasetKind::FashionMnist => Self {
                epochs: 10,
                ..Self::finetune()
            },
        }
    }

    /// Errors: a zero batch, a batch above [`MAX_BATCH`] or epochs above [`MAX_EPOCHS`],
    /// non-positive or non-finite rates, milestones outside `(0, 1)`.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, reason: String| Err(AppError::invalid(what, reason));
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            return bad(
                "batch size",
                format!("{} is not in 1..={MAX_BATCH}", self.batch_size),
            );
        }
        if self.epochs > MAX_EPOCHS {
            return bad(
                "epochs",
                format!("{} is more than {MAX_EPOCHS}", self.epochs),
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("learning rate", format!("{} must be positive", self.lr));
        }
        if let Some(m) = self.milestones.iter().find(|m| !(**m > 0.0 && **m < 1.0)) {
            return bad(
                "milestone",
                format!("{m} is not a fraction of the epochs in (0, 1)"),
            );
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return bad("gamma", format!("{} is outside (0, 1]", self.gamma));
        }
        if !(0.0..1.0).contains(&self.momentum)
            || self.weight_decay.is_nan()
            || self.weight_decay < 0.0
        {
            return bad(
                "momentum / weight decay",
                format!(
                    "{} (in [0, 1)) / {} (≥ 0)",
                    self.momentum, self.weight_decay
                ),
            );
        }
        Ok(())
    }

    /// The learning rate during `epoch` (0-based).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let drops = self
            .milestones
            .iter()
            .filter(|m| epoch >= (**m * self.epochs as f64) as usize)
            .count();
        self.lr * self.gamma.powi(drops as i32)
    }

    /// SGD with this momentum and weight decay.
    pub fn optimizer(&self) -> ModuleOptimizer {
        let mut sgd = SgdConfig::new();
        if self.momentum > 0.0 {
            sgd = sgd.with_momentum(Some(MomentumConfig::new().with_momentum(self.momentum)));
        }
        if self.weight_decay > 0.0 {
            sgd = sgd.with_weight_decay(Some(WeightDecayConfig::new(self.weight_decay as f32)));
        }
        sgd.init()
    }
}

/// One epoch of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (on augmented images).
    pub train_accuracy: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Training images per second.
    pub images_per_second: f64,
    /// Wall time of the epoch, seconds.
    pub seconds: f64,
}

/// What a command adds to plain training: gradient changes (penalties) and model changes
/// after steps and epochs (scheduled pruning, soft filter pruning).
pub trait Hooks {
    /// Change the gradients (penalties), or the model and the gradients (parameters updated
    /// by a rule of their own, taken out of the gradients), before the optimizer step at
    /// learning rate `lr`.
    fn before_step(
        &mut self,
        model: Network,
        grads: GradientsParams,
        _lr: f64,
    ) -> Result<(Network, GradientsParams)> {
        Ok((model, grads))
    }

    /// Write what the hook needs to resume exactly (state not held by the model or the
    /// optimizer) into the run's `values`, before every checkpoint.
    fn save_state(&self, _model: &Network, _values: &mut BTreeMap<String, f64>) {}

    /// Change the model after step `step` (1-based, counted over the whole run).
    fn after_step(&mut self, model: Network, _step: u64, _bar: &ProgressBar) -> Result<Network> {
        Ok(model)
    }

    /// Change the model after epoch `epoch` (1-based), before it is evaluated and saved.
    fn after_epoch(&mut self, model: Network, _epoch: usize) -> Result<Network> {
        Ok(model)
    }

    /// Whether the run is finished once its last epoch is trained. `false` when the caller
    /// has more to do with the trained model (compaction) and saves the finished run itself:
    /// until then the run is resumable, with zero epochs left.
    fn finishes_run(&self) -> bool {
        true
    }
}

/// Plain training.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// Trains on a device and its data.
pub struct Trainer<'a> {
    /// The device without autodiff (evaluation, batches for it).
    pub device: Device,
    /// The dataset (image shape, normalisation, augmentation).
    pub dataset: DatasetKind,
    /// The training and test images.
    pub data: &'a Splits,
    /// Stop with [`AppError::Stopped`] after training this many epochs in one `fit` call (the
    /// checkpoint saved), unless the run is finished by then.
    pub stop_after_epochs: Option<usize>,
}

impl Trainer<'_> {
    /// The autodiff device training runs on.
    pub fn autodiff(&self) -> Device {
        self.device.clone().autodiff()
    }

    /// Train `model` (on the autodiff device) per `meta.train`, from `meta.epochs_done`, saving a
    /// checkpoint in `dir` after every epoch; `optim` continues from `dir`'s saved state when
    /// resuming. Returns the trained model and the final metadata (finished).
    pub fn fit(
        &self,
        mut model: Network,
        mut meta: RunMeta,
        dir: &Path,
        hooks: &mut dyn Hooks,
    ) -> Result<(Network, RunMeta)> {
        let config = meta
            .train
            .clone()
            .ok_or_else(|| AppError::invalid("training", "the run has no training settings"))?;
        config.check()?;
        meta.data = self.data.label.clone();
        let mut optim = config.optimizer();
        if meta.epochs_done > 0 && Checkpoint::exists(dir) {
            optim = Checkpoint::open(dir)?.load_optimizer(optim)?;
        }
        let n = self.data.train.len();
        if n == 0 {
            return Err(AppError::invalid("training data", "no training images"));
        }
        let steps_per_epoch = n.div_ceil(config.batch_size) as u64;
        let loss_fn = CrossEntropyLossConfig::new().init(&self.autodiff());
        let bar = progress(
            ((config.epochs - meta.epochs_done.min(config.epochs)) * n) as u64,
            &meta.name,
        );
        let first = meta.epochs_done;
        for epoch in first..config.epochs {
            let started = Instant::now();
            let lr = config.lr_at(epoch);
            let seed = meta.seed.wrapping_mul(1000).wrapping_add(epoch as u64);
            let batcher = if config.augment {
                ImageBatcher::train(
                    self.dataset.shape(),
                    self.dataset.normalization(),
                    self.dataset.augmentation(),
                    seed,
                )?
            } else {
                eval_batcher(self.dataset)?
            };
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut StdRng::seed_from_u64(seed));
            let (mut loss_sum, mut correct) = (0.0f64, 0usize);
            for (i, chunk) in order.chunks(config.batch_size).enumerate() {
                let batch = batch(&batcher, &self.data.train, chunk, &self.autodiff());
                let logits = model.forward(batch.images);
                correct += correct_count(&logits, &batch.targets);
                let loss = loss_fn.forward(logits, batch.targets);
                loss_sum += loss.clone().into_scalar::<f32>() as f64 * chunk.len() as f64;
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let (stepped, grads) = hooks.before_step(model, grads, lr)?;
                model = optim.step(lr, stepped, grads);
                let step = epoch as u64 * steps_per_epoch + i as u64 + 1;
                model = hooks.after_step(model, step, &bar)?;
                bar.inc(chunk.len() as u64);
                bar.set_message(format!(
                    "epoch {}/{} loss {:.3}",
                    epoch + 1,
                    config.epochs,
                    loss_sum / ((i * config.batch_size + chunk.len()) as f64)
                ));
            }
            let train_seconds = started.elapsed().as_secs_f64();
            model = hooks.after_epoch(model, epoch + 1)?;
            let (test_loss, test_accuracy) =
                self.evaluate(&model.valid(), &self.data.test, config.batch_size)?;
            let log = EpochLog {
                epoch: epoch + 1,
                lr,
                train_loss: loss_sum / n as f64,
                train_accuracy: correct as f64 / n as f64,
                test_loss,
                test_accuracy,
                images_per_second: n as f64 / train_seconds,
                seconds: started.elapsed().as_secs_f64(),
            };
            meta.history.push(log.clone());
            hooks.save_state(&model, &mut meta.values);
            meta.epochs_done = epoch + 1;
            meta.finished = meta.epochs_done == config.epochs && hooks.finishes_run();
            let keep_optim = (!meta.finished).then_some(&optim);
            Checkpoint::save(dir, meta.clone(), &model, keep_optim)?;
            // Printed once saved: an epoch the user saw finish survives any crash.
            bar.suspend(|| {
                println!(
                    "[{}] epoch {:>3}/{}  lr {:.4}  loss {:.3}  train {:>5.1}%  test {:>5.1}%  {:.0} img/s",
                    meta.name,
                    log.epoch,
                    config.epochs,
                    lr,
                    log.train_loss,
                    100.0 * log.train_accuracy,
                    100.0 * log.test_accuracy,
                    log.images_per_second
                )
            });
            if !meta.finished && self.stop_after_epochs == Some(epoch + 1 - first) {
                bar.finish_and_clear();
                return Err(AppError::Stopped {
                    run: meta.name.clone(),
                    epochs_done: meta.epochs_done,
                    epochs: config.epochs,
                    dir: dir.to_path_buf(),
                });
            }
        }
        bar.finish_and_clear();
        if !meta.finished && hooks.finishes_run() {
            meta.finished = true;
            Checkpoint::save(dir, meta.clone(), &model, None)?;
        }
        Ok((model, meta))
    }

    /// Mean loss and accuracy of `model` (inference mode) on `images`.
    ///
    /// Errors: a dataset normalisation the batcher refuses.
    pub fn evaluate(
        &self,
        model: &Network,
        images: &Images,
        batch_size: usize,
    ) -> Result<(f64, f64)> {
        let n = images.len();
        if n == 0 {
            return Ok((f64::NAN, f64::NAN));
        }
        let batcher = eval_batcher(self.dataset)?;
        let loss_fn = CrossEntropyLossConfig::new().init(&self.device);
        let order: Vec<usize> = (0..n).collect();
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for chunk in order.chunks(batch_size.max(1)) {
            let batch = batch(&batcher, images, chunk, &self.device);
            let logits = model.forward(batch.images);
            correct += correct_count(&logits, &batch.targets);
            let loss = loss_fn.forward(logits, batch.targets);
            loss_sum += loss.into_scalar::<f32>() as f64 * chunk.len() as f64;
        }
        Ok((loss_sum / n as f64, correct as f64 / n as f64))
    }
}

/// The batch of the images at `indices`.
pub fn batch(
    batcher: &ImageBatcher,
    images: &Images,
    indices: &[usize],
    device: &Device,
) -> ImageBatch {
    let items: Vec<ImageItem> = indices.iter().filter_map(|&i| images.get(i).ok()).collect();
    batcher.batch(items, device)
}

fn correct_count(logits: &Tensor<2>, targets: &Tensor<1, Int>) -> usize {
    let [n, _] = logits.dims();
    logits
        .clone()
        .argmax(1)
        .reshape([n])
        .equal(targets.clone())
        .int()
        .sum()
        .into_scalar::<i64>() as usize
}

/// A progress bar over `len` images: throughput and ETA, drawn only on a terminal.
pub fn progress(len: u64, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>12} [{bar:30}] {human_pos}/{human_len} img  {per_sec}  eta {eta}  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(prefix.to_string());
    bar
}

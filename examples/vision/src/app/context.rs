//! What every command shares: the device, the data, the runs directory, the seed, and the
//! overrides that shrink a run (`--max-epochs`, `--batch-size`).

use super::checkpoint::{Checkpoint, RunMeta, run_dir};
use super::data::Splits;
use super::device::DeviceChoice;
use super::error::{AppError, Result};
use super::network::{ModelSpec, Network};
use super::report::Timing;
use super::train::{TrainConfig, Trainer, batch};
use crate::{DatasetKind, ImageBatcher};
use burn::prelude::*;
use burn_prune::data::CaptureBatch;
use std::path::PathBuf;

/// The settings and data of one invocation.
#[derive(Clone)]
pub struct Context {
    /// Where runs are saved.
    pub runs: PathBuf,
    /// The backend.
    pub choice: DeviceChoice,
    /// Its device (without autodiff).
    pub device: Device,
    /// The dataset (image shape, normalisation, augmentation).
    pub dataset: DatasetKind,
    /// Training and test images.
    pub data: Splits,
    /// The seed of model initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Upper bound on every stage's epochs.
    pub max_epochs: Option<usize>,
    /// Images per step, overriding the recipes'.
    pub batch_size: Option<usize>,
    /// Epochs of a run this invocation trains before stopping with
    /// [`AppError::Stopped`](super::error::AppError::Stopped), its checkpoint saved.
    pub stop_after_epochs: Option<usize>,
}

impl Context {
    /// The same device and data with runs saved under `runs` and seed `seed`: one cell of a
    /// study.
    pub fn scoped(&self, runs: PathBuf, seed: u64) -> Context {
        Context {
            runs,
            seed,
            ..self.clone()
        }
    }

    /// The trainer on this device and data.
    pub fn trainer(&self) -> Trainer<'_> {
        Trainer {
            device: self.device.clone(),
            dataset: self.dataset,
            data: &self.data,
            stop_after_epochs: self.stop_after_epochs,
        }
    }

    /// A new, unfinished run of this invocation's seed and dataset.
    pub fn run_meta(
        &self,
        name: &str,
        command: &str,
        description: String,
        model: ModelSpec,
    ) -> RunMeta {
        let mut meta = RunMeta::new(name, command, description, model, self.seed);
        meta.dataset = self.dataset;
        meta.data = self.data.label.clone();
        meta
    }

    /// The shape `[batch, C, H, W]` of a batch of `batch` images of the dataset.
    pub fn input(&self, batch: usize) -> [usize; 4] {
        self.dataset.input(batch)
    }

    /// How `report` times the networks: batch 1 and the training batch size (`--batch-size`,
    /// else each run's own, else 128).
    pub fn timing(&self) -> Timing {
        Timing {
            default_batch: self.batch_size.unwrap_or(Timing::default().default_batch),
            ..Timing::default()
        }
    }

    /// The dataset's evaluation batcher (normalisation only).
    pub fn eval_batcher(&self) -> Result<ImageBatcher> {
        eval_batcher(self.dataset)
    }

    /// `config` with this invocation's caps applied.
    pub fn adjust(&self, mut config: TrainConfig) -> TrainConfig {
        if let Some(max) = self.max_epochs {
            config.epochs = config.epochs.min(max);
        }
        if let Some(b) = self.batch_size {
            config.batch_size = b;
        }
        config
    }

    /// The directory of run `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        run_dir(&self.runs, name)
    }

    /// Open run `name` and load its model on the autodiff device. Errors: a run of another
    /// dataset than this invocation's (its network takes other images).
    pub fn load(&self, name: &str) -> Result<(Checkpoint, Network)> {
        let checkpoint = self.open(name)?;
        let model = checkpoint.load_model(&self.device.clone().autodiff())?;
        Ok((checkpoint, model))
    }

    /// Open run `name`, checking that it was made on this invocation's dataset.
    pub fn open(&self, name: &str) -> Result<Checkpoint> {
        let checkpoint = Checkpoint::open(self.dir(name))?;
        if checkpoint.meta.dataset != self.dataset {
            return Err(AppError::checkpoint(
                &checkpoint.dir,
                format!(
                    "run `{}` was made on {}, this command uses {} (pass --dataset {})",
                    checkpoint.meta.name,
                    checkpoint.meta.dataset,
                    self.dataset,
                    checkpoint.meta.dataset.name()
                ),
            ));
        }
        Ok(checkpoint)
    }

    /// `n` labelled training batches of `size` (no augmentation) on the autodiff device, for
    /// criteria that need gradients.
    pub fn calibration(&self, n: usize, size: usize) -> Result<Vec<(Tensor<4>, Tensor<1, Int>)>> {
        let device = self.device.clone().autodiff();
        let batcher = self.eval_batcher()?;
        Ok(self
            .chunks(n, size)
            .iter()
            .map(|idx| {
                let b = batch(&batcher, &self.data.train, idx, &device);
                (b.images, b.targets)
            })
            .collect())
    }

    /// The same batches as host data, for activation capture.
    pub fn capture_batches(&self, n: usize, size: usize) -> Result<Vec<CaptureBatch>> {
        let device = Device::flex();
        let batcher = self.eval_batcher()?;
        Ok(self
            .chunks(n, size)
            .iter()
            .map(|idx| {
                let b = batch(&batcher, &self.data.train, idx, &device);
                let labels = b
                    .targets
                    .into_data()
                    .iter::<i64>()
                    .map(|l| l as usize)
                    .collect();
                CaptureBatch::new(b.images.into_data()).with_labels(labels)
            })
            .collect())
    }

    fn chunks(&self, n: usize, size: usize) -> Vec<Vec<usize>> {
        let total = self.data.train.len();
        (0..n)
            .map(|b| (b * size..((b + 1) * size).min(total)).collect::<Vec<_>>())
            .filter(|c| !c.is_empty())
            .collect()
    }
}

/// The evaluation batcher of `dataset`.
pub fn eval_batcher(dataset: DatasetKind) -> Result<ImageBatcher> {
    Ok(ImageBatcher::eval(
        dataset.shape(),
        dataset.normalization(),
    )?)
}

/// Run `$body` with `$B` the replay backend of `$ctx`'s device (activation capture replays
/// the traced graph on a typed backend): wgpu on `--device wgpu`, flex otherwise.
#[macro_export]
#[doc(hidden)]
macro_rules! with_replay_backend {
    ($ctx:expr, |$B:ident, $device:ident| $body:expr) => {
        match $ctx.choice {
            #[cfg(feature = "wgpu")]
            $crate::app::device::DeviceChoice::Wgpu => {
                type $B = burn::backend::Wgpu;
                let $device =
                    burn::backend::CubeDevice::wgpu(burn::backend::WgpuDeviceKind::DefaultDevice)
                        .map_err(|e| $crate::app::error::AppError::Device {
                        device: "wgpu".into(),
                        reason: format!("{e:?}"),
                    })?;
                $body
            }
            _ => {
                type $B = burn::backend::Flex;
                let $device = burn::backend::FlexDevice;
                $body
            }
        }
    };
}

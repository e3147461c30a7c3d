//! What every command shares: the device, the data, the runs directory, the seed, and the
//! overrides that shrink a run (`--max-epochs`, `--batch-size`).

use super::checkpoint::{Checkpoint, run_dir};
use super::data::Splits;
use super::device::DeviceChoice;
use super::error::Result;
use super::network::Network;
use super::train::{TrainConfig, Trainer, batch};
use crate::Cifar10Batcher;
use burn::prelude::*;
use burn_prune::data::CaptureBatch;
use std::path::PathBuf;

/// The settings and data of one invocation.
pub struct Context {
    /// Where runs are saved.
    pub runs: PathBuf,
    /// The backend.
    pub choice: DeviceChoice,
    /// Its device (without autodiff).
    pub device: Device,
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
    /// The trainer on this device and data.
    pub fn trainer(&self) -> Trainer<'_> {
        Trainer {
            device: self.device.clone(),
            data: &self.data,
            stop_after_epochs: self.stop_after_epochs,
        }
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

    /// Open run `name` and load its model on the autodiff device.
    pub fn load(&self, name: &str) -> Result<(Checkpoint, Network)> {
        let checkpoint = Checkpoint::open(self.dir(name))?;
        let model = checkpoint.load_model(&self.device.clone().autodiff())?;
        Ok((checkpoint, model))
    }

    /// `n` labelled training batches of `size` (no augmentation) on the autodiff device, for
    /// criteria that need gradients.
    pub fn calibration(&self, n: usize, size: usize) -> Vec<(Tensor<4>, Tensor<1, Int>)> {
        let device = self.device.clone().autodiff();
        self.chunks(n, size)
            .iter()
            .map(|idx| {
                let b = batch(&Cifar10Batcher::eval(), &self.data.train, idx, &device);
                (b.images, b.targets)
            })
            .collect()
    }

    /// The same batches as host data, for activation capture.
    pub fn capture_batches(&self, n: usize, size: usize) -> Vec<CaptureBatch> {
        let device = Device::flex();
        self.chunks(n, size)
            .iter()
            .map(|idx| {
                let b = batch(&Cifar10Batcher::eval(), &self.data.train, idx, &device);
                let labels = b
                    .targets
                    .into_data()
                    .iter::<i64>()
                    .map(|l| l as usize)
                    .collect();
                CaptureBatch::new(b.images.into_data()).with_labels(labels)
            })
            .collect()
    }

    fn chunks(&self, n: usize, size: usize) -> Vec<Vec<usize>> {
        let total = self.data.train.len();
        (0..n)
            .map(|b| (b * size..((b + 1) * size).min(total)).collect::<Vec<_>>())
            .filter(|c| !c.is_empty())
            .collect()
    }
}

/// Run `$body` with `$B` the replay backend of `$ctx`'s device (activation capture replays
/// the traced graph on a typed backend): wgpu on `--device wgpu`, flex otherwise.
#[macro_export]
#[doc(hidden)]
macro_rules! with_replay_backend {
    ($ctx:expr, |$B:ident, $device:ident| $body:expr) => {
        match $ctx.choice {
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

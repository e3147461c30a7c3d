//! `--device`: which Burn backend runs the command.

use super::error::{AppError, Result};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Why `--device wgpu` fails in a binary built without the `wgpu` feature.
#[cfg(not(feature = "wgpu"))]
pub const WITHOUT_WGPU: &str = "this binary was built without the GPU backend; rebuild it with \
    `--features wgpu` (cargo run -p burn-prune-vision --features wgpu -- --device wgpu ...)";

/// The backend of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// The CPU through Burn's flex backend (pure Rust; no set-up).
    #[default]
    Cpu,
    /// The CPU through Burn's ndarray backend (deprecated by Burn 0.22, still supported).
    Ndarray,
    /// The default GPU through wgpu (Vulkan, Metal, DX12; lavapipe without a GPU). Needs the
    /// binary built with the `wgpu` feature.
    Wgpu,
}

impl DeviceChoice {
    /// The device, without autodiff. A wgpu device that cannot start is an error, found by
    /// running one small operation on it.
    pub fn device(self) -> Result<Device> {
        let device = match self {
            Self::Cpu => Device::flex(),
            #[allow(
                deprecated,
                reason = "ndarray is still a supported CPU backend of 0.22"
            )]
            Self::Ndarray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Device::wgpu(DeviceKind::DefaultDevice),
            #[cfg(not(feature = "wgpu"))]
            Self::Wgpu => {
                return Err(AppError::Device {
                    device: "wgpu".into(),
                    reason: WITHOUT_WGPU.into(),
                });
            }
        };
        let probe = device.clone();
        std::panic::catch_unwind(move || Tensor::<1>::ones([4], &probe).sum().into_scalar::<f32>())
            .map_err(|panic| AppError::Device {
                device: format!("{self:?}").to_lowercase(),
                reason: panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the backend failed to start".into()),
            })?;
        Ok(device)
    }
}

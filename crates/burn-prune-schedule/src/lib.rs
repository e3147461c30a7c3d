//! # burn-prune-schedule
//!
//! Pruning interleaved with training: sparsity schedules (one-shot, iterative, AGP, cosine,
//! one-cycle), a [`ScheduledPruner`] that follows them inside any training loop, and the
//! published training-time methods built on the core crate (see [`methods`]).
//!
//! ## In a hand-written loop
//!
//! ```
//! use burn::prelude::*;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::{GradientsParams, SgdConfig};
//! use burn_prune_core::criterion::Magnitude;
//! use burn_prune_schedule::{GradualConfig, ScheduledPrunerConfig};
//!
//! #[derive(Module, Debug)]
//! struct Net { fc: Linear }
//!
//! let device = Device::flex().autodiff();
//! let mut net = Net { fc: LinearConfig::new(8, 2).init(&device) };
//! let mut optim = SgdConfig::new().init();
//! // AGP to 50%, masks updated every 5 steps.
//! let pruner = ScheduledPrunerConfig::new(GradualConfig::agp(0.5, 4).with_interval(5).into())
//!     .init(Magnitude::l1()) // configuration errors here, before training
//!     .unwrap();
//! let x = Tensor::<2>::ones([4, 8], &device);
//! for step in 1..=20u64 {
//!     let loss = net.fc.forward(x.clone()).powi_scalar(2).mean();
//!     let grads = GradientsParams::from_grads(loss.backward(), &net);
//!     net = optim.step(0.01, net, grads);
//!     net = pruner.update(net, step).unwrap().0;
//! }
//! ```
//!
//! ## In burn-train's `SupervisedTraining`
//!
//! Keep the step count in the model ([`PruningStep`]) and the pruner next to it, and
//! override `TrainStep::optimize`:
//!
//! ```ignore
//! #[derive(Module, Debug)]
//! pub struct Net {
//!     conv: Conv2d,
//!     fc: Linear,
//!     step: PruningStep,
//!     #[module(skip)]
//!     pruner: ScheduledPruner,
//! }
//!
//! impl TrainStep for Net {
//!     type Input = Batch;
//!     type Output = ClassificationOutput;
//!     fn step(&self, batch: Batch) -> TrainOutput<ClassificationOutput> { /* ... */ }
//!     fn optimize(self, optim: &mut ModuleOptimizer, lr: ModuleLearningRate, grads: GradientsParams) -> Self {
//!         let mut net = optim.step(lr, self, grads);
//!         let step = net.step.advance();
//!         let pruner = net.pruner.clone();
//!         pruner.update(net, step).expect("settings checked by `init`").0
//!     }
//! }
//! ```
//!
//! The complete program is the crate's `supervised_training` test (`tests/schedule/` in the
//! repository). Under the multi-device strategies (`ExecutionStrategy::multi`, DDP) each
//! worker's model advances its own [`PruningStep`] after the same synchronised optimizer
//! steps, so every worker reaches the same masks from the same state; nothing is shared.
//! The test runs `ExecutionStrategy::multi` on two CPU devices (flex and ndarray); the DDP
//! strategy follows the same argument but is not exercised by the tests.
#![warn(missing_docs)]

mod error;
pub mod methods;
mod pruner;
pub mod schedule;
mod step;

pub use error::{Result, ScheduleError};
pub use pruner::{PruneEvent, ScheduledPruner, ScheduledPrunerConfig};
pub use schedule::{
    Curve, Gradual, GradualConfig, Iterative, IterativeConfig, OneShot, OneShotConfig,
    RoundSpacing, ScheduleConfig, SparsitySchedule,
};
pub use step::PruningStep;

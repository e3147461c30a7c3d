//! `prune-vision`: train, prune, fine-tune, prune at initialization and measure CIFAR-10 networks
//! with burn-prune. `prune-vision --help` lists the commands; `prune-vision --synthetic pipeline` runs
//! all of them offline on generated data.

use burn_prune_vision::app::cli::Cli;
use burn_prune_vision::app::error::AppError;
use clap::Parser;
use std::process::ExitCode;

/// The exit status of a run stopped by `--stop-after-epochs` (1 is an error, 2 a usage error).
const STOPPED: u8 = 3;

fn main() -> ExitCode {
    match Cli::parse().run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ AppError::Stopped { .. }) => {
            eprintln!("{e}");
            ExitCode::from(STOPPED)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

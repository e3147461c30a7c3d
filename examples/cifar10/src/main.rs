//! `cifar10`: train, prune, fine-tune, prune at initialization and measure CIFAR-10 networks
//! with burn-prune. `cifar10 --help` lists the commands; `cifar10 --synthetic pipeline` runs
//! all of them offline on generated data.

use burn_prune_cifar10::app::cli::Cli;
use clap::Parser;

fn main() -> std::process::ExitCode {
    match Cli::parse().run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

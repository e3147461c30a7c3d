//! A panic inside Burn while tracing is a typed error, and prints nothing to the user's stderr;
//! panics elsewhere in the program still print as before.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_prune::PruneError;
use burn_prune::structure::trace;
use std::process::Command;

/// Set in the child process this test starts.
const CHILD: &str = "BURN_PRUNE_QUIET_PANIC_CHILD";

/// In the child: trace a forward pass that Burn's shape checks reject, print the error, then
/// panic (and catch it) outside any trace.
fn child() {
    let fc: Linear = LinearConfig::new(3, 4).init(&Device::flex());
    let e = trace(&fc, [2, 3], |m, x| m.forward(x).reshape([7])).unwrap_err();
    assert!(matches!(e, PruneError::Trace { .. }), "{e:?}");
    // On a line of its own, newlines escaped.
    println!("\nERROR: {}", e.to_string().replace('\n', "\\n"));
    let outside = std::panic::catch_unwind(|| panic!("a panic outside any trace"));
    assert!(outside.is_err());
}

#[test]
fn a_panic_while_tracing_is_an_error_and_prints_nothing() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "quiet_panics::a_panic_while_tracing_is_an_error_and_prints_nothing",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let error = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ERROR: "))
        .unwrap_or_else(|| panic!("no error line in {stdout}"));
    // The error says what Burn said and where.
    assert!(error.contains("the forward pass panicked"), "{error}");
    assert!(error.contains("(at "), "{error}");
    // Nothing of the trace's panic reached the terminal; the later panic did, as usual.
    let panics: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("panicked at"))
        .collect();
    assert_eq!(panics.len(), 1, "{stderr}");
    assert!(stderr.contains("a panic outside any trace"), "{stderr}");
}

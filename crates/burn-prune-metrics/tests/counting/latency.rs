//! Latency: statistics of the samples, the runs made, and bad settings (no timing assertions).

use crate::device;
use crate::sparsity::TwoConvs;
use burn::prelude::*;
use burn_prune_metrics::{Latency, LatencyConfig, MetricsError};
use std::time::Duration;

fn ms(v: &[u64]) -> Latency {
    Latency {
        batch_size: 4,
        samples: v.iter().map(|&m| Duration::from_millis(m)).collect(),
    }
}

#[test]
fn statistics() {
    let odd = ms(&[30, 10, 20]);
    assert_eq!(odd.median(), Duration::from_millis(20));
    assert_eq!(odd.min(), Duration::from_millis(10));
    assert_eq!(odd.max(), Duration::from_millis(30));
    assert_eq!(odd.per_sample(), Duration::from_millis(5));
    assert_eq!(odd.throughput(), 200.0);
    let even = ms(&[40, 10, 20, 30]);
    assert_eq!(even.median(), Duration::from_millis(25));
}

#[test]
fn measures_and_compares() {
    let device = device();
    let net = TwoConvs::new(&device);
    let forward = |m: &TwoConvs, x: Tensor<4>| m.forward(x);
    let config = LatencyConfig::new(2).with_warmup(1).with_runs(3);
    let latency = config.measure(&net, [3, 10, 10], &device, forward).unwrap();
    assert_eq!(latency.samples.len(), 3);
    assert_eq!(latency.batch_size, 2);
    assert!(latency.samples.iter().all(|d| *d > Duration::ZERO));

    let other = TwoConvs::new(&device);
    let cmp = config
        .compare(
            (&net, forward),
            (&other, forward),
            [3, 10, 10],
            &device,
            2.0,
        )
        .unwrap();
    assert_eq!(cmp.dense.samples.len(), 3);
    assert_eq!(cmp.pruned.samples.len(), 3);
    let ratio = cmp.dense.median().as_secs_f64() / cmp.pruned.median().as_secs_f64();
    assert_eq!(cmp.measured_speedup, ratio);
    assert_eq!(cmp.efficiency(), ratio / 2.0);
    assert!(cmp.to_string().contains("theoretical 2.00×"));
}

#[test]
fn bad_settings_are_errors() {
    let device = device();
    let net = TwoConvs::new(&device);
    let forward = |m: &TwoConvs, x: Tensor<4>| m.forward(x);
    let err = LatencyConfig::new(0)
        .measure(&net, [3, 10, 10], &device, forward)
        .unwrap_err();
    assert!(matches!(err, MetricsError::InvalidArgument { ref what, .. } if what == "batch_size"));
    let err = LatencyConfig::new(1)
        .with_runs(0)
        .measure(&net, [3, 10, 10], &device, forward)
        .unwrap_err();
    assert!(matches!(err, MetricsError::InvalidArgument { ref what, .. } if what == "runs"));
    let err = LatencyConfig::new(1)
        .measure(&net, [3, 10], &device, forward)
        .unwrap_err();
    assert!(err.to_string().contains("sample shape"), "{err}");
}

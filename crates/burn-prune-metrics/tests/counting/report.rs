//! Per-layer reports: rows against hand counts, CSV, JSON, text.

use crate::device;
use crate::sparsity::TwoConvs;

use burn_prune_core::criterion::Magnitude;
use burn_prune_core::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use burn_prune_core::{Granularity, OutputLayers, PrunerConfig, Scope};
use burn_prune_metrics::{
    Convention, Latency, LatencyComparison, ModelMetrics, OpKind, PruningReport, Structure,
};
use std::time::Duration;

fn metrics(net: &TwoConvs) -> ModelMetrics {
    ModelMetrics::of_model(net, [1, 3, 10, 10], |m, x| m.forward(x)).unwrap()
}

/// `net` with half of every group's channels removed by L1 norm.
fn half_the_channels(net: TwoConvs) -> TwoConvs {
    let t = trace(&net, [1, 3, 10, 10], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&net, &graph)
        .unwrap();
    plan.apply(net).unwrap()
}

#[test]
fn masked_report_rows() {
    let net = TwoConvs::new(&device());
    let dense = metrics(&net);
    let (masked, _) = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Local)
        .with_output_layers(OutputLayers::None) // fc's outputs too
        .init(Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap();
    let report = PruningReport::new(&dense, &metrics(&masked), Convention::Papers);
    let paths: Vec<&str> = report.rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["a", "b", "fc"]);
    let a = &report.rows[0];
    assert_eq!(a.kind, OpKind::Conv);
    assert_eq!(a.shape_before, vec![8, 3, 3, 3]);
    assert_eq!(a.shape_after, vec![8, 3, 3, 3]);
    assert_eq!((a.params_before, a.params_after), (216, 108));
    assert_eq!((a.macs_before, a.macs_after), (216 * 64, 108 * 64));
    assert_eq!(a.density, 0.5);
    let fc = &report.rows[2];
    assert_eq!(fc.kind, OpKind::Matmul);
    assert_eq!((fc.macs_before, fc.macs_after), (12, 6));
    let t = &report.totals;
    assert_eq!(t.macs_before, 216 * 64 + 432 * 36 + 12);
    assert_eq!(t.macs_after, 108 * 64 + 216 * 36 + 6);
    assert_eq!(t.params_after, 330);
    assert_eq!(
        t.theoretical_speedup,
        t.macs_before as f64 / t.macs_after as f64
    );
    // The rows add up to the totals (no layer-less op has MACs here).
    assert_eq!(
        report.rows.iter().map(|r| r.macs_after).sum::<u64>(),
        t.macs_after
    );
}

#[test]
fn compacted_report_shapes_and_formats() {
    let net = TwoConvs::new(&device());
    let dense = metrics(&net);
    let small = half_the_channels(net);
    let report = PruningReport::new(&dense, &metrics(&small), Convention::Papers);
    let shapes: Vec<(Vec<usize>, Vec<usize>)> = report
        .rows
        .iter()
        .map(|r| (r.shape_before.clone(), r.shape_after.clone()))
        .collect();
    assert_eq!(
        shapes,
        [
            (vec![8, 3, 3, 3], vec![4, 3, 3, 3]),
            (vec![6, 8, 3, 3], vec![3, 4, 3, 3]),
            (vec![6, 2], vec![3, 2]),
        ]
    );
    assert_eq!(report.rows[1].macs_after, 3 * 4 * 9 * 36);
    assert_eq!(report.rows[1].density, 108.0 / 432.0);

    // CSV: a header and one line per row, numbers as in the rows.
    let csv = report.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        "path,kind,shape_before,shape_after,params_before,params_after,macs_before,macs_after,density"
    );
    let b: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(
        b[..8],
        [
            "b", "Conv", "6x8x3x3", "3x4x3x3", "432", "108", "15552", "3888"
        ]
    );
    assert_eq!(b[8].parse::<f64>().unwrap(), 0.25);

    // JSON round trip.
    let back = PruningReport::from_json(&report.to_json().unwrap()).unwrap();
    assert_eq!(back, report);
    assert!(PruningReport::from_json("{\"rows\": 3}").is_err());

    // Text: one line per layer, with both shapes.
    let text = report.to_string();
    assert!(text.contains("6×8×3×3 → 3×4×3×3"), "{text}");
    // Header, one line per layer, the totals and the speed line.
    assert_eq!(text.lines().count(), 1 + 3 + 2);
}

fn latency(batch: usize, dense_ms: &[u64], pruned_ms: &[u64]) -> LatencyComparison {
    let samples = |ms: &[u64]| ms.iter().map(|&m| Duration::from_millis(m)).collect();
    LatencyComparison {
        dense: Latency {
            batch_size: batch,
            samples: samples(dense_ms),
        },
        pruned: Latency {
            batch_size: batch,
            samples: samples(pruned_ms),
        },
        measured_speedup: 2.0,
        theoretical_speedup: 99.0,
    }
}

/// Only a smaller shape claims a speedup: a masked model keeps its stored MACs (theoretical
/// speedup 1, the non-zero ratio kept apart as what a sparse kernel could reach), a compacted
/// one claims its MAC ratio, masks inside a compacted one add nothing; measured latencies are
/// compared with that claim.
#[test]
fn speed_claims_follow_the_structure() {
    let net = TwoConvs::new(&device());
    let dense = metrics(&net);
    // Hand counts at 10×10 (conv a keeps 8×8, conv b 6×6, fc): dense 216·64 + 432·36 + 12.
    let dense_macs = 216 * 64 + 432 * 36 + 12;
    let dense_report = PruningReport::of_model(&dense, Convention::Papers);
    assert_eq!(dense_report.structure, Structure::Dense);
    assert_eq!(dense_report.totals.structural_speedup, 1.0);

    let (masked, _) = PrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .prune(TwoConvs::new(&device()))
        .unwrap();
    let report = PruningReport::new(&dense, &metrics(&masked), Convention::Papers);
    assert_eq!(report.structure, Structure::Masked);
    assert!(report.structure.is_masked() && !report.structure.is_compacted());
    assert_eq!(report.totals.macs_stored_after, dense_macs);
    assert_eq!(
        report.totals.params_stored_after,
        report.totals.params_before
    );
    assert_eq!(report.totals.structural_speedup, 1.0);
    assert!(report.totals.theoretical_speedup > 1.5);
    let report = report.with_latency(vec![latency(4, &[10, 11, 12], &[10, 12, 13])]);
    assert_eq!(report.latency[0].theoretical_speedup, 1.0);
    let text = report.to_string();
    assert!(text.contains("no time is saved"), "{text}");
    assert!(text.contains("measured, batch 4"), "{text}");

    let small = half_the_channels(net);
    // Compacted to 4 and 3 filters: 4·3·9·64 + 3·4·9·36 + 3·2.
    let small_macs = 4 * 3 * 9 * 64 + 3 * 4 * 9 * 36 + 3 * 2;
    let report = PruningReport::new(&dense, &metrics(&small), Convention::Papers)
        .with_latency(vec![latency(1, &[5], &[3]), latency(8, &[40], &[21])]);
    assert_eq!(report.structure, Structure::Compacted);
    assert_eq!(report.totals.macs_stored_after, small_macs);
    let ratio = dense_macs as f64 / small_macs as f64;
    assert_eq!(report.totals.structural_speedup, ratio);
    assert_eq!(report.totals.theoretical_speedup, ratio);
    assert!(
        report
            .latency
            .iter()
            .all(|l| l.theoretical_speedup == ratio)
    );
    let back = PruningReport::from_json(&report.to_json().unwrap()).unwrap();
    assert_eq!(back, report);

    // Masks inside the compacted model: the non-zero ratio grows, the claim does not.
    let (both, _) = PrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .prune(small)
        .unwrap();
    let report = PruningReport::new(&dense, &metrics(&both), Convention::Papers);
    assert_eq!(report.structure, Structure::CompactedAndMasked);
    assert_eq!(report.totals.structural_speedup, ratio);
    assert!(report.totals.theoretical_speedup > 1.5 * ratio);
}

/// Timings of a report read from a file with no samples or a zero batch are zero, not a
/// panic.
#[test]
fn empty_timings_read_as_zero() {
    let l = latency(0, &[], &[]);
    assert_eq!(l.dense.median(), Duration::ZERO);
    assert_eq!(l.dense.min(), Duration::ZERO);
    assert_eq!(l.dense.max(), Duration::ZERO);
    assert_eq!(l.dense.per_sample(), Duration::ZERO);
    let shown = l.to_string();
    assert!(shown.contains("batch 0"), "{shown}");
}

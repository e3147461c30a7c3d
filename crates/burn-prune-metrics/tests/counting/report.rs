//! Per-layer reports: rows against hand counts, CSV, JSON, text.

use crate::device;
use crate::sparsity::TwoConvs;

use burn_prune_core::criterion::Magnitude;
use burn_prune_core::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use burn_prune_core::{Granularity, PrunerConfig, Scope};
use burn_prune_metrics::{Convention, ModelMetrics, OpKind, PruningReport};

fn metrics(net: &TwoConvs) -> ModelMetrics {
    ModelMetrics::of_model(net, [1, 3, 10, 10], |m, x| m.forward(x)).unwrap()
}

#[test]
fn masked_report_rows() {
    let net = TwoConvs::new(&device());
    let dense = metrics(&net);
    let (masked, _) = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Local)
        .init(Magnitude::l1())
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
    let t = trace(&net, [1, 3, 10, 10], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .plan(&net, &graph)
        .unwrap();
    let small = plan.apply(net).unwrap();
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
    assert_eq!(text.lines().count(), 1 + 3 + 1);
}

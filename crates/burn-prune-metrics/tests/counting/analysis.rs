//! Sensitivity analysis by hand, and the plots of reports and runs.

use crate::device;
use crate::sparsity::TwoConvs;
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_prune_core::criterion::Magnitude;
use burn_prune_core::{Granularity, OutputLayers, PrunerConfig, Scope};
use burn_prune_metrics::{
    Convention, MetricDirection, ModelMetrics, PruningReport, RunResult, SensitivityConfig,
    plot_runs,
};
use std::collections::BTreeMap;

#[derive(Module, Debug)]
struct Two {
    a: Linear,
    b: Linear,
}

/// `a`: 3 → 4 with output j of L1 norm j + 1; `b`: 4 → 2 with norms 10 and 20. No biases.
fn two() -> Two {
    let device = device();
    let weight = |rows: Vec<Vec<f32>>| {
        let (r, c) = (rows.len(), rows[0].len());
        let flat: Vec<f32> = rows.into_iter().flatten().collect();
        Param::from_tensor(Tensor::<2>::from_data(
            TensorData::new(flat, [r, c]),
            &device,
        ))
    };
    let a: Linear = LinearConfig::new(3, 4).with_bias(false).init(&device);
    let b: Linear = LinearConfig::new(4, 2).with_bias(false).init(&device);
    Two {
        a: Linear {
            weight: weight(vec![vec![1., 2., 3., 4.], vec![0.; 4], vec![0.; 4]]),
            ..a
        },
        b: Linear {
            weight: weight(vec![vec![10., 20.], vec![0.; 2], vec![0.; 2], vec![0.; 2]]),
            ..b
        },
    }
}

/// The L1 mass of the effective weights: each removed output loses its norm.
fn mass(m: &Two) -> f64 {
    let l1 = |p: &Param<Tensor<2>>| p.val().abs().sum().into_scalar::<f32>() as f64;
    l1(&m.a.weight) + l1(&m.b.weight)
}

#[test]
fn sensitivity_by_hand() {
    // `b` is the output layer: its outputs are analysed too.
    let table = SensitivityConfig::new(vec![0.5, 0.25])
        .with_output_layers(OutputLayers::None)
        .analyze(&two(), Magnitude::l1(), mass)
        .unwrap();
    assert_eq!(table.ratios, vec![0.25, 0.5]);
    assert_eq!(table.baseline, 40.0);
    // a: 25% removes the norm-1 output, 50% the norm-1 and norm-2 ones.
    // b: round(0.25·2) = round(0.5·2) = 1 output, the norm-10 one.
    assert_eq!(table.layers[0].path, "a.weight");
    assert_eq!(table.layers[0].metric, vec![39.0, 37.0]);
    assert_eq!(table.layers[1].metric, vec![30.0, 30.0]);
    let ratios = |t: f64| table.max_ratios(t);
    let map =
        |a: f64, b: f64| BTreeMap::from([("a.weight".to_string(), a), ("b.weight".to_string(), b)]);
    assert_eq!(ratios(0.5), map(0.0, 0.0));
    assert_eq!(ratios(1.0), map(0.25, 0.0));
    assert_eq!(ratios(3.0), map(0.5, 0.0));
    assert_eq!(ratios(10.0), map(0.5, 0.5));
    // 12 + 8 elements: a at 50% alone removes 6 of 20.
    assert_eq!(table.sparsity_of(&map(0.5, 0.0)), 0.3);
    assert_eq!(table.densities_for_budget(0.2).unwrap(), map(0.5, 1.0));
    assert_eq!(table.densities_for_budget(0.5).unwrap(), map(0.5, 0.5));
    let err = table.densities_for_budget(0.6).unwrap_err();
    assert!(err.to_string().contains("0.5000"), "{err}");

    // The densities drive the core pruner directly.
    let (pruned, masks) = PrunerConfig::new(0.0)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Densities(table.densities_for_budget(0.2).unwrap()))
        .init(Magnitude::l1())
        .unwrap()
        .prune(two())
        .unwrap();
    assert_eq!(masks.get("a.weight").unwrap().pruned(), 6);
    assert_eq!(mass(&pruned), 37.0);

    // Loss-like metrics: the drop is the increase.
    let loss = SensitivityConfig::new(vec![0.5])
        .with_direction(MetricDirection::LowerIsBetter)
        .analyze(&two(), Magnitude::l1(), |m| 100.0 - mass(m))
        .unwrap();
    assert_eq!(loss.drop(loss.layers[0].metric[0]), 3.0);

    let csv = table.to_csv();
    assert_eq!(csv.lines().next(), Some("path,numel,0.25,0.5"));
    assert_eq!(csv.lines().nth(1), Some("a.weight,12,39,37"));
    assert!(table.to_string().contains("25%"));
    let dir = std::env::temp_dir().join(format!("burn-prune-sensitivity-{}", std::process::id()));
    let svg = dir.join("sensitivity.svg");
    table.plot(&svg, "L1 mass").unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("a.weight") && text.contains("b.weight"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_sensitivity_settings() {
    let eval = |_: &Two| 1.0;
    assert!(
        SensitivityConfig::new(vec![])
            .analyze(&two(), Magnitude::l1(), eval)
            .is_err()
    );
    assert!(
        SensitivityConfig::new(vec![1.0])
            .analyze(&two(), Magnitude::l1(), eval)
            .is_err()
    );
    let nan = SensitivityConfig::new(vec![0.5]).analyze(&two(), Magnitude::l1(), |_| f64::NAN);
    assert!(nan.unwrap_err().to_string().contains("NaN"));
}

#[test]
fn report_and_run_plots() {
    let net = TwoConvs::new(&device());
    let dense = ModelMetrics::of_model(&net, [1, 3, 10, 10], |m, x| m.forward(x)).unwrap();
    let (masked, _) = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .with_scope(Scope::Local)
        .with_output_layers(OutputLayers::None) // fc's outputs too
        .init(Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap();
    let pruned = ModelMetrics::of_model(&masked, [1, 3, 10, 10], |m, x| m.forward(x)).unwrap();
    let report = PruningReport::new(&dense, &pruned, Convention::Papers);
    assert_eq!(
        report
            .density_bars()
            .iter()
            .map(|b| b.density)
            .collect::<Vec<_>>(),
        vec![0.5, 0.5, 0.5]
    );
    assert_eq!(report.macs_bars()[0].before, 216.0 * 64.0);
    let dir = std::env::temp_dir().join(format!("burn-prune-report-{}", std::process::id()));
    for ext in ["svg", "png"] {
        let files = report.plot(&dir, ext).unwrap();
        assert_eq!(files.len(), 3);
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() > 0, "{f:?}");
        }
    }
    let svg = std::fs::read_to_string(dir.join("macs.svg")).unwrap();
    assert!(svg.contains("fc") && svg.contains("MACs per layer"));

    let runs = [
        RunResult {
            method: "L1".into(),
            sparsity: 0.5,
            metric: 0.9,
        },
        RunResult {
            method: "random".into(),
            sparsity: 0.5,
            metric: 0.8,
        },
        RunResult {
            method: "L1".into(),
            sparsity: 0.0,
            metric: 0.93,
        },
    ];
    plot_runs(dir.join("runs.svg"), "accuracy", &runs).unwrap();
    let svg = std::fs::read_to_string(dir.join("runs.svg")).unwrap();
    assert!(svg.contains("random") && svg.contains("accuracy vs sparsity"));
    assert!(plot_runs(dir.join("runs.txt"), "accuracy", &runs).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

//! Scratch-E / Scratch-B (Liu et al. 2019): budgets by hand, re-initialisation statistics,
//! and a pruned architecture trained from scratch on the quadrant task.

use crate::common::{SmallCnn, randomize_batch_norms, values};
use crate::task::{Batches, accuracy, loss, quadrants, train};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::metrics::{Convention, ModelMetrics};
use burn_prune::models::ResNetCifarConfig;
use burn_prune::schedule::ScheduleError;
use burn_prune::schedule::methods::ResidualStages;
use burn_prune::schedule::methods::{Reinit, Scratch, ScratchBudgetConfig, reinitialize};
use burn_prune::structure::{DependencyGraph, GraphOptions, GroupPrunerConfig, trace};
use burn_prune::{PrunerConfig, masks_of};
use std::collections::BTreeMap;

#[test]
fn budgets_follow_liu_et_al_by_hand() {
    // Dense 100M MACs, pruned 40M, 160 epochs: Scratch-B = 160 × 2.5 = 400 epochs, with the
    // drops at 50% and 75% of it.
    let b = ScratchBudgetConfig::new(100_000_000, 40_000_000, 160)
        .init()
        .unwrap();
    assert_eq!((b.scratch_e(), b.scratch_b()), (160, 400));
    assert_eq!(b.epochs(Scratch::E), 160);
    assert_eq!(b.extension(), 2.5);
    assert_eq!(
        b.milestones(Scratch::B, &[0.5, 0.75]).unwrap(),
        vec![200, 300]
    );
    assert_eq!(
        b.milestones(Scratch::E, &[0.5, 0.75]).unwrap(),
        vec![80, 120]
    );
    // Truncated: 160 × 100 / 30 = 533.3 → 533; drops at ⌊533 · 0.5⌋ = 266, ⌊399.75⌋ = 399.
    let b = ScratchBudgetConfig::new(100, 30, 160).init().unwrap();
    assert_eq!(b.scratch_b(), 533);
    assert_eq!(
        b.milestones(Scratch::B, &[0.5, 0.75]).unwrap(),
        vec![266, 399]
    );
    // Liu et al.'s ImageNet rule: a 2× cap; 90 epochs at a 2.5× saving → 180, at 1.5× → 135,
    // at exactly 2× → 180.
    let capped = |dense, pruned| {
        ScratchBudgetConfig::new(dense, pruned, 90)
            .with_max_extension(Some(2.0))
            .init()
            .unwrap()
            .scratch_b()
    };
    assert_eq!(capped(100, 40), 180);
    assert_eq!(capped(90, 60), 135);
    assert_eq!(capped(100, 50), 180);
    // Nothing pruned: Scratch-B = Scratch-E. Large numbers do not overflow.
    assert_eq!(
        ScratchBudgetConfig::new(7, 7, 3)
            .init()
            .unwrap()
            .scratch_b(),
        3
    );
    let big = ScratchBudgetConfig::new(u64::MAX, u64::MAX / 4, 100)
        .init()
        .unwrap();
    assert_eq!(big.scratch_b(), 400);
}

#[test]
fn budget_from_measured_macs_of_a_wide_and_a_narrow_cnn() {
    let device = Device::flex();
    let dense = SmallCnn::new(&[3, 16, 32], 4, &device);
    let pruned = SmallCnn::new(&[3, 8, 16], 4, &device);
    let measure = |m: &SmallCnn| ModelMetrics::of_model(m, [1, 3, 8, 8], |m, x| m.forward(x));
    let budget = ScratchBudgetConfig::from_metrics(
        &measure(&dense).unwrap(),
        &measure(&pruned).unwrap(),
        10,
        Convention::Papers,
    )
    .init()
    .unwrap();
    // By hand, 8×8 "same" convolutions, no bias MACs:
    //   dense  64·16·(3·9) + 64·32·(16·9) + 32·4 = 27648 + 294912 + 128 = 322688
    //   pruned 64·8·(3·9)  + 64·16·(8·9)  + 16·4 = 13824 + 73728 + 64   = 87616
    // 10 × 322688 / 87616 = 36.8 → 36 epochs.
    assert_eq!(budget.extension(), 322_688.0 / 87_616.0);
    assert_eq!(budget.scratch_b(), 36);
}

#[test]
fn bad_budgets_are_typed_errors() {
    let invalid = |r: Result<_, ScheduleError>| {
        assert!(
            matches!(r, Err(ScheduleError::InvalidConfig { .. })),
            "{r:?}"
        );
    };
    invalid(ScratchBudgetConfig::new(0, 0, 10).init().map(|_| ()));
    invalid(ScratchBudgetConfig::new(10, 0, 10).init().map(|_| ()));
    invalid(ScratchBudgetConfig::new(10, 20, 10).init().map(|_| ()));
    invalid(ScratchBudgetConfig::new(10, 5, 0).init().map(|_| ()));
    for cap in [0.5, f64::NAN, f64::INFINITY] {
        let config = ScratchBudgetConfig::new(10, 5, 10).with_max_extension(Some(cap));
        invalid(config.init().map(|_| ()));
    }
    let b = ScratchBudgetConfig::new(10, 5, 10).init().unwrap();
    for fractions in [
        &[0.0][..],
        &[1.0],
        &[0.5, 1.2],
        &[0.75, 0.5],
        &[0.5, 0.5],
        &[f64::NAN],
    ] {
        invalid(b.milestones(Scratch::B, fractions).map(|_| ()));
    }
}

/// The stored (base) value of every float parameter, by path: a visitor sees parameters
/// without their masks.
fn params_of<M: Module>(model: &M) -> BTreeMap<String, Vec<f32>> {
    struct Reader {
        path: Vec<String>,
        out: BTreeMap<String, Vec<f32>>,
    }
    impl ModuleVisitor for Reader {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.into());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out
                .insert(self.path.join("."), values(param.base().inner()));
        }
    }
    let mut reader = Reader {
        path: Vec::new(),
        out: BTreeMap::new(),
    };
    model.visit(&mut reader);
    reader.out
}

/// The effective (masked) value of a weight or bias of a `SmallCnn`.
fn effective(model: &SmallCnn, path: &str) -> Vec<f32> {
    let bias = |b: &Option<Param<Tensor<1>>>| values(b.as_ref().unwrap().val());
    match path {
        "blocks.0.conv.weight" => values(model.blocks[0].conv.weight.val()),
        "blocks.0.conv.bias" => bias(&model.blocks[0].conv.bias),
        "blocks.1.conv.weight" => values(model.blocks[1].conv.weight.val()),
        "blocks.1.conv.bias" => bias(&model.blocks[1].conv.bias),
        "fc.weight" => values(model.fc.weight.val()),
        "fc.bias" => bias(&model.fc.bias),
        _ => unreachable!("{path}"),
    }
}

/// The weights and biases of `SmallCnn::new(&[3, 8, 16], 4)` with their fan-ins by hand:
/// conv 3→8 3×3: 27; conv 8→16 3×3: 72; Linear(16, 4): 16. A bias shares its layer's bound.
const PATHS: [(&str, usize); 6] = [
    ("blocks.0.conv.weight", 27),
    ("blocks.0.conv.bias", 27),
    ("blocks.1.conv.weight", 72),
    ("blocks.1.conv.bias", 72),
    ("fc.weight", 16),
    ("fc.bias", 16),
];

#[test]
fn reinitialisation_draws_burn_defaults_resets_batch_norm_and_keeps_masks() {
    let device = Device::flex();
    device.seed(1);
    let model = SmallCnn::new(&[3, 8, 16], 4, &device);
    let (model, masks) = PrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .prune(model)
        .unwrap();
    let model = randomize_batch_norms(model, 3);
    let old = params_of(&model);
    let old_effective: BTreeMap<&str, Vec<f32>> = PATHS
        .iter()
        .map(|(path, _)| (*path, effective(&model, path)))
        .collect();

    let (model, report) = reinitialize(model, 42).unwrap();
    let new = params_of(&model);

    for (path, fan_in) in PATHS {
        let bound = 1.0 / (fan_in as f64).sqrt();
        assert_eq!(
            report.get(path).unwrap().init,
            Reinit::Uniform { bound, fan_in },
            "{path}"
        );
        let base = &new[path];
        assert!(base.iter().all(|w| f64::from(w.abs()) <= bound), "{path}");
        assert!(
            base.iter().zip(&old[path]).all(|(a, b)| a != b),
            "{path}: a value kept"
        );
        // Effective values: zero exactly where the mask prunes, the new values elsewhere.
        let val = effective(&model, path);
        let keep = match masks.get(path) {
            Some(mask) => mask.keep.to_bools(),
            None => vec![true; val.len()],
        };
        for (i, keep) in keep.into_iter().enumerate() {
            if keep {
                assert_eq!(val[i], base[i], "{path}[{i}]");
            } else {
                assert_eq!((val[i], old_effective[path][i]), (0.0, 0.0), "{path}[{i}]");
            }
        }
    }
    // Uniform on (−b, b): mean 0, variance b²/3, and the range is filled. 1152 draws: the
    // standard error of the variance is b²/3 · √(0.8/1152) ≈ 2.6%, of the mean b/√3456 ≈ 1.7%·b.
    let w = &new["blocks.1.conv.weight"];
    let b = 1.0 / 72f64.sqrt();
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = w
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(mean.abs() < 0.08 * b, "mean {mean}");
    assert!((var / (b * b / 3.0) - 1.0).abs() < 0.15, "variance {var}");
    assert!(
        w.iter().any(|v| f64::from(*v) > 0.95 * b) && w.iter().any(|v| f64::from(*v) < -0.95 * b)
    );

    // Batch norm back to Burn's defaults.
    for i in 0..2 {
        for (name, value) in [
            ("gamma", 1.0),
            ("beta", 0.0),
            ("running_mean", 0.0),
            ("running_var", 1.0),
        ] {
            let path = format!("blocks.{i}.bn.{name}");
            assert!(
                old[&path].iter().any(|v| *v != value),
                "{path} was already reset"
            );
            assert!(new[&path].iter().all(|v| *v == value), "{path}");
            assert_eq!(report.get(&path).unwrap().init, Reinit::Constant(value));
        }
    }
    assert_eq!(report.unchanged().count(), 0);
    // The masks are still installed, unchanged.
    assert_eq!(masks_of(&model).unwrap(), masks);
}

#[test]
fn reinitialisation_is_the_same_on_every_backend_and_depends_on_the_seed() {
    let flex = SmallCnn::new(&[3, 8, 16], 4, &Device::flex());
    #[allow(deprecated)]
    let ndarray = SmallCnn::new(&[3, 8, 16], 4, &Device::ndarray());
    let (flex, _) = reinitialize(flex, 5).unwrap();
    let (ndarray, _) = reinitialize(ndarray, 5).unwrap();
    let a = params_of(&flex);
    assert_eq!(a, params_of(&ndarray));
    let (other, _) = reinitialize(flex, 6).unwrap();
    let b = params_of(&other);
    assert_ne!(a["fc.weight"], b["fc.weight"]);
    assert_ne!(a["blocks.0.conv.weight"], b["blocks.0.conv.weight"]);
}

#[test]
fn reinitialisation_leaves_unknown_parameters_and_keeps_training() {
    // A ResNet with block scales: the scales are the model's own parameters, left as they are.
    let device = Device::flex().autodiff();
    let model = ResNetCifarConfig::new(8)
        .with_num_classes(4)
        .init(&device)
        .unwrap()
        .with_block_scales();
    let (model, report) = reinitialize(model, 9).unwrap();
    let unchanged: Vec<&str> = report.unchanged().map(|p| p.path.as_str()).collect();
    assert_eq!(
        unchanged,
        ["layer1.0.scale", "layer2.0.scale", "layer3.0.scale"]
    );
    // Stem conv 3→16 3×3 (no bias): fan-in 27.
    assert_eq!(
        report.get("stem.conv.weight").unwrap().init,
        Reinit::Uniform {
            bound: 1.0 / 27f64.sqrt(),
            fan_in: 27
        }
    );
    // Every trainable parameter still gets a gradient: weights, BN γ/β, the scales.
    let (x, y) = quadrants(8, 1, &device);
    let logits = model.forward(x);
    let l = burn::nn::loss::CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits, y);
    let grads = GradientsParams::from_grads(l.backward(), &model);
    let trainable = report
        .params
        .iter()
        .filter(|p| !p.path.contains("running_"))
        .count();
    assert_eq!(grads.len(), trainable);

    // A linear layer without inputs has no fan-in: refused.
    #[derive(Module, Debug)]
    struct Empty {
        fc: Linear,
    }
    let empty = Empty {
        fc: LinearConfig::new(0, 4).init(&Device::flex()),
    };
    assert!(matches!(
        reinitialize(empty, 1),
        Err(ScheduleError::Model { .. })
    ));
}

fn graph(model: &SmallCnn) -> DependencyGraph {
    let t = trace(model, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    DependencyGraph::build(&t, &GraphOptions::default()).unwrap()
}

#[test]
fn scratch_e_trains_the_compacted_architecture_from_a_fresh_start() {
    let device = Device::flex().autodiff();
    device.seed(17);
    let data = Batches::new(256, 8, &device); // 8 steps per epoch
    let (x_test, y_test) = quadrants(256, 9, &device);
    let epochs = 8;
    let dense = train(
        SmallCnn::new(&[3, 16, 32], 4, &device),
        &data,
        epochs,
        |m, _| m,
        |m, _| m,
    );
    let dense_accuracy = accuracy(&dense, x_test.clone(), y_test.clone());
    // Half the channels of every group by L1 norm, compacted to a [3, 8, 16] network.
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(&dense, &graph(&dense))
        .unwrap();
    let small = plan.apply(dense).unwrap();
    assert_eq!(small.blocks[1].conv.weight.dims(), [16, 8, 3, 3]);
    let trained_weights = values(small.fc.weight.val());

    let (mut model, _) = reinitialize(small, 2024).unwrap();
    assert_ne!(values(model.fc.weight.val()), trained_weights);
    // Scratch-E: the dense model's epochs, Adam at 1e-2 dropped ×0.1 at 50% and 75%.
    let budget = ScratchBudgetConfig::new(322_688, 87_616, epochs)
        .init()
        .unwrap();
    let milestones = budget.milestones(Scratch::E, &[0.5, 0.75]).unwrap();
    assert_eq!(milestones, vec![4, 6]);
    let mut optim = AdamConfig::new().init();
    for epoch in 0..budget.scratch_e() {
        let lr = 1e-2 * 0.1f64.powi(milestones.iter().filter(|&&m| epoch >= m).count() as i32);
        for (x, y) in &data.batches {
            let grads =
                GradientsParams::from_grads(loss(&model, x.clone(), y.clone()).backward(), &model);
            model = optim.step(lr, model, grads);
        }
    }
    let scratch_accuracy = accuracy(&model, x_test, y_test);
    eprintln!("scratch-E: dense {dense_accuracy}, pruned from scratch {scratch_accuracy}");
    assert!(scratch_accuracy >= 0.9, "accuracy {scratch_accuracy}");
}

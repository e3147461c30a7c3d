//! Group importance: reductions, normalisations, gradient and BatchNorm criteria, and the
//! selection rules (round_to, max_ratio, ignored layers, global ranking), against hand counts.

use crate::common::{SmallCnn, randomize_batch_norms, values};
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_prune::criterion::{BatchNormScale, GradientMagnitude, Magnitude};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupNormalization, GroupPrunerConfig, GroupReduction, trace,
};
use burn_prune::{PruneError, Scope};

/// `y = x · W1 · W2` (no bias, no activation): the 3 hidden units form one group.
#[derive(Module, Debug)]
struct TwoLinear {
    fc1: Linear,
    fc2: Linear,
}

const W1: [[f32; 3]; 2] = [[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]];
const W2: [f32; 3] = [-4.0, 1.0, 0.5];

impl TwoLinear {
    fn new(device: &Device) -> Self {
        let linear = |i, o, w: Vec<f32>| {
            let mut l: Linear = LinearConfig::new(i, o).with_bias(false).init(device);
            l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [i, o]), device));
            l
        };
        Self {
            fc1: linear(2, 3, W1.concat()),
            fc2: linear(3, 1, W2.to_vec()),
        }
    }
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(self.fc1.forward(x))
    }
}

fn hidden_scores(model: &TwoLinear, config: GroupPrunerConfig) -> Vec<f32> {
    let t = trace(model, [1, 2], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let (gi, _) = graph.group_of("fc1.weight", 1).unwrap();
    config
        .init(Magnitude::l1())
        .unwrap()
        .scores(model, &graph)
        .unwrap()[gi]
        .clone()
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn reductions_and_normalisations_by_hand() {
    let model = TwoLinear::new(&Device::flex());
    // Per hidden unit j: fc1 column L1 = |W1[0][j]| + |W1[1][j]|, fc2 row L1 = |W2[j]|.
    let col = [4.0, 2.25, 1.5];
    let row = [4.0, 1.0, 0.5];
    let cfg = || GroupPrunerConfig::new(0.5).with_normalization(GroupNormalization::None);
    let sum: Vec<f32> = (0..3).map(|j| col[j] + row[j]).collect();
    close(
        &hidden_scores(&model, cfg().with_reduction(GroupReduction::Sum)),
        &sum,
    );
    let mean: Vec<f32> = sum.iter().map(|s| s / 2.0).collect();
    close(&hidden_scores(&model, cfg()), &mean);
    close(
        &hidden_scores(&model, cfg().with_reduction(GroupReduction::Max)),
        &[4.0, 2.25, 1.5],
    );
    close(
        &hidden_scores(&model, cfg().with_reduction(GroupReduction::First)),
        &col,
    );
    // Mean scores 4, 1.625, 1: max-normalised ÷4; mean-normalised ÷(6.625/3).
    let by_max: Vec<f32> = mean.iter().map(|s| s / 4.0).collect();
    let max = cfg().with_normalization(GroupNormalization::Max);
    close(&hidden_scores(&model, max), &by_max);
    let m = 6.625 / 3.0;
    let by_mean: Vec<f32> = mean.iter().map(|s| s / m).collect();
    let mean_norm = cfg().with_normalization(GroupNormalization::Mean);
    close(&hidden_scores(&model, mean_norm), &by_mean);
    // The default normalisation is the mean (Torch-Pruning's).
    close(
        &hidden_scores(&model, GroupPrunerConfig::new(0.5)),
        &by_mean,
    );
    // LAMP: ranked 4 ≥ 1.625 ≥ 1: 4/4, 1.625/5.625, 1/6.625.
    let lamp = cfg().with_normalization(GroupNormalization::Lamp);
    close(
        &hidden_scores(&model, lamp),
        &[1.0, 1.625 / 5.625, 1.0 / 6.625],
    );
}

#[test]
fn gradient_criteria_score_groups_from_batches() {
    let device = Device::flex().autodiff();
    let model = TwoLinear::new(&device);
    let t = trace(&model, [1, 2], |m, x| m.forward(x)).unwrap();
    let graph = DependencyGraph::build(&t, &GraphOptions::default()).unwrap();
    let pruner = GroupPrunerConfig::new(0.5)
        .with_reduction(GroupReduction::Sum)
        .with_normalization(GroupNormalization::None)
        .init(GradientMagnitude)
        .unwrap();
    assert!(matches!(
        pruner.scores(&model, &graph),
        Err(PruneError::MissingBatches { .. })
    ));
    let x = [[1.0f32, 2.0], [-0.5, 1.0]];
    let batch = Tensor::<2>::from_data(TensorData::new(x.concat(), [2, 2]), &device);
    let loss = |m: &TwoLinear, b: Tensor<2>| m.forward(b).sum();
    let scores = pruner
        .scores_with_data(&model, &graph, [batch.clone()], loss)
        .unwrap();
    let (gi, _) = graph.group_of("fc1.weight", 1).unwrap();
    // loss = Σ_b Σ_j (Σ_i x_bi W1_ij) W2_j: ∂/∂W1_ij = X_i W2_j, ∂/∂W2_j = Σ_i X_i W1_ij with
    // X = Σ_b x_b = (0.5, 3).
    let xs = [0.5f32, 3.0];
    let expected: Vec<f32> = (0..3)
        .map(|j| {
            let g1: f32 = (0..2).map(|i| (xs[i] * W2[j]).abs()).sum();
            let g2 = (0..2).map(|i| xs[i] * W1[i][j]).sum::<f32>().abs();
            g1 + g2
        })
        .collect();
    close(&scores[gi], &expected);
    // No batch at all is an error, not a silent magnitude ranking.
    let none: [Tensor<2>; 0] = [];
    assert!(matches!(
        pruner.scores_with_data(&model, &graph, none, loss),
        Err(PruneError::MissingBatches { .. })
    ));
    let plan = pruner
        .plan_with_data(&model, &graph, [batch], loss)
        .unwrap();
    // Scores 23.5, 3.75, 4.5; round(0.5 · 3) = 2 units go: unit 0 stays.
    let kept = &plan.params["fc1.weight"].keep[0];
    assert_eq!((kept.axis, kept.indices.clone()), (1, vec![0]));
}

fn cnn_graph(model: &SmallCnn) -> DependencyGraph {
    let t = trace(model, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
    DependencyGraph::build(&t, &GraphOptions::default()).unwrap()
}

#[test]
fn batch_norm_scale_ranks_by_gamma() {
    let device = Device::flex();
    let model = randomize_batch_norms(SmallCnn::new(&[3, 8, 6], 4, &device), 3);
    let graph = cnn_graph(&model);
    let scores = GroupPrunerConfig::new(0.5)
        .with_normalization(GroupNormalization::None)
        .init(BatchNormScale)
        .unwrap()
        .scores(&model, &graph)
        .unwrap();
    for b in 0..2 {
        let (gi, _) = graph
            .group_of(&format!("blocks.{b}.conv.weight"), 0)
            .unwrap();
        let gamma: Vec<f32> = values(model.blocks[b].bn.gamma.val())
            .iter()
            .map(|g| g.abs())
            .collect();
        close(&scores[gi], &gamma);
    }
}

#[test]
fn selection_rules() {
    let device = Device::flex();
    let model = SmallCnn::new(&[3, 16, 12, 10], 4, &device);
    let graph = cnn_graph(&model);
    let kept = |config: GroupPrunerConfig, b: usize| {
        let plan = config
            .init(Magnitude::l1())
            .unwrap()
            .plan(&model, &graph)
            .unwrap();
        plan.params
            .get(&format!("blocks.{b}.conv.weight"))
            .map_or(model.blocks[b].conv.weight.dims()[0], |s| s.new_shape()[0])
    };
    // Local: round(0.5 · n) of each group.
    assert_eq!(
        [0, 1, 2].map(|b| kept(GroupPrunerConfig::new(0.5), b)),
        [8, 6, 5]
    );
    // round_to 4: kept counts rounded up to multiples of 4 (8, 6 → 8, 5 → 8).
    let r = || GroupPrunerConfig::new(0.5).with_round_to(4);
    assert_eq!([0, 1, 2].map(|b| kept(r(), b)), [8, 8, 8]);
    // max_ratio 0.25: no group loses more than a quarter.
    let m = || GroupPrunerConfig::new(0.5).with_max_ratio(0.25);
    assert_eq!([0, 1, 2].map(|b| kept(m(), b)), [12, 9, 8]);
    // Ignored: a layer whose output channels are never cut (its inputs still shrink).
    let i = || GroupPrunerConfig::new(0.5).with_ignored(vec!["blocks.1.**".into()]);
    assert_eq!([0, 1, 2].map(|b| kept(i(), b)), [8, 12, 5]);
    // Global: 19 of the 38 free channels, wherever the scores are lowest.
    let g = GroupPrunerConfig::new(0.5).with_scope(Scope::Global);
    let total: usize = [0, 1, 2].map(|b| kept(g.clone(), b)).iter().sum();
    assert_eq!(total, 38 - 19);
    let plan = i()
        .init(Magnitude::l1())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert_eq!(
        plan.params["blocks.1.conv.weight"].new_shape(),
        [12, 8, 3, 3]
    );
    // Bad settings are errors.
    for bad in [
        GroupPrunerConfig::new(1.0),
        GroupPrunerConfig::new(-0.1),
        GroupPrunerConfig::new(0.5).with_round_to(0),
        GroupPrunerConfig::new(0.5).with_max_ratio(0.0),
    ] {
        assert!(
            bad.init(Magnitude::l1())
                .and_then(|p| p.plan(&model, &graph))
                .is_err()
        );
    }
}

#[test]
fn external_scores_drive_the_same_selection() {
    let device = Device::flex();
    let model = SmallCnn::new(&[3, 8, 6], 4, &device);
    let graph = cnn_graph(&model);
    let (g0, _) = graph.group_of("blocks.0.conv.weight", 0).unwrap();
    let (g1, _) = graph.group_of("blocks.1.conv.weight", 0).unwrap();

    // Hand-made scores: block 0 keeps its channels 4..8, block 1 its channels 0..3.
    let mut scores: Vec<Vec<f32>> = graph.groups.iter().map(|g| vec![0.0; g.n_units]).collect();
    scores[g0] = (0..8).map(|u| u as f32).collect();
    scores[g1] = (0..6).map(|u| -(u as f32)).collect();
    let keep = GroupPrunerConfig::new(0.5)
        .keep_from_scores(&model, &graph, &scores)
        .unwrap();
    assert_eq!(
        keep[g0],
        [false, false, false, false, true, true, true, true]
    );
    assert_eq!(keep[g1], [true, true, true, false, false, false]);

    // A criterion's own scores, fed back in, give the criterion's selection (local, global,
    // normalised).
    for config in [
        GroupPrunerConfig::new(0.4),
        GroupPrunerConfig::new(0.4).with_scope(Scope::Global),
        GroupPrunerConfig::new(0.3)
            .with_scope(Scope::Global)
            .with_normalization(GroupNormalization::Max),
    ] {
        let pruner = config
            .clone()
            .with_normalization(GroupNormalization::None)
            .init(Magnitude::l1())
            .unwrap();
        let raw = pruner.scores(&model, &graph).unwrap();
        let by_criterion = config
            .init(Magnitude::l1())
            .unwrap()
            .keep(&model, &graph)
            .unwrap();
        assert_eq!(
            config.keep_from_scores(&model, &graph, &raw).unwrap(),
            by_criterion
        );
    }

    // Wrong shapes and non-finite scores are errors naming the group.
    let config = GroupPrunerConfig::new(0.5);
    assert!(matches!(
        config.keep_from_scores(&model, &graph, &scores[..1]),
        Err(PruneError::ScoreCount { what: "groups", .. })
    ));
    let mut short = scores.clone();
    short[g1].pop();
    assert!(matches!(
        config.keep_from_scores(&model, &graph, &short),
        Err(PruneError::ScoreCount { path, .. }) if path == "blocks.1.conv.weight"
    ));
    let mut nan = scores.clone();
    nan[g0][2] = f32::NAN;
    assert!(matches!(
        config.keep_from_scores(&model, &graph, &nan),
        Err(PruneError::NonFiniteScore { index: 2, .. })
    ));
}

/// [`TwoLinear`] with a bias on `fc1`: a vector member in the hidden group.
#[derive(Module, Debug)]
struct BiasedTwoLinear {
    fc1: Linear,
    fc2: Linear,
}

#[test]
fn fpgm_ranks_a_group_by_its_matrix_members() {
    use burn_prune::criterion::Fpgm;
    let device = Device::flex();
    let plain = TwoLinear::new(&device);
    let mut fc1 = LinearConfig::new(2, 3).init(&device);
    fc1.weight = plain.fc1.weight.clone();
    fc1.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![7.0f32, -3.0, 0.1], [3]),
        &device,
    )));
    let biased = BiasedTwoLinear {
        fc1,
        fc2: plain.fc2.clone(),
    };
    let group = |t: &burn_prune::structure::Trace| {
        let graph = DependencyGraph::build(t, &GraphOptions::default()).unwrap();
        let (gi, _) = graph.group_of("fc1.weight", 1).unwrap();
        (graph, gi)
    };
    let t = trace(&plain, [1, 2], |m, x| m.forward(x)).unwrap();
    let (graph, gi) = group(&t);
    let config = GroupPrunerConfig::new(0.5).with_reduction(GroupReduction::Sum);
    let without_bias = config
        .clone()
        .init(Fpgm)
        .unwrap()
        .scores(&plain, &graph)
        .unwrap()[gi]
        .clone();
    let t = trace(&biased, [1, 2], |m: &BiasedTwoLinear, x| {
        m.fc2.forward(m.fc1.forward(x))
    })
    .unwrap();
    let (graph, gi) = group(&t);
    // FPGM compares whole units, so it cannot score the bias: the group is ranked by the two
    // weight matrices alone, exactly as without the bias (before, this was an error).
    let with_bias = config
        .with_score_biases(true)
        .init(Fpgm)
        .unwrap()
        .scores(&biased, &graph)
        .unwrap()[gi]
        .clone();
    close(&with_bias, &without_bias);
    // Hand check of the ranking: hidden unit 0 (fc1 column (1, 3), fc2 row -4) is the
    // farthest from the others in both matrices, unit 2 ((0.5, -1), 0.5) the nearest.
    assert!(
        with_bias[0] > with_bias[1] && with_bias[1] > with_bias[2],
        "{with_bias:?}"
    );
}

/// Per unit `u` of axis `axis` of a row-major tensor of `shape`: `Σ f(v)` over the slice.
fn slice_sums(v: &[f32], shape: &[usize], axis: usize, f: impl Fn(f32) -> f32) -> Vec<f32> {
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = vec![0f32; shape[axis]];
    for (i, &x) in v.iter().enumerate() {
        out[(i / inner) % shape[axis]] += f(x);
    }
    out
}

#[test]
fn magnitude_matches_torch_pruning_magnitude_importance() {
    // REFERENCE.md, "Torch-Pruning's magnitude importance": per channel the sum of |w|^p over
    // every coupled member's slice (conv output filters, the next layer's input channels,
    // BatchNorm |γ|^p), biases and β not scored, running statistics never, the members'
    // mean, divided by the group's mean.
    let device = Device::flex();
    let model = randomize_batch_norms(SmallCnn::new(&[3, 4, 5], 2, &device), 11);
    let graph = cnn_graph(&model);
    let (gi, _) = graph.group_of("blocks.0.conv.weight", 0).unwrap();
    let conv0 = values(model.blocks[0].conv.weight.val());
    let conv1 = values(model.blocks[1].conv.weight.val());
    let gamma = values(model.blocks[0].bn.gamma.val());
    let bias = values(model.blocks[0].conv.bias.as_ref().unwrap().val());
    let beta = values(model.blocks[0].bn.beta.val());
    let per_member = |f: &dyn Fn(f32) -> f32| {
        [
            slice_sums(&conv0, &[4, 3, 3, 3], 0, f),
            gamma.iter().map(|&g| f(g)).collect(),
            slice_sums(&conv1, &[5, 4, 3, 3], 1, f),
        ]
    };
    let mean_of = |members: &[Vec<f32>]| -> Vec<f32> {
        (0..4)
            .map(|u| members.iter().map(|m| m[u]).sum::<f32>() / members.len() as f32)
            .collect()
    };
    let normalised = |s: Vec<f32>| {
        let m = s.iter().sum::<f32>() / s.len() as f32;
        s.iter().map(|v| v / m).collect::<Vec<f32>>()
    };
    let scores = |config: GroupPrunerConfig, criterion: Magnitude| {
        config
            .init(criterion)
            .unwrap()
            .scores(&model, &graph)
            .unwrap()[gi]
            .clone()
    };
    let squares = per_member(&|v| v * v);
    let expected_l2 = normalised(mean_of(&squares));
    close(
        &scores(GroupPrunerConfig::new(0.5), Magnitude::l2()),
        &expected_l2,
    );
    let abs = per_member(&|v: f32| v.abs());
    close(
        &scores(GroupPrunerConfig::new(0.5), Magnitude::l1()),
        &normalised(mean_of(&abs)),
    );
    // The root alone, unnormalised (`group_reduction="first"`, `normalizer=None`): Li et
    // al.'s filter norm.
    let first = GroupPrunerConfig::new(0.5)
        .with_reduction(GroupReduction::First)
        .with_normalization(GroupNormalization::None);
    close(&scores(first, Magnitude::l1()), &abs[0]);
    // The Euclidean norm keeps the root on every member: a different sum.
    let roots: Vec<Vec<f32>> = squares
        .iter()
        .map(|m| m.iter().map(|v| v.sqrt()).collect())
        .collect();
    close(
        &scores(GroupPrunerConfig::new(0.5), Magnitude::euclidean()),
        &normalised(mean_of(&roots)),
    );
    // Biases scored on request: the conv bias and the BatchNorm shift join the mean.
    let mut with_biases = squares.to_vec();
    with_biases.push(bias.iter().map(|b| b * b).collect());
    with_biases.push(beta.iter().map(|b| b * b).collect());
    close(
        &scores(
            GroupPrunerConfig::new(0.5).with_score_biases(true),
            Magnitude::l2(),
        ),
        &normalised(mean_of(&with_biases)),
    );
    // And the plan removes the two channels with the lowest of those scores.
    let mut order: Vec<usize> = (0..4).collect();
    order.sort_by(|&a, &b| expected_l2[a].total_cmp(&expected_l2[b]));
    let mut kept = order[2..].to_vec();
    kept.sort();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l2())
        .unwrap()
        .plan(&model, &graph)
        .unwrap();
    assert_eq!(plan.params["blocks.0.conv.weight"].keep[0].indices, kept);
}

#[test]
fn structural_scopes_share_the_pruners_vocabulary() {
    let device = Device::flex();
    let model = randomize_batch_norms(SmallCnn::new(&[3, 16, 12, 10], 4, &device), 4);
    let graph = cnn_graph(&model);
    let keep = |config: GroupPrunerConfig| {
        config
            .init(Magnitude::l2())
            .unwrap()
            .keep(&model, &graph)
            .unwrap()
    };
    // LAMP is one global ranking over LAMP-normalised group scores.
    assert_eq!(
        keep(GroupPrunerConfig::new(0.4).with_scope(Scope::Lamp)),
        keep(
            GroupPrunerConfig::new(0.4)
                .with_scope(Scope::Global)
                .with_normalization(GroupNormalization::Lamp)
        )
    );
    // Densities: the named layer keeps that fraction of its filters (round(0.25 · 16) = 4),
    // as the same count given with keep_channels; the others lose the ratio locally.
    let densities = std::collections::BTreeMap::from([("blocks.0.conv.weight".to_string(), 0.25)]);
    let by_density = keep(GroupPrunerConfig::new(0.5).with_scope(Scope::Densities(densities)));
    let by_count = keep(GroupPrunerConfig::new(0.5).with_keep_channels(vec![
        burn_prune::structure::KeepChannels::new("blocks.0.conv.weight", 4),
    ]));
    assert_eq!(by_density, by_count);
    let (g0, _) = graph.group_of("blocks.0.conv.weight", 0).unwrap();
    assert_eq!(by_density[g0].iter().filter(|&&k| k).count(), 4);
    let (g1, _) = graph.group_of("blocks.1.conv.weight", 0).unwrap();
    assert_eq!(by_density[g1].iter().filter(|&&k| k).count(), 6);
    // A density outside (0, 1] is refused by `init`; a path no layer has, by the plan.
    let bad = std::collections::BTreeMap::from([("blocks.0.conv.weight".to_string(), 0.0)]);
    assert!(matches!(
        GroupPrunerConfig::new(0.5)
            .with_scope(Scope::Densities(bad))
            .init(Magnitude::l2()),
        Err(PruneError::InvalidDensity { .. })
    ));
    let typo = std::collections::BTreeMap::from([("blocks.9.conv.weight".to_string(), 0.5)]);
    let err = GroupPrunerConfig::new(0.5)
        .with_scope(Scope::Densities(typo))
        .init(Magnitude::l2())
        .unwrap()
        .keep(&model, &graph)
        .unwrap_err();
    assert!(err.to_string().contains("blocks.9.conv.weight"), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]

    /// The global ranking takes the `round(ratio · free)` lowest free units over all groups,
    /// ties by group then unit, each group keeping at least one: checked against a plain sort
    /// of the pruner's own group scores.
    #[test]
    fn global_selection_takes_the_lowest_units(
        channels in proptest::collection::vec(2usize..9, 2..5),
        ratio in 0.0f64..0.95,
        seed in 0u64..1000,
    ) {
        let device = Device::flex();
        device.seed(seed);
        let mut widths = vec![3];
        widths.extend(channels);
        let model = randomize_batch_norms(SmallCnn::new(&widths, 3, &device), seed);
        let graph = cnn_graph(&model);
        let pruner = GroupPrunerConfig::new(ratio)
            .with_scope(Scope::Global)
            .init(Magnitude::l1())
            .unwrap();
        let scores = pruner.scores(&model, &graph).unwrap();
        let keep = pruner.keep(&model, &graph).unwrap();
        // By hand: every free unit in one sorted list, taken lowest first while its group
        // keeps one unit.
        let mut pool: Vec<(f32, usize, usize)> = Vec::new();
        for (gi, g) in graph.groups.iter().enumerate() {
            for u in (0..g.n_units).filter(|u| !g.pinned.contains_key(u)) {
                pool.push((scores[gi][u], gi, u));
            }
        }
        let target = (ratio * pool.len() as f64).round() as usize;
        pool.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let mut removed = vec![0usize; graph.groups.len()];
        let mut taken = 0;
        for &(_, gi, _) in &pool {
            if taken == target {
                break;
            }
            let g = &graph.groups[gi];
            if removed[gi] < (g.n_units - g.pinned.len()).min(g.n_units - 1) {
                removed[gi] += 1;
                taken += 1;
            }
        }
        for (gi, g) in graph.groups.iter().enumerate() {
            let lost = keep[gi].iter().filter(|&&k| !k).count();
            proptest::prop_assert_eq!(lost, removed[gi], "group {} of {} units", gi, g.n_units);
        }
    }
}

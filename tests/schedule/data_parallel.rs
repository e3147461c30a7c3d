//! Scheduled pruning and the training-time methods under burn-train's data-parallel strategy,
//! `ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice)`, on two CPU
//! devices (flex and ndarray): a worker thread per device forks the model and computes the
//! gradients of its part of the data; the main device sums them (the all-reduce), and the
//! optimizer step and the method's update (`TrainStep::optimize`) run there once; the next
//! step's forks carry the result to every worker.
//!
//! Checked at every optimizer step: every worker's replica carries the main model's masks
//! (and the filters soft filter pruning zeroed); pruned weights are exactly zero on every
//! worker and after the step; the summed gradients are zero at pruned positions. And the run
//! equals a single-device run on the same batches (two halves' mean losses summed) where the
//! arithmetic allows: AGP, lottery rounds and soft filter pruning on a network without batch
//! norm. Network slimming needs batch norm, whose statistics each worker takes over its own
//! half of the batch (as PyTorch's DDP without SyncBatchNorm): that run is a different
//! computation, and only the invariants are checked.

use crate::supervised::{Batch, Item, ItemBatcher, items};
use crate::task::CLASSES;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{
    BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu,
    pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig},
};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::train::metric::LossMetric;
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, Learner, MultiDeviceOptim,
    SupervisedTraining, TrainOutput, TrainStep,
};
use burn_prune::criterion::Magnitude;
use burn_prune::schedule::methods::{
    LotteryTicketConfig, NetworkSlimming, NetworkSlimmingConfig, SoftFilterPruning,
    SoftFilterPruningConfig,
};
use burn_prune::schedule::{GradualConfig, PruningStep, ScheduledPruner, ScheduledPrunerConfig};
use burn_prune::{MaskSet, ParamSnapshot, masks_of, param_addresses};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Training images; each of the two workers gets half, in batches of `BATCH`.
const IMAGES: usize = 128;
const BATCH: usize = 16;
/// Optimizer steps per epoch under data parallelism (and on one device, batches of 2·BATCH).
const STEPS_PER_EPOCH: u64 = (IMAGES / (2 * BATCH)) as u64;
const LR: f64 = 0.05;

/// What the run does besides training.
#[derive(Clone, Debug)]
enum Method {
    /// Nothing: the masks installed before training stay (a lottery round).
    Fixed,
    /// The scheduled pruner (AGP).
    Agp(Box<ScheduledPruner>),
    /// Soft filter pruning: the weakest filters zeroed after every epoch.
    SoftFilter(SoftFilterPruning),
    /// Network slimming's L1 penalty on the batch-norm scales, added to the summed gradients.
    Slimming(NetworkSlimming),
}

/// What one replica looked like.
#[derive(Clone, Debug, PartialEq)]
struct State {
    /// The installed masks.
    masks: MaskSet,
    /// The all-zero filters of every convolution.
    zero_filters: BTreeMap<String, Vec<usize>>,
    /// Weights at pruned positions that are not exactly zero.
    pruned_nonzero: usize,
}

#[derive(Clone, Debug)]
enum Event {
    /// A worker's replica before its forward pass, `step` optimizer steps done.
    Worker {
        step: u64,
        device: String,
        state: State,
    },
    /// The main model after optimizer step `step` and the method's update; gradient
    /// entries at pruned positions that were not zero after the all-reduce.
    Main {
        step: u64,
        state: State,
        pruned_gradients: usize,
    },
}

/// The events of a run, shared by every replica.
#[derive(Clone, Debug, Default)]
struct Log(Arc<Mutex<Vec<Event>>>);

impl Log {
    fn push(&self, e: Event) {
        self.0.lock().unwrap().push(e);
    }
    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Module, Debug)]
pub struct Block {
    conv: Conv2d,
    bn: Option<BatchNorm>,
    act: Relu,
}

#[derive(Module, Debug)]
pub struct Net {
    blocks: Vec<Block>,
    pool: AdaptiveAvgPool2d,
    fc: Linear,
    step: PruningStep,
    #[module(skip)]
    method: Method,
    #[module(skip)]
    log: Log,
    /// The loss is multiplied by this (2 on one device, so that its gradient is the sum of
    /// the two halves' gradients, as the all-reduce computes it).
    #[module(skip)]
    loss_scale: f32,
}

impl Net {
    fn new(batch_norm: bool, method: Method, device: &Device) -> Self {
        let channels = [3, 8, 12];
        let blocks = channels
            .windows(2)
            .map(|w| Block {
                conv: Conv2dConfig::new([w[0], w[1]], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
                bn: batch_norm.then(|| BatchNormConfig::new(w[1]).init(device)),
                act: Relu::new(),
            })
            .collect();
        Self {
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(channels[2], CLASSES).init(device),
            step: PruningStep::new(device),
            method,
            log: Log::default(),
            loss_scale: 1.0,
        }
    }

    fn classify(&self, b: Batch) -> ClassificationOutput {
        let mut x = b.x;
        for block in &self.blocks {
            x = block.conv.forward(x);
            if let Some(bn) = &block.bn {
                x = bn.forward(x);
            }
            x = block.act.forward(x);
        }
        let [n, c, _, _] = x.dims();
        let out = self.fc.forward(self.pool.forward(x).reshape([n, c]));
        let loss = CrossEntropyLossConfig::new()
            .init(&out.device())
            .forward(out.clone(), b.y.clone())
            .mul_scalar(self.loss_scale);
        ClassificationOutput::new(loss, out, b.y)
    }
}

impl TrainStep for Net {
    type Input = Batch;
    type Output = ClassificationOutput;
    /// On every worker, on its fork of the model.
    fn step(&self, b: Batch) -> TrainOutput<ClassificationOutput> {
        self.log.push(Event::Worker {
            step: self.step.get(),
            device: format!("{:?}", self.fc.weight.device()),
            state: state(self),
        });
        let out = self.classify(b);
        TrainOutput::new(self, out.loss.backward(), out)
    }

    /// On the main device, once per step, with the gradients summed over the workers.
    fn optimize(
        self,
        optim: &mut ModuleOptimizer,
        lr: ModuleLearningRate,
        grads: GradientsParams,
    ) -> Self {
        let pruned_gradients = pruned_gradient_entries(&self, &grads);
        let grads = match &self.method {
            Method::Slimming(s) => s.add_penalty(&self, grads).unwrap(),
            _ => grads,
        };
        let mut net = optim.step(lr, self, grads);
        let step = net.step.advance();
        let method = net.method.clone();
        net = match method {
            Method::Fixed | Method::Slimming(_) => net,
            Method::Agp(pruner) => pruner.update(net, step).unwrap().0,
            Method::SoftFilter(sfp) if step.is_multiple_of(STEPS_PER_EPOCH) => {
                sfp.zero_filters(net).unwrap().0
            }
            Method::SoftFilter(_) => net,
        };
        net.log.push(Event::Main {
            step,
            state: state(&net),
            pruned_gradients,
        });
        net
    }
}

impl InferenceStep for Net {
    type Input = Batch;
    type Output = ClassificationOutput;
    fn step(&self, b: Batch) -> ClassificationOutput {
        self.classify(b)
    }
}

/// Every float parameter's stored value, by id.
fn values<M: Module>(model: &M) -> HashMap<ParamId, Vec<f32>> {
    struct Read(HashMap<ParamId, Vec<f32>>);
    impl ModuleVisitor for Read {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let v = param
                .val()
                .into_data()
                .convert::<f32>()
                .try_to_vec()
                .unwrap();
            self.0.insert(param.id, v);
        }
    }
    let mut read = Read(HashMap::new());
    model.visit(&mut read);
    read.0
}

fn state(net: &Net) -> State {
    let masks = masks_of(net).unwrap();
    // The effective values: a visitor sees a masked parameter's base.
    let values = values(&net.clone().materialize());
    let mut zero_filters = BTreeMap::new();
    let mut pruned_nonzero = 0;
    for p in param_addresses(net) {
        let v = &values[&p.id];
        if let Some(mask) = masks.get(&p.path) {
            let keep = mask.keep.to_bools();
            pruned_nonzero += keep
                .iter()
                .zip(v)
                .filter(|(k, x)| !**k && **x != 0.0)
                .count();
        }
        if p.shape.len() == 4 {
            let per = v.len() / p.shape[0];
            let zero: Vec<usize> = (0..p.shape[0])
                .filter(|&f| v[f * per..(f + 1) * per].iter().all(|x| *x == 0.0))
                .collect();
            zero_filters.insert(p.path.clone(), zero);
        }
    }
    State {
        masks,
        zero_filters,
        pruned_nonzero,
    }
}

/// Entries of the summed gradients at pruned positions that are not exactly zero.
fn pruned_gradient_entries(net: &Net, grads: &GradientsParams) -> usize {
    let masks = masks_of(net).unwrap();
    let mut count = 0;
    for p in param_addresses(net) {
        let Some(mask) = masks.get(&p.path) else {
            continue;
        };
        let data = match p.shape.len() {
            1 => grads.get::<1>(p.id).map(|g| g.into_data()),
            2 => grads.get::<2>(p.id).map(|g| g.into_data()),
            4 => grads.get::<4>(p.id).map(|g| g.into_data()),
            r => panic!("rank {r}"),
        };
        let g = data.unwrap().convert::<f32>().try_to_vec::<f32>().unwrap();
        let keep = mask.keep.to_bools();
        count += keep
            .iter()
            .zip(&g)
            .filter(|(k, x)| !**k && **x != 0.0)
            .count();
    }
    count
}

/// `epochs` epochs of SGD on `data` under `strategy`, `batch` images per device and step.
fn train(
    net: Net,
    strategy: ExecutionStrategy,
    data: Vec<Item>,
    batch: usize,
    epochs: usize,
    name: &str,
) -> Net {
    let device = net.fc.weight.device();
    let loader = |items: Vec<Item>, batch: usize| {
        DataLoaderBuilder::new(ItemBatcher)
            .batch_size(batch)
            .set_device(device.clone())
            .build(InMemDataset::new(items))
    };
    let train = loader(data, batch);
    let valid = loader(items(32, 2), 32);
    let dir = std::env::temp_dir().join(format!("burn-prune-dp-{name}-{}", std::process::id()));
    let result = SupervisedTraining::new(&dir, train, valid)
        .metrics((LossMetric::new(),))
        .with_training_strategy(strategy.into())
        .num_epochs(epochs)
        .launch(Learner::new(net, SgdConfig::new().init(), LR));
    std::fs::remove_dir_all(&dir).ok();
    assert!(result.error.is_none(), "{:?}", result.error);
    // The learner returns the model in validation mode: back to training for what follows.
    result.model.train()
}

#[allow(deprecated)] // `Device::ndarray`: the second CPU backend
fn devices() -> Vec<Device> {
    vec![Device::flex().autodiff(), Device::ndarray().autodiff()]
}

/// `net` trained on two devices (flex and ndarray), data-parallel: each gets one half of
/// `data`.
fn data_parallel(net: Net, data: Vec<Item>, epochs: usize, name: &str) -> Net {
    data_parallel_on(devices(), net, data, epochs, name)
}

/// [`data_parallel`] on `devices`.
fn data_parallel_on(
    devices: Vec<Device>,
    net: Net,
    data: Vec<Item>,
    epochs: usize,
    name: &str,
) -> Net {
    let strategy = ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice);
    train(net, strategy, data, BATCH, epochs, name)
}

/// `net` trained on one device on the same steps: batch `i` is the two workers' batches `i`
/// (the halves of `data`), and the loss is doubled (the all-reduce sums two mean losses'
/// gradients).
fn single_device(mut net: Net, data: Vec<Item>, epochs: usize, name: &str) -> Net {
    let (a, b) = data.split_at(data.len() / 2);
    let joined = a
        .chunks(BATCH)
        .zip(b.chunks(BATCH))
        .flat_map(|(x, y)| x.iter().chain(y).cloned())
        .collect();
    net.loss_scale = 2.0;
    let device = net.fc.weight.device();
    train(
        net,
        ExecutionStrategy::single(device),
        joined,
        2 * BATCH,
        epochs,
        name,
    )
}

/// The invariants of a data-parallel run's log: two workers per step on two devices, both
/// carrying the main model's state after the previous step (`initial` before the first);
/// nothing pruned is non-zero, on any worker or after any step, gradients included.
fn check_log(log: &Log, initial: &State, steps: u64) {
    let events = log.events();
    let mut main: BTreeMap<u64, State> = BTreeMap::new();
    main.insert(0, initial.clone());
    let mut workers: BTreeMap<u64, Vec<(String, State)>> = BTreeMap::new();
    for e in events {
        match e {
            Event::Main {
                step,
                state,
                pruned_gradients,
            } => {
                assert_eq!(pruned_gradients, 0, "step {step}: pruned gradients");
                assert_eq!(state.pruned_nonzero, 0, "step {step}: pruned weights");
                main.insert(step, state);
            }
            Event::Worker {
                step,
                device,
                state,
            } => workers.entry(step).or_default().push((device, state)),
        }
    }
    assert_eq!(main.len() as u64, steps + 1, "every step logged");
    assert_eq!(workers.len() as u64, steps, "every step's workers logged");
    for (step, replicas) in &workers {
        let devices: BTreeSet<&str> = replicas.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(replicas.len(), 2, "step {step}: {devices:?}");
        assert_eq!(devices.len(), 2, "step {step}: two devices");
        for (device, state) in replicas {
            assert_eq!(state.pruned_nonzero, 0, "step {step} on {device}");
            assert_eq!(
                state, &main[step],
                "step {step}: {device}'s replica differs from the main model"
            );
        }
    }
}

/// Masks equal, and every value within `tolerance` (relative to the largest value).
fn assert_same_result(a: &Net, b: &Net, tolerance: f32) {
    assert_eq!(masks_of(a).unwrap(), masks_of(b).unwrap(), "masks");
    let (pa, pb) = (
        ParamSnapshot::capture(a).unwrap(),
        ParamSnapshot::capture(b).unwrap(),
    );
    for path in pa.paths() {
        let x = pa.get(path).unwrap().try_to_vec::<f32>().unwrap();
        let y = pb.get(path).unwrap().try_to_vec::<f32>().unwrap();
        let scale = x.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let diff = x
            .iter()
            .zip(&y)
            .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
        assert!(diff <= tolerance * scale, "{path}: differs by {diff}");
    }
}

fn fresh(batch_norm: bool, method: Method, seed: u64) -> Net {
    let device = Device::flex().autodiff();
    let net = burn_prune::models::initialized(Net::new(batch_norm, method, &device));
    // Values from a generator of the test's own: the device's generator is shared with the
    // tests running beside this one, so two models built from one device seed can differ.
    let mut rng = StdRng::seed_from_u64(seed);
    let built = ParamSnapshot::capture(&net).unwrap();
    let values = built
        .paths()
        .map(|path| {
            let shape = built.get(path).unwrap().shape().to_vec();
            let n = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.random_range(-0.5..0.5)).collect();
            (path.to_string(), TensorData::new(v, shape))
        })
        .collect();
    ParamSnapshot::from_values(values).restore(net).unwrap()
}

/// Float tolerance between the two runs: the same arithmetic in another order, on flex and
/// ndarray (measured: at most 8e-8 of the largest weight).
const TOLERANCE: f32 = 1e-5;

/// AGP to 70% in 4 updates, every 2 steps from step 2.
fn agp() -> Method {
    let pruner = ScheduledPrunerConfig::new(
        GradualConfig::agp(0.7, 4)
            .with_interval(2)
            .with_begin(2)
            .into(),
    )
    .init(Magnitude::l1())
    .unwrap();
    Method::Agp(Box::new(pruner))
}

#[test]
fn agp_under_data_parallel_training() {
    let net = fresh(false, agp(), 11);
    let initial = state(&net);
    let log = net.log.clone();
    let parallel = data_parallel(net, items(IMAGES, 1), 3, "agp");
    check_log(&log, &initial, 3 * STEPS_PER_EPOCH);
    let (total, pruned) = masks_of(&parallel).unwrap().counts();
    assert!((pruned as f64 / total as f64 - 0.7).abs() < 0.01);

    let single = single_device(fresh(false, agp(), 11), items(IMAGES, 1), 3, "agp-1");
    assert_same_result(&parallel, &single, TOLERANCE);
}

#[test]
fn lottery_rounds_under_data_parallel_training() {
    let lottery = LotteryTicketConfig::new().init().unwrap();
    let mut runs = Vec::new();
    for parallel in [true, false] {
        let mut net = fresh(false, Method::Fixed, 12);
        let at_init = ParamSnapshot::capture(&net).unwrap();
        for round in 1..=2 {
            net.step.set(0); // every round trains from step 0
            let initial = state(&net);
            let log = Log::default();
            net.log = log.clone();
            let name = format!("lottery-{round}-{parallel}");
            net = if parallel {
                let trained = data_parallel(net, items(IMAGES, 1), 2, &name);
                check_log(&log, &initial, 2 * STEPS_PER_EPOCH);
                trained
            } else {
                single_device(net, items(IMAGES, 1), 2, &name)
            };
            net.loss_scale = 1.0;
            net = lottery.next_round(net, &at_init).unwrap().0;
        }
        // The ticket (two rounds: 36% pruned) trained once more.
        let log = Log::default();
        net.log = log.clone();
        net.step.set(0);
        let initial = state(&net);
        assert!(!initial.masks.is_empty());
        net = if parallel {
            let trained = data_parallel(net, items(IMAGES, 1), 1, "ticket");
            check_log(&log, &initial, STEPS_PER_EPOCH);
            trained
        } else {
            single_device(net, items(IMAGES, 1), 1, "ticket-1")
        };
        runs.push(net);
    }
    assert_same_result(&runs[0], &runs[1], TOLERANCE);
}

#[test]
fn soft_filter_pruning_under_data_parallel_training() {
    let sfp = || Method::SoftFilter(SoftFilterPruningConfig::new(0.75).init().unwrap());
    let net = fresh(false, sfp(), 13);
    let initial = state(&net);
    let log = net.log.clone();
    let parallel = data_parallel(net, items(IMAGES, 1), 3, "sfp");
    check_log(&log, &initial, 3 * STEPS_PER_EPOCH);
    // After the last epoch's zeroing, a quarter of every convolution's filters are zero.
    let last = state(&parallel);
    assert_eq!(last.zero_filters["blocks.0.conv.weight"].len(), 2);
    assert_eq!(last.zero_filters["blocks.1.conv.weight"].len(), 3);

    let single = single_device(fresh(false, sfp(), 13), items(IMAGES, 1), 3, "sfp-1");
    assert_same_result(&parallel, &single, TOLERANCE);
}

#[test]
fn slimming_under_data_parallel_training() {
    let slimming = || {
        Method::Slimming(
            NetworkSlimmingConfig::new(0.5)
                .with_penalty(1e-3)
                .init()
                .unwrap(),
        )
    };
    let net = fresh(true, slimming(), 14);
    let initial = state(&net);
    let log = net.log.clone();
    data_parallel(net, items(IMAGES, 1), 2, "slimming");
    check_log(&log, &initial, 2 * STEPS_PER_EPOCH);
    // The penalty is added once per step, to the summed gradients (not once per worker):
    // one step from the same start with and without it moves the batch-norm scales apart
    // by exactly one step of the penalty, lr·λ·sign(γ).
    let gammas = |net: &Net| -> Vec<f32> {
        net.blocks
            .iter()
            .flat_map(|b| {
                let bn = b.bn.as_ref().unwrap();
                bn.gamma.val().into_data().try_to_vec::<f32>().unwrap()
            })
            .collect()
    };
    let one_step = |method: Method, name: &str| {
        gammas(&data_parallel(
            fresh(true, method, 15),
            items(2 * BATCH, 3),
            1,
            name,
        ))
    };
    let start = gammas(&fresh(true, Method::Fixed, 15));
    let with = one_step(slimming(), "slimming-step");
    let without = one_step(Method::Fixed, "plain-step");
    for ((g, a), b) in start.iter().zip(&with).zip(&without) {
        let expected = -(LR * 1e-3) as f32 * g.signum();
        assert!(
            ((a - b) - expected).abs() <= 1e-6,
            "scale {g}: moved {} by the penalty, expected {expected}",
            a - b
        );
    }
}

/// The same AGP run with a GPU worker (wgpu) beside the CPU's: the same invariants, and the
/// result of the flex + ndarray run.
#[cfg(feature = "wgpu")]
#[test]
#[ignore = "needs a Vulkan driver (lavapipe); run by .ci/run with --features wgpu -- --ignored"]
fn agp_under_data_parallel_training_with_a_wgpu_worker() {
    let devices = vec![
        Device::flex().autodiff(),
        Device::wgpu(DeviceKind::DefaultDevice).autodiff(),
    ];
    let net = fresh(false, agp(), 11);
    let initial = state(&net);
    let log = net.log.clone();
    let with_gpu = data_parallel_on(devices, net, items(IMAGES, 1), 3, "agp-wgpu");
    check_log(&log, &initial, 3 * STEPS_PER_EPOCH);
    let cpus = data_parallel(fresh(false, agp(), 11), items(IMAGES, 1), 3, "agp-cpus");
    assert_same_result(&with_gpu, &cpus, 1e-4);
}

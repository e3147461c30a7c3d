//! The scheduled pruner inside burn-train's `SupervisedTraining`, through
//! `TrainStep::optimize` and a `PruningStep` kept in the model, on one device and on two.

use crate::task::{CLASSES, SIZE, quadrants};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, Learner, MultiDeviceOptim,
    SupervisedTraining, TrainOutput, TrainStep,
};
use burn_prune::criterion::Magnitude;
use burn_prune::masks_of;
use burn_prune::schedule::{GradualConfig, PruningStep, ScheduledPruner, ScheduledPrunerConfig};

#[derive(Module, Debug)]
pub struct Net {
    conv: Conv2d,
    act: Relu,
    fc: Linear,
    step: PruningStep,
    #[module(skip)]
    pruner: ScheduledPruner,
}

impl Net {
    fn new(pruner: ScheduledPruner, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([3, 6], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            act: Relu::new(),
            fc: LinearConfig::new(6 * SIZE * SIZE, CLASSES).init(device),
            step: PruningStep::new(device),
            pruner,
        }
    }

    fn classify(&self, b: Batch) -> ClassificationOutput {
        let x = self.act.forward(self.conv.forward(b.x));
        let [n, c, h, w] = x.dims();
        let out = self.fc.forward(x.reshape([n, c * h * w]));
        let loss = CrossEntropyLossConfig::new()
            .init(&out.device())
            .forward(out.clone(), b.y.clone());
        ClassificationOutput::new(loss, out, b.y)
    }
}

impl TrainStep for Net {
    type Input = Batch;
    type Output = ClassificationOutput;
    fn step(&self, b: Batch) -> TrainOutput<ClassificationOutput> {
        let out = self.classify(b);
        TrainOutput::new(self, out.loss.backward(), out)
    }
    // The documented hook: optimizer step, count it, let the schedule update the masks.
    fn optimize(
        self,
        optim: &mut ModuleOptimizer,
        lr: ModuleLearningRate,
        grads: GradientsParams,
    ) -> Self {
        let mut net = optim.step(lr, self, grads);
        let step = net.step.advance();
        let pruner = net.pruner.clone();
        pruner.update(net, step).expect("checked before training").0
    }
}

impl InferenceStep for Net {
    type Input = Batch;
    type Output = ClassificationOutput;
    fn step(&self, b: Batch) -> ClassificationOutput {
        self.classify(b)
    }
}

#[derive(Clone, Debug)]
pub struct Batch {
    pub x: Tensor<4>,
    pub y: Tensor<1, Int>,
}

#[derive(Clone, Debug)]
pub struct Item {
    x: Vec<f32>,
    y: i64,
}

pub struct ItemBatcher;
impl Batcher<Item, Batch> for ItemBatcher {
    fn batch(&self, items: Vec<Item>, device: &Device) -> Batch {
        let n = items.len();
        let xs: Vec<f32> = items.iter().flat_map(|i| i.x.iter().copied()).collect();
        let ys: Vec<i64> = items.iter().map(|i| i.y).collect();
        Batch {
            x: Tensor::<4>::from_data(TensorData::new(xs, [n, 3, SIZE, SIZE]), device),
            y: Tensor::<1, Int>::from_data(TensorData::new(ys, [n]), device),
        }
    }
}

pub fn items(n: usize, seed: u64) -> Vec<Item> {
    let (x, y) = quadrants(n, seed, &Device::flex());
    let x = x.into_data().try_into_vec_as::<f32>().unwrap();
    let y = y.into_data().try_into_vec_as::<i64>().unwrap();
    let per = 3 * SIZE * SIZE;
    (0..n)
        .map(|i| Item {
            x: x[i * per..(i + 1) * per].to_vec(),
            y: y[i],
        })
        .collect()
}

/// Train 4 epochs of 8 batches of 16 (32 optimizer steps) under `strategy`, AGP to 70% with
/// updates every 4 steps from step 4 to 28. Returns the trained model.
fn run(strategy: ExecutionStrategy, devices: &[Device], name: &str) -> Net {
    let device = devices[0].clone();
    device.seed(21);
    let pruner = ScheduledPrunerConfig::new(
        GradualConfig::agp(0.7, 6)
            .with_interval(4)
            .with_begin(4)
            .into(),
    )
    .init(Magnitude::l1())
    .unwrap();
    let net = Net::new(pruner, &device);
    let loader = |items: Vec<Item>, batch: usize, device: &Device| {
        DataLoaderBuilder::new(ItemBatcher)
            .batch_size(batch)
            .set_device(device.clone())
            .build(InMemDataset::new(items))
    };
    let train = loader(items(128, 1), 16, &device);
    let valid = loader(items(64, 2), 64, &device);
    let dir = std::env::temp_dir().join(format!("burn-prune-{name}-{}", std::process::id()));
    let result = SupervisedTraining::new(&dir, train, valid)
        .metrics((LossMetric::new(), AccuracyMetric::new()))
        .with_training_strategy(strategy.into())
        .num_epochs(4)
        .launch(Learner::new(net, AdamConfig::new().init(), 1e-2));
    std::fs::remove_dir_all(&dir).ok();
    assert!(result.error.is_none(), "{:?}", result.error);
    let _ = devices;
    result.model
}

fn check(net: &Net, steps: u64) {
    assert_eq!(net.step.get(), steps, "every optimizer step counted");
    let masks = masks_of(net).unwrap();
    let (total, pruned) = masks.counts();
    let target = 0.7 * total as f64;
    assert!(
        (pruned as f64 - target).abs() <= 1.0,
        "{pruned} of {total} pruned"
    );
    let w = net
        .conv
        .weight
        .val()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let keep = masks.get("conv.weight").unwrap().keep.to_bools();
    assert!(keep.iter().zip(&w).all(|(&k, &v)| k || v == 0.0));
}

#[test]
fn supervised_training_follows_the_schedule_through_train_step_optimize() {
    let device = Device::flex().autodiff();
    let net = run(
        ExecutionStrategy::single(device.clone()),
        &[device],
        "sched-single",
    );
    check(&net, 32);
    // The learned model classifies held-out data at 70% sparsity.
    let (x, y) = quadrants(128, 3, &Device::flex());
    let logits = {
        let net = net.valid();
        let h = net.act.forward(net.conv.forward(x));
        let [n, c, hh, ww] = h.dims();
        net.fc.forward(h.reshape([n, c * hh * ww]))
    };
    let correct = logits
        .argmax(1)
        .reshape([128])
        .equal(y)
        .int()
        .sum()
        .into_scalar::<i64>();
    assert!(correct as f64 / 128.0 >= 0.9, "{correct}/128");
}

#[test]
#[allow(deprecated)] // `Device::ndarray`: the second CPU backend
fn two_cpu_devices_reach_the_same_masks_as_the_step_count_says() {
    // Two CPU devices: flex and ndarray. The batches are split between them, the gradients
    // gathered on the main device, and the optimizer (with the pruning hook) runs there.
    let devices = vec![Device::flex().autodiff(), Device::ndarray().autodiff()];
    let net = run(
        ExecutionStrategy::multi(devices.clone(), MultiDeviceOptim::OptimMainDevice),
        &devices,
        "sched-multi",
    );
    // 8 batches per epoch over 2 devices: 4 optimizer steps per epoch, 16 in all: the last
    // update (step 28) is not reached; the schedule's value at step 16 is what holds.
    let schedule = GradualConfig::agp(0.7, 6)
        .with_interval(4)
        .with_begin(4)
        .init()
        .unwrap();
    use burn_prune::schedule::SparsitySchedule;
    assert_eq!(net.step.get(), 16);
    let masks = masks_of(&net).unwrap();
    let (total, pruned) = masks.counts();
    let target = schedule.sparsity(16) * total as f64;
    assert!(
        (pruned as f64 - target).abs() <= 1.0,
        "{pruned} of {total}, target {target}"
    );
}

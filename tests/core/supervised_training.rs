//! Masked training through burn-train's `SupervisedTraining`.

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::optim::AdamWConfig;
use burn::prelude::*;
use burn::train::metric::LossMetric;
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, Learner, SupervisedTraining,
    TrainOutput, TrainStep,
};
use burn_prune::criterion::Magnitude;
use burn_prune::{PrunerConfig, masks_of};

use crate::common::host_floats;

#[derive(Module, Debug)]
pub struct Net {
    conv: Conv2d,
    act: Relu,
    fc: Linear,
}

impl Net {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.act.forward(self.conv.forward(x));
        let [n, c, h, w] = x.dims();
        self.fc.forward(x.reshape([n, c * h * w]))
    }
    fn classify(&self, b: Batch) -> ClassificationOutput {
        let out = self.forward(b.x);
        let loss = CrossEntropyLossConfig::new()
            .init(&out.device())
            .forward(out.clone(), b.y.clone());
        ClassificationOutput::new(loss, out, b.y)
    }
}

#[derive(Clone, Debug)]
pub struct Batch {
    x: Tensor<4>,
    y: Tensor<1, Int>,
}

#[derive(Clone, Debug)]
pub struct Item {
    x: Vec<f32>,
    y: i64,
}

struct ItemBatcher;
impl Batcher<Item, Batch> for ItemBatcher {
    fn batch(&self, items: Vec<Item>, device: &Device) -> Batch {
        let n = items.len();
        let xs: Vec<f32> = items.iter().flat_map(|i| i.x.iter().copied()).collect();
        let ys: Vec<i64> = items.iter().map(|i| i.y).collect();
        Batch {
            x: Tensor::<4>::from_data(TensorData::new(xs, [n, 1, 6, 6]), device),
            y: Tensor::<1, Int>::from_data(TensorData::new(ys, [n]), device),
        }
    }
}

impl TrainStep for Net {
    type Input = Batch;
    type Output = ClassificationOutput;
    fn step(&self, b: Batch) -> TrainOutput<ClassificationOutput> {
        let out = self.classify(b);
        TrainOutput::new(self, out.loss.backward(), out)
    }
}

impl InferenceStep for Net {
    type Input = Batch;
    type Output = ClassificationOutput;
    fn step(&self, b: Batch) -> ClassificationOutput {
        self.classify(b)
    }
}

#[test]
fn supervised_training_keeps_pruned_weights_at_zero() {
    let device = Device::flex().autodiff();
    device.seed(1);
    let net = Net {
        conv: Conv2dConfig::new([1, 4], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&device),
        act: Relu::new(),
        fc: LinearConfig::new(4 * 36, 2).init(&device),
    };
    let (net, masks) = PrunerConfig::new(0.6)
        .init(Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap();
    let conv_before: Vec<f32> = net.conv.weight.val().into_data().try_into_vec_as().unwrap();

    // 64 items, batch 8: 8 steps per epoch, 7 epochs = 56 optimizer steps.
    let items: Vec<Item> = (0..64)
        .map(|i| {
            let x = host_floats(36, i);
            let y = (x.iter().sum::<f32>() > 0.0) as i64;
            Item { x, y }
        })
        .collect();
    let train = DataLoaderBuilder::new(ItemBatcher)
        .batch_size(8)
        .set_device(device.clone())
        .build(InMemDataset::new(items.clone()));
    let valid = DataLoaderBuilder::new(ItemBatcher)
        .batch_size(32)
        .set_device(device.clone())
        .build(InMemDataset::new(items));
    let dir = std::env::temp_dir().join(format!("burn-prune-supervised-{}", std::process::id()));
    let result = SupervisedTraining::new(&dir, train, valid)
        .metrics((LossMetric::new(),))
        .with_training_strategy(ExecutionStrategy::single(device.clone()).into())
        .num_epochs(7)
        .launch(Learner::new(
            net,
            AdamWConfig::new().with_weight_decay(0.05).init(),
            1e-2,
        ));
    std::fs::remove_dir_all(&dir).ok();
    let trained = result.model;

    let installed = masks_of(&trained).unwrap();
    assert_eq!(
        installed.counts(),
        masks.counts(),
        "the masks survive training"
    );
    let conv_after: Vec<f32> = trained
        .conv
        .weight
        .val()
        .into_data()
        .try_into_vec_as()
        .unwrap();
    let keep = masks.get("conv.weight").unwrap().keep.to_bools();
    let mut moved = 0;
    for i in 0..keep.len() {
        if keep[i] {
            moved += (conv_after[i] != conv_before[i]) as usize;
        } else {
            assert_eq!(conv_after[i].to_bits(), 0f32.to_bits(), "conv.weight[{i}]");
        }
    }
    assert!(moved > 0, "kept weights trained");
    let fc_keep = masks.get("fc.weight").unwrap().keep.to_bools();
    let fc: Vec<f32> = trained
        .fc
        .weight
        .val()
        .into_data()
        .try_into_vec_as()
        .unwrap();
    for (i, k) in fc_keep.iter().enumerate() {
        if !k {
            assert_eq!(fc[i], 0.0, "fc.weight[{i}]");
        }
    }
}

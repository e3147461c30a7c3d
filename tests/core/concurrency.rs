//! Tracing, planning, compacting and masking several models from several threads at once
//! gives what the same work gives one model at a time (the capture device is shared).

use crate::common::{SmallCnn, values};
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::models::{ResNetCifar, ResNetCifarConfig, initialized};
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupPrunerConfig, StructuralPlan, trace,
};
use burn_prune::{MaskSet, PrunerConfig, Scope};

/// The models: two ResNet-20s and two small CNNs, each with weights of its own.
#[derive(Clone)]
enum Job {
    ResNet(Box<ResNetCifar>),
    Cnn(SmallCnn),
}

/// What one job produces: the structural plan, the compacted model's output on a fixed
/// input, and global magnitude masks.
type Outcome = (StructuralPlan, Vec<f32>, MaskSet);

fn jobs(device: &Device) -> Vec<Job> {
    (0..4)
        .map(|i| {
            device.seed(100 + i);
            if i % 2 == 0 {
                let model = ResNetCifarConfig::new(20).init(device).unwrap();
                Job::ResNet(Box::new(initialized(model)))
            } else {
                Job::Cnn(initialized(SmallCnn::new(
                    &[3, 8 + 4 * i as usize, 16],
                    10,
                    device,
                )))
            }
        })
        .collect()
}

fn prune<M: Module>(model: &M, forward: impl Fn(&M, Tensor<4>) -> Tensor<2> + Copy) -> Outcome {
    let device = Device::flex();
    let traced = trace(model, [1, 3, 16, 16], forward).unwrap();
    let graph = DependencyGraph::build(&traced, &GraphOptions::default()).unwrap();
    let plan = GroupPrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .plan(model, &graph)
        .unwrap();
    let small = plan.apply(model.clone()).unwrap();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            crate::common::host_floats(2 * 3 * 16 * 16, 5),
            [2, 3, 16, 16],
        ),
        &device,
    );
    let out = values(forward(&small, x));
    let masks = PrunerConfig::new(0.7)
        .with_scope(Scope::Global)
        .init(Magnitude::l1())
        .unwrap()
        .masks(model)
        .unwrap();
    (plan, out, masks)
}

fn run(job: &Job) -> Outcome {
    match job {
        Job::ResNet(m) => prune(m.as_ref(), |m: &ResNetCifar, x| m.forward(x)),
        Job::Cnn(m) => prune(m, |m: &SmallCnn, x| m.forward(x)),
    }
}

#[test]
fn threads_at_once_equal_one_at_a_time() {
    let jobs = jobs(&Device::flex());
    let sequential: Vec<Outcome> = jobs.iter().map(run).collect();
    for round in 0..3 {
        let concurrent: Vec<Outcome> = std::thread::scope(|s| {
            let handles: Vec<_> = jobs.iter().map(|j| s.spawn(move || run(j))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (a, b)) in sequential.iter().zip(&concurrent).enumerate() {
            assert_eq!(a.0, b.0, "round {round}, job {i}: plan");
            assert_eq!(a.1, b.1, "round {round}, job {i}: compacted output");
            assert_eq!(a.2, b.2, "round {round}, job {i}: masks");
        }
    }
}

//! The option-A shortcut: subsample, then exactly-zero padded channels with constant amounts.

use burn::prelude::*;
use burn_prune_models::*;

use crate::device;

#[test]
fn zero_pad_shortcut_by_hand() {
    let d = device();
    // [1, 2, 4, 4], values 1..=32 (channel 0: 1..=16, channel 1: 17..=32).
    let x = Tensor::<1>::from_data(
        TensorData::new((1..=32).map(|v| v as f32).collect::<Vec<_>>(), [32]),
        &d,
    )
    .reshape([1, 2, 4, 4]);
    let shortcut = ZeroPadShortcut::new(2, 4, 2).unwrap();
    assert_eq!((shortcut.pad_before, shortcut.pad_after), (1, 1));
    let y = shortcut.forward(x);
    assert_eq!(y.dims(), [1, 4, 2, 2]);
    let values = y.into_data().try_to_vec::<f32>().unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0.0, 0.0, 0.0, 0.0, // padded channel
        1.0, 3.0, 9.0, 11.0, // x[0, 0, ::2, ::2]
        17.0, 19.0, 25.0, 27.0, // x[0, 1, ::2, ::2]
        0.0, 0.0, 0.0, 0.0, // padded channel
    ];
    assert_eq!(values, expected);
}

#[test]
fn padded_channels_are_exactly_zero_for_any_input() {
    let d = device();
    let shortcut = ZeroPadShortcut::new(16, 32, 2).unwrap();
    // Non-finite inputs stay in their channels; the padding is still exactly 0.
    let x = Tensor::<4>::full([2, 16, 8, 8], f32::NAN, &d);
    let y = shortcut.forward(x);
    assert_eq!(y.dims(), [2, 32, 4, 4]);
    let zeros = |range: std::ops::Range<usize>| {
        y.clone()
            .slice([0..2, range, 0..4, 0..4])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .all(|v| v == 0.0 && v.is_sign_positive())
    };
    assert!(zeros(0..8));
    assert!(zeros(24..32));
    let middle = y
        .slice([0..2, 8..24, 0..4, 0..4])
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(middle.iter().all(|v| v.is_nan()));
}

#[test]
fn uneven_padding_and_no_subsampling() {
    let d = device();
    let shortcut = ZeroPadShortcut::new(3, 6, 1).unwrap();
    assert_eq!(
        (shortcut.stride, shortcut.pad_before, shortcut.pad_after),
        (1, 1, 2)
    );
    let y = shortcut.forward(Tensor::<4>::ones([1, 3, 5, 5], &d));
    assert_eq!(y.dims(), [1, 6, 5, 5]);
    let sums = y
        .sum_dim(3)
        .sum_dim(2)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(sums, vec![0.0, 25.0, 25.0, 25.0, 0.0, 0.0]);
}

#[test]
fn odd_sizes_subsample_like_python_slicing() {
    let shortcut = ZeroPadShortcut::new(1, 1, 2).unwrap();
    let y = shortcut.forward(Tensor::<4>::ones([1, 1, 7, 5], &device()));
    assert_eq!(y.dims(), [1, 1, 4, 3]); // len(range(0, 7, 2)) = 4, len(range(0, 5, 2)) = 3
}

#[test]
fn resnet_option_a_stores_constant_pad_amounts() {
    let model = ResNetCifarConfig::li_pruned_b(56)
        .unwrap()
        .init(&device())
        .unwrap();
    let pads: Vec<(usize, usize, usize)> = model
        .layer1
        .iter()
        .chain(&model.layer2)
        .chain(&model.layer3)
        .filter_map(|b| match &b.shortcut {
            Shortcut::ZeroPad(s) => Some((s.stride, s.pad_before, s.pad_after)),
            Shortcut::Identity(_) => None,
            Shortcut::Projection(_) => panic!("option A has no projection"),
        })
        .collect();
    // 16 → 32 and 32 → 64, whatever the (pruned) inner widths.
    assert_eq!(pads, vec![(2, 8, 8), (2, 16, 16)]);
    // Layer 20 (block 0 of stage 2) is kept at 32; layer 22 is pruned to int(32 · 0.7) = 22.
    assert_eq!(model.layer2[0].conv1.conv.weight.dims(), [32, 16, 3, 3]);
    assert_eq!(model.layer2[1].conv1.conv.weight.dims(), [22, 32, 3, 3]);
    assert_eq!(model.layer2[1].conv2.conv.weight.dims(), [32, 22, 3, 3]);
}

#[test]
fn downsampling_block_adds_the_padded_shortcut() {
    // With both BN of the residual branch scaled to 0 (γ = β = 0), the block output is
    // relu(shortcut(x)): the subsampled input in the middle channels, zeros around it.
    let d = device();
    let mut block = BasicBlock::new(2, 3, 4, 2, ShortcutKind::A, &d).unwrap();
    let zero = |n: usize| burn::module::Param::from_tensor(Tensor::<1>::zeros([n], &d));
    block.conv2.bn.gamma = zero(4);
    block.conv2.bn.beta = zero(4);
    let x = Tensor::<1>::from_data(
        TensorData::new((1..=32).map(|v| v as f32).collect::<Vec<_>>(), [32]),
        &d,
    )
    .reshape([1, 2, 4, 4]);
    let y = block.forward(x).into_data().try_to_vec::<f32>().unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0.0, 0.0, 0.0, 0.0,
        1.0, 3.0, 9.0, 11.0,
        17.0, 19.0, 25.0, 27.0,
        0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(y, expected);
}

#[test]
fn option_b_projects_only_downsampling_blocks() {
    let model = ResNetCifarConfig::new(20)
        .with_shortcut(ShortcutKind::B)
        .init(&device())
        .unwrap();
    let blocks: Vec<&BasicBlock> = model
        .layer1
        .iter()
        .chain(&model.layer2)
        .chain(&model.layer3)
        .collect();
    let projections: Vec<usize> = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b.shortcut, Shortcut::Projection(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(projections, vec![3, 6]);
    match &blocks[3].shortcut {
        Shortcut::Projection(p) => {
            assert_eq!(p.conv.weight.dims(), [32, 16, 1, 1]);
            assert_eq!(p.conv.stride, [2, 2]);
            assert!(p.conv.bias.is_none());
        }
        _ => unreachable!(),
    }
}

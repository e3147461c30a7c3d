//! The size table of REFERENCE.md and Li et al. 2017, Table 1, counted from traced graphs.

use crate::device;
use burn_prune_metrics::{
    Convention, ModelMetrics, OpCounts, ParamStats, macs_reduction, params_reduction,
};
use burn_prune_models::*;

/// MACs (papers' convention) of a CIFAR ResNet from its widths, written out independently of
/// the model: stem 3→16 at 32×32; per block conv1 (in→w) and conv2 (w→stage width), 3×3,
/// at 32, 16, 8 pixels; option B adds a 1×1 projection on the two downsampling blocks;
/// fc 64→10.
fn resnet_cifar_macs(depth: usize, block_widths: Option<&[usize]>, option_b: bool) -> u64 {
    let n = (depth - 2) / 6;
    let default: Vec<usize> = [16, 32, 64].iter().flat_map(|&c| vec![c; n]).collect();
    let widths = block_widths.unwrap_or(&default);
    let mut macs = 3 * 16 * 9 * 32 * 32;
    let mut c_in = 16;
    for (s, (c, side)) in [(16, 32), (32, 16), (64, 8)].into_iter().enumerate() {
        for b in 0..n {
            let w = widths[s * n + b];
            macs += (c_in * w * 9 + w * c * 9) * side * side;
            if option_b && c_in != c {
                macs += c_in * c * side * side;
            }
            c_in = c;
        }
    }
    (macs + 64 * 10) as u64
}

fn cifar(config: ResNetCifarConfig) -> ModelMetrics {
    let model = config.init(&device()).unwrap();
    ModelMetrics::of_model(&model, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap()
}

fn millions(macs: u64) -> String {
    format!("{:.2}", macs as f64 / 1e6)
}

#[test]
fn resnet20_option_a_exactly() {
    let m = cifar(ResNetCifarConfig::new(20));
    assert_eq!(m.params.total(), 269_722);
    assert_eq!(m.params.trainable(), 269_722);
    // REFERENCE: 40,550,400 conv + 640 fc.
    let convs: u64 = m
        .ops
        .ops
        .iter()
        .filter(|o| o.kind == burn_prune_metrics::OpKind::Conv)
        .map(|o| o.macs)
        .sum();
    assert_eq!(convs, 40_550_400);
    assert_eq!(m.macs(Convention::Papers), 40_550_400 + 640);
    assert_eq!(
        m.macs(Convention::Papers),
        resnet_cifar_macs(20, None, false)
    );
}

#[test]
fn cifar_resnets_option_a() {
    for (depth, params, published) in [
        (32, 464_154, None),
        (56, 853_018, Some("125.49")),
        (110, 1_727_962, Some("252.89")),
    ] {
        let m = cifar(ResNetCifarConfig::new(depth));
        assert_eq!(m.params.total(), params, "ResNet-{depth}");
        let macs = m.macs(Convention::Papers);
        assert_eq!(
            macs,
            resnet_cifar_macs(depth, None, false),
            "ResNet-{depth}"
        );
        if let Some(p) = published {
            assert_eq!(millions(macs), p, "ResNet-{depth}");
        }
    }
    // ResNet-32: 68,861,952 conv only (REFERENCE), plus the 640 of the fc.
    assert_eq!(resnet_cifar_macs(32, None, false), 68_861_952 + 640);
}

#[test]
fn resnet56_option_b() {
    let m = cifar(ResNetCifarConfig::new(56).with_shortcut(ShortcutKind::B));
    assert_eq!(m.params.total(), 855_770);
    assert_eq!(
        m.macs(Convention::Papers),
        resnet_cifar_macs(56, None, true)
    );
    assert_eq!(millions(m.macs(Convention::Papers)), "125.75");
}

fn vgg(config: VggConfig) -> ModelMetrics {
    let model = config.init(&device()).unwrap();
    ModelMetrics::of_model(&model, [1, 3, 32, 32], |m, x| m.forward(x)).unwrap()
}

#[test]
fn vggs() {
    let li = vgg(VggConfig::vgg16());
    assert_eq!(li.params.total(), 14_987_722);
    assert_eq!(millions(li.macs(Convention::Papers)), "313.46");
    let single = vgg(VggConfig::vgg16().with_head(VggHead::Linear));
    assert_eq!(single.params.total(), 14_724_042);
    assert_eq!(millions(single.macs(Convention::Papers)), "313.20");
    // The heads differ by Linear(512, 512): 262,144 MACs (the BatchNorm1d is not counted).
    assert_eq!(
        li.macs(Convention::Papers) - single.macs(Convention::Papers),
        512 * 512
    );
    let v19 = vgg(VggConfig::vgg19());
    assert_eq!(v19.params.total(), 20_035_018);
    assert_eq!(millions(v19.macs(Convention::Papers)), "398.14");
}

#[test]
fn imagenet_models() {
    let at_224 = |params: ParamStats, ops: OpCounts| ModelMetrics::new(params, ops);
    let r18 = ResNetImagenetConfig::resnet18().init(&device()).unwrap();
    let m = at_224(
        ParamStats::of_model(&r18).unwrap(),
        OpCounts::of_model(&r18, [1, 3, 224, 224], |m, x| m.forward(x)).unwrap(),
    );
    assert_eq!(m.params.total(), 11_689_512);
    assert_eq!(
        format!("{:.3}", m.macs(Convention::Papers) as f64 / 1e9),
        "1.814"
    );

    let r50 = ResNetImagenetConfig::resnet50().init(&device()).unwrap();
    let m = at_224(
        ParamStats::of_model(&r50).unwrap(),
        OpCounts::of_model(&r50, [1, 3, 224, 224], |m, x| m.forward(x)).unwrap(),
    );
    assert_eq!(m.params.total(), 25_557_032);
    assert_eq!(
        format!("{:.3}", m.macs(Convention::Papers) as f64 / 1e9),
        "4.089"
    );

    let mobilenet = MobileNetV2Config::new().init(&device()).unwrap();
    let m = at_224(
        ParamStats::of_model(&mobilenet).unwrap(),
        OpCounts::of_model(&mobilenet, [1, 3, 224, 224], |m, x| m.forward(x)).unwrap(),
    );
    assert_eq!(m.params.total(), 3_504_872);
    assert_eq!(millions(m.macs(Convention::Papers)), "300.77");
}

/// One row of Li et al.'s Table 1 as printed: MACs and parameters in the paper's precision,
/// reductions in percent with one decimal.
struct LiRow {
    macs: f64,
    macs_reduction: f64,
    params: f64,
    params_reduction: f64,
}

/// Li et al. print three or two significant digits and mix rounding with truncation
/// (1,168,424 → 1.16e6, 14,987,722 → 1.5e7), so a printed value is matched to within one
/// unit of its last digit; percentages to within 0.1 points (9.34 is printed 9.4).
fn assert_li(
    dense: &ModelMetrics,
    pruned: &ModelMetrics,
    row: LiRow,
    unit_macs: f64,
    unit_params: f64,
) {
    let macs = pruned.macs(Convention::Papers) as f64;
    let params = pruned.params.total() as f64;
    assert!(
        (macs - row.macs).abs() < unit_macs,
        "MACs {macs} vs {}",
        row.macs
    );
    assert!(
        (params - row.params).abs() < unit_params,
        "params {params} vs {}",
        row.params
    );
    let mr = 100.0 * macs_reduction(dense, pruned, Convention::Papers);
    let pr = 100.0 * params_reduction(dense, pruned);
    assert!(
        (mr - row.macs_reduction).abs() <= 0.1 + 1e-9,
        "MAC reduction {mr} vs {}",
        row.macs_reduction
    );
    assert!(
        (pr - row.params_reduction).abs() <= 0.1 + 1e-9,
        "param reduction {pr} vs {}",
        row.params_reduction
    );
}

#[test]
fn li_table_1() {
    // VGG-16 → pruned-A.
    let dense = vgg(VggConfig::vgg16());
    let pruned = vgg(VggConfig::vgg16_li_pruned_a());
    assert_eq!(pruned.params.total(), 5_397_034);
    assert_eq!(millions(pruned.macs(Convention::Papers)), "206.28");
    assert_li(
        &dense,
        &pruned,
        LiRow {
            macs: 2.06e8,
            macs_reduction: 34.2,
            params: 5.4e6,
            params_reduction: 64.0,
        },
        1e6,
        1e5,
    );

    // ResNet-56 → pruned-A and pruned-B.
    let dense = cifar(ResNetCifarConfig::new(56));
    let config = ResNetCifarConfig::li_pruned_a(56).unwrap();
    let widths = config.resolved_block_widths().unwrap();
    let a = cifar(config);
    assert_eq!(a.params.total(), 773_336);
    assert_eq!(
        a.macs(Convention::Papers),
        resnet_cifar_macs(56, Some(&widths), false)
    );
    assert_eq!(millions(a.macs(Convention::Papers)), "112.44");
    assert_li(
        &dense,
        &a,
        LiRow {
            macs: 1.12e8,
            macs_reduction: 10.4,
            params: 7.7e5,
            params_reduction: 9.4,
        },
        1e6,
        1e4,
    );
    let config = ResNetCifarConfig::li_pruned_b(56).unwrap();
    let widths = config.resolved_block_widths().unwrap();
    let b = cifar(config);
    assert_eq!(b.params.total(), 735_712);
    assert_eq!(
        b.macs(Convention::Papers),
        resnet_cifar_macs(56, Some(&widths), false)
    );
    assert_eq!(millions(b.macs(Convention::Papers)), "90.91");
    assert_li(
        &dense,
        &b,
        LiRow {
            macs: 9.09e7,
            macs_reduction: 27.6,
            params: 7.3e5,
            params_reduction: 13.7,
        },
        1e5,
        1e4,
    );

    // ResNet-110 → pruned-B.
    let dense = cifar(ResNetCifarConfig::new(110));
    assert_eq!(
        format!("{:.2e}", dense.macs(Convention::Papers) as f64),
        "2.53e8"
    );
    let b = cifar(ResNetCifarConfig::li_pruned_b(110).unwrap());
    assert_eq!(b.params.total(), 1_168_424);
    assert_eq!(millions(b.macs(Convention::Papers)), "155.12");
    assert_li(
        &dense,
        &b,
        LiRow {
            macs: 1.55e8,
            macs_reduction: 38.6,
            params: 1.16e6,
            params_reduction: 32.4,
        },
        1e6,
        1e4,
    );
}

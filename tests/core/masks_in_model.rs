//! Masks installed in a model: effective weights, gradients, update, removal, records, files.

use crate::common::{SmallCnn, batch, values};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn_prune::{
    BitMask, Granularity, MaskSet, ParamMask, PruneError, PrunerConfig, SparsityReport,
    criterion::Magnitude, install_masks, masks_of, param_addresses, remove_masks,
};

fn model(device: &Device) -> SmallCnn {
    device.seed(7);
    SmallCnn::new(&[3, 8, 8], 5, device)
}

#[test]
fn installed_masks_zero_effective_weights_and_their_gradients() {
    let device = Device::flex().autodiff();
    let net = model(&device);
    let base_before = values(net.blocks[1].conv.weight.val());
    let (net, masks) = PrunerConfig::new(0.6)
        .init(Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap();
    let keep = masks.get("blocks.1.conv.weight").unwrap().keep.to_bools();
    let effective = values(net.blocks[1].conv.weight.val());
    let base = values(net.blocks[1].conv.weight.base());
    assert_eq!(base, base_before, "the stored weights are untouched");
    for i in 0..keep.len() {
        if keep[i] {
            assert_eq!(effective[i], base[i]);
        } else {
            assert_eq!(
                effective[i].to_bits(),
                0f32.to_bits(),
                "exactly +0.0 at {i}"
            );
        }
    }
    // Masked positions hold the smallest magnitudes: every kept |w| ≥ every pruned |w| (global
    // over all three weights, so compare within the whole set).
    let (x, y) = batch(4, 3, 6, 5, 1, &device);
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(net.forward(x), y);
    let grads = loss.backward();
    let g = values(net.blocks[1].conv.weight.base().grad(&grads).unwrap());
    let mut nonzero_kept = 0;
    for i in 0..keep.len() {
        if keep[i] {
            nonzero_kept += (g[i] != 0.0) as usize;
        } else {
            assert_eq!(g[i], 0.0, "gradient at pruned position {i}");
        }
    }
    assert!(nonzero_kept > 0, "kept weights do get gradients");
}

#[test]
fn update_replaces_masks_and_remove_restores_the_base() {
    let device = Device::flex();
    let net = model(&device);
    let base = values(net.fc.weight.val());
    let (net, m50) = PrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap();
    let (net, m20) = PrunerConfig::new(0.2)
        .init(Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap();
    // The second call computed on effective weights, so everything pruned at 50%... is a
    // superset of 20%: pruned weights are zero, hence the smallest.
    let (_, p50) = m50.counts();
    let (_, p20) = m20.counts();
    assert!(p20 < p50);
    // The model now holds the 20% masks, not an accumulation.
    let installed = masks_of(&net).unwrap();
    assert_eq!(installed.counts(), m20.counts());
    for m in m20.iter() {
        assert_eq!(installed.get(&m.path).unwrap().keep, m.keep);
    }
    let fc_zeros = values(net.fc.weight.val())
        .iter()
        .filter(|w| **w == 0.0)
        .count();
    assert_eq!(fc_zeros, m20.get("fc.weight").unwrap().keep.count_zeros());
    // Only one reparameterization per parameter, named after the mask.
    let params = param_addresses(&net);
    let fc = params.iter().find(|p| p.path == "fc.weight").unwrap();
    assert_eq!(fc.reparameterization.as_deref(), Some("prune_mask"));

    let restored = remove_masks(net).unwrap();
    assert_eq!(values(restored.fc.weight.val()), base);
    assert!(
        param_addresses(&restored)
            .iter()
            .all(|p| p.reparameterization.is_none())
    );
}

#[test]
fn materialize_folds_masks_into_weights() {
    let device = Device::flex();
    let net = model(&device);
    let (net, masks) = PrunerConfig::new(0.7)
        .init(Magnitude::l2())
        .unwrap()
        .prune(net)
        .unwrap();
    let effective = values(net.blocks[0].conv.weight.val());
    let plain = net.materialize();
    assert!(
        param_addresses(&plain)
            .iter()
            .all(|p| p.reparameterization.is_none())
    );
    assert_eq!(values(plain.blocks[0].conv.weight.val()), effective);
    let report = SparsityReport::of_model(&plain, &masks).unwrap();
    // After folding, the zeros are in the weights themselves.
    assert_eq!(report.zeros(), report.masked());
}

#[test]
fn record_saves_and_reloads_masks() {
    let device = Device::flex();
    let net = model(&device);
    let (net, masks) = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Filter)
        .init(Magnitude::l1())
        .unwrap()
        .prune(net)
        .unwrap();
    let expected = values(net.blocks[1].conv.weight.val());
    let dir = std::env::temp_dir().join(format!("burn-prune-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("model.bpk");
    net.into_record().save(&file).unwrap();

    // A fresh model with different weights, dense masks installed so the structure matches.
    device.seed(99);
    let fresh = SmallCnn::new(&[3, 8, 8], 5, &device);
    let mut dense = MaskSet::new();
    for m in masks.iter() {
        dense
            .insert(ParamMask {
                keep: BitMask::filled(m.numel(), true),
                ..m.clone()
            })
            .unwrap();
    }
    let fresh = install_masks(fresh, &dense).unwrap();
    let loaded = fresh.load_record(ModuleRecord::load(&file).unwrap());
    assert_eq!(values(loaded.blocks[1].conv.weight.val()), expected);
    let reloaded = masks_of(&loaded).unwrap();
    for m in masks.iter() {
        assert_eq!(reloaded.get(&m.path).unwrap().keep, m.keep, "{}", m.path);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mask_sets_roundtrip_through_json_and_binary() {
    let device = Device::flex();
    let net = model(&device);
    let masks = PrunerConfig::new(0.5)
        .with_granularity(Granularity::Kernel)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&net)
        .unwrap();
    let json = masks.to_json().unwrap();
    assert_eq!(MaskSet::from_json(&json).unwrap(), masks);
    let bytes = masks.to_bytes().unwrap();
    assert_eq!(MaskSet::from_bytes(&bytes).unwrap(), masks);
    // Compact: about one bit per weight plus a small header per parameter.
    let (n, _) = masks.counts();
    assert!(
        bytes.len() < n / 8 + 64 * masks.len() + 64,
        "{} bytes for {n} weights",
        bytes.len()
    );

    let dir = std::env::temp_dir().join(format!("burn-prune-maskset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["m.json", "m.masks"] {
        let file = dir.join(name);
        masks.save(&file).unwrap();
        assert_eq!(MaskSet::load(&file).unwrap(), masks);
    }
    // Imported masks install into a model with the same shapes and give the same weights.
    let direct = install_masks(net.clone(), &masks).unwrap();
    let imported = install_masks(net, &MaskSet::load(dir.join("m.masks")).unwrap()).unwrap();
    assert_eq!(
        values(direct.fc.weight.val()),
        values(imported.fc.weight.val())
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn import_is_validated_against_the_model() {
    let device = Device::flex();
    let net = model(&device);
    let masks = PrunerConfig::new(0.5)
        .init(Magnitude::l1())
        .unwrap()
        .masks(&net)
        .unwrap();
    // Same paths, other shapes.
    let other = SmallCnn::new(&[3, 8, 4], 5, &device);
    let err = install_masks(other, &masks).unwrap_err();
    assert!(
        matches!(&err, PruneError::ShapeMismatch { path, mask, param } if path == "blocks.1.conv.weight" && mask == &vec![8, 8, 3, 3] && param == &vec![4, 8, 3, 3]),
        "{err}"
    );
    // A path the model does not have.
    let small = SmallCnn::new(&[3, 8], 5, &device);
    let err = install_masks(small, &masks).unwrap_err();
    assert!(
        matches!(&err, PruneError::UnknownParam { path, .. } if path == "blocks.1.conv.weight"),
        "{err}"
    );
    // Corrupt files.
    assert!(matches!(
        MaskSet::from_bytes(b"nonsense"),
        Err(PruneError::Format(_))
    ));
    let json = masks.to_json().unwrap().replace("\"len\":", "\"len\":1");
    assert!(matches!(
        MaskSet::from_json(&json),
        Err(PruneError::Format(_))
    ));
}

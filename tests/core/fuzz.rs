//! Fuzzing the core's file formats: mask sets (JSON and binary) and structural plans (JSON).
//!
//! Arbitrary bytes, and valid files mutated (truncated, bytes flipped, bytes inserted, a
//! piece repeated), must parse to a typed error or to a value that round-trips — never a
//! panic. `cargo test --workspace --test core fuzz` runs proptest's default 256 cases per
//! target (what CI runs); the long run is
//! `PROPTEST_CASES=10000 cargo test --release --workspace --test core fuzz`.

use crate::common::SmallCnn;
use burn::prelude::*;
use burn_prune::criterion::Magnitude;
use burn_prune::structure::{
    DependencyGraph, GraphOptions, GroupPrunerConfig, StructuralPlan, trace,
};
use burn_prune::{Granularity, MaskSet, PruneError, PrunerConfig};
use proptest::prelude::*;
use std::sync::OnceLock;

/// A valid mask set (filter masks of a small CNN) and a valid plan of the same CNN.
fn valid() -> &'static (MaskSet, StructuralPlan) {
    static VALID: OnceLock<(MaskSet, StructuralPlan)> = OnceLock::new();
    VALID.get_or_init(|| {
        let device = Device::flex();
        let model = SmallCnn::new(&[3, 8, 16], 10, &device);
        let masks = PrunerConfig::new(0.5)
            .with_granularity(Granularity::Filter)
            .init(Magnitude::l1())
            .unwrap()
            .masks(&model)
            .unwrap();
        let traced = trace(&model, [1, 3, 8, 8], |m, x| m.forward(x)).unwrap();
        let graph = DependencyGraph::build(&traced, &GraphOptions::default()).unwrap();
        let plan = GroupPrunerConfig::new(0.5)
            .init(Magnitude::l1())
            .unwrap()
            .plan(&model, &graph)
            .unwrap();
        (masks, plan)
    })
}

/// One mutation of a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Repeat(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Repeat(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Truncate(i) => bytes.truncate(at(*i, bytes.len())),
            Mutation::Flip(i, x) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] ^= x;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, b) => {
                let i = at(*i, bytes.len());
                bytes.splice(i..i, b.iter().copied());
            }
            Mutation::Repeat(i, n) => {
                let i = at(*i, bytes.len());
                let piece: Vec<u8> = bytes[i..(i + n).min(bytes.len())].to_vec();
                bytes.splice(i..i, piece);
            }
        }
    }
    bytes
}

/// A parsed mask set round-trips through both forms.
fn round_trips(m: &MaskSet) {
    assert_eq!(&MaskSet::from_json(&m.to_json().unwrap()).unwrap(), m);
    assert_eq!(&MaskSet::from_bytes(&m.to_bytes().unwrap()).unwrap(), m);
}

/// An error says something (and is the format error, for malformed content).
fn is_format_error(e: &PruneError) -> bool {
    matches!(e, PruneError::Format(reason) if !reason.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn fuzz_mask_set_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256), magic: bool) {
        // Half the cases behind the binary magic, so that they reach the decoder.
        let bytes = if magic {
            let mut b = valid().0.to_bytes().unwrap()[..8].to_vec();
            b.extend(bytes);
            b
        } else {
            bytes
        };
        match MaskSet::from_bytes(&bytes) {
            Ok(m) => round_trips(&m),
            Err(e) => prop_assert!(is_format_error(&e), "{e:?}"),
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            match MaskSet::from_json(text) {
                Ok(m) => round_trips(&m),
                Err(e) => prop_assert!(is_format_error(&e), "{e:?}"),
            }
        }
    }

    #[test]
    fn fuzz_mutated_mask_sets(mutations in prop::collection::vec(mutation(), 1..4), binary: bool) {
        let valid = &valid().0;
        let bytes = if binary {
            valid.to_bytes().unwrap()
        } else {
            valid.to_json().unwrap().into_bytes()
        };
        let bytes = mutate(bytes, &mutations);
        let parsed = if binary {
            MaskSet::from_bytes(&bytes)
        } else {
            std::str::from_utf8(&bytes)
                .map_err(|e| PruneError::Format(e.to_string()))
                .and_then(MaskSet::from_json)
        };
        match parsed {
            Ok(m) => round_trips(&m),
            Err(e) => prop_assert!(is_format_error(&e), "{e:?}"),
        }
    }

    #[test]
    fn fuzz_plans(mutations in prop::collection::vec(mutation(), 1..4), raw in prop::collection::vec(any::<u8>(), 0..128)) {
        let valid = &valid().1;
        let json = valid.to_json().unwrap().into_bytes();
        for bytes in [mutate(json, &mutations), raw] {
            let Ok(text) = std::str::from_utf8(&bytes) else { continue };
            match StructuralPlan::from_json(text) {
                Ok(p) => {
                    let back = StructuralPlan::from_json(&p.to_json().unwrap()).unwrap();
                    prop_assert_eq!(back, p);
                }
                Err(e) => prop_assert!(
                    matches!(e, PruneError::Format(_) | PruneError::PlanMismatch { .. }),
                    "{e:?}"
                ),
            }
        }
    }
}

/// A malformed mask file is an error naming the file; the valid file loads back, in both
/// forms; a file is replaced whole.
#[test]
fn mask_files_name_themselves_in_errors() {
    let dir = std::env::temp_dir().join(format!("burn-prune-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let valid = &valid().0;
    for name in ["masks.json", "masks.bin"] {
        let path = dir.join(name);
        valid.save(&path).unwrap();
        assert_eq!(&MaskSet::load(&path).unwrap(), valid);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = MaskSet::load(&path).unwrap_err();
        assert!(is_format_error(&e), "{e:?}");
        assert!(e.to_string().contains(name), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

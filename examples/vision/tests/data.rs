//! The CIFAR-10 reader on files generated here in the official binary format.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn_prune_vision::*;
use std::path::PathBuf;

/// The pixel byte of record `r` (over the whole split), channel `c`, position `p`.
fn pixel(r: usize, c: usize, p: usize) -> u8 {
    ((r * 7 + c * 101 + p * 13) % 256) as u8
}

fn label(r: usize) -> u8 {
    ((r * 3 + r / 7) % 10) as u8
}

/// A directory with the split's files, full size, generated record by record.
fn generate(split: Split, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cifar10-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (f, file) in cifar10::files(split).iter().enumerate() {
        let mut bytes = Vec::with_capacity(RECORDS_PER_FILE * RECORD_BYTES);
        for i in 0..RECORDS_PER_FILE {
            let r = f * RECORDS_PER_FILE + i;
            bytes.push(label(r));
            for c in 0..3 {
                for p in 0..cifar10::SIDE * cifar10::SIDE {
                    bytes.push(pixel(r, c, p));
                }
            }
        }
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    dir
}

#[test]
fn reads_the_binary_format() {
    let dir = generate(Split::Train, "train");
    let train = Cifar10Dataset::new(&dir, Split::Train).unwrap();
    assert_eq!(train.len(), 50_000);
    for r in [0, 1, 9_999, 10_000, 31_337, 49_999] {
        let item = train.get(r).unwrap();
        assert_eq!(item.label, label(r), "record {r}");
        assert_eq!(item.image[0], pixel(r, 0, 0));
        assert_eq!(item.image[1024 + 33], pixel(r, 1, 33), "green plane");
        assert_eq!(
            item.image[2048 + 1023],
            pixel(r, 2, 1023),
            "last blue pixel"
        );
    }
    assert!(train.get(50_000).is_err());
    assert!(train.get(usize::MAX).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn missing_and_corrupt_files_are_named() {
    let dir = generate(Split::Test, "bad");
    let path = dir.join("test_batch.bin");
    // Missing training files.
    let err = Cifar10Dataset::new(&dir, Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with("data_batch_1.bin")),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(
        err.contains("data_batch_1.bin") && err.contains("missing"),
        "{err}"
    );
    // Truncated.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = Cifar10Dataset::new(&dir, Split::Test).unwrap_err();
    assert!(
        matches!(&err, DataError::Corrupt { path: p, record: None, .. } if *p == path),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(
        err.contains("test_batch.bin") && err.contains("30730000") && err.contains("truncated"),
        "{err}"
    );
    // A label out of range.
    let mut bad = bytes.clone();
    bad[5 * RECORD_BYTES] = 12;
    std::fs::write(&path, &bad).unwrap();
    let err = Cifar10Dataset::new(&dir, Split::Test).unwrap_err();
    assert!(
        matches!(&err, DataError::Corrupt { path: p, record: Some(5), .. } if *p == path),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(
        err.contains("test_batch.bin") && err.contains("record 5") && err.contains("label 12"),
        "{err}"
    );
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        Cifar10Dataset::new(&dir, Split::Test).unwrap().len(),
        10_000
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn eval_batches_are_normalised() {
    let items: Vec<ImageItem> = (0..3)
        .map(|r| ImageItem {
            image: (0..IMAGE_BYTES)
                .map(|i| pixel(r, i / 1024, i % 1024))
                .collect(),
            label: label(r),
        })
        .collect();
    let device = Device::flex();
    let batch = ImageBatcher::eval(cifar10::SHAPE, cifar10::normalization())
        .unwrap()
        .batch(items.clone(), &device);
    assert_eq!(batch.images.dims(), [3, 3, 32, 32]);
    let v: Vec<f32> = batch.images.into_data().try_into_vec().unwrap();
    for (r, item) in items.iter().enumerate() {
        for i in [0, 500, 1024, 2047, 3071] {
            let c = i / 1024;
            let expected = (item.image[i] as f32 / 255.0 - cifar10::MEAN[c]) / cifar10::STD[c];
            assert!((v[r * IMAGE_BYTES + i] - expected).abs() < 1e-6);
        }
    }
    let t: Vec<i64> = batch
        .targets
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap();
    assert_eq!(t, items.iter().map(|i| i.label as i64).collect::<Vec<_>>());
}

/// Every augmented image is the original shifted by at most 4 pixels each way (zeros coming
/// in from the padding), possibly mirrored; over many draws every offset and both flips
/// occur; the same seed repeats the batch.
#[test]
fn augmentation_is_a_padded_crop_and_a_flip() {
    let item = ImageItem {
        image: (0..IMAGE_BYTES).map(|i| (i % 251) as u8 + 1).collect(),
        label: 3,
    };
    let items = vec![item.clone(); 400];
    let device = Device::flex();
    let batcher = ImageBatcher::train(
        cifar10::SHAPE,
        cifar10::normalization(),
        Augmentation::default(),
        7,
    )
    .unwrap();
    let batch = batcher.batch(items.clone(), &device);
    let v: Vec<f32> = batch.images.into_data().try_into_vec().unwrap();
    let mut seen = std::collections::HashSet::new();
    for k in 0..400 {
        let out = &v[k * IMAGE_BYTES..(k + 1) * IMAGE_BYTES];
        let found = (-4..=4)
            .flat_map(|dy| (-4..=4).flat_map(move |dx| [(dy, dx, false), (dy, dx, true)]))
            .find(|&(dy, dx, flip)| {
                let expected = cifar10::normalization().apply(
                    &Augmentation::apply(&item.image, cifar10::SHAPE, dy, dx, flip),
                    cifar10::SHAPE,
                );
                expected.iter().zip(out).all(|(a, b)| (a - b).abs() < 1e-6)
            });
        let found = found.unwrap_or_else(|| panic!("image {k} is no padded crop or flip"));
        seen.insert(found);
    }
    assert!(
        seen.len() > 100,
        "{} of 162 crops and flips seen",
        seen.len()
    );
    assert!(seen.iter().any(|s| s.2) && seen.iter().any(|s| !s.2));
    let again = ImageBatcher::train(
        cifar10::SHAPE,
        cifar10::normalization(),
        Augmentation::default(),
        7,
    )
    .unwrap()
    .batch(items, &device);
    let w: Vec<f32> = again.images.into_data().try_into_vec().unwrap();
    assert_eq!(v, w);
    assert!(
        ImageBatcher::train(
            cifar10::SHAPE,
            cifar10::normalization(),
            Augmentation {
                padding: 4,
                flip: 1.5
            },
            0
        )
        .is_err()
    );
}

/// A valid CIFAR-10 file (test batch layout), built once.
fn valid_file() -> &'static [u8] {
    static FILE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        (0..RECORDS_PER_FILE)
            .flat_map(|r| {
                std::iter::once(label(r)).chain((0..IMAGE_BYTES).map(move |p| pixel(r, 0, p)))
            })
            .collect()
    })
}

/// A change to a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Keep only the first `n` bytes.
    Truncate(usize),
    /// Append bytes.
    Grow(Vec<u8>),
    /// XOR the byte at `at` (taken modulo the length) with a non-zero value.
    Flip(usize, u8),
    /// Set the label of record `r` (modulo the count).
    Label(usize, u8),
}

fn mutation() -> impl proptest::strategy::Strategy<Value = Mutation> {
    use proptest::prelude::*;
    prop_oneof![
        (0..RECORDS_PER_FILE * RECORD_BYTES).prop_map(Mutation::Truncate),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Grow),
        (any::<usize>(), 1..=255u8).prop_map(|(at, x)| Mutation::Flip(at, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(r, l)| Mutation::Label(r, l)),
    ]
}

proptest::proptest! {
    // 256 cases (proptest's default); `PROPTEST_CASES=10000` for the long run.
    #![proptest_config(proptest::prelude::ProptestConfig::default())]

    /// Arbitrary bytes: an error naming the file, never a panic.
    #[test]
    fn cifar10_files_of_arbitrary_bytes_are_errors_naming_the_file(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)
    ) {
        let path = PathBuf::from("/data/cifar/test_batch.bin");
        let err = cifar10::check_file(&path, &bytes).unwrap_err();
        proptest::prop_assert!(err.to_string().contains("test_batch.bin"), "{err}");
    }

    /// A valid file changed: accepted exactly when it still has the size and labels of the
    /// format; otherwise an error naming the file, and the record for a bad label.
    #[test]
    fn mutated_cifar10_files_are_read_or_named(m in mutation()) {
        let path = PathBuf::from("/data/cifar/data_batch_3.bin");
        let mut bytes = valid_file().to_vec();
        let mut bad_record = None;
        match &m {
            Mutation::Truncate(n) => bytes.truncate(*n),
            Mutation::Grow(more) => bytes.extend_from_slice(more),
            Mutation::Flip(at, x) => {
                let at = at % bytes.len();
                bytes[at] ^= x;
                if at.is_multiple_of(RECORD_BYTES) && bytes[at] > 9 {
                    bad_record = Some(at / RECORD_BYTES);
                }
            }
            Mutation::Label(r, l) => {
                let r = r % RECORDS_PER_FILE;
                bytes[r * RECORD_BYTES] = *l;
                if *l > 9 {
                    bad_record = Some(r);
                }
            }
        }
        let valid_size = bytes.len() == RECORDS_PER_FILE * RECORD_BYTES;
        match cifar10::check_file(&path, &bytes) {
            Ok(()) => proptest::prop_assert!(valid_size && bad_record.is_none(), "{m:?} accepted"),
            Err(err) => {
                proptest::prop_assert!(err.to_string().contains("data_batch_3.bin"), "{err}");
                match err {
                    DataError::Corrupt { record, .. } => proptest::prop_assert_eq!(
                        record,
                        if valid_size { bad_record } else { None }
                    ),
                    other => proptest::prop_assert!(false, "{other}"),
                }
            }
        }
    }
}

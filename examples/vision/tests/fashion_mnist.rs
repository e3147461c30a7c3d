//! The IDX reader and the Fashion-MNIST dataset on files generated here in the real format
//! (raw and gzip), every kind of broken file, the batcher with Fashion-MNIST's normalisation
//! and augmentation, properties of the IDX parser, and the real files when Debian's
//! `dataset-fashion-mnist` is installed.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn_prune_vision::idx::{IdxArray, UBYTE, encode};
use burn_prune_vision::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

const TRAIN: usize = 1000;
const TEST: usize = 200;
const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The pixel byte of record `r` at position `p` (row-major); the test split's records are
/// numbered from 10,000 so that the two splits differ.
fn pixel(r: usize, p: usize) -> u8 {
    ((r * 7 + p * 13 + (r * p) % 11) % 256) as u8
}

fn label(r: usize) -> u8 {
    ((r * 3 + r / 7) % 10) as u8
}

/// The first record number and the record count of a generated split.
fn records(split: Split) -> (usize, usize) {
    match split {
        Split::Train => (0, TRAIN),
        Split::Test => (10_000, TEST),
    }
}

/// An IDX file of unsigned bytes, written out here byte by byte (independently of
/// `idx::encode`): `00 00 08 <ndims>`, each dimension as a big-endian `u32`, the data.
fn idx_file(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x00, 0x00, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn image_data(split: Split) -> Vec<u8> {
    let (first, n) = records(split);
    (first..first + n)
        .flat_map(|r| (0..PIXELS).map(move |p| pixel(r, p)))
        .collect()
}

fn label_data(split: Split) -> Vec<u8> {
    let (first, n) = records(split);
    (first..first + n).map(label).collect()
}

/// The bytes of a split's image file and label file.
fn split_files(split: Split) -> (Vec<u8>, Vec<u8>) {
    let n = records(split).1 as u32;
    (
        idx_file(&[n, SIDE as u32, SIDE as u32], &image_data(split)),
        idx_file(&[n], &label_data(split)),
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A fresh, empty directory for the test `name`.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fmnist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stems(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => (TRAIN_IMAGES, TRAIN_LABELS),
        Split::Test => (TEST_IMAGES, TEST_LABELS),
    }
}

/// Write both files of `split` into `dir`, gzip-compressed (`name.gz`) or raw (`name`).
fn write_split(dir: &Path, split: Split, gz: bool) {
    let (images, labels) = split_files(split);
    let (image_stem, label_stem) = stems(split);
    for (stem, bytes) in [(image_stem, images), (label_stem, labels)] {
        if gz {
            std::fs::write(dir.join(format!("{stem}.gz")), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(stem), bytes).unwrap();
        }
    }
}

fn check_split(dataset: &FashionMnistDataset, split: Split) {
    let (first, n) = records(split);
    assert_eq!(dataset.len(), n);
    assert_eq!(dataset.split(), split);
    for i in 0..n {
        assert_eq!(dataset.get(i).unwrap().label, label(first + i), "label {i}");
    }
    for i in [0, 1, 7, n / 2, n - 1] {
        let item = dataset.get(i).unwrap();
        let r = first + i;
        assert_eq!(item.image.len(), PIXELS);
        assert_eq!(item.image[0], pixel(r, 0), "record {i}, first pixel");
        assert_eq!(item.image[27], pixel(r, 27), "record {i}, end of row 0");
        assert_eq!(item.image[28], pixel(r, 28), "record {i}, start of row 1");
        assert_eq!(item.image[14 * 28 + 5], pixel(r, 14 * 28 + 5), "record {i}");
        assert_eq!(item.image[783], pixel(r, 783), "record {i}, last pixel");
        let whole: Vec<u8> = (0..PIXELS).map(|p| pixel(r, p)).collect();
        assert_eq!(item.image, whole, "record {i}");
    }
    assert!(dataset.get(n).is_err());
    assert!(dataset.get(n + 1).is_err());
    assert!(dataset.get(usize::MAX).is_err());
}

#[test]
fn the_constants_are_fashion_mnists() {
    assert_eq!(fashion_mnist::SIDE, 28);
    assert_eq!(
        fashion_mnist::SHAPE,
        ImageShape {
            channels: 1,
            side: 28
        }
    );
    assert_eq!(fashion_mnist::SHAPE.bytes(), 784);
    assert_eq!(fashion_mnist::TRAIN_LEN, 60_000);
    assert_eq!(fashion_mnist::TEST_LEN, 10_000);
    assert_eq!(fashion_mnist::MEAN, 0.2860);
    assert_eq!(fashion_mnist::STD, 0.3530);
    assert_eq!(fashion_mnist::CLASSES[0], "T-shirt/top");
    assert_eq!(fashion_mnist::CLASSES[9], "ankle boot");
    assert_eq!(
        fashion_mnist::DEBIAN_DIR,
        "/usr/share/datasets/fashion-mnist"
    );
    assert_eq!(
        fashion_mnist::file_stems(Split::Train),
        (TRAIN_IMAGES, TRAIN_LABELS)
    );
    assert_eq!(
        fashion_mnist::file_stems(Split::Test),
        (TEST_IMAGES, TEST_LABELS)
    );
    let kind = DatasetKind::FashionMnist;
    assert_eq!(kind.shape(), fashion_mnist::SHAPE);
    assert_eq!(kind.normalization(), fashion_mnist::normalization());
    assert_eq!(kind.classes(), &fashion_mnist::CLASSES);
    assert_eq!(
        kind.augmentation(),
        Augmentation {
            padding: 2,
            flip: 0.5
        }
    );
    assert_eq!(kind.input(5), [5, 1, 28, 28]);
}

#[test]
fn encode_writes_the_idx_format() {
    let data: Vec<u8> = (0..24).collect();
    assert_eq!(encode(&[2, 3, 4], &data), idx_file(&[2, 3, 4], &data));
    assert_eq!(
        encode(&[70_000], &[]),
        [0, 0, UBYTE, 1, 0x00, 0x01, 0x11, 0x70]
    );
}

#[test]
fn reads_gzip_idx_files() {
    let dir = temp_dir("gzip");
    write_split(&dir, Split::Train, true);
    write_split(&dir, Split::Test, true);
    assert!(dir.join(format!("{TRAIN_IMAGES}.gz")).is_file());
    assert!(!dir.join(TRAIN_IMAGES).exists());
    let train = FashionMnistDataset::new(&dir, Split::Train).unwrap();
    check_split(&train, Split::Train);
    let test = FashionMnistDataset::new(&dir, Split::Test).unwrap();
    check_split(&test, Split::Test);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reads_raw_idx_files() {
    let dir = temp_dir("raw");
    write_split(&dir, Split::Train, false);
    write_split(&dir, Split::Test, false);
    let train = FashionMnistDataset::new(&dir, Split::Train).unwrap();
    check_split(&train, Split::Train);
    let test = FashionMnistDataset::new(&dir, Split::Test).unwrap();
    check_split(&test, Split::Test);
    // The reader directly: dimensions, data and the file it came from.
    let path = dir.join(TEST_IMAGES);
    let images = IdxArray::read(&path, 3, "hint").unwrap();
    assert_eq!(images.dims, [TEST, 28, 28]);
    assert_eq!(images.len(), TEST);
    assert!(!images.is_empty());
    assert_eq!(images.path, path);
    assert_eq!(images.data, image_data(Split::Test));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A mix: the images raw, the labels gzip-compressed.
#[test]
fn reads_raw_and_gzip_files_mixed() {
    let dir = temp_dir("mixed");
    let (images, labels) = split_files(Split::Test);
    std::fs::write(dir.join(TEST_IMAGES), images).unwrap();
    std::fs::write(dir.join(format!("{TEST_LABELS}.gz")), gzip(&labels)).unwrap();
    let test = FashionMnistDataset::new(&dir, Split::Test).unwrap();
    check_split(&test, Split::Test);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn gzip_is_preferred_when_both_exist() {
    let dir = temp_dir("prefer");
    // Neither: the raw name (reading it reports it missing).
    assert_eq!(
        fashion_mnist::locate(&dir, TEST_IMAGES),
        dir.join(TEST_IMAGES)
    );
    // Raw files of 50 records only.
    let n = 50;
    std::fs::write(
        dir.join(TEST_IMAGES),
        idx_file(&[n as u32, 28, 28], &vec![0xEE; n * PIXELS]),
    )
    .unwrap();
    std::fs::write(dir.join(TEST_LABELS), idx_file(&[n as u32], &vec![4; n])).unwrap();
    assert_eq!(
        fashion_mnist::locate(&dir, TEST_IMAGES),
        dir.join(TEST_IMAGES)
    );
    let raw = FashionMnistDataset::new(&dir, Split::Test).unwrap();
    assert_eq!(raw.len(), n);
    assert_eq!(raw.get(0).unwrap().label, 4);
    // The full split as .gz next to them: that is what is read.
    write_split(&dir, Split::Test, true);
    assert_eq!(
        fashion_mnist::locate(&dir, TEST_IMAGES),
        dir.join(format!("{TEST_IMAGES}.gz"))
    );
    assert_eq!(
        fashion_mnist::locate(&dir, TEST_LABELS),
        dir.join(format!("{TEST_LABELS}.gz"))
    );
    let test = FashionMnistDataset::new(&dir, Split::Test).unwrap();
    check_split(&test, Split::Test);
    // A directory named like the .gz file is no file: the raw one is used.
    let other = dir.join("other");
    std::fs::create_dir_all(other.join(format!("{TEST_IMAGES}.gz"))).unwrap();
    assert_eq!(
        fashion_mnist::locate(&other, TEST_IMAGES),
        other.join(TEST_IMAGES)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Reads the test split from a directory holding good raw files of both splits after
/// `setup` has broken something; returns the error (a panic fails the test).
fn broken(name: &str, setup: impl FnOnce(&Path)) -> DataError {
    let dir = temp_dir(&format!("broken-{name}"));
    write_split(&dir, Split::Test, false);
    setup(&dir);
    let result = FashionMnistDataset::new(&dir, Split::Test);
    std::fs::remove_dir_all(&dir).unwrap();
    match result {
        Ok(d) => panic!("{name}: read {} items from a broken file", d.len()),
        Err(e) => e,
    }
}

/// The test split's image file with `edit` applied to its bytes.
fn edit_images(edit: impl FnOnce(&mut Vec<u8>)) -> impl FnOnce(&Path) {
    move |dir| {
        let mut bytes = split_files(Split::Test).0;
        edit(&mut bytes);
        std::fs::write(dir.join(TEST_IMAGES), bytes).unwrap();
    }
}

/// The test split's label file with `edit` applied to its bytes.
fn edit_labels(edit: impl FnOnce(&mut Vec<u8>)) -> impl FnOnce(&Path) {
    move |dir| {
        let mut bytes = split_files(Split::Test).1;
        edit(&mut bytes);
        std::fs::write(dir.join(TEST_LABELS), bytes).unwrap();
    }
}

/// `err` is a whole-file `Corrupt` of the file `file` (no record) and its message names the
/// file and contains each of `words`.
fn assert_corrupt(err: &DataError, file: &str, record: Option<usize>, words: &[&str]) {
    match err {
        DataError::Corrupt {
            path, record: r, ..
        } => {
            assert!(path.ends_with(file), "{path:?} is not {file}: {err}");
            assert_eq!(*r, record, "{err}");
        }
        other => panic!("expected Corrupt of {file}, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(file), "{message}");
    if let Some(r) = record {
        assert!(message.contains(&format!("record {r}")), "{message}");
    }
    for word in words {
        assert!(message.contains(word), "no {word:?} in: {message}");
    }
}

#[test]
fn a_missing_file_says_how_to_install() {
    for (name, stem) in [
        ("missing-images", TEST_IMAGES),
        ("missing-labels", TEST_LABELS),
    ] {
        let err = broken(name, |dir| std::fs::remove_file(dir.join(stem)).unwrap());
        match &err {
            DataError::Missing { dataset, path, .. } => {
                assert_eq!(*dataset, "Fashion-MNIST");
                assert!(path.ends_with(stem), "{path:?}");
            }
            other => panic!("{name}: expected Missing, got {other:?}"),
        }
        let message = err.to_string();
        for word in [stem, "missing", "dataset-fashion-mnist", "Fashion-MNIST"] {
            assert!(message.contains(word), "no {word:?} in: {message}");
        }
    }
    // A directory that does not exist.
    let nowhere = std::env::temp_dir().join(format!("fmnist-nowhere-{}", std::process::id()));
    let err = FashionMnistDataset::new(&nowhere, Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with(TRAIN_IMAGES)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("apt-get install dataset-fashion-mnist")
    );
}

#[test]
fn a_wrong_magic_number_is_corrupt() {
    for (k, (b0, b1)) in [(0x42u8, 0x00u8), (0x00, 0x01), (0x08, 0x03)]
        .into_iter()
        .enumerate()
    {
        let err = broken(
            &format!("magic-{k}"),
            edit_images(move |b| {
                b[0] = b0;
                b[1] = b1;
            }),
        );
        assert_corrupt(
            &err,
            TEST_IMAGES,
            None,
            &["magic number", "not an IDX file"],
        );
    }
    let err = broken("magic-labels", edit_labels(|b| b[1] = 0x08));
    assert_corrupt(&err, TEST_LABELS, None, &["magic number"]);
}

#[test]
fn a_wrong_element_type_is_corrupt() {
    // 0x0D: 4-byte floats.
    let err = broken("float", edit_images(|b| b[2] = 0x0D));
    assert_corrupt(&err, TEST_IMAGES, None, &["element type 0x0d", "0x08"]);
    // 0x09: signed bytes.
    let err = broken("signed", edit_labels(|b| b[2] = 0x09));
    assert_corrupt(&err, TEST_LABELS, None, &["element type 0x09"]);
}

#[test]
fn a_wrong_number_of_dimensions_is_corrupt() {
    // Labels written as [200, 1, 1]: same bytes, 3 dimensions.
    let err = broken(
        "label-dims",
        edit_labels(|b| *b = idx_file(&[TEST as u32, 1, 1], &label_data(Split::Test))),
    );
    assert_corrupt(&err, TEST_LABELS, None, &["3 dimensions", "expected 1"]);
    // Images written as [200, 784].
    let err = broken(
        "image-dims",
        edit_images(|b| *b = idx_file(&[TEST as u32, 784], &image_data(Split::Test))),
    );
    assert_corrupt(&err, TEST_IMAGES, None, &["2 dimensions", "expected 3"]);
}

#[test]
fn truncated_data_names_the_first_incomplete_record() {
    // Images: records 0..137 complete, 100 bytes of record 137.
    let header = 16;
    let err = broken(
        "truncated-images",
        edit_images(move |b| b.truncate(header + 137 * PIXELS + 100)),
    );
    assert_corrupt(&err, TEST_IMAGES, Some(137), &["truncated"]);
    // Cut exactly at a record boundary: record 150 is the first one missing.
    let err = broken(
        "truncated-boundary",
        edit_images(move |b| b.truncate(header + 150 * PIXELS)),
    );
    assert_corrupt(&err, TEST_IMAGES, Some(150), &["truncated"]);
    // Only the header: record 0.
    let err = broken("header-only", edit_images(move |b| b.truncate(header)));
    assert_corrupt(&err, TEST_IMAGES, Some(0), &["truncated"]);
    // Labels: 50 of 200.
    let err = broken("truncated-labels", edit_labels(|b| b.truncate(8 + 50)));
    assert_corrupt(&err, TEST_LABELS, Some(50), &["truncated"]);
}

#[test]
fn trailing_bytes_are_corrupt() {
    let err = broken(
        "trailing-images",
        edit_images(|b| b.extend([1, 2, 3, 4, 5])),
    );
    assert_corrupt(
        &err,
        TEST_IMAGES,
        None,
        &["5 bytes after the last of 200 records"],
    );
    let err = broken("trailing-labels", edit_labels(|b| b.push(0)));
    assert_corrupt(&err, TEST_LABELS, None, &["1 bytes after"]);
}

#[test]
fn a_short_header_is_corrupt() {
    // Cut inside the dimensions.
    let err = broken("short-dims", edit_images(|b| b.truncate(10)));
    assert_corrupt(&err, TEST_IMAGES, None, &["header", "16 bytes", "has 10"]);
    // Cut inside the magic number.
    let err = broken("short-magic", edit_labels(|b| b.truncate(3)));
    assert_corrupt(&err, TEST_LABELS, None, &["3 bytes", "magic number"]);
    // An empty file.
    let err = broken("empty", edit_images(|b| b.clear()));
    assert_corrupt(&err, TEST_IMAGES, None, &["0 bytes"]);
}

#[test]
fn a_zero_dimension_is_corrupt() {
    let err = broken(
        "zero-count",
        edit_images(|b| *b = idx_file(&[0, 28, 28], &[])),
    );
    assert_corrupt(&err, TEST_IMAGES, None, &["dimension 0 is 0"]);
    let err = broken(
        "zero-side",
        edit_images(|b| *b = idx_file(&[TEST as u32, 0, 28], &[])),
    );
    assert_corrupt(&err, TEST_IMAGES, None, &["dimension 1 is 0"]);
    let err = broken("zero-labels", edit_labels(|b| *b = idx_file(&[0], &[])));
    assert_corrupt(&err, TEST_LABELS, None, &["dimension 0 is 0"]);
}

#[test]
fn images_of_another_side_are_corrupt() {
    let err = broken(
        "side-32",
        edit_images(|b| *b = idx_file(&[TEST as u32, 32, 32], &vec![9; TEST * 32 * 32])),
    );
    assert_corrupt(&err, TEST_IMAGES, None, &["32×32", "28×28"]);
    let err = broken(
        "side-28x32",
        edit_images(|b| *b = idx_file(&[TEST as u32, 28, 32], &vec![9; TEST * 28 * 32])),
    );
    assert_corrupt(&err, TEST_IMAGES, None, &["28×32"]);
}

#[test]
fn a_truncated_gzip_stream_is_corrupt() {
    let gz_images = format!("{TEST_IMAGES}.gz");
    let gz_labels = format!("{TEST_LABELS}.gz");
    for (name, file) in [("gz-images", &gz_images), ("gz-labels", &gz_labels)] {
        let err = broken(name, |dir| {
            write_split(dir, Split::Test, true);
            let bytes = std::fs::read(dir.join(file)).unwrap();
            std::fs::write(dir.join(file), &bytes[..bytes.len() / 2]).unwrap();
        });
        assert_corrupt(&err, file, None, &["gzip"]);
    }
    // A stream whose checksum does not match: the last 8 bytes (CRC-32 and length) zeroed.
    let err = broken("gz-crc", |dir| {
        write_split(dir, Split::Test, true);
        let path = dir.join(&gz_images);
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 8..].fill(0);
        std::fs::write(&path, bytes).unwrap();
    });
    assert_corrupt(&err, &gz_images, None, &["gzip"]);
    // Only the gzip magic bytes.
    let err = broken("gz-magic-only", |dir| {
        std::fs::write(dir.join(&gz_labels), [0x1f, 0x8b]).unwrap();
    });
    assert_corrupt(&err, &gz_labels, None, &["gzip"]);
}

#[test]
fn image_and_label_counts_must_agree() {
    let err = broken(
        "count",
        edit_labels(|b| *b = idx_file(&[TEST as u32 - 1], &label_data(Split::Test)[1..])),
    );
    match &err {
        DataError::CountMismatch {
            images,
            image_count,
            labels,
            label_count,
        } => {
            assert!(images.ends_with(TEST_IMAGES), "{images:?}");
            assert!(labels.ends_with(TEST_LABELS), "{labels:?}");
            assert_eq!((*image_count, *label_count), (TEST, TEST - 1));
        }
        other => panic!("expected CountMismatch, got {other:?}"),
    }
    let message = err.to_string();
    for word in [TEST_IMAGES, TEST_LABELS, "200 images", "199 labels"] {
        assert!(message.contains(word), "no {word:?} in: {message}");
    }
}

#[test]
fn a_label_out_of_range_names_its_record() {
    let header = 8;
    let err = broken("label-10", edit_labels(move |b| b[header + 123] = 10));
    assert_corrupt(&err, TEST_LABELS, Some(123), &["label 10", "0..=9"]);
    // The first bad one is named.
    let err = broken(
        "label-255",
        edit_labels(move |b| {
            b[header + 7] = 255;
            b[header + 190] = 11;
        }),
    );
    assert_corrupt(&err, TEST_LABELS, Some(7), &["label 255"]);
    let err = broken(
        "label-last",
        edit_labels(move |b| b[header + TEST - 1] = 10),
    );
    assert_corrupt(&err, TEST_LABELS, Some(TEST - 1), &["label 10"]);
}

fn items(split: Split, n: usize) -> Vec<ImageItem> {
    let (first, _) = records(split);
    (first..first + n)
        .map(|r| ImageItem {
            image: (0..PIXELS).map(|p| pixel(r, p)).collect(),
            label: label(r),
        })
        .collect()
}

#[test]
fn eval_batches_are_normalised() {
    let device = Device::flex();
    let batcher = ImageBatcher::eval(fashion_mnist::SHAPE, fashion_mnist::normalization()).unwrap();
    assert_eq!(batcher.shape(), fashion_mnist::SHAPE);
    // Items read back from generated files.
    let dir = temp_dir("eval");
    write_split(&dir, Split::Test, true);
    let test = FashionMnistDataset::new(&dir, Split::Test).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let n = 6;
    let items: Vec<ImageItem> = (0..n).map(|i| test.get(i).unwrap()).collect();
    assert_eq!(items, self::items(Split::Test, n));
    let batch = batcher.batch(items.clone(), &device);
    assert_eq!(batch.images.dims(), [n, 1, 28, 28]);
    let v: Vec<f32> = batch.images.into_data().try_into_vec().unwrap();
    assert_eq!(v.len(), n * PIXELS);
    for (k, item) in items.iter().enumerate() {
        for p in 0..PIXELS {
            let expected = (item.image[p] as f32 / 255.0 - 0.2860) / 0.3530;
            let got = v[k * PIXELS + p];
            assert!(
                (got - expected).abs() < 1e-5,
                "{k} {p}: {got} vs {expected}"
            );
        }
    }
    let t: Vec<i64> = batch
        .targets
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap();
    assert_eq!(t, items.iter().map(|i| i.label as i64).collect::<Vec<_>>());
    // Hand-computed: 0 → −0.2860/0.3530, 255 → 0.7140/0.3530, 51 → (0.2 − 0.286)/0.353.
    let mut image = vec![0u8; PIXELS];
    image[1] = 255;
    image[2] = 51;
    let batch = batcher.batch(vec![ImageItem { image, label: 9 }], &device);
    let v: Vec<f32> = batch.images.into_data().try_into_vec().unwrap();
    assert!((v[0] - -0.810_198_3).abs() < 1e-5, "{}", v[0]);
    assert!((v[1] - 2.022_662_9).abs() < 1e-5, "{}", v[1]);
    assert!((v[2] - -0.243_626_1).abs() < 1e-5, "{}", v[2]);
    // CIFAR-10's three channels do not fit one.
    assert!(matches!(
        ImageBatcher::eval(fashion_mnist::SHAPE, cifar10::normalization()),
        Err(DataError::InvalidConfig { .. })
    ));
}

/// Every augmented image is `Augmentation::apply` of the original for a shift in [−2, 2]²
/// and a flip; over many draws every shift and both flips occur; the same seed repeats the
/// batch and another seed does not.
#[test]
fn train_batches_are_padded_crops_and_flips() {
    let device = Device::flex();
    let shape = fashion_mnist::SHAPE;
    let norm = fashion_mnist::normalization();
    let augmentation = DatasetKind::FashionMnist.augmentation();
    let batcher = |seed| ImageBatcher::train(shape, norm.clone(), augmentation, seed).unwrap();
    // Distinct items (so each output is matched against its own input), every pixel > 0 (so
    // zeros show what came in from the padding).
    let n = 600;
    let items: Vec<ImageItem> = (0..n)
        .map(|r| ImageItem {
            image: (0..PIXELS).map(|p| pixel(r, p).max(1)).collect(),
            label: label(r),
        })
        .collect();
    let batch = batcher(11).batch(items.clone(), &device);
    assert_eq!(batch.images.dims(), [n, 1, 28, 28]);
    let v: Vec<f32> = batch.images.into_data().try_into_vec().unwrap();
    let candidates: Vec<(isize, isize, bool)> = (-2..=2)
        .flat_map(|dy| (-2..=2).flat_map(move |dx| [(dy, dx, false), (dy, dx, true)]))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (k, item) in items.iter().enumerate() {
        let out = &v[k * PIXELS..(k + 1) * PIXELS];
        let found = candidates.iter().copied().find(|&(dy, dx, flip)| {
            let expected = norm.apply(
                &Augmentation::apply(&item.image, shape, dy, dx, flip),
                shape,
            );
            expected.iter().zip(out).all(|(a, b)| (a - b).abs() < 1e-6)
        });
        let found = found.unwrap_or_else(|| panic!("image {k} is no padded crop or flip"));
        seen.insert(found);
    }
    assert_eq!(seen.len(), 50, "{} of 50 crops and flips seen", seen.len());
    let t: Vec<i64> = batch
        .targets
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap();
    assert_eq!(t, items.iter().map(|i| i.label as i64).collect::<Vec<_>>());
    let again: Vec<f32> = batcher(11)
        .batch(items.clone(), &device)
        .images
        .into_data()
        .try_into_vec()
        .unwrap();
    assert_eq!(v, again);
    let other: Vec<f32> = batcher(12)
        .batch(items, &device)
        .images
        .into_data()
        .try_into_vec()
        .unwrap();
    assert_ne!(v, other);
    // A padding above the side is refused.
    assert!(matches!(
        ImageBatcher::train(
            shape,
            norm.clone(),
            Augmentation {
                padding: 29,
                flip: 0.5
            },
            0
        ),
        Err(DataError::InvalidConfig { .. })
    ));
}

/// `Augmentation::apply` on a one-channel image, by hand.
#[test]
fn augmentation_shifts_and_mirrors_one_channel() {
    let shape = fashion_mnist::SHAPE;
    let image: Vec<u8> = (0..PIXELS).map(|i| (i % 250) as u8 + 1).collect();
    let at = |img: &[u8], y: usize, x: usize| img[y * 28 + x];
    assert_eq!(Augmentation::apply(&image, shape, 0, 0, false), image);
    // Shift (dy, dx) = (1, −2): out[y][x] = in[y + 1][x − 2], zero where that is outside.
    let out = Augmentation::apply(&image, shape, 1, -2, false);
    assert_eq!(at(&out, 0, 2), at(&image, 1, 0));
    assert_eq!(at(&out, 26, 27), at(&image, 27, 25));
    assert_eq!(at(&out, 27, 5), 0, "the row below the image");
    assert_eq!(at(&out, 5, 1), 0, "the columns left of the image");
    // Mirror: out[y][27 − x] = in[y][x].
    let out = Augmentation::apply(&image, shape, 0, 0, true);
    for y in [0, 13, 27] {
        for x in [0, 1, 14, 27] {
            assert_eq!(at(&out, y, 27 - x), at(&image, y, x));
        }
    }
}

/// Headers that once panicked: no dimension at all (`dims[1..]` of an empty list), and
/// dimensions whose product overflows `usize`.
#[test]
fn degenerate_headers_are_errors_not_panics() {
    let err = parse(&[0, 0, UBYTE, 0], 0).unwrap_err();
    assert!(
        matches!(&err, DataError::Corrupt { record: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("0 dimensions"), "{err}");
    let err = parse(&idx_file(&[u32::MAX; 5], &[1, 2, 3]), 5).unwrap_err();
    assert!(
        matches!(&err, DataError::Corrupt { record: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("overflow"), "{err}");
    let err = parse(&idx_file(&[2, u32::MAX, u32::MAX, u32::MAX], &[]), 4).unwrap_err();
    assert!(err.to_string().contains("overflow"), "{err}");
}

fn parse(bytes: &[u8], expected_dims: usize) -> std::result::Result<IdxArray, DataError> {
    IdxArray::parse(Path::new("prop.idx"), bytes, expected_dims)
}

/// Bytes with an IDX header of `ndims` small dimensions and some data: near-valid files.
fn near_valid() -> impl Strategy<Value = (Vec<u8>, usize)> {
    (
        prop::collection::vec(0u32..5, 0..5),
        prop::collection::vec(any::<u8>(), 0..150),
        0usize..5,
    )
        .prop_map(|(dims, data, expected)| (idx_file(&dims, &data), expected))
}

proptest! {
    // 256 cases (proptest's default); `PROPTEST_CASES=10000` for the long run.
    #![proptest_config(ProptestConfig::default())]

    /// Any bytes: an `IdxArray` consistent with its header, or a `Corrupt` naming the file;
    /// never a panic.
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), expected in 0usize..6) {
        check_parse(&bytes, expected)?;
    }

    /// Near-valid files (a real header of small dimensions, data of any length), and such a
    /// file with one byte changed.
    #[test]
    fn parse_never_panics_on_near_valid_files(
        (mut bytes, expected) in near_valid(),
        flip in any::<(usize, u8)>(),
    ) {
        check_parse(&bytes, expected)?;
        let i = flip.0 % bytes.len();
        bytes[i] ^= flip.1;
        check_parse(&bytes, expected)?;
    }

    /// `encode` then `parse` gives back the dimensions and data; cutting the data short is a
    /// `Corrupt` naming the first incomplete record; one byte more is a `Corrupt` too.
    #[test]
    fn encode_then_parse_round_trips(
        (dims, data) in prop::collection::vec(1usize..6, 1..4).prop_flat_map(|dims| {
            let n: usize = dims.iter().product();
            (Just(dims), prop::collection::vec(any::<u8>(), n))
        }),
        cut in 1usize..1000,
    ) {
        let bytes = encode(&dims, &data);
        let back = parse(&bytes, dims.len()).unwrap();
        prop_assert_eq!(&back.dims, &dims);
        prop_assert_eq!(&back.data, &data);
        prop_assert_eq!(back.len(), dims[0]);
        prop_assert_eq!(&back.path, Path::new("prop.idx"));
        // Another number of dimensions.
        prop_assert!(parse(&bytes, dims.len() + 1).is_err());
        // Truncated.
        let cut = 1 + cut % data.len();
        let record: usize = dims[1..].iter().product();
        let kept = data.len() - cut;
        match parse(&bytes[..bytes.len() - cut], dims.len()) {
            Err(DataError::Corrupt { record: r, .. }) => prop_assert_eq!(r, Some(kept / record)),
            other => prop_assert!(false, "cut {}: {:?}", cut, other),
        }
        // Longer.
        let mut longer = bytes.clone();
        longer.push(0);
        let longer = parse(&longer, dims.len());
        prop_assert!(
            matches!(longer, Err(DataError::Corrupt { record: None, .. })),
            "{:?}",
            longer
        );
    }
}

fn check_parse(bytes: &[u8], expected: usize) -> std::result::Result<(), TestCaseError> {
    match parse(bytes, expected) {
        Ok(a) => {
            prop_assert_eq!(a.dims.len(), expected);
            prop_assert!(a.dims.iter().all(|&d| d > 0));
            prop_assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
            prop_assert_eq!(&bytes[..4], &[0, 0, UBYTE, expected as u8]);
            prop_assert_eq!(&bytes[4 + 4 * expected..], a.data.as_slice());
        }
        Err(DataError::Corrupt { path, .. }) => prop_assert_eq!(path, Path::new("prop.idx")),
        Err(other) => prop_assert!(false, "not Corrupt: {:?}", other),
    }
    Ok(())
}

/// The real dataset, when Debian's `dataset-fashion-mnist` is installed: sizes, balanced
/// classes, the mean and standard deviation of the training pixels (computed independently
/// with Python: 0.28604 and 0.35302), and a few values checked against Python's reading.
#[test]
fn the_real_files() {
    let dir = Path::new(fashion_mnist::DEBIAN_DIR);
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        eprintln!(
            "SKIPPED the_real_files: {} has no Fashion-MNIST; install it with \
             `apt-get install dataset-fashion-mnist` to run this test",
            dir.display()
        );
        return;
    }
    let train = FashionMnistDataset::new(dir, Split::Train).unwrap();
    let test = FashionMnistDataset::new(dir, Split::Test).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(test.len(), 10_000);
    assert_eq!(train.len(), fashion_mnist::TRAIN_LEN);
    assert_eq!(test.len(), fashion_mnist::TEST_LEN);
    let mut classes = [0usize; 10];
    let (mut sum, mut squares) = (0u64, 0u64);
    for i in 0..train.len() {
        let item = train.get(i).unwrap();
        assert!(item.label < 10);
        assert_eq!(item.image.len(), 784);
        classes[item.label as usize] += 1;
        for &p in &item.image {
            sum += p as u64;
            squares += (p as u64) * (p as u64);
        }
    }
    assert_eq!(classes, [6_000; 10]);
    let mut classes = [0usize; 10];
    for i in 0..test.len() {
        let item = test.get(i).unwrap();
        assert!(item.label < 10);
        classes[item.label as usize] += 1;
    }
    assert_eq!(classes, [1_000; 10]);
    // Python: sum of all training pixel bytes.
    assert_eq!(sum, 3_431_114_169);
    let n = (60_000 * 784) as f64;
    let mean = sum as f64 / n / 255.0;
    let std = ((squares as f64 / n) / (255.0 * 255.0) - mean * mean).sqrt();
    assert!((mean - 0.2860).abs() < 1e-4, "mean {mean}");
    assert!(
        (mean - fashion_mnist::MEAN as f64).abs() < 1e-4,
        "mean {mean}"
    );
    assert!((std - 0.3530).abs() < 1e-4, "std {std}");
    assert!((std - fashion_mnist::STD as f64).abs() < 1e-4, "std {std}");
    // Python: the first labels and the pixel sums of the first images.
    let labels =
        |d: &FashionMnistDataset| (0..5).map(|i| d.get(i).unwrap().label).collect::<Vec<_>>();
    assert_eq!(labels(&train), [9, 0, 0, 3, 0]);
    assert_eq!(labels(&test), [9, 2, 1, 1, 6]);
    let pixel_sum = |d: &FashionMnistDataset| {
        d.get(0)
            .unwrap()
            .image
            .iter()
            .map(|&p| p as u64)
            .sum::<u64>()
    };
    assert_eq!(pixel_sum(&train), 76_247);
    assert_eq!(pixel_sum(&test), 33_456);
    assert!(train.get(60_000).is_err());
    assert!(test.get(10_000).is_err());
}

//! The CIFAR-10.1 reader on `.npy` files written from real CIFAR-10 test
//! images, and its errors on damaged files.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use data::cifar10::CLASSES;
use data::cifar10_1::{self, Cifar10_1, DATA_FILES, LABEL_FILES};
use data::{DataError, Dataset, EvalBatches, Normalization};

use common::binary_test;

/// Images written per test: the first 200 records of the binary test batch,
/// which interleaves the classes, so 20 of each class.
const IMAGES: usize = 200;
const IMAGE_LEN: usize = 32 * 32 * 3;

/// Returns the first `IMAGES` records of the real CIFAR-10 test batch.
fn source() -> Dataset {
    let indices: Vec<usize> = (0..IMAGES).collect();
    binary_test().select(&indices)
}

/// Encodes an `.npy` file of format version `major`.0 as NumPy writes it.
/// The magic string and the version come first, then the header length
/// (2 bytes in 1.0, 4 bytes in 2.0) and the header dict. The dict is padded
/// with spaces and ended by a newline, so the array bytes that follow start
/// at a multiple of 64 bytes.
fn npy_bytes(major: u8, descr: &str, fortran: bool, shape: &[usize], array: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = match dims.as_slice() {
        [single] => format!("({single},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let order = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape_text}, }}");
    let prefix_len = if major == 1 { 10 } else { 12 };
    let unpadded = prefix_len + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');

    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend([major, 0]);
    if major == 1 {
        bytes.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
    } else {
        bytes.extend(u32::try_from(header.len()).unwrap().to_le_bytes());
    }
    bytes.extend(header.as_bytes());
    bytes.extend(array);
    bytes
}

/// Encodes `labels` as little-endian integers of the NumPy type `descr`.
fn encode_labels(labels: &[i64], descr: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for &label in labels {
        match &descr[1..] {
            "i1" => bytes.extend(i8::try_from(label).unwrap().to_le_bytes()),
            "u1" => bytes.extend(u8::try_from(label).unwrap().to_le_bytes()),
            "i2" => bytes.extend(i16::try_from(label).unwrap().to_le_bytes()),
            "u2" => bytes.extend(u16::try_from(label).unwrap().to_le_bytes()),
            "i4" => bytes.extend(i32::try_from(label).unwrap().to_le_bytes()),
            "u4" => bytes.extend(u32::try_from(label).unwrap().to_le_bytes()),
            "i8" => bytes.extend(label.to_le_bytes()),
            "u8" => bytes.extend(u64::try_from(label).unwrap().to_le_bytes()),
            other => panic!("no encoder for {other}"),
        }
    }
    bytes
}

fn source_labels(dataset: &Dataset) -> Vec<i64> {
    dataset
        .labels
        .iter()
        .map(|&label| i64::from(label))
        .collect()
}

/// Writes the image file `name` with the images of `dataset`.
fn write_images(dir: &Path, name: &str, dataset: &Dataset) -> PathBuf {
    let path = dir.join(name);
    let shape = [dataset.len(), 32, 32, 3];
    fs::write(&path, npy_bytes(1, "|u1", false, &shape, &dataset.images)).unwrap();
    path
}

/// Writes the label file `name` with `labels` as `descr` integers.
fn write_labels(dir: &Path, name: &str, labels: &[i64], descr: &str) -> PathBuf {
    let path = dir.join(name);
    let array = encode_labels(labels, descr);
    fs::write(&path, npy_bytes(1, descr, false, &[labels.len()], &array)).unwrap();
    path
}

/// Writes both official files from the source images, labels as `<i8`.
fn write_official(dir: &Path) -> (PathBuf, PathBuf) {
    let dataset = source();
    let data = write_images(dir, DATA_FILES[0], &dataset);
    let labels = write_labels(dir, LABEL_FILES[0], &source_labels(&dataset), "<i8");
    (data, labels)
}

fn assert_same_images(loaded: &Dataset, expected: &Dataset) {
    assert_eq!(loaded.len(), expected.len());
    assert_eq!((loaded.height, loaded.width), (32, 32));
    for i in 0..expected.len() {
        assert_eq!(loaded.image(i), expected.image(i), "pixels of image {i}");
        assert_eq!(loaded.label(i), expected.label(i), "label of image {i}");
    }
    assert_eq!(loaded.images.len(), expected.len() * IMAGE_LEN);
}

#[test]
fn int64_labels_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let loaded = cifar10_1::load(dir.path()).unwrap();
    let expected = source();
    assert_same_images(&loaded, &expected);
    assert!(loaded.classes.iter().map(String::as_str).eq(CLASSES));
    assert_eq!(loaded.class_counts(), vec![20; 10]);
}

#[test]
fn other_integer_dtypes_round_trip() {
    let expected = source();
    let labels = source_labels(&expected);
    for descr in ["|u1", "|i1", "<i2", "<u2", "<i4", "<u4", "<u8"] {
        let dir = tempfile::tempdir().unwrap();
        write_images(dir.path(), DATA_FILES[0], &expected);
        write_labels(dir.path(), LABEL_FILES[0], &labels, descr);
        let loaded =
            cifar10_1::load(dir.path()).unwrap_or_else(|e| panic!("labels as {descr}: {e}"));
        assert_eq!(loaded.labels, expected.labels, "labels as {descr}");
        assert_eq!(loaded.images, expected.images, "labels as {descr}");
    }
}

#[test]
fn alternate_file_names_load() {
    let dir = tempfile::tempdir().unwrap();
    let expected = source();
    write_images(dir.path(), "cifar10.1-data.npy", &expected);
    write_labels(
        dir.path(),
        "cifar10.1-labels.npy",
        &source_labels(&expected),
        "<i8",
    );
    let files = Cifar10_1::open(dir.path()).unwrap();
    assert_eq!(files.data, dir.path().join("cifar10.1-data.npy"));
    assert_eq!(files.labels, dir.path().join("cifar10.1-labels.npy"));
    assert_same_images(&files.load().unwrap(), &expected);
}

#[test]
fn mixed_spellings_pair_up() {
    let dir = tempfile::tempdir().unwrap();
    let expected = source();
    write_images(dir.path(), DATA_FILES[0], &expected);
    write_labels(
        dir.path(),
        "cifar10.1-labels.npy",
        &source_labels(&expected),
        "<i8",
    );
    assert_same_images(&cifar10_1::load(dir.path()).unwrap(), &expected);
}

#[test]
fn datasets_sub_folder_found() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("datasets");
    fs::create_dir(&nested).unwrap();
    write_official(&nested);
    assert!(cifar10_1::contains_files(dir.path()));
    let files = Cifar10_1::open(dir.path()).unwrap();
    assert_eq!(files.data, nested.join(DATA_FILES[0]));
    assert_same_images(&files.load().unwrap(), &source());
}

#[test]
fn version_2_header_reads() {
    let dir = tempfile::tempdir().unwrap();
    let expected = source();
    let shape = [IMAGES, 32, 32, 3];
    fs::write(
        dir.path().join(DATA_FILES[0]),
        npy_bytes(2, "|u1", false, &shape, &expected.images),
    )
    .unwrap();
    let labels = encode_labels(&source_labels(&expected), "<i8");
    fs::write(
        dir.path().join(LABEL_FILES[0]),
        npy_bytes(2, "<i8", false, &[IMAGES], &labels),
    )
    .unwrap();
    assert_same_images(&cifar10_1::load(dir.path()).unwrap(), &expected);
}

/// The CIFAR-10 evaluation batches of the CIFAR-10.1 copy equal those of
/// the same images read from the binary batch, value for value.
#[test]
fn eval_batches_match_cifar10() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let loaded = cifar10_1::load(dir.path()).unwrap();
    let expected = source();
    let copies = EvalBatches::new(&loaded, 64, Normalization::CIFAR10).unwrap();
    let originals = EvalBatches::new(&expected, 64, Normalization::CIFAR10).unwrap();
    let mut batches = 0;
    for (copy, original) in copies.zip(originals) {
        assert_eq!(copy.labels, original.labels, "labels of batch {batches}");
        assert_eq!(copy.images, original.images, "values of batch {batches}");
        batches += 1;
    }
    assert_eq!(batches, 4, "200 images in batches of 64");
}

#[test]
fn contains_files_needs_one_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!cifar10_1::contains_files(dir.path()));
    fs::write(dir.path().join("notes.npy"), b"not CIFAR-10.1").unwrap();
    assert!(!cifar10_1::contains_files(dir.path()));
    write_labels(dir.path(), LABEL_FILES[1], &[3, 4], "<i8");
    assert!(cifar10_1::contains_files(dir.path()));
}

/// Loads `dir` and returns the error with its message.
fn load_error(dir: &Path) -> (DataError, String) {
    let error = cifar10_1::load(dir).expect_err("the load should fail");
    let message = error.to_string();
    (error, message)
}

fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{needle}` missing from: {message}"
        );
    }
}

#[test]
fn float_images_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let floats: Vec<u8> = source()
        .images
        .iter()
        .flat_map(|&x| (f32::from(x) / 255.0).to_le_bytes())
        .collect();
    let shape = [IMAGES, 32, 32, 3];
    fs::write(
        dir.path().join(DATA_FILES[0]),
        npy_bytes(1, "<f4", false, &shape, &floats),
    )
    .unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyDtype { .. }), "{error:?}");
    assert_mentions(
        &message,
        &[DATA_FILES[0], "dtype <f4 (float32)", "expected |u1 (uint8)"],
    );
}

#[test]
fn float_labels_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let floats: Vec<u8> = source()
        .labels
        .iter()
        .flat_map(|&label| f64::from(label).to_le_bytes())
        .collect();
    fs::write(
        dir.path().join(LABEL_FILES[0]),
        npy_bytes(1, "<f8", false, &[IMAGES], &floats),
    )
    .unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyDtype { .. }), "{error:?}");
    assert_mentions(
        &message,
        &[
            LABEL_FILES[0],
            "dtype <f8 (float64)",
            "little-endian integer dtype",
        ],
    );
}

#[test]
fn big_endian_labels_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let big: Vec<u8> = source()
        .labels
        .iter()
        .flat_map(|&label| i64::from(label).to_be_bytes())
        .collect();
    fs::write(
        dir.path().join(LABEL_FILES[0]),
        npy_bytes(1, ">i8", false, &[IMAGES], &big),
    )
    .unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyDtype { .. }), "{error:?}");
    assert_mentions(&message, &[">i8 (int64)", "little-endian"]);
}

#[test]
fn channels_first_images_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let shape = [IMAGES, 3, 32, 32];
    fs::write(
        dir.path().join(DATA_FILES[0]),
        npy_bytes(1, "|u1", false, &shape, &source().images),
    )
    .unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyShape { .. }), "{error:?}");
    assert_mentions(
        &message,
        &[
            DATA_FILES[0],
            "shape (200, 3, 32, 32)",
            "expected (N, 32, 32, 3)",
        ],
    );
}

#[test]
fn two_dimensional_labels_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let labels = encode_labels(&source_labels(&source()), "<i8");
    fs::write(
        dir.path().join(LABEL_FILES[0]),
        npy_bytes(1, "<i8", false, &[IMAGES, 1], &labels),
    )
    .unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyShape { .. }), "{error:?}");
    assert_mentions(
        &message,
        &[LABEL_FILES[0], "shape (200, 1)", "expected (N,)"],
    );
}

#[test]
fn empty_image_array_rejected() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(DATA_FILES[0]),
        npy_bytes(1, "|u1", false, &[0, 32, 32, 3], &[]),
    )
    .unwrap();
    write_labels(dir.path(), LABEL_FILES[0], &[], "<i8");
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyShape { .. }), "{error:?}");
    assert_mentions(&message, &["shape (0, 32, 32, 3)", "N >= 1"]);
}

#[test]
fn fortran_order_images_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let shape = [IMAGES, 32, 32, 3];
    fs::write(
        dir.path().join(DATA_FILES[0]),
        npy_bytes(1, "|u1", true, &shape, &source().images),
    )
    .unwrap();
    let (error, message) = load_error(dir.path());
    assert!(
        matches!(error, DataError::NpyFortranOrder { .. }),
        "{error:?}"
    );
    assert_mentions(&message, &[DATA_FILES[0], "Fortran order", "C order"]);
}

#[test]
fn truncated_images_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = write_official(dir.path());
    let bytes = fs::read(&data).unwrap();
    fs::write(&data, &bytes[..bytes.len() - 100]).unwrap();
    let (error, message) = load_error(dir.path());
    match error {
        DataError::NpyDataSize {
            found, expected, ..
        } => {
            assert_eq!(expected, (IMAGES * IMAGE_LEN) as u128);
            assert_eq!(found, (IMAGES * IMAGE_LEN - 100) as u64);
        }
        other => panic!("expected NpyDataSize, got {other:?}"),
    }
    assert_mentions(
        &message,
        &[
            DATA_FILES[0],
            "614300 bytes",
            "expected 614400 bytes",
            "(200, 32, 32, 3)",
            "truncated",
        ],
    );
}

#[test]
fn truncated_labels_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, labels) = write_official(dir.path());
    let bytes = fs::read(&labels).unwrap();
    fs::write(&labels, &bytes[..bytes.len() - 3]).unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyDataSize { .. }), "{error:?}");
    assert_mentions(
        &message,
        &[
            LABEL_FILES[0],
            "1597 bytes",
            "expected 1600 bytes",
            "truncated",
        ],
    );
}

#[test]
fn trailing_bytes_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = write_official(dir.path());
    let mut bytes = fs::read(&data).unwrap();
    bytes.extend([0u8; 16]);
    fs::write(&data, &bytes).unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyDataSize { .. }), "{error:?}");
    assert_mentions(&message, &["614416 bytes", "longer than its array"]);
}

#[test]
fn truncated_header_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = write_official(dir.path());
    let bytes = fs::read(&data).unwrap();
    fs::write(&data, &bytes[..40]).unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyHeader { .. }), "{error:?}");
    assert_mentions(&message, &[DATA_FILES[0], "not an .npy file or is damaged"]);
}

#[test]
fn non_npy_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, labels) = write_official(dir.path());
    fs::copy(common::test_jpeg("cat", 0), &labels).unwrap();
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::NpyHeader { .. }), "{error:?}");
    assert_mentions(&message, &[LABEL_FILES[0], "NumPy header"]);
}

#[test]
fn label_ten_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let mut labels = source_labels(&source());
    labels[7] = 10;
    write_labels(dir.path(), LABEL_FILES[0], &labels, "<i8");
    let (error, message) = load_error(dir.path());
    match error {
        DataError::LabelValueOutOfRange { index, label, .. } => {
            assert_eq!((index, label), (7, 10));
        }
        other => panic!("expected LabelValueOutOfRange, got {other:?}"),
    }
    assert_mentions(
        &message,
        &[LABEL_FILES[0], "label 10 at index 7", "expected 0 to 9"],
    );
}

#[test]
fn negative_label_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let mut labels = source_labels(&source());
    labels[199] = -1;
    write_labels(dir.path(), LABEL_FILES[0], &labels, "<i2");
    let (error, message) = load_error(dir.path());
    assert!(
        matches!(
            error,
            DataError::LabelValueOutOfRange {
                index: 199,
                label: -1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_mentions(&message, &["label -1 at index 199"]);
}

#[test]
fn count_mismatch_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    let labels = source_labels(&source());
    write_labels(dir.path(), LABEL_FILES[0], &labels[..199], "<i8");
    let (error, message) = load_error(dir.path());
    match error {
        DataError::CountMismatch { images, labels, .. } => {
            assert_eq!((images, labels), (200, 199));
        }
        other => panic!("expected CountMismatch, got {other:?}"),
    }
    assert_mentions(
        &message,
        &[DATA_FILES[0], "200 images", LABEL_FILES[0], "199 labels"],
    );
}

#[test]
fn missing_label_file_named() {
    let dir = tempfile::tempdir().unwrap();
    write_images(dir.path(), DATA_FILES[0], &source());
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::MissingFile { .. }), "{error:?}");
    assert_mentions(
        &message,
        &[
            "contains no CIFAR-10.1 label file",
            LABEL_FILES[0],
            LABEL_FILES[1],
        ],
    );
}

#[test]
fn missing_image_file_named() {
    let dir = tempfile::tempdir().unwrap();
    write_labels(dir.path(), LABEL_FILES[0], &[1, 2, 3], "<i8");
    let (error, message) = load_error(dir.path());
    assert!(matches!(error, DataError::MissingFile { .. }), "{error:?}");
    assert_mentions(
        &message,
        &[
            "contains no CIFAR-10.1 image file",
            DATA_FILES[0],
            DATA_FILES[1],
        ],
    );
}

#[test]
fn both_spellings_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_official(dir.path());
    write_images(dir.path(), DATA_FILES[1], &source());
    let (error, message) = load_error(dir.path());
    assert!(
        matches!(error, DataError::AmbiguousFiles { .. }),
        "{error:?}"
    );
    assert_mentions(
        &message,
        &[DATA_FILES[0], DATA_FILES[1], "remove or rename one"],
    );
}

#[test]
fn missing_folder_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (error, message) = load_error(&dir.path().join("nowhere"));
    assert!(matches!(error, DataError::NotFound { .. }), "{error:?}");
    assert_mentions(&message, &["nowhere", "not found"]);
}

#[test]
fn file_path_not_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = write_official(dir.path());
    let (error, message) = load_error(&data);
    assert!(
        matches!(error, DataError::InvalidArgument { .. }),
        "{error:?}"
    );
    assert_mentions(
        &message,
        &[
            "invalid CIFAR-10.1 folder",
            "is not a folder",
            LABEL_FILES[0],
        ],
    );
}

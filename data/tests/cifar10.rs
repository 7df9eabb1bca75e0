mod common;

use std::fs;
use std::path::Path;

use data::cifar10::{self, Layout, Split, CLASSES, RECORD_LEN};
use data::DataError;

use common::{binary_dir, binary_test, data_root, image_folder_root};

/// Largest per-pixel difference between two JPEG decoders seen on this data
/// (zune-jpeg in `image` against the decoder that produced the binary file),
/// with a margin. Both round the IDCT and the 4:2:0 chroma upsampling
/// differently, so exact equality is not expected.
const DECODER_TOLERANCE: u8 = 8;

#[test]
fn binary_test_split_shape() {
    let test = binary_test();
    assert_eq!(test.len(), 10_000);
    assert_eq!(test.height, 32);
    assert_eq!(test.width, 32);
    assert_eq!(test.images.len(), 10_000 * 32 * 32 * 3);
    assert!(test.classes.iter().map(String::as_str).eq(CLASSES));
    assert_eq!(test.class_counts(), vec![1000; 10]);
}

#[test]
fn image_folder_test_split_shape() {
    let (test, report) =
        cifar10::load_with_report(&image_folder_root(), Split::Test).expect("load ImageFolder");
    assert_eq!(test.len(), 10_000);
    assert!(report.skipped.is_empty());
    assert!(test.classes.iter().map(String::as_str).eq(CLASSES));
    assert_eq!(test.class_counts(), vec![1000; 10]);
}

/// The binary test file interleaves the classes: record `r` is the
/// `r / 10`-th JPEG (sorted file order) of class `r % 10`.
#[test]
fn binary_matches_image_folder() {
    let binary = binary_test();
    let jpeg = cifar10::load(&image_folder_root(), Split::Test).expect("load ImageFolder");
    let mut total_difference = 0u64;
    for r in 0..binary.len() {
        let j = (r % 10) * 1000 + r / 10;
        assert_eq!(binary.label(r), r % 10, "label of record {r}");
        assert_eq!(jpeg.label(j), binary.label(r), "label of record {r}");
        let pairs = binary.image(r).iter().zip(jpeg.image(j));
        let max = pairs.clone().map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(
            max <= DECODER_TOLERANCE,
            "record {r}: max pixel difference {max}"
        );
        total_difference += pairs.map(|(a, b)| u64::from(a.abs_diff(*b))).sum::<u64>();
    }
    let mean = total_difference as f64 / binary.images.len() as f64;
    assert!(mean < 0.5, "mean absolute pixel difference {mean}");
}

/// A mismatched channel order or plane layout would make this comparison
/// fail by far more than the decoder tolerance.
#[test]
fn binary_record_is_planar_rgb() {
    let bytes = fs::read(binary_dir().join("test_batch.bin")).unwrap();
    let record = &bytes[..RECORD_LEN];
    let image = binary_test().image(0);
    for pixel in [0, 1, 31, 32, 500, 1023] {
        for channel in 0..3 {
            assert_eq!(
                image[pixel * 3 + channel],
                record[1 + channel * 1024 + pixel],
                "pixel {pixel} channel {channel}"
            );
        }
    }
}

#[test]
fn detects_both_layouts() {
    let folder = cifar10::detect(&image_folder_root()).unwrap();
    assert_eq!(
        folder,
        Layout::ImageFolder {
            root: image_folder_root()
        }
    );
    let binary = cifar10::detect(&binary_dir()).unwrap();
    assert_eq!(binary, Layout::Binary { dir: binary_dir() });
}

#[test]
fn detects_nested_binary_folder() {
    let layout = cifar10::detect(&data_root()).unwrap();
    assert_eq!(layout, Layout::Binary { dir: binary_dir() });
    let test = cifar10::load(&data_root(), Split::Test).unwrap();
    assert_eq!(test, *binary_test());
}

#[test]
fn unknown_layout_error_lists_both() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "not a dataset").unwrap();
    let error = cifar10::load(dir.path(), Split::Train).unwrap_err();
    assert!(
        matches!(error, DataError::UnknownLayout { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    for expected in [
        "train/<class>/",
        "test/<class>/",
        "data_batch_1.bin",
        "data_batch_5.bin",
        "test_batch.bin",
        "batches.meta.txt",
        "cifar-10-batches-bin/",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
    ] {
        assert!(
            message.contains(expected),
            "`{expected}` missing from: {message}"
        );
    }
}

#[test]
fn missing_folder_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let error = cifar10::load(&missing, Split::Test).unwrap_err();
    assert!(matches!(error, DataError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("nowhere"));
}

#[test]
fn missing_train_batches_named() {
    let error = cifar10::load(&binary_dir(), Split::Train).unwrap_err();
    assert!(matches!(error, DataError::MissingSplit { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("train"), "{message}");
    for n in 1..=5 {
        let name = format!("data_batch_{n}.bin");
        assert!(message.contains(&name), "`{name}` missing from: {message}");
    }
}

#[test]
fn missing_image_folder_split_named() {
    let dir = tempfile::tempdir().unwrap();
    let class_dir = dir.path().join("test/cat");
    fs::create_dir_all(&class_dir).unwrap();
    fs::copy(common::test_jpeg("cat", 0), class_dir.join("0000.jpg")).unwrap();
    let error = cifar10::load(dir.path(), Split::Train).unwrap_err();
    assert!(matches!(error, DataError::MissingSplit { .. }), "{error:?}");
    assert!(error.to_string().contains("train"), "{error}");
}

/// Copies the first `records` records of the real test file, plus `extra`
/// trailing bytes, and the class names into a new folder.
fn write_binary_copy(dir: &Path, records: usize, extra: usize) {
    let bytes = fs::read(binary_dir().join("test_batch.bin")).unwrap();
    fs::write(
        dir.join("test_batch.bin"),
        &bytes[..records * RECORD_LEN + extra],
    )
    .unwrap();
    fs::copy(
        binary_dir().join("batches.meta.txt"),
        dir.join("batches.meta.txt"),
    )
    .unwrap();
}

#[test]
fn truncated_binary_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_binary_copy(dir.path(), 3, 100);
    let error = cifar10::load(dir.path(), Split::Test).unwrap_err();
    assert!(
        matches!(error, DataError::InvalidBinarySize { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("test_batch.bin"), "{message}");
    assert!(message.contains("3073"), "{message}");
}

#[test]
fn binary_copy_loads_same_records() {
    let dir = tempfile::tempdir().unwrap();
    write_binary_copy(dir.path(), 20, 0);
    let copy = cifar10::load(dir.path(), Split::Test).unwrap();
    assert_eq!(copy.len(), 20);
    assert_eq!(copy.images, binary_test().images[..20 * 3072]);
}

#[test]
fn label_beyond_class_names_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_binary_copy(dir.path(), 20, 0);
    fs::write(
        dir.path().join("batches.meta.txt"),
        "airplane\nautomobile\n\n",
    )
    .unwrap();
    let error = cifar10::load(dir.path(), Split::Test).unwrap_err();
    match error {
        DataError::LabelOutOfRange {
            record,
            label,
            classes,
            ..
        } => {
            assert_eq!((record, label, classes), (2, 2, 2));
        }
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }
}

#[test]
fn meta_file_ignores_empty_lines() {
    let dir = tempfile::tempdir().unwrap();
    write_binary_copy(dir.path(), 10, 0);
    let names = format!("\n{}\n\n", CLASSES.join("\n\n"));
    fs::write(dir.path().join("batches.meta.txt"), names).unwrap();
    let copy = cifar10::load(dir.path(), Split::Test).unwrap();
    assert!(copy.classes.iter().map(String::as_str).eq(CLASSES));
}

#[test]
fn empty_binary_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_binary_copy(dir.path(), 0, 0);
    let error = cifar10::load(dir.path(), Split::Test).unwrap_err();
    assert!(matches!(error, DataError::EmptyFile { .. }), "{error:?}");
    assert!(error.to_string().contains("test_batch.bin"), "{error}");
}

#[test]
fn split_parses_from_text() {
    assert_eq!("train".parse::<Split>().unwrap(), Split::Train);
    assert_eq!("test".parse::<Split>().unwrap(), Split::Test);
    let error = "validation".parse::<Split>().unwrap_err();
    assert!(error.to_string().contains("validation"), "{error}");
}

#[test]
fn file_path_not_a_folder() {
    let file = common::test_jpeg("cat", 0);
    let error = cifar10::load(&file, Split::Test).unwrap_err();
    assert!(matches!(error, DataError::NotAFolder { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("0000.jpg is not a folder"), "{message}");
    assert!(!message.contains("not found"), "{message}");
    for expected in ["train/<class>/", "test_batch.bin", "cifar-10-batches-bin/"] {
        assert!(
            message.contains(expected),
            "`{expected}` missing from: {message}"
        );
    }
}

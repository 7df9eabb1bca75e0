mod common;

use std::fs;
use std::path::{Path, PathBuf};

use data::cifar10::{self, Split};
use data::image::{load_rgb, resize_rgb};
use data::{image_folder, DataError};

use common::test_jpeg;

/// Builds `root/{cat,dog}` from real CIFAR-10 JPEGs plus files that must be
/// skipped (a truncated JPEG, a text file named `.png`) or ignored (a hidden
/// JPEG, a `.txt` file), and a 64x64 PNG that must be resized. Returns the
/// paths of the files that must be skipped.
fn build_folder(root: &Path) -> Vec<PathBuf> {
    let cat = root.join("cat");
    let dog = root.join("dog");
    fs::create_dir_all(&cat).unwrap();
    fs::create_dir_all(&dog).unwrap();
    for k in 0..3 {
        fs::copy(test_jpeg("cat", k), cat.join(format!("{k:04}.jpg"))).unwrap();
    }
    let truncated = cat.join("0003.jpg");
    let bytes = fs::read(test_jpeg("cat", 3)).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let text = cat.join("0004.png");
    fs::write(&text, "not an image").unwrap();
    fs::copy(test_jpeg("cat", 5), cat.join(".0005.jpg")).unwrap();
    fs::write(cat.join("labels.txt"), "ignored").unwrap();

    for k in 0..2 {
        fs::copy(test_jpeg("dog", k), dog.join(format!("{k:04}.JPG"))).unwrap();
    }
    let large = resize_rgb(&load_rgb(&test_jpeg("dog", 2)).unwrap(), 64, 64);
    large.save(dog.join("0002.png")).unwrap();
    vec![truncated, text]
}

#[test]
fn skips_undecodable_files() {
    let dir = tempfile::tempdir().unwrap();
    let expected_skipped = build_folder(dir.path());
    let (dataset, report) = image_folder::load_with_report(dir.path(), 32).unwrap();
    assert_eq!(report.skipped, expected_skipped);
    assert_eq!(dataset.len(), 6);
    assert_eq!(dataset.classes, vec!["cat", "dog"]);
    assert_eq!(dataset.labels, vec![0, 0, 0, 1, 1, 1]);
}

#[test]
fn keeps_images_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    build_folder(dir.path());
    let dataset = image_folder::load(dir.path(), 32).unwrap();
    let sources = [
        test_jpeg("cat", 0),
        test_jpeg("cat", 1),
        test_jpeg("cat", 2),
        test_jpeg("dog", 0),
        test_jpeg("dog", 1),
    ];
    for (i, source) in sources.iter().enumerate() {
        let expected = load_rgb(source).unwrap();
        assert_eq!(dataset.image(i), expected.as_raw().as_slice(), "image {i}");
    }
}

#[test]
fn resizes_other_sizes() {
    let dir = tempfile::tempdir().unwrap();
    build_folder(dir.path());
    let dataset = image_folder::load(dir.path(), 32).unwrap();
    let large = load_rgb(&dir.path().join("dog/0002.png")).unwrap();
    assert_eq!(large.dimensions(), (64, 64));
    let expected = resize_rgb(&large, 32, 32);
    assert_eq!(dataset.image(5), expected.as_raw().as_slice());
}

#[test]
fn loads_at_requested_size() {
    let dir = tempfile::tempdir().unwrap();
    build_folder(dir.path());
    let dataset = image_folder::load(dir.path(), 16).unwrap();
    assert_eq!((dataset.height, dataset.width), (16, 16));
    assert_eq!(dataset.images.len(), 6 * 16 * 16 * 3);
    let expected = resize_rgb(&load_rgb(&test_jpeg("cat", 1)).unwrap(), 16, 16);
    assert_eq!(dataset.image(1), expected.as_raw().as_slice());
}

#[test]
fn cifar10_reports_skipped_files() {
    let dir = tempfile::tempdir().unwrap();
    let expected_skipped = build_folder(&dir.path().join("train"));
    let (dataset, report) = cifar10::load_with_report(dir.path(), Split::Train).unwrap();
    assert_eq!(report.skipped, expected_skipped);
    assert_eq!(dataset.len(), 6);
    assert_eq!((dataset.height, dataset.width), (32, 32));
}

#[test]
fn zero_size_rejected() {
    let dir = tempfile::tempdir().unwrap();
    build_folder(dir.path());
    let error = image_folder::load(dir.path(), 0).unwrap_err();
    assert!(
        matches!(error, DataError::InvalidArgument { .. }),
        "{error:?}"
    );
}

#[test]
fn folder_without_classes_rejected() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("0000.jpg"), "loose file").unwrap();
    let error = image_folder::load(dir.path(), 32).unwrap_err();
    assert!(matches!(error, DataError::NoClasses { .. }), "{error:?}");
}

#[test]
fn folder_without_images_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let class_dir = dir.path().join("cat");
    fs::create_dir_all(&class_dir).unwrap();
    fs::write(class_dir.join("0000.jpg"), "not a JPEG").unwrap();
    let error = image_folder::load(dir.path(), 32).unwrap_err();
    match error {
        DataError::NoImages { skipped, .. } => assert_eq!(skipped, 1),
        other => panic!("expected NoImages, got {other:?}"),
    }
}

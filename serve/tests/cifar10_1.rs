//! `serve eval` on CIFAR-10.1 `.npy` files written from real CIFAR-10 test
//! images, compared with the same images read from the binary batch.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{
    assert_clean_failure, describe, run, serve, shared_data, small_model, stdout_json, test_image,
};
use data::cifar10::{self, Split, RECORD_LEN};
use data::cifar10_1::{DATA_FILES, LABEL_FILES};
use data::Dataset;
use serde_json::Value;

/// Records taken from the binary test batch, which interleaves the classes,
/// so 20 images of each class.
const IMAGES: usize = 200;

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn binary_dir() -> PathBuf {
    shared_data().join(cifar10::BINARY_FOLDER)
}

/// Encodes a version 1.0 `.npy` file: magic string, version, header length,
/// the header dict padded with spaces to a multiple of 64 bytes and ended by
/// a newline, then the array bytes.
fn npy_bytes(descr: &str, shape: &[usize], array: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = match dims.as_slice() {
        [single] => format!("({single},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(array);
    bytes
}

/// Copies the first `records` records of the real test batch and the class
/// names into `dir`.
fn write_binary(dir: &Path, records: usize) {
    fs::create_dir_all(dir).unwrap();
    let bytes = fs::read(binary_dir().join("test_batch.bin")).unwrap();
    fs::write(dir.join("test_batch.bin"), &bytes[..records * RECORD_LEN]).unwrap();
    fs::copy(
        binary_dir().join("batches.meta.txt"),
        dir.join("batches.meta.txt"),
    )
    .unwrap();
}

/// Returns the first `records` images of the real test batch.
fn binary_images(records: usize) -> Dataset {
    let test = cifar10::load(&binary_dir(), Split::Test).unwrap();
    let indices: Vec<usize> = (0..records).collect();
    test.select(&indices)
}

/// Writes `dataset` as the two official CIFAR-10.1 files in `dir`, the
/// labels as `<i8` after `relabel`.
fn write_npy(dir: &Path, dataset: &Dataset, relabel: impl Fn(u16) -> u16) {
    fs::create_dir_all(dir).unwrap();
    let shape = [dataset.len(), 32, 32, 3];
    fs::write(
        dir.join(DATA_FILES[0]),
        npy_bytes("|u1", &shape, &dataset.images),
    )
    .unwrap();
    let labels: Vec<u8> = dataset
        .labels
        .iter()
        .flat_map(|&label| i64::from(relabel(label)).to_le_bytes())
        .collect();
    fs::write(
        dir.join(LABEL_FILES[0]),
        npy_bytes("<i8", &[dataset.len()], &labels),
    )
    .unwrap();
}

/// Runs `serve eval --json` with `extra` arguments and returns the output.
fn eval(model: &Path, data: &Path, extra: &[&str]) -> Output {
    let args = ["eval", path_str(model), "--data", path_str(data), "--json"];
    run(serve(&args).args(extra))
}

/// Runs `serve eval --json` and parses the result, failing on an error.
fn eval_json(model: &Path, data: &Path, extra: &[&str]) -> Value {
    let output = eval(model, data, extra);
    assert!(output.status.success(), "{}", describe(&output));
    stdout_json(&output)
}

/// The accuracy fields that must agree between two evaluations of the same
/// images.
fn accuracy(eval: &Value) -> Value {
    serde_json::json!({
        "images": eval["images"],
        "correct_top1": eval["correct_top1"],
        "correct_top5": eval["correct_top5"],
        "top1": eval["top1"],
        "top5": eval["top5"],
        "per_class": eval["per_class"],
    })
}

#[test]
fn eval_matches_binary_source() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let binary = dir.path().join("binary");
    write_binary(&binary, IMAGES);
    let npy = dir.path().join("cifar10.1");
    write_npy(&npy, &binary_images(IMAGES), |label| label);

    let original = eval_json(&model, &binary, &[]);
    let copy = eval_json(&model, &npy, &[]);
    assert_eq!(original["dataset"], "cifar10");
    assert_eq!(copy["dataset"], "cifar10.1");
    assert_eq!(copy["split"], "test");
    assert_eq!(copy["split_images"].as_u64(), Some(IMAGES as u64));
    assert_eq!(copy["images"].as_u64(), Some(IMAGES as u64));
    assert_eq!(accuracy(&copy), accuracy(&original));
    let per_class = copy["per_class"].as_array().unwrap();
    let classes: Vec<&str> = per_class
        .iter()
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, cifar10::CLASSES);
    for class in per_class {
        assert_eq!(class["images"].as_u64(), Some(20), "{class}");
    }

    // Shifted labels must change the counts, or the comparison above
    // could not detect a label mix-up.
    let shifted = dir.path().join("shifted");
    write_npy(&shifted, &binary_images(IMAGES), |label| (label + 1) % 10);
    let shifted = eval_json(&model, &shifted, &[]);
    assert_ne!(shifted["per_class"], original["per_class"]);
}

#[test]
fn eval_subset_matches_binary_source() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let binary = dir.path().join("binary");
    write_binary(&binary, IMAGES);
    let npy = dir.path().join("cifar10.1");
    write_npy(&npy, &binary_images(IMAGES), |label| label);

    let subset = ["--limit-test", "50", "--seed", "4", "--batch-size", "16"];
    let original = eval_json(&model, &binary, &subset);
    let copy = eval_json(&model, &npy, &subset);
    assert_eq!(copy["images"].as_u64(), Some(50));
    assert_eq!(copy["split_images"].as_u64(), Some(IMAGES as u64));
    assert_eq!(copy["seed"].as_u64(), Some(4));
    assert_eq!(accuracy(&copy), accuracy(&original));
}

#[test]
fn eval_text_names_cifar10_1() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let npy = dir.path().join("cifar10.1");
    write_npy(&npy, &binary_images(IMAGES), |label| label);
    let args = ["eval", path_str(&model), "--data", path_str(&npy)];
    let output = run(&mut serve(&args));
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "(CIFAR-10.1 test set)",
        "images     200 ",
        "top-1",
        "top-5",
        "airplane",
        "truck",
    ] {
        assert!(text.contains(needle), "missing `{needle}`\n{text}");
    }
}

#[test]
fn eval_mixed_folder_needs_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let mixed = dir.path().join("mixed");
    write_binary(&mixed, 30);
    write_npy(&mixed, &binary_images(IMAGES), |label| label);

    let output = eval(&model, &mixed, &[]);
    assert_clean_failure(
        &output,
        &[
            "both CIFAR-10.1 files and CIFAR-10 data",
            "--dataset cifar10.1",
            "--dataset cifar10",
        ],
    );
    let cifar10_1 = eval_json(&model, &mixed, &["--dataset", "cifar10.1"]);
    assert_eq!(cifar10_1["dataset"], "cifar10.1");
    assert_eq!(cifar10_1["images"].as_u64(), Some(IMAGES as u64));
    let cifar10 = eval_json(&model, &mixed, &["--dataset", "cifar10"]);
    assert_eq!(cifar10["dataset"], "cifar10");
    assert_eq!(cifar10["images"].as_u64(), Some(30));
}

/// Copies one real test JPEG of every class into `dir/<class>/`.
fn write_class_folders(dir: &Path) {
    for class in cifar10::CLASSES {
        let class_dir = dir.join(class);
        fs::create_dir_all(&class_dir).unwrap();
        fs::copy(test_image(class, 0), class_dir.join("0000.jpg")).unwrap();
    }
}

#[test]
fn eval_dataset_option_reads_imagenet_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let root = dir.path().join("imagenet-like");
    write_class_folders(&root.join("val"));
    write_npy(&root, &binary_images(IMAGES), |label| label);

    let output = eval(&model, &root, &[]);
    assert_clean_failure(
        &output,
        &[
            "both CIFAR-10.1 files and ImageNet data",
            "--dataset imagenet",
        ],
    );
    let imagenet = eval_json(&model, &root, &["--dataset", "imagenet"]);
    assert_eq!(imagenet["dataset"], "imagenet");
    assert_eq!(imagenet["split"], "val");
    assert_eq!(imagenet["images"].as_u64(), Some(10));

    let folders = dir.path().join("folders");
    write_class_folders(&folders);
    write_npy(&folders, &binary_images(IMAGES), |label| label);
    let detected = eval_json(&model, &folders, &[]);
    assert_eq!(detected["dataset"], "cifar10.1");
    assert_eq!(detected["images"].as_u64(), Some(IMAGES as u64));
    let forced = eval_json(&model, &folders, &["--dataset", "folders"]);
    assert_eq!(forced["dataset"], "folders");
    assert!(forced["split"].is_null(), "{}", forced["split"]);
    assert_eq!(forced["images"].as_u64(), Some(10));
}

#[test]
fn eval_cifar10_1_rejects_train_split() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let npy = dir.path().join("cifar10.1");
    write_npy(&npy, &binary_images(20), |label| label);
    let output = eval(&model, &npy, &["--split", "train"]);
    assert_clean_failure(
        &output,
        &[
            "CIFAR-10.1 is a test set only",
            "no train split",
            "--split test",
        ],
    );
    let test = eval_json(&model, &npy, &["--split", "test"]);
    assert_eq!(test["images"].as_u64(), Some(20));
}

#[test]
fn eval_truncated_npy_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let npy = dir.path().join("cifar10.1");
    write_npy(&npy, &binary_images(20), |label| label);
    let data = npy.join(DATA_FILES[0]);
    let bytes = fs::read(&data).unwrap();
    fs::write(&data, &bytes[..bytes.len() - 1000]).unwrap();
    let output = eval(&model, &npy, &[]);
    assert_clean_failure(
        &output,
        &[
            "failed to load CIFAR-10.1",
            DATA_FILES[0],
            "expected 61440 bytes",
            "truncated",
        ],
    );
}

#[test]
fn eval_missing_label_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let npy = dir.path().join("cifar10.1");
    write_npy(&npy, &binary_images(20), |label| label);
    fs::remove_file(npy.join(LABEL_FILES[0])).unwrap();
    let output = eval(&model, &npy, &[]);
    assert_clean_failure(
        &output,
        &[
            "contains no CIFAR-10.1 label file",
            LABEL_FILES[0],
            LABEL_FILES[1],
        ],
    );
}

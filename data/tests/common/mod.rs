//! Shared helpers: the location of the real test data and cached loads.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use data::cifar10::{self, Split};
use data::Dataset;

/// Folder with `cifar10/` (ImageFolder JPEGs) and `cifar-10-batches-bin/`.
pub fn data_root() -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"));
    assert!(
        root.join("cifar10").is_dir() && root.join(cifar10::BINARY_FOLDER).is_dir(),
        "test data not found: expected {0}/cifar10 and {0}/{1}; these tests need the \
         real CIFAR-10 files there",
        root.display(),
        cifar10::BINARY_FOLDER,
    );
    root
}

pub fn image_folder_root() -> PathBuf {
    data_root().join("cifar10")
}

pub fn binary_dir() -> PathBuf {
    data_root().join(cifar10::BINARY_FOLDER)
}

/// Loads the CIFAR-10 test split from the binary file once per test binary.
pub fn binary_test() -> &'static Dataset {
    static DATASET: OnceLock<Dataset> = OnceLock::new();
    DATASET.get_or_init(|| cifar10::load(&binary_dir(), Split::Test).expect("load test_batch.bin"))
}

/// Path of the `k`-th JPEG of `class` in the test split.
pub fn test_jpeg(class: &str, k: usize) -> PathBuf {
    image_folder_root().join(format!("test/{class}/{k:04}.jpg"))
}

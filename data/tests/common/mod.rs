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

/// Folder with the real ImageNet photos (`imagenet-samples/`, named
/// `<synset>_<name>.JPEG`) and the class list (`imagenet_classes.tsv`):
/// `$SHARPDARTS_DATA`, or the data folder beside the workspace.
pub fn imagenet_data_root() -> PathBuf {
    let root = std::env::var_os("SHARPDARTS_DATA").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
        PathBuf::from,
    );
    assert!(
        root.join("imagenet-samples").is_dir() && root.join("imagenet_classes.tsv").is_file(),
        "test data not found: expected {0}/imagenet-samples and {0}/imagenet_classes.tsv; \
         set SHARPDARTS_DATA to a folder that contains them",
        root.display(),
    );
    root
}

/// Path of the real ImageNet photo of `synset`, such as `n01443537`.
pub fn imagenet_photo(synset: &str) -> PathBuf {
    let dir = imagenet_data_root().join("imagenet-samples");
    let prefix = format!("{synset}_");
    let mut matches = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        });
    matches
        .next()
        .unwrap_or_else(|| panic!("no photo of {synset} in {}", dir.display()))
}

/// Path of the ImageNet-1k class list.
pub fn imagenet_class_table() -> PathBuf {
    imagenet_data_root().join("imagenet_classes.tsv")
}

/// Returns the 64-bit FNV-1a hash of `bytes`, a fingerprint for comparing
/// transform outputs with values recorded from an earlier version.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

//! CIFAR-10 in either of its two common layouts, detected from the folder.
//!
//! * ImageFolder: `<dir>/train/<class>/*.{jpg,jpeg,png}` and
//!   `<dir>/test/<class>/*`, classes in sorted folder-name order (for
//!   CIFAR-10 this is the standard label order, airplane to truck).
//! * The official binary format: `<dir>/data_batch_1.bin` to
//!   `data_batch_5.bin` (train), `<dir>/test_batch.bin` (test) and
//!   `<dir>/batches.meta.txt` (class names, one a line), either in `<dir>`
//!   itself or in `<dir>/cifar-10-batches-bin/` as the official archive
//!   unpacks. Each record is 1 label byte followed by 3072 pixel bytes:
//!   1024 red, 1024 green, then 1024 blue, each plane row-major 32x32.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{image_folder, DataError, Dataset, LoadReport, Result};

/// Side length of a CIFAR-10 image in pixels.
pub const IMAGE_SIZE: usize = 32;

/// The CIFAR-10 classes in label order.
pub const CLASSES: [&str; 10] = models::network::CIFAR10_CLASSES;

/// Bytes of one binary record: 1 label byte + 32 x 32 x 3 pixel bytes.
pub const RECORD_LEN: usize = 1 + IMAGE_SIZE * IMAGE_SIZE * 3;

/// Folder name of the unpacked official binary archive.
pub const BINARY_FOLDER: &str = "cifar-10-batches-bin";

const TRAIN_BATCHES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST_BATCH: &str = "test_batch.bin";
const META_FILE: &str = "batches.meta.txt";
const DOWNLOAD_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar.html";

/// A CIFAR-10 split: 50,000 training or 10,000 test images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// Folder name of the split in the ImageFolder layout.
    pub fn folder_name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    fn batch_files(self) -> &'static [&'static str] {
        match self {
            Split::Train => &TRAIN_BATCHES,
            Split::Test => std::slice::from_ref(&TEST_BATCH),
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.folder_name())
    }
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            other => Err(DataError::InvalidArgument {
                name: "split",
                value: other.to_string(),
                fix: "use `train` or `test`".to_string(),
            }),
        }
    }
}

/// The layout found in a CIFAR-10 folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `root/{train,test}/<class>/<image>`.
    ImageFolder { root: PathBuf },
    /// The official binary batches, directly in `dir`.
    Binary { dir: PathBuf },
}

/// Detects the layout of `dir`.
///
/// ImageFolder wins when `dir/train` or `dir/test` is a folder; otherwise
/// binary batches are looked for in `dir`, then in `dir/cifar-10-batches-bin`.
pub fn detect(dir: &Path) -> Result<Layout> {
    if !dir.exists() {
        return Err(DataError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    if !dir.is_dir() {
        return Err(DataError::NotAFolder {
            path: dir.to_path_buf(),
            contents: layout_contents(),
        });
    }
    if dir.join("train").is_dir() || dir.join("test").is_dir() {
        return Ok(Layout::ImageFolder {
            root: dir.to_path_buf(),
        });
    }
    if has_binary_batch(dir) {
        return Ok(Layout::Binary {
            dir: dir.to_path_buf(),
        });
    }
    let nested = dir.join(BINARY_FOLDER);
    if has_binary_batch(&nested) {
        return Ok(Layout::Binary { dir: nested });
    }
    Err(DataError::UnknownLayout {
        dir: dir.to_path_buf(),
        looked_for: layout_help(),
    })
}

fn has_binary_batch(dir: &Path) -> bool {
    TRAIN_BATCHES
        .iter()
        .chain(std::iter::once(&TEST_BATCH))
        .any(|name| dir.join(name).is_file())
}

fn layout_help() -> String {
    format!("Looked for {}", layout_contents())
}

/// Describes the two layouts of a CIFAR-10 folder and where to get the data.
fn layout_contents() -> String {
    format!(
        "either (1) the ImageFolder layout: folders train/<class>/ and test/<class>/ \
         with .jpg, .jpeg or .png images, or (2) the official binary layout: \
         {}, {TEST_BATCH} and {META_FILE}, in the folder itself or in its sub-folder \
         {BINARY_FOLDER}/. CIFAR-10 is published at {DOWNLOAD_URL}",
        TRAIN_BATCHES.join(", ")
    )
}

/// Loads a CIFAR-10 split from `dir` in either layout, logging skipped files.
pub fn load(dir: &Path, split: Split) -> Result<Dataset> {
    load_with_report(dir, split).map(|(dataset, _)| dataset)
}

/// Loads like [`load`] and also returns which image files were skipped
/// (always none for the binary layout, whose records cannot be skipped).
pub fn load_with_report(dir: &Path, split: Split) -> Result<(Dataset, LoadReport)> {
    let (dataset, report) = match detect(dir)? {
        Layout::ImageFolder { root } => load_image_folder(&root, split)?,
        Layout::Binary { dir } => (load_binary(&dir, split)?, LoadReport::default()),
    };
    warn_on_unexpected_classes(&dataset.classes, dir);
    tracing::info!(
        folder = %dir.display(),
        %split,
        images = dataset.len(),
        skipped = report.skipped.len(),
        "loaded CIFAR-10"
    );
    Ok((dataset, report))
}

fn load_image_folder(root: &Path, split: Split) -> Result<(Dataset, LoadReport)> {
    let split_dir = root.join(split.folder_name());
    if !split_dir.is_dir() {
        return Err(DataError::MissingSplit {
            split: split.to_string(),
            missing: format!("folder {}", split_dir.display()),
        });
    }
    image_folder::load_with_report(&split_dir, IMAGE_SIZE)
}

/// Loads a split from the binary batch files in `dir`.
pub fn load_binary(dir: &Path, split: Split) -> Result<Dataset> {
    let paths: Vec<PathBuf> = split.batch_files().iter().map(|n| dir.join(n)).collect();
    let missing: Vec<String> = paths
        .iter()
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::MissingSplit {
            split: split.to_string(),
            missing: missing.join(", "),
        });
    }
    let classes = read_class_names(dir)?;
    let mut dataset = Dataset {
        images: Vec::new(),
        labels: Vec::new(),
        classes,
        height: IMAGE_SIZE,
        width: IMAGE_SIZE,
    };
    for path in &paths {
        append_batch(path, &mut dataset)?;
    }
    Ok(dataset)
}

/// Reads `batches.meta.txt`, ignoring empty lines. Without the file, the
/// standard CIFAR-10 class names are used and a warning is logged.
fn read_class_names(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(META_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %path.display(), "class name file not found; using the standard CIFAR-10 class names");
            return Ok(CLASSES.iter().map(|c| c.to_string()).collect());
        }
        Err(e) => return Err(DataError::io(path, e)),
    };
    let classes: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    if classes.is_empty() {
        return Err(DataError::InvalidArgument {
            name: "class name file",
            value: path.display().to_string(),
            fix: "it contains no class names; write one class name a line".to_string(),
        });
    }
    Ok(classes)
}

fn append_batch(path: &Path, dataset: &mut Dataset) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
            expected: format!("CIFAR-10 records of {RECORD_LEN} bytes"),
        });
    }
    if bytes.len() % RECORD_LEN != 0 {
        return Err(DataError::InvalidBinarySize {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            record: RECORD_LEN,
        });
    }
    let plane = IMAGE_SIZE * IMAGE_SIZE;
    dataset.images.reserve(bytes.len() / RECORD_LEN * plane * 3);
    for (record, chunk) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        let label = u16::from(chunk[0]);
        if usize::from(label) >= dataset.classes.len() {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                record,
                label,
                classes: dataset.classes.len(),
            });
        }
        dataset.labels.push(label);
        push_planar_as_hwc(&chunk[1..], plane, &mut dataset.images);
    }
    Ok(())
}

/// Appends the planar RGB pixels (`3 x plane` bytes) as interleaved HWC.
fn push_planar_as_hwc(planar: &[u8], plane: usize, out: &mut Vec<u8>) {
    let (red, rest) = planar.split_at(plane);
    let (green, blue) = rest.split_at(plane);
    for ((&r, &g), &b) in red.iter().zip(green).zip(blue) {
        out.extend_from_slice(&[r, g, b]);
    }
}

fn warn_on_unexpected_classes(classes: &[String], dir: &Path) {
    if classes.iter().map(String::as_str).ne(CLASSES) {
        tracing::warn!(
            folder = %dir.display(),
            classes = ?classes,
            "class names differ from the CIFAR-10 classes; labels follow the listed order"
        );
    }
}

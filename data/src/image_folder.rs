//! ImageFolder datasets: one sub-folder of images per class.
//!
//! Classes are the sub-folder names in sorted (byte) order and label `i` is
//! the `i`-th name. Images are the `.jpg`, `.jpeg` and `.png` files (any
//! letter case) of each class folder, in sorted file-name order. Hidden
//! entries (names starting with `.`) are ignored.
//!
//! [`load`] decodes every image into memory at one fixed size, which suits
//! CIFAR-10. [`scan`] only lists the files ([`ImageFiles`]) for data sets
//! such as ImageNet that are decoded lazily, batch by batch.
//!
//! NOTE: only files directly inside a class folder are listed. torchvision's
//! `ImageFolder` also walks nested sub-folders, so a class folder with
//! sub-folders gives fewer images here.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::image::{decode_rgb, resize_rgb};
use crate::{DataError, Dataset, LoadReport, Result};

/// Maximum number of skipped files logged one by one; the rest are counted.
const MAX_SKIP_WARNINGS: usize = 20;

const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Loads every image below `dir`, resized to `size x size`, and logs the
/// undecodable files it skips.
pub fn load(dir: &Path, size: usize) -> Result<Dataset> {
    load_with_report(dir, size).map(|(dataset, _)| dataset)
}

/// Loads like [`load`] and also returns which files were skipped.
///
/// Files that cannot be decoded as PNG or JPEG (corrupt, truncated, or a
/// different format under an image extension) are skipped with a warning.
/// Images of another size are resized with a bilinear (triangle) filter.
/// Decoding runs in parallel on the rayon thread pool.
pub fn load_with_report(dir: &Path, size: usize) -> Result<(Dataset, LoadReport)> {
    let side = check_size(size)?;
    let classes = list_classes(dir)?;
    let files = list_files(dir, &classes)?;
    let image_len = size * size * 3;
    let mut images = vec![0u8; files.len() * image_len];
    let outcomes: Vec<Result<()>> = images
        .par_chunks_mut(image_len)
        .zip(files.par_iter())
        .map(|(slot, (path, _))| decode_into(path, side, slot))
        .collect();
    let (dataset, report) = compact(images, files, outcomes, classes, size);
    log_skipped(dir, &report);
    if dataset.is_empty() {
        return Err(DataError::NoImages {
            dir: dir.to_path_buf(),
            skipped: report.skipped.len(),
        });
    }
    Ok((dataset, report))
}

/// The image files of an ImageFolder, listed but not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFiles {
    /// The folder that contains the class folders.
    pub root: PathBuf,
    /// Class names (folder names) in label order.
    pub classes: Vec<String>,
    /// Path and class index of every image, ordered by class, then file name.
    pub samples: Vec<(PathBuf, u16)>,
}

impl ImageFiles {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Path of image `i`. Panics if `i >= len()`.
    pub fn path(&self, i: usize) -> &Path {
        &self.samples[i].0
    }

    /// Class index of image `i`. Panics if `i >= len()`.
    pub fn label(&self, i: usize) -> usize {
        usize::from(self.samples[i].1)
    }

    /// Class index of every image, in image order.
    pub fn labels(&self) -> Vec<u16> {
        self.samples.iter().map(|&(_, label)| label).collect()
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of images of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &(_, label) in &self.samples {
            counts[usize::from(label)] += 1;
        }
        counts
    }

    /// Copies the entries at `indices`, in that order, into a new list with
    /// the same classes. Panics if an index is out of range.
    pub fn select(&self, indices: &[usize]) -> ImageFiles {
        ImageFiles {
            root: self.root.clone(),
            classes: self.classes.clone(),
            samples: indices.iter().map(|&i| self.samples[i].clone()).collect(),
        }
    }
}

/// Lists the class folders of `dir` and the image files in each, without
/// decoding them.
///
/// Fails when `dir` has no class folder or the class folders contain no file
/// with an image extension. A class folder without images only logs a
/// warning, so its class keeps its label.
pub fn scan(dir: &Path) -> Result<ImageFiles> {
    let classes = list_classes(dir)?;
    let samples = list_files(dir, &classes)?;
    if samples.is_empty() {
        return Err(DataError::NoImageFiles {
            dir: dir.to_path_buf(),
        });
    }
    Ok(ImageFiles {
        root: dir.to_path_buf(),
        classes,
        samples,
    })
}

fn check_size(size: usize) -> Result<u32> {
    match u32::try_from(size) {
        Ok(side) if side > 0 && size <= 65_535 => Ok(side),
        _ => Err(DataError::InvalidArgument {
            name: "image size",
            value: size.to_string(),
            fix: "use a side length between 1 and 65535 pixels".to_string(),
        }),
    }
}

/// Lists the class folder names of `dir` in sorted order.
pub fn list_classes(dir: &Path) -> Result<Vec<String>> {
    let mut classes = Vec::new();
    for entry in read_dir(dir)? {
        let is_dir =
            entry.file_type().map(|t| t.is_dir()).unwrap_or(false) || entry.path().is_dir();
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_dir && !name.starts_with('.') {
            classes.push(name);
        }
    }
    classes.sort();
    if classes.is_empty() {
        return Err(DataError::NoClasses {
            dir: dir.to_path_buf(),
        });
    }
    Ok(classes)
}

fn list_files(dir: &Path, classes: &[String]) -> Result<Vec<(PathBuf, u16)>> {
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let label = u16::try_from(label).map_err(|_| DataError::InvalidArgument {
            name: "class count",
            value: classes.len().to_string(),
            fix: format!("{} holds more than 65536 class folders", dir.display()),
        })?;
        let class_dir = dir.join(class);
        let mut paths: Vec<PathBuf> = read_dir(&class_dir)?
            .into_iter()
            .map(|entry| entry.path())
            .filter(|path| has_image_extension(path))
            .collect();
        if paths.is_empty() {
            tracing::warn!(folder = %class_dir.display(), "class folder contains no image files");
        }
        paths.sort();
        files.extend(paths.into_iter().map(|path| (path, label)));
    }
    Ok(files)
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    entries
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| DataError::io(dir, e))
}

fn has_image_extension(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'));
    let extension = path
        .extension()
        .map(|ext| ext.to_string_lossy().to_ascii_lowercase());
    !hidden && extension.is_some_and(|ext| IMAGE_EXTENSIONS.contains(&ext.as_str()))
}

fn decode_into(path: &Path, side: u32, slot: &mut [u8]) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let image = decode_rgb(&bytes, path)?;
    let image = resize_rgb(&image, side, side);
    slot.copy_from_slice(image.as_raw());
    Ok(())
}

/// Drops the slots of files that failed to decode, keeping the rest in order.
fn compact(
    mut images: Vec<u8>,
    files: Vec<(PathBuf, u16)>,
    outcomes: Vec<Result<()>>,
    classes: Vec<String>,
    size: usize,
) -> (Dataset, LoadReport) {
    let image_len = size * size * 3;
    let mut labels = Vec::with_capacity(files.len());
    let mut report = LoadReport::default();
    let mut kept = 0;
    for (i, ((path, label), outcome)) in files.into_iter().zip(outcomes).enumerate() {
        match outcome {
            Ok(()) => {
                if kept != i {
                    images.copy_within(i * image_len..(i + 1) * image_len, kept * image_len);
                }
                labels.push(label);
                kept += 1;
            }
            Err(error) => {
                if report.skipped.len() < MAX_SKIP_WARNINGS {
                    let error = crate::error::with_sources(&error);
                    tracing::warn!(%error, "skipped undecodable image");
                }
                report.skipped.push(path);
            }
        }
    }
    images.truncate(kept * image_len);
    let dataset = Dataset {
        images,
        labels,
        classes,
        height: size,
        width: size,
    };
    (dataset, report)
}

fn log_skipped(dir: &Path, report: &LoadReport) {
    let skipped = report.skipped.len();
    if skipped > MAX_SKIP_WARNINGS {
        tracing::warn!(
            folder = %dir.display(),
            skipped,
            "skipped undecodable images; only the first {MAX_SKIP_WARNINGS} were logged"
        );
    } else if skipped > 0 {
        tracing::warn!(folder = %dir.display(), skipped, "skipped undecodable images");
    }
}

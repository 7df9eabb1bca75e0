//! CIFAR-10.1 v6: a new test set of 2,000 images for CIFAR-10 classifiers,
//! published as two NumPy `.npy` files.
//!
//! * `cifar10.1_v6_data.npy`: `uint8` (`|u1`), shape `(N, 32, 32, 3)`, each
//!   image row-major HWC with RGB channels.
//! * `cifar10.1_v6_labels.npy`: shape `(N,)`, class indices 0 to 9 in
//!   CIFAR-10's class order. The official file is `int64` (`<i8`), and any
//!   little-endian integer dtype is read.
//!
//! Some loaders name the files `cifar10.1-data.npy` and
//! `cifar10.1-labels.npy`, so both spellings are accepted. The files are
//! looked for in the folder itself, then in its `datasets/` sub-folder,
//! where the CIFAR-10.1 repository keeps them.
//!
//! [`load`] returns the same in-memory form as the CIFAR-10 test split of
//! [`crate::cifar10`]: 32x32 HWC bytes with the CIFAR-10 class names. The
//! same evaluation code therefore runs on both, for example
//! `EvalBatches::new(&dataset, batch_size, Normalization::CIFAR10)`.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use npyz::{DType, Endianness, NpyHeader, Order, TypeChar};

use crate::cifar10::{CLASSES, IMAGE_SIZE};
use crate::{DataError, Dataset, Result};

/// Name of the data set in logs and reports.
pub const NAME: &str = "CIFAR-10.1";

/// Accepted names of the image file: the official one first.
pub const DATA_FILES: [&str; 2] = ["cifar10.1_v6_data.npy", "cifar10.1-data.npy"];

/// Accepted names of the label file: the official one first.
pub const LABEL_FILES: [&str; 2] = ["cifar10.1_v6_labels.npy", "cifar10.1-labels.npy"];

/// Sub-folder that contains the `.npy` files in the CIFAR-10.1 repository.
pub const NESTED_FOLDER: &str = "datasets";

const SOURCE_URL: &str = "https://github.com/modestyachts/CIFAR-10.1";

/// Bytes of one image: 32 x 32 pixels x 3 channels.
const IMAGE_LEN: usize = IMAGE_SIZE * IMAGE_SIZE * 3;

/// The two files of a CIFAR-10.1 folder, found but not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cifar10_1 {
    /// The `(N, 32, 32, 3)` `uint8` image file.
    pub data: PathBuf,
    /// The `(N,)` integer label file.
    pub labels: PathBuf,
}

impl Cifar10_1 {
    /// Finds the image and label files in `dir`, or else in
    /// `dir/datasets/`, without reading them.
    ///
    /// Fails when `dir` does not exist or is not a folder, when either file
    /// is missing, or when a folder contains both spellings of one file,
    /// because then either could be the intended one.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.exists() {
            return Err(DataError::NotFound {
                path: dir.to_path_buf(),
            });
        }
        if !dir.is_dir() {
            return Err(DataError::InvalidArgument {
                name: "CIFAR-10.1 folder",
                value: dir.display().to_string(),
                fix: format!(
                    "it is not a folder; pass the folder that contains {}",
                    expected_contents()
                ),
            });
        }
        let nested = dir.join(NESTED_FOLDER);
        let (folder, searched) = if !has_any_file(dir) && has_any_file(&nested) {
            (nested, "")
        } else {
            (
                dir.to_path_buf(),
                ", in the folder or in its datasets/ sub-folder",
            )
        };
        let data = find_file(&folder, &DATA_FILES, "CIFAR-10.1 image file", searched)?;
        let labels = find_file(&folder, &LABEL_FILES, "CIFAR-10.1 label file", searched)?;
        Ok(Self { data, labels })
    }

    /// Reads both files and checks them. The image file must be `uint8` of
    /// shape `(N, 32, 32, 3)` in C order, and the label file a little-endian
    /// integer array of shape `(N,)` with values 0 to 9. Each file must
    /// contain exactly the array bytes that its header declares.
    pub fn load(&self) -> Result<Dataset> {
        let images = read_images(&self.data)?;
        let labels = read_labels(&self.labels)?;
        let image_count = images.len() / IMAGE_LEN;
        if image_count != labels.len() {
            return Err(DataError::CountMismatch {
                images_path: self.data.clone(),
                images: image_count,
                labels_path: self.labels.clone(),
                labels: labels.len(),
            });
        }
        let dataset = Dataset {
            images,
            labels,
            classes: CLASSES.iter().map(|class| class.to_string()).collect(),
            height: IMAGE_SIZE,
            width: IMAGE_SIZE,
        };
        tracing::info!(
            data = %self.data.display(),
            labels = %self.labels.display(),
            images = dataset.len(),
            "loaded {NAME}"
        );
        Ok(dataset)
    }
}

/// Loads CIFAR-10.1 from `dir` (or `dir/datasets/`): [`Cifar10_1::open`]
/// followed by [`Cifar10_1::load`].
pub fn load(dir: &Path) -> Result<Dataset> {
    Cifar10_1::open(dir)?.load()
}

/// Returns whether `dir` or `dir/datasets/` contains an image or label file
/// under any accepted name. A folder with only one of the two files counts,
/// so that [`Cifar10_1::open`] can name the missing one.
pub fn contains_files(dir: &Path) -> bool {
    has_any_file(dir) || has_any_file(&dir.join(NESTED_FOLDER))
}

fn has_any_file(dir: &Path) -> bool {
    DATA_FILES
        .iter()
        .chain(&LABEL_FILES)
        .any(|name| dir.join(name).is_file())
}

/// Returns the one existing file among `names` in `dir`. `searched` ends
/// the error message for a missing file with where else it was looked for.
fn find_file(
    dir: &Path,
    names: &[&str; 2],
    file_kind: &'static str,
    searched: &str,
) -> Result<PathBuf> {
    let found: Vec<PathBuf> = names
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.is_file())
        .collect();
    match found.as_slice() {
        [path] => Ok(path.clone()),
        [] => Err(DataError::MissingFile {
            dir: dir.to_path_buf(),
            file_kind,
            expected: format!(
                "{} or {}{searched}; {NAME} is published at {SOURCE_URL}",
                names[0], names[1]
            ),
        }),
        [first, second, ..] => Err(DataError::AmbiguousFiles {
            first: first.clone(),
            second: second.clone(),
        }),
    }
}

fn expected_contents() -> String {
    format!(
        "{} (or {}) and {} (or {}), directly or in its {NESTED_FOLDER}/ sub-folder",
        DATA_FILES[0], DATA_FILES[1], LABEL_FILES[0], LABEL_FILES[1]
    )
}

/// Reads the image file: `uint8`, shape `(N, 32, 32, 3)`, N at least 1.
fn read_images(path: &Path) -> Result<Vec<u8>> {
    let expected_shape = "(N, 32, 32, 3) with N >= 1: N images of 32x32 pixels, HWC with RGB \
                          channels";
    read_npy(path, |header| {
        let DType::Plain(type_str) = header.dtype() else {
            return Err(dtype_error(path, &header.dtype(), "|u1 (uint8)"));
        };
        if type_str.type_char() != TypeChar::Uint || type_str.size_field() != 1 {
            return Err(dtype_error(path, &header.dtype(), "|u1 (uint8)"));
        }
        let side = IMAGE_SIZE as u64;
        match header.shape() {
            [n, h, w, 3] if *n >= 1 && *h == side && *w == side => Ok(1),
            shape => Err(shape_error(path, shape, expected_shape)),
        }
    })
}

/// Reads the label file: a little-endian integer array of shape `(N,)`,
/// every value a CIFAR-10 class index.
fn read_labels(path: &Path) -> Result<Vec<u16>> {
    let expected_dtype = "a little-endian integer dtype such as <i8 (int64), <i4 (int32) or \
                          |u1 (uint8)";
    let mut signed = false;
    let mut item_len = 0;
    let bytes = read_npy(path, |header| {
        let dtype = header.dtype();
        let DType::Plain(type_str) = &dtype else {
            return Err(dtype_error(path, &dtype, expected_dtype));
        };
        let size = type_str.size_field();
        let integer = matches!(type_str.type_char(), TypeChar::Int | TypeChar::Uint);
        let little = match type_str.endianness() {
            Endianness::Little => true,
            Endianness::Irrelevant => size == 1,
            Endianness::Big => false,
        };
        if !integer || ![1, 2, 4, 8].contains(&size) || !little {
            return Err(dtype_error(path, &dtype, expected_dtype));
        }
        signed = type_str.type_char() == TypeChar::Int;
        item_len = size as usize;
        match header.shape() {
            [_] => Ok(size),
            shape => Err(shape_error(path, shape, "(N,): one label per image")),
        }
    })?;

    let mut labels = Vec::with_capacity(bytes.len() / item_len);
    for (index, item) in bytes.chunks_exact(item_len).enumerate() {
        let value = little_endian_integer(item, signed);
        match u16::try_from(value) {
            Ok(label) if usize::from(label) < CLASSES.len() => labels.push(label),
            _ => {
                return Err(DataError::LabelValueOutOfRange {
                    path: path.to_path_buf(),
                    index,
                    label: value,
                    classes: CLASSES.len(),
                })
            }
        }
    }
    Ok(labels)
}

/// Decodes one little-endian integer of 1 to 8 bytes.
fn little_endian_integer(bytes: &[u8], signed: bool) -> i128 {
    let mut buffer = [0u8; 8];
    buffer[..bytes.len()].copy_from_slice(bytes);
    let unsigned = u64::from_le_bytes(buffer);
    let bits = 8 * bytes.len() as u32;
    if signed && bits < 64 {
        // Sign-extend: shift the value's sign bit up to bit 63, then back.
        let shift = 64 - bits;
        i128::from(((unsigned << shift) as i64) >> shift)
    } else if signed {
        i128::from(unsigned as i64)
    } else {
        i128::from(unsigned)
    }
}

/// Reads an `.npy` file whose header `check` accepts and returns its array
/// bytes in file order. `check` returns the size of one element in bytes,
/// and the bytes after the header must be exactly the array that the shape
/// and that size declare.
fn read_npy(path: &Path, check: impl FnOnce(&NpyHeader) -> Result<u64>) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut reader = BufReader::new(file);
    let header = NpyHeader::from_reader(&mut reader).map_err(|e| DataError::NpyHeader {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let item_len = check(&header)?;
    let shape = header.shape().to_vec();
    if shape.len() > 1 && header.order() == Order::Fortran {
        return Err(DataError::NpyFortranOrder {
            path: path.to_path_buf(),
        });
    }

    let header_len = reader
        .stream_position()
        .map_err(|e| DataError::io(path, e))?;
    let found = file_len.saturating_sub(header_len);
    let expected = shape
        .iter()
        .fold(u128::from(item_len), |len, &dim| len * u128::from(dim));
    if u128::from(found) != expected {
        return Err(DataError::NpyDataSize {
            path: path.to_path_buf(),
            found,
            expected,
            shape: format_shape(&shape),
            dtype: describe_dtype(&header.dtype()),
        });
    }
    let mut bytes = Vec::with_capacity(found as usize);
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, e))?;
    if bytes.len() as u64 != found {
        // The file changed size while it was read.
        return Err(DataError::NpyDataSize {
            path: path.to_path_buf(),
            found: bytes.len() as u64,
            expected,
            shape: format_shape(&shape),
            dtype: describe_dtype(&header.dtype()),
        });
    }
    Ok(bytes)
}

fn dtype_error(path: &Path, dtype: &DType, expected: &str) -> DataError {
    DataError::NpyDtype {
        path: path.to_path_buf(),
        found: describe_dtype(dtype),
        expected: expected.to_string(),
    }
}

fn shape_error(path: &Path, shape: &[u64], expected: &str) -> DataError {
    DataError::NpyShape {
        path: path.to_path_buf(),
        found: format_shape(shape),
        expected: expected.to_string(),
    }
}

/// Formats a shape as NumPy prints it: `(2000, 32, 32, 3)`, `(2000,)`, `()`.
fn format_shape(shape: &[u64]) -> String {
    match shape {
        [single] => format!("({single},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// Describes a dtype by its type string and, for plain numbers, its NumPy
/// name: `<i8 (int64)`, `<f4 (float32)`.
fn describe_dtype(dtype: &DType) -> String {
    let DType::Plain(type_str) = dtype else {
        return format!("a structured dtype {}", dtype.descr());
    };
    let bits = type_str.size_field() * 8;
    let name = match type_str.type_char() {
        TypeChar::Int => format!("int{bits}"),
        TypeChar::Uint => format!("uint{bits}"),
        TypeChar::Float => format!("float{bits}"),
        TypeChar::Bool => "bool".to_string(),
        _ => return type_str.to_string(),
    };
    format!("{type_str} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_integer_sign_extends() {
        assert_eq!(little_endian_integer(&[0xff], true), -1);
        assert_eq!(little_endian_integer(&[0xff], false), 255);
        assert_eq!(little_endian_integer(&[0xfe, 0xff], true), -2);
        assert_eq!(little_endian_integer(&[9, 0, 0, 0], true), 9);
        assert_eq!(little_endian_integer(&[0xff; 8], true), -1);
        assert_eq!(
            little_endian_integer(&[0xff; 8], false),
            i128::from(u64::MAX)
        );
    }

    #[test]
    fn shapes_format_like_numpy() {
        assert_eq!(format_shape(&[2000, 32, 32, 3]), "(2000, 32, 32, 3)");
        assert_eq!(format_shape(&[2000]), "(2000,)");
        assert_eq!(format_shape(&[]), "()");
    }
}

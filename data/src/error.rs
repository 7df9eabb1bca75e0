use std::path::PathBuf;

/// Errors from reading datasets and images.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path} not found; check the path")]
    NotFound { path: PathBuf },
    #[error("failed to read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PNG or JPEG image ({detected}); convert it to PNG or JPEG")]
    UnsupportedFormat { path: PathBuf, detected: String },
    #[error("failed to decode {path}: {message}; the file is corrupt or truncated")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "{path} is too large to decode: it is {size}, which exceeds {limit}; \
         downscale the image before passing it"
    )]
    TooLarge {
        path: PathBuf,
        size: String,
        limit: String,
    },
    #[error(
        "{path} has {size} bytes, which is not a multiple of the {record}-byte CIFAR-10 record \
         (1 label byte + 3072 pixel bytes); the file is truncated or not a CIFAR-10 binary batch"
    )]
    InvalidBinarySize {
        path: PathBuf,
        size: u64,
        record: usize,
    },
    #[error(
        "{path}: record {record} has label {label}, but only {classes} class names are known; \
         check that the file and the class list belong together"
    )]
    LabelOutOfRange {
        path: PathBuf,
        record: usize,
        label: u16,
        classes: usize,
    },
    #[error("{path} is empty; expected {expected}")]
    EmptyFile { path: PathBuf, expected: String },
    #[error("{path} is not a folder; pass a CIFAR-10 folder, which contains {contents}")]
    NotAFolder { path: PathBuf, contents: String },
    #[error("{dir} is not a CIFAR-10 folder. {looked_for}")]
    UnknownLayout { dir: PathBuf, looked_for: String },
    #[error("the CIFAR-10 {split} split is missing: {missing} not found")]
    MissingSplit { split: String, missing: String },
    #[error("{dir} contains no class folders; expected one sub-folder of images per class")]
    NoClasses { dir: PathBuf },
    #[error("{dir} contains no decodable image ({skipped} files skipped); expected PNG or JPEG files in its class folders")]
    NoImages { dir: PathBuf, skipped: usize },
    #[error(
        "{dir} contains no image files; expected .jpg, .jpeg or .png files in its class folders"
    )]
    NoImageFiles { dir: PathBuf },
    #[error("{dir} is not an ImageNet folder: {reason}")]
    NotImageNet { dir: PathBuf, reason: String },
    #[error(
        "the class folders of {train} and {val} differ: {difference}; \
         both splits need the same class folders"
    )]
    SplitClassMismatch {
        train: PathBuf,
        val: PathBuf,
        difference: String,
    },
    #[error(
        "invalid class table {path}: {reason}; expected one `index<TAB>synset<TAB>name` \
         line per class"
    )]
    InvalidClassTable { path: PathBuf, reason: String },
    #[error("{dir} contains no {file_kind}: expected {expected}")]
    MissingFile {
        dir: PathBuf,
        file_kind: &'static str,
        expected: String,
    },
    #[error(
        "both {first} and {second} exist; remove or rename one, because either could be meant"
    )]
    AmbiguousFiles { first: PathBuf, second: PathBuf },
    #[error(
        "failed to read the NumPy header of {path}: {message}; the file is not an .npy file \
         or is damaged"
    )]
    NpyHeader { path: PathBuf, message: String },
    #[error("{path} has dtype {found}; expected {expected}")]
    NpyDtype {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{path} has shape {found}; expected {expected}")]
    NpyShape {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(
        "{path} stores its array in Fortran order; expected C order, which \
         `np.save(path, np.ascontiguousarray(array))` writes"
    )]
    NpyFortranOrder { path: PathBuf },
    #[error(
        "{path} has {found} bytes after its header; expected {expected} bytes for shape \
         {shape} of dtype {dtype}, so the file is {}",
        if u128::from(*found) < *expected { "truncated" } else { "longer than its array" }
    )]
    NpyDataSize {
        path: PathBuf,
        found: u64,
        expected: u128,
        shape: String,
        dtype: String,
    },
    #[error(
        "{path}: label {label} at index {index} is out of range; expected 0 to {} \
         (one of the {classes} CIFAR-10 classes in label order)",
        classes - 1
    )]
    LabelValueOutOfRange {
        path: PathBuf,
        index: usize,
        label: i128,
        classes: usize,
    },
    #[error(
        "{images_path} contains {images} images but {labels_path} contains {labels} labels; \
         expected one label per image, so check that both files come from the same release"
    )]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },
    #[error("invalid {name} {value}: {fix}")]
    InvalidArgument {
        name: &'static str,
        value: String,
        fix: String,
    },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound { path }
        } else {
            DataError::Io { path, source }
        }
    }
}

/// Formats an error with its chain of sources, separated by ": ", for logs
/// and messages that print the error without anyhow's `{:#}`.
pub fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

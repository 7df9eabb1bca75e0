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

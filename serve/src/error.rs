//! The error type of the serve library.

use std::path::{Path, PathBuf};

/// Errors from loading ONNX Runtime, opening models and running inference.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "ONNX Runtime 1.31 could not be loaded. Paths tried:\n{attempts}\n\
         Fix: run scripts/setup.sh, or set ORT_DYLIB_PATH to libonnxruntime.so from onnxruntime 1.31"
    )]
    RuntimeNotFound { attempts: String },

    #[error("failed to create the ONNX Runtime environment from {library}: {message}")]
    RuntimeEnvironment { library: PathBuf, message: String },

    #[error("model file {} not found; check the path or export a model with `export`", path.display())]
    ModelNotFound { path: PathBuf },

    #[error("failed to read model file {}", path.display())]
    ReadModel {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{} is not a valid ONNX model ({message}); check the path, or export the model again",
        path.display()
    )]
    InvalidModel { path: PathBuf, message: String },

    #[error("ONNX Runtime failed to load {}: {message}", path.display())]
    Session { path: PathBuf, message: String },

    #[error(
        "the CUDA execution provider is unavailable: {reason}. \
         The onnxruntime pip wheel runs on CPU only; for CUDA install onnxruntime-gpu 1.31 \
         with the CUDA and cuDNN versions it requires and set ORT_DYLIB_PATH to its \
         libonnxruntime.so, or use --device cpu"
    )]
    CudaUnavailable { reason: String },

    #[error(
        "invalid thread count {threads}: use --threads 1 to {max} ({cores} logical cores \
         here), or omit it for the default"
    )]
    InvalidThreads {
        threads: usize,
        max: usize,
        cores: usize,
    },

    #[error(
        "model {} has no `{key}` metadata entry, which {purpose} needs; \
         models written by `export` contain it",
        path.display()
    )]
    MissingMetadata {
        path: PathBuf,
        key: &'static str,
        purpose: &'static str,
    },

    #[error("invalid `{key}` metadata value {value:?} in {}: {reason}", path.display())]
    InvalidMetadata {
        path: PathBuf,
        key: String,
        value: String,
        reason: String,
    },

    #[error("unsupported model {}: {message}", path.display())]
    UnsupportedModel { path: PathBuf, message: String },

    #[error(
        "input has {actual} values, but a batch of {batch} images of shape {shape:?} needs {expected}"
    )]
    InputSize {
        actual: usize,
        expected: usize,
        batch: usize,
        shape: [usize; 3],
    },

    #[error("inference failed on {}: {message}", path.display())]
    Inference { path: PathBuf, message: String },

    #[error("the dataset does not match the model: {message}")]
    DatasetMismatch { message: String },

    #[error(transparent)]
    Data(#[from] data::DataError),
}

impl ServeError {
    pub(crate) fn invalid_model(path: &Path, message: impl ToString) -> Self {
        Self::InvalidModel {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    pub(crate) fn unsupported(path: &Path, message: impl ToString) -> Self {
        Self::UnsupportedModel {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

pub type Result<T, E = ServeError> = std::result::Result<T, E>;

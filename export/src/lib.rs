//! ONNX export of sharpDARTS networks.
//!
//! [`weights::Weights`] stores a network's tensors by parameter name; [`onnx`]
//! turns a [`models::Graph`] and its weights into an inference-only ONNX model
//! (opset 17) with BatchNorm folded into the preceding convolutions. This
//! crate links neither libtorch nor ONNX Runtime.

pub mod onnx;
pub mod weights;

pub use weights::{Tensor, Weights};

/// Errors from reading weights and building or writing ONNX models.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("failed to read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("failed to write {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("invalid safetensors file {origin}: {message}; the file may be truncated or not a safetensors file, so save the weights again")]
    Safetensors { origin: String, message: String },
    #[error("tensor `{name}` has dtype {dtype}; only F32 weights are supported, so convert them to float32 before saving")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("tensor `{name}` with shape {expected:?} is missing from the weights; check that they were saved for this genotype and network settings")]
    MissingTensor { name: String, expected: Vec<usize> },
    #[error("tensor `{name}` has shape {found:?} but the network expects {expected:?}; check that the weights match the genotype, --init-channels and --layers")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor `{name}` has {len} values but its shape {shape:?} needs {expected}", expected = shape.iter().product::<usize>())]
    DataLength {
        name: String,
        shape: Vec<usize>,
        len: usize,
    },
    #[error("invalid model: {message}")]
    InvalidModel { message: String },
    #[error(transparent)]
    Model(#[from] models::ModelError),

    #[error("failed to encode the ONNX model: {message}")]
    Encode { message: String },
}

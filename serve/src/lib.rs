//! ONNX Runtime inference for sharpDARTS models written by the `export` crate.
//!
//! [`runtime::init`] finds and loads the ONNX Runtime 1.31 shared library at
//! run time (ort's `load-dynamic`), [`OnnxModel`] wraps a session with the
//! model's metadata, and [`inspect::ModelInfo`] reads an ONNX file's structure
//! without the runtime. This crate does not link libtorch.

pub mod bench;
pub mod count;
pub mod error;
pub mod eval;
pub mod inspect;
pub mod metadata;
pub mod model;
pub mod predict;
pub mod runtime;

pub use count::{count_model, CountError, GraphCounts};
pub use error::{Result, ServeError};
pub use eval::{evaluate, ClassAccuracy, EvalReport};
pub use inspect::{Dim, ModelInfo, TensorInfo};
pub use metadata::ModelMetadata;
pub use model::{Device, OnnxModel, Optimization, RunOptions};
pub use predict::{classify, Prediction};

//! An ONNX model loaded into an ONNX Runtime session.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{Result, ServeError};
use crate::inspect::{read_model_bytes, ModelInfo, TensorInfo};
use crate::metadata::{single_input, ModelMetadata};
use crate::runtime::{self, Runtime};

/// The hardware a session runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider on GPU 0; opening a model fails if it
    /// cannot be registered, rather than running on the CPU.
    ///
    /// NOTE: ONNX Runtime still places single nodes that CUDA does not
    /// implement on the CPU; only the session as a whole never falls back.
    Cuda,
}

impl Device {
    /// Returns the name used on the command line: `cpu` or `cuda`.
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            _ => Err(format!("invalid device {text:?}: use cpu or cuda")),
        }
    }
}

/// ONNX Runtime's graph optimisation level for a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Optimization {
    /// No graph rewrites: every node of the file runs as written.
    Disable,
    /// Constant folding, redundant-node removal and basic fusions.
    Basic,
    /// Basic plus fusions with more complex patterns.
    Extended,
    /// Every optimisation, including layout changes (ONNX Runtime's default).
    #[default]
    All,
}

impl Optimization {
    /// Returns the name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Optimization::Disable => "disable",
            Optimization::Basic => "basic",
            Optimization::Extended => "extended",
            Optimization::All => "all",
        }
    }

    fn level(self) -> GraphOptimizationLevel {
        match self {
            Optimization::Disable => GraphOptimizationLevel::Disable,
            Optimization::Basic => GraphOptimizationLevel::Level1,
            Optimization::Extended => GraphOptimizationLevel::Level2,
            Optimization::All => GraphOptimizationLevel::All,
        }
    }
}

impl fmt::Display for Optimization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Session settings for [`OnnxModel::open`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    pub device: Device,
    /// Intra-op thread count; `None` keeps ONNX Runtime's default
    /// (see [`runtime::default_intra_threads`]).
    pub threads: Option<usize>,
}

/// An ONNX image classifier `[batch, C, H, W] -> [batch, classes]` in an
/// ONNX Runtime session, with its parsed metadata.
pub struct OnnxModel {
    path: PathBuf,
    session: Session,
    info: ModelInfo,
    metadata: ModelMetadata,
    input_name: String,
    output_name: String,
    num_classes: usize,
    device: Device,
}

impl fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .field("input", &self.input_name)
            .field("output", &self.output_name)
            .field("num_classes", &self.num_classes)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Reads the ONNX file at `path`, checks its inputs, outputs and metadata,
    /// and creates an ONNX Runtime session for it (loading the runtime on the
    /// first call, see [`runtime::init`]).
    pub fn open(path: &Path, options: &RunOptions) -> Result<Self> {
        Self::open_with(path, options, Optimization::default())
    }

    /// Like [`OnnxModel::open`], with an explicit graph optimisation level.
    pub fn open_with(
        path: &Path,
        options: &RunOptions,
        optimization: Optimization,
    ) -> Result<Self> {
        let bytes = read_model_bytes(path)?;
        let info = ModelInfo::parse(path, &bytes)?;
        let metadata = ModelMetadata::from_info(&info)?;
        let input_name = single_input(&info)?.name.clone();
        let output = logits_output(&info)?;
        let num_classes = class_count(&info, output, &metadata)?;
        let output_name = output.name.clone();

        let runtime = runtime::init()?;
        let session = session_builder(runtime, options, optimization)?
            .commit_from_memory(&bytes)
            .map_err(|error| ServeError::Session {
                path: path.to_path_buf(),
                message: error.to_string(),
            })?;
        tracing::debug!(path = %path.display(), device = %options.device, "opened model");
        Ok(Self {
            path: path.to_path_buf(),
            session,
            info,
            metadata,
            input_name,
            output_name,
            num_classes,
            device: options.device,
        })
    }

    /// Runs `batch` images in NCHW layout (`batch * C * H * W` values, already
    /// normalised) and returns `batch * num_classes` logits, row by row.
    pub fn run(&mut self, input: &[f32], batch: usize) -> Result<Vec<f32>> {
        let [channels, height, width] = self.metadata.input_size;
        let expected = batch * channels * height * width;
        if batch == 0 || input.len() != expected {
            return Err(ServeError::InputSize {
                actual: input.len(),
                expected,
                batch,
                shape: self.metadata.input_size,
            });
        }
        let shape = [batch, channels, height, width];
        let tensor = TensorRef::from_array_view((shape, input))
            .map_err(|e| inference_error(&self.path, e))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| inference_error(&self.path, e))?;
        let output = outputs.get(self.output_name.as_str()).ok_or_else(|| {
            let message = format!("ONNX Runtime returned no output `{}`", self.output_name);
            inference_error(&self.path, message)
        })?;
        let (out_shape, logits) = output
            .try_extract_tensor::<f32>()
            .map_err(|e| inference_error(&self.path, e))?;
        let expected_shape = [batch as i64, self.num_classes as i64];
        if **out_shape != expected_shape {
            let message = format!("output has shape {out_shape:?}, expected {expected_shape:?}");
            return Err(inference_error(&self.path, message));
        }
        Ok(logits.to_vec())
    }

    /// Returns the model file this session was created from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the parsed metadata, whose input size is always present.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Returns the structure of the ONNX file: inputs, outputs, opset, node count.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Returns the input image shape as [channels, height, width].
    pub fn input_size(&self) -> [usize; 3] {
        self.metadata.input_size
    }

    /// Returns the number of logits per image.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Returns the device the session was created for.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Returns the class names from the `classes` metadata entry, or an
    /// error that names the missing key.
    pub fn classes(&self) -> Result<&[String]> {
        self.metadata
            .classes
            .as_deref()
            .ok_or_else(|| self.missing("classes", "naming predicted classes"))
    }

    /// Returns the per-channel (mean, std) from the `mean` and `std` metadata
    /// entries, which preprocessing needs, or an error that names the missing key.
    pub fn normalization(&self) -> Result<(&[f32], &[f32])> {
        const PURPOSE: &str = "normalising input images";
        let mean = self.metadata.mean.as_deref();
        let std = self.metadata.std.as_deref();
        let mean = mean.ok_or_else(|| self.missing("mean", PURPOSE))?;
        let std = std.ok_or_else(|| self.missing("std", PURPOSE))?;
        Ok((mean, std))
    }

    fn missing(&self, key: &'static str, purpose: &'static str) -> ServeError {
        ServeError::MissingMetadata {
            path: self.path.clone(),
            key,
            purpose,
        }
    }
}

fn inference_error(path: &Path, error: impl ToString) -> ServeError {
    ServeError::Inference {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

/// Upper bound on intra-op threads per logical core. More threads than cores
/// only adds contention, and each thread reserves a stack, so a mistyped count
/// such as 100000 would exhaust memory instead of running.
const MAX_THREADS_PER_CORE: usize = 4;

/// Creates a session builder for `options`: thread count and, for CUDA, the
/// CUDA execution provider, registered so that a failure is an error.
fn session_builder(
    runtime: &Runtime,
    options: &RunOptions,
    optimization: Optimization,
) -> Result<SessionBuilder> {
    let session_error = |error: &dyn fmt::Display| ServeError::RuntimeEnvironment {
        library: runtime.library.clone(),
        message: error.to_string(),
    };
    let mut builder = Session::builder(runtime.environment())
        .map_err(|e| session_error(&e))?
        .with_optimization_level(optimization.level())
        .map_err(|e| session_error(&e))?;
    if let Some(threads) = options.threads {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max = MAX_THREADS_PER_CORE * cores;
        if threads == 0 || threads > max {
            return Err(ServeError::InvalidThreads {
                threads,
                max,
                cores,
            });
        }
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| session_error(&e))?;
    }
    if options.device == Device::Cuda {
        builder = runtime::with_cuda(runtime, builder)?;
    }
    Ok(builder)
}

/// Picks the logits output: the one named `logits`, else the only output.
/// It must be float [batch, classes].
fn logits_output(info: &ModelInfo) -> Result<&TensorInfo> {
    let output = match info.outputs.as_slice() {
        [only] => only,
        outputs => outputs
            .iter()
            .find(|output| output.name == "logits")
            .ok_or_else(|| {
                let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
                let message = format!("expected one output or one named `logits`, found {names:?}");
                ServeError::unsupported(&info.path, message)
            })?,
    };
    if output.element_type != "float" || output.shape.len() != 2 {
        let message = format!(
            "output `{}` is {} with shape {}, but serve needs float [batch, classes]",
            output.name,
            output.element_type,
            output.shape_text()
        );
        return Err(ServeError::unsupported(&info.path, message));
    }
    Ok(output)
}

/// Number of classes from the output shape or the `classes` entry; both
/// must agree when both are known.
fn class_count(info: &ModelInfo, output: &TensorInfo, metadata: &ModelMetadata) -> Result<usize> {
    let from_graph = output.fixed_tail().and_then(|tail| tail.first().copied());
    let from_metadata = metadata.classes.as_ref().map(Vec::len);
    match (from_graph, from_metadata) {
        (Some(graph), Some(named)) if graph != named => {
            let value = info.metadata.get("classes").cloned().unwrap_or_default();
            Err(ServeError::InvalidMetadata {
                path: info.path.clone(),
                key: "classes".to_owned(),
                value,
                reason: format!(
                    "{named} names, but output `{}` has {graph} logits",
                    output.name
                ),
            })
        }
        (Some(count), _) | (None, Some(count)) if count > 0 => Ok(count),
        _ => {
            let message = format!(
                "output `{}` has shape {} and there is no `classes` metadata entry, \
                 so the number of classes is unknown",
                output.name,
                output.shape_text()
            );
            Err(ServeError::unsupported(&info.path, message))
        }
    }
}

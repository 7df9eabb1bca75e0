//! libtorch back end for sharpDARTS: runs a [`models::Graph`] as a trainable
//! network, the Cosine Power Annealing schedule, optimisers, checkpoints, the
//! final training loop behind `train final`, the architecture search behind
//! `train search`, and the `manifest.json` both write.

pub mod checkpoint;
pub mod determinism;
pub mod final_training;
pub mod manifest;
pub mod network;
pub mod onednn;
pub mod optim;
pub mod schedule;
pub mod search;

pub use network::Network;
pub use schedule::{cosine_power_annealing, ScheduleError};

/// Returns the error for `--option value`, with the fix to suggest.
pub(crate) fn invalid_option<T: ToString>(
    option: &'static str,
    value: T,
    fix: &str,
) -> Result<(), TrainError> {
    Err(TrainError::InvalidOption {
        option,
        value: value.to_string(),
        fix: fix.to_string(),
    })
}

/// Errors of the training back end.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The libtorch message is the source, so anyhow's `{:#}` shows it once.
    #[error("libtorch operation failed")]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Model(#[from] models::ModelError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(
        "variable `{0}` is defined twice; each parameter of the network graph needs a unique name"
    )]
    DuplicateVariable(String),
    #[error(
        "input of shape {actual:?} does not match the network: expected [batch, {}, {}, {}] \
         with batch >= 1",
        expected[0], expected[1], expected[2]
    )]
    InputShape {
        actual: Vec<i64>,
        expected: [usize; 3],
    },
    #[error("checkpoint {path} does not match the network: {message}")]
    CheckpointMismatch { path: String, message: String },
    #[error("failed to read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to write {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error("invalid --{option} {value}: {fix}")]
    InvalidOption {
        option: &'static str,
        value: String,
        fix: String,
    },
    #[error(
        "run folder {path} already exists and is not empty; continue it with --resume {path}, \
         choose a new --out folder, or pass --overwrite to replace its results"
    )]
    RunDirNotEmpty { path: String },
    #[error(
        "--device cuda requested, but libtorch finds no CUDA device (tch::Cuda::is_available() \
         is false); use --device cpu, or check the NVIDIA driver and that libtorch_cuda.so is \
         loaded (run `train doctor`)"
    )]
    CudaUnavailable,
    #[error(
        "training loss became {loss} at epoch {epoch}, step {step}; {weights_status}; \
         try a lower --lr (or a smaller --grad-clip)"
    )]
    NonFiniteLoss {
        epoch: usize,
        step: usize,
        loss: f64,
        /// State of `weights.safetensors` when training stopped.
        weights_status: String,
    },
    #[error("{what}: {message}")]
    DatasetMismatch { what: String, message: String },
    #[error("--deterministic is not available: {0}")]
    DeterministicUnavailable(String),
    #[error(
        "the network has mixed operations, so it is a search supernetwork: run it with \
         architecture weights (Network::f_forward_search)"
    )]
    MissingArchWeights,
    #[error(
        "epoch {epoch} read no {split} image: every file was skipped (see the warnings \
         above); check the data folder"
    )]
    NoImages { split: &'static str, epoch: usize },
    #[error("invalid run folder {path}: {message}")]
    InvalidRunFolder { path: String, message: String },
    #[error(
        "no epoch of {epochs} produced a finite test loss, so no weights were written \
         (weights.safetensors is missing); training diverged: try a lower --lr than {lr}"
    )]
    NoFiniteTestLoss { epochs: usize, lr: f64 },
}

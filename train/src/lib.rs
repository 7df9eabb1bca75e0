//! libtorch back end for sharpDARTS: runs a [`models::Graph`] as a trainable
//! network, the Cosine Power Annealing schedule, checkpoints, and the final
//! CIFAR-10 training loop behind the `train final` command.

pub mod checkpoint;
pub mod network;
pub mod schedule;

pub use network::Network;
pub use schedule::{cosine_power_annealing, ScheduleError};

/// Errors of the training back end.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("libtorch: {0}")]
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
    #[error("failed to write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

//! Checkpoints of `train final`, and what `--resume` reads back.
//!
//! After every epoch the run folder gets, in this order:
//! 1. `checkpoint.safetensors`: every network variable (`net/<name>`), the
//!    SGD momentum buffers (`sgd/<name>`) and the [`CheckpointState`] as
//!    UTF-8 JSON bytes (`state`). Its atomic rename commits the epoch.
//! 2. `weights.safetensors`, when the epoch is the best so far;
//! 3. `metrics.jsonl` with the epoch's line;
//! 4. `result.json`;
//! 5. `checkpoint.json`, a readable copy of the state.
//!
//! Every file is replaced by an atomic rename. A process killed at any
//! instant leaves either the previous epoch committed, and steps 2 to 5
//! still describe it, or this epoch committed, with steps 2 to 5 possibly
//! missing. `--resume` redoes them from the checkpoint, then continues with
//! the next epoch. The state is stored inside the tensor file because tch
//! writes no safetensors metadata, and one rename must commit both.
//!
//! No random-number state is stored: epoch `e` seeds its data order,
//! augmentation and libtorch generator from `(seed, e)` (see the epoch
//! module), so the weights, momentum and epoch number determine the rest of
//! the run.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use super::amp::LossScaler;
use super::config::FinalConfig;
use super::outputs::{
    EpochMetrics, RunConfig, RunFolder, RunResult, CHECKPOINT_FILE, CHECKPOINT_STATE_FILE,
    CONFIG_FILE, METRICS_FILE,
};
use super::step::SgdOptimizer;
use crate::checkpoint::{self, TEMPORARY_SUFFIX};
use crate::TrainError;

/// Name of the tensor that contains the JSON of the [`CheckpointState`].
const STATE_TENSOR: &str = "state";
const NETWORK_PREFIX: &str = "net/";
const MOMENTUM_PREFIX: &str = "sgd/";
/// Start of the temporary file names of `models::io::write_atomic`.
const WRITE_ATOMIC_PREFIX: &str = ".tmp-";

/// Position of a run after its last finished epoch: `checkpoint.json`, and
/// the `state` tensor of `checkpoint.safetensors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Version of the `train` crate that wrote the checkpoint.
    pub train_version: String,
    /// Epochs whose training and evaluation finished.
    pub epochs_completed: usize,
    /// Learning rate of the next epoch in the schedule; `None` when every
    /// epoch has finished.
    pub next_lr: Option<f64>,
    /// `result.json` after that epoch, with the best epoch and accuracy so far.
    pub result: RunResult,
    /// `metrics.jsonl` line of that epoch.
    pub last_epoch: EpochMetrics,
    /// Loss scale after that epoch, in runs with `--amp fp16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scaler: Option<LossScaler>,
}

impl CheckpointState {
    /// Returns the state after the epoch of `metrics`, with `next_lr` from
    /// the schedule and the loss scale of `--amp fp16`.
    pub(super) fn after_epoch(
        result: &RunResult,
        metrics: EpochMetrics,
        next_lr: Option<f64>,
        loss_scaler: Option<LossScaler>,
    ) -> CheckpointState {
        CheckpointState {
            train_version: env!("CARGO_PKG_VERSION").to_string(),
            epochs_completed: metrics.epoch,
            next_lr,
            result: result.clone(),
            last_epoch: metrics,
            loss_scaler,
        }
    }
}

/// A checkpoint read back: its state and its tensors, on the CPU.
pub(super) struct Checkpoint {
    pub state: CheckpointState,
    tensors: HashMap<String, Tensor>,
}

/// Reads `config.json` of the `train final` run in `run_dir`.
pub fn read_run_config(run_dir: &Path) -> Result<RunConfig, TrainError> {
    let invalid = |message: String| TrainError::InvalidRunFolder {
        path: run_dir.display().to_string(),
        message,
    };
    if !run_dir.is_dir() {
        return Err(invalid(
            "folder not found; pass the --out folder of an earlier train final run".to_string(),
        ));
    }
    let path = run_dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(invalid(format!(
                "{CONFIG_FILE} not found: the folder is not a train final run, or its run \
                 stopped before writing it; start a new run with --out"
            )))
        }
        Err(source) => {
            return Err(TrainError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    serde_json::from_str(&text).map_err(|error| {
        invalid(format!(
            "{CONFIG_FILE} is not a train final config: {error}"
        ))
    })
}

/// Deletes the temporary files of writes that a killed process left in `dir`.
pub(super) fn remove_temporary_files(dir: &Path) -> Result<(), TrainError> {
    let read_error = |source| TrainError::Read {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let temporary = name.starts_with(WRITE_ATOMIC_PREFIX) || name.ends_with(TEMPORARY_SUFFIX);
        if !temporary || !entry.file_type().map_err(read_error)?.is_file() {
            continue;
        }
        std::fs::remove_file(entry.path()).map_err(|source| TrainError::Write {
            path: entry.path().display().to_string(),
            source,
        })?;
        tracing::info!(file = %entry.path().display(), "removed the file of an interrupted write");
    }
    Ok(())
}

/// Reads `checkpoint.safetensors` of `dir`; `None` when no epoch was
/// committed. A folder whose other files show finished epochs without a
/// checkpoint is rejected.
pub(super) fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, TrainError> {
    let invalid = |message: String| TrainError::InvalidRunFolder {
        path: dir.display().to_string(),
        message,
    };
    let path = dir.join(CHECKPOINT_FILE);
    if !path.exists() {
        if dir.join(CHECKPOINT_STATE_FILE).exists() {
            return Err(invalid(format!(
                "{CHECKPOINT_STATE_FILE} is there but {CHECKPOINT_FILE} is missing; \
                 the run cannot continue without it, so start a new run"
            )));
        }
        let metrics = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap_or_default();
        if !metrics.trim().is_empty() {
            return Err(invalid(format!(
                "{METRICS_FILE} lists finished epochs but {CHECKPOINT_FILE} is missing: \
                 the run was written by a version of train without checkpoints, or the \
                 checkpoint was deleted; start a new run"
            )));
        }
        return Ok(None);
    }
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&path)
        .map_err(|error| invalid(format!("{CHECKPOINT_FILE} cannot be read: {error}")))?
        .into_iter()
        .collect();
    let state_tensor = tensors
        .get(STATE_TENSOR)
        .ok_or_else(|| invalid(format!("{CHECKPOINT_FILE} has no `{STATE_TENSOR}` tensor")))?;
    let bytes = Vec::<u8>::try_from(state_tensor)?;
    let state: CheckpointState = serde_json::from_slice(&bytes).map_err(|error| {
        invalid(format!(
            "the `{STATE_TENSOR}` tensor of {CHECKPOINT_FILE} is invalid: {error}"
        ))
    })?;
    Ok(Some(Checkpoint { state, tensors }))
}

impl Checkpoint {
    /// Checks that the checkpoint belongs to the run `config` describes,
    /// whose learning rate of epoch `e` is `schedule[e - 1]`.
    pub(super) fn check(
        &self,
        dir: &Path,
        config: &FinalConfig,
        schedule: &[f64],
    ) -> Result<(), TrainError> {
        let state = &self.state;
        let done = state.epochs_completed;
        let problem = if done == 0 || done > config.epochs {
            Some(format!(
                "the checkpoint is at epoch {done}, but {CONFIG_FILE} plans {} epochs",
                config.epochs
            ))
        } else if state.last_epoch.epoch != done {
            Some(format!(
                "the checkpoint is at epoch {done} but holds the metrics of epoch {}",
                state.last_epoch.epoch
            ))
        } else if schedule.get(done).copied() != state.next_lr {
            Some(format!(
                "the checkpoint expects learning rate {:?} for epoch {}, but the schedule of \
                 {CONFIG_FILE} gives {:?}; was it written by another version of train?",
                state.next_lr,
                done + 1,
                schedule.get(done)
            ))
        } else {
            None
        };
        match problem {
            Some(message) => Err(TrainError::InvalidRunFolder {
                path: dir.display().to_string(),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Rewrites the files that follow the commit of the checkpoint's epoch
    /// (best weights, metrics line, result, readable state), since the
    /// process that wrote it may have stopped before them. Drops the lines
    /// of later epochs from `metrics.jsonl`.
    pub(super) fn repair_files(&self, folder: &mut RunFolder) -> Result<(), TrainError> {
        folder.keep_epochs_before(self.state.epochs_completed)?;
        write_epoch_files(folder, &self.state, |path| {
            let weights: Vec<(String, Tensor)> = self
                .tensors
                .iter()
                .filter_map(|(name, tensor)| {
                    let name = name.strip_prefix(NETWORK_PREFIX)?;
                    Some((name.to_string(), tensor.shallow_clone()))
                })
                .collect();
            checkpoint::write_tensors(&weights, path)
        })
    }

    /// Copies the checkpoint's variables into `vs` and its momentum buffers
    /// into `optimizer`, after checking every name and shape.
    pub(super) fn restore(
        &self,
        path: &Path,
        vs: &VarStore,
        optimizer: &mut SgdOptimizer,
    ) -> Result<(), TrainError> {
        let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        checkpoint::copy_into(&variables, &self.tensors, NETWORK_PREFIX, path)?;

        for (name, parameter) in optimizer.parameters() {
            let Some(buffer) = self.tensors.get(&format!("{MOMENTUM_PREFIX}{name}")) else {
                continue;
            };
            if buffer.size() != parameter.size() {
                return Err(TrainError::CheckpointMismatch {
                    path: path.display().to_string(),
                    message: format!(
                        "{MOMENTUM_PREFIX}{name} has shape {:?} in the file but {:?} in the network",
                        buffer.size(),
                        parameter.size()
                    ),
                });
            }
        }
        optimizer.set_momentum_buffers(|name| {
            self.tensors
                .get(&format!("{MOMENTUM_PREFIX}{name}"))
                .map(Tensor::shallow_clone)
        })
    }
}

/// Commits a finished epoch: writes `checkpoint.safetensors` with the
/// variables of `vs`, the momentum of `optimizer` and `state`, then the
/// files that describe the epoch.
pub(super) fn commit_epoch(
    vs: &VarStore,
    optimizer: &SgdOptimizer,
    folder: &mut RunFolder,
    state: &CheckpointState,
) -> Result<(), TrainError> {
    // safetensors stores only contiguous tensors, and gradients (so the
    // momentum) of convolutions can be channels-last.
    let cpu = |tensor: &Tensor| tensor.detach().f_to_device(Device::Cpu)?.f_contiguous();
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (name, variable) in vs.variables() {
        tensors.push((format!("{NETWORK_PREFIX}{name}"), cpu(&variable)?));
    }
    for (name, buffer) in optimizer.momentum_buffers() {
        tensors.push((format!("{MOMENTUM_PREFIX}{name}"), cpu(&buffer)?));
    }
    let json = serde_json::to_vec(state).expect("a checkpoint state always serialises");
    tensors.push((STATE_TENSOR.to_string(), Tensor::f_from_slice(&json)?));
    checkpoint::write_tensors(&tensors, &folder.path(CHECKPOINT_FILE))?;

    write_epoch_files(folder, state, |path| checkpoint::save(vs, path))
}

/// Writes the files that describe the epoch of `state` after its commit;
/// `save_best` writes the weights when it is the best epoch so far.
fn write_epoch_files(
    folder: &mut RunFolder,
    state: &CheckpointState,
    save_best: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    if state.result.best_epoch == state.epochs_completed {
        save_best(&folder.weights_path())?;
    }
    folder.push_epoch(&state.last_epoch)?;
    folder.write_result(&state.result)?;
    folder.write_json(CHECKPOINT_STATE_FILE, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".tmp-a1b2c3",
            "checkpoint.tmp.safetensors",
            "weights.tmp.safetensors",
            "metrics.jsonl",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        remove_temporary_files(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["metrics.jsonl", "notes.txt"]);
    }

    #[test]
    fn folder_without_checkpoint_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_checkpoint(dir.path()).unwrap().is_none());
    }

    #[test]
    fn metrics_without_checkpoint_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(METRICS_FILE), "{\"epoch\": 1}\n").unwrap();
        let message = read_checkpoint(dir.path()).err().unwrap().to_string();
        assert!(message.contains("without checkpoints"), "{message}");
        assert!(message.contains("start a new run"), "{message}");
    }

    #[test]
    fn state_file_without_checkpoint_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CHECKPOINT_STATE_FILE), "{}").unwrap();
        let message = read_checkpoint(dir.path()).err().unwrap().to_string();
        assert!(
            message.contains("checkpoint.safetensors is missing"),
            "{message}"
        );
    }

    #[test]
    fn damaged_checkpoint_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CHECKPOINT_FILE), "not safetensors").unwrap();
        let message = read_checkpoint(dir.path()).err().unwrap().to_string();
        assert!(message.contains("cannot be read"), "{message}");
    }

    #[test]
    fn missing_config_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let message = read_run_config(dir.path()).unwrap_err().to_string();
        assert!(message.contains("config.json not found"), "{message}");
        let missing = read_run_config(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("folder not found"), "{missing}");
    }
}

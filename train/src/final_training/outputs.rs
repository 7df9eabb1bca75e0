//! The files of a run folder, each written atomically.

use std::path::{Path, PathBuf};

use models::io::write_atomic;
use models::ModelFile;
use serde::{Deserialize, Serialize};

use super::config::{FinalConfig, MOMENTUM};
use crate::manifest::MANIFEST_FILE;
use crate::TrainError;

/// Training settings of the run, written before the first epoch.
pub const CONFIG_FILE: &str = "config.json";
/// Network description: genotype, network settings, classes, normalisation.
pub const MODEL_FILE: &str = "model.json";
/// Weights of the epoch with the best test accuracy so far.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// One JSON object per finished epoch.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Summary of the run, rewritten after every epoch.
pub const RESULT_FILE: &str = "result.json";
/// Network variables, SGD momentum and the state of the last finished epoch,
/// from which `--resume` continues.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// Readable copy of the state stored in `checkpoint.safetensors`.
pub const CHECKPOINT_STATE_FILE: &str = "checkpoint.json";

/// Files that `--overwrite` replaces.
const OUTPUT_FILES: [&str; 8] = [
    CONFIG_FILE,
    MODEL_FILE,
    MANIFEST_FILE,
    WEIGHTS_FILE,
    METRICS_FILE,
    RESULT_FILE,
    CHECKPOINT_FILE,
    CHECKPOINT_STATE_FILE,
];

/// Files that a run writes before its first epoch finishes. A folder that
/// contains only these is left over from a run that finished no epoch.
const FIRST_FILES: [&str; 3] = [CONFIG_FILE, MODEL_FILE, MANIFEST_FILE];

/// Contents of `config.json`: the settings of [`FinalConfig`] (without the
/// run folder and `overwrite`) plus the values the run resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Version of the `train` crate that ran the training.
    pub train_version: String,
    #[serde(flatten)]
    pub config: FinalConfig,
    pub momentum: f64,
    /// Intra-op CPU threads of libtorch.
    pub threads: usize,
}

impl RunConfig {
    /// Records `config`; `threads` is libtorch's intra-op thread count.
    pub fn new(config: &FinalConfig, threads: i32) -> RunConfig {
        RunConfig {
            train_version: env!("CARGO_PKG_VERSION").to_string(),
            config: config.clone(),
            momentum: MOMENTUM,
            threads: usize::try_from(threads).unwrap_or(0),
        }
    }
}

/// Measurements of one epoch, one line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    pub lr: f64,
    pub drop_path_prob: f64,
    /// Mean training objective per image: cross-entropy of the logits plus
    /// `auxiliary_weight` times that of the auxiliary logits.
    pub train_loss: f64,
    /// Top-1 accuracy in percent on the augmented training batches, in
    /// training mode (drop path and batch statistics).
    pub train_accuracy: f64,
    /// Mean cross-entropy per test image, in inference mode; `null` in JSON
    /// when it is not finite (the weights diverged).
    #[serde(deserialize_with = "nan_from_null")]
    pub test_loss: f64,
    /// Top-1 accuracy in percent on the test images.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch, training and evaluation.
    pub seconds: f64,
    /// Training images divided by the training seconds of the epoch.
    pub images_per_second: f64,
    /// Seconds of the epoch's training loop spent waiting for the next batch
    /// from the thread that prepares them; 0 in lines written before it existed.
    #[serde(default)]
    pub data_wait_seconds: f64,
    /// Mean cross-entropy per CIFAR-10.1 image, in inference mode; only in
    /// runs with `--cifar10-1`, and `null` in JSON when it is not finite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cifar10_1_loss: Option<f64>,
    /// Top-1 accuracy in percent on CIFAR-10.1; only in runs with `--cifar10-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cifar10_1_accuracy: Option<f64>,
}

/// Contents of `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Epoch whose weights are in `weights.safetensors`; 0 while no epoch has
    /// finished with a finite test loss.
    pub best_epoch: usize,
    pub best_test_accuracy: f64,
    /// Test accuracy of the last finished epoch.
    pub final_test_accuracy: f64,
    pub epochs_completed: usize,
    pub epochs_planned: usize,
    pub test_images: usize,
    pub train_images: usize,
    /// Parameters without the auxiliary head, as papers report them.
    pub params: usize,
    pub params_with_auxiliary: usize,
    /// Multiply-accumulates of one image in inference.
    pub macs: u64,
    /// Wall-clock seconds of the run. A resumed run adds the seconds of its
    /// earlier processes up to their last finished epoch.
    pub total_seconds: f64,
    /// CIFAR-10.1 accuracy at `best_epoch`, which the CIFAR-10 test split
    /// chooses; only in runs with `--cifar10-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_cifar10_1_accuracy: Option<f64>,
    /// CIFAR-10.1 accuracy of the last finished epoch; only in runs with `--cifar10-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_cifar10_1_accuracy: Option<f64>,
}

/// Reads a number, or `null` (how serde_json writes NaN and infinities) as NaN.
fn nan_from_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value: Option<f64> = Deserialize::deserialize(deserializer)?;
    Ok(value.unwrap_or(f64::NAN))
}

/// A run folder being written.
#[derive(Debug)]
pub(crate) struct RunFolder {
    dir: PathBuf,
    /// Contents of `metrics.jsonl`: one JSON line per finished epoch.
    metrics: String,
}

impl RunFolder {
    /// Checks that `dir` can become the run folder, without changing anything.
    ///
    /// A missing or empty folder is accepted, and so is one that contains
    /// only the files of a run that finished no epoch. Any other folder is
    /// rejected unless `overwrite`.
    pub(crate) fn check(dir: &Path, overwrite: bool) -> Result<(), TrainError> {
        if !dir.exists() || overwrite {
            return Ok(());
        }
        match folder_state(dir)? {
            FolderState::Empty | FolderState::NoEpochFinished => Ok(()),
            FolderState::Other => Err(TrainError::RunDirNotEmpty {
                path: dir.display().to_string(),
            }),
        }
    }

    /// Creates `dir`, or prepares an existing one that [`RunFolder::check`]
    /// accepts by deleting the result files in it (other files are kept).
    pub(crate) fn prepare(dir: &Path, overwrite: bool) -> Result<RunFolder, TrainError> {
        let write_error = |source| TrainError::Write {
            path: dir.display().to_string(),
            source,
        };
        if dir.exists() {
            Self::check(dir, overwrite)?;
            if folder_state(dir)? == FolderState::NoEpochFinished {
                tracing::info!(
                    folder = %dir.display(),
                    "reusing the run folder: it contains only {} of an earlier run \
                     that finished no epoch",
                    FIRST_FILES.join(" and ")
                );
            }
            remove_outputs(dir)?;
        } else {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            metrics: String::new(),
        })
    }

    /// Opens the run folder `dir` of a run to resume, with the lines of its
    /// `metrics.jsonl` (none when the file is missing).
    pub(crate) fn open(dir: &Path) -> Result<RunFolder, TrainError> {
        let path = dir.join(METRICS_FILE);
        let metrics = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(TrainError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            metrics,
        })
    }

    /// Drops the `metrics.jsonl` lines of `epoch` and later (in memory; the
    /// next [`RunFolder::push_epoch`] writes the file). The lines kept must be
    /// epochs 1 to `epoch - 1` in order.
    pub(crate) fn keep_epochs_before(&mut self, epoch: usize) -> Result<(), TrainError> {
        let mut kept = String::new();
        for (index, line) in self.metrics.lines().enumerate() {
            let parsed = serde_json::from_str::<EpochMetrics>(line);
            let expected = index + 1;
            match parsed {
                Ok(metrics) if metrics.epoch >= epoch && metrics.epoch == expected => break,
                Ok(metrics) if metrics.epoch == expected => {
                    kept.push_str(line);
                    kept.push('\n');
                }
                Ok(metrics) => {
                    return Err(self.damaged_metrics(format!(
                        "line {expected} is epoch {} instead of epoch {expected}",
                        metrics.epoch
                    )))
                }
                Err(error) => {
                    return Err(self.damaged_metrics(format!("line {expected} is invalid: {error}")))
                }
            }
        }
        let lines = kept.lines().count();
        if lines + 1 < epoch {
            return Err(self.damaged_metrics(format!(
                "it has {lines} lines where epochs 1 to {} are expected",
                epoch - 1
            )));
        }
        self.metrics = kept;
        Ok(())
    }

    fn damaged_metrics(&self, message: String) -> TrainError {
        TrainError::InvalidRunFolder {
            path: self.dir.display().to_string(),
            message: format!(
                "{METRICS_FILE} does not match the checkpoint: {message}; \
                 it was changed after the run wrote it, so start a new run"
            ),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn weights_path(&self) -> PathBuf {
        self.dir.join(WEIGHTS_FILE)
    }

    pub(crate) fn write_config(&self, config: &RunConfig) -> Result<(), TrainError> {
        let text = serde_json::to_string_pretty(config).expect("settings always serialise");
        self.write(CONFIG_FILE, text.into_bytes())
    }

    pub(crate) fn write_model(&self, model: &ModelFile) -> Result<(), TrainError> {
        self.write(MODEL_FILE, model.to_json().into_bytes())
    }

    /// Adds one epoch and rewrites `metrics.jsonl` with all epochs so far.
    pub(crate) fn push_epoch(&mut self, metrics: &EpochMetrics) -> Result<(), TrainError> {
        self.metrics
            .push_str(&serde_json::to_string(metrics).expect("metrics always serialise"));
        self.metrics.push('\n');
        self.write(METRICS_FILE, self.metrics.clone().into_bytes())
    }

    pub(crate) fn write_result(&self, result: &RunResult) -> Result<(), TrainError> {
        self.write_json(RESULT_FILE, result)
    }

    /// Writes `value` as pretty-printed JSON to the file `name` of the folder.
    pub(crate) fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), TrainError> {
        let text = serde_json::to_string_pretty(value).expect("run files always serialise");
        self.write(name, text.into_bytes())
    }

    fn write(&self, name: &str, bytes: Vec<u8>) -> Result<(), TrainError> {
        let path = self.dir.join(name);
        write_atomic(&path, &bytes).map_err(|source| TrainError::Write {
            path: path.display().to_string(),
            source,
        })
    }
}

/// The contents of an existing run folder, as far as reuse is concerned.
#[derive(Debug, PartialEq, Eq)]
enum FolderState {
    Empty,
    /// Only files from [`FIRST_FILES`], left by a run that finished no epoch.
    NoEpochFinished,
    Other,
}

fn folder_state(dir: &Path) -> Result<FolderState, TrainError> {
    let read_error = |source| TrainError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut empty = true;
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let is_file = entry.file_type().map_err(read_error)?.is_file();
        let name = entry.file_name();
        let known = name
            .to_str()
            .is_some_and(|name| FIRST_FILES.contains(&name));
        if !(is_file && known) {
            return Ok(FolderState::Other);
        }
        empty = false;
    }
    Ok(if empty {
        FolderState::Empty
    } else {
        FolderState::NoEpochFinished
    })
}

fn remove_outputs(dir: &Path) -> Result<(), TrainError> {
    for name in OUTPUT_FILES {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(file = %path.display(), "removed result of an earlier run"),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(TrainError::Write {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_creates_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("a/b");
        RunFolder::prepare(&run, false).unwrap();
        assert!(run.is_dir());
    }

    #[test]
    fn prepare_rejects_non_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "keep").unwrap();
        let error = RunFolder::prepare(dir.path(), false).unwrap_err();
        assert!(
            matches!(error, TrainError::RunDirNotEmpty { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("--overwrite"), "{error}");
    }

    #[test]
    fn overwrite_removes_only_results() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "keep").unwrap();
        std::fs::write(dir.path().join(WEIGHTS_FILE), "old").unwrap();
        std::fs::write(dir.path().join(RESULT_FILE), "old").unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "old").unwrap();
        RunFolder::prepare(dir.path(), true).unwrap();
        assert!(dir.path().join("notes.txt").exists());
        assert!(!dir.path().join(WEIGHTS_FILE).exists());
        assert!(!dir.path().join(RESULT_FILE).exists());
        assert!(!dir.path().join(CONFIG_FILE).exists());
    }

    #[test]
    fn folder_without_finished_epoch_is_reused() {
        for files in [
            &[MODEL_FILE][..],
            &[CONFIG_FILE],
            &[CONFIG_FILE, MODEL_FILE],
        ] {
            let dir = tempfile::tempdir().unwrap();
            for name in files {
                std::fs::write(dir.path().join(name), "old").unwrap();
            }
            RunFolder::prepare(dir.path(), false).unwrap();
            for name in files {
                assert!(!dir.path().join(name).exists(), "{name} is removed");
            }
        }
    }

    #[test]
    fn folder_with_other_files_is_rejected() {
        for extra in [METRICS_FILE, RESULT_FILE, WEIGHTS_FILE, "notes.txt"] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(MODEL_FILE), "old").unwrap();
            std::fs::write(dir.path().join(extra), "old").unwrap();
            let error = RunFolder::prepare(dir.path(), false).unwrap_err();
            assert!(
                matches!(error, TrainError::RunDirNotEmpty { .. }),
                "with {extra}: {error}"
            );
            assert!(dir.path().join(MODEL_FILE).exists(), "with {extra}");
        }
    }

    #[test]
    fn folder_named_like_result_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(MODEL_FILE)).unwrap();
        let error = RunFolder::prepare(dir.path(), false).unwrap_err();
        assert!(
            matches!(error, TrainError::RunDirNotEmpty { .. }),
            "{error}"
        );
    }

    #[test]
    fn write_error_shows_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let folder = RunFolder {
            dir: file.clone(),
            metrics: String::new(),
        };
        let error = folder.write_result(&sample_result()).unwrap_err();
        let chain = format!("{:#}", anyhow::Error::from(error));
        let parts: Vec<&str> = chain.split(": ").collect();
        assert!(parts.len() >= 2, "the chain names the cause: {chain}");
        assert!(parts.windows(2).all(|w| w[0] != w[1]), "{chain}");
    }

    fn sample_result() -> RunResult {
        RunResult {
            best_epoch: 1,
            best_test_accuracy: 50.0,
            final_test_accuracy: 50.0,
            epochs_completed: 1,
            epochs_planned: 1,
            test_images: 10,
            train_images: 10,
            params: 1,
            params_with_auxiliary: 1,
            macs: 1,
            total_seconds: 1.0,
            best_cifar10_1_accuracy: None,
            final_cifar10_1_accuracy: None,
        }
    }

    fn sample_metrics(epoch: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            lr: 0.1,
            drop_path_prob: 0.0,
            train_loss: 2.0,
            train_accuracy: 10.0,
            test_loss: 2.0,
            test_accuracy: 10.0,
            seconds: 1.0,
            images_per_second: 100.0,
            data_wait_seconds: 0.5,
            cifar10_1_loss: None,
            cifar10_1_accuracy: None,
        }
    }

    fn metrics_epochs(dir: &Path) -> Vec<usize> {
        let text = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<EpochMetrics>(line).unwrap().epoch)
            .collect()
    }

    #[test]
    fn metrics_file_has_one_line_per_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = RunFolder::prepare(dir.path(), false).unwrap();
        for epoch in 1..=3 {
            folder.push_epoch(&sample_metrics(epoch)).unwrap();
        }
        assert_eq!(metrics_epochs(dir.path()), [1, 2, 3]);
    }

    #[test]
    fn reopened_folder_replaces_later_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = RunFolder::prepare(dir.path(), false).unwrap();
        for epoch in 1..=3 {
            folder.push_epoch(&sample_metrics(epoch)).unwrap();
        }
        for kept in [3, 2] {
            let mut reopened = RunFolder::open(dir.path()).unwrap();
            reopened.keep_epochs_before(kept).unwrap();
            reopened.push_epoch(&sample_metrics(kept)).unwrap();
            let expected: Vec<usize> = (1..=kept).collect();
            assert_eq!(metrics_epochs(dir.path()), expected);
        }
        // The line of the checkpoint's epoch may be missing.
        let mut reopened = RunFolder::open(dir.path()).unwrap();
        reopened.keep_epochs_before(3).unwrap();
        reopened.push_epoch(&sample_metrics(3)).unwrap();
        assert_eq!(metrics_epochs(dir.path()), [1, 2, 3]);
    }

    #[test]
    fn reopened_folder_rejects_missing_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = RunFolder::prepare(dir.path(), false).unwrap();
        folder.push_epoch(&sample_metrics(1)).unwrap();
        let mut reopened = RunFolder::open(dir.path()).unwrap();
        let message = reopened.keep_epochs_before(3).unwrap_err().to_string();
        assert!(message.contains("epochs 1 to 2 are expected"), "{message}");

        std::fs::write(
            dir.path().join(METRICS_FILE),
            serde_json::to_string(&sample_metrics(2)).unwrap() + "\n",
        )
        .unwrap();
        let mut reopened = RunFolder::open(dir.path()).unwrap();
        let message = reopened.keep_epochs_before(2).unwrap_err().to_string();
        assert!(message.contains("line 1 is epoch 2"), "{message}");
    }
}

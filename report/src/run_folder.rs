//! Reading the files of a `train final` run folder.
//!
//! The types mirror the files that `train final` writes, but declare only the
//! fields the report uses, so fields added to the files later are ignored.

use std::path::{Path, PathBuf};

use models::{DatasetKind, ModelFile};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::ReportError;

pub const CONFIG_FILE: &str = "config.json";
pub const MODEL_FILE: &str = "model.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const RESULT_FILE: &str = "result.json";
/// Optional record of the command line, versions and device of the run.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Files of every run folder whose first epoch has finished, in the order
/// `train final` writes them.
const REQUIRED_FILES: [&str; 4] = [CONFIG_FILE, MODEL_FILE, METRICS_FILE, RESULT_FILE];

/// Settings from `config.json` that the report shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunConfig {
    /// Genotype as given to `train final`: a built-in name or a file path.
    pub genotype: String,
    /// Runs written before the field existed are CIFAR-10 runs.
    #[serde(default)]
    pub dataset: DatasetKind,
    pub data_dir: PathBuf,
    pub seed: u64,
    pub limit_train: Option<usize>,
    pub limit_test: Option<usize>,
}

/// One line of `metrics.jsonl`: the measurements of one epoch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    pub lr: f64,
    /// Training objective per image; NaN where the file has `null` because
    /// the loss was not finite.
    #[serde(deserialize_with = "nan_from_null")]
    pub train_loss: f64,
    /// Top-1 accuracy in percent on the test split.
    pub test_accuracy: f64,
    /// Top-1 accuracy in percent on CIFAR-10.1, for runs evaluated on it.
    #[serde(default)]
    pub cifar10_1_accuracy: Option<f64>,
}

/// Contents of `result.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunResult {
    /// Epoch with the best test accuracy; 0 when no epoch finished with a
    /// finite test loss.
    pub best_epoch: usize,
    pub best_test_accuracy: f64,
    /// Test accuracy of the last finished epoch.
    pub final_test_accuracy: f64,
    pub epochs_completed: usize,
    pub epochs_planned: usize,
    pub test_images: usize,
    pub train_images: usize,
    /// Parameters without the auxiliary head.
    pub params: usize,
    pub params_with_auxiliary: usize,
    /// Multiply-accumulates of one image in inference.
    pub macs: u64,
    pub total_seconds: f64,
    /// CIFAR-10.1 accuracy at `best_epoch`, which the CIFAR-10 test split chose.
    #[serde(default)]
    pub best_cifar10_1_accuracy: Option<f64>,
    #[serde(default)]
    pub final_cifar10_1_accuracy: Option<f64>,
}

/// Contents of `manifest.json`, written by newer versions of `train final`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Manifest {
    pub command_line: Vec<String>,
    pub crate_version: String,
    pub git_revision: Option<String>,
    pub tch_version: String,
    pub libtorch_version: String,
    pub onnxruntime_version: Option<String>,
    pub device: String,
    pub seed: u64,
    pub deterministic: bool,
    /// Start time in RFC 3339 form, UTC.
    pub started_at: String,
}

/// A run folder read from disk and checked.
#[derive(Debug, Clone)]
pub struct TrainingRun {
    /// The folder as given on the command line.
    pub folder: PathBuf,
    pub config: RunConfig,
    /// Every field of `config.json`, for comparing the runs' settings.
    pub config_fields: Map<String, Value>,
    pub model: ModelFile,
    /// One entry per finished epoch, in epoch order.
    pub metrics: Vec<EpochMetrics>,
    pub result: RunResult,
    pub manifest: Option<Manifest>,
}

impl TrainingRun {
    /// Reads and checks the run folder `folder`.
    ///
    /// Fails when the folder or one of its files is missing or invalid, and
    /// when no epoch has finished. Logs a warning when `metrics.jsonl` and
    /// `result.json` disagree on the number of finished epochs, which happens
    /// when a run stopped between writing the two.
    pub fn load(folder: &Path) -> Result<TrainingRun, ReportError> {
        check_files(folder)?;
        let config_path = folder.join(CONFIG_FILE);
        let config_fields: Map<String, Value> = read_json(&config_path)?;
        let config: RunConfig = serde_json::from_value(Value::Object(config_fields.clone()))
            .map_err(|e| ReportError::invalid(&config_path, e))?;
        let model_path = folder.join(MODEL_FILE);
        let model =
            ModelFile::load(&model_path).map_err(|e| ReportError::invalid(&model_path, e))?;
        let result_path = folder.join(RESULT_FILE);
        let result: RunResult = read_json(&result_path)?;
        check_result(&result, &result_path)?;
        let metrics = read_metrics(&folder.join(METRICS_FILE))?;
        let manifest_path = folder.join(MANIFEST_FILE);
        let manifest = if manifest_path.exists() {
            Some(read_json::<Manifest>(&manifest_path)?)
        } else {
            None
        };

        if result.epochs_completed == 0 || metrics.is_empty() {
            return Err(ReportError::NoFinishedEpoch {
                path: folder.display().to_string(),
                detail: format!(
                    "{RESULT_FILE} has epochs_completed {} and {METRICS_FILE} has {} lines",
                    result.epochs_completed,
                    metrics.len()
                ),
            });
        }
        if metrics.len() != result.epochs_completed {
            tracing::warn!(
                folder = %folder.display(),
                "{METRICS_FILE} has {} epochs but {RESULT_FILE} has epochs_completed {}, \
                 so the run probably stopped between writing the two files",
                metrics.len(),
                result.epochs_completed
            );
        }
        if let Some(manifest) = manifest.as_ref().filter(|m| m.seed != config.seed) {
            tracing::warn!(
                folder = %folder.display(),
                "{MANIFEST_FILE} has seed {} but {CONFIG_FILE} has seed {}, \
                 and the report uses the seed of {CONFIG_FILE}",
                manifest.seed,
                config.seed
            );
        }
        Ok(TrainingRun {
            folder: folder.to_path_buf(),
            config,
            config_fields,
            model,
            metrics,
            result,
            manifest,
        })
    }

    /// Returns true when every planned epoch has finished.
    pub fn is_finished(&self) -> bool {
        self.result.epochs_completed >= self.result.epochs_planned
    }
}

/// Reads every folder in `folders`, in order, and rejects a folder listed
/// twice (under any spelling of its path).
pub fn load_runs(folders: &[PathBuf]) -> Result<Vec<TrainingRun>, ReportError> {
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut runs = Vec::with_capacity(folders.len());
    for folder in folders {
        let run = TrainingRun::load(folder)?;
        let canonical = folder
            .canonicalize()
            .map_err(|e| ReportError::read(folder, e))?;
        if seen.contains(&canonical) {
            return Err(ReportError::DuplicateRun {
                path: folder.display().to_string(),
            });
        }
        seen.push(canonical);
        runs.push(run);
    }
    Ok(runs)
}

/// Checks that `folder` is a folder with every file of a run folder.
fn check_files(folder: &Path) -> Result<(), ReportError> {
    let path = folder.display().to_string();
    match std::fs::metadata(folder) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReportError::FolderNotFound { path })
        }
        Err(error) => return Err(ReportError::read(folder, error)),
        Ok(meta) if !meta.is_dir() => return Err(ReportError::NotAFolder { path }),
        Ok(_) => {}
    }
    let missing: Vec<&str> = REQUIRED_FILES
        .into_iter()
        .filter(|name| !folder.join(name).is_file())
        .collect();
    // `train final` writes config.json and model.json before the first epoch
    // and the other two files after it.
    if missing == [METRICS_FILE, RESULT_FILE] {
        return Err(ReportError::NoFinishedEpoch {
            path,
            detail: format!("it contains {CONFIG_FILE} and {MODEL_FILE} but no {RESULT_FILE}"),
        });
    }
    match missing.as_slice() {
        [] => Ok(()),
        [name] => Err(ReportError::NotATrainingRun {
            path,
            missing: format!("{name} is"),
        }),
        names => Err(ReportError::NotATrainingRun {
            path,
            missing: format!("{} are", names.join(", ")),
        }),
    }
}

/// Rejects values that `train final` never writes.
fn check_result(result: &RunResult, path: &Path) -> Result<(), ReportError> {
    let accuracies = [
        ("best_test_accuracy", Some(result.best_test_accuracy)),
        ("final_test_accuracy", Some(result.final_test_accuracy)),
        ("best_cifar10_1_accuracy", result.best_cifar10_1_accuracy),
        ("final_cifar10_1_accuracy", result.final_cifar10_1_accuracy),
    ];
    for (field, value) in accuracies {
        if let Some(value) = value.filter(|v| !(0.0..=100.0).contains(v)) {
            return Err(ReportError::invalid(
                path,
                format!("{field} {value} is not a percentage from 0 to 100"),
            ));
        }
    }
    if result.best_epoch > result.epochs_completed {
        return Err(ReportError::invalid(
            path,
            format!(
                "best_epoch {} is after the last finished epoch {}",
                result.best_epoch, result.epochs_completed
            ),
        ));
    }
    if !(result.total_seconds.is_finite() && result.total_seconds >= 0.0) {
        return Err(ReportError::invalid(
            path,
            format!(
                "total_seconds {} is not a duration in seconds",
                result.total_seconds
            ),
        ));
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|e| ReportError::read(path, e))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| ReportError::invalid(path, e))
}

/// Reads `metrics.jsonl` and checks that its epochs run 1, 2, 3 and so on.
fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>, ReportError> {
    let text = read_text(path)?;
    let mut metrics: Vec<EpochMetrics> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        let epoch: EpochMetrics = serde_json::from_str(line)
            .map_err(|e| ReportError::invalid(path, format!("line {line_number}: {e}")))?;
        let expected = metrics.len() + 1;
        if epoch.epoch != expected {
            return Err(ReportError::invalid(
                path,
                format!(
                    "line {line_number} has epoch {}, expected epoch {expected}",
                    epoch.epoch
                ),
            ));
        }
        metrics.push(epoch);
    }
    Ok(metrics)
}

/// Reads a number, or `null` (how serde_json writes NaN and infinities) as NaN.
fn nan_from_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value: Option<f64> = Deserialize::deserialize(deserializer)?;
    Ok(value.unwrap_or(f64::NAN))
}

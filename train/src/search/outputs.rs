//! The files of a search run folder, each written atomically.

use std::path::{Path, PathBuf};

use models::io::write_atomic;
use models::search::ParameterFreeShare;
use models::{CellKind, Genotype};
use serde::{Deserialize, Serialize};

use super::config::SearchRunConfig;
use crate::TrainError;

/// Settings of the search.
pub const CONFIG_FILE: &str = "config.json";
/// Genotype of the epoch with the best validation accuracy.
pub const GENOTYPE_FILE: &str = "genotype.json";
/// Folder of the genotype derived after every epoch.
pub const GENOTYPES_DIR: &str = "genotypes";
/// Softmax of both architecture weight matrices after every epoch.
pub const ALPHAS_FILE: &str = "alphas.jsonl";
/// One JSON object per finished epoch.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Summary, rewritten after every epoch.
pub const RESULT_FILE: &str = "result.json";
/// Everything needed to resume: weights, architecture weights, optimiser state.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// Position of the checkpoint: epochs done and the best epoch so far.
pub const CHECKPOINT_STATE_FILE: &str = "checkpoint.json";

/// Contents of `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRecord {
    pub train_version: String,
    #[serde(flatten)]
    pub config: SearchRunConfig,
    /// Intra-op CPU threads of libtorch.
    pub threads: usize,
}

/// Measurements of one epoch, one line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchEpochMetrics {
    pub epoch: usize,
    pub lr: f64,
    /// Mean cross-entropy of the weight steps.
    pub train_loss: f64,
    /// Top-1 accuracy in percent of the weight steps' batches.
    pub train_accuracy: f64,
    /// Mean validation loss of the architecture steps.
    pub arch_loss: f64,
    /// Cross-entropy and accuracy on the whole validation split in inference.
    pub valid_loss: f64,
    pub valid_accuracy: f64,
    /// Share of parameter-free operations (skip, pools, none) in the genotype
    /// derived after this epoch.
    pub parameter_free: ParameterFreeShare,
    pub genotype: Genotype,
    pub seconds: f64,
    /// Search steps (architecture step plus weight step) per second.
    pub steps_per_second: f64,
    /// Peak resident memory of the process so far, in bytes.
    pub peak_memory_bytes: Option<u64>,
}

/// One line of `alphas.jsonl`: softmax rows after an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlphaRecord {
    pub epoch: usize,
    pub primitives: Vec<String>,
    pub normal: Vec<Vec<f32>>,
    pub reduce: Vec<Vec<f32>>,
}

/// Contents of `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub best_epoch: usize,
    pub best_valid_accuracy: f64,
    pub epochs_completed: usize,
    pub epochs_planned: usize,
    pub weight_images: usize,
    pub arch_images: usize,
    /// Supernetwork parameters (architecture weights excluded).
    pub params: usize,
    pub total_seconds: f64,
}

/// Contents of `checkpoint.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    pub epochs_completed: usize,
    pub adam_steps: i64,
    pub result: SearchResult,
}

/// Writes the files of a search run folder.
pub struct SearchFolder {
    dir: PathBuf,
}

impl SearchFolder {
    pub fn new(dir: &Path) -> SearchFolder {
        SearchFolder {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), TrainError> {
        let path = self.dir.join(name);
        write_atomic(&path, bytes).map_err(|source| TrainError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), TrainError> {
        let text = serde_json::to_string_pretty(value).expect("run files always serialise");
        self.write(name, text.as_bytes())
    }

    /// Appends one JSON line to `name` by rewriting it atomically with the
    /// lines of earlier epochs, so a reader never sees half a line.
    pub fn append_line<T: Serialize>(&self, name: &str, value: &T) -> Result<(), TrainError> {
        let mut text = self.read_existing(name)?;
        text.push_str(&serde_json::to_string(value).expect("run files always serialise"));
        text.push('\n');
        self.write(name, text.as_bytes())
    }

    /// Keeps the first `lines` lines of `name`, dropping lines of epochs that
    /// a resumed run repeats.
    pub fn truncate_lines(&self, name: &str, lines: usize) -> Result<(), TrainError> {
        let text = self.read_existing(name)?;
        let kept: String = text.lines().take(lines).map(|l| format!("{l}\n")).collect();
        self.write(name, kept.as_bytes())
    }

    fn read_existing(&self, name: &str) -> Result<String, TrainError> {
        let path = self.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(source) => Err(TrainError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Writes `genotypes/epoch_NNN.json`.
    pub fn write_epoch_genotype(
        &self,
        epoch: usize,
        genotype: &Genotype,
    ) -> Result<(), TrainError> {
        let folder = self.dir.join(GENOTYPES_DIR);
        std::fs::create_dir_all(&folder).map_err(|source| TrainError::Write {
            path: folder.display().to_string(),
            source,
        })?;
        let name = format!("{GENOTYPES_DIR}/epoch_{epoch:03}.json");
        self.write(&name, genotype.to_json().as_bytes())
    }

    /// Writes the best genotype and its cell diagrams.
    pub fn write_best(&self, genotype: &Genotype) -> Result<(), TrainError> {
        self.write(GENOTYPE_FILE, genotype.to_json().as_bytes())?;
        for kind in CellKind::ALL {
            let name = format!("genotype_{}", kind.name());
            self.write(
                &format!("{name}.dot"),
                models::cell_dot(genotype, kind).as_bytes(),
            )?;
            self.write(
                &format!("{name}.svg"),
                models::cell_svg(genotype, kind).as_bytes(),
            )?;
        }
        Ok(())
    }
}

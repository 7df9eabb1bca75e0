//! Statistics over runs, and the checks that the runs can be averaged.

use std::collections::BTreeSet;
use std::path::PathBuf;

use models::{DatasetKind, NetworkConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run_folder::TrainingRun;
use crate::ReportError;

/// Version of the `report.json` layout.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// `config.json` fields that are expected to differ between the runs of one
/// report, or that the genotype and network checks already compare.
const SETTINGS_NOT_COMPARED: [&str; 8] = [
    "seed",
    "threads",
    "genotype",
    "dataset",
    "ops",
    "init_channels",
    "layers",
    "mid_channels",
];

/// Mean, sample standard deviation, minimum and maximum of one value over runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of runs the statistics cover.
    pub runs: usize,
    pub mean: f64,
    /// Sample standard deviation (divisor n - 1); `None` for a single run.
    pub std: Option<f64>,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// Computes the statistics of `values`; `None` when it is empty.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let count = values.len() as f64;
        let mean = values.iter().sum::<f64>() / count;
        let std = (values.len() > 1).then(|| {
            let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (squares / (count - 1.0)).sqrt()
        });
        Some(Summary {
            runs: values.len(),
            mean,
            std,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// A setting that differs between the runs, with each run's value in run order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub setting: String,
    pub values: Vec<String>,
}

/// Genotype, network and data of the first run, which every run shares
/// unless the report lists a difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// Genotype as given to `train final`: a built-in name or a file path.
    pub genotype: String,
    /// Built-in name that `model.json` records, when the genotype has one.
    pub genotype_name: Option<String>,
    pub network: NetworkConfig,
    pub dataset: DatasetKind,
    pub data_dir: PathBuf,
    pub train_images: usize,
    pub test_images: usize,
    pub epochs_planned: usize,
}

/// One row of the per-run table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// The run folder as given on the command line.
    pub folder: String,
    pub seed: u64,
    /// False when the run stopped before its last planned epoch.
    pub finished: bool,
    pub epochs_completed: usize,
    pub epochs_planned: usize,
    pub best_epoch: usize,
    pub best_test_accuracy: f64,
    pub final_test_accuracy: f64,
    pub best_cifar10_1_accuracy: Option<f64>,
    pub final_cifar10_1_accuracy: Option<f64>,
    pub params: usize,
    pub params_with_auxiliary: usize,
    pub macs: u64,
    pub total_seconds: f64,
    pub genotype: String,
    pub init_channels: usize,
    pub layers: usize,
    /// From `manifest.json`, when the run folder has one.
    pub git_revision: Option<String>,
    pub device: Option<String>,
    pub started_at: Option<String>,
}

/// Contents of `report.json`. Accuracies are percentages, times seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub runs: usize,
    /// Runs that stopped before their last planned epoch; they are included.
    pub unfinished_runs: usize,
    pub setting: Setting,
    /// Genotype, network, test set or count differences, which only
    /// `--allow-mixed` accepts.
    pub mixed: Vec<Difference>,
    /// Other `config.json` settings that differ, apart from the seed and the
    /// thread count.
    pub other_differences: Vec<Difference>,
    pub best_test_accuracy: Summary,
    pub final_test_accuracy: Summary,
    /// Over the runs evaluated on CIFAR-10.1; `None` when no run was.
    pub best_cifar10_1_accuracy: Option<Summary>,
    pub final_cifar10_1_accuracy: Option<Summary>,
    /// `None` when the runs differ in the counts.
    pub params: Option<usize>,
    pub params_with_auxiliary: Option<usize>,
    pub macs: Option<u64>,
    pub total_seconds: Summary,
    pub per_run: Vec<RunRow>,
}

/// Aggregates `runs` into a report.
///
/// Fails when `runs` is empty, and when the runs differ in genotype,
/// network, test set or parameter and multiply-add counts, unless
/// `allow_mixed`. Logs a warning for every unfinished run, for seeds that
/// appear more than once and for other settings that differ.
pub fn build_report(runs: &[TrainingRun], allow_mixed: bool) -> Result<Report, ReportError> {
    let first = runs.first().ok_or(ReportError::NoRuns)?;
    let mixed = mixed_settings(runs);
    if !mixed.is_empty() && !allow_mixed {
        return Err(ReportError::MixedRuns {
            differences: describe_differences(&mixed, runs),
        });
    }
    let other_differences = other_differences(runs);
    warn_about(runs, &other_differences);

    let rows: Vec<RunRow> = runs.iter().map(run_row).collect();
    let summary = |value: fn(&RunRow) -> Option<f64>| {
        let values: Vec<f64> = rows.iter().filter_map(value).collect();
        Summary::of(&values)
    };
    let always = "every run has this value";
    let same_counts = !mixed.iter().any(|d| d.setting == COUNTS_SETTING);
    Ok(Report {
        format_version: REPORT_FORMAT_VERSION,
        runs: runs.len(),
        unfinished_runs: rows.iter().filter(|row| !row.finished).count(),
        setting: Setting {
            genotype: first.config.genotype.clone(),
            genotype_name: first.model.genotype_name.clone(),
            network: first.model.network.clone(),
            dataset: first.config.dataset,
            data_dir: first.config.data_dir.clone(),
            train_images: first.result.train_images,
            test_images: first.result.test_images,
            epochs_planned: first.result.epochs_planned,
        },
        mixed,
        other_differences,
        best_test_accuracy: summary(|row| Some(row.best_test_accuracy)).expect(always),
        final_test_accuracy: summary(|row| Some(row.final_test_accuracy)).expect(always),
        best_cifar10_1_accuracy: summary(|row| row.best_cifar10_1_accuracy),
        final_cifar10_1_accuracy: summary(|row| row.final_cifar10_1_accuracy),
        params: same_counts.then_some(first.result.params),
        params_with_auxiliary: same_counts.then_some(first.result.params_with_auxiliary),
        macs: same_counts.then_some(first.result.macs),
        total_seconds: summary(|row| Some(row.total_seconds)).expect(always),
        per_run: rows,
    })
}

fn run_row(run: &TrainingRun) -> RunRow {
    let result = &run.result;
    RunRow {
        folder: run.folder.display().to_string(),
        seed: run.config.seed,
        finished: run.is_finished(),
        epochs_completed: result.epochs_completed,
        epochs_planned: result.epochs_planned,
        best_epoch: result.best_epoch,
        best_test_accuracy: result.best_test_accuracy,
        final_test_accuracy: result.final_test_accuracy,
        best_cifar10_1_accuracy: result.best_cifar10_1_accuracy,
        final_cifar10_1_accuracy: result.final_cifar10_1_accuracy,
        params: result.params,
        params_with_auxiliary: result.params_with_auxiliary,
        macs: result.macs,
        total_seconds: result.total_seconds,
        genotype: genotype_label(run),
        init_channels: run.model.network.init_channels,
        layers: run.model.network.layers,
        git_revision: run.manifest.as_ref().and_then(|m| m.git_revision.clone()),
        device: run.manifest.as_ref().map(|m| m.device.clone()),
        started_at: run.manifest.as_ref().map(|m| m.started_at.clone()),
    }
}

const GENOTYPE_SETTING: &str = "genotype";
const NETWORK_SETTING: &str = "network";
const TEST_SET_SETTING: &str = "test set";
const COUNTS_SETTING: &str = "parameters and multiply-adds";

/// Lists the settings that make averaging over the runs meaningless.
fn mixed_settings(runs: &[TrainingRun]) -> Vec<Difference> {
    let mut differences = Vec::new();
    let first = &runs[0];
    if runs
        .iter()
        .any(|run| run.model.genotype != first.model.genotype)
    {
        let mut values: Vec<String> = runs.iter().map(genotype_label).collect();
        // Two genotype files of one name can hold different cells.
        if values.iter().all(|value| value == &values[0]) {
            values = runs
                .iter()
                .map(|run| serde_json::to_string(&run.model.genotype).expect("genotypes serialise"))
                .collect();
        }
        differences.push(Difference {
            setting: GENOTYPE_SETTING.to_string(),
            values,
        });
    }
    if runs
        .iter()
        .any(|run| run.model.network != first.model.network)
    {
        differences.push(Difference {
            setting: NETWORK_SETTING.to_string(),
            values: runs
                .iter()
                .map(|run| describe_network(&run.model.network))
                .collect(),
        });
    }
    let test_set = |run: &TrainingRun| (run.config.dataset, run.result.test_images);
    if runs.iter().any(|run| test_set(run) != test_set(first)) {
        differences.push(Difference {
            setting: TEST_SET_SETTING.to_string(),
            values: runs
                .iter()
                .map(|run| {
                    format!(
                        "{} {} images",
                        run.result.test_images,
                        test_split_name(run.config.dataset)
                    )
                })
                .collect(),
        });
    }
    let counts = |run: &TrainingRun| {
        (
            run.result.params,
            run.result.params_with_auxiliary,
            run.result.macs,
        )
    };
    if runs.iter().any(|run| counts(run) != counts(first)) {
        differences.push(Difference {
            setting: COUNTS_SETTING.to_string(),
            values: runs
                .iter()
                .map(|run| {
                    format!(
                        "{} parameters, {} multiply-adds",
                        run.result.params, run.result.macs
                    )
                })
                .collect(),
        });
    }
    differences
}

/// Lists the other `config.json` fields whose values differ between runs.
fn other_differences(runs: &[TrainingRun]) -> Vec<Difference> {
    let keys: BTreeSet<&String> = runs
        .iter()
        .flat_map(|run| run.config_fields.keys())
        .collect();
    let mut differences = Vec::new();
    for key in keys {
        if SETTINGS_NOT_COMPARED.contains(&key.as_str()) {
            continue;
        }
        let values: Vec<Option<&Value>> =
            runs.iter().map(|run| run.config_fields.get(key)).collect();
        if values.iter().all(|value| value == &values[0]) {
            continue;
        }
        differences.push(Difference {
            setting: key.clone(),
            values: values
                .iter()
                .map(|value| value.map_or_else(|| "absent".to_string(), Value::to_string))
                .collect(),
        });
    }
    differences
}

fn warn_about(runs: &[TrainingRun], other_differences: &[Difference]) {
    for run in runs.iter().filter(|run| !run.is_finished()) {
        tracing::warn!(
            folder = %run.folder.display(),
            "unfinished run: {} of {} epochs completed, included and marked unfinished",
            run.result.epochs_completed,
            run.result.epochs_planned
        );
    }
    for run in runs.iter().filter(|run| run.result.best_epoch == 0) {
        tracing::warn!(
            folder = %run.folder.display(),
            "no epoch of this run finished with a finite test loss, \
             so its best test accuracy is 0"
        );
    }
    let mut seeds = BTreeSet::new();
    for run in runs {
        if !seeds.insert(run.config.seed) {
            tracing::warn!(
                folder = %run.folder.display(),
                seed = run.config.seed,
                "another run has the same seed, so the spread understates seed-to-seed variation"
            );
        }
    }
    let with_cifar10_1 = runs
        .iter()
        .filter(|run| run.result.best_cifar10_1_accuracy.is_some())
        .count();
    if with_cifar10_1 > 0 && with_cifar10_1 < runs.len() {
        tracing::warn!(
            "only {with_cifar10_1} of {} runs have CIFAR-10.1 accuracies, \
             so the CIFAR-10.1 statistics cover those runs only",
            runs.len()
        );
    }
    for difference in other_differences {
        tracing::warn!(
            setting = %difference.setting,
            values = %difference.values.join(", "),
            "the runs differ in a training setting"
        );
    }
}

/// Writes each difference as `setting (folder: value, ...)`.
fn describe_differences(differences: &[Difference], runs: &[TrainingRun]) -> String {
    let parts: Vec<String> = differences
        .iter()
        .map(|difference| {
            let values: Vec<String> = runs
                .iter()
                .zip(&difference.values)
                .map(|(run, value)| format!("{}: {value}", run.folder.display()))
                .collect();
            format!("{} ({})", difference.setting, values.join("; "))
        })
        .collect();
    parts.join(", and ")
}

/// Returns the genotype as given to `train final`, followed by the built-in
/// name in `model.json` when that differs (an alias was given).
pub(crate) fn genotype_label(run: &TrainingRun) -> String {
    label_with_name(&run.config.genotype, run.model.genotype_name.as_deref())
}

pub(crate) fn label_with_name(argument: &str, name: Option<&str>) -> String {
    match name {
        Some(name) if name != argument => format!("{argument} ({name})"),
        _ => argument.to_string(),
    }
}

/// Describes the network type and size, e.g. `cifar10 network, sharp
/// operations, 16 channels x 8 cells, auxiliary head, choke width 32`.
pub(crate) fn describe_network(network: &NetworkConfig) -> String {
    let auxiliary = if network.auxiliary {
        "auxiliary head"
    } else {
        "no auxiliary head"
    };
    format!(
        "{} network, {} operations, {} channels x {} cells, {auxiliary}, \
         choke width {}, {} classes, {}x{} input",
        network.dataset,
        network.ops,
        network.init_channels,
        network.layers,
        network.mid_channels,
        network.num_classes,
        network.image_size,
        network.image_size
    )
}

/// Name of the split that `train final` tests on.
pub(crate) fn test_split_name(dataset: DatasetKind) -> &'static str {
    match dataset {
        DatasetKind::Cifar10 => "CIFAR-10 test",
        DatasetKind::ImageNet => "ImageNet validation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_three_values() {
        let summary = Summary::of(&[90.0, 92.0, 94.0]).unwrap();
        assert_eq!(summary.runs, 3);
        assert_eq!(summary.mean, 92.0);
        assert_eq!(summary.std, Some(2.0));
        assert_eq!(summary.min, 90.0);
        assert_eq!(summary.max, 94.0);
    }

    #[test]
    fn summary_of_one_value_has_no_std() {
        let summary = Summary::of(&[71.5]).unwrap();
        assert_eq!(summary.mean, 71.5);
        assert_eq!(summary.std, None);
        assert_eq!(summary.min, 71.5);
        assert_eq!(summary.max, 71.5);
    }

    #[test]
    fn summary_of_nothing_is_none() {
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn summary_std_uses_sample_divisor() {
        // Deviations -3, -1, 1, 3: squares sum to 20, divided by n - 1 = 3.
        let summary = Summary::of(&[1.0, 3.0, 5.0, 7.0]).unwrap();
        let expected = (20.0_f64 / 3.0).sqrt();
        assert!((summary.std.unwrap() - expected).abs() < 1e-12);
    }

    #[test]
    fn label_adds_differing_name() {
        assert_eq!(
            label_with_name(
                "SHARPSEPCONV_DARTS",
                Some("DARTS_PRIMITIVES_DIL_IS_SEPCONV")
            ),
            "SHARPSEPCONV_DARTS (DARTS_PRIMITIVES_DIL_IS_SEPCONV)"
        );
        assert_eq!(label_with_name("DARTS", Some("DARTS")), "DARTS");
        assert_eq!(label_with_name("cells.json", None), "cells.json");
    }
}

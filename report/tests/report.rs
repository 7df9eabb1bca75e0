//! Reports over hand-written run folders with known numbers: statistics,
//! Markdown, JSON, SVG plots and the rejection of bad input.

mod support;

use std::path::{Path, PathBuf};

use clap::Parser;
use report::{
    build_report, load_runs, render_markdown, series_color_hex, write_report, Report, ReportArgs,
    ReportError, LEARNING_CURVES_FILE, LR_SCHEDULE_FILE, REPORT_JSON_FILE, REPORT_MARKDOWN_FILE,
};
use serde_json::json;
use support::{polylines_in_color, read_json, set_json_field, write_manifest, write_run, RunSpec};

/// Three finished runs: best accuracies 90, 92, 94 at epoch 2, final
/// accuracies 88, 91, 93, and 100, 110, 120 seconds.
fn three_specs() -> Vec<RunSpec> {
    vec![
        RunSpec::new(0, &[50.0, 90.0, 88.0], 100.0),
        RunSpec::new(1, &[60.0, 92.0, 91.0], 110.0),
        RunSpec::new(2, &[70.0, 94.0, 93.0], 120.0),
    ]
}

fn write_runs(root: &Path, specs: &[RunSpec]) -> Vec<PathBuf> {
    specs
        .iter()
        .map(|spec| write_run(&root.join(format!("seed{}", spec.seed)), spec))
        .collect()
}

fn report_of(folders: &[PathBuf]) -> Result<Report, ReportError> {
    let runs = load_runs(folders)?;
    build_report(&runs, false)
}

fn assert_close(actual: f64, expected: f64, quantity: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{quantity}: {actual} != {expected}"
    );
}

#[test]
fn statistics_match_hand_computed_values() {
    let dir = tempfile::tempdir().unwrap();
    let report = report_of(&write_runs(dir.path(), &three_specs())).unwrap();

    assert_eq!(report.runs, 3);
    assert_eq!(report.unfinished_runs, 0);
    let best = &report.best_test_accuracy;
    assert_eq!(best.runs, 3);
    assert_close(best.mean, 92.0, "best mean");
    assert_close(best.std.unwrap(), 2.0, "best std");
    assert_eq!(best.min, 90.0);
    assert_eq!(best.max, 94.0);

    // 88, 91, 93: mean 272 / 3, squared deviations (64 + 1 + 49) / 9, over n - 1 = 2.
    let last = &report.final_test_accuracy;
    assert_close(last.mean, 272.0 / 3.0, "final mean");
    assert_close(last.std.unwrap(), (19.0_f64 / 3.0).sqrt(), "final std");
    assert_eq!(last.min, 88.0);
    assert_eq!(last.max, 93.0);

    let time = &report.total_seconds;
    assert_close(time.mean, 110.0, "time mean");
    assert_eq!(time.min, 100.0);
    assert_eq!(time.max, 120.0);

    assert!(report.best_cifar10_1_accuracy.is_none());
    assert!(report.final_cifar10_1_accuracy.is_none());
    assert!(report.mixed.is_empty());
    assert!(report.other_differences.is_empty());
}

#[test]
fn counts_and_rows_come_from_runs() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs());
    let report = report_of(&folders).unwrap();
    let result = read_json(&folders[0].join("result.json"));

    assert_eq!(
        report.params,
        Some(result["params"].as_u64().unwrap() as usize)
    );
    assert_eq!(
        report.params_with_auxiliary,
        Some(result["params_with_auxiliary"].as_u64().unwrap() as usize)
    );
    assert_eq!(report.macs, result["macs"].as_u64());
    assert!(report.params.unwrap() > 100_000, "a real 16 x 8 network");

    let seeds: Vec<u64> = report.per_run.iter().map(|row| row.seed).collect();
    assert_eq!(seeds, [0, 1, 2]);
    let folders_in_rows: Vec<&str> = report
        .per_run
        .iter()
        .map(|row| row.folder.as_str())
        .collect();
    let expected: Vec<String> = folders.iter().map(|f| f.display().to_string()).collect();
    assert_eq!(folders_in_rows, expected);
    for row in &report.per_run {
        assert_eq!(row.best_epoch, 2, "seed {}", row.seed);
        assert!(row.finished, "seed {}", row.seed);
        assert_eq!(row.epochs_completed, 3);
    }
    assert_eq!(report.per_run[1].best_test_accuracy, 92.0);
    assert_eq!(report.per_run[1].final_test_accuracy, 91.0);
    assert_eq!(report.per_run[2].total_seconds, 120.0);

    assert_eq!(report.setting.genotype, "SHARPSEPCONV_DARTS");
    assert_eq!(report.setting.network.init_channels, 16);
    assert_eq!(report.setting.network.layers, 8);
    assert_eq!(report.setting.test_images, 1000);
    assert_eq!(report.setting.train_images, 5000);
}

#[test]
fn markdown_shows_numbers_and_setting() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs());
    let markdown = render_markdown(&report_of(&folders).unwrap());

    let statistics_row = markdown
        .lines()
        .find(|line| line.starts_with("| best CIFAR-10 test accuracy (%)"))
        .unwrap_or_else(|| panic!("no best accuracy row in\n{markdown}"));
    assert_eq!(
        statistics_row,
        "| best CIFAR-10 test accuracy (%) | 3 | 92.00 | 2.00 | 90.00 | 94.00 |"
    );
    let final_row = markdown
        .lines()
        .find(|line| line.starts_with("| final CIFAR-10 test accuracy (%)"))
        .unwrap();
    assert_eq!(
        final_row,
        "| final CIFAR-10 test accuracy (%) | 3 | 90.67 | 2.52 | 88.00 | 93.00 |"
    );
    assert!(
        markdown.contains("| training time (s) | 3 | 110.0 |"),
        "{markdown}"
    );
    assert!(markdown.contains("SHARPSEPCONV_DARTS"), "{markdown}");
    assert!(markdown.contains("16 channels x 8 cells"), "{markdown}");
    assert!(
        markdown.contains("CIFAR-10 in `data/cifar10`"),
        "{markdown}"
    );
    assert!(markdown.contains("1,000 test images"), "{markdown}");
    for folder in &folders {
        let row_start = format!("| `{}` |", folder.display());
        assert!(
            markdown.contains(&row_start),
            "no row for {row_start}\n{markdown}"
        );
    }
    let seed1_row = markdown
        .lines()
        .find(|line| line.contains("seed1`"))
        .unwrap();
    assert!(
        seed1_row.contains("| 1 | 3 | 2 | 92.00 | 91.00 | 110.0 |"),
        "{seed1_row}"
    );
    assert!(!markdown.contains("CIFAR-10.1"), "{markdown}");
    assert!(!markdown.contains("unfinished"), "{markdown}");
}

#[test]
fn files_are_written_and_parse() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs());
    let runs = load_runs(&folders).unwrap();
    let report = build_report(&runs, false).unwrap();
    let out = dir.path().join("report/nested");
    let written = write_report(&report, &runs, &out).unwrap();

    let names: Vec<String> = written
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            REPORT_MARKDOWN_FILE,
            REPORT_JSON_FILE,
            LEARNING_CURVES_FILE,
            LR_SCHEDULE_FILE
        ]
    );
    let markdown = std::fs::read_to_string(out.join(REPORT_MARKDOWN_FILE)).unwrap();
    assert_eq!(markdown, render_markdown(&report));

    let json = read_json(&out.join(REPORT_JSON_FILE));
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["runs"], 3);
    assert_eq!(json["best_test_accuracy"]["mean"], 92.0);
    assert_eq!(json["best_test_accuracy"]["std"], 2.0);
    assert_eq!(json["best_test_accuracy"]["min"], 90.0);
    assert_eq!(json["best_test_accuracy"]["max"], 94.0);
    assert_eq!(json["best_cifar10_1_accuracy"], serde_json::Value::Null);
    assert_eq!(json["per_run"].as_array().unwrap().len(), 3);
    assert_eq!(json["per_run"][2]["seed"], 2);
    let parsed: Report = serde_json::from_value(json).unwrap();
    assert_eq!(parsed, report);

    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn svgs_have_one_line_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs());
    let runs = load_runs(&folders).unwrap();
    let report = build_report(&runs, false).unwrap();
    let out = dir.path().join("out");
    write_report(&report, &runs, &out).unwrap();

    let curves = std::fs::read_to_string(out.join(LEARNING_CURVES_FILE)).unwrap();
    let schedule = std::fs::read_to_string(out.join(LR_SCHEDULE_FILE)).unwrap();
    for index in 0..3 {
        let color = series_color_hex(index);
        // Test accuracy and train loss: one 3-point line each.
        assert_eq!(
            polylines_in_color(&curves, &color),
            [3, 3],
            "run {index} in {LEARNING_CURVES_FILE}"
        );
        assert_eq!(
            polylines_in_color(&schedule, &color),
            [3],
            "run {index} in {LR_SCHEDULE_FILE}"
        );
    }
    assert!(polylines_in_color(&curves, &series_color_hex(3)).is_empty());
    assert!(curves.contains("seed 1: "), "legend names the runs");
    assert!(curves.contains("CIFAR-10 test"));
    assert!(!curves.contains("CIFAR-10.1"));
    assert!(schedule.contains("learning rate"));
}

fn with_cifar10_1(mut spec: RunSpec, accuracies: &[f64]) -> RunSpec {
    spec.cifar10_1_accuracy = Some(accuracies.to_vec());
    spec
}

#[test]
fn cifar10_1_accuracies_are_aggregated() {
    let dir = tempfile::tempdir().unwrap();
    let specs = three_specs();
    let specs = vec![
        with_cifar10_1(specs[0].clone(), &[40.0, 80.0, 79.0]),
        with_cifar10_1(specs[1].clone(), &[45.0, 82.0, 83.0]),
        with_cifar10_1(specs[2].clone(), &[50.0, 84.0, 81.0]),
    ];
    let folders = write_runs(dir.path(), &specs);
    let runs = load_runs(&folders).unwrap();
    let report = build_report(&runs, false).unwrap();

    // Taken at epoch 2, the best CIFAR-10 test epoch of every run.
    let best = report.best_cifar10_1_accuracy.as_ref().unwrap();
    assert_eq!(best.runs, 3);
    assert_close(best.mean, 82.0, "best CIFAR-10.1 mean");
    assert_close(best.std.unwrap(), 2.0, "best CIFAR-10.1 std");
    assert_eq!(best.min, 80.0);
    assert_eq!(best.max, 84.0);
    let last = report.final_cifar10_1_accuracy.as_ref().unwrap();
    assert_close(last.mean, 81.0, "final CIFAR-10.1 mean");
    assert_close(last.std.unwrap(), 2.0, "final CIFAR-10.1 std");

    let markdown = render_markdown(&report);
    assert!(
        markdown.contains("| best CIFAR-10.1 accuracy (%) | 3 | 82.00 | 2.00 | 80.00 | 84.00 |"),
        "{markdown}"
    );
    assert!(markdown.contains("| final CIFAR-10.1 accuracy (%) | 3 | 81.00 | 2.00 |"));
    assert!(markdown.contains("best CIFAR-10.1 (%)"), "per-run column");

    let out = dir.path().join("out");
    write_report(&report, &runs, &out).unwrap();
    let curves = std::fs::read_to_string(out.join(LEARNING_CURVES_FILE)).unwrap();
    for index in 0..3 {
        // Test accuracy, CIFAR-10.1 accuracy and train loss.
        assert_eq!(
            polylines_in_color(&curves, &series_color_hex(index)),
            [3, 3, 3],
            "run {index}"
        );
    }
    assert!(curves.contains("CIFAR-10.1"));
}

#[test]
fn cifar10_1_in_some_runs_covers_those() {
    let dir = tempfile::tempdir().unwrap();
    let specs = three_specs();
    let specs = vec![
        with_cifar10_1(specs[0].clone(), &[40.0, 80.0, 79.0]),
        specs[1].clone(),
    ];
    let report = report_of(&write_runs(dir.path(), &specs)).unwrap();
    let best = report.best_cifar10_1_accuracy.unwrap();
    assert_eq!(best.runs, 1);
    assert_eq!(best.mean, 80.0);
    assert_eq!(best.std, None);
    assert_eq!(report.per_run[1].best_cifar10_1_accuracy, None);
    assert_eq!(report.best_test_accuracy.runs, 2);
}

#[test]
fn unfinished_run_is_included_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = three_specs();
    specs[1].epochs_planned = 5;
    let folders = write_runs(dir.path(), &specs);
    let report = report_of(&folders).unwrap();

    assert_eq!(report.runs, 3);
    assert_eq!(report.unfinished_runs, 1);
    assert!(!report.per_run[1].finished);
    assert!(report.per_run[0].finished);
    assert_close(report.best_test_accuracy.mean, 92.0, "best mean");
    // epochs differs between the runs' config.json files.
    let epochs = report
        .other_differences
        .iter()
        .find(|d| d.setting == "epochs")
        .expect("epochs listed as a difference");
    assert_eq!(epochs.values, ["3", "5", "3"]);

    let markdown = render_markdown(&report);
    assert!(markdown.contains("| 3 of 5 (unfinished) |"), "{markdown}");
    assert!(
        markdown.contains("1 of 3 runs stopped before the last planned epoch"),
        "{markdown}"
    );
}

#[test]
fn single_run_has_no_std() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    let report = report_of(&folders).unwrap();
    assert_eq!(report.best_test_accuracy.std, None);
    let markdown = render_markdown(&report);
    assert!(
        markdown.contains("| best CIFAR-10 test accuracy (%) | 1 | 90.00 |  | 90.00 | 90.00 |"),
        "{markdown}"
    );
    assert!(markdown.contains("# Training report: SHARPSEPCONV_DARTS"));
    assert!(markdown.contains(", 1 run\n"), "{markdown}");
}

#[test]
fn single_epoch_run_is_plotted() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &[RunSpec::new(4, &[31.5], 40.0)]);
    let runs = load_runs(&folders).unwrap();
    let report = build_report(&runs, false).unwrap();
    let out = dir.path().join("out");
    write_report(&report, &runs, &out).unwrap();
    let curves = std::fs::read_to_string(out.join(LEARNING_CURVES_FILE)).unwrap();
    assert_eq!(polylines_in_color(&curves, &series_color_hex(0)), [1, 1]);
}

#[test]
fn non_finite_train_loss_is_skipped_in_plot() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    let metrics_path = folders[0].join("metrics.jsonl");
    let text = std::fs::read_to_string(&metrics_path).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    lines[2]["train_loss"] = serde_json::Value::Null;
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&metrics_path, text).unwrap();

    let runs = load_runs(&folders).unwrap();
    assert!(runs[0].metrics[2].train_loss.is_nan());
    let report = build_report(&runs, false).unwrap();
    let out = dir.path().join("out");
    write_report(&report, &runs, &out).unwrap();
    let curves = std::fs::read_to_string(out.join(LEARNING_CURVES_FILE)).unwrap();
    // Test accuracy keeps 3 points, the train loss line 2.
    assert_eq!(polylines_in_color(&curves, &series_color_hex(0)), [3, 2]);
}

#[test]
fn manifest_fields_reach_rows() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..2]);
    write_manifest(
        &folders[0],
        0,
        Some("53bd835cc34c6a8a4fe1dec074030a51fe59fa6c"),
    );
    write_manifest(&folders[1], 1, None);
    let runs = load_runs(&folders).unwrap();
    let manifest = runs[0].manifest.as_ref().unwrap();
    assert_eq!(manifest.libtorch_version, "2.11.0");
    assert!(manifest.deterministic);
    let report = build_report(&runs, false).unwrap();
    assert_eq!(
        report.per_run[0].git_revision.as_deref(),
        Some("53bd835cc34c6a8a4fe1dec074030a51fe59fa6c")
    );
    assert_eq!(report.per_run[1].git_revision, None);
    assert_eq!(report.per_run[1].device.as_deref(), Some("cpu"));
    assert_eq!(
        report.per_run[0].started_at.as_deref(),
        Some("2026-12-04T21:00:00Z")
    );
    let markdown = render_markdown(&report);
    assert!(
        markdown.contains("| 2026-12-04T21:00:00Z | 53bd835cc34c |"),
        "{markdown}"
    );
}

#[test]
fn run_without_manifest_has_no_manifest_columns() {
    let dir = tempfile::tempdir().unwrap();
    let report = report_of(&write_runs(dir.path(), &three_specs())).unwrap();
    assert!(report.per_run.iter().all(|row| row.started_at.is_none()));
    assert!(!render_markdown(&report).contains("revision"));
}

// Bad input.

fn error_message(result: Result<impl std::fmt::Debug, ReportError>) -> (ReportError, String) {
    let error = result.expect_err("expected an error");
    let message = error.to_string();
    (error, message)
}

#[test]
fn missing_folder_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-run");
    let (error, message) = error_message(load_runs(std::slice::from_ref(&missing)));
    assert!(
        matches!(error, ReportError::FolderNotFound { .. }),
        "{message}"
    );
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("train final"), "{message}");
}

#[test]
fn file_instead_of_folder_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("result.json");
    std::fs::write(&file, "{}").unwrap();
    let (error, message) = error_message(load_runs(std::slice::from_ref(&file)));
    assert!(matches!(error, ReportError::NotAFolder { .. }), "{message}");
    assert!(message.contains(&file.display().to_string()), "{message}");
}

#[test]
fn missing_file_is_named() {
    for name in ["config.json", "model.json", "metrics.jsonl", "result.json"] {
        let dir = tempfile::tempdir().unwrap();
        let folders = write_runs(dir.path(), &three_specs()[..1]);
        std::fs::remove_file(folders[0].join(name)).unwrap();
        let (error, message) = error_message(load_runs(&folders));
        assert!(
            matches!(error, ReportError::NotATrainingRun { .. }),
            "without {name}: {message}"
        );
        assert!(message.contains(&format!("{name} is missing")), "{message}");
        assert!(
            message.contains(&folders[0].display().to_string()),
            "{message}"
        );
    }
}

#[test]
fn folder_of_other_files_is_not_a_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a run").unwrap();
    let (error, message) = error_message(load_runs(&[dir.path().to_path_buf()]));
    assert!(
        matches!(error, ReportError::NotATrainingRun { .. }),
        "{message}"
    );
    assert!(
        message.contains("config.json, model.json, metrics.jsonl, result.json are missing"),
        "{message}"
    );
}

#[test]
fn run_before_first_epoch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    std::fs::remove_file(folders[0].join("metrics.jsonl")).unwrap();
    std::fs::remove_file(folders[0].join("result.json")).unwrap();
    let (error, message) = error_message(load_runs(&folders));
    assert!(
        matches!(error, ReportError::NoFinishedEpoch { .. }),
        "{message}"
    );
    assert!(message.contains("no finished epoch"), "{message}");
    assert!(
        message.contains(&folders[0].display().to_string()),
        "{message}"
    );
}

#[test]
fn run_with_zero_epochs_completed_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    set_json_field(
        &folders[0].join("result.json"),
        "epochs_completed",
        json!(0),
    );
    set_json_field(&folders[0].join("result.json"), "best_epoch", json!(0));
    std::fs::write(folders[0].join("metrics.jsonl"), "").unwrap();
    let (error, message) = error_message(load_runs(&folders));
    assert!(
        matches!(error, ReportError::NoFinishedEpoch { .. }),
        "{message}"
    );
    assert!(message.contains("epochs_completed 0"), "{message}");
}

#[test]
fn invalid_json_names_file() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    let path = folders[0].join("result.json");
    std::fs::write(&path, "{\"best_epoch\": 2,").unwrap();
    let (error, message) = error_message(load_runs(&folders));
    assert!(
        matches!(error, ReportError::InvalidFile { .. }),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn missing_result_field_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    let path = folders[0].join("result.json");
    let mut result = read_json(&path);
    result.as_object_mut().unwrap().remove("macs");
    support::write_json(&path, &result);
    let (_, message) = error_message(load_runs(&folders));
    assert!(message.contains("macs"), "{message}");
}

#[test]
fn accuracy_outside_percent_range_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    set_json_field(
        &folders[0].join("result.json"),
        "best_test_accuracy",
        json!(920.0),
    );
    let (error, message) = error_message(load_runs(&folders));
    assert!(
        matches!(error, ReportError::InvalidFile { .. }),
        "{message}"
    );
    assert!(message.contains("best_test_accuracy 920"), "{message}");
}

#[test]
fn metrics_epoch_gap_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    let path = folders[0].join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let without_epoch_2: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&path, without_epoch_2.join("\n")).unwrap();
    let (error, message) = error_message(load_runs(&folders));
    assert!(
        matches!(error, ReportError::InvalidFile { .. }),
        "{message}"
    );
    assert!(
        message.contains("line 2 has epoch 3, expected epoch 2"),
        "{message}"
    );
    assert!(message.contains("metrics.jsonl"), "{message}");
}

#[test]
fn invalid_metrics_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    let path = folders[0].join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"epoch\": 4, \"lr\": \n");
    std::fs::write(&path, text).unwrap();
    let (_, message) = error_message(load_runs(&folders));
    assert!(message.contains("metrics.jsonl: line 4"), "{message}");
}

#[test]
fn invalid_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    write_manifest(&folders[0], 0, Some("abc"));
    let path = folders[0].join("manifest.json");
    let mut manifest = read_json(&path);
    manifest.as_object_mut().unwrap().remove("started_at");
    support::write_json(&path, &manifest);
    let (error, message) = error_message(load_runs(&folders));
    assert!(
        matches!(error, ReportError::InvalidFile { .. }),
        "{message}"
    );
    assert!(message.contains("manifest.json"), "{message}");
    assert!(message.contains("started_at"), "{message}");
}

#[test]
fn folder_given_twice_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..2]);
    let same = folders[0].join(".");
    let (error, message) =
        error_message(load_runs(&[folders[0].clone(), folders[1].clone(), same]));
    assert!(
        matches!(error, ReportError::DuplicateRun { .. }),
        "{message}"
    );
    assert!(message.contains("more than once"), "{message}");
}

#[test]
fn different_genotypes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = three_specs();
    specs[2].genotype = "DARTS";
    let folders = write_runs(dir.path(), &specs);
    let (error, message) = error_message(report_of(&folders));
    assert!(matches!(error, ReportError::MixedRuns { .. }), "{message}");
    assert!(message.contains("genotype ("), "{message}");
    assert!(message.contains("SHARPSEPCONV_DARTS"), "{message}");
    assert!(
        message.contains(&format!("{}: DARTS", folders[2].display())),
        "{message}"
    );
    assert!(message.contains("--allow-mixed"), "{message}");
}

#[test]
fn different_sizes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = three_specs();
    specs[1].init_channels = 8;
    specs[1].layers = 5;
    let folders = write_runs(dir.path(), &specs);
    let (_, message) = error_message(report_of(&folders));
    assert!(message.contains("network ("), "{message}");
    assert!(message.contains("16 channels x 8 cells"), "{message}");
    assert!(message.contains("8 channels x 5 cells"), "{message}");
    // The counts differ too, and are named as well.
    assert!(
        message.contains("parameters and multiply-adds"),
        "{message}"
    );
}

#[test]
fn different_test_sets_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = three_specs();
    specs[0].limit_test = 500;
    let folders = write_runs(dir.path(), &specs);
    let (_, message) = error_message(report_of(&folders));
    assert!(message.contains("test set ("), "{message}");
    assert!(message.contains("500 CIFAR-10 test images"), "{message}");
    assert!(message.contains("1000 CIFAR-10 test images"), "{message}");
}

#[test]
fn allow_mixed_reports_differences() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = three_specs();
    specs[1].init_channels = 8;
    specs[1].layers = 5;
    let folders = write_runs(dir.path(), &specs);
    let runs = load_runs(&folders).unwrap();
    let report = build_report(&runs, true).unwrap();

    let settings: Vec<&str> = report.mixed.iter().map(|d| d.setting.as_str()).collect();
    assert_eq!(settings, ["network", "parameters and multiply-adds"]);
    assert_eq!(report.params, None);
    assert_eq!(report.macs, None);
    assert_close(report.best_test_accuracy.mean, 92.0, "best mean");

    let markdown = render_markdown(&report);
    assert!(markdown.contains("## Mixed runs"), "{markdown}");
    assert!(
        markdown.contains("| parameters | differ between runs"),
        "{markdown}"
    );
    assert!(markdown.contains("| 8 x 5 |"), "{markdown}");
    assert!(markdown.contains("| 16 x 8 |"), "{markdown}");
}

#[test]
fn other_setting_differences_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = three_specs();
    specs[2].lr = 0.05;
    let report = report_of(&write_runs(dir.path(), &specs)).unwrap();
    let settings: Vec<&str> = report
        .other_differences
        .iter()
        .map(|d| d.setting.as_str())
        .collect();
    assert_eq!(settings, ["lr"]);
    assert_eq!(
        report.other_differences[0].values,
        ["0.025", "0.025", "0.05"]
    );
    let markdown = render_markdown(&report);
    assert!(
        markdown.contains("## Other settings that differ"),
        "{markdown}"
    );
}

#[test]
fn no_runs_is_rejected() {
    let (error, _) = error_message(build_report(&[], false));
    assert!(matches!(error, ReportError::NoRuns));
}

#[test]
fn out_path_that_is_a_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs()[..1]);
    let runs = load_runs(&folders).unwrap();
    let report = build_report(&runs, false).unwrap();
    let file = dir.path().join("taken");
    std::fs::write(&file, "keep").unwrap();
    let (error, message) = error_message(write_report(&report, &runs, &file));
    assert!(
        matches!(error, ReportError::OutNotFolder { .. }),
        "{message}"
    );
    assert!(message.contains("--out"), "{message}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
}

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    args: ReportArgs,
}

#[test]
fn arguments_parse() {
    let cli =
        TestCli::try_parse_from(["report", "a", "b", "--out", "o", "--json", "--allow-mixed"])
            .unwrap();
    assert_eq!(cli.args.run_dirs, [PathBuf::from("a"), PathBuf::from("b")]);
    assert_eq!(cli.args.out, Some(PathBuf::from("o")));
    assert!(cli.args.json);
    assert!(cli.args.allow_mixed);

    let error = TestCli::try_parse_from(["report"])
        .err()
        .expect("RUN_DIR is required");
    assert!(error.to_string().contains("RUN_DIR"), "{error}");
}

#[test]
fn run_writes_files_into_out() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs());
    let out = dir.path().join("out");
    let args = ReportArgs {
        run_dirs: folders,
        out: Some(out.clone()),
        json: true,
        allow_mixed: false,
    };
    report::run(&args).unwrap();
    for name in [
        REPORT_MARKDOWN_FILE,
        REPORT_JSON_FILE,
        LEARNING_CURVES_FILE,
        LR_SCHEDULE_FILE,
    ] {
        assert!(out.join(name).is_file(), "{name} written");
    }
}

#[test]
fn run_without_out_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_runs(dir.path(), &three_specs());
    let before = list_tree(dir.path());
    let args = ReportArgs {
        run_dirs: folders,
        out: None,
        json: false,
        allow_mixed: false,
    };
    report::run(&args).unwrap();
    assert_eq!(list_tree(dir.path()), before);
}

fn list_tree(root: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    paths
}

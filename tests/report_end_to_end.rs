//! `train report` through the binary on two tiny real `train final` runs on
//! CIFAR-10 images (seeds 0 and 1): the statistics against the runs'
//! result.json files, the four output files, and the rejection of bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sharpdarts::{assert_clean_failure, binary, describe, read_json, run, run_ok, shared_data};

const EPOCHS: usize = 2;

fn train_tiny(data: &Path, run_dir: &Path, seed: u64) {
    let epochs = EPOCHS.to_string();
    let seed = seed.to_string();
    run_ok(
        Command::new(binary("train")).args([
            "final",
            "--genotype",
            "SHARPSEPCONV_DARTS",
            "--data",
            data.to_str().unwrap(),
            "--out",
            run_dir.to_str().unwrap(),
            "--init-channels",
            "8",
            "--layers",
            "5",
            "--epochs",
            &epochs,
            "--warmup-epochs",
            "0",
            "--batch-size",
            "32",
            "--limit-train",
            "256",
            "--limit-test",
            "100",
            "--seed",
            &seed,
            "--threads",
            "1",
        ]),
        "train final",
    );
}

fn train_report(args: &[&Path], extra: &[&str]) -> std::process::Output {
    let mut command = Command::new(binary("train"));
    command.arg("report").args(args).args(extra);
    run(&mut command)
}

/// Copies the JSON files of a run folder, which `train report` reads.
fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".json") || name.ends_with(".jsonl") {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value = read_json(path);
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// Returns the point counts of the polylines drawn in `color`.
fn polylines_in_color(svg: &str, color: &str) -> Vec<usize> {
    let document = roxmltree::Document::parse(svg).expect("the SVG parses as XML");
    document
        .descendants()
        .filter(|node| node.has_tag_name("polyline") && node.attribute("stroke") == Some(color))
        .map(|node| {
            node.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
        })
        .collect()
}

fn list_files(root: &Path) -> Vec<PathBuf> {
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

#[test]
fn report_over_two_real_runs() {
    let data = shared_data().join("cifar10");
    let work = tempfile::tempdir().unwrap();
    let runs: Vec<PathBuf> = (0..2)
        .map(|seed| work.path().join(format!("seed{seed}")))
        .collect();
    for (seed, run_dir) in runs.iter().enumerate() {
        train_tiny(&data, run_dir, seed as u64);
    }
    let results: Vec<Value> = runs
        .iter()
        .map(|dir| read_json(&dir.join("result.json")))
        .collect();
    let best: Vec<f64> = results
        .iter()
        .map(|r| r["best_test_accuracy"].as_f64().unwrap())
        .collect();
    let last: Vec<f64> = results
        .iter()
        .map(|r| r["final_test_accuracy"].as_f64().unwrap())
        .collect();
    let run_paths: Vec<&Path> = runs.iter().map(PathBuf::as_path).collect();

    // Without --out: Markdown on standard output and no file written.
    let before = list_files(work.path());
    let markdown = String::from_utf8(run_ok(
        Command::new(binary("train")).arg("report").args(&run_paths),
        "train report",
    ))
    .unwrap();
    assert_eq!(
        list_files(work.path()),
        before,
        "train report without --out wrote files"
    );
    assert!(
        markdown.starts_with("# Training report: SHARPSEPCONV_DARTS"),
        "{markdown}"
    );
    let best_mean = (best[0] + best[1]) / 2.0;
    assert!(markdown.contains(&format!("{best_mean:.2}")), "{markdown}");
    assert!(markdown.contains("8 channels x 5 cells"), "{markdown}");

    // With --out and --json: report.json on standard output and four files.
    let out = work.path().join("report");
    let output = train_report(&run_paths, &["--out", out.to_str().unwrap(), "--json"]);
    assert!(
        output.status.success(),
        "train report --out --json failed\n{}",
        describe(&output)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    let report = read_json(&out.join("report.json"));
    assert_eq!(printed, report, "stdout and report.json differ");

    assert_eq!(report["runs"], 2);
    assert_eq!(report["unfinished_runs"], 0);
    let seeds: Vec<u64> = report["per_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [0, 1]);
    let summary = &report["best_test_accuracy"];
    assert_eq!(summary["runs"], 2);
    assert!(
        (summary["mean"].as_f64().unwrap() - best_mean).abs() < 1e-9,
        "{summary}"
    );
    let spread = (best[0] - best[1]).abs() / 2f64.sqrt();
    assert!(
        (summary["std"].as_f64().unwrap() - spread).abs() < 1e-9,
        "{summary}"
    );
    assert_eq!(summary["min"].as_f64().unwrap(), best[0].min(best[1]));
    assert_eq!(summary["max"].as_f64().unwrap(), best[0].max(best[1]));
    let final_mean = report["final_test_accuracy"]["mean"].as_f64().unwrap();
    assert!((final_mean - (last[0] + last[1]) / 2.0).abs() < 1e-9);
    assert_eq!(report["params"], results[0]["params"]);
    assert_eq!(report["macs"], results[0]["macs"]);
    assert_eq!(report["setting"]["test_images"], 100);
    assert_eq!(report["setting"]["network"]["init_channels"], 8);

    let markdown_file = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(
        markdown_file, markdown,
        "report.md equals the printed Markdown"
    );

    let metrics_have_cifar10_1 = std::fs::read_to_string(runs[0].join("metrics.jsonl"))
        .unwrap()
        .contains("cifar10_1_accuracy");
    let panels = if metrics_have_cifar10_1 { 3 } else { 2 };
    let curves = std::fs::read_to_string(out.join("learning_curves.svg")).unwrap();
    let schedule = std::fs::read_to_string(out.join("lr_schedule.svg")).unwrap();
    for index in 0..2 {
        let color = report::series_color_hex(index);
        assert_eq!(
            polylines_in_color(&curves, &color),
            vec![EPOCHS; panels],
            "run {index} in learning_curves.svg"
        );
        assert_eq!(
            polylines_in_color(&schedule, &color),
            [EPOCHS],
            "run {index} in lr_schedule.svg"
        );
    }

    // A folder that is not there.
    let missing = work.path().join("no-such-run");
    let output = train_report(&[&runs[0], &missing], &[]);
    assert_clean_failure(&output, &["not found", missing.to_str().unwrap()]);

    // A run folder of a run that finished no epoch.
    let empty_run = work.path().join("no-epoch");
    std::fs::create_dir(&empty_run).unwrap();
    for name in ["config.json", "model.json"] {
        std::fs::copy(runs[0].join(name), empty_run.join(name)).unwrap();
    }
    let output = train_report(&[&runs[0], &empty_run], &[]);
    assert_clean_failure(&output, &["no finished epoch", empty_run.to_str().unwrap()]);

    // A folder without result.json.
    let no_result = work.path().join("no-result");
    copy_run(&runs[0], &no_result);
    std::fs::remove_file(no_result.join("result.json")).unwrap();
    let output = train_report(&[&runs[0], &no_result], &[]);
    assert_clean_failure(
        &output,
        &["result.json is missing", no_result.to_str().unwrap()],
    );

    // A run of another network size, and --allow-mixed.
    let wider = work.path().join("wider");
    copy_run(&runs[1], &wider);
    edit_json(&wider.join("model.json"), |model| {
        model["network"]["init_channels"] = 16.into();
    });
    let output = train_report(&[&runs[0], &wider], &[]);
    assert_clean_failure(
        &output,
        &[
            "differ in network",
            "16 channels x 5 cells",
            "--allow-mixed",
        ],
    );
    let output = train_report(&[&runs[0], &wider], &["--allow-mixed", "--json"]);
    assert!(
        output.status.success(),
        "--allow-mixed failed\n{}",
        describe(&output)
    );
    let mixed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(mixed["mixed"][0]["setting"], "network");

    // An unfinished run is included with a warning.
    let unfinished = work.path().join("unfinished");
    copy_run(&runs[1], &unfinished);
    edit_json(&unfinished.join("result.json"), |result| {
        result["epochs_planned"] = (EPOCHS + 3).into();
    });
    let output = train_report(&[&runs[0], &unfinished], &["--json"]);
    assert!(
        output.status.success(),
        "unfinished run failed\n{}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unfinished run"),
        "no warning\n{}",
        describe(&output)
    );
    let with_unfinished: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(with_unfinished["unfinished_runs"], 1);
    assert_eq!(with_unfinished["per_run"][1]["finished"], false);
}

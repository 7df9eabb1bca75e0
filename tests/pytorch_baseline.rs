//! `scripts/pytorch_baseline.py --check-only` on tiny trained runs of both
//! operation tables. The PyTorch module that it builds from `model.json`
//! loads the Rust checkpoint by name and computes the logits of our ONNX
//! export. Bad input gets a clean error.
//!
//! Needs the virtual environment of `scripts/setup.sh` (torch, onnxruntime,
//! onnx, onnxscript) and the release binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;

use sharpdarts::{binary, describe, run, run_ok, shared_data, workspace_root};

/// Exit status of the script when logits differ by more than the tolerance.
const EXIT_MISMATCH: i32 = 1;
/// Exit status of the script for a missing or invalid run folder or file.
const EXIT_INVALID: i32 = 2;

fn python() -> PathBuf {
    let path = workspace_root().join(".venv/bin/python");
    assert!(
        path.exists(),
        "{} not found; create the virtual environment with scripts/setup.sh",
        path.display()
    );
    path
}

fn baseline(args: &[&Path]) -> Command {
    let mut command = Command::new(python());
    command.arg(workspace_root().join("scripts/pytorch_baseline.py"));
    command.args(args);
    command
}

/// Trains `genotype` at 8 channels x 5 cells for one epoch on 64 real
/// CIFAR-10 images, then exports it to `run_dir/model.onnx`. Batches of 4
/// give 16 steps, enough for BatchNorm running statistics that make the
/// logits depend on the input.
fn train_and_export(data: &Path, run_dir: &Path, genotype: &str, ops: &str) {
    let mut train = Command::new(binary("train"));
    train
        .args(["final", "--genotype", genotype, "--ops", ops, "--data"])
        .arg(data)
        .arg("--out")
        .arg(run_dir)
        .args(["--init-channels", "8", "--layers", "5", "--epochs", "1"])
        .args(["--warmup-epochs", "0", "--batch-size", "4"])
        .args([
            "--limit-train",
            "64",
            "--limit-test",
            "20",
            "--threads",
            "1",
        ]);
    run_ok(&mut train, &format!("train final {genotype} --ops {ops}"));
    let mut export = Command::new(binary("export"));
    export
        .args(["--onnx", "--run"])
        .arg(run_dir)
        .arg("--out")
        .arg(run_dir.join("model.onnx"));
    run_ok(&mut export, &format!("export {genotype}"));
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
}

fn assert_stderr_contains(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(needle),
        "stderr lacks `{needle}`\n{}",
        describe(output)
    );
}

#[test]
fn check_only_on_both_op_tables() {
    let data = shared_data().join("cifar10");
    let dir = tempfile::tempdir().unwrap();
    let sharp = dir.path().join("sharp_darts");
    let darts = dir.path().join("darts_v2");
    // The two runs train in parallel, one thread each.
    thread::scope(|scope| {
        scope.spawn(|| train_and_export(&data, &sharp, "SHARP_DARTS", "sharp"));
        train_and_export(&data, &darts, "DARTS", "darts");
    });

    // The sharp run also goes through both torch.onnx exporters. The darts
    // run checks only our export, which keeps the test short.
    let stdout = run_ok(
        baseline(&[&sharp]).arg("--check-only"),
        "pytorch_baseline.py --check-only (SHARP_DARTS, sharp)",
    );
    let stdout = String::from_utf8_lossy(&stdout);
    for graph in ["our export", "torch.onnx dynamo", "torch.onnx TorchScript"] {
        assert!(stdout.contains(graph), "no check of {graph}\n{stdout}");
    }
    // The script prints a NOTE for logits that hardly depend on the input
    // and for a torch.onnx graph that did not get opset 17.
    assert!(!stdout.contains("NOTE"), "{stdout}");
    let stdout = run_ok(
        baseline(&[&darts]).args(["--check-only", "--skip-torch-onnx"]),
        "pytorch_baseline.py --check-only (DARTS, darts)",
    );
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(!stdout.contains("NOTE"), "{stdout}");

    // The export of another network, with the same input and output shapes,
    // fails the check.
    let wrong = darts.join("model.onnx");
    let output = run(baseline(&[&sharp]).arg("--onnx").arg(&wrong).args([
        "--check-only",
        "--skip-torch-onnx",
        "--batch-sizes",
        "4",
    ]));
    assert_exit(&output, EXIT_MISMATCH);
    assert_stderr_contains(&output, "logits differ");
    assert_stderr_contains(&output, &wrong.display().to_string());

    let missing = dir.path().join("no-such-model.onnx");
    let output = run(baseline(&[&sharp])
        .arg("--onnx")
        .arg(&missing)
        .arg("--check-only"));
    assert_exit(&output, EXIT_INVALID);
    assert_stderr_contains(&output, &missing.display().to_string());
    assert_stderr_contains(&output, "export --onnx");
}

#[test]
fn missing_run_folder_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-run");
    let output = run(baseline(&[&missing]).arg("--check-only"));
    assert_exit(&output, EXIT_INVALID);
    assert_stderr_contains(&output, &missing.display().to_string());
    assert_stderr_contains(&output, "train final");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("Traceback"), "{}", describe(&output));
}

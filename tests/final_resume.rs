//! `train final` checkpoints, `--resume` and `--deterministic` on real
//! CIFAR-10 images. Two runs with the same seed write the same metrics. A run
//! killed with SIGKILL at several points and resumed each time ends with the
//! same metrics and result as an uninterrupted one.
//!
//! Every run uses one libtorch thread, `--deterministic` and the same binary,
//! so the metrics must agree bit for bit, not only to a tolerance.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sharpdarts::{
    assert_clean_failure, binary, describe, read_json, read_json_lines, run, run_ok, shared_data,
};

const EPOCHS: usize = 3;
/// Images per class copied into the small data set.
const TRAIN_PER_CLASS: usize = 20;
const TEST_PER_CLASS: usize = 10;
/// Fields of a metrics line that measure time, so they differ between runs.
const TIMING_FIELDS: [&str; 3] = ["seconds", "images_per_second", "data_wait_seconds"];
/// Fields of result.json that measure time.
const RESULT_TIMING_FIELDS: [&str; 1] = ["total_seconds"];
/// Time after the end of an epoch at which [`KillPoint::MidEpoch`] kills;
/// an epoch of this run takes longer. The test passes wherever it kills.
const MID_EPOCH_DELAY: Duration = Duration::from_millis(400);

/// Copies the first images of every class of the real CIFAR-10 folder into
/// `root` (an ImageFolder with train/ and test/), so that each process loads
/// a few hundred images instead of 60,000.
fn small_cifar10(root: &Path) -> PathBuf {
    let source = shared_data().join("cifar10");
    for (split, per_class) in [("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)] {
        let mut classes: Vec<PathBuf> = std::fs::read_dir(source.join(split))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        classes.sort();
        for class in classes {
            let target = root.join(split).join(class.file_name().unwrap());
            std::fs::create_dir_all(&target).unwrap();
            let mut images: Vec<PathBuf> = std::fs::read_dir(&class)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .collect();
            images.sort();
            for image in images.iter().take(per_class) {
                std::fs::copy(image, target.join(image.file_name().unwrap())).unwrap();
            }
        }
    }
    root.to_path_buf()
}

/// `train final` of a tiny network (8 channels, 5 cells) for [`EPOCHS`]
/// epochs with every source of randomness in use: AutoAugment, Cutout,
/// drop path, shuffling.
fn final_command(data: &Path, out: &Path) -> Command {
    let mut command = Command::new(binary("train"));
    command.args([
        "final",
        "--genotype",
        "SHARPSEPCONV_DARTS",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--init-channels",
        "8",
        "--layers",
        "5",
        "--epochs",
        &EPOCHS.to_string(),
        "--warmup-epochs",
        "1",
        "--lr",
        "0.05",
        "--batch-size",
        "32",
        "--seed",
        "5",
        "--autoaugment",
        "--cutout",
        "--deterministic",
        // One thread: the tests run in parallel on few cores, and results
        // are only bit-identical for the same thread count.
        "--threads",
        "1",
    ]);
    command
}

fn resume_command(run_dir: &Path) -> Command {
    let mut command = Command::new(binary("train"));
    command.args(["final", "--resume", run_dir.to_str().unwrap()]);
    command
}

/// Returns the lines of `metrics.jsonl` without their timing fields.
fn metrics_without_timings(run_dir: &Path) -> Vec<Value> {
    let mut lines = read_json_lines(&run_dir.join("metrics.jsonl"));
    for line in &mut lines {
        for field in TIMING_FIELDS {
            line.as_object_mut().unwrap().remove(field);
        }
    }
    lines
}

fn result_without_timings(run_dir: &Path) -> Value {
    let mut result = read_json(&run_dir.join("result.json"));
    for field in RESULT_TIMING_FIELDS {
        result.as_object_mut().unwrap().remove(field);
    }
    result
}

/// Asserts that two runs wrote the same epochs, learning rates, losses,
/// accuracies and result, field by field so a failure names the field.
fn assert_same_run(actual: &Path, expected: &Path) {
    let actual_lines = metrics_without_timings(actual);
    let expected_lines = metrics_without_timings(expected);
    assert_eq!(actual_lines.len(), EPOCHS, "epochs of {}", actual.display());
    assert_eq!(
        expected_lines.len(),
        EPOCHS,
        "epochs of {}",
        expected.display()
    );
    for (a, b) in actual_lines.iter().zip(&expected_lines) {
        for field in [
            "epoch",
            "lr",
            "drop_path_prob",
            "train_loss",
            "train_accuracy",
            "test_loss",
            "test_accuracy",
        ] {
            assert_eq!(a[field], b[field], "{field} of epoch {}", b["epoch"]);
        }
        assert_eq!(a, b, "the whole line of epoch {}", b["epoch"]);
    }
    assert_eq!(
        result_without_timings(actual),
        result_without_timings(expected)
    );
    let weights = |dir: &Path| std::fs::read(dir.join("weights.safetensors")).unwrap();
    assert!(
        weights(actual) == weights(expected),
        "weights.safetensors of the best epoch differ"
    );
}

/// Asserts that every metrics line records the seconds the training loop
/// waited for batches: a finite, non-negative part of the epoch's seconds.
fn assert_data_wait_recorded(run_dir: &Path) {
    for line in read_json_lines(&run_dir.join("metrics.jsonl")) {
        let epoch = &line["epoch"];
        let wait = line["data_wait_seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("epoch {epoch} has no data_wait_seconds: {line}"));
        let seconds = line["seconds"].as_f64().unwrap();
        assert!(
            wait.is_finite(),
            "data_wait_seconds {wait} of epoch {epoch}"
        );
        assert!(wait >= 0.0, "data_wait_seconds {wait} of epoch {epoch}");
        assert!(
            wait <= seconds,
            "data_wait_seconds {wait} exceeds the epoch's {seconds} seconds (epoch {epoch})"
        );
    }
}

/// Returns true for the temporary files of an interrupted atomic write.
fn is_temporary(name: &str) -> bool {
    name.starts_with(".tmp-") || name.ends_with(".tmp.safetensors")
}

/// Asserts that every file of `run_dir` except temporary ones parses in the
/// format of its extension, and that metrics.jsonl contains epochs 1, 2, ...
/// once each. Returns a description of the folder for the test log.
fn check_run_folder(run_dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(run_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let path = run_dir.join(name);
        if is_temporary(name) {
            continue;
        }
        if name.ends_with(".jsonl") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.is_empty() || text.ends_with('\n'),
                "{name} ends in a partial line"
            );
            read_json_lines(&path);
        } else if name.ends_with(".json") {
            read_json(&path);
        } else if name.ends_with(".safetensors") {
            tch::Tensor::read_safetensors(&path)
                .unwrap_or_else(|e| panic!("{name} is not a safetensors file: {e}"));
        } else {
            panic!("unexpected file {name} in the run folder");
        }
    }
    let metrics_path = run_dir.join("metrics.jsonl");
    let epochs: Vec<u64> = if metrics_path.exists() {
        read_json_lines(&metrics_path)
            .iter()
            .map(|line| line["epoch"].as_u64().unwrap())
            .collect()
    } else {
        Vec::new()
    };
    let expected: Vec<u64> = (1..=epochs.len() as u64).collect();
    assert_eq!(epochs, expected, "metrics.jsonl epochs in order, once each");
    let checkpoint = run_dir.join("checkpoint.json");
    let checkpoint_epoch = checkpoint
        .exists()
        .then(|| read_json(&checkpoint)["epochs_completed"].clone());
    format!(
        "files {names:?}, metrics epochs {}, checkpoint.json epoch {checkpoint_epoch:?}",
        epochs.len()
    )
}

/// A moment at which the test kills a run.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// manifest.json exists: the run wrote its first files and is training epoch 1.
    ManifestWritten,
    /// checkpoint.tmp.safetensors exists: a checkpoint is being written.
    CheckpointBeingWritten,
    /// checkpoint.safetensors was replaced: an epoch was just committed and
    /// the files that follow it may not be written yet.
    CheckpointCommitted,
    /// metrics.jsonl gained a line; result.json and checkpoint.json may be stale.
    MetricsWritten,
    /// Some time after metrics.jsonl gained a line, in the next epoch.
    MidEpoch,
}

/// Identity of a file (inode and modification time), or `None` when missing.
fn file_identity(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.ino(), metadata.modified().ok()?))
}

fn metrics_lines(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// Waits until `point` is reached and kills the run with SIGKILL. Returns
/// false when the run finished first.
fn kill_at(child: &mut Child, run_dir: &Path, point: KillPoint) -> bool {
    let checkpoint = run_dir.join("checkpoint.safetensors");
    let checkpoint_before = file_identity(&checkpoint);
    let lines_before = metrics_lines(run_dir);
    let mut metrics_grew_at: Option<Instant> = None;
    loop {
        let reached = match point {
            KillPoint::ManifestWritten => run_dir.join("manifest.json").exists(),
            KillPoint::CheckpointBeingWritten => {
                run_dir.join("checkpoint.tmp.safetensors").exists()
            }
            KillPoint::CheckpointCommitted => {
                let now = file_identity(&checkpoint);
                now.is_some() && now != checkpoint_before
            }
            KillPoint::MetricsWritten => metrics_lines(run_dir) > lines_before,
            KillPoint::MidEpoch => {
                if metrics_grew_at.is_none() && metrics_lines(run_dir) > lines_before {
                    metrics_grew_at = Some(Instant::now());
                }
                metrics_grew_at.is_some_and(|at| at.elapsed() >= MID_EPOCH_DELAY)
            }
        };
        if reached {
            // SIGKILL on Unix: the process gets no chance to clean up.
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "the run failed before {point:?}: {status}"
            );
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Returns the epoch committed in checkpoint.safetensors, from the JSON in
/// its `state` tensor.
fn committed_epoch(run_dir: &Path) -> usize {
    let tensors = tch::Tensor::read_safetensors(run_dir.join("checkpoint.safetensors")).unwrap();
    let (_, state) = tensors
        .iter()
        .find(|(name, _)| name == "state")
        .expect("checkpoint.safetensors has a state tensor");
    let bytes = Vec::<u8>::try_from(state).unwrap();
    let state: Value = serde_json::from_slice(&bytes).unwrap();
    state["epochs_completed"].as_u64().unwrap() as usize
}

#[test]
fn deterministic_runs_match() {
    let work = tempfile::tempdir().unwrap();
    let data = small_cifar10(&work.path().join("cifar10"));
    let first = work.path().join("first");
    let second = work.path().join("second");
    run_ok(&mut final_command(&data, &first), "first train final");
    run_ok(&mut final_command(&data, &second), "second train final");
    assert_same_run(&second, &first);
    for run_dir in [&first, &second] {
        assert_data_wait_recorded(run_dir);
    }

    let config = read_json(&first.join("config.json"));
    assert_eq!(config["autoaugment"], true);
    assert_eq!(config["deterministic"], true);
    let manifest = read_json(&first.join("manifest.json"));
    assert_eq!(manifest["deterministic"], true, "libtorch's flag was set");
    assert_eq!(manifest["seed"], 5);
    assert_eq!(manifest["device"], "cpu");
    let isa = std::env::var("ONEDNN_MAX_CPU_ISA").unwrap_or_else(|_| "AVX2".to_string());
    assert_eq!(
        manifest["onednn_max_cpu_isa"],
        isa.as_str(),
        "train caps oneDNN"
    );
    assert_eq!(manifest["options"], config);
    assert_eq!(manifest["command_line"][1], "final");
    assert_eq!(manifest["tch_version"], "0.24.0");
    let libtorch = manifest["libtorch_version"].as_str().unwrap();
    assert!(libtorch.starts_with("2.11.0"), "libtorch {libtorch}");
    let revision = manifest["git_revision"].as_str().unwrap_or_default();
    assert!(
        revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()),
        "git_revision {revision:?} of a build inside a git checkout"
    );
    assert_eq!(manifest["resumed_at"], serde_json::json!([]));
    let started = manifest["started_at"].as_str().unwrap();
    assert!(
        started.len() == 20 && started.ends_with('Z'),
        "started_at {started}"
    );
}

#[test]
fn killed_run_resumes_to_same_result() {
    let work = tempfile::tempdir().unwrap();
    let data = small_cifar10(&work.path().join("cifar10"));
    let whole = work.path().join("whole");
    run_ok(
        &mut final_command(&data, &whole),
        "uninterrupted train final",
    );

    let run_dir = work.path().join("killed");
    let points = [
        KillPoint::ManifestWritten,
        KillPoint::CheckpointBeingWritten,
        KillPoint::CheckpointCommitted,
        KillPoint::MetricsWritten,
        KillPoint::MidEpoch,
        KillPoint::CheckpointCommitted,
    ];
    let mut resumes = 0;
    for (index, point) in points.into_iter().enumerate() {
        let mut command = if index == 0 {
            final_command(&data, &run_dir)
        } else {
            resumes += 1;
            resume_command(&run_dir)
        };
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let killed = kill_at(&mut child, &run_dir, point);
        let folder = check_run_folder(&run_dir);
        eprintln!("after {point:?} (killed: {killed}): {folder}");
        if !killed {
            break;
        }
    }

    // What a process killed right after a commit leaves: the epoch's
    // metrics line and checkpoint.json are missing, and partial temporary
    // files remain.
    let committed = committed_epoch(&run_dir);
    assert!(committed >= 1, "no epoch was committed");
    let metrics_path = run_dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&metrics_path).unwrap();
    let kept: String = text
        .lines()
        .take(committed - 1)
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&metrics_path, kept).unwrap();
    let _ = std::fs::remove_file(run_dir.join("checkpoint.json"));
    let checkpoint_bytes = std::fs::read(run_dir.join("checkpoint.safetensors")).unwrap();
    std::fs::write(
        run_dir.join("checkpoint.tmp.safetensors"),
        &checkpoint_bytes[..checkpoint_bytes.len() / 2],
    )
    .unwrap();
    std::fs::write(run_dir.join(".tmp-interrupted"), "{\"epoch\": ").unwrap();

    let output = run(&mut resume_command(&run_dir));
    assert!(
        output.status.success(),
        "final resume\n{}",
        describe(&output)
    );
    resumes += 1;
    check_run_folder(&run_dir);
    assert!(
        !run_dir.join(".tmp-interrupted").exists()
            && !run_dir.join("checkpoint.tmp.safetensors").exists(),
        "resume removes the temporary files"
    );
    assert_same_run(&run_dir, &whole);

    let manifest = read_json(&run_dir.join("manifest.json"));
    let resumed_at = manifest["resumed_at"].as_array().unwrap();
    assert!(
        (1..=resumes).contains(&resumed_at.len()),
        "{} resumes recorded of {resumes}",
        resumed_at.len()
    );
    assert_eq!(
        manifest["options"],
        read_json(&run_dir.join("config.json")),
        "the manifest keeps the run's settings"
    );

    // A resume of a finished run reports that and changes nothing.
    let metrics_before = std::fs::read(&metrics_path).unwrap();
    let output = run(&mut resume_command(&run_dir));
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already finished"), "{stderr}");
    assert_eq!(std::fs::read(&metrics_path).unwrap(), metrics_before);
    assert_eq!(
        read_json(&run_dir.join("manifest.json"))["resumed_at"],
        manifest["resumed_at"],
        "a finished run records no resume"
    );
}

#[test]
fn resume_rejects_run_options() {
    let work = tempfile::tempdir().unwrap();
    let output = run(Command::new(binary("train")).args([
        "final",
        "--resume",
        work.path().to_str().unwrap(),
        "--epochs",
        "10",
        "--lr",
        "0.1",
        "--threads",
        "1",
    ]));
    assert_clean_failure(
        &output,
        &[
            "--epochs, --lr cannot be given with --resume",
            "config.json",
        ],
    );

    let output = run(Command::new(binary("train")).args([
        "final",
        "--resume",
        work.path().join("missing").to_str().unwrap(),
    ]));
    assert_clean_failure(&output, &["folder not found"]);

    let output = run(Command::new(binary("train")).args([
        "final",
        "--resume",
        work.path().to_str().unwrap(),
    ]));
    assert_clean_failure(&output, &["config.json not found", "--out"]);
}

//! `train final --cifar10-1` on real CIFAR-10 images: CIFAR-10.1-format
//! `.npy` files are written from real CIFAR-10 test records, evaluated after
//! every epoch, kept through `--resume`, and scored the same by `serve eval`
//! on the exported best epoch.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use data::cifar10::{self, Split};
use serde_json::Value;
use sharpdarts::{
    assert_clean_failure, binary, describe, read_json, read_json_lines, run, run_ok, shared_data,
};

const EPOCHS: usize = 2;
/// Images per class copied into the small CIFAR-10 folder.
const TRAIN_PER_CLASS: usize = 20;
const TEST_PER_CLASS: usize = 10;
/// Records of the binary test batch written as CIFAR-10.1: the last 200,
/// which the first images per class of the small folder do not include.
const CIFAR10_1_RECORDS: std::ops::Range<usize> = 9800..10000;

/// Copies the first images of every class of the real CIFAR-10 folder into
/// `root` (an ImageFolder with train/ and test/).
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

/// Encodes an `.npy` file of format version 1.0: magic string, version,
/// 2-byte header length, then the header dict padded with spaces and ended
/// by a newline so that the array starts at a multiple of 64 bytes.
fn npy_bytes(descr: &str, shape: &[usize], array: &[u8]) -> Vec<u8> {
    let shape_text = match shape {
        [single] => format!("({single},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');

    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(array);
    bytes
}

/// Writes [`CIFAR10_1_RECORDS`] of the real binary test batch into `dir` as
/// the two official CIFAR-10.1 files: `uint8` HWC images and `int64` labels.
/// Returns the number of images.
fn write_cifar10_1(dir: &Path) -> usize {
    let test = cifar10::load(&shared_data().join(cifar10::BINARY_FOLDER), Split::Test).unwrap();
    let indices: Vec<usize> = CIFAR10_1_RECORDS.collect();
    let subset = test.select(&indices);
    let count = subset.len();
    let labels: Vec<u8> = subset
        .labels
        .iter()
        .flat_map(|&label| i64::from(label).to_le_bytes())
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("cifar10.1_v6_data.npy"),
        npy_bytes("|u1", &[count, 32, 32, 3], &subset.images),
    )
    .unwrap();
    std::fs::write(
        dir.join("cifar10.1_v6_labels.npy"),
        npy_bytes("<i8", &[count], &labels),
    )
    .unwrap();
    count
}

/// `train final` of a tiny network for [`EPOCHS`] epochs, evaluated on
/// CIFAR-10.1 in `cifar10_1`.
fn final_command(data: &Path, cifar10_1: &Path, out: &Path) -> Command {
    let mut command = Command::new(binary("train"));
    command.args([
        "final",
        "--genotype",
        "SHARPSEPCONV_DARTS",
        "--data",
        data.to_str().unwrap(),
        "--cifar10-1",
        cifar10_1.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--init-channels",
        "8",
        "--layers",
        "5",
        "--epochs",
        &EPOCHS.to_string(),
        "--warmup-epochs",
        "0",
        "--lr",
        "0.05",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--cutout",
        "--deterministic",
        "--threads",
        "1",
    ]);
    command
}

fn metrics_lines(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// Returns `field` of a JSON object as a number, naming it when missing.
fn number(value: &Value, field: &str) -> f64 {
    value[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing or not a number in {value}"))
}

#[test]
fn cifar10_1_evaluated_every_epoch() {
    let work = tempfile::tempdir().unwrap();
    let data = small_cifar10(&work.path().join("cifar10"));
    let cifar10_1 = work.path().join("cifar10.1");
    let images = write_cifar10_1(&cifar10_1);
    let whole = work.path().join("whole");
    run_ok(
        &mut final_command(&data, &cifar10_1, &whole),
        "train final --cifar10-1",
    );

    let config = read_json(&whole.join("config.json"));
    assert_eq!(config["cifar10_1_dir"], cifar10_1.to_str().unwrap());

    let lines = read_json_lines(&whole.join("metrics.jsonl"));
    assert_eq!(lines.len(), EPOCHS);
    for line in &lines {
        let loss = number(line, "cifar10_1_loss");
        let accuracy = number(line, "cifar10_1_accuracy");
        assert!(loss.is_finite() && loss > 0.0, "cifar10_1_loss {loss}");
        assert!(
            (0.0..=100.0).contains(&accuracy),
            "cifar10_1_accuracy {accuracy}"
        );
        // A count of correct images out of `images`, in percent.
        let correct = accuracy * images as f64 / 100.0;
        assert!(
            (correct - correct.round()).abs() < 1e-6,
            "cifar10_1_accuracy {accuracy} is not a count out of {images}"
        );
    }

    let result = read_json(&whole.join("result.json"));
    let best_epoch = result["best_epoch"].as_u64().unwrap() as usize;
    assert!(
        (1..=EPOCHS).contains(&best_epoch),
        "best_epoch {best_epoch}"
    );
    let best_line = &lines[best_epoch - 1];
    assert_eq!(
        result["best_test_accuracy"], best_line["test_accuracy"],
        "the test split chooses the best epoch"
    );
    assert_eq!(
        result["best_cifar10_1_accuracy"],
        best_line["cifar10_1_accuracy"]
    );
    assert_eq!(
        result["final_cifar10_1_accuracy"],
        lines[EPOCHS - 1]["cifar10_1_accuracy"]
    );

    // serve eval of the exported best epoch on the same files.
    let model = work.path().join("model.onnx");
    run_ok(
        Command::new(binary("export")).args([
            "--onnx",
            "--run",
            whole.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
        ]),
        "export",
    );
    let stdout = run_ok(
        Command::new(binary("serve")).args([
            "eval",
            model.to_str().unwrap(),
            "--data",
            cifar10_1.to_str().unwrap(),
            "--json",
        ]),
        "serve eval on CIFAR-10.1",
    );
    let eval: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(eval["images"].as_u64(), Some(images as u64));
    let served = number(&eval, "top1");
    let trained = number(&result, "best_cifar10_1_accuracy");
    assert!(
        (served - trained).abs() <= 1e-9,
        "serve eval {served}% vs train final {trained}% on CIFAR-10.1"
    );

    // A run killed after its first epoch and resumed keeps evaluating
    // CIFAR-10.1 and ends with the same numbers.
    let resumed = work.path().join("resumed");
    let mut child = final_command(&data, &cifar10_1, &resumed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed = loop {
        if metrics_lines(&resumed) >= 1 {
            child.kill().unwrap();
            child.wait().unwrap();
            break true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the run to kill failed: {status}");
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    eprintln!("killed after the first epoch: {killed}");
    run_ok(
        Command::new(binary("train")).args(["final", "--resume", resumed.to_str().unwrap()]),
        "train final --resume",
    );
    let resumed_lines = read_json_lines(&resumed.join("metrics.jsonl"));
    assert_eq!(resumed_lines.len(), EPOCHS);
    for (resumed_line, line) in resumed_lines.iter().zip(&lines) {
        for field in ["cifar10_1_loss", "cifar10_1_accuracy", "test_accuracy"] {
            assert_eq!(
                resumed_line[field], line[field],
                "{field} of epoch {}",
                line["epoch"]
            );
        }
    }
    let resumed_result = read_json(&resumed.join("result.json"));
    for field in ["best_cifar10_1_accuracy", "final_cifar10_1_accuracy"] {
        assert_eq!(resumed_result[field], result[field], "{field}");
    }
}

#[test]
fn cifar10_1_rejected_for_imagenet() {
    let work = tempfile::tempdir().unwrap();
    let output = run(Command::new(binary("train")).args([
        "final",
        "--dataset",
        "imagenet",
        "--genotype",
        "SHARPSEPCONV_DARTS",
        "--data",
        work.path().to_str().unwrap(),
        "--cifar10-1",
        work.path().to_str().unwrap(),
        "--out",
        work.path().join("run").to_str().unwrap(),
        "--threads",
        "1",
    ]));
    assert_clean_failure(&output, &["--cifar10-1", "--dataset imagenet"]);
    assert!(
        !work.path().join("run").exists(),
        "no run folder is created\n{}",
        describe(&output)
    );
}

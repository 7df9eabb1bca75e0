//! The `export` binary: summary line, run directories and error messages.

use std::path::Path;
use std::process::{Command, Output};

use export::Weights;
use models::{Genotype, ModelFile, NetworkConfig};
use onnx_protobuf::{Message, ModelProto};

fn export_command(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_export"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the export binary runs")
}

/// Returns an output path in a fresh folder, so failing commands cannot litter the crate.
fn scratch_out() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx").to_str().unwrap().to_string();
    (dir, path)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes model.json and weights.safetensors of a small DARTS network.
fn write_run(dir: &Path) -> ModelFile {
    let genotype = Genotype::resolve("DARTS").unwrap();
    let file = ModelFile::cifar10(
        Some("DARTS_V2".into()),
        genotype,
        NetworkConfig::cifar10(8, 5),
    );
    std::fs::write(dir.join("model.json"), file.to_json()).unwrap();
    let weights = Weights::random(&file.graph().unwrap(), 1);
    weights
        .save_safetensors(&dir.join("weights.safetensors"))
        .unwrap();
    file
}

#[test]
fn genotype_export_prints_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.onnx");
    let out_arg = out.to_str().unwrap();
    let args = [
        "--onnx",
        "--genotype",
        "SHARPSEPCONV_DARTS",
        "--init-channels",
        "8",
        "--layers",
        "5",
        "--out",
        out_arg,
        "--seed",
        "4",
    ];
    let output = export_command(&args);
    assert!(output.status.success(), "{}", stderr(&output));

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let bytes = std::fs::read(&out).unwrap();
    let model = ModelProto::parse_from_bytes(&bytes).unwrap();
    let file = ModelFile::cifar10(
        Some("DARTS_PRIMITIVES_DIL_IS_SEPCONV".into()),
        Genotype::resolve("SHARPSEPCONV_DARTS").unwrap(),
        NetworkConfig::cifar10(8, 5),
    );
    let params = models::count_parameters(&file.graph().unwrap()).main;

    assert!(stdout.contains(out_arg), "{stdout}");
    assert!(stdout.contains(&format!("{params} parameters")), "{stdout}");
    let nodes = model.graph.as_ref().unwrap().node.len();
    assert!(stdout.contains(&format!("{nodes} nodes")), "{stdout}");
    assert!(
        stdout.contains(&format!("{} bytes", bytes.len())),
        "{stdout}"
    );

    let metadata = |key: &str| {
        let entry = model.metadata_props.iter().find(|e| e.key == key).unwrap();
        entry.value.clone()
    };
    let model_json = ModelFile::from_json(&metadata("model_json"), "metadata").unwrap();
    assert_eq!(model_json, file);
}

#[test]
fn run_directory_exported() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_run(dir.path());
    let out = dir.path().join("model.onnx");
    let run = dir.path().to_str().unwrap();
    let output = export_command(&["--onnx", "--run", run, "--out", out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let model = ModelProto::parse_from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let entry = model
        .metadata_props
        .iter()
        .find(|e| e.key == "model_json")
        .unwrap();
    assert_eq!(
        ModelFile::from_json(&entry.value, "metadata").unwrap(),
        file
    );
}

#[test]
fn missing_run_dir_named() {
    let (_dir, out) = scratch_out();
    let output = export_command(&["--onnx", "--run", "no/such/run", "--out", &out]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.starts_with("error: "), "{message}");
    assert!(message.contains("no/such/run"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(!message.contains("backtrace"), "{message}");
}

#[test]
fn invalid_model_json_named() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    std::fs::write(dir.path().join("model.json"), "{\"format_version\": 1").unwrap();
    let out = dir.path().join("model.onnx");
    let run = dir.path().to_str().unwrap();
    let output = export_command(&["--onnx", "--run", run, "--out", out.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("model.json"), "{message}");
    assert!(!out.exists(), "no output on failure");
}

#[test]
fn corrupt_weights_named() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let weights = dir.path().join("weights.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let out = dir.path().join("model.onnx");
    let run = dir.path().to_str().unwrap();
    let output = export_command(&["--onnx", "--run", run, "--out", out.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("weights.safetensors"), "{message}");
    assert!(message.contains("truncated"), "{message}");
}

#[test]
fn missing_weights_named() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    std::fs::remove_file(dir.path().join("weights.safetensors")).unwrap();
    let run = dir.path().to_str().unwrap();
    let (_scratch, out) = scratch_out();
    let output = export_command(&["--onnx", "--run", run, "--out", &out]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("weights.safetensors"), "{message}");
}

#[test]
fn weights_of_other_network_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let other = Genotype::resolve("DARTS").unwrap();
    let other = ModelFile::cifar10(None, other, NetworkConfig::cifar10(10, 5));
    let weights = Weights::random(&other.graph().unwrap(), 0);
    weights
        .save_safetensors(&dir.path().join("weights.safetensors"))
        .unwrap();
    let run = dir.path().to_str().unwrap();
    let (_scratch, out) = scratch_out();
    let output = export_command(&["--onnx", "--run", run, "--out", &out]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("stem.0.weight"), "{message}");
    assert!(message.contains("[24, 3, 3, 3]"), "{message}");
    assert!(message.contains("[30, 3, 3, 3]"), "{message}");
}

#[test]
fn unknown_genotype_named() {
    let (_dir, out) = scratch_out();
    let args = [
        "--onnx",
        "--genotype",
        "NOT_A_GENOTYPE",
        "--init-channels",
        "8",
        "--layers",
        "5",
        "--out",
        &out,
    ];
    let output = export_command(&args);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("NOT_A_GENOTYPE"), "{message}");
    assert!(message.contains("SHARPSEPCONV_DARTS"), "{message}");
}

#[test]
fn format_flag_required() {
    let (_dir, out) = scratch_out();
    let args = [
        "--genotype",
        "DARTS",
        "--init-channels",
        "8",
        "--layers",
        "5",
        "--out",
        &out,
    ];
    let output = export_command(&args);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("--onnx"), "{message}");
}

#[test]
fn odd_init_channels_rejected() {
    let (_dir, out) = scratch_out();
    let args = [
        "--onnx",
        "--genotype",
        "DARTS",
        "--init-channels",
        "7",
        "--layers",
        "5",
        "--out",
        &out,
    ];
    let output = export_command(&args);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("init-channels 7"), "{message}");
}

#[test]
fn genotype_options_conflict_with_run() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let run = dir.path().to_str().unwrap();
    let out = dir.path().join("model.onnx");
    let out = out.to_str().unwrap();
    for (option, value) in [
        ("--init-channels", "8"),
        ("--layers", "5"),
        ("--num-classes", "5"),
        ("--seed", "3"),
    ] {
        let args = ["--onnx", "--run", run, option, value, "--out", out];
        let output = export_command(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{option}: {}",
            stderr(&output)
        );
        let message = stderr(&output);
        assert!(message.contains("cannot be used with"), "{message}");
        assert!(message.contains(option), "{message}");
        assert!(!Path::new(out).exists(), "{option} wrote {out}");
    }
}

#[test]
fn genotype_requires_channels_and_layers() {
    let (_dir, out) = scratch_out();
    for (given, missing) in [
        (["--init-channels", "8"], "--layers"),
        (["--layers", "5"], "--init-channels"),
    ] {
        let mut args = vec!["--onnx", "--genotype", "DARTS", "--out", &out];
        args.extend(given);
        let output = export_command(&args);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains("required arguments"), "{message}");
        assert!(message.contains(missing), "{message}");
    }
}

#[test]
fn usage_marks_channels_optional() {
    let output = export_command(&["--help"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let help = String::from_utf8_lossy(&output.stdout);
    let usage = help
        .lines()
        .find(|line| line.starts_with("Usage:"))
        .expect("help has a usage line");
    assert!(!usage.contains("--init-channels"), "{usage}");
    assert!(!usage.contains("--layers"), "{usage}");
}

#[test]
fn closed_stdout_ends_quietly() {
    let (_dir, out) = scratch_out();
    let mut child = Command::new(env!("CARGO_BIN_EXE_export"))
        .args(["--onnx", "--genotype", "DARTS", "--init-channels", "8"])
        .args(["--layers", "5", "--out", &out])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the export binary starts");
    // Closing the read end before the summary line is printed makes that
    // write fail with EPIPE.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let message = stderr(&output);
    assert_ne!(output.status.code(), Some(101), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(!message.contains("Broken pipe"), "{message}");
}

fn metadata_value(model: &ModelProto, key: &str) -> Option<String> {
    model
        .metadata_props
        .iter()
        .find(|entry| entry.key == key)
        .map(|entry| entry.value.clone())
}

#[test]
fn imagenet_export_records_its_preprocessing() {
    let (_dir, out) = scratch_out();
    let args = [
        "--onnx",
        "--genotype",
        "SHARP_DARTS",
        "--dataset",
        "imagenet",
        "--init-channels",
        "8",
        "--layers",
        "5",
        "--num-classes",
        "7",
        "--out",
        &out,
    ];
    let output = export_command(&args);
    assert!(output.status.success(), "{}", stderr(&output));

    let model = ModelProto::parse_from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let size = metadata_value(&model, "input_size").unwrap();
    assert_eq!(size, "[3,224,224]");
    assert_eq!(metadata_value(&model, "resize_shorter").unwrap(), "256");
    let network: NetworkConfig =
        serde_json::from_str(&metadata_value(&model, "network").unwrap()).unwrap();
    assert_eq!(network.dataset, models::DatasetKind::ImageNet);
    assert_eq!(network.mid_channels, 96);
    assert_eq!(network.num_classes, 7);

    let classes: Vec<String> =
        serde_json::from_str(&metadata_value(&model, "classes").unwrap()).unwrap();
    assert_eq!(classes.len(), 7);
    let mean = metadata_value(&model, "mean").unwrap();
    assert_eq!(mean, "[0.485,0.456,0.406]");
}

#[test]
fn darts_table_rejects_choke_genotype() {
    let (_dir, out) = scratch_out();
    let args = [
        "--onnx",
        "--genotype",
        "SHARP_DARTS",
        "--ops",
        "darts",
        "--init-channels",
        "8",
        "--layers",
        "5",
        "--out",
        &out,
    ];
    let output = export_command(&args);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("invalid --ops darts"), "{message}");
    assert!(message.contains("use --ops sharp"), "{message}");
    assert!(!Path::new(&out).exists());
}

#[test]
fn darts_table_changes_the_exported_network() {
    let sizes: Vec<String> = ["sharp", "darts"]
        .iter()
        .map(|table| {
            let (_dir, out) = scratch_out();
            let args = [
                "--onnx",
                "--genotype",
                "DARTS",
                "--ops",
                table,
                "--init-channels",
                "36",
                "--layers",
                "20",
                "--out",
                &out,
            ];
            let output = export_command(&args);
            assert!(output.status.success(), "{}", stderr(&output));
            let model = ModelProto::parse_from_bytes(&std::fs::read(&out).unwrap()).unwrap();
            metadata_value(&model, "params").unwrap()
        })
        .collect();
    // The published sizes of DARTS at 36 x 20 with either table.
    assert_eq!(sizes, ["3529270", "3349342"]);
}

#[test]
fn genotype_list_matches_the_models_counts() {
    let output = export_command(&["--list-genotypes", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), models::genotype::named_genotypes().len());
    let row = rows
        .iter()
        .find(|row| {
            row["aliases"]
                .as_array()
                .unwrap()
                .contains(&"SHARPSEPCONV_DARTS".into())
        })
        .expect("SHARPSEPCONV_DARTS is listed by its alias");
    assert_eq!(row["primitives"], "DARTS_PRIMITIVES");
    assert_eq!(row["cifar10"]["params"], 3_555_622);
    assert_eq!(row["cifar10"]["macs"], 578_604_672);
    assert_eq!(row["imagenet"]["params"], 4_973_728);
    assert_eq!(row["imagenet"]["macs"], 572_981_376);

    let table = export_command(&["--list-genotypes"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8(table.stdout).unwrap();
    for named in models::genotype::named_genotypes() {
        assert!(
            text.contains(&named.name),
            "{} missing:\n{text}",
            named.name
        );
    }
    let rejected = export_command(&["--list-genotypes", "--genotype", "DARTS"]);
    assert_eq!(rejected.status.code(), Some(2));
}

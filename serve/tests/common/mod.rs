//! Shared helpers: exported models, the real data folder and the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use models::{Genotype, ModelFile, NetworkConfig};

/// Returns the folder of real data sets beside the workspace (CIFAR-10 as
/// JPEG and binary). Panics when it is missing, because these tests check
/// behaviour on real images.
pub fn shared_data() -> PathBuf {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"));
    assert!(
        path.join("cifar10/test").is_dir() && path.join("cifar-10-batches-bin").is_dir(),
        "real data not found at {}: expected cifar10/test and cifar-10-batches-bin inside",
        path.display()
    );
    path
}

/// Returns the path of a real CIFAR-10 test JPEG, such as `test_image("cat", 0)`.
pub fn test_image(class: &str, index: usize) -> PathBuf {
    let path = shared_data().join(format!("cifar10/test/{class}/{index:04}.jpg"));
    assert!(path.is_file(), "{} missing", path.display());
    path
}

/// Builds the `model.json` contents of a CIFAR-10 network of a built-in genotype.
pub fn model_file(genotype: &str, init_channels: usize, layers: usize) -> ModelFile {
    let resolved = Genotype::resolve(genotype).unwrap();
    let config = NetworkConfig::cifar10(init_channels, layers);
    ModelFile::cifar10(Some(genotype.to_owned()), resolved, config)
}

/// Exports `file` with seeded random weights and full metadata to `dir/name`.
pub fn export_model(dir: &Path, name: &str, file: &ModelFile, seed: u64) -> PathBuf {
    let graph = file.graph().unwrap();
    let weights = export::Weights::random(&graph, seed);
    let proto = export::onnx::build_model_file(file, &weights).unwrap();
    let path = dir.join(name);
    export::onnx::write_model(&path, &proto).unwrap();
    path
}

/// Exports a small DARTS network (4 channels, 3 cells) to `dir/model.onnx`.
pub fn small_model(dir: &Path) -> PathBuf {
    export_model(dir, "model.onnx", &model_file("DARTS", 4, 3), 1)
}

/// Exports the graph of `file` with no `metadata_props` at all.
pub fn model_without_metadata(dir: &Path, file: &ModelFile) -> PathBuf {
    let graph = file.graph().unwrap();
    let weights = export::Weights::random(&graph, 1);
    let proto = export::onnx::build_model(&graph, &weights, &[]).unwrap();
    let path = dir.join("bare.onnx");
    export::onnx::write_model(&path, &proto).unwrap();
    path
}

/// Builds a command that runs the `serve` binary with `args`.
pub fn serve(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_serve"));
    command.args(args);
    command
}

/// Runs a command and returns its output.
pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("failed to start {command:?}: {e}"))
}

/// Formats the status, stdout and stderr of a finished command for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Parses standard output as JSON, failing with the whole output.
pub fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", describe(output)))
}

/// Asserts a clean failure: non-zero exit, no panic, and stderr containing
/// every one of `needles`.
pub fn assert_clean_failure(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure\n{}",
        describe(output)
    );
    assert_ne!(
        output.status.code(),
        Some(101),
        "exit code 101 is a panic\n{}",
        describe(output)
    );
    assert!(!stderr.contains("panicked"), "panic\n{}", describe(output));
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks `{needle}`\n{}",
            describe(output)
        );
    }
}

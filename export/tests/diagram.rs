//! `export --diagram`: the files it writes, their names, and its errors.

use std::path::Path;
use std::process::{Command, Output};

use models::{cell_dot, cell_svg, CellKind, Genotype, ModelFile, NetworkConfig};

fn export_command(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_export"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the export binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Checks that `folder` contains exactly the four diagram files of `name`,
/// with the text the library renders for `genotype`.
fn assert_diagrams(folder: &Path, name: &str, genotype: &Genotype) {
    let mut found: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut expected = Vec::new();
    for kind in CellKind::ALL {
        let dot = folder.join(format!("{name}_{}.dot", kind.name()));
        let svg = folder.join(format!("{name}_{}.svg", kind.name()));
        assert_eq!(
            std::fs::read_to_string(&dot).unwrap(),
            cell_dot(genotype, kind)
        );
        assert_eq!(
            std::fs::read_to_string(&svg).unwrap(),
            cell_svg(genotype, kind)
        );
        expected.push(format!("{name}_{}.dot", kind.name()));
        expected.push(format!("{name}_{}.svg", kind.name()));
    }
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn named_genotype_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("diagrams/new");
    let args = [
        "--diagram",
        "--genotype",
        "SHARPSEPCONV_DARTS",
        "--out",
        path_arg(&out),
    ];
    let output = Command::new(env!("CARGO_BIN_EXE_export"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    assert_diagrams(&out, "SHARPSEPCONV_DARTS", &genotype);
    let log = stderr(&output);
    assert_eq!(log.matches("wrote a cell diagram").count(), 4, "{log}");
    assert!(log.contains("SHARPSEPCONV_DARTS_reduction.svg"), "{log}");
}

#[test]
fn genotype_file_named_by_stem() {
    let dir = tempfile::tempdir().unwrap();
    let mut genotype = Genotype::resolve("DARTS").unwrap();
    genotype.normal_concat = vec![1, 4, 5];
    let file = dir.path().join("my_cell.json");
    std::fs::write(&file, genotype.to_json()).unwrap();
    let out = dir.path().join("out");
    let output = export_command(&[
        "--diagram",
        "--genotype",
        path_arg(&file),
        "--out",
        path_arg(&out),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_diagrams(&out, "my_cell", &genotype);
    let dot = std::fs::read_to_string(out.join("my_cell_normal.dot")).unwrap();
    assert!(dot.contains("\"input_1\" -> \"output\";"), "{dot}");
}

#[test]
fn run_directory_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let genotype = Genotype::resolve("NASNet").unwrap();
    let file = ModelFile::cifar10(
        Some("NASNet".into()),
        genotype.clone(),
        NetworkConfig::cifar10(8, 5),
    );
    std::fs::write(dir.path().join("model.json"), file.to_json()).unwrap();
    let out = dir.path().join("diagrams");
    // Drawing needs only model.json, so the run has no weights file.
    let output = export_command(&[
        "--diagram",
        "--run",
        path_arg(dir.path()),
        "--out",
        path_arg(&out),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_diagrams(&out, "NASNet", &genotype);
}

#[test]
fn unnamed_run_uses_folder_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run-7");
    std::fs::create_dir(&run).unwrap();
    let genotype = Genotype::resolve("DARTS_V1").unwrap();
    let file = ModelFile::cifar10(None, genotype.clone(), NetworkConfig::cifar10(8, 5));
    std::fs::write(run.join("model.json"), file.to_json()).unwrap();
    let out = dir.path().join("out");
    let output = export_command(&[
        "--diagram",
        "--run",
        path_arg(&run),
        "--out",
        path_arg(&out),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_diagrams(&out, "run-7", &genotype);
}

#[test]
fn onnx_and_diagram_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = export_command(&[
        "--onnx",
        "--diagram",
        "--genotype",
        "DARTS",
        "--out",
        path_arg(&out),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("--onnx"), "{message}");
    assert!(message.contains("--diagram"), "{message}");
    assert!(message.contains("cannot be used with"), "{message}");
    assert!(!out.exists(), "nothing written");

    let output = export_command(&["--genotype", "DARTS", "--out", path_arg(&out)]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("--onnx"), "{message}");
    assert!(message.contains("--diagram"), "{message}");
}

#[test]
fn network_options_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = [
        "--diagram",
        "--genotype",
        "DARTS",
        "--layers",
        "8",
        "--out",
        path_arg(&out),
    ];
    let output = export_command(&args);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("--layers"), "{message}");
    assert!(message.contains("--diagram"), "{message}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn onnx_genotype_needs_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.onnx");
    let output = export_command(&["--onnx", "--genotype", "DARTS", "--out", path_arg(&out)]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("required arguments"), "{message}");
    assert!(message.contains("--init-channels"), "{message}");
    assert!(message.contains("--layers"), "{message}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn out_file_in_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("taken");
    std::fs::write(&out, "a file, not a folder").unwrap();
    let output = export_command(&["--diagram", "--genotype", "DARTS", "--out", path_arg(&out)]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.starts_with("error: "), "{message}");
    assert!(message.contains("not a folder"), "{message}");
    assert!(message.contains("taken"), "{message}");
}

#[test]
fn unknown_genotype_lists_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = export_command(&[
        "--diagram",
        "--genotype",
        "NOT_A_CELL",
        "--out",
        path_arg(&out),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("NOT_A_CELL"), "{message}");
    assert!(message.contains("SHARPSEPCONV_DARTS"), "{message}");
    assert!(!out.exists(), "no folder after a failed call");
}

#[test]
fn missing_model_json_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = export_command(&[
        "--diagram",
        "--run",
        path_arg(dir.path()),
        "--out",
        path_arg(&out),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("model.json"), "{message}");
}

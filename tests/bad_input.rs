//! Bad input gets a clear error and a non-zero exit from every command, never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use sharpdarts::{assert_clean_failure, binary, describe, run, shared_data};

fn command(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary(name));
    command.args(args);
    command
}

/// Exports a small model with fresh weights and returns its path.
fn fresh_model(dir: &Path) -> PathBuf {
    let path = dir.join("fresh.onnx");
    let output = run(command(
        "export",
        &[
            "--onnx",
            "--genotype",
            "DARTS",
            "--init-channels",
            "4",
            "--layers",
            "3",
            "--out",
        ],
    )
    .arg(&path));
    assert!(
        output.status.success(),
        "export failed\n{}",
        describe(&output)
    );
    path
}

#[test]
fn predict_missing_model_file() {
    let image = shared_data().join("cifar10/test/cat/0000.jpg");
    let output = run(command("serve", &["predict", "no-such-model.onnx"]).arg(&image));
    assert_clean_failure(&output, &["no-such-model.onnx"]);
}

#[test]
fn info_truncated_onnx_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = fresh_model(dir.path());
    let bytes = std::fs::read(&model).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let output = run(command("serve", &["info"]).arg(&truncated));
    assert_clean_failure(&output, &["truncated.onnx"]);
    let output = run(command("serve", &["predict"]).arg(&truncated).arg(&model));
    assert_clean_failure(&output, &["truncated.onnx"]);
}

#[test]
fn predict_corrupt_and_fake_images() {
    let dir = tempfile::tempdir().unwrap();
    let model = fresh_model(dir.path());
    let real = shared_data().join("cifar10/test/dog/0000.jpg");
    let jpeg = std::fs::read(&real).unwrap();
    let corrupt = dir.path().join("corrupt.jpg");
    std::fs::write(&corrupt, &jpeg[..jpeg.len() / 3]).unwrap();
    let fake = dir.path().join("notes.png");
    std::fs::write(&fake, "this is a text file, not a picture\n").unwrap();

    let mut predict = command("serve", &["predict"]);
    let output = run(predict.arg(&model).arg(&fake).arg(&real).arg(&corrupt));
    assert_clean_failure(&output, &["notes.png", "corrupt.jpg"]);
    // The good image between the two bad ones is still classified.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("0000.jpg"),
        "the valid image is reported\n{}",
        describe(&output)
    );
}

#[test]
fn genotype_with_unknown_op() {
    let dir = tempfile::tempdir().unwrap();
    let genotype = models::Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let text = genotype
        .to_json()
        .replacen("sep_conv_3x3", "warp_conv_3x3", 1);
    let file = dir.path().join("genotype.json");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("model.onnx");

    let mut export = command(
        "export",
        &["--onnx", "--init-channels", "4", "--layers", "3"],
    );
    let output = run(export.arg("--genotype").arg(&file).arg("--out").arg(&out));
    assert_clean_failure(&output, &["warp_conv_3x3", "normal[0]"]);
    assert!(!out.exists(), "no output file after a failed export");

    let data = shared_data().join("cifar10");
    let mut train = command("train", &["final", "--genotype"]);
    let run_dir = dir.path().join("run");
    let output = run(train
        .arg(&file)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&run_dir));
    assert_clean_failure(&output, &["warp_conv_3x3"]);
}

#[test]
fn data_folder_of_wrong_layout() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("not-cifar");
    std::fs::create_dir_all(wrong.join("images")).unwrap();
    std::fs::write(wrong.join("images/readme.txt"), "nothing here").unwrap();
    let run_dir = dir.path().join("run");

    let mut train = command("train", &["final", "--genotype", "DARTS", "--data"]);
    let output = run(train.arg(&wrong).arg("--out").arg(&run_dir));
    assert_clean_failure(&output, &["not-cifar", "test_batch.bin", "train/"]);

    let model = fresh_model(dir.path());
    let mut eval = command("serve", &["eval"]);
    let output = run(eval.arg(&model).arg("--data").arg(&wrong));
    assert_clean_failure(&output, &["not-cifar", "test_batch.bin"]);

    let missing = dir.path().join("missing-folder");
    let mut eval = command("serve", &["eval"]);
    let output = run(eval.arg(&model).arg("--data").arg(&missing));
    assert_clean_failure(&output, &["missing-folder"]);
}

#[test]
fn export_missing_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-run-here");
    let mut export = command("export", &["--onnx", "--run"]);
    let output = run(export
        .arg(&missing)
        .arg("--out")
        .arg(dir.path().join("m.onnx")));
    assert_clean_failure(&output, &["no-run-here"]);
}

#[test]
fn eval_of_only_unreadable_images_fails() {
    let dir = tempfile::tempdir().unwrap();
    let model = fresh_model(dir.path());
    let data = dir.path().join("broken");
    for class in ["airplane", "cat"] {
        std::fs::create_dir_all(data.join(class)).unwrap();
        std::fs::write(data.join(class).join("0.jpg"), b"\xff\xd8 not a JPEG").unwrap();
    }
    let mut eval = command("serve", &["eval"]);
    let output = run(eval.arg(&model).arg("--data").arg(&data));
    assert_clean_failure(&output, &["no image of", "2 skipped"]);
}

#[test]
fn predict_skips_an_image_it_cannot_resize() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("imagenet.onnx");
    let output = run(command(
        "export",
        &[
            "--onnx",
            "--genotype",
            "DARTS",
            "--dataset",
            "imagenet",
            "--init-channels",
            "4",
            "--layers",
            "3",
            "--num-classes",
            "3",
            "--out",
        ],
    )
    .arg(&model));
    assert!(
        output.status.success(),
        "export failed\n{}",
        describe(&output)
    );

    // A 1 x 20000 image: resizing its shorter side to 256 pixels would need
    // over a billion pixels.
    let tall = dir.path().join("tall.png");
    ::image::RgbImage::new(1, 20_000).save(&tall).unwrap();
    let photo = shared_data().join("cifar10/test/cat/0000.jpg");
    let mut predict = command("serve", &["predict", "--json"]);
    let output = run(predict.arg(&model).arg(&tall).arg(&photo));

    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["results"].as_array().unwrap().len(),
        1,
        "the good image is classified"
    );
    let error = json["errors"][0]["error"].as_str().unwrap();
    assert!(error.contains("1x20000"), "{error}");
    assert!(json["errors"][0]["image"]
        .as_str()
        .unwrap()
        .ends_with("tall.png"));
}

//! How `serve predict` picks its model: a first argument ending in `.onnx`,
//! `--model FILE`, or the bundled CIFAR-10 model.

mod common;

use std::path::Path;

use common::{assert_clean_failure, describe, run, serve, small_model, stdout_json, test_image};

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn model_option_accepts_any_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let renamed = dir.path().join("network.bin");
    std::fs::rename(&model, &renamed).unwrap();
    let image = test_image("ship", 3);

    let mut command = serve(&["predict", "--json", "--model", path_str(&renamed)]);
    let output = run(command.arg(&image));
    assert!(output.status.success(), "{}", describe(&output));
    let json = stdout_json(&output);
    assert_eq!(json["model"], path_str(&renamed));
    assert_eq!(json["results"][0]["image"], path_str(&image));
}

#[test]
fn model_without_images_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let output = run(&mut serve(&["predict", path_str(&model)]));
    assert_clean_failure(&output, &["no image given", "model.onnx"]);
}

/// Without a model argument the bundled model classifies the images; where
/// the checkout has no bundled model the error names the file it looked for.
#[test]
fn images_alone_use_the_bundled_model() {
    let images: Vec<_> = ["airplane", "cat", "ship", "truck"]
        .iter()
        .map(|class| test_image(class, 0))
        .collect();
    let mut command = serve(&["predict", "--json"]);
    let output = run(command.args(&images));
    let bundled = "sharpsepconv_darts_cifar10_16x8.onnx";
    if output.status.success() {
        let json = stdout_json(&output);
        assert!(json["model"].as_str().unwrap().ends_with(bundled), "{json}");
        assert_eq!(json["results"].as_array().unwrap().len(), images.len());
    } else {
        assert_clean_failure(&output, &[bundled, "serve predict MODEL.onnx IMAGE"]);
    }
}

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

const BUNDLED: &str = "sharpsepconv_darts_cifar10_16x8.onnx";
const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Path of the shipped model in the checkout.
fn bundled_model() -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/trained")
        .join(BUNDLED);
    assert!(
        path.is_file(),
        "the shipped model {} is missing",
        path.display()
    );
    path
}

/// Without a model argument the shipped model classifies the images, and
/// classifies real CIFAR-10 test photos well: its model card reports 80.8 %
/// on the whole test split, so 20 photos per class must reach 70 %.
#[test]
fn images_alone_use_the_bundled_model() {
    let bundled = bundled_model();
    let per_class = 20;
    let images: Vec<_> = CLASSES
        .iter()
        .flat_map(|class| (0..per_class).map(move |index| test_image(class, index * 7)))
        .collect();
    let mut command = serve(&["predict", "--json", "--top-k", "1"]);
    let output = run(command.args(&images));
    assert!(output.status.success(), "{}", describe(&output));
    let json = stdout_json(&output);
    let model = Path::new(json["model"].as_str().unwrap());
    assert_eq!(
        model.canonicalize().unwrap(),
        bundled.canonicalize().unwrap()
    );

    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), images.len());
    let correct = results
        .iter()
        .filter(|result| {
            let image = Path::new(result["image"].as_str().unwrap());
            let label = image.parent().unwrap().file_name().unwrap();
            result["predictions"][0]["class"].as_str() == label.to_str()
        })
        .count();
    let accuracy = correct as f64 / images.len() as f64;
    assert!(
        accuracy >= 0.7,
        "{correct} of {} photos right",
        images.len()
    );
}

/// The shipped model carries the metadata of a `train final` run: its
/// genotype (SHARPSEPCONV_DARTS under its canonical name), the CIFAR-10 class
/// names and the published counts of 16 channels and 8 cells.
#[test]
fn bundled_model_describes_itself() {
    let bundled = bundled_model();
    let output = run(&mut serve(&["info", "--json", path_str(&bundled)]));
    assert!(output.status.success(), "{}", describe(&output));
    let info = stdout_json(&output);
    assert_eq!(info["params"], 264_634);
    assert_eq!(info["macs"], 49_539_584);
    assert_eq!(info["graph"]["params_published"], 264_634);
    let metadata = &info["metadata"];
    assert_eq!(metadata["genotype_name"], "DARTS_PRIMITIVES_DIL_IS_SEPCONV");
    let classes: Vec<String> = serde_json::from_str(metadata["classes"].as_str().unwrap()).unwrap();
    assert_eq!(classes, CLASSES);
}

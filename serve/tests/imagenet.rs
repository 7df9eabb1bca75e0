//! ImageNet-style preprocessing (`resize_shorter` metadata) and evaluation
//! of ImageNet folders, on real ImageNet photos.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::{
    assert_clean_failure, describe, model_file, run, serve, shared_data, small_model, stdout_json,
    test_image,
};
use data::image::load_rgb;
use data::imagenet::EvalTransform;
use data::{normalize_chw, ImageTransform, Normalization};
use serve::eval::evaluate_files;
use serve::predict::{normalization, preprocess, softmax, Preprocessing};
use serve::{classify, evaluate, OnnxModel, RunOptions, ServeError};

/// The first ten synsets of the photo folder, in sorted order: the classes
/// of the test models.
const SYNSETS: [&str; 10] = [
    "n01443537",
    "n01484850",
    "n01514859",
    "n01558993",
    "n01580077",
    "n01608432",
    "n01667778",
    "n01693334",
    "n01729322",
    "n01768244",
];

fn photo(synset: &str) -> PathBuf {
    let dir = shared_data().join("imagenet-samples");
    let prefix = format!("{synset}_");
    let found = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        });
    found.unwrap_or_else(|| panic!("no photo of {synset} in {}", dir.display()))
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Exports a small DARTS network (32x32 input, 10 classes) whose metadata
/// names the classes `classes`, uses ImageNet statistics and, if given,
/// carries `resize_shorter`.
fn export_model(dir: &Path, classes: &[&str], resize_shorter: Option<&str>) -> PathBuf {
    let file = model_file("DARTS", 4, 3);
    let graph = file.graph().unwrap();
    let weights = export::Weights::random(&graph, 5);
    let mut metadata: Vec<(String, String)> = export::onnx::model_metadata(&file, &graph)
        .into_iter()
        .filter(|(key, _)| !["classes", "mean", "std"].contains(&key.as_str()))
        .collect();
    let imagenet = Normalization::IMAGENET;
    metadata.push(("classes".into(), serde_json::to_string(classes).unwrap()));
    metadata.push((
        "mean".into(),
        serde_json::to_string(&imagenet.mean).unwrap(),
    ));
    metadata.push(("std".into(), serde_json::to_string(&imagenet.std).unwrap()));
    if let Some(value) = resize_shorter {
        metadata.push(("resize_shorter".into(), value.into()));
    }
    let proto = export::onnx::build_model(&graph, &weights, &metadata).unwrap();
    let path = dir.join(format!(
        "imagenet-{}.onnx",
        resize_shorter.unwrap_or("none")
    ));
    export::onnx::write_model(&path, &proto).unwrap();
    path
}

fn open(path: &Path) -> OnnxModel {
    OnnxModel::open(path, &RunOptions::default()).unwrap()
}

/// Builds `root/{train,val}/<synset>/` for the first `classes` synsets by
/// symlink. Each class folder contains its photo, and each val folder also
/// contains the photo of the next class, so not every prediction can be right.
fn build_imagenet(root: &Path, classes: usize) {
    for (k, synset) in SYNSETS[..classes].iter().enumerate() {
        for split in ["train", "val"] {
            let dir = root.join(split).join(synset);
            fs::create_dir_all(&dir).unwrap();
            symlink(photo(synset), dir.join(format!("{synset}_0.JPEG"))).unwrap();
        }
        let other = SYNSETS[(k + 1) % SYNSETS.len()];
        let dir = root.join("val").join(synset);
        symlink(photo(other), dir.join(format!("{synset}_1.jpg"))).unwrap();
    }
}

#[test]
fn preprocessing_resizes_shorter_side_and_crops() {
    let dir = tempfile::tempdir().unwrap();
    let model = open(&export_model(dir.path(), &SYNSETS, Some("36")));
    assert_eq!(model.metadata().resize_shorter, Some(36));
    let preprocessing = Preprocessing::from_model(&model).unwrap();
    let expected_transform = EvalTransform::new(36, 32, 32).unwrap();
    assert_eq!(
        preprocessing.transform,
        ImageTransform::Eval(expected_transform)
    );
    assert_eq!(preprocessing.input_size(), [3, 32, 32]);

    let norm = normalization(&model).unwrap();
    for synset in ["n01443537", "n01608432"] {
        let image = load_rgb(&photo(synset)).unwrap();
        let input = preprocessing.apply(&image).unwrap();
        let cropped = expected_transform.apply(&image).unwrap();
        let expected = normalize_chw(cropped.as_raw(), 32, 32, norm.mean, norm.std);
        assert_eq!(input, expected, "{synset}");
        let squeezed = preprocess(&image, [3, 32, 32], &norm);
        assert_ne!(input, squeezed, "{synset}: same as a direct resize");
    }
}

#[test]
fn preprocessing_without_key_resizes_directly() {
    let dir = tempfile::tempdir().unwrap();
    let model = open(&small_model(dir.path()));
    assert_eq!(model.metadata().resize_shorter, None);
    let preprocessing = Preprocessing::from_model(&model).unwrap();
    let image = load_rgb(&photo("n01443537")).unwrap();
    let norm = normalization(&model).unwrap();
    let expected = preprocess(&image, [3, 32, 32], &norm);
    assert_eq!(preprocessing.apply(&image).unwrap(), expected);
}

#[test]
fn metadata_rejects_invalid_resize_shorter() {
    let dir = tempfile::tempdir().unwrap();
    for (value, reason) in [
        ("0", "expected at least 32"),
        ("31", "expected at least 32"),
        ("abc", "non-negative decimal integer"),
        ("70000", "at most 65535"),
    ] {
        let path = export_model(dir.path(), &SYNSETS, Some(value));
        let error = OnnxModel::open(&path, &RunOptions::default()).unwrap_err();
        assert!(
            matches!(error, ServeError::InvalidMetadata { .. }),
            "{value}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("resize_shorter"), "{value}: {message}");
        assert!(message.contains(reason), "{value}: {message}");
    }
}

#[test]
fn classify_uses_resize_shorter() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = open(&export_model(dir.path(), &SYNSETS, Some("36")));
    let images: Vec<_> = SYNSETS[..3]
        .iter()
        .map(|synset| load_rgb(&photo(synset)).unwrap())
        .collect();
    let results = classify(&mut model, &images, 10).unwrap();

    let preprocessing = Preprocessing::from_model(&model).unwrap();
    for (image, predictions) in images.iter().zip(&results) {
        let logits = model.run(&preprocessing.apply(image).unwrap(), 1).unwrap();
        let probabilities = softmax(&logits);
        for prediction in predictions {
            let expected = probabilities[prediction.index];
            assert!(
                (prediction.probability - expected).abs() < 1e-6,
                "{}: {} != {expected}",
                prediction.class,
                prediction.probability
            );
            assert_eq!(prediction.class, SYNSETS[prediction.index]);
        }
    }
}

#[test]
fn evaluate_files_matches_classify() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imagenet");
    build_imagenet(&root, 4);
    let mut model = open(&export_model(dir.path(), &SYNSETS, Some("36")));
    let files = data::imagenet::open_split(&root, data::imagenet::Split::Val).unwrap();
    let mut progress = Vec::new();
    let (report, skipped) =
        evaluate_files(&mut model, &files, 3, |done| progress.push(done)).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(progress, [3, 6, 8]);
    assert_eq!(report.images, 8);
    let classes: Vec<&str> = report.per_class.iter().map(|c| c.class.as_str()).collect();
    assert_eq!(classes, SYNSETS[..4]);

    let mut expected_top1 = vec![0; 4];
    let mut expected_top5 = 0;
    for (path, label) in &files.samples {
        let image = load_rgb(path).unwrap();
        let top = &classify(&mut model, &[image], 5).unwrap()[0];
        let class = &files.classes[usize::from(*label)];
        if &top[0].class == class {
            expected_top1[usize::from(*label)] += 1;
        }
        if top.iter().any(|p| &p.class == class) {
            expected_top5 += 1;
        }
    }
    let top1: Vec<usize> = report.per_class.iter().map(|c| c.correct).collect();
    assert_eq!(top1, expected_top1);
    assert_eq!(report.correct_top1, expected_top1.iter().sum::<usize>());
    assert_eq!(report.correct_top5, expected_top5);
}

#[test]
fn evaluate_rejects_resized_dataset_for_resize_shorter() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = open(&export_model(dir.path(), &SYNSETS, Some("36")));
    let dataset = data::cifar10::load(
        &shared_data().join("cifar-10-batches-bin"),
        data::cifar10::Split::Test,
    )
    .unwrap();
    let subset = data::subset::balanced(&dataset, 10, 0);
    let error = evaluate(&mut model, &subset, 8, |_| {}).unwrap_err();
    assert!(
        matches!(error, ServeError::DatasetMismatch { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("resize_shorter"), "{error}");
}

#[test]
fn eval_reads_imagenet_val_split() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imagenet");
    build_imagenet(&root, 4);
    let broken = root.join("val").join(SYNSETS[2]).join("broken.JPEG");
    fs::write(&broken, "not a JPEG").unwrap();
    let model = export_model(dir.path(), &SYNSETS, Some("36"));
    let args = [
        "eval",
        path_str(&model),
        "--data",
        path_str(&root),
        "--json",
    ];
    let output = run(&mut serve(&args));
    assert!(output.status.success(), "{}", describe(&output));
    let eval = stdout_json(&output);
    assert_eq!(eval["split"], "val");
    assert_eq!(eval["images"].as_u64(), Some(8));
    assert_eq!(eval["split_images"].as_u64(), Some(9));
    assert_eq!(eval["resize_shorter"].as_u64(), Some(36));
    let skipped = eval["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].as_str().unwrap().ends_with("broken.JPEG"),
        "{skipped:?}"
    );
    let per_class = eval["per_class"].as_array().unwrap();
    let classes: Vec<&str> = per_class
        .iter()
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, SYNSETS[..4]);
    let images: Vec<u64> = per_class
        .iter()
        .map(|c| c["images"].as_u64().unwrap())
        .collect();
    assert_eq!(images, [2, 2, 2, 2]);

    let output = run(serve(&args[..4]).args(["--split", "train", "--json"]));
    assert!(output.status.success(), "{}", describe(&output));
    let eval = stdout_json(&output);
    assert_eq!(eval["split"], "train");
    assert_eq!(eval["images"].as_u64(), Some(4));
}

#[test]
fn eval_text_shows_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imagenet");
    build_imagenet(&root, 3);
    let table = shared_data().join("imagenet_classes.tsv");
    symlink(&table, root.join("imagenet_classes.tsv")).unwrap();
    let model = export_model(dir.path(), &SYNSETS, Some("36"));
    let output = run(&mut serve(&[
        "eval",
        path_str(&model),
        "--data",
        path_str(&root),
    ]));
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "(val split)",
        "preprocess shorter side resized to 36, centre crop 32x32",
        "images     6 (0 skipped",
        "n01443537 goldfish",
        "n01484850 great white shark",
        "n01514859 hen",
    ] {
        assert!(text.contains(needle), "missing `{needle}`\n{text}");
    }
}

#[test]
fn eval_reads_folder_of_class_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imagenet");
    build_imagenet(&root, 3);
    let model = export_model(dir.path(), &SYNSETS, Some("36"));
    let val = root.join("val");
    let args = ["eval", path_str(&model), "--data", path_str(&val), "--json"];
    let output = run(serve(&args).args(["--limit-test", "3", "--seed", "1"]));
    assert!(output.status.success(), "{}", describe(&output));
    let eval = stdout_json(&output);
    assert!(eval["split"].is_null(), "{}", eval["split"]);
    assert_eq!(eval["split_images"].as_u64(), Some(6));
    assert_eq!(eval["images"].as_u64(), Some(3));
    let per_class = eval["per_class"].as_array().unwrap();
    let images: Vec<u64> = per_class
        .iter()
        .map(|c| c["images"].as_u64().unwrap())
        .collect();
    assert_eq!(images, [1, 1, 1], "class-balanced subset");
}

#[test]
fn eval_lists_unknown_class_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imagenet");
    build_imagenet(&root, 2);
    for split in ["train", "val"] {
        let unknown = root.join(split).join("n99999999");
        fs::create_dir_all(&unknown).unwrap();
        symlink(photo(SYNSETS[0]), unknown.join("a.JPEG")).unwrap();
    }
    let model = export_model(dir.path(), &SYNSETS, Some("36"));
    let output = run(&mut serve(&[
        "eval",
        path_str(&model),
        "--data",
        path_str(&root),
    ]));
    assert_clean_failure(
        &output,
        &["1 class folders are not classes of the model", "n99999999"],
    );
}

#[test]
fn eval_rejects_test_split_of_imagenet() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imagenet");
    build_imagenet(&root, 2);
    let model = export_model(dir.path(), &SYNSETS, Some("36"));
    let args = ["eval", path_str(&model), "--data", path_str(&root)];
    let output = run(serve(&args).args(["--split", "test"]));
    assert_clean_failure(&output, &["has no test split", "--split val"]);
}

#[test]
fn eval_cifar_folder_with_resize_shorter_reads_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cifar10");
    for class in data::cifar10::CLASSES {
        let class_dir = root.join("test").join(class);
        fs::create_dir_all(&class_dir).unwrap();
        for index in 0..2 {
            symlink(
                test_image(class, index),
                class_dir.join(format!("{index}.jpg")),
            )
            .unwrap();
        }
    }
    let model = export_model(dir.path(), &data::cifar10::CLASSES, Some("36"));
    let args = [
        "eval",
        path_str(&model),
        "--data",
        path_str(&root),
        "--json",
    ];
    let output = run(&mut serve(&args));
    assert!(output.status.success(), "{}", describe(&output));
    let eval = stdout_json(&output);
    assert_eq!(eval["split"], "test");
    assert_eq!(eval["images"].as_u64(), Some(20));
    assert_eq!(eval["resize_shorter"].as_u64(), Some(36));
}

#[test]
fn predict_uses_resize_shorter() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), &SYNSETS, Some("36"));
    let image = photo(SYNSETS[1]);
    let output = run(serve(&["predict", path_str(&model), "--json", "--top-k", "3"]).arg(&image));
    assert!(output.status.success(), "{}", describe(&output));
    let predicted = stdout_json(&output);
    let result = &predicted["results"][0]["predictions"];

    let mut model = open(&model);
    let decoded = load_rgb(&image).unwrap();
    let expected = &classify(&mut model, &[decoded], 3).unwrap()[0];
    for (got, want) in result.as_array().unwrap().iter().zip(expected) {
        assert_eq!(got["class"], want.class.as_str());
        let probability = got["probability"].as_f64().unwrap();
        assert!((probability - f64::from(want.probability)).abs() < 1e-6);
    }
}

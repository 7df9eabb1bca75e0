//! The ImageNet path through the binaries: `train final --dataset imagenet`
//! on a folder of real ImageNet photos, `export --onnx`, `serve eval` of the
//! validation folder and `serve predict` of one photo.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sharpdarts::{binary, run_ok, shared_data};

const CLASSES: usize = 8;

/// Links one photo per class into `root/train/<synset>/` and
/// `root/val/<synset>/`; returns the photo paths.
fn make_imagenet_folder(root: &Path) -> Vec<PathBuf> {
    let samples = shared_data().join("imagenet-samples");
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&samples)
        .unwrap_or_else(|e| panic!("{}: {e}", samples.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    photos.sort();
    photos.truncate(CLASSES);
    for photo in &photos {
        let name = photo.file_name().unwrap().to_string_lossy().into_owned();
        let synset = name.split('_').next().unwrap();
        for split in ["train", "val"] {
            let folder = root.join(split).join(synset);
            std::fs::create_dir_all(&folder).unwrap();
            std::os::unix::fs::symlink(photo, folder.join(&name)).unwrap();
        }
    }
    photos
}

#[test]
fn train_export_serve_on_imagenet_photos() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("imagenet");
    let photos = make_imagenet_folder(&data);
    let run_dir = work.path().join("run");
    run_ok(
        Command::new(binary("train")).args([
            "final",
            "--dataset",
            "imagenet",
            "--genotype",
            "SHARPSEPCONV_DARTS",
            "--data",
            data.to_str().unwrap(),
            "--out",
            run_dir.to_str().unwrap(),
            "--init-channels",
            "8",
            "--layers",
            "5",
            "--epochs",
            "2",
            "--warmup-epochs",
            "0",
            "--batch-size",
            "4",
            "--lr",
            "0.01",
            "--threads",
            "2",
        ]),
        "train final --dataset imagenet",
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("result.json")).unwrap())
            .unwrap();
    let best = result["best_test_accuracy"].as_f64().unwrap();

    let model = work.path().join("model.onnx");
    let model_arg = model.to_str().unwrap();
    run_ok(
        Command::new(binary("export")).args([
            "--onnx",
            "--run",
            run_dir.to_str().unwrap(),
            "--out",
            model_arg,
        ]),
        "export",
    );

    // The same resize, crop and weights give the same accuracy as training measured.
    let stdout = run_ok(
        Command::new(binary("serve")).args([
            "eval",
            model_arg,
            "--data",
            data.to_str().unwrap(),
            "--json",
        ]),
        "serve eval",
    );
    let eval: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(eval["images"].as_u64(), Some(CLASSES as u64));
    let served = eval["top1"].as_f64().unwrap();
    assert!(
        (served - best).abs() <= 1e-6,
        "serve eval {served}% vs training {best}%"
    );

    let stdout = run_ok(
        Command::new(binary("serve")).args(["info", model_arg, "--json"]),
        "serve info",
    );
    let info: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(info["params"], result["params"]);
    assert_eq!(info["graph"]["params_published"], result["params"]);
    assert_eq!(info["graph"]["macs_published"], result["macs"]);

    let stdout = run_ok(
        Command::new(binary("serve"))
            .args(["predict", model_arg, "--json", "--top-k", "3"])
            .arg(&photos[0]),
        "serve predict",
    );
    let predictions: Value = serde_json::from_slice(&stdout).unwrap();
    let top = predictions["results"][0]["predictions"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let classes: Vec<String> = std::fs::read_dir(data.join("val"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for prediction in top {
        let class = prediction["class"].as_str().unwrap();
        assert!(
            classes.iter().any(|c| c == class),
            "{class} is not a class folder"
        );
    }
}

//! The `serve` binary: output formats, real images and clean failures.

mod common;

use std::path::Path;

use common::{
    assert_clean_failure, describe, export_model, model_file, model_without_metadata, run, serve,
    shared_data, small_model, stdout_json, test_image,
};
use image::{DynamicImage, ImageBuffer, Luma, Rgb};
use serde_json::Value;

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `serve predict --json --top-k 10` and returns the JSON document.
fn predict_json(model: &Path, images: &[&Path]) -> (std::process::Output, Value) {
    let mut command = serve(&["predict", path_str(model), "--json", "--top-k", "10"]);
    command.args(images);
    let output = run(&mut command);
    let json = stdout_json(&output);
    (output, json)
}

/// Collects the probabilities of one predict result in class-index order.
fn probabilities_by_class(result: &Value) -> Vec<f64> {
    let mut by_class = vec![f64::NAN; 10];
    for prediction in result["predictions"].as_array().unwrap() {
        let index = prediction["index"].as_u64().unwrap() as usize;
        by_class[index] = prediction["probability"].as_f64().unwrap();
    }
    by_class
}

#[test]
fn info_json_counts_match_models() {
    let dir = tempfile::tempdir().unwrap();
    let file = model_file("SHARPSEPCONV_DARTS", 8, 5);
    let model = export_model(dir.path(), "m.onnx", &file, 4);
    let output = run(&mut serve(&["info", path_str(&model), "--json"]));
    assert!(output.status.success(), "{}", describe(&output));
    let info = stdout_json(&output);
    let graph = file.graph().unwrap();
    let counts = models::count_parameters(&graph);

    assert_eq!(
        info["params"].as_u64(),
        Some(counts.main as u64),
        "top-level integer"
    );
    assert_eq!(
        info["macs"].as_u64(),
        Some(models::count_macs(&graph)),
        "top-level integer"
    );
    assert_eq!(
        info["params_with_auxiliary"].as_u64(),
        Some(counts.with_auxiliary as u64)
    );
    assert_eq!(info["opset"].as_i64(), Some(17));
    assert_eq!(info["inputs"][0]["name"], "input");
    assert_eq!(
        info["inputs"][0]["shape"],
        serde_json::json!(["batch", 3, 32, 32])
    );
    assert_eq!(info["outputs"][0]["name"], "logits");
    assert_eq!(
        info["outputs"][0]["shape"],
        serde_json::json!(["batch", 10])
    );
    assert!(info["node_count"].as_u64().unwrap() > 0);
    assert_eq!(info["metadata"]["genotype_name"], "SHARPSEPCONV_DARTS");
    assert_eq!(info["metadata"]["params"], counts.main.to_string());
}

#[test]
fn info_text_shows_shapes_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let output = run(&mut serve(&["info", path_str(&model)]));
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("input: float [batch, 3, 32, 32]"), "{text}");
    assert!(text.contains("logits: float [batch, 10]"), "{text}");
    assert!(text.contains("opset         17 (ai.onnx)"), "{text}");
    assert!(text.contains("genotype_name: DARTS"), "{text}");
    assert!(text.contains("(without the auxiliary head)"), "{text}");
}

#[test]
fn predict_real_jpegs() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let images = [
        test_image("cat", 0),
        test_image("ship", 1),
        test_image("horse", 2),
    ];
    let paths: Vec<&Path> = images.iter().map(|p| p.as_path()).collect();
    let (output, json) = predict_json(&model, &paths);
    assert!(output.status.success(), "{}", describe(&output));

    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(json["errors"].as_array().unwrap().len(), 0);
    for (result, image) in results.iter().zip(&images) {
        assert_eq!(result["image"], path_str(image));
        let predictions = result["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), 10);
        let p: Vec<f64> = predictions
            .iter()
            .map(|t| t["probability"].as_f64().unwrap())
            .collect();
        assert!(
            p.windows(2).all(|w| w[0] >= w[1]),
            "sorted by probability: {p:?}"
        );
        let sum: f64 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
    }
}

#[test]
fn predict_text_lists_top_k() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let image = test_image("deer", 0);
    let output = run(serve(&["predict", path_str(&model), "--top-k", "2"]).arg(&image));
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "image line and two classes\n{text}");
    assert_eq!(lines[0], path_str(&image));
    assert!(lines[1].trim_start().starts_with("1. "), "{text}");
    assert!(lines[2].trim_start().starts_with("2. "), "{text}");
    assert!(lines[1].contains('%'), "{text}");
}

/// Writes PNG versions of one real JPEG: RGB, RGBA (opaque), 16-bit RGB,
/// grey, and the grey picture stored as RGB.
fn colour_variants(dir: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let rgb = image::open(test_image("airplane", 4)).unwrap().to_rgb8();
    let rgba = DynamicImage::ImageRgb8(rgb.clone()).to_rgba8();
    let rgb16 = ImageBuffer::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgb([u16::from(r) * 257, u16::from(g) * 257, u16::from(b) * 257])
    });
    let grey = DynamicImage::ImageRgb8(rgb.clone()).to_luma8();
    let grey_as_rgb = ImageBuffer::from_fn(grey.width(), grey.height(), |x, y| {
        let Luma([v]) = *grey.get_pixel(x, y);
        Rgb([v, v, v])
    });
    let grey16 = ImageBuffer::from_fn(grey.width(), grey.height(), |x, y| {
        Luma([u16::from(grey.get_pixel(x, y).0[0]) * 257])
    });

    let variants = vec![
        ("rgb", dir.join("rgb.png")),
        ("rgba", dir.join("rgba.png")),
        ("rgb16", dir.join("rgb16.png")),
        ("grey", dir.join("grey.png")),
        ("grey_as_rgb", dir.join("grey_as_rgb.png")),
        ("grey16", dir.join("grey16.png")),
    ];
    rgb.save(&variants[0].1).unwrap();
    rgba.save(&variants[1].1).unwrap();
    rgb16.save(&variants[2].1).unwrap();
    grey.save(&variants[3].1).unwrap();
    grey_as_rgb.save(&variants[4].1).unwrap();
    grey16.save(&variants[5].1).unwrap();
    variants
}

#[test]
fn predict_colour_types_agree() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let variants = colour_variants(dir.path());
    let paths: Vec<&Path> = variants.iter().map(|(_, p)| p.as_path()).collect();
    let (output, json) = predict_json(&model, &paths);
    assert!(output.status.success(), "{}", describe(&output));
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), variants.len());

    let probabilities: Vec<Vec<f64>> = results.iter().map(probabilities_by_class).collect();
    for (p, (name, _)) in probabilities.iter().zip(&variants) {
        let sum: f64 = p.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "{name}: probabilities sum to {sum}"
        );
    }
    // The same pixels in another colour type must give the same prediction.
    for (a, b) in [(0, 1), (0, 2), (3, 4), (3, 5)] {
        let (name_a, name_b) = (variants[a].0, variants[b].0);
        assert_eq!(
            results[a]["predictions"][0]["index"], results[b]["predictions"][0]["index"],
            "top class of {name_a} and {name_b}"
        );
        let difference = probabilities[a]
            .iter()
            .zip(&probabilities[b])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(
            difference < 1e-5,
            "{name_a} vs {name_b}: probabilities differ by {difference}"
        );
    }
    // Different pixels must change the probabilities, or the checks above prove nothing.
    let colour_vs_grey = probabilities[0]
        .iter()
        .zip(&probabilities[3])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(
        colour_vs_grey > 1e-4,
        "colour and grey differ by only {colour_vs_grey}"
    );
}

#[test]
fn predict_text_file_continues() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let fake = dir.path().join("notes.png");
    std::fs::write(&fake, "this is a text file, not a picture\n").unwrap();
    let real = test_image("bird", 0);

    let mut command = serve(&["predict", path_str(&model)]);
    let output = run(command.arg(&fake).arg(&real));
    assert_clean_failure(&output, &["notes.png", "1 of 2 images"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(path_str(&real)),
        "the valid image is reported\n{}",
        describe(&output)
    );

    let (output, json) = predict_json(&model, &[&fake, &real]);
    assert_clean_failure(&output, &["notes.png"]);
    assert_eq!(json["results"].as_array().unwrap().len(), 1);
    assert_eq!(json["errors"][0]["image"], path_str(&fake));
    assert!(json["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("not a PNG or JPEG"));
}

#[test]
fn predict_missing_model_file() {
    let image = test_image("cat", 0);
    let output = run(serve(&["predict", "no-such-model.onnx"]).arg(&image));
    assert_clean_failure(&output, &["no-such-model.onnx", "not found"]);
}

#[test]
fn truncated_model_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(small_model(dir.path())).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let image = test_image("cat", 0);

    let output = run(&mut serve(&["info", path_str(&truncated)]));
    assert_clean_failure(&output, &["truncated.onnx", "not a valid ONNX model"]);
    let output = run(serve(&["predict", path_str(&truncated)]).arg(&image));
    assert_clean_failure(&output, &["truncated.onnx", "not a valid ONNX model"]);
    let data = shared_data().join("cifar10");
    let output = run(&mut serve(&[
        "eval",
        path_str(&truncated),
        "--data",
        path_str(&data),
    ]));
    assert_clean_failure(&output, &["truncated.onnx"]);
}

#[test]
fn eval_subset_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let data = shared_data().join("cifar10");
    let args = [
        "eval",
        path_str(&model),
        "--data",
        path_str(&data),
        "--limit-test",
        "100",
    ];
    let output = run(serve(&args).args(["--seed", "3", "--batch-size", "32", "--json"]));
    assert!(output.status.success(), "{}", describe(&output));
    let eval = stdout_json(&output);

    assert_eq!(eval["images"].as_u64(), Some(100));
    assert_eq!(eval["skipped"].as_array().unwrap().len(), 0);
    let per_class = eval["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 10);
    let images: u64 = per_class
        .iter()
        .map(|c| c["images"].as_u64().unwrap())
        .sum();
    let correct: u64 = per_class
        .iter()
        .map(|c| c["correct"].as_u64().unwrap())
        .sum();
    assert_eq!(images, 100, "per-class counts sum to the total");
    assert_eq!(Some(correct), eval["correct_top1"].as_u64());
    let top1 = eval["top1"].as_f64().unwrap();
    assert!(
        (top1 - correct as f64).abs() < 1e-9,
        "100 images, so top-1 % equals the count"
    );
    assert!(eval["top5"].as_f64().unwrap() >= top1);
    assert!(eval["images_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(eval["seed"].as_u64(), Some(3));
}

/// The JPEG ImageFolder and the binary batch hold the same test images, so
/// the same subset gives the same per-class counts in both layouts.
#[test]
fn eval_layouts_select_same_subset() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let data = shared_data();
    let mut per_layout = Vec::new();
    for folder in ["cifar10", "cifar-10-batches-bin"] {
        let data = data.join(folder);
        let args = [
            "eval",
            path_str(&model),
            "--data",
            path_str(&data),
            "--limit-test",
            "50",
        ];
        let output = run(serve(&args).args(["--seed", "9", "--json"]));
        assert!(output.status.success(), "{}", describe(&output));
        let eval = stdout_json(&output);
        let counts: Vec<u64> = eval["per_class"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["images"].as_u64().unwrap())
            .collect();
        per_layout.push(counts);
    }
    assert_eq!(per_layout[0], vec![5; 10]);
    assert_eq!(per_layout[0], per_layout[1]);
}

#[test]
fn eval_text_reports_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let data = shared_data().join("cifar-10-batches-bin");
    let args = [
        "eval",
        path_str(&model),
        "--data",
        path_str(&data),
        "--limit-test",
        "20",
    ];
    let output = run(&mut serve(&args));
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "top-1",
        "top-5",
        "images     20",
        "images/s",
        "airplane",
        "truck",
    ] {
        assert!(text.contains(needle), "missing `{needle}`\n{text}");
    }
}

#[test]
fn eval_missing_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let missing = dir.path().join("missing-folder");
    let output = run(&mut serve(&[
        "eval",
        path_str(&model),
        "--data",
        path_str(&missing),
    ]));
    assert_clean_failure(&output, &["missing-folder", "not found"]);
}

#[test]
fn doctor_reports_runtime() {
    let output = run(&mut serve(&["doctor", "--json"]));
    assert!(output.status.success(), "{}", describe(&output));
    let doctor = stdout_json(&output);
    let version = doctor["onnxruntime_version"].as_str().unwrap();
    assert!(version.starts_with("1.31."), "{version}");
    assert!(Path::new(doctor["library"].as_str().unwrap()).is_file());
    let providers = doctor["compiled_providers"].as_array().unwrap();
    assert!(
        providers.iter().any(|p| p == "CPUExecutionProvider"),
        "{providers:?}"
    );
    assert_eq!(doctor["cpu"]["usable"], true);
    let cuda_usable = doctor["cuda"]["usable"].as_bool().unwrap();
    assert_eq!(doctor["cuda"]["problem"].is_null(), cuda_usable);
    assert!(doctor["default_intra_op_threads"].as_u64().unwrap() >= 1);
}

/// `--device cuda` runs only where doctor finds CUDA usable; elsewhere it
/// fails with the reason instead of running on the CPU.
#[test]
fn predict_cuda_matches_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let doctor = stdout_json(&run(&mut serve(&["doctor", "--json"])));
    let image = test_image("cat", 0);
    let output = run(serve(&["predict", path_str(&model), "--device", "cuda"]).arg(&image));
    if doctor["cuda"]["usable"] == true {
        assert!(output.status.success(), "{}", describe(&output));
    } else {
        assert_clean_failure(
            &output,
            &["CUDA execution provider is unavailable", "--device cpu"],
        );
    }
}

#[test]
fn bad_runtime_path_lists_fix() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let image = test_image("cat", 0);
    let mut command = serve(&["predict", path_str(&model)]);
    command
        .arg(&image)
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so");
    let output = run(&mut command);
    assert_clean_failure(
        &output,
        &[
            "/nonexistent/libonnxruntime.so",
            "ORT_DYLIB_PATH",
            "scripts/setup.sh",
        ],
    );
}

#[test]
fn zero_top_k_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let image = test_image("cat", 0);
    let output = run(serve(&["predict", path_str(&model), "--top-k", "0"]).arg(&image));
    assert_clean_failure(&output, &["--top-k"]);
}

#[test]
fn model_without_metadata_messages() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_without_metadata(dir.path(), &model_file("DARTS", 4, 3));
    let output = run(&mut serve(&["info", path_str(&model)]));
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("parameters    unknown (no metadata)"),
        "{text}"
    );

    let output = run(&mut serve(&["info", path_str(&model), "--json"]));
    let info = stdout_json(&output);
    assert!(info["params"].is_null(), "{info}");
    assert!(info["macs"].is_null(), "{info}");

    let image = test_image("cat", 0);
    let output = run(serve(&["predict", path_str(&model)]).arg(&image));
    assert_clean_failure(&output, &["bare.onnx", "no `classes` metadata entry"]);
    let data = shared_data().join("cifar-10-batches-bin");
    let output = run(&mut serve(&[
        "eval",
        path_str(&model),
        "--data",
        path_str(&data),
    ]));
    assert_clean_failure(&output, &["bare.onnx", "no `mean` metadata entry"]);
}

/// Copies `per_class` real test JPEGs of every CIFAR-10 class into
/// `dir/cifar10/test/<class>/` and returns `dir/cifar10`.
fn small_image_folder(dir: &Path, per_class: usize) -> std::path::PathBuf {
    let root = dir.join("cifar10");
    for class in data::cifar10::CLASSES {
        let class_dir = root.join("test").join(class);
        std::fs::create_dir_all(&class_dir).unwrap();
        for index in 0..per_class {
            let name = format!("{index:04}.jpg");
            std::fs::copy(test_image(class, index), class_dir.join(name)).unwrap();
        }
    }
    root
}

#[test]
fn eval_subset_line_counts_used_images() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let data = small_image_folder(dir.path(), 2);
    let eval_text = |limit: &str| {
        let args = ["eval", path_str(&model), "--data", path_str(&data)];
        let output = run(serve(&args).args(["--limit-test", limit]));
        assert!(output.status.success(), "{}", describe(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };

    let text = eval_text("10");
    assert!(text.contains("subset     10 images"), "{text}");
    let text = eval_text("99999999");
    assert!(!text.contains("subset     99999999"), "{text}");
    assert!(text.contains("whole split is used"), "{text}");
    assert!(text.contains("subset     all 20 images"), "{text}");
    assert!(text.contains("images     20 "), "{text}");
}

#[test]
fn eval_data_file_not_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let image = test_image("cat", 0);
    let output = run(&mut serve(&[
        "eval",
        path_str(&model),
        "--data",
        path_str(&image),
    ]));
    assert_clean_failure(&output, &["0000.jpg is not a folder", "train/<class>/"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("not found"), "{stderr}");
}

#[test]
fn info_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let mut child = serve(&["info", path_str(&model)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the serve binary starts");
    // Closing the read end before `info` prints makes its first write fail
    // with EPIPE, as `serve info M | head -3` does once head exits.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(101), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn info_empty_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let output = run(&mut serve(&["info", path_str(&empty)]));
    assert_clean_failure(&output, &["empty.onnx", "the file is empty"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("no graph nodes"), "{stderr}");
}

#[test]
fn info_read_error_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("folder.onnx");
    std::fs::create_dir(&folder).unwrap();
    let output = run(&mut serve(&["info", path_str(&folder)]));
    assert_clean_failure(&output, &["folder.onnx", "failed to read model file"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let cause = std::io::Error::from_raw_os_error(21).to_string();
    assert_eq!(stderr.matches(&cause).count(), 1, "{stderr}");
}

#[test]
fn runtime_path_to_image_explained() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let image = test_image("cat", 0);
    let mut command = serve(&["predict", path_str(&model)]);
    command.arg(&image).env("ORT_DYLIB_PATH", &image);
    let output = run(&mut command);
    assert_clean_failure(
        &output,
        &[
            "0000.jpg",
            "failed to load it as a shared library (dlopen failed: ",
            "must be libonnxruntime.so from onnxruntime 1.31",
            "scripts/setup.sh",
        ],
    );
}

#[test]
fn predict_oversized_image_names_limit() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let mut bytes = std::fs::read(test_image("cat", 0)).unwrap();
    let sof = bytes
        .windows(2)
        .position(|marker| marker == [0xFF, 0xC0])
        .expect("the CIFAR-10 JPEGs are baseline (SOF0)");
    // SOF0: marker, length (2 bytes), precision (1 byte), height, width.
    bytes[sof + 5..sof + 7].copy_from_slice(&50000u16.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&60000u16.to_be_bytes());
    let bomb = dir.path().join("bomb.jpg");
    std::fs::write(&bomb, bytes).unwrap();
    let output = run(serve(&["predict", path_str(&model)]).arg(&bomb));
    assert_clean_failure(
        &output,
        &[
            "bomb.jpg is too large to decode",
            "60000x50000 pixels",
            "memory limit of 512 MiB",
        ],
    );
}

//! The whole path on real CIFAR-10 images: `train final` on a small subset,
//! `export --onnx`, then `serve eval`, `serve info` and `serve predict`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sharpdarts::{binary, describe, read_json, run, shared_data};

const LIMIT_TRAIN: &str = "2000";
const LIMIT_TEST: &str = "500";
const SEED: &str = "3";

fn train_small(data: &Path, run_dir: &Path) {
    let output = run(Command::new(binary("train")).args([
        "final",
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
        "4",
        "--warmup-epochs",
        "0",
        "--lr",
        "0.05",
        "--batch-size",
        "32",
        "--limit-train",
        LIMIT_TRAIN,
        "--limit-test",
        LIMIT_TEST,
        "--seed",
        SEED,
    ]));
    assert!(
        output.status.success(),
        "train final failed\n{}",
        describe(&output)
    );
}

fn metrics_lines(run_dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn serve_eval(model: &Path, data: &Path) -> Value {
    let output = run(Command::new(binary("serve")).args([
        "eval",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--limit-test",
        LIMIT_TEST,
        "--seed",
        SEED,
        "--json",
    ]));
    assert!(
        output.status.success(),
        "serve eval failed\n{}",
        describe(&output)
    );
    serde_json::from_slice(&output.stdout).expect("serve eval --json prints JSON")
}

#[test]
fn train_export_serve_on_cifar10() {
    let data = shared_data().join("cifar10");
    let work = tempfile::tempdir().unwrap();
    let run_dir = work.path().join("run");
    train_small(&data, &run_dir);

    for file in [
        "model.json",
        "weights.safetensors",
        "metrics.jsonl",
        "result.json",
    ] {
        assert!(
            run_dir.join(file).is_file(),
            "{file} missing from the run folder"
        );
    }
    let metrics = metrics_lines(&run_dir);
    assert_eq!(metrics.len(), 4, "one metrics line per epoch");
    let result = read_json(&run_dir.join("result.json"));
    let best = result["best_test_accuracy"].as_f64().unwrap();
    assert!(
        best > 25.0,
        "test accuracy {best}% is not well above chance (10%)"
    );

    let model = work.path().join("model.onnx");
    let output = run(Command::new(binary("export")).args([
        "--onnx",
        "--run",
        run_dir.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]));
    assert!(
        output.status.success(),
        "export failed\n{}",
        describe(&output)
    );

    // serve evaluates the exported best-epoch weights on the same test images.
    let eval = serve_eval(&model, &data);
    let served = eval["top1"].as_f64().expect("top1 in serve eval --json");
    assert!(
        (served - best).abs() <= 0.1,
        "serve eval {served}% vs training {best}%"
    );
    assert_eq!(eval["images"].as_u64(), Some(LIMIT_TEST.parse().unwrap()));

    check_info(&model, &result);
    check_predict(&model, &data);
}

fn check_info(model: &Path, result: &Value) {
    let output =
        run(Command::new(binary("serve")).args(["info", model.to_str().unwrap(), "--json"]));
    assert!(
        output.status.success(),
        "serve info failed\n{}",
        describe(&output)
    );
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    let genotype = models::Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let mut config = models::NetworkConfig::cifar10(8, 5);
    config.auxiliary = true;
    let graph = models::build_network(&genotype, &config).unwrap();
    let params = models::count_parameters(&graph).main as u64;
    assert_eq!(
        info["params"].as_u64(),
        Some(params),
        "params is a top-level integer"
    );
    assert_eq!(info["macs"].as_u64(), Some(models::count_macs(&graph)));
    assert_eq!(result["params"].as_u64(), Some(params));
}

fn check_predict(model: &Path, data: &Path) {
    let images = [
        data.join("test/cat/0000.jpg"),
        data.join("test/ship/0000.jpg"),
    ];
    for image in &images {
        assert!(image.is_file(), "{} missing", image.display());
    }

    let mut command = Command::new(binary("serve"));
    command.args(["predict", model.to_str().unwrap(), "--json", "--top-k", "3"]);
    command.args(&images);
    let output = run(&mut command);
    assert!(
        output.status.success(),
        "serve predict failed\n{}",
        describe(&output)
    );

    let text = String::from_utf8_lossy(&output.stdout);
    let predictions: Value = serde_json::from_str(&text).unwrap();
    let items = predictions["results"].as_array().expect("results array");
    assert_eq!(items.len(), 2, "{text}");
    assert_eq!(
        predictions["errors"].as_array().map(Vec::len),
        Some(0),
        "{text}"
    );
    for item in items {
        let top = item["predictions"].as_array().unwrap();
        assert_eq!(top.len(), 3, "{text}");
        let p: Vec<f64> = top
            .iter()
            .map(|t| t["probability"].as_f64().unwrap())
            .collect();
        assert!(
            p.windows(2).all(|w| w[0] >= w[1]),
            "sorted by probability: {p:?}"
        );
        assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)), "{p:?}");
    }
}

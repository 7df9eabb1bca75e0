//! The whole path from search to deployment on real CIFAR-10 images:
//! `train search` on a small subset, `train final` on the genotype it wrote,
//! `export --onnx` and `serve eval`. A second test resumes a killed search.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sharpdarts::{binary, describe, read_json, read_json_lines, run, run_ok, shared_data};

/// Runs a tiny search: 4 channels, 3 cells, 200 images, batch 16.
fn search(data: &Path, out: &Path, epochs: &str, weighting: &str) {
    run_ok(
        &mut search_command(data, out, epochs, weighting),
        "train search",
    );
}

fn search_command(data: &Path, out: &Path, epochs: &str, weighting: &str) -> Command {
    let mut command = Command::new(binary("train"));
    command.args([
        "search",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--primitives",
        "DARTS_PRIMITIVES",
        "--weighting",
        weighting,
        "--init-channels",
        "4",
        "--layers",
        "3",
        "--epochs",
        epochs,
        "--warmup-epochs",
        "0",
        "--batch-size",
        "16",
        "--limit-train",
        "200",
        // One thread each: the tests run in parallel, and OpenMP threads
        // that outnumber the cores slow every step down many times over.
        "--threads",
        "1",
    ]);
    command
}

#[test]
fn search_then_train_export_serve() {
    let data = shared_data().join("cifar10");
    let work = tempfile::tempdir().unwrap();
    let search_dir = work.path().join("search");
    search(&data, &search_dir, "2", "max_w");

    let result = read_json(&search_dir.join("result.json"));
    assert_eq!(result["epochs_completed"], 2);
    assert_eq!(result["weight_images"], 100);
    assert_eq!(result["arch_images"], 100);
    let metrics = read_json_lines(&search_dir.join("metrics.jsonl"));
    assert_eq!(metrics.len(), 2);
    let alphas = read_json_lines(&search_dir.join("alphas.jsonl"));
    assert_eq!(alphas.len(), 2);
    let rows = alphas[1]["normal"].as_array().unwrap();
    assert_eq!(rows.len(), 14, "14 edges for 4 nodes");
    for row in rows {
        let sum: f64 = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-4, "softmax rows sum to 1: {sum}");
    }
    for epoch in ["epoch_001.json", "epoch_002.json"] {
        assert!(
            search_dir.join("genotypes").join(epoch).is_file(),
            "{epoch}"
        );
    }
    for file in [
        "genotype_normal.svg",
        "genotype_reduction.dot",
        "checkpoint.safetensors",
    ] {
        assert!(search_dir.join(file).is_file(), "{file}");
    }
    let best = result["best_epoch"].as_u64().unwrap() as usize;
    let best_genotype = read_json(&search_dir.join("genotype.json"));
    assert_eq!(best_genotype, metrics[best - 1]["genotype"]);

    let run_dir = work.path().join("final");
    let genotype = search_dir.join("genotype.json");
    run_ok(
        Command::new(binary("train")).args([
            "final",
            "--genotype",
            genotype.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            run_dir.to_str().unwrap(),
            "--init-channels",
            "8",
            "--layers",
            "5",
            "--epochs",
            "1",
            "--warmup-epochs",
            "0",
            "--batch-size",
            "32",
            "--limit-train",
            "500",
            "--limit-test",
            "200",
        ]),
        "train final on the searched genotype",
    );
    let model = read_json(&run_dir.join("model.json"));
    assert_eq!(model["genotype"], best_genotype);

    let onnx = work.path().join("model.onnx");
    run_ok(
        Command::new(binary("export")).args([
            "--onnx",
            "--run",
            run_dir.to_str().unwrap(),
            "--out",
            onnx.to_str().unwrap(),
        ]),
        "export",
    );
    let output = run(Command::new(binary("serve")).args([
        "eval",
        onnx.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--limit-test",
        "200",
        "--json",
    ]));
    assert!(
        output.status.success(),
        "serve eval failed\n{}",
        describe(&output)
    );
    let eval: Value = serde_json::from_slice(&output.stdout).unwrap();
    let served = eval["top1"].as_f64().unwrap();
    let trained = read_json(&run_dir.join("result.json"))["best_test_accuracy"]
        .as_f64()
        .unwrap();
    assert!(
        (served - trained).abs() <= 0.5,
        "serve {served}% vs train {trained}%"
    );
}

#[test]
fn resumed_search_matches_an_uninterrupted_one() {
    let data = shared_data().join("cifar10");
    let work = tempfile::tempdir().unwrap();
    let whole = work.path().join("whole");
    search(&data, &whole, "2", "scalar");

    // The same search, killed once its first epoch is checkpointed.
    let killed = work.path().join("killed");
    let mut child = search_command(&data, &killed, "2", "scalar")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state_path = killed.join("checkpoint.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while !state_path.is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 10 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the search ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let state = read_json(&state_path);
    assert_eq!(state["epochs_completed"], 1, "killed after the first epoch");

    run_ok(
        Command::new(binary("train")).args(["search", "--resume", killed.to_str().unwrap()]),
        "train search --resume",
    );
    let resumed = read_json_lines(&killed.join("metrics.jsonl"));
    let uninterrupted = read_json_lines(&whole.join("metrics.jsonl"));
    assert_eq!(resumed.len(), 2);
    for (a, b) in resumed.iter().zip(&uninterrupted) {
        assert_eq!(a["epoch"], b["epoch"]);
        assert_eq!(a["lr"], b["lr"]);
        assert_eq!(a["genotype"], b["genotype"]);
        let (x, y) = (
            a["valid_loss"].as_f64().unwrap(),
            b["valid_loss"].as_f64().unwrap(),
        );
        assert!((x - y).abs() <= 1e-3 * y.abs(), "valid loss {x} vs {y}");
    }
    assert_eq!(read_json_lines(&killed.join("alphas.jsonl")).len(), 2);
    let result = read_json(&killed.join("result.json"));
    assert_eq!(result["epochs_completed"], 2);

    let manifest = read_json(&killed.join("manifest.json"));
    assert_eq!(manifest["options"], read_json(&killed.join("config.json")));
    assert_eq!(manifest["command_line"][1], "search");
    assert_eq!(manifest["deterministic"], false);
    assert_eq!(
        manifest["resumed_at"].as_array().map(Vec::len),
        Some(1),
        "the resume is recorded"
    );
}

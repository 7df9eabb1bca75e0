//! `serve bench`: every output format carries every measured field, the
//! numbers agree with each other, and bad requests fail cleanly.

mod common;

use std::path::Path;

use common::{assert_clean_failure, describe, run, serve, small_model, stdout_json};
use serde_json::Value;

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Short settings so each configuration takes a fraction of a second.
const QUICK: [&str; 4] = ["--warmup", "1", "--iterations", "4"];

const LATENCY_FIELDS: [&str; 8] = [
    "mean_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "std_ms", "cv",
];

fn bench_json(model: &Path, extra: &[&str]) -> Value {
    let mut command = serve(&["bench", path_str(model), "--json"]);
    command.args(QUICK).args(extra);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", describe(&output));
    stdout_json(&output)
}

#[test]
fn json_records_settings_and_every_statistic() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let report = bench_json(&model, &["--batch", "1,3", "--threads", "1,2"]);

    assert!(report["onnx_runtime_version"]
        .as_str()
        .unwrap()
        .starts_with("1.31."));
    assert_eq!(report["execution_provider"], "CPUExecutionProvider");
    assert_eq!(report["graph_optimization"], "all");
    assert_eq!(report["execution_mode"], "sequential");
    assert_eq!(report["timed"], "4 iterations");
    assert_eq!(report["warmup"], "1 iterations");
    let macs = report["macs_per_image"].as_u64().unwrap();
    assert!(macs > 0);
    let peak = &report["peak"];
    let formula = peak["formula"].as_str().unwrap();
    assert!(
        formula.contains("GFLOP/s") && formula.contains("FMA"),
        "{formula}"
    );
    let gflops = peak["gflops"].as_f64().unwrap();
    let product = peak["cores"].as_f64().unwrap()
        * peak["clock_ghz"].as_f64().unwrap()
        * peak["fma_units"].as_f64().unwrap()
        * peak["lanes"].as_f64().unwrap()
        * peak["flop_per_lane"].as_f64().unwrap();
    assert!(
        (gflops - product).abs() < 1e-6 * gflops,
        "{gflops} vs {product}"
    );

    let results = report["results"].as_array().unwrap();
    let configurations: Vec<(u64, u64)> = results
        .iter()
        .map(|r| {
            (
                r["intra_threads"].as_u64().unwrap(),
                r["batch"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(configurations, [(1, 1), (1, 3), (2, 1), (2, 3)]);
    for result in results {
        let batch = result["batch"].as_u64().unwrap();
        assert_eq!(result["input_shape"], serde_json::json!([batch, 3, 32, 32]));
        assert_eq!(result["iterations"], 4);
        let value = |key: &str| result[key].as_f64().unwrap_or_else(|| panic!("{key}"));
        for field in LATENCY_FIELDS {
            assert!(value(field) >= 0.0, "{field}");
        }
        assert!(value("min_ms") <= value("p50_ms"));
        assert!(value("p50_ms") <= value("p90_ms"));
        assert!(value("p90_ms") <= value("p99_ms"));
        assert!(value("p99_ms") <= value("max_ms"));
        assert!(value("min_ms") <= value("mean_ms"));
        assert!(value("mean_ms") <= value("max_ms"));
        assert_eq!(result["noisy"].as_bool(), Some(value("cv") > 0.10));
        let images = value("images_per_second");
        assert!((images - batch as f64 / (value("mean_ms") / 1e3)).abs() < 1e-6 * images);
        let gmacs = value("gmacs_per_second");
        assert!((gmacs - images * macs as f64 / 1e9).abs() < 1e-6 * gmacs);
        let percent = value("peak_percent");
        assert!((percent - 200.0 * gmacs / gflops).abs() < 1e-6 * percent);
        assert!(value("peak_percent_of_used_cores") >= percent);
    }
}

#[test]
fn csv_has_one_row_per_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let mut command = serve(&["bench", path_str(&model), "--csv", "--batch", "2"]);
    command.args(QUICK).args(["--threads", "1"]);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(header.len(), row.len(), "{text}");
    let field = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    for name in
        LATENCY_FIELDS
            .iter()
            .chain(&["images_per_second", "gmacs_per_second", "peak_percent"])
    {
        assert!(field(name).parse::<f64>().is_ok(), "{name}: {text}");
    }
    assert_eq!(field("batch"), "2");
    assert_eq!(field("intra_threads"), "1");
    assert_eq!(field("input_shape"), "2x3x32x32");
    assert_eq!(field("execution_provider"), "CPUExecutionProvider");
    assert!(field("onnx_runtime_version").starts_with("1.31."));
}

#[test]
fn table_shows_formula_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let mut command = serve(&["bench", path_str(&model), "--batch", "1,2"]);
    command
        .args(QUICK)
        .args(["--threads", "1", "--optimization", "basic"]);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "peak: ",
        "x 2 FLOP per FMA",
        "graph optimisation basic",
        "CPUExecutionProvider",
        "p99 ms",
        "% peak",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(
        text.contains("1x3x32x32") && text.contains("2x3x32x32"),
        "{text}"
    );
}

#[test]
fn duration_budget_runs_at_least_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let mut command = serve(&["bench", path_str(&model), "--json", "--batch", "1"]);
    command.args([
        "--threads",
        "1",
        "--warmup-time",
        "0.05",
        "--duration",
        "0.01",
        "--min-iterations",
        "7",
    ]);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", describe(&output));
    let report = stdout_json(&output);
    assert!(report["results"][0]["iterations"].as_u64().unwrap() >= 7);
    assert_eq!(report["timed"], "0.01 s, at least 7 iterations");
}

/// CUDA is used only where it works; without it the request fails with the
/// documented error instead of measuring the CPU.
#[test]
fn cuda_request_fails_clearly_without_cuda() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let doctor = stdout_json(&run(&mut serve(&["doctor", "--json"])));
    let mut command = serve(&["bench", path_str(&model), "--device", "cuda", "--json"]);
    command.args(QUICK).args(["--batch", "1", "--threads", "1"]);
    let output = run(&mut command);
    if doctor["cuda"]["usable"] == true {
        assert!(output.status.success(), "{}", describe(&output));
        assert_eq!(
            stdout_json(&output)["execution_provider"],
            "CUDAExecutionProvider"
        );
    } else {
        assert_clean_failure(
            &output,
            &["CUDA execution provider is unavailable", "--device cpu"],
        );
        assert!(output.stdout.is_empty(), "{}", describe(&output));
    }
}

#[test]
fn bad_values_are_rejected_with_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path());
    let cases: [(&[&str], &str); 5] = [
        (&["--batch", "0"], "\"0\""),
        (&["--threads", "1,x"], "\"x\""),
        (&["--duration=-2"], "\"-2\""),
        (&["--iterations", "3", "--duration", "1"], "--duration"),
        (&["--json", "--csv"], "--csv"),
    ];
    for (extra, needle) in cases {
        let output = run(serve(&["bench", path_str(&model)]).args(extra));
        assert_clean_failure(&output, &[needle]);
    }
    let missing = dir.path().join("missing.onnx");
    let output = run(&mut serve(&[
        "bench",
        path_str(&missing),
        "--iterations",
        "1",
    ]));
    assert_clean_failure(&output, &["missing.onnx"]);
}

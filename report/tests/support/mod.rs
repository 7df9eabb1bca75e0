//! Run folders written by hand in the layout of `train final`, with known
//! accuracies and times, and a real genotype, network and counts.

use std::path::{Path, PathBuf};

use models::{build_network, count_macs, count_parameters, Genotype, ModelFile, NetworkConfig};
use serde_json::{json, Value};

/// The settings and per-epoch numbers of one hand-written run.
#[derive(Clone)]
pub struct RunSpec {
    pub seed: u64,
    pub genotype: &'static str,
    pub init_channels: usize,
    pub layers: usize,
    /// Test accuracy of every finished epoch, in percent.
    pub test_accuracy: Vec<f64>,
    /// CIFAR-10.1 accuracy of every finished epoch, when evaluated.
    pub cifar10_1_accuracy: Option<Vec<f64>>,
    pub epochs_planned: usize,
    pub total_seconds: f64,
    pub lr: f64,
    pub limit_test: usize,
}

impl RunSpec {
    /// Creates a finished run of SHARPSEPCONV_DARTS at 16 channels x 8 cells
    /// with one epoch per accuracy.
    pub fn new(seed: u64, test_accuracy: &[f64], total_seconds: f64) -> RunSpec {
        RunSpec {
            seed,
            genotype: "SHARPSEPCONV_DARTS",
            init_channels: 16,
            layers: 8,
            test_accuracy: test_accuracy.to_vec(),
            cifar10_1_accuracy: None,
            epochs_planned: test_accuracy.len(),
            total_seconds,
            lr: 0.025,
            limit_test: 1000,
        }
    }

    pub fn epochs(&self) -> usize {
        self.test_accuracy.len()
    }

    /// Returns the 1-based epoch of the best test accuracy (the first of equals).
    pub fn best_epoch(&self) -> usize {
        let mut best = 0;
        for (index, &accuracy) in self.test_accuracy.iter().enumerate() {
            if accuracy > self.test_accuracy[best] {
                best = index;
            }
        }
        best + 1
    }
}

/// Learning rate of epoch `epoch` (1-based) of `epochs` under cosine power
/// annealing with p = 2 and no warm-up, from `lr` down to 1e-8.
fn learning_rate(lr: f64, epoch: usize, epochs: usize) -> f64 {
    let lr_min: f64 = 1e-8;
    let progress = if epochs > 1 {
        (epoch - 1) as f64 / (epochs - 1) as f64
    } else {
        0.0
    };
    let cosine = (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0;
    let power: f64 = 2.0;
    let scale = (power.powf(cosine + 1.0) - power) / (power * power - power);
    lr_min + (lr - lr_min) * scale
}

/// Writes config.json, model.json, metrics.jsonl and result.json of `spec`
/// into `folder`, creating it.
pub fn write_run(folder: &Path, spec: &RunSpec) -> PathBuf {
    std::fs::create_dir_all(folder).unwrap();
    let genotype = Genotype::resolve(spec.genotype).unwrap();
    let genotype_name = models::genotype::named(spec.genotype).map(|named| named.name.clone());
    let network = NetworkConfig::cifar10(spec.init_channels, spec.layers);
    let graph = build_network(&genotype, &network).unwrap();
    let counts = count_parameters(&graph);
    let model = ModelFile::cifar10(genotype_name, genotype, network);
    std::fs::write(folder.join("model.json"), model.to_json()).unwrap();

    let config = json!({
        "train_version": "0.1.0",
        "genotype": spec.genotype,
        "dataset": "cifar10",
        "ops": "sharp",
        "data_dir": "data/cifar10",
        "epochs": spec.epochs_planned,
        "batch_size": 64,
        "init_channels": spec.init_channels,
        "layers": spec.layers,
        "lr": spec.lr,
        "lr_min": 1e-8,
        "lr_power": 2.0,
        "warmup_epochs": 0,
        "seed": spec.seed,
        "device": "cpu",
        "limit_train": 5000,
        "limit_test": spec.limit_test,
        "cutout_length": null,
        "auxiliary_weight": 0.4,
        "drop_path_prob": 0.2,
        "grad_clip": 5.0,
        "mid_channels": 32,
        "weight_decay": 0.0003,
        "momentum": 0.9,
        "threads": 1
    });
    write_json(&folder.join("config.json"), &config);

    let mut lines = String::new();
    let epochs = spec.epochs();
    for epoch in 1..=epochs {
        let mut line = json!({
            "epoch": epoch,
            "lr": learning_rate(spec.lr, epoch, spec.epochs_planned),
            "drop_path_prob": 0.2 * epoch as f64 / spec.epochs_planned as f64,
            "train_loss": 2.8 - 0.2 * epoch as f64,
            "train_accuracy": 20.0 + 5.0 * epoch as f64,
            "test_loss": 1.9 - 0.1 * epoch as f64,
            "test_accuracy": spec.test_accuracy[epoch - 1],
            "seconds": spec.total_seconds / epochs as f64,
            "images_per_second": 120.0,
        });
        if let Some(cifar10_1) = &spec.cifar10_1_accuracy {
            line["cifar10_1_loss"] = json!(2.0);
            line["cifar10_1_accuracy"] = json!(cifar10_1[epoch - 1]);
        }
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    std::fs::write(folder.join("metrics.jsonl"), lines).unwrap();

    let best_epoch = spec.best_epoch();
    let mut result = json!({
        "best_epoch": best_epoch,
        "best_test_accuracy": spec.test_accuracy[best_epoch - 1],
        "final_test_accuracy": spec.test_accuracy[epochs - 1],
        "epochs_completed": epochs,
        "epochs_planned": spec.epochs_planned,
        "test_images": spec.limit_test,
        "train_images": 5000,
        "params": counts.main,
        "params_with_auxiliary": counts.with_auxiliary,
        "macs": count_macs(&graph),
        "total_seconds": spec.total_seconds,
    });
    if let Some(cifar10_1) = &spec.cifar10_1_accuracy {
        result["best_cifar10_1_accuracy"] = json!(cifar10_1[best_epoch - 1]);
        result["final_cifar10_1_accuracy"] = json!(cifar10_1[epochs - 1]);
    }
    write_json(&folder.join("result.json"), &result);
    folder.to_path_buf()
}

/// Writes a manifest.json in the layout of newer `train final` versions.
pub fn write_manifest(folder: &Path, seed: u64, git_revision: Option<&str>) {
    let manifest = json!({
        "command_line": ["train", "final", "--seed", seed.to_string()],
        "options": {"seed": seed},
        "crate_version": "0.1.0",
        "git_revision": git_revision,
        "tch_version": "0.24.0",
        "libtorch_version": "2.11.0",
        "onnxruntime_version": null,
        "device": "cpu",
        "seed": seed,
        "deterministic": true,
        "started_at": "2026-12-04T21:00:00Z",
    });
    write_json(&folder.join("manifest.json"), &manifest);
}

pub fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Edits one field of a JSON file in place.
pub fn set_json_field(path: &Path, field: &str, value: Value) {
    let mut json = read_json(path);
    json[field] = value;
    write_json(path, &json);
}

/// Returns the point lists of the SVG polylines drawn in `color` (`#RRGGBB`).
pub fn polylines_in_color(svg: &str, color: &str) -> Vec<usize> {
    let document = roxmltree::Document::parse(svg).expect("the SVG parses as XML");
    document
        .descendants()
        .filter(|node| node.has_tag_name("polyline"))
        .filter(|node| node.attribute("stroke") == Some(color))
        .map(|node| {
            node.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
        })
        .collect()
}

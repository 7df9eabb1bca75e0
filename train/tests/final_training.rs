//! `train final` from the library on real CIFAR-10 images.

use std::path::{Path, PathBuf};

use models::ModelFile;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use train::final_training::{
    self, EpochMetrics, FinalConfig, RunConfig, RunResult, CONFIG_FILE, METRICS_FILE, MODEL_FILE,
    RESULT_FILE, WEIGHTS_FILE,
};
use train::{checkpoint, Network, TrainError};

/// Returns the CIFAR-10 ImageFolder copy kept beside the workspace.
fn cifar10_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/cifar10"
    ));
    assert!(
        dir.join("train").is_dir() && dir.join("test").is_dir(),
        "CIFAR-10 images not found at {}: this test needs the shared data folder \
         with cifar10/train and cifar10/test",
        dir.display()
    );
    dir.to_path_buf()
}

/// Returns a small, fast configuration: C = 8, 3 cells, 2,000 training images.
fn small_config(out_dir: PathBuf) -> FinalConfig {
    FinalConfig {
        epochs: 3,
        batch_size: 32,
        init_channels: 8,
        layers: 3,
        lr: 0.05,
        warmup_epochs: 0,
        limit_train: Some(2000),
        limit_test: Some(500),
        drop_path_prob: 0.1,
        cutout: Some(16),
        ..FinalConfig::new("SHARPSEPCONV_DARTS", cifar10_dir(), out_dir)
    }
}

fn read_metrics(dir: &Path) -> Vec<EpochMetrics> {
    let text = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is one epoch object"))
        .collect()
}

/// Loads the run's weights into the network `model.json` describes and
/// returns its inference logits for a random batch.
fn reload_logits(dir: &Path) -> Tensor {
    let model = ModelFile::load(&dir.join(MODEL_FILE)).unwrap();
    let mut vs = VarStore::new(Device::Cpu);
    let network = Network::new(&vs.root(), &model.graph().unwrap()).unwrap();
    checkpoint::load(&mut vs, &dir.join(WEIGHTS_FILE)).unwrap();
    let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
    tch::no_grad(|| network.forward_t(&x, false, 0.0)).0
}

#[test]
fn short_run_learns_and_writes_outputs() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let result = final_training::run(&small_config(out.clone())).unwrap();

    assert!(
        result.best_test_accuracy > 20.0,
        "best test accuracy {}% is not above chance (10%)",
        result.best_test_accuracy
    );
    assert_eq!(result.epochs_completed, 3);
    assert_eq!(result.train_images, 2000);
    assert_eq!(result.test_images, 500);

    let stored: RunResult =
        serde_json::from_str(&std::fs::read_to_string(out.join(RESULT_FILE)).unwrap()).unwrap();
    // Parsing can round the last bit of a float, so the time gets a tolerance.
    assert!(
        (stored.total_seconds - result.total_seconds).abs() <= 1e-9 * result.total_seconds,
        "stored {} s, returned {} s",
        stored.total_seconds,
        result.total_seconds
    );
    assert_eq!(
        RunResult {
            total_seconds: result.total_seconds,
            ..stored
        },
        result
    );

    let settings: RunConfig =
        serde_json::from_str(&std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap()).unwrap();
    assert_eq!(settings.config.genotype, "SHARPSEPCONV_DARTS");
    assert_eq!(settings.config.limit_test, Some(500));
    assert_eq!(settings.config.seed, 0);
    assert_eq!(settings.config.cutout, Some(16));
    let text = std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap();
    assert!(text.contains("\"cutout_length\": 16"), "{text}");
    assert!(
        !text.contains("out_dir"),
        "the run folder is not recorded: {text}"
    );
    assert_eq!(settings.threads, 1);
    assert_eq!(settings.train_version, env!("CARGO_PKG_VERSION"));

    let metrics = read_metrics(&out);
    let epochs: Vec<usize> = metrics.iter().map(|m| m.epoch).collect();
    assert_eq!(epochs, [1, 2, 3]);
    let best = metrics
        .iter()
        .find(|m| m.epoch == result.best_epoch)
        .unwrap();
    assert_eq!(best.test_accuracy, result.best_test_accuracy);
    assert!(metrics
        .iter()
        .all(|m| m.test_accuracy <= result.best_test_accuracy));
    assert_eq!(metrics[2].test_accuracy, result.final_test_accuracy);
    assert!(
        (metrics[2].drop_path_prob - 0.1).abs() < 1e-12,
        "drop path ramps to 0.1"
    );
    assert_eq!(metrics[2].lr, 1e-8, "the last epoch uses lr-min");
    assert!(metrics.iter().all(|m| m.images_per_second > 0.0));

    let model = ModelFile::load(&out.join(MODEL_FILE)).unwrap();
    assert_eq!(
        model.genotype_name.as_deref(),
        Some("DARTS_PRIMITIVES_DIL_IS_SEPCONV")
    );
    assert_eq!(model.network.init_channels, 8);
    assert!(model.network.auxiliary);
    assert_eq!(model.classes[0], "airplane");
    let counts = models::count_parameters(&model.graph().unwrap());
    assert_eq!(counts.main, result.params);
    assert_eq!(counts.with_auxiliary, result.params_with_auxiliary);

    let logits = reload_logits(&out);
    assert_eq!(logits.size(), [4, 10]);
    assert!(bool::try_from(logits.isfinite().all()).unwrap());
}

#[test]
fn non_finite_loss_stops_run() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // One step per epoch with an absurd learning rate: the first update
    // explodes the weights, and a later training loss is no longer finite.
    let config = FinalConfig {
        epochs: 4,
        batch_size: 20,
        lr: 1e9,
        limit_train: Some(20),
        limit_test: Some(20),
        cutout: None,
        auxiliary_weight: 0.0,
        ..small_config(out.clone())
    };
    let error = final_training::run(&config).unwrap_err();
    let TrainError::NonFiniteLoss { epoch, loss, .. } = &error else {
        panic!("expected a non-finite loss error, got {error}");
    };
    assert!(!loss.is_finite(), "reported loss {loss}");
    assert!(*epoch >= 2, "the first step starts from finite weights");
    let message = error.to_string();
    assert!(message.contains("try a lower --lr"), "{message}");
    assert!(message.contains("weights.safetensors"), "{message}");

    // The exploded weights give a NaN test loss in every finished epoch, so
    // none of them was saved.
    assert!(
        !out.join(WEIGHTS_FILE).exists(),
        "diverged weights are never written"
    );
    assert!(
        message.contains("no epoch had a finite test loss"),
        "{message}"
    );
    let metrics = read_metrics(&out);
    assert_eq!(
        metrics.len(),
        epoch - 1,
        "metrics cover the finished epochs"
    );
    assert!(
        metrics.iter().all(|m| m.test_loss.is_nan()),
        "null test loss reads as NaN"
    );
    let result: RunResult =
        serde_json::from_str(&std::fs::read_to_string(out.join(RESULT_FILE)).unwrap()).unwrap();
    assert_eq!(result.best_epoch, 0);
}

#[test]
fn diverged_run_without_saved_epoch_fails() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // One step with an absurd learning rate: its training loss is finite, but
    // the exploded weights give a non-finite test loss.
    let config = FinalConfig {
        epochs: 1,
        batch_size: 20,
        lr: 1e9,
        limit_train: Some(20),
        limit_test: Some(20),
        cutout: None,
        auxiliary_weight: 0.0,
        ..small_config(out.clone())
    };
    let error = final_training::run(&config).unwrap_err();
    assert!(
        matches!(error, TrainError::NoFiniteTestLoss { epochs: 1, .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("finite test loss"), "{message}");
    assert!(message.contains("no weights were written"), "{message}");
    assert!(message.contains("--lr than 1000000000"), "{message}");
    assert!(!out.join(WEIGHTS_FILE).exists());
    assert_eq!(read_metrics(&out).len(), 1);
}

#[test]
fn non_empty_run_folder_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("result.json"), "{}").unwrap();
    let config = small_config(dir.path().to_path_buf());
    let error = final_training::run(&config).unwrap_err();
    assert!(
        matches!(error, TrainError::RunDirNotEmpty { .. }),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("result.json")).unwrap(),
        "{}"
    );
}

#[test]
fn missing_data_folder_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = FinalConfig {
        data_dir: dir.path().join("no-such-folder"),
        ..small_config(dir.path().join("run"))
    };
    let error = final_training::run(&config).unwrap_err();
    assert!(matches!(error, TrainError::Data(_)), "{error}");
    assert!(error.to_string().contains("no-such-folder"), "{error}");
}

//! The library API on models written by `export` and real CIFAR-10 images.

mod common;

use common::{
    export_model, model_file, model_without_metadata, shared_data, small_model, test_image,
};
use data::cifar10::Split;
use serve::predict::{normalization, preprocess, top_k_indices};
use serve::{classify, evaluate, Device, OnnxModel, RunOptions, ServeError};

fn open(path: &std::path::Path) -> OnnxModel {
    OnnxModel::open(path, &RunOptions::default()).unwrap()
}

/// Preprocessed real test images (cat, ship, frog) as one NCHW batch.
fn real_batch(model: &OnnxModel) -> Vec<f32> {
    let norm = normalization(model).unwrap();
    ["cat", "ship", "frog"]
        .iter()
        .map(|class| data::image::load_rgb(&test_image(class, 0)).unwrap())
        .flat_map(|image| preprocess(&image, model.input_size(), &norm))
        .collect()
}

#[test]
fn open_reads_export_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let file = model_file("SHARPSEPCONV_DARTS", 8, 5);
    let path = export_model(dir.path(), "m.onnx", &file, 2);
    let model = open(&path);
    let graph = file.graph().unwrap();
    let counts = models::count_parameters(&graph);
    let metadata = model.metadata();

    assert_eq!(metadata.classes.as_deref(), Some(file.classes.as_slice()));
    assert_eq!(metadata.mean.as_deref(), Some(file.mean.as_slice()));
    assert_eq!(metadata.std.as_deref(), Some(file.std.as_slice()));
    assert_eq!(metadata.input_size, [3, 32, 32]);
    assert_eq!(metadata.params, Some(counts.main as u64));
    assert_eq!(
        metadata.params_with_auxiliary,
        Some(counts.with_auxiliary as u64)
    );
    assert_eq!(metadata.macs, Some(models::count_macs(&graph)));
    assert_eq!(
        metadata.genotype_name.as_deref(),
        Some("SHARPSEPCONV_DARTS")
    );
    let genotype = models::Genotype::from_json(metadata.genotype.as_deref().unwrap()).unwrap();
    assert_eq!(genotype, file.genotype);
    assert!(metadata.all.contains_key("model_json"));
    assert_eq!(model.num_classes(), 10);
    assert_eq!(model.info().opset, 17);
}

#[test]
fn run_batch_matches_single_images() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = open(&small_model(dir.path()));
    let input = real_batch(&model);
    let image_len = 3 * 32 * 32;

    let batched = model.run(&input, 3).unwrap();
    assert_eq!(batched.len(), 3 * 10);
    assert!(batched.iter().all(|v| v.is_finite()), "{batched:?}");
    for (i, image) in input.chunks_exact(image_len).enumerate() {
        let single = model.run(image, 1).unwrap();
        let row = &batched[i * 10..(i + 1) * 10];
        let difference = single
            .iter()
            .zip(row)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            difference < 1e-4,
            "image {i}: batch and single logits differ by {difference}"
        );
    }
    let spread = batched.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
        - batched.iter().fold(f32::INFINITY, |m, &v| m.min(v));
    assert!(
        spread > 1e-4,
        "logits are all equal, so the comparison proves nothing"
    );
}

#[test]
fn run_rejects_wrong_input_length() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = open(&small_model(dir.path()));
    let error = model.run(&[0.0; 100], 1).unwrap_err();
    assert!(
        matches!(
            error,
            ServeError::InputSize {
                actual: 100,
                expected: 3072,
                ..
            }
        ),
        "{error}"
    );
    let error = model.run(&[], 0).unwrap_err();
    assert!(
        matches!(error, ServeError::InputSize { batch: 0, .. }),
        "{error}"
    );
}

#[test]
fn open_missing_file_names_path() {
    let error = OnnxModel::open("no-such-model.onnx".as_ref(), &RunOptions::default()).unwrap_err();
    assert!(matches!(error, ServeError::ModelNotFound { .. }), "{error}");
    assert!(error.to_string().contains("no-such-model.onnx"), "{error}");
}

#[test]
fn open_truncated_file_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(small_model(dir.path())).unwrap();
    let truncated = dir.path().join("half.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = OnnxModel::open(&truncated, &RunOptions::default()).unwrap_err();
    assert!(matches!(error, ServeError::InvalidModel { .. }), "{error}");
    assert!(error.to_string().contains("half.onnx"), "{error}");
}

/// Every cut inside the graph must be rejected, whether the protobuf decoder
/// notices it or not.
#[test]
fn truncation_anywhere_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_model(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let info = serve::ModelInfo::parse(&path, &bytes).unwrap();
    let metadata_bytes: usize = info
        .metadata
        .iter()
        .map(|(k, v)| k.len() + v.len() + 8)
        .sum();
    // The graph precedes the metadata, so cuts before this offset land inside it.
    let graph_end = bytes.len() - metadata_bytes;
    for cut in (1..graph_end).step_by(graph_end / 97) {
        let result = serve::ModelInfo::parse(&path, &bytes[..cut]);
        assert!(
            matches!(result, Err(ServeError::InvalidModel { .. })),
            "cut at {cut} of {} bytes was accepted",
            bytes.len()
        );
    }
}

#[test]
fn model_without_metadata_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = model_file("DARTS", 4, 3);
    let mut model = open(&model_without_metadata(dir.path(), &file));
    assert_eq!(
        model.input_size(),
        [3, 32, 32],
        "taken from the graph input"
    );
    assert_eq!(model.num_classes(), 10, "taken from the graph output");
    assert!(model.metadata().all.is_empty());
    assert_eq!(model.metadata().params, None);
    assert_eq!(model.run(&vec![0.5; 2 * 3072], 2).unwrap().len(), 20);

    let error = model.classes().unwrap_err();
    assert!(
        matches!(error, ServeError::MissingMetadata { key: "classes", .. }),
        "{error}"
    );
    let error = model.normalization().unwrap_err();
    assert!(
        matches!(error, ServeError::MissingMetadata { key: "mean", .. }),
        "{error}"
    );
    let error = classify(&mut model, &[], 5).unwrap_err();
    assert!(error.to_string().contains("`classes`"), "{error}");
}

#[test]
fn zero_threads_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let options = RunOptions {
        device: Device::Cpu,
        threads: Some(0),
    };
    let error = OnnxModel::open(&small_model(dir.path()), &options).unwrap_err();
    assert!(
        matches!(error, ServeError::InvalidThreads { threads: 0, .. }),
        "{error}"
    );
}

#[test]
fn thread_counts_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_model(dir.path());
    let mut one = OnnxModel::open(
        &path,
        &RunOptions {
            device: Device::Cpu,
            threads: Some(1),
        },
    )
    .unwrap();
    let mut two = OnnxModel::open(
        &path,
        &RunOptions {
            device: Device::Cpu,
            threads: Some(2),
        },
    )
    .unwrap();
    let input = real_batch(&one);
    let a = one.run(&input, 3).unwrap();
    let b = two.run(&input, 3).unwrap();
    let difference = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(difference < 1e-4, "1 and 2 threads differ by {difference}");
}

/// With a CUDA-capable ONNX Runtime the model must run on CUDA and agree with
/// the CPU; without one (the pip CPU wheel) opening must fail with a CUDA
/// error instead of falling back to the CPU.
#[test]
fn cuda_device_runs_or_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_model(dir.path());
    let cuda = RunOptions {
        device: Device::Cuda,
        threads: None,
    };
    let runtime = serve::runtime::init().unwrap();
    match (
        serve::runtime::cuda_status(runtime),
        OnnxModel::open(&path, &cuda),
    ) {
        (Ok(()), Ok(mut model)) => {
            let mut cpu = open(&path);
            let input = real_batch(&cpu);
            let on_gpu = model.run(&input, 3).unwrap();
            let on_cpu = cpu.run(&input, 3).unwrap();
            let difference = on_gpu
                .iter()
                .zip(&on_cpu)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(
                difference < 1e-3,
                "CUDA and CPU logits differ by {difference}"
            );
        }
        (Err(_), Err(error)) => {
            assert!(
                matches!(error, ServeError::CudaUnavailable { .. }),
                "{error}"
            );
            let message = error.to_string();
            assert!(
                message.contains("CUDA execution provider is unavailable"),
                "{message}"
            );
            assert!(message.contains("--device cpu"), "{message}");
        }
        (status, opened) => panic!(
            "cuda_status {:?} disagrees with opening on CUDA: {:?}",
            status.err().map(|e| e.to_string()),
            opened.err().map(|e| e.to_string())
        ),
    }
}

#[test]
fn classify_probabilities_sum_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = open(&small_model(dir.path()));
    let images: Vec<_> = ["dog", "truck"]
        .iter()
        .map(|class| data::image::load_rgb(&test_image(class, 3)).unwrap())
        .collect();
    let results = classify(&mut model, &images, 10).unwrap();
    assert_eq!(results.len(), 2);
    for predictions in &results {
        assert_eq!(predictions.len(), 10);
        let sum: f32 = predictions.iter().map(|p| p.probability).sum();
        assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
        let mut indices: Vec<usize> = predictions.iter().map(|p| p.index).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..10).collect::<Vec<_>>(), "every class once");
        for prediction in predictions {
            assert_eq!(
                prediction.class,
                models::network::CIFAR10_CLASSES[prediction.index]
            );
        }
    }
}

/// `evaluate` counts a hit exactly when the top-1 logit is the label, on a
/// real balanced subset of the CIFAR-10 test batch.
#[test]
fn evaluate_agrees_with_logits() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = open(&small_model(dir.path()));
    let test =
        data::cifar10::load(&shared_data().join("cifar-10-batches-bin"), Split::Test).unwrap();
    let subset = data::subset::balanced(&test, 60, 5);
    let mut batches_seen = Vec::new();
    let report = evaluate(&mut model, &subset, 16, |done| batches_seen.push(done)).unwrap();

    assert_eq!(batches_seen, vec![16, 32, 48, 60]);
    assert_eq!(report.images, 60);
    assert_eq!(report.per_class.iter().map(|c| c.images).sum::<usize>(), 60);
    assert!(
        report.per_class.iter().all(|c| c.images == 6),
        "balanced: 6 per class"
    );
    assert_eq!(
        report.per_class.iter().map(|c| c.correct).sum::<usize>(),
        report.correct_top1
    );
    assert!(report.correct_top5 >= report.correct_top1);

    let norm = normalization(&model).unwrap();
    let input: Vec<f32> = (0..subset.len())
        .flat_map(|i| data::normalize_chw(subset.image(i), 32, 32, norm.mean, norm.std))
        .collect();
    let logits = model.run(&input, subset.len()).unwrap();
    let hits = logits
        .chunks_exact(10)
        .enumerate()
        .filter(|(i, row)| top_k_indices(row, 1)[0] == subset.label(*i))
        .count();
    assert_eq!(report.correct_top1, hits);
    assert!((report.top1 - 100.0 * hits as f64 / 60.0).abs() < 1e-9);
}

#[test]
fn evaluate_rejects_other_classes() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = open(&small_model(dir.path()));
    let test =
        data::cifar10::load(&shared_data().join("cifar-10-batches-bin"), Split::Test).unwrap();
    let mut subset = data::subset::balanced(&test, 20, 1);
    subset.classes.swap(0, 1);
    let error = evaluate(&mut model, &subset, 8, |_| {}).unwrap_err();
    assert!(
        matches!(error, ServeError::DatasetMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("automobile"), "{error}");
}

#[test]
fn huge_thread_count_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::small_model(dir.path());
    let options = RunOptions {
        device: Device::Cpu,
        threads: Some(100_000),
    };
    let error = OnnxModel::open(&path, &options).unwrap_err();
    assert!(
        matches!(
            error,
            ServeError::InvalidThreads {
                threads: 100_000,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("--threads 1 to"), "{error}");
}

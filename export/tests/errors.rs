//! Rejected inputs: each error names the value at fault.

use export::onnx;
use export::{Tensor, Weights};
use models::{Genotype, ModelFile, NetworkConfig};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

fn small_model() -> ModelFile {
    let genotype = Genotype::resolve("DARTS").unwrap();
    ModelFile::cifar10(Some("DARTS".into()), genotype, NetworkConfig::cifar10(8, 5))
}

fn fresh_weights(file: &ModelFile) -> Weights {
    Weights::random(&file.graph().unwrap(), 0)
}

#[test]
fn safetensors_round_trip() {
    let file = small_model();
    let weights = fresh_weights(&file);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    weights.save_safetensors(&path).unwrap();
    let loaded = Weights::load_safetensors(&path).unwrap();
    assert_eq!(loaded, weights);
}

#[test]
fn truncated_safetensors_rejected() {
    let weights = fresh_weights(&small_model());
    let bytes = weights.to_safetensors_bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let message = Weights::load_safetensors(&path).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("truncated"), "{message}");
}

#[test]
fn non_safetensors_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    std::fs::write(&path, b"not a safetensors file").unwrap();
    let message = Weights::load_safetensors(&path).unwrap_err().to_string();
    assert!(message.contains("invalid safetensors file"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn missing_file_named() {
    let message = Weights::load_safetensors("no/such/weights.safetensors".as_ref())
        .unwrap_err()
        .to_string();
    assert!(message.contains("no/such/weights.safetensors"), "{message}");
}

#[test]
fn float64_tensor_rejected() {
    let bytes = vec![0u8; 8 * 3];
    let view = TensorView::new(Dtype::F64, vec![3], &bytes).unwrap();
    let data = safetensors::serialize([("stem.1.running_var", view)], None).unwrap();
    let message = Weights::from_safetensors_bytes(&data)
        .unwrap_err()
        .to_string();
    assert!(message.contains("stem.1.running_var"), "{message}");
    assert!(message.contains("F64"), "{message}");
}

#[test]
fn wrong_shape_rejected() {
    let file = small_model();
    let mut weights = fresh_weights(&file);
    let name = "cells.2._ops.1.op.2.weight";
    let expected = weights.get(name).unwrap().shape.clone();
    let wrong = Tensor::new(name, vec![4, 4, 1, 1], vec![0.0; 16]).unwrap();
    weights.insert(name, wrong);
    let message = onnx::build_model_file(&file, &weights)
        .unwrap_err()
        .to_string();
    assert!(message.contains(name), "{message}");
    assert!(message.contains("[4, 4, 1, 1]"), "{message}");
    assert!(message.contains(&format!("{expected:?}")), "{message}");
}

#[test]
fn missing_tensor_rejected() {
    let file = small_model();
    let mut weights = fresh_weights(&file);
    weights.remove("stem.1.running_var").unwrap();
    let message = onnx::build_model_file(&file, &weights)
        .unwrap_err()
        .to_string();
    assert!(message.contains("stem.1.running_var"), "{message}");
    assert!(message.contains("missing"), "{message}");
}

#[test]
fn auxiliary_tensors_optional() {
    let file = small_model();
    let mut weights = fresh_weights(&file);
    let auxiliary: Vec<String> = weights
        .iter()
        .filter(|(name, _)| name.starts_with("auxiliary_head"))
        .map(|(name, _)| name.to_string())
        .collect();
    assert!(
        !auxiliary.is_empty(),
        "the CIFAR network has an auxiliary head"
    );
    for name in &auxiliary {
        weights.remove(name);
    }
    assert!(onnx::build_model_file(&file, &weights).is_ok());
}

#[test]
fn data_length_checked() {
    let error = Tensor::new("fc.bias", vec![10], vec![0.0; 9])
        .unwrap_err()
        .to_string();
    assert!(error.contains("fc.bias"), "{error}");
    assert!(error.contains("9 values"), "{error}");
}

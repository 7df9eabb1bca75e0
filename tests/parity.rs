//! libtorch and ONNX Runtime compute the same logits from the same weights.
//!
//! `train` builds the network in libtorch from the `models` graph. Its
//! BatchNorm statistics and affine parameters are randomised so that folding
//! is exercised. The weights go through a safetensors file to `export`, and
//! `serve` runs the ONNX graph on ONNX Runtime.

use std::path::Path;

use tch::{nn, Device, Kind, Tensor};

const TOLERANCE: f32 = 1e-4;

/// Replaces BatchNorm statistics and affine parameters with random values, so
/// that an export that ignored or misapplied them would be caught.
fn randomise_batch_norm(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (name, mut tensor) in vs.variables() {
            let size = tensor.size();
            let fresh = if name.ends_with("running_var") {
                Tensor::rand(&size, (Kind::Float, Device::Cpu)) * 1.5 + 0.5
            } else if name.ends_with("running_mean") || is_bn_affine(&name, &size) {
                Tensor::randn(&size, (Kind::Float, Device::Cpu)) * 0.2
                    + if name.ends_with(".weight") { 1.0 } else { 0.0 }
            } else {
                continue;
            };
            tensor.copy_(&fresh);
        }
    });
}

/// BatchNorm weights and biases are the only one-dimensional tensors outside
/// the linear classifiers.
fn is_bn_affine(name: &str, size: &[i64]) -> bool {
    size.len() == 1 && !name.contains("classifier")
}

fn libtorch_logits(
    genotype: &str,
    config: &models::NetworkConfig,
    input: &Tensor,
    dir: &Path,
) -> Tensor {
    let genotype = models::Genotype::resolve(genotype).unwrap();
    let graph = models::build_network(&genotype, config).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let network = train::network::Network::new(&vs.root(), &graph).unwrap();
    randomise_batch_norm(&vs);
    let logits = tch::no_grad(|| network.forward_t(input, false, 0.0).0);

    let model_file = models::ModelFile::cifar10(None, genotype, config.clone());
    let weights_path = dir.join("weights.safetensors");
    train::checkpoint::save(&vs, &weights_path).unwrap();
    std::fs::write(dir.join("model.json"), model_file.to_json()).unwrap();
    logits
}

fn onnx_logits(dir: &Path, input: &[f32], batch: usize) -> Vec<f32> {
    let model_file = models::ModelFile::load(&dir.join("model.json")).unwrap();
    let weights = export::Weights::load_safetensors(&dir.join("weights.safetensors")).unwrap();
    let onnx_path = dir.join("model.onnx");
    let proto = export::onnx::build_model_file(&model_file, &weights).unwrap();
    export::onnx::write_model(&onnx_path, &proto).unwrap();
    let options = serve::RunOptions::default();
    let mut model = serve::OnnxModel::open(&onnx_path, &options).unwrap();
    model.run(input, batch).unwrap()
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_parity(genotype: &str) {
    tch::manual_seed(7);
    let config = models::NetworkConfig::cifar10(16, 8);
    for batch in [1usize, 7] {
        let dir = tempfile::tempdir().unwrap();
        let input = Tensor::randn([batch as i64, 3, 32, 32], (Kind::Float, Device::Cpu));
        let expected = libtorch_logits(genotype, &config, &input, dir.path());
        let expected: Vec<f32> = Vec::try_from(expected.flatten(0, -1)).unwrap();
        let input: Vec<f32> = Vec::try_from(input.flatten(0, -1)).unwrap();
        let actual = onnx_logits(dir.path(), &input, batch);
        let difference = max_abs_difference(&expected, &actual);
        assert!(
            difference <= TOLERANCE,
            "{genotype} batch {batch}: max |libtorch - onnxruntime| = {difference:e}"
        );
        let spread = expected.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(
            spread > 1e-3,
            "{genotype}: logits are all near zero, so parity proves nothing"
        );
    }
}

#[test]
fn sharpsepconv_darts_parity() {
    check_parity("SHARPSEPCONV_DARTS");
}

#[test]
fn darts_v2_parity() {
    check_parity("DARTS");
}

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

    let classes = (0..config.num_classes)
        .map(|i| format!("class_{i}"))
        .collect();
    let model_file = models::ModelFile::new(None, genotype, config.clone(), classes);
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

/// Returns the largest logit difference between libtorch and ONNX Runtime
/// over `batches`, after checking that the logits are not all near zero.
fn parity_error(genotype: &str, config: &models::NetworkConfig, batches: &[usize]) -> f32 {
    tch::manual_seed(7);
    let size = config.image_size as i64;
    let mut worst = 0.0f32;
    for &batch in batches {
        let dir = tempfile::tempdir().unwrap();
        let input = Tensor::randn([batch as i64, 3, size, size], (Kind::Float, Device::Cpu));
        let expected = libtorch_logits(genotype, config, &input, dir.path());
        let expected: Vec<f32> = Vec::try_from(expected.flatten(0, -1)).unwrap();
        let input: Vec<f32> = Vec::try_from(input.flatten(0, -1)).unwrap();
        let actual = onnx_logits(dir.path(), &input, batch);
        worst = worst.max(max_abs_difference(&expected, &actual));
        let spread = expected.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(
            spread > 1e-3,
            "{genotype}: logits are all near zero, so parity proves nothing"
        );
    }
    worst
}

fn check_parity(genotype: &str) {
    let config = models::NetworkConfig::cifar10(16, 8);
    let difference = parity_error(genotype, &config, &[1, 7]);
    assert!(
        difference <= TOLERANCE,
        "{genotype}: max |libtorch - onnxruntime| = {difference:e}"
    );
}

/// Checks every built-in genotype on `config`'s network type, at batch 1 and
/// 3, with each operation table that has all of the genotype's operations.
fn check_every_named_genotype(config: &models::NetworkConfig) {
    let mut failures = Vec::new();
    for named in models::genotype::named_genotypes() {
        let genotype = named.genotype();
        for table in models::OpTable::ALL {
            let uses_only_table = genotype
                .normal
                .iter()
                .chain(&genotype.reduce)
                .all(|edge| table.contains(edge.op));
            if !uses_only_table {
                continue;
            }
            let config = models::NetworkConfig {
                ops: table,
                ..config.clone()
            };
            let difference = parity_error(&named.name, &config, &[1, 3]);
            eprintln!(
                "{} {} ops {table}: max difference {difference:.2e}",
                config.dataset, named.name
            );
            if difference > TOLERANCE {
                failures.push(format!("{} ({table}): {difference:e}", named.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "parity above {TOLERANCE}: {failures:?}"
    );
}

#[test]
fn sharpsepconv_darts_parity() {
    check_parity("SHARPSEPCONV_DARTS");
}

#[test]
fn darts_v2_parity() {
    check_parity("DARTS");
}

#[test]
fn every_named_genotype_cifar_parity() {
    check_every_named_genotype(&models::NetworkConfig::cifar10(8, 5));
}

#[test]
fn every_named_genotype_imagenet_parity() {
    let config = models::NetworkConfig {
        num_classes: 10,
        ..models::NetworkConfig::imagenet(8, 5)
    };
    check_every_named_genotype(&config);
}

/// Checks every built-in genotype at the published sizes (CIFAR 36 x 20, ImageNet
/// 48 x 14 with 1000 classes). Takes several minutes on two cores; run with
/// `cargo test --release --test parity -- --ignored --nocapture`.
#[test]
#[ignore = "slow: published sizes"]
fn every_named_genotype_parity_at_published_sizes() {
    check_every_named_genotype(&models::NetworkConfig::cifar10(36, 20));
    check_every_named_genotype(&models::NetworkConfig::imagenet(48, 14));
}

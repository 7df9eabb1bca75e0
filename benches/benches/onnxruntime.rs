//! ONNX Runtime inference on the CPU execution provider, with fresh weights.

use std::path::Path;

use benches::{CIFAR_SIZES, GENOTYPES, THREADS};
use criterion::{Criterion, Throughput};
use models::{Genotype, ModelFile, NetworkConfig};
use serve::{Device, OnnxModel, RunOptions};

/// Exports `file`'s network with fresh weights to `path` and opens it.
fn open_file(file: &ModelFile, path: &Path) -> OnnxModel {
    let weights = export::Weights::random(&file.graph().unwrap(), 0);
    let proto = export::onnx::build_model_file(file, &weights).unwrap();
    export::onnx::write_model(path, &proto).unwrap();
    let options = RunOptions {
        device: Device::Cpu,
        threads: Some(THREADS),
    };
    OnnxModel::open(path, &options).unwrap()
}

/// Inference of each genotype in [`GENOTYPES`] as a CIFAR-10 network at each
/// size in [`CIFAR_SIZES`], batch 1 and 32.
pub fn inference(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for name in GENOTYPES {
        for (channels, cells) in CIFAR_SIZES {
            let genotype = Genotype::resolve(name).unwrap();
            let config = NetworkConfig::cifar10(channels, cells);
            let file = ModelFile::cifar10(None, genotype, config);
            let path = dir.path().join(format!("{name}_{channels}x{cells}.onnx"));
            let mut model = open_file(&file, &path);

            let mut group = c.benchmark_group(format!("onnxruntime/{name}_{channels}x{cells}"));
            group.sample_size(if cells > 8 { 10 } else { 20 });
            for batch in [1usize, 32] {
                let input = vec![0.1f32; batch * 3 * 32 * 32];
                group.throughput(Throughput::Elements(batch as u64));
                group.bench_function(format!("batch_{batch}"), |b| {
                    b.iter(|| model.run(&input, batch).unwrap())
                });
            }
            group.finish();
        }
    }
}

/// Batch-1 latency of every built-in genotype at the published sizes:
/// CIFAR-10 at 36 x 20 and ImageNet at 48 x 14 (1000 classes, 224x224).
pub fn every_genotype(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let configs = [
        NetworkConfig::cifar10(36, 20),
        NetworkConfig::imagenet(48, 14),
    ];
    for config in configs {
        let mut group = c.benchmark_group(format!("genotypes_{}", config.dataset));
        group.sample_size(10);
        group.throughput(Throughput::Elements(1));
        let size = config.image_size;
        let input = vec![0.1f32; 3 * size * size];
        for named in models::genotype::named_genotypes() {
            let classes = (0..config.num_classes).map(|i| i.to_string()).collect();
            let file = ModelFile::new(None, named.genotype(), config.clone(), classes);
            let path = dir
                .path()
                .join(format!("{}_{}.onnx", named.name, config.dataset));
            let mut model = open_file(&file, &path);
            group.bench_function(&named.name, |b| b.iter(|| model.run(&input, 1).unwrap()));
        }
        group.finish();
    }
}

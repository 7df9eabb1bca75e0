//! criterion entry point: one module per subject. Throughput is set in images,
//! so reports read in images per second.
//!
//! Run with `cargo bench -p benches`; ONNX Runtime uses 2 intra-op threads.

use criterion::{criterion_group, criterion_main};

mod graph {
    use std::hint::black_box;

    use criterion::Criterion;
    use models::{build_network, count_macs, count_parameters, Genotype, NetworkConfig};

    /// Building and counting the published 36 x 20 network, which every
    /// command does at start-up.
    pub fn build_and_count(c: &mut Criterion) {
        let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
        let config = NetworkConfig::cifar10(36, 20);
        c.bench_function("graph/build_cifar_36x20", |b| {
            b.iter(|| build_network(black_box(&genotype), black_box(&config)).unwrap())
        });
        let graph = build_network(&genotype, &config).unwrap();
        c.bench_function("graph/count_36x20", |b| {
            b.iter(|| {
                (
                    count_parameters(black_box(&graph)),
                    count_macs(black_box(&graph)),
                )
            })
        });
    }
}

mod onnxruntime {
    use std::time::Duration;

    use criterion::{Criterion, Throughput};
    use models::{Genotype, ModelFile, NetworkConfig};
    use serve::{Device, OnnxModel, RunOptions};

    const THREADS: usize = 2;

    /// Exports a CIFAR network with fresh weights and opens it in ONNX Runtime.
    fn open(genotype: &str, channels: usize, layers: usize, dir: &std::path::Path) -> OnnxModel {
        let genotype = Genotype::resolve(genotype).unwrap();
        let file = ModelFile::cifar10(None, genotype, NetworkConfig::cifar10(channels, layers));
        open_file(&file, &dir.join(format!("{channels}x{layers}.onnx")))
    }

    /// Exports `file`'s network with fresh weights to `path` and opens it.
    fn open_file(file: &ModelFile, path: &std::path::Path) -> OnnxModel {
        let weights = export::Weights::random(&file.graph().unwrap(), 0);
        let proto = export::onnx::build_model_file(file, &weights).unwrap();
        export::onnx::write_model(path, &proto).unwrap();
        let options = RunOptions {
            device: Device::Cpu,
            threads: Some(THREADS),
        };
        OnnxModel::open(path, &options).unwrap()
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
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(3));
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

    /// Inference latency of SHARPSEPCONV_DARTS at batch 1 and 32.
    pub fn inference(c: &mut Criterion) {
        let dir = tempfile::tempdir().unwrap();
        for (channels, layers) in [(16, 8), (36, 20)] {
            let mut model = open("SHARPSEPCONV_DARTS", channels, layers, dir.path());
            let mut group =
                c.benchmark_group(format!("onnxruntime/sharpsepconv_{channels}x{layers}"));
            group.sample_size(20);
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

mod preprocess {
    use criterion::{Criterion, Throughput};
    use data::Normalization;

    /// Decode, resize to 32 x 32 and normalise real CIFAR-10 JPEGs.
    pub fn decode_resize_normalize(c: &mut Criterion) {
        let folder = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/cifar10/test/cat"
        );
        let files: Vec<Vec<u8>> = (0..64)
            .map(|i| std::fs::read(format!("{folder}/{i:04}.jpg")).expect("CIFAR-10 test JPEGs"))
            .collect();
        let mut group = c.benchmark_group("preprocess");
        group.throughput(Throughput::Elements(files.len() as u64));
        group.bench_function("cifar10_jpeg_64", |b| {
            b.iter(|| {
                for bytes in &files {
                    let image = data::image::decode_rgb(bytes, "bench.jpg".as_ref()).unwrap();
                    data::transform::preprocess(&image, 32, &Normalization::CIFAR10);
                }
            })
        });
        group.finish();
    }
}

criterion_group!(
    benches,
    graph::build_and_count,
    onnxruntime::inference,
    onnxruntime::every_genotype,
    preprocess::decode_resize_normalize
);
criterion_main!(benches);

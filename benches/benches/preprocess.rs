//! Image preprocessing on one thread: decode a JPEG, resize (and crop) it, and
//! normalise it to CHW `f32`. This is the per-image work of
//! `data::FileBatches` and of `serve`'s `Preprocessing::apply`. File reading
//! is not timed, because the JPEG bytes are read into memory first.

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput};
use data::imagenet::EvalTransform;
use data::transform::normalize_chw_into;
use data::{ImageTransform, Normalization};

/// CIFAR-10 test JPEGs per class.
const CIFAR_IMAGES_PER_CLASS: usize = 10;

/// Reads the first `limit` files (by name) of `folder`.
fn read_files(folder: &Path, limit: usize) -> Vec<Vec<u8>> {
    let entries = std::fs::read_dir(folder).unwrap_or_else(|error| {
        panic!(
            "failed to read image folder {}: {error}; the benchmarks read the CIFAR-10 \
             test JPEGs and the ImageNet sample photos from there",
            folder.display()
        )
    });
    let mut paths: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    paths.truncate(limit);
    paths
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// Decodes, transforms and normalises every image of `files` once.
fn preprocess_all(files: &[Vec<u8>], transform: ImageTransform, normalization: Normalization) {
    let (width, height) = transform.output_size();
    let table = normalization.lookup_table();
    let mut out = vec![0.0f32; 3 * width as usize * height as usize];
    for bytes in files {
        let image = data::image::decode_rgb(bytes, "bench.jpg".as_ref()).unwrap();
        let image = transform.apply_with_seed(&image, 0).unwrap();
        normalize_chw_into(image.as_raw(), &table, &mut out);
        std::hint::black_box(&out);
    }
}

/// Benchmarks 100 CIFAR-10 test JPEGs (the first 10 of each class), which
/// stay 32 x 32. It also benchmarks the 100 ImageNet sample photos (77 of
/// them 500 pixels on the longer side), resized to 256 on the shorter side
/// and centre-cropped to 224 x 224.
pub fn decode_resize_normalize(c: &mut Criterion) {
    let cifar_dir = benches::data_dir().join("cifar10/test");
    let mut cifar = Vec::new();
    for class in data::cifar10::CLASSES {
        cifar.extend(read_files(&cifar_dir.join(class), CIFAR_IMAGES_PER_CLASS));
    }
    let imagenet = read_files(&benches::data_dir().join("imagenet-samples"), 100);

    let mut group = c.benchmark_group("preprocess");
    group.sample_size(20);
    let resize = ImageTransform::Resize {
        width: 32,
        height: 32,
    };
    group.throughput(Throughput::Elements(cifar.len() as u64));
    group.bench_function("cifar10_jpeg_32x32", |b| {
        b.iter(|| preprocess_all(&cifar, resize, Normalization::CIFAR10))
    });
    let eval = ImageTransform::Eval(EvalTransform::default());
    group.throughput(Throughput::Elements(imagenet.len() as u64));
    group.bench_function("imagenet_jpeg_resize_256_crop_224", |b| {
        b.iter(|| preprocess_all(&imagenet, eval, Normalization::IMAGENET))
    });
    group.finish();
}

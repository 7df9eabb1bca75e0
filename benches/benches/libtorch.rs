//! libtorch inference: the forward pass that `train final` runs on the test
//! set after every epoch (eval mode, no gradients).

use benches::{random_images, set_torch_threads, torch_network, CIFAR_SIZES, GENOTYPES};
use criterion::{Criterion, Throughput};

/// Inference of each genotype in [`GENOTYPES`] at each size in
/// [`CIFAR_SIZES`], batch 1 and 32, with fresh weights.
pub fn inference(c: &mut Criterion) {
    set_torch_threads();
    let _no_grad = tch::no_grad_guard();
    for name in GENOTYPES {
        for (channels, cells) in CIFAR_SIZES {
            let torch = torch_network(name, channels, cells);
            let mut group = c.benchmark_group(format!("libtorch/{name}_{channels}x{cells}"));
            group.sample_size(if cells > 8 { 10 } else { 20 });
            for batch in [1usize, 32] {
                let images = random_images(batch);
                group.throughput(Throughput::Elements(batch as u64));
                group.bench_function(format!("batch_{batch}"), |b| {
                    b.iter(|| torch.network.f_forward_t(&images, false, 0.0).unwrap())
                });
            }
            group.finish();
        }
    }
}

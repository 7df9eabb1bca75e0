//! Building and counting a network graph, which every command does at start-up.

use std::hint::black_box;

use criterion::Criterion;
use models::{build_network, count_macs, count_parameters, Genotype, NetworkConfig};

/// Building and counting the published 36 x 20 network.
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

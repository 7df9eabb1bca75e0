//! criterion entry point of the benchmark suite, one module per subject.
//! Throughput is set in images, so reports read in images per second. ONNX
//! Runtime and libtorch use 2 CPU threads (`benches::THREADS`), and
//! preprocessing runs on one.
//!
//! | group prefix | subject |
//! | --- | --- |
//! | `graph/` | building and counting the 36 x 20 network graph |
//! | `onnxruntime/` | ONNX Runtime inference, batch 1 and 32 |
//! | `libtorch/` | libtorch inference (eval mode, no grad), batch 1 and 32 |
//! | `preprocess/` | decode, resize and normalise real CIFAR-10 and ImageNet JPEGs |
//! | `training/` | one `train final` step at batch 64 |
//! | `genotypes_cifar10/`, `genotypes_imagenet/` | batch-1 ONNX Runtime latency of every built-in genotype |
//!
//! Run the whole suite (roughly 10-15 minutes on 2 cores) with
//! `cargo bench -p benches`, or one subject by passing its group prefix as a
//! filter: `cargo bench -p benches -- libtorch/`. Shorter runs for a quick
//! check: `cargo bench -p benches -- --warm-up-time 1 --measurement-time 2`.
//! Groups with slow iterations run criterion's minimum of 10 samples, which
//! can take longer than the measurement time.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

mod graph;
mod libtorch;
mod onnxruntime;
mod preprocess;
mod training;

/// Suite-wide defaults. Command-line options override them, so groups set only
/// their sample size.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    // The every-genotype group is slow, so it runs last.
    targets = graph::build_and_count,
        onnxruntime::inference,
        libtorch::inference,
        preprocess::decode_resize_normalize,
        training::step,
        onnxruntime::every_genotype
}
criterion_main!(benches);

//! Benchmarks live in `benches/main.rs`, one module per subject; run them with
//! `cargo bench -p benches`.

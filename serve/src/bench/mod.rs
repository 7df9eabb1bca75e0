//! Latency measurement of an [`OnnxModel`]: warm-up, timed iterations,
//! statistics and the achieved multiply-add rate against the CPU's peak.

mod peak;
mod stats;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use peak::{CpuFacts, CpuPeak, PeakOverrides, PeakUnknown};
pub use stats::{LatencyStats, NOISY_CV};

use crate::error::Result;
use crate::model::OnnxModel;

/// How long a phase (warm-up or timing) lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Exactly this many runs.
    Iterations(usize),
    /// Runs until this much time has passed (and at least the plan's minimum).
    Duration(Duration),
}

impl Budget {
    fn done(&self, runs: usize, elapsed: Duration, min_runs: usize) -> bool {
        match *self {
            Budget::Iterations(n) => runs >= n,
            Budget::Duration(limit) => runs >= min_runs && elapsed >= limit,
        }
    }
}

/// The warm-up and timing budgets of one configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub warmup: Budget,
    pub timed: Budget,
    /// Fewest timed runs under a duration budget, so percentiles mean something.
    pub min_iterations: usize,
}

/// Runs `model` on `input` (`batch` images) for the plan's warm-up, then
/// returns the wall time of each timed run.
pub fn time_runs(
    model: &mut OnnxModel,
    input: &[f32],
    batch: usize,
    plan: &Plan,
) -> Result<Vec<Duration>> {
    let started = Instant::now();
    let mut runs = 0;
    while !plan.warmup.done(runs, started.elapsed(), 0) {
        model.run(input, batch)?;
        runs += 1;
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    while !plan
        .timed
        .done(samples.len(), started.elapsed(), plan.min_iterations)
    {
        let run_started = Instant::now();
        std::hint::black_box(model.run(input, batch)?);
        samples.push(run_started.elapsed());
    }
    Ok(samples)
}

/// Deterministic input values in [-2, 2), roughly what normalised images hold.
pub fn synthetic_input(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            // xorshift64*: plenty for benchmark inputs.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            (bits as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// Results of one (batch, threads) configuration.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRecord {
    pub batch: usize,
    pub intra_threads: usize,
    /// Input tensor shape: batch, channels, height, width.
    pub input_shape: [usize; 4],
    #[serde(flatten)]
    pub latency: LatencyStats,
    /// Coefficient of variation over [`NOISY_CV`].
    pub noisy: bool,
    /// Batch over mean latency.
    pub images_per_second: f64,
    /// Multiply-adds of the deployed graph per second, in billions.
    pub gmacs_per_second: Option<f64>,
    /// Achieved FLOP rate (2 per multiply-add) as a percentage of the
    /// machine's peak over all cores.
    pub peak_percent: Option<f64>,
    /// The same over the peak of the cores the threads can use.
    pub peak_percent_of_used_cores: Option<f64>,
}

impl BenchRecord {
    /// Summarises `samples` for one configuration. `macs_per_image` counts
    /// the deployed graph; `peak` is the CPU's peak, when it applies.
    pub fn new(
        input_shape: [usize; 4],
        intra_threads: usize,
        samples: &[Duration],
        macs_per_image: Option<u64>,
        peak: Option<&CpuPeak>,
    ) -> Option<Self> {
        let latency = LatencyStats::from_samples(samples)?;
        let batch = input_shape[0];
        let images_per_second = batch as f64 / (latency.mean_ms / 1e3);
        let gmacs_per_second = macs_per_image.map(|macs| macs as f64 * images_per_second / 1e9);
        let percent = |peak_gflops: f64| gmacs_per_second.map(|g| 2.0 * g / peak_gflops * 100.0);
        Some(Self {
            batch,
            intra_threads,
            input_shape,
            latency,
            noisy: latency.is_noisy(),
            images_per_second,
            gmacs_per_second,
            peak_percent: peak.and_then(|p| percent(p.gflops)),
            peak_percent_of_used_cores: peak
                .and_then(|p| percent(p.gflops_for_threads(intra_threads))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_input_is_deterministic_and_bounded() {
        let a = synthetic_input(10_000, 7);
        assert_eq!(a, synthetic_input(10_000, 7));
        assert_ne!(a, synthetic_input(10_000, 8));
        assert!(a.iter().all(|v| (-2.0..2.0).contains(v)));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.1, "mean {mean}");
    }

    #[test]
    fn record_rates_follow_from_the_mean_latency() {
        let samples = vec![Duration::from_millis(10); 4];
        let facts = CpuFacts {
            model: None,
            cores: Some(2),
            max_clock_ghz: Some(2.0),
            listed_clock_ghz: None,
            flags: vec!["avx2".into(), "fma".into()],
        };
        // 2 x 2 GHz x 2 units x 8 lanes x 2 = 128 GFLOP/s.
        let peak = CpuPeak::from_facts(&facts, PeakOverrides::default()).unwrap();
        let record =
            BenchRecord::new([4, 3, 32, 32], 1, &samples, Some(16_000_000), Some(&peak)).unwrap();
        assert!((record.images_per_second - 400.0).abs() < 1e-6);
        // 16 M MACs x 400 images/s = 6.4 GMAC/s = 12.8 GFLOP/s: 10 % of 128
        // over both cores, 20 % of the 64 GFLOP/s of the one core used.
        assert!((record.gmacs_per_second.unwrap() - 6.4).abs() < 1e-6);
        assert!((record.peak_percent.unwrap() - 10.0).abs() < 1e-6);
        assert!((record.peak_percent_of_used_cores.unwrap() - 20.0).abs() < 1e-6);
        assert!(!record.noisy);
    }
}

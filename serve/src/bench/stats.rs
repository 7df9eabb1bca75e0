//! Latency statistics over the timed iterations of one configuration.

use std::time::Duration;

use serde::Serialize;

/// Coefficient of variation above which a measurement is flagged as noisy.
pub const NOISY_CV: f64 = 0.10;

/// Summary of per-iteration latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Number of timed iterations.
    pub iterations: usize,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Sample standard deviation.
    pub std_ms: f64,
    /// Coefficient of variation: standard deviation over mean.
    pub cv: f64,
}

impl LatencyStats {
    /// Summarises `samples`; `None` when there are none.
    ///
    /// Percentiles use the nearest-rank method: p90 is the smallest sample
    /// that at least 90 % of the samples do not exceed.
    pub fn from_samples(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let mean = ms.iter().sum::<f64>() / n as f64;
        let variance = if n > 1 {
            ms.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let std = variance.sqrt();
        Some(Self {
            iterations: n,
            mean_ms: mean,
            min_ms: ms[0],
            p50_ms: nearest_rank(&ms, 50.0),
            p90_ms: nearest_rank(&ms, 90.0),
            p99_ms: nearest_rank(&ms, 99.0),
            max_ms: ms[n - 1],
            std_ms: std,
            cv: if mean > 0.0 { std / mean } else { 0.0 },
        })
    }

    /// Returns whether the spread is large enough to distrust the mean.
    pub fn is_noisy(&self) -> bool {
        self.cv > NOISY_CV
    }
}

/// Returns the `percent`-th percentile of ascending `sorted` samples by nearest rank.
fn nearest_rank(sorted: &[f64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn percentiles_follow_nearest_rank() {
        // 1..=100 ms, shuffled: p50 is 50, p90 is 90, p99 is 99.
        let mut values: Vec<u64> = (1..=100).collect();
        values.reverse();
        values.swap(3, 70);
        let stats = LatencyStats::from_samples(&millis(&values)).unwrap();
        assert_eq!(stats.iterations, 100);
        assert_eq!(stats.min_ms, 1.0);
        assert_eq!(stats.p50_ms, 50.0);
        assert_eq!(stats.p90_ms, 90.0);
        assert_eq!(stats.p99_ms, 99.0);
        assert_eq!(stats.max_ms, 100.0);
        assert!((stats.mean_ms - 50.5).abs() < 1e-9);
    }

    #[test]
    fn small_samples_take_the_nearest_rank() {
        let stats = LatencyStats::from_samples(&millis(&[30, 10, 20])).unwrap();
        assert_eq!(stats.p50_ms, 20.0);
        assert_eq!(stats.p90_ms, 30.0);
        assert_eq!(stats.p99_ms, 30.0);
    }

    #[test]
    fn coefficient_of_variation_uses_the_sample_deviation() {
        // mean 10, sample variance ((2^2 + 0 + 2^2) / 2) = 4, std 2, cv 0.2.
        let stats = LatencyStats::from_samples(&millis(&[8, 10, 12])).unwrap();
        assert!((stats.std_ms - 2.0).abs() < 1e-9);
        assert!((stats.cv - 0.2).abs() < 1e-9);
        assert!(stats.is_noisy());
        let steady = LatencyStats::from_samples(&millis(&[10, 10, 10, 11])).unwrap();
        assert!(!steady.is_noisy());
    }

    #[test]
    fn no_samples_give_no_statistics() {
        assert_eq!(LatencyStats::from_samples(&[]), None);
        let one = LatencyStats::from_samples(&millis(&[7])).unwrap();
        assert_eq!((one.std_ms, one.cv, one.p99_ms), (0.0, 0.0, 7.0));
    }
}

//! An estimate of the memory a search step needs, checked before the first
//! step so that a batch that cannot fit fails with advice instead of being
//! killed by the system.

use models::{Graph, Scope};

/// Bytes per `f32` value.
const FLOAT_BYTES: u64 = 4;
/// Values kept for backward per value of node output. Calibrated on the
/// 16-channel, 8-cell supernetworks at batch 32 on CPU, where the peak
/// resident memory measured 9.4 GiB (`PRIMITIVES`) and 5.6 GiB
/// (`DARTS_PRIMITIVES`): this factor puts the estimate 10-20 % above both.
const ACTIVATION_FACTOR: f64 = 1.1;
/// Growth of the activation memory in the unrolled second-order step, which
/// keeps a validation graph while it takes gradients for α and the weights:
/// measured 14.9 GiB against 9.4 GiB for first order (`PRIMITIVES`, batch 32).
const SECOND_ORDER_FACTOR: f64 = 1.6;
/// libtorch, the process and the data set in memory.
const BASE_BYTES: u64 = 600 << 20;

/// Memory of a search step: a fixed part plus a part per image of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Weights, gradients and optimiser state, plus the base.
    pub fixed_bytes: u64,
    /// Activations kept for backward, per image.
    pub per_image_bytes: u64,
}

impl MemoryEstimate {
    /// Estimates the step of `graph`; `second_order` adds the three weight
    /// copies of the unrolled step (backup, unrolled weights, direction).
    pub fn for_graph(graph: &Graph, second_order: bool) -> MemoryEstimate {
        let (mut parameters, mut buffers) = (0u64, 0u64);
        for param in graph.parameters() {
            if param.role.is_buffer() {
                buffers += param.numel() as u64;
            } else {
                parameters += param.numel() as u64;
            }
        }
        // Weight, gradient and momentum; the unrolled step adds three copies.
        let copies = if second_order { 6 } else { 3 };
        let fixed = (parameters * copies + buffers * 2) * FLOAT_BYTES + BASE_BYTES;
        let values: u64 = graph
            .nodes
            .iter()
            .filter(|node| node.scope == Scope::Main)
            .map(|node| node.shape.iter().product::<usize>() as u64)
            .sum();
        let factor = if second_order {
            ACTIVATION_FACTOR * SECOND_ORDER_FACTOR
        } else {
            ACTIVATION_FACTOR
        };
        let per_image = (values as f64 * factor) as u64 * FLOAT_BYTES;
        MemoryEstimate {
            fixed_bytes: fixed,
            per_image_bytes: per_image,
        }
    }

    /// Bytes needed at `batch` images.
    pub fn total(&self, batch: usize) -> u64 {
        self.fixed_bytes + self.per_image_bytes * batch as u64
    }

    /// Returns the largest batch whose estimate fits in `available` bytes.
    pub fn largest_batch(&self, available: u64) -> usize {
        (available.saturating_sub(self.fixed_bytes) / self.per_image_bytes.max(1)) as usize
    }
}

/// Memory the system can give this process without swapping: `MemAvailable`
/// of `/proc/meminfo`, or `None` where it cannot be read.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_field(&text, "MemAvailable")
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes.
pub fn peak_resident_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    meminfo_field(&text, "VmHWM")
}

/// Reads a `Name:   123 kB` line.
fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|line| line.split(':').next() == Some(name))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// Formats bytes as GiB with two decimals.
pub fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meminfo_lines() {
        let text = "MemTotal:       24000000 kB\nMemAvailable:   12000000 kB\n";
        assert_eq!(meminfo_field(text, "MemAvailable"), Some(12_000_000 * 1024));
        assert_eq!(meminfo_field(text, "MemFree"), None);
        assert!(available_memory().is_some());
        assert!(peak_resident_memory().unwrap() > 0);
    }

    #[test]
    fn largest_batch_inverts_the_total() {
        let estimate = MemoryEstimate {
            fixed_bytes: 1000,
            per_image_bytes: 100,
        };
        assert_eq!(estimate.total(8), 1800);
        assert_eq!(estimate.largest_batch(1850), 8);
        assert_eq!(estimate.largest_batch(500), 0);
    }
}

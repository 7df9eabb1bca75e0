//! The machine's peak single-precision FLOP rate, from its core count, clock
//! and SIMD width, so that a measured rate can be read as a share of it.

use std::fmt;

use serde::Serialize;

use crate::runtime::physical_cores;

/// Values that override what [`CpuPeak::detect`] reads from the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeakOverrides {
    /// Clock in GHz, for machines whose clock is not readable or not nominal.
    pub clock_ghz: Option<f64>,
    /// Fused multiply-add units per core.
    pub fma_units: Option<usize>,
}

/// Peak single-precision rate: cores x clock x FMA units x lanes x 2 FLOP per FMA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuPeak {
    /// CPU model name from /proc/cpuinfo.
    pub model: String,
    /// Physical cores (logical CPUs where cores are not listed).
    pub cores: usize,
    pub clock_ghz: f64,
    /// Source of the clock value.
    pub clock_source: String,
    /// Widest vector instruction set found: AVX-512, AVX2, AVX, SSE or NEON.
    pub simd: String,
    /// Single-precision lanes per vector register.
    pub lanes: usize,
    /// Fused multiply-add units per core.
    pub fma_units: usize,
    /// Source of the FMA unit count.
    pub fma_source: String,
    /// FLOP per lane and cycle per unit: 2 with FMA, 1 without.
    pub flop_per_lane: usize,
    /// Peak GFLOP/s of all `cores`.
    pub gflops: f64,
    /// The formula with its values, for printing.
    pub formula: String,
}

/// Reason the peak could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeakUnknown(pub String);

impl fmt::Display for PeakUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// CPU facts read from /proc/cpuinfo and sysfs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuFacts {
    pub model: Option<String>,
    pub cores: Option<usize>,
    /// Maximum clock from cpufreq, in GHz.
    pub max_clock_ghz: Option<f64>,
    /// `cpu MHz` of the first processor, in GHz.
    pub listed_clock_ghz: Option<f64>,
    /// Feature flags (`flags` on x86, `Features` on Arm).
    pub flags: Vec<String>,
}

impl CpuFacts {
    /// Reads this machine's facts; missing files leave fields empty.
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let max_khz =
            std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").ok();
        let mut facts = Self::parse(&cpuinfo, max_khz.as_deref());
        facts.cores =
            physical_cores().or_else(|| std::thread::available_parallelism().ok().map(usize::from));
        facts
    }

    /// Parses the text of /proc/cpuinfo and of cpufreq's `cpuinfo_max_freq` (kHz).
    pub fn parse(cpuinfo: &str, max_khz: Option<&str>) -> Self {
        let first = |wanted: &[&str]| {
            cpuinfo.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                wanted
                    .contains(&key.trim())
                    .then(|| value.trim().to_owned())
            })
        };
        let flags = first(&["flags", "Features"])
            .map(|text| text.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Self {
            model: first(&["model name", "Model", "cpu model"]),
            cores: None,
            max_clock_ghz: max_khz
                .and_then(|text| text.trim().parse::<f64>().ok())
                .map(|khz| khz / 1e6)
                .filter(|ghz| *ghz > 0.0),
            listed_clock_ghz: first(&["cpu MHz"])
                .and_then(|text| text.parse::<f64>().ok())
                .map(|mhz| mhz / 1e3)
                .filter(|ghz| *ghz > 0.0),
            flags,
        }
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Widest single-precision vector set: (name, lanes, default FMA units per core).
    ///
    /// NOTE: two FMA units per core holds for recent server cores (Intel since
    /// Haswell, AMD since Zen 2, Arm Neoverse); some AVX-512 parts have one,
    /// and Zen 1 splits 256-bit FMAs in two. `--fma-units` corrects it.
    fn simd(&self) -> Option<(&'static str, usize, usize)> {
        if self.has("avx512f") {
            Some(("AVX-512", 16, 2))
        } else if self.has("avx2") {
            Some(("AVX2", 8, 2))
        } else if self.has("avx") {
            Some(("AVX", 8, 1))
        } else if self.has("sse2") {
            Some(("SSE", 4, 1))
        } else if self.has("asimd") {
            Some(("NEON", 4, 2))
        } else {
            None
        }
    }

    fn has_fma(&self) -> bool {
        self.has("fma") || self.has("asimd")
    }
}

impl CpuPeak {
    /// Computes the peak of this machine.
    pub fn detect(overrides: PeakOverrides) -> Result<Self, PeakUnknown> {
        Self::from_facts(&CpuFacts::read(), overrides)
    }

    /// Computes the peak from `facts`, with `overrides` taking precedence.
    pub fn from_facts(facts: &CpuFacts, overrides: PeakOverrides) -> Result<Self, PeakUnknown> {
        let (simd, lanes, default_units) = facts
            .simd()
            .ok_or_else(|| PeakUnknown("no SSE, AVX or NEON flag in /proc/cpuinfo".to_owned()))?;
        let cores = facts
            .cores
            .ok_or_else(|| PeakUnknown("the core count is unknown".to_owned()))?;
        let (clock_ghz, clock_source) = match (
            overrides.clock_ghz,
            facts.max_clock_ghz,
            facts.listed_clock_ghz,
        ) {
            (Some(ghz), _, _) => (ghz, "--clock-ghz"),
            (None, Some(ghz), _) => (ghz, "cpufreq cpuinfo_max_freq"),
            (None, None, Some(ghz)) => (ghz, "cpu MHz in /proc/cpuinfo"),
            (None, None, None) => {
                return Err(PeakUnknown(
                    "the clock is unknown: give it with --clock-ghz".to_owned(),
                ))
            }
        };
        let (fma_units, fma_source) = match overrides.fma_units {
            Some(units) => (units, "--fma-units"),
            None => (default_units, "assumed for this SIMD set"),
        };
        let flop_per_lane = if facts.has_fma() { 2 } else { 1 };
        let gflops = cores as f64 * clock_ghz * (fma_units * lanes * flop_per_lane) as f64;
        let per_op = if flop_per_lane == 2 {
            "2 FLOP per FMA"
        } else {
            "1 FLOP per instruction (no FMA)"
        };
        let formula = format!(
            "{gflops:.1} GFLOP/s = {cores} cores x {clock_ghz:.3} GHz ({clock_source}) x \
             {fma_units} FMA units ({fma_source}) x {lanes} f32 lanes ({simd}) x {per_op}"
        );
        Ok(Self {
            model: facts.model.clone().unwrap_or_else(|| "unknown".to_owned()),
            cores,
            clock_ghz,
            clock_source: clock_source.to_owned(),
            simd: simd.to_owned(),
            lanes,
            fma_units,
            fma_source: fma_source.to_owned(),
            flop_per_lane,
            gflops,
            formula,
        })
    }

    /// Peak GFLOP/s of `threads` cores (at most all of them).
    pub fn gflops_for_threads(&self, threads: usize) -> f64 {
        self.gflops * threads.min(self.cores) as f64 / self.cores as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPYC: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\n\
        model name\t: AMD EPYC 7B13\ncpu MHz\t\t: 2445.430\n\
        flags\t\t: fpu sse sse2 avx fma avx2 bmi2\n\nprocessor\t: 1\ncpu MHz\t\t: 2000.000\n";

    fn facts(cpuinfo: &str, max_khz: Option<&str>, cores: usize) -> CpuFacts {
        let mut facts = CpuFacts::parse(cpuinfo, max_khz);
        facts.cores = Some(cores);
        facts
    }

    #[test]
    fn avx2_peak_multiplies_its_inputs() {
        let peak = CpuPeak::from_facts(&facts(EPYC, None, 2), PeakOverrides::default()).unwrap();
        assert_eq!(peak.model, "AMD EPYC 7B13");
        assert_eq!(
            (peak.simd.as_str(), peak.lanes, peak.fma_units),
            ("AVX2", 8, 2)
        );
        assert!((peak.clock_ghz - 2.44543).abs() < 1e-9);
        // 2 cores x 2.44543 GHz x 2 units x 8 lanes x 2 FLOP.
        assert!((peak.gflops - 2.0 * 2.44543 * 32.0).abs() < 1e-9);
        assert!(
            peak.formula.contains("2 cores x 2.445 GHz"),
            "{}",
            peak.formula
        );
        assert!((peak.gflops_for_threads(1) - peak.gflops / 2.0).abs() < 1e-9);
        assert_eq!(peak.gflops_for_threads(8), peak.gflops);
    }

    #[test]
    fn cpufreq_maximum_and_overrides_take_precedence() {
        let from_sysfs =
            CpuPeak::from_facts(&facts(EPYC, Some("3500000\n"), 4), PeakOverrides::default())
                .unwrap();
        assert_eq!(from_sysfs.clock_ghz, 3.5);
        assert_eq!(from_sysfs.clock_source, "cpufreq cpuinfo_max_freq");
        let overrides = PeakOverrides {
            clock_ghz: Some(3.0),
            fma_units: Some(1),
        };
        let forced = CpuPeak::from_facts(&facts(EPYC, Some("3500000"), 4), overrides).unwrap();
        assert!((forced.gflops - 4.0 * 3.0 * 8.0 * 2.0).abs() < 1e-9);
        assert_eq!(forced.fma_source, "--fma-units");
    }

    #[test]
    fn avx512_and_missing_fma_change_the_rate() {
        let avx512 = facts(
            "flags : sse2 avx avx2 fma avx512f\ncpu MHz : 2000\n",
            None,
            1,
        );
        let peak = CpuPeak::from_facts(&avx512, PeakOverrides::default()).unwrap();
        assert_eq!((peak.lanes, peak.gflops), (16, 2.0 * 2.0 * 16.0 * 2.0));
        let sse = facts("flags : sse sse2\ncpu MHz : 1000\n", None, 1);
        let peak = CpuPeak::from_facts(&sse, PeakOverrides::default()).unwrap();
        assert_eq!((peak.flop_per_lane, peak.gflops), (1, 4.0));
    }

    #[test]
    fn unknown_clock_or_simd_is_reported() {
        let no_clock = facts("flags : sse2 avx2 fma\n", None, 2);
        let error = CpuPeak::from_facts(&no_clock, PeakOverrides::default()).unwrap_err();
        assert!(error.0.contains("--clock-ghz"), "{error}");
        let no_simd = facts("cpu MHz : 1000\n", None, 2);
        assert!(CpuPeak::from_facts(&no_simd, PeakOverrides::default()).is_err());
    }
}

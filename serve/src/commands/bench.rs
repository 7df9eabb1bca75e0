//! `serve bench`: latency and throughput of a model over a sweep of batch
//! sizes and intra-op thread counts, with the run's settings recorded.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serve::bench::{
    synthetic_input, time_runs, BenchRecord, Budget, CpuPeak, PeakOverrides, Plan, NOISY_CV,
};
use serve::inspect::read_model;
use serve::runtime::{self, default_intra_threads, physical_cores};
use serve::{count_model, Device, OnnxModel, Optimization, RunOptions};

use super::{parse_positive, print_json, DeviceArg};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// ONNX model file.
    pub model: PathBuf,
    /// Batch sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_positive, default_value = "1,8,32")]
    pub batch: Vec<usize>,
    /// Intra-op thread counts to measure, comma-separated [default: 1, 2, 4, ...
    /// up to the physical cores, and the core count itself].
    #[arg(long, value_delimiter = ',', value_parser = parse_positive)]
    pub threads: Vec<usize>,
    /// Execution provider; cuda fails when CUDA is unavailable, never falling back to the CPU.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// ONNX Runtime graph optimisation level.
    #[arg(long, value_enum, default_value = "all")]
    pub optimization: OptimizationArg,
    /// Untimed warm-up runs per configuration.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub warmup: usize,
    /// Warm-up time per configuration in seconds, instead of --warmup.
    #[arg(long, value_parser = parse_seconds, conflicts_with = "warmup", value_name = "SECONDS")]
    pub warmup_time: Option<f64>,
    /// Timed runs per configuration, instead of --duration.
    #[arg(long, value_parser = parse_positive, value_name = "N")]
    pub iterations: Option<usize>,
    /// Timed seconds per configuration, with at least --min-iterations runs [default: 3].
    #[arg(long, value_parser = parse_seconds, conflicts_with = "iterations", value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Fewest timed runs under --duration.
    #[arg(long, default_value_t = 10, value_parser = parse_positive, value_name = "N")]
    pub min_iterations: usize,
    /// CPU clock in GHz for the peak, where the detected one is wrong or missing.
    #[arg(long, value_parser = parse_seconds, value_name = "GHZ")]
    pub clock_ghz: Option<f64>,
    /// Fused multiply-add units per core for the peak [default: by SIMD set].
    #[arg(long, value_parser = parse_positive, value_name = "N")]
    pub fma_units: Option<usize>,
    /// Print one JSON document instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV, one row per configuration, instead of a table.
    #[arg(long)]
    pub csv: bool,
}

/// `--optimization`: ONNX Runtime's graph optimisation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizationArg {
    Disable,
    Basic,
    Extended,
    All,
}

impl From<OptimizationArg> for Optimization {
    fn from(level: OptimizationArg) -> Self {
        match level {
            OptimizationArg::Disable => Optimization::Disable,
            OptimizationArg::Basic => Optimization::Basic,
            OptimizationArg::Extended => Optimization::Extended,
            OptimizationArg::All => Optimization::All,
        }
    }
}

/// Timed seconds run when neither --iterations nor --duration is given.
const DEFAULT_DURATION_SECONDS: f64 = 3.0;

/// Everything one `serve bench` run measured, and the settings it ran under.
#[derive(Debug, Serialize)]
struct BenchReport {
    model: PathBuf,
    genotype: Option<String>,
    onnx_runtime_version: String,
    onnx_runtime_library: PathBuf,
    device: &'static str,
    execution_provider: &'static str,
    graph_optimization: &'static str,
    /// Nodes run one after another; the inter-op pool is unused.
    execution_mode: &'static str,
    warmup: String,
    timed: String,
    /// Multiply-adds per image of the deployed graph (BatchNorm folded).
    macs_per_image: Option<u64>,
    /// The CPU's peak FLOP rate; `None` on CUDA or when it is unknown.
    peak: Option<CpuPeak>,
    /// Reason the peak is missing.
    peak_missing: Option<String>,
    results: Vec<BenchRecord>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let plan = plan(&args);
    let threads = thread_sweep(&args.threads);
    let device = Device::from(args.device);
    let optimization = Optimization::from(args.optimization);
    let macs_per_image = deployed_macs(&args.model);
    let (peak, peak_missing) = match device {
        Device::Cpu => match CpuPeak::detect(PeakOverrides {
            clock_ghz: args.clock_ghz,
            fma_units: args.fma_units,
        }) {
            Ok(peak) => (Some(peak), None),
            Err(unknown) => (None, Some(unknown.to_string())),
        },
        Device::Cuda => (
            None,
            Some("the peak is computed for the CPU only".to_owned()),
        ),
    };

    let bar = progress_bar((threads.len() * args.batch.len()) as u64);
    let mut results = Vec::new();
    let mut genotype = None;
    for &intra in &threads {
        let options = RunOptions {
            device,
            threads: Some(intra),
        };
        let mut model = OnnxModel::open_with(&args.model, &options, optimization)
            .with_context(|| format!("failed to open model {}", args.model.display()))?;
        genotype = model.metadata().genotype_name.clone();
        for &batch in &args.batch {
            bar.set_message(format!("batch {batch}, {intra} threads"));
            let record = measure(
                &mut model,
                batch,
                intra,
                &plan,
                macs_per_image,
                peak.as_ref(),
            )?;
            if record.noisy {
                tracing::warn!(
                    batch,
                    threads = intra,
                    cv = record.latency.cv,
                    "latency varies by more than {:.0} % of the mean: close other programs \
                     or time longer (--duration) before trusting it",
                    NOISY_CV * 100.0
                );
            }
            results.push(record);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let runtime = runtime::init()?;
    let report = BenchReport {
        model: args.model.clone(),
        genotype,
        onnx_runtime_version: runtime.version.clone(),
        onnx_runtime_library: runtime.library.clone(),
        device: device.name(),
        execution_provider: match device {
            Device::Cpu => "CPUExecutionProvider",
            Device::Cuda => "CUDAExecutionProvider",
        },
        graph_optimization: optimization.name(),
        execution_mode: "sequential",
        warmup: describe_budget(&plan.warmup, 0),
        timed: describe_budget(&plan.timed, plan.min_iterations),
        macs_per_image,
        peak,
        peak_missing,
        results,
    };
    if args.json {
        print_json(&report)
    } else if args.csv {
        print!("{}", csv(&report));
        Ok(())
    } else {
        print!("{}", table(&report));
        Ok(())
    }
}

fn plan(args: &BenchArgs) -> Plan {
    let seconds = |s: f64| Budget::Duration(Duration::from_secs_f64(s));
    Plan {
        warmup: args
            .warmup_time
            .map_or(Budget::Iterations(args.warmup), seconds),
        timed: match (args.iterations, args.duration) {
            (Some(n), _) => Budget::Iterations(n),
            (None, Some(s)) => seconds(s),
            (None, None) => seconds(DEFAULT_DURATION_SECONDS),
        },
        min_iterations: args.min_iterations,
    }
}

/// Returns the requested thread counts, or 1, 2, 4, ... up to the physical
/// cores plus the core count itself.
fn thread_sweep(requested: &[usize]) -> Vec<usize> {
    if !requested.is_empty() {
        return requested.to_vec();
    }
    let cores = physical_cores().unwrap_or_else(default_intra_threads);
    let mut sweep: Vec<usize> = std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n < cores)
        .collect();
    sweep.push(cores);
    sweep
}

/// Multiply-adds per image of the graph as deployed; `None`, with a warning,
/// when the graph cannot be counted.
fn deployed_macs(path: &Path) -> Option<u64> {
    let counted = read_model(path)
        .map_err(anyhow::Error::from)
        .and_then(|proto| count_model(&proto).map_err(anyhow::Error::from));
    match counted {
        Ok(counts) => Some(counts.macs_deployed),
        Err(error) => {
            tracing::warn!(
                "cannot count the multiply-adds of {}, so rates are left out: {error:#}",
                path.display()
            );
            None
        }
    }
}

fn measure(
    model: &mut OnnxModel,
    batch: usize,
    intra: usize,
    plan: &Plan,
    macs_per_image: Option<u64>,
    peak: Option<&CpuPeak>,
) -> anyhow::Result<BenchRecord> {
    let [channels, height, width] = model.input_size();
    let shape = [batch, channels, height, width];
    let input = synthetic_input(shape.iter().product(), batch as u64);
    let samples = time_runs(model, &input, batch, plan)
        .with_context(|| format!("failed to run batch {batch} with {intra} threads"))?;
    match BenchRecord::new(shape, intra, &samples, macs_per_image, peak) {
        Some(record) => Ok(record),
        None => bail!("no timed run for batch {batch}: use --iterations 1 or more"),
    }
}

fn describe_budget(budget: &Budget, min_iterations: usize) -> String {
    match budget {
        Budget::Iterations(n) => format!("{n} iterations"),
        Budget::Duration(d) if min_iterations > 0 => format!(
            "{} s, at least {min_iterations} iterations",
            d.as_secs_f64()
        ),
        Budget::Duration(d) => format!("{} s", d.as_secs_f64()),
    }
}

const CSV_HEADER: &str =
    "model,genotype,onnx_runtime_version,execution_provider,graph_optimization,\
batch,intra_threads,input_shape,iterations,mean_ms,min_ms,p50_ms,p90_ms,p99_ms,max_ms,std_ms,cv,\
noisy,images_per_second,macs_per_image,gmacs_per_second,peak_gflops,peak_percent,\
peak_percent_of_used_cores";

fn csv(report: &BenchReport) -> String {
    let optional = |value: Option<f64>| value.map_or(String::new(), |v| format!("{v:.6}"));
    let mut text = format!("{CSV_HEADER}\n");
    for r in &report.results {
        let shape: Vec<String> = r.input_shape.iter().map(usize::to_string).collect();
        let l = &r.latency;
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{},{:.3},{},{},{},{},{}",
            csv_field(&report.model.display().to_string()),
            csv_field(report.genotype.as_deref().unwrap_or("")),
            report.onnx_runtime_version,
            report.execution_provider,
            report.graph_optimization,
            r.batch,
            r.intra_threads,
            shape.join("x"),
            l.iterations,
            l.mean_ms,
            l.min_ms,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms,
            l.std_ms,
            l.cv,
            r.noisy,
            r.images_per_second,
            report.macs_per_image.map_or(String::new(), |m| m.to_string()),
            optional(r.gmacs_per_second),
            optional(report.peak.as_ref().map(|p| p.gflops)),
            optional(r.peak_percent),
            optional(r.peak_percent_of_used_cores),
        );
    }
    text
}

/// Quotes a CSV field when it contains a comma, quote or line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn table(report: &BenchReport) -> String {
    let mut text = table_header(report);
    text.push('\n');
    text.push_str(&table_rows(report));
    text
}

/// Describes the model, the runtime, the budgets and the peak, one per line.
fn table_header(report: &BenchReport) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "model: {}", report.model.display());
    if let Some(genotype) = &report.genotype {
        let _ = writeln!(text, "genotype: {genotype}");
    }
    let _ = writeln!(
        text,
        "ONNX Runtime {} ({}), {}, graph optimisation {}, {} execution",
        report.onnx_runtime_version,
        report.onnx_runtime_library.display(),
        report.execution_provider,
        report.graph_optimization,
        report.execution_mode
    );
    let _ = writeln!(text, "warm-up: {}; timed: {}", report.warmup, report.timed);
    match report.macs_per_image {
        Some(macs) => {
            let _ = writeln!(
                text,
                "multiply-adds per image (deployed graph): {macs} ({:.1} M)",
                macs as f64 / 1e6
            );
        }
        None => text.push_str("multiply-adds per image: unknown\n"),
    }
    match (&report.peak, &report.peak_missing) {
        (Some(peak), _) => {
            let _ = writeln!(text, "CPU: {}", peak.model);
            let _ = writeln!(text, "peak: {}", peak.formula);
        }
        (None, Some(reason)) => {
            let _ = writeln!(text, "peak: unknown ({reason})");
        }
        (None, None) => {}
    }
    text
}

/// Formats one row per configuration, then the footnotes.
fn table_rows(report: &BenchReport) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:>5} {:>7} {:>14} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10} {:>8} {:>7} {:>12}",
        "batch", "threads", "input", "runs", "mean ms", "min ms", "p50 ms", "p90 ms", "p99 ms",
        "max ms", "CV", "images/s", "GMAC/s", "% peak", "% used cores"
    );
    let percent = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for r in &report.results {
        let l = &r.latency;
        let shape: Vec<String> = r.input_shape.iter().map(usize::to_string).collect();
        let cv = format!("{:.1}%{}", l.cv * 100.0, if r.noisy { "!" } else { "" });
        let _ = writeln!(
            text,
            "{:>5} {:>7} {:>14} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7} {:>10.1} {:>8} {:>7} {:>12}",
            r.batch,
            r.intra_threads,
            shape.join("x"),
            l.iterations,
            l.mean_ms,
            l.min_ms,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms,
            cv,
            r.images_per_second,
            r.gmacs_per_second.map_or("-".to_owned(), |g| format!("{g:.2}")),
            percent(r.peak_percent),
            percent(r.peak_percent_of_used_cores),
        );
    }
    if report.results.iter().any(|r| r.noisy) {
        let _ = writeln!(
            text,
            "\n! coefficient of variation over {:.0} %: the machine was busy or the run too short",
            NOISY_CV * 100.0
        );
    }
    text.push_str(
        "\n% peak: 2 FLOP per multiply-add over the peak above; % used cores: over the peak \
         of min(threads, cores) cores\n",
    );
    text
}

/// Parses a positive, finite number (seconds or GHz).
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err(format!("expected a positive number, got {text:?}")),
    }
}

/// Creates a progress bar on stderr, which indicatif hides when stderr is not a terminal.
fn progress_bar(configurations: u64) -> ProgressBar {
    let bar = ProgressBar::new(configurations);
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} configurations: {msg}")
        .expect("the template is valid");
    bar.set_style(style);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_thread_sweep_doubles() {
        assert_eq!(thread_sweep(&[3, 1]), vec![3, 1]);
        let sweep = thread_sweep(&[]);
        assert_eq!(sweep[0], 1);
        assert!(sweep.windows(2).all(|w| w[0] < w[1]), "{sweep:?}");
    }

    #[test]
    fn csv_fields_with_commas_are_quoted() {
        assert_eq!(csv_field("a.onnx"), "a.onnx");
        assert_eq!(csv_field("a,b \"c\""), "\"a,b \"\"c\"\"\"");
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(parse_seconds("2.5"), Ok(2.5));
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}

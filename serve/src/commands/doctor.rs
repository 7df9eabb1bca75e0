//! `serve doctor`: which ONNX Runtime is loaded and what it can run on.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use serve::runtime;

use super::print_json;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct ProviderStatus {
    usable: bool,
    /// Reason the provider cannot be used, or `None` when it is usable.
    problem: Option<String>,
}

#[derive(Debug, Serialize)]
struct DoctorOutput {
    onnxruntime_version: String,
    library: PathBuf,
    /// Source of the library path: ORT_DYLIB_PATH, build-time path or next to the executable.
    library_source: &'static str,
    /// Execution providers compiled into the library.
    compiled_providers: Vec<String>,
    cpu: ProviderStatus,
    cuda: ProviderStatus,
    /// Estimate of ONNX Runtime's default, see `runtime::default_intra_threads`.
    default_intra_op_threads: usize,
    physical_cores: Option<usize>,
    logical_cpus: Option<usize>,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let runtime = runtime::init().context("failed to load ONNX Runtime")?;
    let compiled_providers = runtime::available_providers(runtime)
        .map_err(anyhow::Error::msg)
        .context("failed to list the execution providers")?;
    let cuda = match runtime::cuda_status(runtime) {
        Ok(()) => ProviderStatus {
            usable: true,
            problem: None,
        },
        Err(error) => ProviderStatus {
            usable: false,
            problem: Some(error.to_string()),
        },
    };
    let output = DoctorOutput {
        onnxruntime_version: runtime.version.clone(),
        library: runtime.library.clone(),
        library_source: runtime.source,
        compiled_providers,
        cpu: ProviderStatus {
            usable: true,
            problem: None,
        },
        cuda,
        default_intra_op_threads: runtime::default_intra_threads(),
        physical_cores: runtime::physical_cores(),
        logical_cpus: std::thread::available_parallelism().ok().map(usize::from),
    };
    if args.json {
        print_json(&output)
    } else {
        print_text(&output);
        Ok(())
    }
}

fn print_text(output: &DoctorOutput) {
    println!("ONNX Runtime   {}", output.onnxruntime_version);
    println!(
        "library        {} (found via {})",
        output.library.display(),
        output.library_source
    );

    println!("compiled in    {}", output.compiled_providers.join(", "));
    println!("CPU            usable");
    match &output.cuda.problem {
        None => println!("CUDA           usable"),
        Some(problem) => println!("CUDA           not usable: {problem}"),
    }

    println!(
        "threads        {} intra-op threads by default (ONNX Runtime uses one per \
         physical core); --threads N sets the count",
        output.default_intra_op_threads
    );
    println!(
        "cores          {} physical, {} logical",
        optional(output.physical_cores),
        optional(output.logical_cpus)
    );
}

fn optional(value: Option<usize>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |v| v.to_string())
}

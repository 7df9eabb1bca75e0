//! `serve`: classify images, evaluate accuracy, benchmark and inspect ONNX models
//! exported by `export`, on ONNX Runtime.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "serve",
    version,
    about = "Run exported sharpDARTS ONNX models on ONNX Runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify PNG or JPEG images and print the top-k classes of each.
    Predict(commands::predict::PredictArgs),
    /// Measure top-1, top-5 and per-class accuracy on a CIFAR-10 split, the
    /// CIFAR-10.1 test set, an ImageNet split or a folder of class folders.
    Eval(commands::eval::EvalArgs),
    /// Print a model's inputs, outputs, opset, counts and metadata.
    Info(commands::info::InfoArgs),
    /// Measure latency and throughput over batch sizes and thread counts.
    Bench(commands::bench::BenchArgs),
    /// Report the ONNX Runtime library, its execution providers and thread defaults.
    Doctor(commands::doctor::DoctorArgs),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Predict(args) => commands::predict::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Doctor(args) => commands::doctor::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Restores the default SIGPIPE action, which the Rust runtime sets to
/// ignore, so that writing to a closed pipe (`serve info M | head -3`) ends
/// the process quietly like other Unix tools instead of panicking in
/// `println!`.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in `main`, before any other thread exists, and
    // SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs to stderr; `RUST_LOG` sets the filter, warnings and errors by default.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

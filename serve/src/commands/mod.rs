//! The `serve` subcommands and the options they share.

pub mod bench;
pub mod doctor;
pub mod eval;
pub mod info;
pub mod predict;

use std::path::Path;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serve::{Device, OnnxModel, RunOptions};

/// `--device`: where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// ONNX Runtime's CPU execution provider.
    Cpu,
    /// The CUDA execution provider on GPU 0; fails if CUDA is unavailable.
    Cuda,
}

impl From<DeviceArg> for Device {
    fn from(device: DeviceArg) -> Self {
        match device {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda,
        }
    }
}

/// Session options shared by `predict` and `eval`.
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// Execution provider to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// Intra-op threads for ONNX Runtime [default: one per physical core].
    #[arg(long, value_parser = parse_positive)]
    pub threads: Option<usize>,
}

impl SessionArgs {
    pub fn options(&self) -> RunOptions {
        RunOptions {
            device: self.device.into(),
            threads: self.threads,
        }
    }
}

/// Opens the model with the session options, naming the file on failure.
pub fn open_model(path: &Path, session: &SessionArgs) -> anyhow::Result<OnnxModel> {
    OnnxModel::open(path, &session.options())
        .with_context(|| format!("failed to open model {}", path.display()))
}

/// Parses an integer of at least 1.
pub fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err(format!("expected an integer of at least 1, got {text:?}")),
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("failed to encode the JSON output")?;
    println!("{text}");
    Ok(())
}

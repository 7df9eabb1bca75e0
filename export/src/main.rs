//! `export`: writes a trained or freshly initialised sharpDARTS network as ONNX.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{ArgGroup, Parser};
use export::onnx::{self, metadata_keys};
use export::Weights;
use models::{Genotype, ModelFile, NetworkConfig};
use tracing::info;

/// Export a sharpDARTS network to ONNX (opset 17, BatchNorm folded).
///
/// Either from a training run directory (model.json + weights.safetensors) or
/// from a genotype with freshly initialised weights, for benchmarks and tests.
#[derive(Parser, Debug)]
#[command(version)]
#[command(group(ArgGroup::new("format").required(true).multiple(true).args(["onnx"])))]
#[command(group(ArgGroup::new("source").required(true).args(["run", "genotype"])))]
struct Args {
    /// Write an ONNX model.
    #[arg(long)]
    onnx: bool,

    /// Training run directory containing model.json and weights.safetensors.
    #[arg(long, value_name = "RUN_DIR")]
    run: Option<PathBuf>,

    /// Built-in genotype name (e.g. SHARPSEPCONV_DARTS, DARTS) or genotype JSON file;
    /// the network gets CIFAR-10 settings and random weights.
    #[arg(long, value_name = "NAME|FILE", requires_all = ["init_channels", "layers"])]
    genotype: Option<String>,

    /// Channels of the first cell; required with --genotype.
    #[arg(long, value_name = "C", conflicts_with = "run")]
    init_channels: Option<usize>,

    /// Number of cells; required with --genotype.
    #[arg(long, value_name = "L", conflicts_with = "run")]
    layers: Option<usize>,

    /// Number of classes, with --genotype.
    #[arg(long, default_value_t = 10, conflicts_with = "run")]
    num_classes: usize,

    /// Seed of the random initialisation, with --genotype.
    #[arg(long, default_value_t = 0, conflicts_with = "run")]
    seed: u64,

    /// Output ONNX file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Restores the default SIGPIPE action, which the Rust runtime sets to
/// ignore, so that writing to a closed pipe (`export ... | head -0`) ends the
/// process quietly like other Unix tools instead of panicking in `println!`.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in `main`, before any other thread exists, and
    // SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let (file, weights) = match &args.run {
        Some(run) => load_run(run)?,
        None => fresh_model(&args)?,
    };
    if args.onnx {
        write_onnx(&file, &weights, &args.out)?;
    }
    Ok(())
}

/// Reads `model.json` and `weights.safetensors` from a run directory.
fn load_run(run: &Path) -> Result<(ModelFile, Weights)> {
    anyhow::ensure!(
        run.is_dir(),
        "run directory {} not found; pass the folder a training run wrote",
        run.display()
    );
    let model_path = run.join("model.json");
    let context = || format!("failed to load run {}", run.display());
    let file = ModelFile::load(&model_path).with_context(context)?;
    let weights_path = run.join("weights.safetensors");
    let weights = Weights::load_safetensors(&weights_path).with_context(context)?;
    Ok((file, weights))
}

/// Builds a CIFAR network for `--genotype` with seeded random weights.
fn fresh_model(args: &Args) -> Result<(ModelFile, Weights)> {
    let name_or_path = args.genotype.as_deref().context("--genotype is required")?;
    let genotype = Genotype::resolve(name_or_path)
        .with_context(|| format!("invalid --genotype {name_or_path}"))?;
    let genotype_name = models::genotype::named(name_or_path).map(|g| g.name.to_string());
    let init_channels = args.init_channels.context("--init-channels is required")?;
    let layers = args.layers.context("--layers is required")?;
    let mut network = NetworkConfig::cifar10(init_channels, layers);
    network.num_classes = args.num_classes;
    let mut file = ModelFile::cifar10(genotype_name, genotype, network);
    if args.num_classes != file.classes.len() {
        file.classes = (0..args.num_classes)
            .map(|i| format!("class_{i}"))
            .collect();
    }
    let graph = file.graph().context("invalid network settings")?;
    let weights = Weights::random(&graph, args.seed);
    info!(seed = args.seed, "initialised weights randomly");
    Ok((file, weights))
}

fn write_onnx(file: &ModelFile, weights: &Weights, out: &Path) -> Result<()> {
    let start = Instant::now();
    let model = onnx::build_model_file(file, weights).context("failed to build the ONNX model")?;
    let build_ms = start.elapsed().as_secs_f64() * 1e3;
    onnx::write_model(out, &model)?;
    let size = std::fs::metadata(out)
        .with_context(|| format!("failed to read the size of {}", out.display()))?
        .len();
    let metadata = |key: &str| {
        model
            .metadata_props
            .iter()
            .find(|entry| entry.key == key)
            .map_or("?", |entry| entry.value.as_str())
            .to_string()
    };
    info!(build_ms = format!("{build_ms:.1}"), "built the ONNX graph");
    let node_count = model.graph.as_ref().map_or(0, |g| g.node.len());
    println!(
        "wrote {}: {} parameters, {} MACs, {} nodes, {} bytes",
        out.display(),
        metadata(metadata_keys::PARAMS),
        metadata(metadata_keys::MACS),
        node_count,
        size
    );
    Ok(())
}

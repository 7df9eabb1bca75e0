//! `export`: writes a trained or freshly initialised sharpDARTS network as
//! ONNX, or draws the cells of its genotype.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{ArgGroup, CommandFactory, Parser};
use export::onnx::{self, metadata_keys};
use export::Weights;
use models::{CellKind, DatasetKind, Genotype, ModelFile, NetworkConfig, OpTable};
use tracing::info;

/// Export a sharpDARTS network to ONNX (opset 17, BatchNorm folded), draw
/// the normal and reduction cells of its genotype, or list the built-in
/// genotypes.
///
/// The network comes from a training run directory or from a genotype, which
/// --onnx gives freshly initialised weights, for benchmarks and tests.
#[derive(Parser, Debug)]
#[command(version)]
#[command(group(ArgGroup::new("mode").required(true).args(["onnx", "diagram", "list_genotypes"])))]
#[command(group(ArgGroup::new("source").args(["run", "genotype"])))]
struct Args {
    /// Write an ONNX model.
    #[arg(long)]
    onnx: bool,

    /// Write cell diagrams into the --out folder: <name>_normal.dot,
    /// <name>_normal.svg, <name>_reduction.dot and <name>_reduction.svg.
    #[arg(long)]
    diagram: bool,

    /// List the built-in genotypes with their search space and their sizes
    /// on CIFAR-10 (36 channels, 20 cells) and ImageNet (48 channels, 14 cells).
    #[arg(
        long,
        conflicts_with_all = [
            "source", "out", "init_channels", "layers", "dataset", "ops", "mid_channels",
            "num_classes", "seed"
        ]
    )]
    list_genotypes: bool,

    /// Print the genotype list as JSON, with --list-genotypes.
    #[arg(long, requires = "list_genotypes")]
    json: bool,

    /// Training run directory containing model.json, and weights.safetensors for --onnx.
    #[arg(long, value_name = "RUN_DIR")]
    run: Option<PathBuf>,

    /// Built-in genotype name (e.g. SHARPSEPCONV_DARTS, DARTS) or genotype JSON file;
    /// with --onnx the network gets the --dataset settings and random weights.
    #[arg(long, value_name = "NAME|FILE")]
    genotype: Option<String>,

    /// Channels of the first cell; required with --onnx --genotype.
    #[arg(
        long,
        value_name = "C",
        conflicts_with_all = ["run", "diagram"]
    )]
    init_channels: Option<usize>,

    /// Number of cells; required with --onnx --genotype.
    #[arg(
        long,
        value_name = "L",
        conflicts_with_all = ["run", "diagram"]
    )]
    layers: Option<usize>,

    /// Network type, with --onnx --genotype: cifar10 (32x32 input) or
    /// imagenet (224x224 input, 1000 classes unless --num-classes).
    #[arg(
        long,
        default_value = "cifar10",
        value_name = "cifar10|imagenet",
        conflicts_with_all = ["run", "diagram"]
    )]
    dataset: DatasetKind,

    /// Operation table, with --onnx --genotype: sharp or darts (the original
    /// DARTS operations).
    #[arg(
        long,
        default_value = "sharp",
        value_name = "sharp|darts",
        conflicts_with_all = ["run", "diagram"]
    )]
    ops: OpTable,

    /// Middle width of choke convolutions, with --onnx --genotype
    /// [default: 32 for cifar10, 96 for imagenet].
    #[arg(long, value_name = "C", conflicts_with_all = ["run", "diagram"])]
    mid_channels: Option<usize>,

    /// Number of classes, with --onnx --genotype [default: 10 for cifar10,
    /// 1000 for imagenet].
    #[arg(long, value_name = "N", conflicts_with_all = ["run", "diagram"])]
    num_classes: Option<usize>,

    /// Seed of the random initialisation, with --onnx --genotype.
    #[arg(long, default_value_t = 0, conflicts_with_all = ["run", "diagram"])]
    seed: u64,

    /// Output: the ONNX file with --onnx, the folder for the diagrams with
    /// --diagram (created if missing).
    #[arg(long, value_name = "PATH", required_unless_present = "list_genotypes")]
    out: Option<PathBuf>,
}

impl Args {
    /// Returns `--out`, which clap requires unless --list-genotypes is given.
    fn out(&self) -> &Path {
        self.out.as_deref().expect("clap requires --out here")
    }
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
    if args.list_genotypes {
        return list_genotypes(args.json);
    }
    anyhow::ensure!(
        !args.json,
        "--json only applies to --list-genotypes; --onnx and --diagram write files"
    );
    check_required(&args);
    if args.diagram {
        return write_diagrams(&args);
    }
    let (file, weights) = match &args.run {
        Some(run) => load_run(run)?,
        None => fresh_model(&args)?,
    };
    write_onnx(&file, &weights, args.out())
}

/// Exits with clap's usage error when the network source, or the network
/// size that --onnx --genotype needs, is missing.
fn check_required(args: &Args) {
    let mut missing = Vec::new();
    if args.run.is_none() && args.genotype.is_none() {
        missing.push("<--run <RUN_DIR>|--genotype <NAME|FILE>>");
    }
    if args.onnx && args.run.is_none() {
        if args.init_channels.is_none() {
            missing.push("--init-channels <C>");
        }
        if args.layers.is_none() {
            missing.push("--layers <L>");
        }
    }
    if missing.is_empty() {
        return;
    }
    let message = format!(
        "the following required arguments were not provided:\n  {}",
        missing.join("\n  ")
    );
    Args::command()
        .error(clap::error::ErrorKind::MissingRequiredArgument, message)
        .exit();
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

/// Builds the `--dataset` network for `--genotype` with seeded random weights.
fn fresh_model(args: &Args) -> Result<(ModelFile, Weights)> {
    let name_or_path = args.genotype.as_deref().context("--genotype is required")?;
    let genotype = Genotype::resolve(name_or_path)
        .with_context(|| format!("invalid --genotype {name_or_path}"))?;
    let genotype_name = models::genotype::named(name_or_path).map(|g| g.name.to_string());
    let init_channels = args.init_channels.context("--init-channels is required")?;
    let layers = args.layers.context("--layers is required")?;
    let recipe = NetworkConfig::for_dataset(args.dataset, init_channels, layers);
    let network = NetworkConfig {
        ops: args.ops,
        num_classes: args.num_classes.unwrap_or(recipe.num_classes),
        mid_channels: args.mid_channels.unwrap_or(recipe.mid_channels),
        ..recipe
    };
    let is_cifar10 = args.dataset == DatasetKind::Cifar10 && network.num_classes == 10;
    let file = if is_cifar10 {
        ModelFile::cifar10(genotype_name, genotype, network)
    } else {
        let classes = (0..network.num_classes)
            .map(|i| format!("class_{i}"))
            .collect();
        ModelFile::new(genotype_name, genotype, network, classes)
    };
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

/// Most intermediate nodes per cell that `--diagram` lays out.
const MAX_DIAGRAM_STEPS: usize = 32;

/// Writes the DOT and SVG diagrams of both cells of the `--genotype` or
/// `--run` genotype into the `--out` folder, creating it if needed.
fn write_diagrams(args: &Args) -> Result<()> {
    let (name, genotype) = match (&args.run, &args.genotype) {
        (Some(run), _) => run_genotype(run)?,
        (None, Some(name_or_path)) => named_or_file_genotype(name_or_path)?,
        (None, None) => anyhow::bail!("--diagram needs --genotype NAME|FILE or --run RUN_DIR"),
    };
    let steps = genotype.normal_steps().max(genotype.reduce_steps());
    // NOTE: the layout's time grows with about the fourth power of the node
    // count (a 32-node cell takes under a second, 96 nodes over half a minute).
    anyhow::ensure!(
        steps <= MAX_DIAGRAM_STEPS,
        "the genotype has {steps} nodes in a cell; --diagram draws cells of up to \
         {MAX_DIAGRAM_STEPS} nodes"
    );
    let folder = args.out();
    anyhow::ensure!(
        folder.is_dir() || !folder.exists(),
        "--out {} is not a folder; --diagram writes four files, so pass a folder path",
        folder.display()
    );
    std::fs::create_dir_all(folder)
        .with_context(|| format!("failed to create the output folder {}", folder.display()))?;
    for kind in CellKind::ALL {
        let files = [
            ("dot", models::cell_dot(&genotype, kind)),
            ("svg", models::cell_svg(&genotype, kind)),
        ];
        for (extension, text) in files {
            let path = folder.join(format!("{name}_{}.{extension}", kind.name()));
            models::io::write_atomic(&path, text.as_bytes())
                .with_context(|| format!("failed to write {}", path.display()))?;
            info!(path = %path.display(), cell = kind.name(), "wrote a cell diagram");
        }
    }
    Ok(())
}

/// Resolves `--genotype` for `--diagram`. The file name prefix is the name as
/// given for a built-in genotype, or the file stem for a JSON file.
fn named_or_file_genotype(name_or_path: &str) -> Result<(String, Genotype)> {
    let genotype = Genotype::resolve(name_or_path)
        .with_context(|| format!("invalid --genotype {name_or_path}"))?;
    let name = if models::genotype::named(name_or_path).is_some() {
        name_or_path.to_string()
    } else {
        let stem = Path::new(name_or_path).file_stem().unwrap_or_default();
        stem.to_string_lossy().into_owned()
    };
    Ok((file_name_prefix(&name), genotype))
}

/// Reads the genotype of a run from its `model.json`. The file name prefix is
/// the built-in genotype name recorded there, else the run folder's name.
fn run_genotype(run: &Path) -> Result<(String, Genotype)> {
    anyhow::ensure!(
        run.is_dir(),
        "run directory {} not found; pass the folder a training run wrote",
        run.display()
    );
    let model_path = run.join("model.json");
    let file = ModelFile::load(&model_path)
        .with_context(|| format!("failed to load run {}", run.display()))?;
    let name = match file.genotype_name {
        Some(name) => name,
        None => {
            let folder = run.canonicalize().unwrap_or_else(|_| run.to_path_buf());
            let folder_name = folder.file_name().unwrap_or_default();
            folder_name.to_string_lossy().into_owned()
        }
    };
    Ok((file_name_prefix(&name), file.genotype))
}

/// Makes a name safe as a file name prefix: characters other than ASCII
/// letters, digits, `-`, `_` and `.` become `_`, and an empty name becomes
/// `genotype`.
fn file_name_prefix(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        "genotype".to_string()
    } else {
        safe
    }
}

/// One row of `--list-genotypes`.
#[derive(serde::Serialize)]
struct GenotypeRow {
    name: String,
    aliases: Vec<String>,
    /// Search space the genotype was found in; none for NASNet and AmoebaNet.
    primitives: Option<String>,
    cifar10: Size,
    imagenet: Size,
}

/// Parameters (without the auxiliary head) and multiply-adds of one network.
#[derive(serde::Serialize)]
struct Size {
    init_channels: usize,
    layers: usize,
    params: usize,
    macs: u64,
}

fn published_size(genotype: &Genotype, config: &NetworkConfig) -> Result<Size> {
    let graph = models::build_network(genotype, config)?;
    Ok(Size {
        init_channels: config.init_channels,
        layers: config.layers,
        params: models::count_parameters(&graph).main,
        macs: models::count_macs(&graph),
    })
}

/// Prints every built-in genotype with its sizes at the published network
/// settings, as a table or as JSON.
fn list_genotypes(json: bool) -> Result<()> {
    let cifar = NetworkConfig::cifar10(36, 20);
    let imagenet = NetworkConfig::imagenet(48, 14);
    let mut rows = Vec::new();
    for named in models::genotype::named_genotypes() {
        let genotype = named.genotype();
        rows.push(GenotypeRow {
            name: named.name.clone(),
            aliases: named.aliases.clone(),
            primitives: named.primitives.clone(),
            cifar10: published_size(&genotype, &cifar)?,
            imagenet: published_size(&genotype, &imagenet)?,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<36} {:<20} {:>10} {:>12} {:>10} {:>12}  aliases",
        "genotype", "primitives", "C10 params", "C10 MACs", "IN params", "IN MACs"
    );
    for row in &rows {
        println!(
            "{:<36} {:<20} {:>10} {:>12} {:>10} {:>12}  {}",
            row.name,
            row.primitives.as_deref().unwrap_or("-"),
            row.cifar10.params,
            row.cifar10.macs,
            row.imagenet.params,
            row.imagenet.macs,
            row.aliases.join(", ")
        );
    }
    println!(
        "C10: CIFAR-10 network, {} channels x {} cells, choke width {}; \
         IN: ImageNet network, {} x {}, choke width {}. \
         Parameters exclude the auxiliary head.",
        cifar.init_channels,
        cifar.layers,
        cifar.mid_channels,
        imagenet.init_channels,
        imagenet.layers,
        imagenet.mid_channels
    );
    Ok(())
}

//! `train-engine`: the libtorch side of the `train` command. Users run it
//! through the `train` launcher, which finds libtorch first.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use models::search::Weighting;
use models::{DatasetKind, OpTable, PrimitiveSet};
use train::final_training::{self, DeviceChoice, FinalConfig};
use train::search::{self, SearchRunConfig};

/// Train sharpDARTS genotype networks on CIFAR-10 or ImageNet with libtorch.
#[derive(Parser)]
#[command(name = "train", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a genotype network from scratch with the published CIFAR-10 or
    /// ImageNet recipe, without AutoAugment (not implemented yet).
    #[command(allow_negative_numbers = true)]
    Final(Box<FinalArgs>),
    /// Search a cell genotype on CIFAR-10 with DARTS: a supernetwork of mixed
    /// operations, architecture weights trained on half of the training set.
    /// Writes genotype.json, which `train final --genotype` reads.
    #[command(allow_negative_numbers = true)]
    Search(Box<SearchArgs>),
    /// Print the libtorch, CUDA and threading setup.
    Doctor,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Args)]
struct FinalArgs {
    /// Built-in genotype name (e.g. SHARPSEPCONV_DARTS, DARTS) or path to a genotype JSON file.
    #[arg(long, value_name = "NAME|FILE")]
    genotype: String,
    /// Network type and data layout. cifar10: a folder with train/<class>/ and
    /// test/<class>/ images, or the official binary batches. imagenet: a folder
    /// with train/<class>/ and val/<class>/ images. Also selects the published
    /// recipe's defaults for the options below.
    #[arg(long, default_value = "cifar10", value_name = "cifar10|imagenet")]
    dataset: DatasetKind,
    /// Operation table: sharp (every convolution a SharpSepConv) or darts (the
    /// original DARTS operations).
    #[arg(long, default_value = "sharp", value_name = "sharp|darts")]
    ops: OpTable,
    /// Data folder; its layout depends on --dataset.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Run folder for config.json, model.json, weights.safetensors, metrics.jsonl
    /// and result.json.
    #[arg(long, value_name = "RUN_DIR")]
    out: PathBuf,
    /// Replace the results in a non-empty run folder (other files are kept).
    #[arg(long)]
    overwrite: bool,
    /// Number of training epochs [default: 2000; imagenet 300].
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Images per training step [default: 64; imagenet 256].
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Channels of the first cell (C) [default: 36; imagenet 48].
    #[arg(long, value_name = "C")]
    init_channels: Option<usize>,
    /// Number of cells (L) [default: 20; imagenet 14].
    #[arg(long, value_name = "L")]
    layers: Option<usize>,
    /// Maximum learning rate, reached at the end of the warm-up [default: 0.025; imagenet 0.1].
    #[arg(long, value_name = "LR")]
    lr: Option<f64>,
    /// Learning rate of the last epoch [default: 1e-8; imagenet 0.00016].
    #[arg(long, value_name = "LR")]
    lr_min: Option<f64>,
    /// Cosine Power Annealing exponent; 1 gives plain cosine annealing [default: 2; imagenet 10].
    #[arg(long, value_name = "P")]
    lr_power: Option<f64>,
    /// Warm-up epochs W: the learning rate rises linearly over the first W + 1
    /// epochs [default: 5; imagenet 10].
    #[arg(long, value_name = "W")]
    warmup_epochs: Option<usize>,
    /// Random seed for initialisation, subsets, shuffling, augmentation and drop path.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Device to train on; cuda fails when no CUDA device is available.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Train on a seeded class-balanced subset of N training images [default: all].
    #[arg(long, value_name = "N")]
    limit_train: Option<usize>,
    /// Evaluate on a seeded class-balanced subset of N test images [default: all].
    #[arg(long, value_name = "N")]
    limit_test: Option<usize>,
    /// Apply Cutout to training images.
    #[arg(long)]
    cutout: bool,
    /// Side of the Cutout square in pixels; needs --cutout [default: 16].
    #[arg(long, value_name = "PIXELS")]
    cutout_length: Option<usize>,
    /// Weight of the auxiliary head's loss; 0 builds the network without the head.
    #[arg(long, default_value_t = 0.4)]
    auxiliary_weight: f64,
    /// Drop path probability of the last epoch; it ramps up linearly from
    /// epoch 1 [default: 0.2; imagenet 0].
    #[arg(long, value_name = "P")]
    drop_path_prob: Option<f64>,
    /// Maximum global L2 norm of the gradients.
    #[arg(long, default_value_t = 5.0)]
    grad_clip: f64,
    /// Middle width (channels) of choke convolutions [default: 32; imagenet 96].
    #[arg(long, value_name = "C")]
    mid_channels: Option<usize>,
    /// SGD weight decay [default: 3e-4; imagenet 1e-4].
    #[arg(long, value_name = "WD")]
    weight_decay: Option<f64>,
    /// Intra-op CPU threads for libtorch [default: all cores].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("start").required(true).args(["out", "resume"])))]
struct SearchArgs {
    /// CIFAR-10 folder: train/<class>/ images, or the official binary batches.
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// New run folder for config.json, genotype.json, genotypes/, alphas.jsonl,
    /// metrics.jsonl, result.json, the cell diagrams and the checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    out: Option<PathBuf>,
    /// Continue the search in RUN_DIR after its last finished epoch, with the
    /// settings in its config.json.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
        "data", "primitives", "ops", "weighting", "order", "epochs", "batch_size",
        "init_channels", "layers", "lr", "lr_min", "lr_power", "warmup_epochs", "arch_lr",
        "train_portion",
        "limit_train", "seed", "cutout"
    ])]
    resume: Option<PathBuf>,
    /// Candidate operations of every edge.
    #[arg(
        long,
        default_value = "PRIMITIVES",
        value_name = "PRIMITIVES|DARTS_PRIMITIVES|SHARPER_PRIMITIVES"
    )]
    primitives: PrimitiveSet,
    /// Operation table the candidates are built with: sharp or darts.
    #[arg(long, default_value = "sharp", value_name = "sharp|darts")]
    ops: OpTable,
    /// Mixing of each edge's candidates: scalar (softmax weights) or max_w
    /// ((1 - max w + w_i) times each operation).
    #[arg(long, default_value = "scalar", value_name = "scalar|max_w")]
    weighting: Weighting,
    /// Architecture gradient: 1 (first order) or 2 (unrolled second order).
    #[arg(long, default_value_t = 1)]
    order: u8,
    /// Number of search epochs.
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    /// Images per step, for each of the two batches (weights and architecture).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Channels of the first cell (C) of the supernetwork.
    #[arg(long, default_value_t = 16)]
    init_channels: usize,
    /// Number of cells (L) of the supernetwork.
    #[arg(long, default_value_t = 8)]
    layers: usize,
    /// Maximum learning rate of the network weights.
    #[arg(long, default_value_t = 0.025)]
    lr: f64,
    /// Learning rate of the last epoch.
    #[arg(long, default_value = "1e-4")]
    lr_min: f64,
    /// Cosine Power Annealing exponent; 1 gives plain cosine annealing.
    #[arg(long, default_value_t = 2.0)]
    lr_power: f64,
    /// Warm-up epochs W: the learning rate rises linearly over the first W + 1 epochs.
    #[arg(long, default_value_t = 5)]
    warmup_epochs: usize,
    /// Adam learning rate of the architecture weights.
    #[arg(long, default_value = "3e-4")]
    arch_lr: f64,
    /// Share of the training images that train the network weights; the rest
    /// train the architecture weights.
    #[arg(long, default_value_t = 0.5)]
    train_portion: f64,
    /// Search on a seeded class-balanced subset of N training images [default: all].
    #[arg(long, value_name = "N")]
    limit_train: Option<usize>,
    /// Random seed for initialisation, the split, shuffling and augmentation.
    #[arg(long, default_value_t = 2)]
    seed: u64,
    /// Cutout of side PIXELS on the weight-training images [default: off].
    #[arg(long, value_name = "PIXELS")]
    cutout: Option<usize>,
    /// Device to search on; cuda fails when no CUDA device is available.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Intra-op CPU threads for libtorch [default: all cores].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

impl SearchArgs {
    fn to_config(&self, out: PathBuf) -> SearchRunConfig {
        let data = self.data.clone().unwrap_or_default();
        SearchRunConfig {
            primitives: self.primitives,
            ops: self.ops,
            weighting: self.weighting,
            order: self.order,
            epochs: self.epochs,
            batch_size: self.batch_size,
            init_channels: self.init_channels,
            layers: self.layers,
            lr: self.lr,
            lr_min: self.lr_min,
            lr_power: self.lr_power,
            warmup_epochs: self.warmup_epochs,
            arch_lr: self.arch_lr,
            train_portion: self.train_portion,
            limit_train: self.limit_train,
            seed: self.seed,
            cutout: self.cutout,
            device: match self.device {
                DeviceArg::Cpu => DeviceChoice::Cpu,
                DeviceArg::Cuda => DeviceChoice::Cuda,
            },
            ..SearchRunConfig::new(data, out)
        }
    }
}

/// Side of the Cutout square of the published recipe.
const DEFAULT_CUTOUT_LENGTH: usize = 16;

impl FinalArgs {
    /// Returns true when --cutout-length is given but --cutout is not.
    fn cutout_length_ignored(&self) -> bool {
        self.cutout_length.is_some() && !self.cutout
    }

    /// The published recipe of --dataset with every given option applied.
    fn to_config(&self) -> FinalConfig {
        let recipe = FinalConfig::for_dataset(
            self.dataset,
            self.genotype.clone(),
            self.data.clone(),
            self.out.clone(),
        );
        FinalConfig {
            ops: self.ops,
            overwrite: self.overwrite,
            epochs: self.epochs.unwrap_or(recipe.epochs),
            batch_size: self.batch_size.unwrap_or(recipe.batch_size),
            init_channels: self.init_channels.unwrap_or(recipe.init_channels),
            layers: self.layers.unwrap_or(recipe.layers),
            lr: self.lr.unwrap_or(recipe.lr),
            lr_min: self.lr_min.unwrap_or(recipe.lr_min),
            lr_power: self.lr_power.unwrap_or(recipe.lr_power),
            warmup_epochs: self.warmup_epochs.unwrap_or(recipe.warmup_epochs),
            seed: self.seed,
            device: match self.device {
                DeviceArg::Cpu => DeviceChoice::Cpu,
                DeviceArg::Cuda => DeviceChoice::Cuda,
            },
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            cutout: self
                .cutout
                .then_some(self.cutout_length.unwrap_or(DEFAULT_CUTOUT_LENGTH)),
            auxiliary_weight: self.auxiliary_weight,
            drop_path_prob: self.drop_path_prob.unwrap_or(recipe.drop_path_prob),
            grad_clip: self.grad_clip,
            mid_channels: self.mid_channels.unwrap_or(recipe.mid_channels),
            weight_decay: self.weight_decay.unwrap_or(recipe.weight_decay),
            ..recipe
        }
    }
}

fn main() -> ExitCode {
    reset_sigpipe();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The alternate form prints the context chain on one line, without
            // the backtrace that anyhow's Debug form adds under RUST_BACKTRACE.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Restores the default SIGPIPE action, which Rust's runtime sets to ignore,
/// so writing to a closed pipe (`train doctor | head -1`) ends the process
/// quietly instead of panicking in `println!`.
fn reset_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in main, before any other thread exists; SIG_DFL
    // is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Final(args) => run_final(&args),
        Command::Search(args) => run_search(&args),
        Command::Doctor => {
            doctor();
            Ok(())
        }
    }
}

fn run_search(args: &SearchArgs) -> Result<()> {
    let threads = set_threads(args.threads)?;
    let result = match (&args.resume, &args.out) {
        (Some(run_dir), _) => search::resume(run_dir)
            .with_context(|| format!("train search --resume {}", run_dir.display()))?,
        (None, Some(out)) => {
            let config = args.to_config(out.clone());
            search::run(&config, threads)
                .with_context(|| format!("train search into {}", out.display()))?
        }
        (None, None) => anyhow::bail!("train search needs --out RUN_DIR or --resume RUN_DIR"),
    };
    println!(
        "best validation accuracy {:.2}% at epoch {} of {}; genotype in {}",
        result.best_valid_accuracy,
        result.best_epoch,
        result.epochs_completed,
        args.resume
            .as_ref()
            .or(args.out.as_ref())
            .map(|dir| dir.join(search::GENOTYPE_FILE).display().to_string())
            .unwrap_or_default()
    );
    Ok(())
}

/// Sets libtorch's intra-op threads from --threads (every core by default).
fn set_threads(requested: Option<usize>) -> Result<usize> {
    let cores = available_cores();
    // More threads than cores only adds contention; a mistyped huge count
    // would reserve a stack per thread and exhaust memory.
    let max = 4 * cores;
    let threads = match requested {
        Some(n) if n == 0 || n > max => anyhow::bail!(
            "invalid --threads {n}: use 1 to {max} ({cores} logical cores here), \
             or omit it to use every core"
        ),
        Some(n) => n,
        None => cores,
    };
    tch::set_num_threads(i32::try_from(threads).context("--threads is too large")?);
    Ok(threads)
}

fn run_final(args: &FinalArgs) -> Result<()> {
    set_threads(args.threads)?;
    if args.cutout_length_ignored() {
        tracing::warn!("--cutout-length has no effect without --cutout");
    }
    let config = args.to_config();
    let result = final_training::run(&config)
        .with_context(|| format!("train final into {}", config.out_dir.display()))?;
    println!(
        "best test accuracy {:.2}% at epoch {} of {}; results in {}",
        result.best_test_accuracy,
        result.best_epoch,
        result.epochs_completed,
        config.out_dir.display()
    );
    Ok(())
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn doctor() {
    let lib_dir = std::env::var("TRAIN_LIBTORCH_LIB").ok();
    let runtime_version = lib_dir.as_deref().and_then(torch_version_of_lib);
    println!(
        "libtorch (build time): {} in {}",
        env!("TRAIN_LIBTORCH_VERSION"),
        env!("TRAIN_LIBTORCH_LIB")
    );
    match (&lib_dir, runtime_version) {
        (Some(dir), Some(version)) => println!("libtorch (runtime):    {version} in {dir}"),
        (Some(dir), None) => println!("libtorch (runtime):    version unknown, in {dir}"),
        (None, _) => println!(
            "libtorch (runtime):    not set by the `train` launcher; the build-time path applies"
        ),
    }
    println!("tch:                   {}", env!("TRAIN_TCH_VERSION"));
    println!("CUDA available:        {}", tch::Cuda::is_available());
    println!("CUDA devices:          {}", tch::Cuda::device_count());
    println!("cuDNN available:       {}", tch::Cuda::cudnn_is_available());
    println!("MKL:                   {}", tch::utils::has_mkl());
    println!("OpenMP:                {}", tch::utils::has_openmp());
    println!("libtorch threads:      {}", tch::get_num_threads());
    println!("CPU cores:             {}", available_cores());
}

/// Reads `__version__` from `<lib>/../version.py`.
fn torch_version_of_lib(lib_dir: &str) -> Option<String> {
    let path = PathBuf::from(lib_dir).parent()?.join("version.py");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (_, value) = line.strip_prefix("__version__")?.split_once('=')?;
        Some(value.trim().trim_matches(['\'', '"']).to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn final_args(extra: &[&str]) -> FinalArgs {
        let base = [
            "train",
            "final",
            "--genotype",
            "DARTS",
            "--data",
            "d",
            "--out",
            "o",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(extra)).unwrap();
        match cli.command {
            Command::Final(args) => *args,
            _ => panic!("parsed `final` as another command"),
        }
    }

    #[test]
    fn cutout_length_needs_cutout() {
        let args = final_args(&["--cutout-length", "8"]);
        assert!(args.cutout_length_ignored());
        assert_eq!(args.to_config().cutout, None);
    }

    #[test]
    fn cutout_length_default_and_custom() {
        let default = final_args(&["--cutout"]);
        assert!(!default.cutout_length_ignored());
        assert_eq!(default.to_config().cutout, Some(DEFAULT_CUTOUT_LENGTH));
        let custom = final_args(&["--cutout", "--cutout-length", "8"]);
        assert_eq!(custom.to_config().cutout, Some(8));
    }

    #[test]
    fn cli_defaults_match_library() {
        let config = final_args(&[]).to_config();
        let library = FinalConfig::new("DARTS", "d".into(), "o".into());
        assert_eq!(config, library);
    }
}

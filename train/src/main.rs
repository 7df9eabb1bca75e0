//! `train-engine`: the libtorch side of the `train` command. Users run it
//! through the `train` launcher, which finds libtorch first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use models::search::Weighting;
use models::{DatasetKind, OpTable, PrimitiveSet};
use train::final_training::{self, DeviceChoice, FinalConfig, MixedPrecision, RunResult};
use train::search::{self, SearchRunConfig};
use train::{determinism, manifest};

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
    /// ImageNet recipe (AutoAugment with --autoaugment), checkpointing every
    /// epoch; --resume RUN_DIR continues a stopped run.
    #[command(allow_negative_numbers = true)]
    Final(Box<FinalArgs>),
    /// Search a cell genotype on CIFAR-10 with DARTS: a supernetwork of mixed
    /// operations, architecture weights trained on half of the training set.
    /// Writes genotype.json, which `train final --genotype` reads.
    #[command(allow_negative_numbers = true)]
    Search(Box<SearchArgs>),
    /// Aggregate `train final` run folders, one per seed, into mean, sample
    /// standard deviation, min and max accuracy with one row per run. Prints
    /// Markdown, or JSON with --json, and with --out DIR also writes
    /// report.md, report.json and SVG plots there.
    Report(report::ReportArgs),
    /// Print the libtorch, CUDA and threading setup.
    Doctor,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Clone, Copy, ValueEnum)]
enum AmpArg {
    Bf16,
    Fp16,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("start").required(true).args(["out", "resume"])))]
struct FinalArgs {
    /// Built-in genotype name (e.g. SHARPSEPCONV_DARTS, DARTS) or path to a genotype JSON file.
    #[arg(long, value_name = "NAME|FILE", required_unless_present = "resume")]
    genotype: Option<String>,
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
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// CIFAR-10.1 folder (cifar10.1_v6_data.npy and cifar10.1_v6_labels.npy,
    /// directly or in datasets/) to evaluate after every epoch beside the
    /// test split; only with --dataset cifar10.
    #[arg(long = "cifar10-1", value_name = "DIR")]
    cifar10_1: Option<PathBuf>,
    /// Run folder for config.json, model.json, manifest.json,
    /// weights.safetensors, metrics.jsonl, result.json and the checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    out: Option<PathBuf>,
    /// Continue the stopped run in RUN_DIR after its last finished epoch,
    /// with the settings of its config.json; only --threads may be given
    /// with it.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
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
    /// Apply the AutoAugment policy of --dataset (CIFAR-10 or ImageNet) to
    /// the training images, as the published recipe does.
    #[arg(long)]
    autoaugment: bool,
    /// Use libtorch's deterministic algorithms. With the same --seed and
    /// --threads, two runs on one machine then write the same metrics.
    #[arg(long)]
    deterministic: bool,
    /// Mixed precision of the training forward pass on CUDA: bf16, or fp16
    /// with dynamic loss scaling [default: off, float32]. Needs --device cuda.
    #[arg(long, value_enum, value_name = "bf16|fp16")]
    amp: Option<AmpArg>,
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
    /// Intra-op CPU threads for libtorch [default: all cores; with --resume,
    /// the count in config.json].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Options of `train final` that may be given with --resume: they do not
/// change the run's settings.
const FINAL_RESUME_OPTIONS: [&str; 2] = ["resume", "threads"];

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
        "limit_train", "seed", "cutout", "autoaugment", "deterministic"
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
    /// Apply the CIFAR-10 AutoAugment policy to the weight-training images.
    #[arg(long)]
    autoaugment: bool,
    /// Use libtorch's deterministic algorithms.
    #[arg(long)]
    deterministic: bool,
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
            autoaugment: self.autoaugment,
            deterministic: self.deterministic,
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

    /// The published recipe of --dataset with every given option applied;
    /// for a new run, where --genotype, --data and --out are given.
    fn to_config(&self) -> FinalConfig {
        let recipe = FinalConfig::for_dataset(
            self.dataset,
            self.genotype.clone().unwrap_or_default(),
            self.data.clone().unwrap_or_default(),
            self.out.clone().unwrap_or_default(),
        );
        FinalConfig {
            ops: self.ops,
            cifar10_1_dir: self.cifar10_1.clone(),
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
            autoaugment: self.autoaugment,
            deterministic: self.deterministic,
            amp: self.amp.map(|amp| match amp {
                AmpArg::Bf16 => MixedPrecision::Bf16,
                AmpArg::Fp16 => MixedPrecision::Fp16,
            }),
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
    train::onednn::cap_cpu_isa();
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    match cli.command {
        Command::Final(args) => {
            let final_matches = matches
                .subcommand_matches("final")
                .expect("clap parsed the final subcommand");
            match &args.resume {
                Some(run_dir) => {
                    reject_options_with_resume(final_matches)?;
                    resume_final(run_dir, args.threads)
                }
                None => run_final(&args),
            }
        }
        Command::Search(args) => run_search(&args),
        Command::Report(args) => report::run(&args),
        Command::Doctor => {
            doctor();
            Ok(())
        }
    }
}

fn run_search(args: &SearchArgs) -> Result<()> {
    let deterministic = match &args.resume {
        Some(run_dir) => recorded_deterministic(&run_dir.join(search::CONFIG_FILE)),
        None => args.deterministic,
    };
    if deterministic {
        determinism::set_cublas_workspace_config();
    }
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

/// Returns whether the run settings in `config_path` ask for deterministic
/// algorithms; false when they cannot be read (the run reports that itself).
fn recorded_deterministic(config_path: &Path) -> bool {
    std::fs::read_to_string(config_path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|settings| settings["deterministic"].as_bool())
        .unwrap_or(false)
}

fn run_final(args: &FinalArgs) -> Result<()> {
    if args.deterministic {
        determinism::set_cublas_workspace_config();
    }
    set_threads(args.threads)?;
    if args.cutout_length_ignored() {
        tracing::warn!("--cutout-length has no effect without --cutout");
    }
    let config = args.to_config();
    let result = final_training::run(&config)
        .with_context(|| format!("train final into {}", config.out_dir.display()))?;
    print_final_result(&result, &config.out_dir);
    Ok(())
}

/// Continues the run in `run_dir`, with `threads` or else the thread count
/// recorded in its config.json.
fn resume_final(run_dir: &Path, threads: Option<usize>) -> Result<()> {
    let context = || format!("train final --resume {}", run_dir.display());
    let recorded = final_training::read_run_config(run_dir).with_context(context)?;
    if recorded.config.deterministic {
        determinism::set_cublas_workspace_config();
    }
    let max = 4 * available_cores();
    let recorded_threads = Some(recorded.threads).filter(|n| (1..=max).contains(n));
    let threads = set_threads(threads.or(recorded_threads))?;
    if threads != recorded.threads {
        tracing::warn!(
            threads,
            recorded_threads = recorded.threads,
            "libtorch uses another number of threads than the run recorded, so results can \
             differ in the last bits from an uninterrupted run"
        );
    }
    let result = final_training::resume(run_dir).with_context(context)?;
    print_final_result(&result, run_dir);
    Ok(())
}

/// Rejects every option of `train final` given with --resume except
/// [`FINAL_RESUME_OPTIONS`], naming them.
fn reject_options_with_resume(matches: &ArgMatches) -> Result<()> {
    let command = Cli::command();
    let final_command = command
        .find_subcommand("final")
        .expect("the final subcommand exists");
    let given = options_given(final_command, matches, &FINAL_RESUME_OPTIONS);
    if !given.is_empty() {
        anyhow::bail!(
            "{} cannot be given with --resume: a resumed run keeps the settings of its \
             config.json; leave them out (only --threads may change), or start a new run \
             with --out",
            given.join(", ")
        );
    }
    Ok(())
}

/// Returns the options of `command` that `matches` took from the command
/// line, as `--name`, except those whose id is in `allowed`.
fn options_given(command: &clap::Command, matches: &ArgMatches, allowed: &[&str]) -> Vec<String> {
    command
        .get_arguments()
        .filter(|arg| !allowed.contains(&arg.get_id().as_str()))
        .filter(|arg| {
            let id = arg.get_id().as_str();
            matches.ids().any(|given| given.as_str() == id)
                && matches.value_source(id) == Some(ValueSource::CommandLine)
        })
        .map(|arg| match arg.get_long() {
            Some(long) => format!("--{long}"),
            None => arg.get_id().to_string(),
        })
        .collect()
}

fn print_final_result(result: &RunResult, run_dir: &Path) {
    println!(
        "best test accuracy {:.2}% at epoch {} of {}; results in {}",
        result.best_test_accuracy,
        result.best_epoch,
        result.epochs_completed,
        run_dir.display()
    );
    if let Some(accuracy) = result.best_cifar10_1_accuracy {
        println!("CIFAR-10.1 accuracy {accuracy:.2}% at the best epoch");
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn doctor() {
    let lib_dir = std::env::var("TRAIN_LIBTORCH_LIB").ok();
    let runtime_version = lib_dir
        .as_deref()
        .and_then(|dir| manifest::libtorch_version_in(Path::new(dir)));
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

    #[test]
    fn amp_reaches_config() {
        assert_eq!(final_args(&[]).to_config().amp, None);
        let bf16 = final_args(&["--amp", "bf16", "--device", "cuda"]).to_config();
        assert_eq!(bf16.amp, Some(MixedPrecision::Bf16));
        let fp16 = final_args(&["--amp", "fp16", "--device", "cuda"]).to_config();
        assert_eq!(fp16.amp, Some(MixedPrecision::Fp16));
        fp16.validate().unwrap();
    }

    #[test]
    fn amp_rejected_on_cpu() {
        for precision in ["bf16", "fp16"] {
            let config = final_args(&["--amp", precision]).to_config();
            let message = config.validate().unwrap_err().to_string();
            assert!(message.contains(&format!("--amp {precision}")), "{message}");
            assert!(message.contains("--device cuda"), "{message}");
        }
    }

    #[test]
    fn cifar10_1_reaches_config() {
        assert_eq!(final_args(&[]).to_config().cifar10_1_dir, None);
        let config = final_args(&["--cifar10-1", "c101"]).to_config();
        assert_eq!(config.cifar10_1_dir, Some(PathBuf::from("c101")));
        config.validate().unwrap();
    }

    #[test]
    fn autoaugment_and_deterministic_reach_config() {
        let config = final_args(&["--autoaugment", "--deterministic"]).to_config();
        assert!(config.autoaugment);
        assert!(config.deterministic);
    }

    /// Parses `train final` with `args` and returns the options that
    /// --resume rejects.
    fn rejected_with_resume(args: &[&str]) -> Vec<String> {
        let command = Cli::command();
        let matches = command
            .clone()
            .try_get_matches_from(["train", "final"].iter().chain(args))
            .unwrap();
        let final_matches = matches.subcommand_matches("final").unwrap();
        let final_command = command.find_subcommand("final").unwrap();
        options_given(final_command, final_matches, &FINAL_RESUME_OPTIONS)
    }

    #[test]
    fn resume_rejects_run_options_by_name() {
        let rejected = rejected_with_resume(&[
            "--resume",
            "run",
            "--epochs",
            "3",
            "--autoaugment",
            "--threads",
            "1",
        ]);
        assert_eq!(rejected, ["--epochs", "--autoaugment"]);
    }

    #[test]
    fn resume_alone_is_accepted() {
        assert!(rejected_with_resume(&["--resume", "run"]).is_empty());
        assert!(rejected_with_resume(&["--resume", "run", "--threads", "2"]).is_empty());
        // A default value is not an option given on the command line.
        let parsed = Cli::try_parse_from(["train", "final", "--resume", "run"]).unwrap();
        let Command::Final(args) = parsed.command else {
            panic!("parsed `final` as another command");
        };
        assert_eq!(args.resume.as_deref(), Some(Path::new("run")));
        assert_eq!(args.genotype, None);
    }

    #[test]
    fn final_needs_out_or_resume() {
        for args in [
            &["--genotype", "DARTS", "--data", "d"][..],
            &["--resume", "run", "--out", "o"],
        ] {
            let parsed = Cli::try_parse_from(["train", "final"].iter().chain(args));
            assert!(parsed.is_err(), "{args:?} parsed");
        }
    }
}

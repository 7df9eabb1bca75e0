//! `serve eval`: accuracy on a CIFAR-10 split, an ImageNet split or a
//! folder of class folders.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use data::cifar10::{self, Split};
use data::imagenet::{self, ClassTable};
use data::ImageFiles;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serve::eval::evaluate_files;
use serve::{evaluate, EvalReport, OnnxModel};

use super::{open_model, parse_positive, print_json, SessionArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    Train,
    Test,
    Val,
}

impl SplitArg {
    fn folder_name(self) -> &'static str {
        match self {
            SplitArg::Train => "train",
            SplitArg::Test => "test",
            SplitArg::Val => "val",
        }
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// ONNX model written by `export`.
    pub model: PathBuf,
    /// Data folder: CIFAR-10 as ImageFolder (train/<class>/, test/<class>/)
    /// or as the official binary batches (directly or in
    /// cifar-10-batches-bin/); ImageNet as ImageFolder (train/<class>/,
    /// val/<class>/); or a folder that contains class folders directly.
    #[arg(long)]
    pub data: PathBuf,
    /// Split to evaluate [default: test for CIFAR-10, val for ImageNet].
    /// Not used for a folder of class folders.
    #[arg(long, value_enum)]
    pub split: Option<SplitArg>,
    /// Evaluate a class-balanced subset of this many images, chosen with
    /// --seed exactly as `train final --limit-test N --seed S` chooses it.
    #[arg(long, value_parser = parse_positive)]
    pub limit_test: Option<usize>,
    /// Seed of the --limit-test subset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per inference call.
    #[arg(long, default_value_t = 64, value_parser = parse_positive)]
    pub batch_size: usize,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Serialize)]
struct EvalOutput<'a> {
    model: &'a PathBuf,
    data: &'a PathBuf,
    /// Split evaluated; `None` for a folder of class folders.
    split: Option<String>,
    limit_test: Option<usize>,
    /// Images in the split before --limit-test selects a subset.
    split_images: usize,
    seed: Option<u64>,
    batch_size: usize,
    device: String,
    threads: Option<usize>,
    /// Shorter-side length of the model's resize-and-centre-crop
    /// preprocessing; `None` when images are resized to the input size.
    resize_shorter: Option<u32>,
    /// Image files that could not be decoded and were left out.
    skipped: Vec<PathBuf>,
    #[serde(flatten)]
    report: EvalReport,
    /// Human-readable class names from the data folder's class table,
    /// printed beside the folder names in text output.
    #[serde(skip)]
    class_table: Option<ClassTable>,
}

/// The source of the images, detected from the data folder.
#[derive(Debug)]
enum Source {
    /// CIFAR-10 decoded into memory at the model's input size.
    Cifar(Split),
    /// Image files decoded batch by batch: a split folder (`split` set) or
    /// the data folder itself.
    Files {
        dir: PathBuf,
        split: Option<SplitArg>,
    },
}

/// Images evaluated, before and after --limit-test, with what was skipped.
struct Evaluated {
    split: Option<String>,
    split_images: usize,
    skipped: Vec<PathBuf>,
    report: EvalReport,
    class_table: Option<ClassTable>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let mut model = open_model(&args.model, &args.session)?;
    let resize_shorter = model.metadata().resize_shorter;
    let source = detect_source(&args.data, args.split, resize_shorter.is_some())?;
    let evaluated = match source {
        Source::Cifar(split) => eval_cifar(&mut model, &args, split)?,
        Source::Files { dir, split } => eval_files(&mut model, &args, &dir, split)?,
    };
    if evaluated.report.images == 0 {
        bail!(
            "no image of {} could be read ({} skipped, see the warnings above); an accuracy \
             over no images would mean nothing, so check the files",
            args.data.display(),
            evaluated.skipped.len()
        );
    }

    let output = EvalOutput {
        model: &args.model,
        data: &args.data,
        split: evaluated.split,
        limit_test: args.limit_test,
        split_images: evaluated.split_images,
        seed: args.limit_test.map(|_| args.seed),
        batch_size: args.batch_size,
        device: model.device().to_string(),
        threads: args.session.threads,
        resize_shorter,
        skipped: evaluated.skipped,
        report: evaluated.report,
        class_table: evaluated.class_table,
    };
    if args.json {
        print_json(&output)
    } else {
        print_text(&output, model.input_size());
        Ok(())
    }
}

/// Decides how to read `data`.
///
/// A `val/` folder marks ImageNet. Otherwise the CIFAR-10 layouts are tried.
/// A CIFAR-10 ImageFolder is read file by file when the model has
/// `resize_shorter` metadata, because that preprocessing needs the original
/// images. When neither layout matches, a folder with sub-folders is taken
/// as a folder of class folders.
fn detect_source(
    data: &Path,
    split: Option<SplitArg>,
    resize_shorter: bool,
) -> anyhow::Result<Source> {
    if data.join("val").is_dir() {
        let split = split.unwrap_or(SplitArg::Val);
        if split == SplitArg::Test {
            bail!(
                "{} is an ImageNet folder (it contains val/), which has no test split; \
                 use --split val or --split train",
                data.display()
            );
        }
        let dir = data.to_path_buf();
        return Ok(Source::Files {
            dir,
            split: Some(split),
        });
    }
    let cifar_split = |split: Option<SplitArg>| match split.unwrap_or(SplitArg::Test) {
        SplitArg::Train => Ok(Split::Train),
        SplitArg::Test => Ok(Split::Test),
        SplitArg::Val => Err(anyhow::anyhow!(
            "{} is a CIFAR-10 folder, which has no val split; use --split test or \
             --split train",
            data.display()
        )),
    };
    match cifar10::detect(data) {
        Ok(cifar10::Layout::ImageFolder { .. }) if resize_shorter => {
            let split = split.unwrap_or(SplitArg::Test);
            cifar_split(Some(split))?;
            let dir = data.to_path_buf();
            Ok(Source::Files {
                dir,
                split: Some(split),
            })
        }
        Ok(_) => Ok(Source::Cifar(cifar_split(split)?)),
        Err(data::DataError::UnknownLayout { .. }) if has_sub_folder(data) => {
            if let Some(split) = split {
                tracing::warn!(
                    folder = %data.display(),
                    split = split.folder_name(),
                    "--split is not used: the data folder contains class folders directly"
                );
            }
            let dir = data.to_path_buf();
            Ok(Source::Files { dir, split: None })
        }
        Err(error @ data::DataError::UnknownLayout { .. }) => Err(anyhow::Error::new(error)
            .context(format!(
                "{} is neither an ImageNet folder (val/<class>/ and train/<class>/) nor a \
                 folder of class folders, and not a CIFAR-10 folder",
                data.display()
            ))),
        Err(error) => Err(anyhow::Error::new(error)
            .context(format!("failed to read the data folder {}", data.display()))),
    }
}

fn has_sub_folder(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        !hidden && entry.path().is_dir()
    })
}

/// Evaluates a CIFAR-10 split decoded into memory.
fn eval_cifar(model: &mut OnnxModel, args: &EvalArgs, split: Split) -> anyhow::Result<Evaluated> {
    let (dataset, load_report) =
        cifar10::load_with_report(&args.data, split).with_context(|| {
            format!(
                "failed to load the {split} split from {}",
                args.data.display()
            )
        })?;
    let split_images = dataset.len();
    let dataset = match args.limit_test {
        Some(limit) => data::subset::balanced(&dataset, limit, args.seed),
        None => dataset,
    };

    let bar = progress_bar(dataset.len() as u64);
    let report = evaluate(model, &dataset, args.batch_size, |done| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("failed to evaluate {}", args.model.display()))?;
    bar.finish_and_clear();
    Ok(Evaluated {
        split: Some(split.to_string()),
        split_images,
        skipped: load_report.skipped,
        report,
        class_table: None,
    })
}

/// Evaluates the image files of a split folder (`split` set) or of `dir`
/// itself, decoding them batch by batch.
fn eval_files(
    model: &mut OnnxModel,
    args: &EvalArgs,
    dir: &Path,
    split: Option<SplitArg>,
) -> anyhow::Result<Evaluated> {
    let files = list_files(dir, split)?;
    let split_images = files.len();
    let files = match args.limit_test {
        Some(limit) => {
            let labels = files.labels();
            files.select(&data::subset::balanced_indices(
                &labels,
                files.num_classes(),
                limit,
                args.seed,
            ))
        }
        None => files,
    };
    // A class table is optional and only adds names to the text output.
    let class_table = match ClassTable::find(dir) {
        Ok(table) => table,
        Err(error) => {
            let error = data::with_sources(&error);
            tracing::warn!(%error, "ignored an unreadable class table");
            None
        }
    };

    let bar = progress_bar(files.len() as u64);
    let (report, skipped) = evaluate_files(model, &files, args.batch_size, |done| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("failed to evaluate {}", args.model.display()))?;
    bar.finish_and_clear();
    Ok(Evaluated {
        split: split.map(|split| split.folder_name().to_string()),
        split_images,
        skipped,
        report,
        class_table,
    })
}

/// Lists the images of `dir/<split>`, or of `dir` when `split` is `None`.
/// ImageNet's train and val splits must contain the same class folders.
fn list_files(dir: &Path, split: Option<SplitArg>) -> anyhow::Result<ImageFiles> {
    let files = match split {
        Some(SplitArg::Train) if dir.join("val").is_dir() => {
            imagenet::open_split(dir, imagenet::Split::Train)
        }
        Some(SplitArg::Val) => imagenet::open_split(dir, imagenet::Split::Val),
        Some(split) => {
            let split_dir = dir.join(split.folder_name());
            if !split_dir.is_dir() {
                bail!(
                    "the {} split is missing: folder {} not found",
                    split.folder_name(),
                    split_dir.display()
                );
            }
            data::image_folder::scan(&split_dir)
        }
        None => {
            return data::image_folder::scan(dir).with_context(|| {
                format!(
                    "{} matches no data layout: serve eval reads a CIFAR-10 folder \
                     (test/<class>/ images, or test_batch.bin), an ImageNet folder \
                     (val/<class>/ images) or a folder of class folders with images",
                    dir.display()
                )
            })
        }
    };
    files.with_context(|| format!("failed to list the images of {}", dir.display()))
}

/// Creates a progress bar on stderr, which indicatif hides when stderr is not a terminal.
fn progress_bar(images: u64) -> ProgressBar {
    let bar = ProgressBar::new(images);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, eta {eta}")
        .expect("the template is valid");
    bar.set_style(style);
    bar
}

fn print_text(output: &EvalOutput, input_size: [usize; 3]) {
    let report = &output.report;
    println!("model      {}", output.model.display());
    match &output.split {
        Some(split) => println!("data       {} ({split} split)", output.data.display()),
        None => println!("data       {} (class folders)", output.data.display()),
    }
    print_preprocessing(output.resize_shorter, input_size);
    print_subset(output);
    println!(
        "images     {} ({} skipped: not decodable)",
        report.images,
        output.skipped.len()
    );

    println!(
        "top-1      {:.2}% ({} correct)",
        report.top1, report.correct_top1
    );
    println!(
        "top-5      {:.2}% ({} correct)",
        report.top5, report.correct_top5
    );
    println!(
        "speed      {:.1} images/s ({:.2} s, batch {}, {})",
        report.images_per_second, report.seconds, output.batch_size, output.device
    );
    print_per_class(output);

    for path in &output.skipped {
        println!("skipped    {}", path.display());
    }
}

fn print_preprocessing(resize_shorter: Option<u32>, input_size: [usize; 3]) {
    let [_, height, width] = input_size;
    match resize_shorter {
        Some(shorter) => {
            println!("preprocess shorter side resized to {shorter}, centre crop {width}x{height}")
        }
        None => println!("preprocess resized to {width}x{height}"),
    }
}

/// Prints the accuracy of each class, with its name from the class table
/// when the data folder has one.
fn print_per_class(output: &EvalOutput) {
    let report = &output.report;
    println!("per class");
    let label = |class: &str| match &output.class_table {
        Some(table) => match table.name(class) {
            Some(name) => format!("{class} {name}"),
            None => class.to_string(),
        },
        None => class.to_string(),
    };
    let labels: Vec<String> = report.per_class.iter().map(|c| label(&c.class)).collect();
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    for (class, label) in report.per_class.iter().zip(&labels) {
        println!(
            "  {:<width$}  {:>6.2}%  ({}/{})",
            label, class.accuracy, class.correct, class.images
        );
    }
}

/// Prints the --limit-test subset line. A limit of at least the split size
/// selects the whole split, as [`data::subset::balanced`] does.
fn print_subset(output: &EvalOutput) {
    let (Some(limit), Some(seed)) = (output.limit_test, output.seed) else {
        return;
    };
    if limit >= output.split_images {
        println!(
            "subset     all {} images: --limit-test {limit} is at least the split size, \
             so the whole split is used",
            output.split_images
        );
    } else {
        let used = output.report.images;
        println!("subset     {used} images, class-balanced, seed {seed}");
    }
}

//! `serve eval`: accuracy on a CIFAR-10 split, the CIFAR-10.1 test set, an
//! ImageNet split or a folder of class folders.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use data::cifar10::{self, Split};
use data::cifar10_1;
use data::imagenet::{self, ClassTable};
use data::{Dataset, ImageFiles, LoadReport};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serve::eval::evaluate_files;
use serve::{evaluate, EvalReport, OnnxModel};

use super::{open_model, parse_positive, print_json, SessionArgs};

/// `--dataset`: the data set that the `--data` folder contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
pub enum DatasetArg {
    /// CIFAR-10 as ImageFolder or as the official binary batches.
    #[serde(rename = "cifar10")]
    Cifar10,
    /// CIFAR-10.1 v6: its image and label `.npy` files.
    #[value(name = "cifar10.1")]
    #[serde(rename = "cifar10.1")]
    Cifar10_1,
    /// ImageNet as ImageFolder: train/<class>/ and val/<class>/.
    #[serde(rename = "imagenet")]
    Imagenet,
    /// A folder that contains class folders directly.
    #[serde(rename = "folders")]
    Folders,
}

impl DatasetArg {
    /// Returns the `--dataset` value that selects this data set.
    fn name(self) -> &'static str {
        match self {
            DatasetArg::Cifar10 => "cifar10",
            DatasetArg::Cifar10_1 => "cifar10.1",
            DatasetArg::Imagenet => "imagenet",
            DatasetArg::Folders => "folders",
        }
    }

    /// Returns the data set's usual name, for messages.
    fn title(self) -> &'static str {
        match self {
            DatasetArg::Cifar10 => "CIFAR-10",
            DatasetArg::Cifar10_1 => cifar10_1::NAME,
            DatasetArg::Imagenet => "ImageNet",
            DatasetArg::Folders => "class folder",
        }
    }
}

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
    /// cifar-10-batches-bin/); CIFAR-10.1 as cifar10.1_v6_data.npy and
    /// cifar10.1_v6_labels.npy, or cifar10.1-data.npy and
    /// cifar10.1-labels.npy (directly or in datasets/); ImageNet as
    /// ImageFolder (train/<class>/, val/<class>/); or a folder that contains
    /// class folders directly.
    #[arg(long)]
    pub data: PathBuf,
    /// Data set in --data [default: detected from the folder]. Needed when
    /// the folder contains CIFAR-10.1 files beside CIFAR-10 or ImageNet data.
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetArg>,
    /// Split to evaluate [default: test for CIFAR-10 and CIFAR-10.1, val for
    /// ImageNet]. CIFAR-10.1 has only a test split. Not used for a folder of
    /// class folders.
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
    /// Data set evaluated: `cifar10`, `cifar10.1`, `imagenet` or `folders`
    /// (a folder of class folders).
    dataset: DatasetArg,
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
    /// The CIFAR-10.1 test set, read into memory.
    Cifar10_1,
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
    let dataset = match args.dataset {
        Some(dataset) => dataset,
        None => detect_dataset(&args.data)?,
    };
    let source = select_source(&args.data, dataset, args.split, resize_shorter.is_some())?;
    let evaluated = match source {
        Source::Cifar(split) => eval_cifar(&mut model, &args, split)?,
        Source::Cifar10_1 => eval_cifar10_1(&mut model, &args)?,
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
        dataset,
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

/// Detects the data set in `data`.
///
/// CIFAR-10.1 files mark CIFAR-10.1 and a `val/` folder marks ImageNet. A
/// folder with CIFAR-10.1 files and another data set is rejected, because
/// only `--dataset` can tell which one is meant. Otherwise the CIFAR-10
/// layouts are tried, and when neither matches, a folder with sub-folders is
/// taken as a folder of class folders.
fn detect_dataset(data: &Path) -> anyhow::Result<DatasetArg> {
    let imagenet = data.join("val").is_dir();
    if cifar10_1::contains_files(data) {
        let other = if imagenet {
            Some(DatasetArg::Imagenet)
        } else if cifar10::detect(data).is_ok() {
            Some(DatasetArg::Cifar10)
        } else {
            None
        };
        if let Some(other) = other {
            bail!(
                "{} contains both CIFAR-10.1 files and {} data; choose one with \
                 --dataset cifar10.1 or --dataset {}",
                data.display(),
                other.title(),
                other.name()
            );
        }
        return Ok(DatasetArg::Cifar10_1);
    }
    if imagenet {
        return Ok(DatasetArg::Imagenet);
    }
    match cifar10::detect(data) {
        Ok(_) => Ok(DatasetArg::Cifar10),
        Err(data::DataError::UnknownLayout { .. }) if has_sub_folder(data) => {
            Ok(DatasetArg::Folders)
        }
        Err(error @ data::DataError::UnknownLayout { .. }) => Err(anyhow::Error::new(error)
            .context(format!(
                "{} is neither an ImageNet folder (val/<class>/ and train/<class>/), a \
                 CIFAR-10.1 folder ({} and {}) nor a folder of class folders, and not a \
                 CIFAR-10 folder",
                data.display(),
                cifar10_1::DATA_FILES[0],
                cifar10_1::LABEL_FILES[0]
            ))),
        Err(error) => Err(anyhow::Error::new(error)
            .context(format!("failed to read the data folder {}", data.display()))),
    }
}

/// Decides how to read `data`, which contains `dataset`, and checks `split`
/// against it.
///
/// A CIFAR-10 ImageFolder is read file by file when the model has
/// `resize_shorter` metadata, because that preprocessing needs the original
/// images.
fn select_source(
    data: &Path,
    dataset: DatasetArg,
    split: Option<SplitArg>,
    resize_shorter: bool,
) -> anyhow::Result<Source> {
    let dir = data.to_path_buf();
    match dataset {
        DatasetArg::Imagenet => {
            let split = split.unwrap_or(SplitArg::Val);
            if split == SplitArg::Test {
                bail!(
                    "{} is read as ImageNet, which has no test split; use --split val or \
                     --split train",
                    data.display()
                );
            }
            Ok(Source::Files {
                dir,
                split: Some(split),
            })
        }
        DatasetArg::Cifar10_1 => match split {
            None | Some(SplitArg::Test) => Ok(Source::Cifar10_1),
            Some(split) => bail!(
                "CIFAR-10.1 is a test set only, so it has no {} split; use --split test or \
                 leave out --split",
                split.folder_name()
            ),
        },
        DatasetArg::Cifar10 => {
            let split = split.unwrap_or(SplitArg::Test);
            let cifar_split = match split {
                SplitArg::Train => Split::Train,
                SplitArg::Test => Split::Test,
                SplitArg::Val => bail!(
                    "{} is read as CIFAR-10, which has no val split; use --split test or \
                     --split train",
                    data.display()
                ),
            };
            let layout = cifar10::detect(data).with_context(|| {
                format!("failed to read the CIFAR-10 folder {}", data.display())
            })?;
            match layout {
                cifar10::Layout::ImageFolder { .. } if resize_shorter => Ok(Source::Files {
                    dir,
                    split: Some(split),
                }),
                _ => Ok(Source::Cifar(cifar_split)),
            }
        }
        DatasetArg::Folders => {
            if let Some(split) = split {
                tracing::warn!(
                    folder = %data.display(),
                    split = split.folder_name(),
                    "--split is not used: the data folder contains class folders directly"
                );
            }
            Ok(Source::Files { dir, split: None })
        }
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
    eval_dataset(model, args, dataset, split, load_report)
}

/// Evaluates the CIFAR-10.1 test set, which goes through the same
/// preprocessing as the CIFAR-10 test split.
fn eval_cifar10_1(model: &mut OnnxModel, args: &EvalArgs) -> anyhow::Result<Evaluated> {
    let dataset = cifar10_1::load(&args.data).with_context(|| {
        format!(
            "failed to load {} from {}",
            cifar10_1::NAME,
            args.data.display()
        )
    })?;
    eval_dataset(model, args, dataset, Split::Test, LoadReport::default())
}

/// Evaluates a dataset held in memory, or its --limit-test subset.
fn eval_dataset(
    model: &mut OnnxModel,
    args: &EvalArgs,
    dataset: Dataset,
    split: Split,
    load_report: LoadReport,
) -> anyhow::Result<Evaluated> {
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
                     (test/<class>/ images, or test_batch.bin), a CIFAR-10.1 folder ({}), \
                     an ImageNet folder (val/<class>/ images) or a folder of class folders \
                     with images",
                    dir.display(),
                    cifar10_1::DATA_FILES[0]
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
    match (&output.split, output.dataset) {
        (_, DatasetArg::Cifar10_1) => {
            println!("data       {} (CIFAR-10.1 test set)", output.data.display())
        }
        (Some(split), _) => println!("data       {} ({split} split)", output.data.display()),
        (None, _) => println!("data       {} (class folders)", output.data.display()),
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

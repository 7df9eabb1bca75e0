//! `serve eval`: accuracy on a CIFAR-10 split.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use data::cifar10::Split;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serve::{evaluate, EvalReport};

use super::{open_model, parse_positive, print_json, SessionArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    Train,
    Test,
}

impl From<SplitArg> for Split {
    fn from(split: SplitArg) -> Self {
        match split {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// ONNX model written by `export`.
    pub model: PathBuf,
    /// CIFAR-10 folder: ImageFolder (train/<class>/, test/<class>/) or the
    /// official binary batches (directly or in cifar-10-batches-bin/).
    #[arg(long)]
    pub data: PathBuf,
    /// Split to evaluate.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
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
    split: String,
    limit_test: Option<usize>,
    /// Images in the split before --limit-test selects a subset.
    split_images: usize,
    seed: Option<u64>,
    batch_size: usize,
    device: String,
    threads: Option<usize>,
    /// Image files that could not be decoded and were left out.
    skipped: Vec<PathBuf>,
    #[serde(flatten)]
    report: EvalReport,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let mut model = open_model(&args.model, &args.session)?;
    let split = Split::from(args.split);
    let (dataset, load_report) =
        data::cifar10::load_with_report(&args.data, split).with_context(|| {
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
    let report = evaluate(&mut model, &dataset, args.batch_size, |done| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("failed to evaluate {}", args.model.display()))?;
    bar.finish_and_clear();

    let output = EvalOutput {
        model: &args.model,
        data: &args.data,
        split: split.to_string(),
        limit_test: args.limit_test,
        split_images,
        seed: args.limit_test.map(|_| args.seed),
        batch_size: args.batch_size,
        device: model.device().to_string(),
        threads: args.session.threads,
        skipped: load_report.skipped,
        report,
    };
    if args.json {
        print_json(&output)
    } else {
        print_text(&output);
        Ok(())
    }
}

/// Creates a progress bar on stderr, which indicatif hides when stderr is not a terminal.
fn progress_bar(images: u64) -> ProgressBar {
    let bar = ProgressBar::new(images);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, eta {eta}")
        .expect("the template is valid");
    bar.set_style(style);
    bar
}

fn print_text(output: &EvalOutput) {
    let report = &output.report;
    println!("model      {}", output.model.display());
    println!(
        "data       {} ({} split)",
        output.data.display(),
        output.split
    );
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

    println!("per class");
    let width = report
        .per_class
        .iter()
        .map(|c| c.class.len())
        .max()
        .unwrap_or(0);
    for class in &report.per_class {
        println!(
            "  {:<width$}  {:>6.2}%  ({}/{})",
            class.class, class.accuracy, class.correct, class.images
        );
    }

    for path in &output.skipped {
        println!("skipped    {}", path.display());
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

//! `serve predict`: top-k classes of image files.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use data::image::RgbImage;
use serde::Serialize;
use serve::predict::classify_inputs;
use serve::Prediction;

use super::{open_model, parse_positive, print_json, SessionArgs};

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// An ONNX model written by `export` (a first argument ending in .onnx),
    /// then PNG or JPEG images of any size and colour type. Without a model,
    /// the bundled CIFAR-10 model is used (see `models/trained/`). Each image
    /// is resized to the model input, or, for a model with `resize_shorter`
    /// metadata, resized by its shorter side and centre-cropped.
    #[arg(required = true, value_name = "[MODEL.onnx] IMAGE")]
    pub inputs: Vec<PathBuf>,
    /// ONNX model of any file name; every positional argument is then an image.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Number of most probable classes to print per image.
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    pub top_k: usize,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Serialize)]
struct ImageResult {
    image: PathBuf,
    predictions: Vec<Prediction>,
}

#[derive(Debug, Serialize)]
struct ImageError {
    image: PathBuf,
    error: String,
}

#[derive(Debug, Serialize)]
struct PredictOutput {
    model: PathBuf,
    results: Vec<ImageResult>,
    errors: Vec<ImageError>,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let (model_path, image_paths) = match &args.model {
        Some(model) => (model.clone(), args.inputs.as_slice()),
        None => split_inputs(&args.inputs)?,
    };
    let mut model = open_model(&model_path, &args.session)?;
    // Missing class names are reported before any preprocessing metadata.
    model.classes()?;
    let (paths, images, mut errors) = decode_all(image_paths);
    let (paths, inputs) = preprocess_all(&model, paths, images, &mut errors)?;
    let predictions = classify_inputs(&mut model, &inputs, args.top_k)?;
    let results: Vec<ImageResult> = paths
        .into_iter()
        .zip(predictions)
        .map(|(image, predictions)| ImageResult { image, predictions })
        .collect();

    let output = PredictOutput {
        model: model_path,
        results,
        errors,
    };
    if args.json {
        print_json(&output)?;
    } else {
        print_text(&output.results);
    }
    fail_on_errors(&output.errors, image_paths.len())
}

/// File name of the bundled model, in `models/trained/` of the workspace.
pub const BUNDLED_MODEL: &str = "sharpsepconv_darts_cifar10_16x8.onnx";

/// Splits the positional arguments into the model and the images: the first
/// argument is the model when it ends in `.onnx`, else the bundled model is used.
fn split_inputs(inputs: &[PathBuf]) -> anyhow::Result<(PathBuf, &[PathBuf])> {
    let is_model = |path: &PathBuf| {
        path.extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("onnx"))
    };
    let (model, images) = match inputs.split_first() {
        Some((first, rest)) if is_model(first) => (first.clone(), rest),
        _ => (bundled_model()?, inputs),
    };
    if images.is_empty() {
        bail!(
            "no image given after the model {}: use serve predict [MODEL.onnx] IMAGE...",
            model.display()
        );
    }
    Ok((model, images))
}

/// Finds the bundled model: first in the workspace this binary was built
/// from, then in `models/trained/` two folders above the executable (the
/// workspace of a `target/<profile>/` binary).
fn bundled_model() -> anyhow::Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    let built_in = workspace.join("models/trained").join(BUNDLED_MODEL);
    let next_to_executable = std::env::current_exe().ok().and_then(|exe| {
        let workspace = exe.parent()?.parent()?.parent()?;
        Some(workspace.join("models/trained").join(BUNDLED_MODEL))
    });
    let candidates: Vec<PathBuf> = std::iter::once(built_in)
        .chain(next_to_executable)
        .collect();
    match candidates.iter().find(|path| path.is_file()) {
        Some(path) => Ok(path.clone()),
        None => {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            bail!(
                "no model given and the bundled model {BUNDLED_MODEL} was not found (looked at {}): \
                 give a model first, as in serve predict MODEL.onnx IMAGE",
                looked.join(", ")
            )
        }
    }
}

/// Decodes every image, reporting each failure on stderr and keeping the
/// rest: returns the decoded paths, their images and the failures.
fn decode_all(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<RgbImage>, Vec<ImageError>) {
    let mut decoded_paths = Vec::new();
    let mut images = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match data::image::load_rgb(path) {
            Ok(image) => {
                decoded_paths.push(path.clone());
                images.push(image);
            }
            Err(error) => {
                // `{:#}` includes the sources, such as the I/O error of a failed read.
                let error = format!("{:#}", anyhow::Error::new(error));
                eprintln!("error: skipping {}: {error}", path.display());
                errors.push(ImageError {
                    image: path.clone(),
                    error,
                });
            }
        }
    }
    (decoded_paths, images, errors)
}

/// Preprocesses each decoded image for the model. An image that the
/// preprocessing rejects (such as a resize to an absurd size) is left out,
/// with an error naming the file.
fn preprocess_all(
    model: &serve::OnnxModel,
    paths: Vec<PathBuf>,
    images: Vec<RgbImage>,
    errors: &mut Vec<ImageError>,
) -> anyhow::Result<(Vec<PathBuf>, Vec<Vec<f32>>)> {
    let preprocessing = serve::predict::Preprocessing::from_model(model)?;
    let mut accepted = (Vec::new(), Vec::new());
    for (path, image) in paths.into_iter().zip(images) {
        match preprocessing.apply(&image) {
            Ok(input) => {
                accepted.0.push(path);
                accepted.1.push(input);
            }
            Err(error) => {
                let error = format!("{:#}", anyhow::Error::new(error));
                eprintln!("error: skipping {}: {error}", path.display());
                errors.push(ImageError { image: path, error });
            }
        }
    }
    Ok(accepted)
}

fn print_text(results: &[ImageResult]) {
    for result in results {
        println!("{}", result.image.display());
        let width = result
            .predictions
            .iter()
            .map(|p| p.class.len())
            .max()
            .unwrap_or(0);
        for (rank, prediction) in result.predictions.iter().enumerate() {
            println!(
                "  {}. {:<width$}  {:>7.3}%  (class {})",
                rank + 1,
                prediction.class,
                100.0 * prediction.probability,
                prediction.index
            );
        }
    }
}

fn fail_on_errors(errors: &[ImageError], total: usize) -> anyhow::Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = errors.iter().map(|e| display(&e.image)).collect();
    bail!(
        "failed to read {} of {total} images: {}",
        errors.len(),
        names.join(", ")
    )
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

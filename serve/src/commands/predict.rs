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
    /// ONNX model written by `export`.
    pub model: PathBuf,
    /// PNG or JPEG images of any size and colour type. Each is resized to
    /// the model input, or, for a model with `resize_shorter` metadata,
    /// resized by its shorter side and centre-cropped.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
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
    let mut model = open_model(&args.model, &args.session)?;
    // Missing class names are reported before any preprocessing metadata.
    model.classes()?;
    let (paths, images, mut errors) = decode_all(&args.images);
    let (paths, inputs) = preprocess_all(&model, paths, images, &mut errors)?;
    let predictions = classify_inputs(&mut model, &inputs, args.top_k)?;
    let results: Vec<ImageResult> = paths
        .into_iter()
        .zip(predictions)
        .map(|(image, predictions)| ImageResult { image, predictions })
        .collect();

    let output = PredictOutput {
        model: args.model.clone(),
        results,
        errors,
    };
    if args.json {
        print_json(&output)?;
    } else {
        print_text(&output.results);
    }
    fail_on_errors(&output.errors, args.images.len())
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

//! Accuracy of a model on a labelled dataset: one held in memory at the
//! model's input size ([`evaluate`]) or image files decoded batch by batch
//! ([`evaluate_files`]).

use std::path::PathBuf;
use std::time::Instant;

use data::{Batch, Dataset, EvalBatches, FileBatches, ImageFiles};
use serde::Serialize;

use crate::error::{Result, ServeError};
use crate::model::OnnxModel;
use crate::predict::{normalization, top_k_indices, Preprocessing};

/// Folder names listed one by one in a class mismatch error; the rest are counted.
const MAX_LISTED_FOLDERS: usize = 10;

/// Accuracy on one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassAccuracy {
    pub class: String,
    /// Images of this class that were evaluated.
    pub images: usize,
    /// Images of this class whose top-1 prediction was correct.
    pub correct: usize,
    /// `correct / images` in percent; 0 when the class has no images.
    pub accuracy: f64,
}

/// Result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub images: usize,
    pub correct_top1: usize,
    pub correct_top5: usize,
    /// Top-1 accuracy in percent.
    pub top1: f64,
    /// Top-5 accuracy in percent (top-k with k = number of classes when
    /// there are fewer than 5).
    pub top5: f64,
    pub per_class: Vec<ClassAccuracy>,
    /// Wall time of the evaluation loop (batch preparation and inference,
    /// not dataset loading), in seconds.
    pub seconds: f64,
    pub images_per_second: f64,
}

/// Running counts of an evaluation.
struct Tally {
    correct_top1: usize,
    correct_top5: usize,
    per_class_images: Vec<usize>,
    per_class_correct: Vec<usize>,
}

impl Tally {
    fn new(classes: usize) -> Self {
        Self {
            correct_top1: 0,
            correct_top5: 0,
            per_class_images: vec![0; classes],
            per_class_correct: vec![0; classes],
        }
    }

    /// Runs `model` on `batch` and counts its predictions; `model_index`
    /// maps a batch label to the model's class index.
    fn add_batch(
        &mut self,
        model: &mut OnnxModel,
        batch: &Batch,
        model_index: impl Fn(usize) -> usize,
    ) -> Result<()> {
        let num_classes = model.num_classes();
        let logits = model.run(&batch.images, batch.len)?;
        for (row, &label) in logits.chunks_exact(num_classes).zip(&batch.labels) {
            self.add(row, model_index(label as usize));
        }
        Ok(())
    }

    fn add(&mut self, logits: &[f32], label: usize) {
        let top5 = top_k_indices(logits, 5);
        let hit = top5.first() == Some(&label);
        self.per_class_images[label] += 1;
        if hit {
            self.correct_top1 += 1;
            self.per_class_correct[label] += 1;
        }
        if top5.contains(&label) {
            self.correct_top5 += 1;
        }
    }
}

/// Evaluates `model` on every image of `dataset` in batches of `batch_size`,
/// calling `progress` with the number of images done after each batch.
///
/// The dataset must match the model: same image height and width, and the
/// same class names in the same order (or, for a model without `classes`
/// metadata, the same number of classes). A model with `resize_shorter`
/// metadata is rejected, because its preprocessing needs the original
/// images; evaluate those with [`evaluate_files`].
pub fn evaluate(
    model: &mut OnnxModel,
    dataset: &Dataset,
    batch_size: usize,
    mut progress: impl FnMut(usize),
) -> Result<EvalReport> {
    check_compatible(model, dataset)?;
    let normalization = normalization(model)?;
    let batches = EvalBatches::new(dataset, batch_size, normalization)?;
    let mut tally = Tally::new(model.num_classes());
    let start = Instant::now();
    let mut done = 0;
    for batch in batches {
        tally.add_batch(model, &batch, |label| label)?;
        done += batch.len;
        progress(done);
    }
    let classes: Vec<(String, usize)> = dataset.classes.iter().cloned().zip(0..).collect();
    Ok(report(tally, &classes, start.elapsed().as_secs_f64()))
}

/// Evaluates `model` on image files in batches of `batch_size`, decoding and
/// preprocessing each batch on worker threads while the previous one runs.
/// Returns the report and the files that could not be decoded, which are
/// left out. `progress` receives the number of files done after each batch.
///
/// Images are preprocessed as [`Preprocessing::from_model`] describes.
/// Class folders are matched to the model's `classes` metadata by name, so
/// the folders may be any subset of the model's classes. A model without
/// `classes` metadata needs exactly as many folders as it has classes,
/// matched in sorted order.
pub fn evaluate_files(
    model: &mut OnnxModel,
    files: &ImageFiles,
    batch_size: usize,
    mut progress: impl FnMut(usize),
) -> Result<(EvalReport, Vec<PathBuf>)> {
    let model_index = class_mapping(model, &files.classes)?;
    let preprocessing = Preprocessing::from_model(model)?;
    let batches = FileBatches::eval(
        files,
        batch_size,
        preprocessing.transform,
        preprocessing.normalization,
    )?;
    let skipped = batches.skipped();
    let mut tally = Tally::new(model.num_classes());
    let start = Instant::now();
    data::prefetch(batches, |batches| -> Result<()> {
        let mut evaluated = 0;
        for batch in batches {
            tally.add_batch(model, &batch, |label| model_index[label])?;
            evaluated += batch.len;
            progress(evaluated + skipped.count());
        }
        Ok(())
    })?;
    let classes: Vec<(String, usize)> = files.classes.iter().cloned().zip(model_index).collect();
    let report = report(tally, &classes, start.elapsed().as_secs_f64());
    Ok((report, skipped.paths()))
}

/// Returns the model's class index for each folder name in `folders`.
fn class_mapping(model: &OnnxModel, folders: &[String]) -> Result<Vec<usize>> {
    let Some(classes) = model.metadata().classes.as_deref() else {
        if folders.len() != model.num_classes() {
            let message = format!(
                "the model {} predicts {} unnamed classes, but the data has {} class folders; \
                 without `classes` metadata the folders must match the classes one to one",
                model.path().display(),
                model.num_classes(),
                folders.len()
            );
            return Err(ServeError::DatasetMismatch { message });
        }
        return Ok((0..folders.len()).collect());
    };
    let position = |folder: &String| classes.iter().position(|class| class == folder);
    let unknown: Vec<&str> = folders
        .iter()
        .filter(|folder| position(folder).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let message = format!(
            "{} class folders are not classes of the model {}: {}; the model's {} classes \
             start with {}",
            unknown.len(),
            model.path().display(),
            list_names(&unknown),
            classes.len(),
            list_names(
                &classes
                    .iter()
                    .take(3)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            )
        );
        return Err(ServeError::DatasetMismatch { message });
    }
    Ok(folders.iter().filter_map(position).collect())
}

/// Joins the first [`MAX_LISTED_FOLDERS`] names and counts the rest.
fn list_names(names: &[&str]) -> String {
    let listed = names[..names.len().min(MAX_LISTED_FOLDERS)].join(", ");
    if names.len() > MAX_LISTED_FOLDERS {
        format!("{listed} and {} more", names.len() - MAX_LISTED_FOLDERS)
    } else {
        listed
    }
}

/// Builds the report; `classes` pairs each class of the data, in data
/// order, with its index in the model's logits.
fn report(tally: Tally, classes: &[(String, usize)], seconds: f64) -> EvalReport {
    let images: usize = tally.per_class_images.iter().sum();
    let per_class = classes
        .iter()
        .map(|(class, index)| {
            let images = tally.per_class_images[*index];
            let correct = tally.per_class_correct[*index];
            ClassAccuracy {
                class: class.clone(),
                images,
                correct,
                accuracy: percent(correct, images),
            }
        })
        .collect();
    EvalReport {
        images,
        correct_top1: tally.correct_top1,
        correct_top5: tally.correct_top5,
        top1: percent(tally.correct_top1, images),
        top5: percent(tally.correct_top5, images),
        per_class,
        seconds,
        images_per_second: if seconds > 0.0 {
            images as f64 / seconds
        } else {
            0.0
        },
    }
}

fn percent(part: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * part as f64 / total as f64
    }
}

/// Rejects a dataset whose image size or classes differ from the model's,
/// because its accuracy would be meaningless.
fn check_compatible(model: &OnnxModel, dataset: &Dataset) -> Result<()> {
    if let Some(shorter) = model.metadata().resize_shorter {
        let message = format!(
            "the model {} resizes the shorter image side to {shorter} and crops the centre \
             (`resize_shorter` metadata), which needs the original image files, but the \
             dataset holds images already resized to {}x{}; evaluate an ImageFolder of the \
             original images instead",
            model.path().display(),
            dataset.height,
            dataset.width
        );
        return Err(ServeError::DatasetMismatch { message });
    }
    let [_, height, width] = model.input_size();
    if (dataset.height, dataset.width) != (height, width) {
        let message = format!(
            "the dataset images are {}x{}, but the model {} takes {height}x{width}",
            dataset.height,
            dataset.width,
            model.path().display()
        );
        return Err(ServeError::DatasetMismatch { message });
    }
    let mismatch = match model.metadata().classes.as_deref() {
        Some(classes) => classes != dataset.classes.as_slice(),
        None => model.num_classes() != dataset.num_classes(),
    };
    if mismatch {
        let model_classes = match model.metadata().classes.as_deref() {
            Some(classes) => format!("{classes:?}"),
            None => format!("{} unnamed classes", model.num_classes()),
        };
        let message = format!(
            "the model {} predicts {model_classes}, but the dataset has classes {:?}",
            model.path().display(),
            dataset.classes
        );
        return Err(ServeError::DatasetMismatch { message });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_top1_and_top5() {
        let mut tally = Tally::new(6);
        tally.add(&[0.0, 5.0, 4.0, 3.0, 2.0, 1.0], 1);
        tally.add(&[0.0, 5.0, 4.0, 3.0, 2.0, 1.0], 5);
        tally.add(&[0.0, 5.0, 4.0, 3.0, 2.0, 1.0], 0);
        let classes: Vec<(String, usize)> = ["a", "b", "c", "d", "e", "f"]
            .map(String::from)
            .into_iter()
            .zip(0..)
            .collect();
        let report = report(tally, &classes, 2.0);
        assert_eq!(report.images, 3);
        assert_eq!(report.correct_top1, 1);
        assert_eq!(report.correct_top5, 2);
        assert!((report.top1 - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(report.per_class[1].images, 1);
        assert_eq!(report.per_class[1].correct, 1);
        assert_eq!(report.per_class[0].accuracy, 0.0);
        assert_eq!(report.per_class[2].images, 0);
        assert!((report.images_per_second - 1.5).abs() < 1e-9);
    }

    #[test]
    fn report_lists_data_classes_only() {
        let mut tally = Tally::new(4);
        tally.add(&[0.0, 0.0, 0.0, 9.0], 3);
        tally.add(&[0.0, 9.0, 0.0, 0.0], 3);
        let classes = vec![("n3".to_string(), 3), ("n1".to_string(), 1)];
        let report = report(tally, &classes, 1.0);
        assert_eq!(report.images, 2);
        assert_eq!(report.per_class.len(), 2);
        assert_eq!(report.per_class[0].class, "n3");
        assert_eq!(
            (report.per_class[0].images, report.per_class[0].correct),
            (2, 1)
        );
        assert_eq!(report.per_class[1].images, 0);
    }

    #[test]
    fn list_names_counts_the_rest() {
        let names: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(list_names(&names[..2]), "c0, c1");
        assert!(list_names(&names).ends_with("c9 and 2 more"));
    }
}

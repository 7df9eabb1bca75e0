//! Accuracy of a model on a labelled dataset.

use std::time::Instant;

use data::{Dataset, EvalBatches};
use serde::Serialize;

use crate::error::{Result, ServeError};
use crate::model::OnnxModel;
use crate::predict::{normalization, top_k_indices};

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
/// metadata, the same number of classes).
pub fn evaluate(
    model: &mut OnnxModel,
    dataset: &Dataset,
    batch_size: usize,
    mut progress: impl FnMut(usize),
) -> Result<EvalReport> {
    check_compatible(model, dataset)?;
    let normalization = normalization(model)?;
    let batches = EvalBatches::new(dataset, batch_size, normalization)?;
    let num_classes = model.num_classes();
    let mut tally = Tally::new(num_classes);
    let start = Instant::now();
    let mut done = 0;
    for batch in batches {
        let logits = model.run(&batch.images, batch.len)?;
        for (row, &label) in logits.chunks_exact(num_classes).zip(&batch.labels) {
            tally.add(row, label as usize);
        }
        done += batch.len;
        progress(done);
    }
    Ok(report(
        tally,
        &dataset.classes,
        start.elapsed().as_secs_f64(),
    ))
}

fn report(tally: Tally, classes: &[String], seconds: f64) -> EvalReport {
    let images: usize = tally.per_class_images.iter().sum();
    let per_class = classes
        .iter()
        .zip(tally.per_class_images.iter().zip(&tally.per_class_correct))
        .map(|(class, (&images, &correct))| ClassAccuracy {
            class: class.clone(),
            images,
            correct,
            accuracy: percent(correct, images),
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
        let report = report(
            tally,
            &["a", "b", "c", "d", "e", "f"].map(String::from),
            2.0,
        );
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
}

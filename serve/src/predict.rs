//! Classifying decoded images: preprocessing, softmax and top-k.

use data::image::{resize_rgb, RgbImage};
use data::imagenet::EvalTransform;
use data::transform::normalize_chw_into;
use data::{ImageTransform, Normalization};
use serde::Serialize;

use crate::error::{Result, ServeError};
use crate::model::OnnxModel;

/// Images per inference call in [`classify`].
pub const PREDICT_BATCH: usize = 64;

/// One class of a top-k list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Class name from the model metadata.
    pub class: String,
    /// Class index, the position in the logits.
    pub index: usize,
    /// Softmax probability in [0, 1].
    pub probability: f32,
}

/// Builds the preprocessing settings from the model metadata (`mean`, `std`)
/// and checks that the model takes 3-channel (RGB) input.
pub fn normalization(model: &OnnxModel) -> Result<Normalization> {
    let (mean, std) = model.normalization()?;
    let channels = model.input_size()[0];
    let (Ok(mean), Ok(std)) = (<[f32; 3]>::try_from(mean), <[f32; 3]>::try_from(std)) else {
        let message = format!("the input has {channels} channels, but images are decoded as RGB");
        return Err(ServeError::unsupported(model.path(), message));
    };
    Normalization::new(mean, std).map_err(|error| ServeError::InvalidMetadata {
        path: model.path().to_path_buf(),
        key: "mean/std".to_owned(),
        value: format!("{mean:?} / {std:?}"),
        reason: error.to_string(),
    })
}

/// The resize, crop and normalisation that turn an image of any size into the
/// input of one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocessing {
    pub transform: ImageTransform,
    pub normalization: Normalization,
}

impl Preprocessing {
    /// Builds the preprocessing of `model` from its metadata.
    ///
    /// With a `resize_shorter` entry, an image is resized so that its shorter
    /// side has that length, then the centred input-size region is cropped,
    /// as torchvision's `Resize` and `CenterCrop` evaluate ImageNet. Without
    /// it, the image is resized straight to the input size, as for CIFAR-10.
    pub fn from_model(model: &OnnxModel) -> Result<Self> {
        let normalization = normalization(model)?;
        let [_, height, width] = model.input_size();
        let (height, width) = (height as u32, width as u32);
        let transform = match model.metadata().resize_shorter {
            Some(shorter) => {
                let transform = EvalTransform::new(shorter, height, width).map_err(|error| {
                    ServeError::InvalidMetadata {
                        path: model.path().to_path_buf(),
                        key: "resize_shorter".to_owned(),
                        value: shorter.to_string(),
                        reason: error.to_string(),
                    }
                })?;
                ImageTransform::Eval(transform)
            }
            None => ImageTransform::Resize { width, height },
        };
        Ok(Self {
            transform,
            normalization,
        })
    }

    /// Returns the `[C, H, W]` shape of one preprocessed image.
    pub fn input_size(&self) -> [usize; 3] {
        let (width, height) = self.transform.output_size();
        [3, height as usize, width as usize]
    }

    /// Resizes, crops and normalises `image` to CHW `f32`.
    ///
    /// Fails only when the resized image would be too large, which an
    /// extreme aspect ratio causes (see [`EvalTransform::apply`]).
    pub fn apply(&self, image: &RgbImage) -> Result<Vec<f32>> {
        let image = self.transform.apply_with_seed(image, 0)?;
        let mut out = vec![0.0; image.as_raw().len()];
        normalize_chw_into(image.as_raw(), &self.normalization.lookup_table(), &mut out);
        Ok(out)
    }
}

/// Resizes an RGB image to the model's input height and width (bilinear,
/// see [`data::image::resize_rgb`]) and normalises it to CHW `f32`. This is
/// the preprocessing of a model without `resize_shorter` metadata; use
/// [`Preprocessing`] for any model.
pub fn preprocess(
    image: &RgbImage,
    input_size: [usize; 3],
    normalization: &Normalization,
) -> Vec<f32> {
    let [_, height, width] = input_size;
    let resized = resize_rgb(image, width as u32, height as u32);
    data::normalize_chw(
        resized.as_raw(),
        height,
        width,
        normalization.mean,
        normalization.std,
    )
}

/// Softmax of one row of logits, computed in `f64` after subtracting the
/// maximum so that large logits do not overflow.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&x| f64::from(x - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|&e| (e / sum) as f32).collect()
}

/// Indices of the `k` largest values, largest first; ties keep the lower
/// index first. Returns all indices when `k` exceeds the length.
pub fn top_k_indices(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// Classifies already decoded images and returns the `top_k` most probable
/// classes of each, in input order. Requires the `classes`, `mean` and `std`
/// metadata entries; images are preprocessed as [`Preprocessing::from_model`]
/// describes.
pub fn classify(
    model: &mut OnnxModel,
    images: &[RgbImage],
    top_k: usize,
) -> Result<Vec<Vec<Prediction>>> {
    // Missing class names are reported before missing preprocessing metadata.
    model.classes()?;
    let preprocessing = Preprocessing::from_model(model)?;
    let inputs = images
        .iter()
        .map(|image| preprocessing.apply(image))
        .collect::<Result<Vec<_>>>()?;
    classify_inputs(model, &inputs, top_k)
}

/// Classifies images already preprocessed with [`Preprocessing::apply`],
/// in batches; returns the `top_k` predictions of each.
pub fn classify_inputs(
    model: &mut OnnxModel,
    inputs: &[Vec<f32>],
    top_k: usize,
) -> Result<Vec<Vec<Prediction>>> {
    let classes = model.classes()?.to_vec();
    let mut results = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(PREDICT_BATCH) {
        let input: Vec<f32> = chunk.concat();
        let logits = model.run(&input, chunk.len())?;
        for row in logits.chunks_exact(classes.len()) {
            results.push(rank(row, &classes, top_k));
        }
    }
    Ok(results)
}

fn rank(logits: &[f32], classes: &[String], top_k: usize) -> Vec<Prediction> {
    let probabilities = softmax(logits);
    top_k_indices(&probabilities, top_k)
        .into_iter()
        .map(|index| Prediction {
            class: classes[index].clone(),
            index,
            probability: probabilities[index],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one() {
        let probabilities = softmax(&[1.0, 2.0, 3.0, -4.0]);
        let sum: f32 = probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "sum {sum}");
        assert!(probabilities[2] > probabilities[1]);
        assert!(probabilities[1] > probabilities[0]);
    }

    #[test]
    fn softmax_large_logits_stay_finite() {
        let probabilities = softmax(&[1000.0, 999.0]);
        assert!(
            probabilities.iter().all(|p| p.is_finite()),
            "{probabilities:?}"
        );
        let expected = 1.0 / (1.0 + (-1.0f64).exp());
        assert!((f64::from(probabilities[0]) - expected).abs() < 1e-6);
    }

    #[test]
    fn top_k_orders_descending() {
        assert_eq!(top_k_indices(&[0.1, 0.5, 0.2, 0.5], 3), vec![1, 3, 2]);
    }

    #[test]
    fn top_k_larger_than_length() {
        assert_eq!(top_k_indices(&[0.3, 0.7], 5), vec![1, 0]);
    }

    #[test]
    fn preprocess_resizes_and_normalises() {
        let image = RgbImage::from_pixel(7, 5, ::image::Rgb([255, 0, 51]));
        let normalization = Normalization::new([0.5, 0.5, 0.5], [0.5, 0.25, 0.1]).unwrap();
        let input = preprocess(&image, [3, 4, 6], &normalization);
        assert_eq!(input.len(), 3 * 4 * 6);
        let plane = 4 * 6;
        assert!(input[..plane].iter().all(|&v| (v - 1.0).abs() < 1e-6));
        assert!(input[plane..2 * plane]
            .iter()
            .all(|&v| (v + 2.0).abs() < 1e-6));
        assert!(input[2 * plane..].iter().all(|&v| (v + 3.0).abs() < 1e-5));
    }
}

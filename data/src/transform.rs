//! Normalisation of 8-bit HWC images to `f32` CHW model input.
//!
//! Pixel `x` of channel `c` becomes `(x / 255 - mean[c]) / std[c]`, computed
//! in `f32` in that order, which is what torchvision's `ToTensor` followed by
//! `Normalize` computes.

use serde::{Deserialize, Serialize};

use crate::image::{resize_rgb, RgbImage};
use crate::{DataError, Dataset, Result};

/// Per-channel mean and standard deviation of pixels scaled to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalization {
    /// CIFAR-10 training-set statistics (RGB).
    pub const CIFAR10: Normalization = Normalization {
        mean: models::network::CIFAR10_MEAN,
        std: models::network::CIFAR10_STD,
    };

    /// ImageNet statistics (RGB) as used by torchvision.
    pub const IMAGENET: Normalization = Normalization {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Creates a normalisation after checking that every mean is finite and
    /// every standard deviation is finite and positive.
    pub fn new(mean: [f32; 3], std: [f32; 3]) -> Result<Self> {
        if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
            return Err(invalid("normalisation mean", m, "use a finite value"));
        }
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(invalid(
                "normalisation standard deviation",
                s,
                "use a finite value greater than 0",
            ));
        }
        Ok(Normalization { mean, std })
    }

    /// Normalised value of every byte for each channel, for table look-up.
    pub fn lookup_table(&self) -> [[f32; 256]; 3] {
        let mut table = [[0.0; 256]; 3];
        for (c, row) in table.iter_mut().enumerate() {
            for (x, value) in row.iter_mut().enumerate() {
                *value = (x as f32 / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        table
    }
}

fn invalid(name: &'static str, value: &f32, fix: &str) -> DataError {
    DataError::InvalidArgument {
        name,
        value: value.to_string(),
        fix: fix.to_string(),
    }
}

/// Normalises an 8-bit RGB HWC image of `h x w` pixels to CHW `f32`.
///
/// Panics if `hwc.len() != h * w * 3`.
pub fn normalize_chw(hwc: &[u8], h: usize, w: usize, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let table = Normalization { mean, std }.lookup_table();
    let mut out = vec![0.0; h * w * 3];
    normalize_chw_into(hwc, &table, &mut out);
    out
}

/// Normalises an HWC image into `out` (CHW, same number of values) with a
/// table from [`Normalization::lookup_table`].
///
/// Panics if `out.len() != hwc.len()` or the length is not a multiple of 3.
pub fn normalize_chw_into(hwc: &[u8], table: &[[f32; 256]; 3], out: &mut [f32]) {
    assert_eq!(hwc.len(), out.len(), "input and output sizes differ");
    assert_eq!(hwc.len() % 3, 0, "HWC input length is not a multiple of 3");
    let plane = hwc.len() / 3;
    let (red, rest) = out.split_at_mut(plane);
    let (green, blue) = rest.split_at_mut(plane);
    for (i, pixel) in hwc.chunks_exact(3).enumerate() {
        red[i] = table[0][usize::from(pixel[0])];
        green[i] = table[1][usize::from(pixel[1])];
        blue[i] = table[2][usize::from(pixel[2])];
    }
}

/// Fills `out` with the images at `indices`, normalised, as one contiguous
/// NCHW buffer of `indices.len() * 3 * height * width` values.
///
/// Panics if `out` has another length or an index is out of range.
pub fn fill_batch(dataset: &Dataset, indices: &[usize], norm: &Normalization, out: &mut [f32]) {
    let image_len = dataset.image_len();
    assert_eq!(out.len(), indices.len() * image_len, "batch buffer size");
    let table = norm.lookup_table();
    for (&i, slot) in indices.iter().zip(out.chunks_exact_mut(image_len)) {
        normalize_chw_into(dataset.image(i), &table, slot);
    }
}

/// Resizes `image` to `size x size` (bilinear, ignoring the aspect ratio)
/// and normalises it to CHW `f32`: the model input for one image.
pub fn preprocess(image: &RgbImage, size: u32, norm: &Normalization) -> Vec<f32> {
    let resized = resize_rgb(image, size, size);
    let mut out = vec![0.0; resized.as_raw().len()];
    normalize_chw_into(resized.as_raw(), &norm.lookup_table(), &mut out);
    out
}

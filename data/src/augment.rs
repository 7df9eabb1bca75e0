//! The CIFAR training augmentation: random crop from a zero-padded image,
//! horizontal flip, normalisation, then Cutout on the normalised tensor.
//!
//! This follows torchvision's `RandomCrop(32, padding=4)` and
//! `RandomHorizontalFlip()`, then `ToTensor`, `Normalize` and the Cutout of
//! the sharpDARTS training code. Cutout draws a centre (y, x) uniformly over
//! the image and zeroes rows and columns `[clip(y - L/2), clip(y + L/2))` in
//! every channel. The hole therefore shows the dataset mean colour, and it is
//! smaller near a border.
//!
//! With AutoAugment enabled, the padding is gray (128) instead of black, and
//! an AutoAugment sub-policy runs on the flipped crop before normalisation.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::autoaugment::{ops::FILL, AutoAugment, AutoAugmentParams};
use crate::image::RgbImage;
use crate::transform::normalize_chw_into;

/// Augmentation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augment {
    /// Zero padding on every side before the random crop back to the
    /// original size; 0 disables cropping.
    pub crop_pad: usize,
    /// Mirror left-right with probability 0.5.
    pub flip: bool,
    /// Side length of the Cutout square, if enabled.
    pub cutout: Option<usize>,
    /// AutoAugment policy applied after the crop and flip, if enabled. It
    /// also pads the crop with gray (128) instead of black.
    #[serde(default)]
    pub autoaugment: Option<AutoAugment>,
}

/// The random choices for one image, drawn by [`Augment::sample`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AugmentParams {
    /// Crop offset in the padded image, each in `0..=2 * crop_pad`.
    pub crop_y: usize,
    pub crop_x: usize,
    /// Padding that the offsets refer to.
    pub crop_pad: usize,
    pub flip: bool,
    /// Cutout centre `(y, x)` and side length.
    pub cutout: Option<(usize, usize, usize)>,
    /// AutoAugment choices, when AutoAugment is enabled.
    pub autoaugment: Option<AutoAugmentParams>,
}

impl Augment {
    /// No augmentation.
    pub const NONE: Augment = Augment {
        crop_pad: 0,
        flip: false,
        cutout: None,
        autoaugment: None,
    };

    /// Returns the CIFAR recipe: padding 4, flip, and Cutout of side `cutout`
    /// if given, without AutoAugment.
    pub fn cifar(cutout: Option<usize>) -> Augment {
        Augment {
            crop_pad: 4,
            flip: true,
            cutout,
            autoaugment: None,
        }
    }

    /// Draws the random choices for one `height x width` image, in the order
    /// crop row, crop column, flip, AutoAugment choices (when enabled),
    /// Cutout row, Cutout column.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        height: usize,
        width: usize,
        rng: &mut R,
    ) -> AugmentParams {
        let span = 2 * self.crop_pad;
        let crop_y = if span > 0 {
            rng.random_range(0..=span)
        } else {
            0
        };
        let crop_x = if span > 0 {
            rng.random_range(0..=span)
        } else {
            0
        };
        let flip = self.flip && rng.random_bool(0.5);
        let autoaugment = self.autoaugment.map(|policy| policy.sample(rng));
        let cutout = self.cutout.filter(|&len| len > 0).map(|len| {
            let y = rng.random_range(0..height);
            let x = rng.random_range(0..width);
            (y, x, len)
        });
        AugmentParams {
            crop_y,
            crop_x,
            crop_pad: self.crop_pad,
            flip,
            cutout,
            autoaugment,
        }
    }
}

/// Writes the augmented, normalised CHW image for an `h x w` HWC image.
///
/// `table` comes from [`crate::Normalization::lookup_table`]. Padding pixels
/// are black before normalisation, or gray (128) when `params` contains
/// AutoAugment choices. Panics if the buffer sizes do not match `h * w * 3`.
pub fn apply(
    hwc: &[u8],
    h: usize,
    w: usize,
    params: &AugmentParams,
    table: &[[f32; 256]; 3],
    out: &mut [f32],
) {
    assert_eq!(hwc.len(), h * w * 3, "input image size");
    assert_eq!(out.len(), h * w * 3, "output buffer size");
    match &params.autoaugment {
        None => crop_flip_normalize(hwc, h, w, params, table, out),
        Some(autoaugment) => {
            let cropped = crop_flip_gray_padded(hwc, h, w, params);
            normalize_chw_into(autoaugment.apply(&cropped).as_raw(), table, out);
        }
    }
    if let Some((y, x, len)) = params.cutout {
        cutout(out, h, w, y, x, len);
    }
}

/// Crops and flips as `params` specifies, with black padding, and normalises
/// into `out` in the same pass.
fn crop_flip_normalize(
    hwc: &[u8],
    h: usize,
    w: usize,
    params: &AugmentParams,
    table: &[[f32; 256]; 3],
    out: &mut [f32],
) {
    let plane = h * w;
    for y in 0..h {
        let source_y = (y + params.crop_y)
            .checked_sub(params.crop_pad)
            .filter(|&sy| sy < h);
        for x in 0..w {
            let cx = if params.flip { w - 1 - x } else { x };
            let source_x = (cx + params.crop_x)
                .checked_sub(params.crop_pad)
                .filter(|&sx| sx < w);
            let at = y * w + x;
            match (source_y, source_x) {
                (Some(sy), Some(sx)) => {
                    let pixel = &hwc[(sy * w + sx) * 3..][..3];
                    for c in 0..3 {
                        out[c * plane + at] = table[c][usize::from(pixel[c])];
                    }
                }
                _ => {
                    for c in 0..3 {
                        out[c * plane + at] = table[c][0];
                    }
                }
            }
        }
    }
}

/// Crops and flips as `params` specifies, with padding of the AutoAugment fill
/// colour (128, 128, 128), into an 8-bit image.
fn crop_flip_gray_padded(hwc: &[u8], h: usize, w: usize, params: &AugmentParams) -> RgbImage {
    let width = u32::try_from(w).expect("image width fits in u32");
    let height = u32::try_from(h).expect("image height fits in u32");
    RgbImage::from_fn(width, height, |x, y| {
        let (x, y) = (x as usize, y as usize);
        let cx = if params.flip { w - 1 - x } else { x };
        let source_y = (y + params.crop_y)
            .checked_sub(params.crop_pad)
            .filter(|&sy| sy < h);
        let source_x = (cx + params.crop_x)
            .checked_sub(params.crop_pad)
            .filter(|&sx| sx < w);
        match (source_y, source_x) {
            (Some(sy), Some(sx)) => {
                let at = (sy * w + sx) * 3;
                ::image::Rgb([hwc[at], hwc[at + 1], hwc[at + 2]])
            }
            _ => FILL,
        }
    })
}

/// Zeroes rows `[y - len/2, y + len/2)` and the same columns around `x`,
/// clipped to the image, in every channel of a CHW image.
pub fn cutout(chw: &mut [f32], h: usize, w: usize, y: usize, x: usize, len: usize) {
    let y0 = y.saturating_sub(len / 2);
    let y1 = (y + len / 2).min(h);
    let x0 = x.saturating_sub(len / 2);
    let x1 = (x + len / 2).min(w);
    for channel in chw.chunks_exact_mut(h * w) {
        for row in y0..y1 {
            channel[row * w + x0..row * w + x1].fill(0.0);
        }
    }
}

//! ImageNet preprocessing with torchvision's semantics (version 0.8 and later).
//!
//! * Training: `RandomResizedCrop(224)` with scale (0.08, 1.0) and aspect
//!   ratio (3/4, 4/3), then `RandomHorizontalFlip(0.5)` ([`TrainTransform`]),
//!   then optionally an AutoAugment sub-policy.
//! * Evaluation: `Resize(256)` of the shorter side, then `CenterCrop(224)`
//!   ([`EvalTransform`]).
//!
//! Python's `round` rounds halves to even, so the crop arithmetic below uses
//! [`f64::round_ties_even`] where torchvision calls `round`.
//!
//! NOTE: resizing uses the `image` crate's triangle (bilinear) filter, whose
//! support widens when shrinking, as PIL's antialiased bilinear resize does
//! (torchvision's default for PIL images). The `image` crate resamples
//! vertically first and keeps `f32` between the passes, while PIL resamples
//! horizontally first and rounds to 8 bits in between, so pixels can differ
//! from a Python pipeline by a level or two.

use ::image::imageops::{self, FilterType};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::autoaugment::{AutoAugment, AutoAugmentParams};
use crate::image::RgbImage;
use crate::{DataError, Result};

/// Output side length of the training crop and the evaluation crop.
pub const CROP_SIZE: u32 = 224;

/// Length that the evaluation transform resizes the shorter side to.
pub const RESIZE_SHORTER: u32 = 256;

/// Random draws that [`RandomResizedCrop`] makes before it falls back to a
/// centre crop.
pub const CROP_ATTEMPTS: usize = 10;

/// Largest image, in pixels, that [`EvalTransform`] resizes to. It matches
/// the `image` decoder's default memory limit of 512 MiB for 8-bit RGB, so an
/// extreme aspect ratio (a 1 x 65535 strip becomes 256 x 16776960) is
/// rejected instead of exhausting memory.
pub const MAX_RESIZED_PIXELS: u64 = 512 * 1024 * 1024 / 3;

/// A crop rectangle in pixels: rows `top..top + height` and columns
/// `left..left + width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropBox {
    pub top: u32,
    pub left: u32,
    pub height: u32,
    pub width: u32,
}

/// torchvision's `RandomResizedCrop`: a random region of random area and
/// aspect ratio, resized to `size x size`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomResizedCrop {
    /// Output side length in pixels.
    pub size: u32,
    /// Range of the crop area as a fraction of the image area.
    pub scale: (f64, f64),
    /// Range of the crop's width / height, drawn uniformly in log space.
    pub ratio: (f64, f64),
}

impl RandomResizedCrop {
    /// Creates the crop with torchvision's default scale (0.08, 1.0) and
    /// ratio (3/4, 4/3).
    pub fn new(size: u32) -> Result<Self> {
        Self::with_ranges(size, (0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0))
    }

    /// Creates the crop after checking that `size` is a valid side length
    /// and both ranges are finite, positive and ordered (min <= max).
    pub fn with_ranges(size: u32, scale: (f64, f64), ratio: (f64, f64)) -> Result<Self> {
        check_side("crop size", size)?;
        check_range("crop scale", scale)?;
        check_range("crop aspect ratio", ratio)?;
        Ok(Self { size, scale, ratio })
    }

    /// Draws the crop box for a `width x height` image as torchvision's
    /// `RandomResizedCrop.get_params` does.
    ///
    /// Each of [`CROP_ATTEMPTS`] attempts draws an area fraction uniformly
    /// from `scale` and a log aspect ratio uniformly from `ln(ratio)`, then
    /// rounds the side lengths. The first box that fits the image is placed
    /// uniformly at random. If no attempt fits, the box is
    /// [`RandomResizedCrop::fallback`].
    pub fn sample<R: Rng + ?Sized>(&self, width: u32, height: u32, rng: &mut R) -> CropBox {
        let area = f64::from(width) * f64::from(height);
        let log_ratio = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..CROP_ATTEMPTS {
            let target_area = area * uniform(rng, self.scale);
            let aspect_ratio = uniform(rng, log_ratio).exp();
            let w = (target_area * aspect_ratio).sqrt().round_ties_even();
            let h = (target_area / aspect_ratio).sqrt().round_ties_even();
            if w > 0.0 && w <= f64::from(width) && h > 0.0 && h <= f64::from(height) {
                let (w, h) = (w as u32, h as u32);
                let top = rng.random_range(0..=height - h);
                let left = rng.random_range(0..=width - w);
                return CropBox {
                    top,
                    left,
                    height: h,
                    width: w,
                };
            }
        }
        self.fallback(width, height)
    }

    /// Returns torchvision's fallback box: the whole image when its aspect
    /// ratio lies in `ratio`. Otherwise the box is centred, has the nearest
    /// allowed ratio. It keeps the full height of a too-wide image and the
    /// full width of a too-tall image.
    pub fn fallback(&self, width: u32, height: u32) -> CropBox {
        let (min_ratio, max_ratio) = self.ratio;
        let in_ratio = f64::from(width) / f64::from(height);
        let (w, h) = if in_ratio < min_ratio {
            let h = (f64::from(width) / min_ratio).round_ties_even() as u32;
            (width, h.clamp(1, height.max(1)))
        } else if in_ratio > max_ratio {
            let w = (f64::from(height) * max_ratio).round_ties_even() as u32;
            (w.clamp(1, width.max(1)), height)
        } else {
            (width, height)
        };
        CropBox {
            top: height.saturating_sub(h) / 2,
            left: width.saturating_sub(w) / 2,
            height: h,
            width: w,
        }
    }

    /// Cuts `crop` out of `image` and resizes it to `size x size`.
    ///
    /// Panics if `crop` does not lie inside the image.
    pub fn apply_box(&self, image: &RgbImage, crop: CropBox) -> RgbImage {
        assert!(
            crop.left + crop.width <= image.width() && crop.top + crop.height <= image.height(),
            "crop box {crop:?} exceeds the {}x{} image",
            image.width(),
            image.height()
        );
        let region = imageops::crop_imm(image, crop.left, crop.top, crop.width, crop.height);
        imageops::resize(&*region, self.size, self.size, FilterType::Triangle)
    }
}

/// Draws uniformly from `[low, high)`, or returns `low` when the range is a
/// single value.
fn uniform<R: Rng + ?Sized>(rng: &mut R, (low, high): (f64, f64)) -> f64 {
    if low < high {
        rng.random_range(low..high)
    } else {
        low
    }
}

/// The training transform: [`RandomResizedCrop`], then a horizontal flip
/// with probability 0.5 when `flip` is set, then AutoAugment when
/// `autoaugment` is set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainTransform {
    pub crop: RandomResizedCrop,
    pub flip: bool,
    /// AutoAugment policy applied to the flipped crop, if enabled.
    #[serde(default)]
    pub autoaugment: Option<AutoAugment>,
}

/// The random choices of [`TrainTransform`] for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainParams {
    pub crop: CropBox,
    pub flip: bool,
    pub autoaugment: Option<AutoAugmentParams>,
}

impl TrainTransform {
    /// Creates the ImageNet training recipe with output side `size`
    /// ([`CROP_SIZE`] in the published recipe), flipping on and
    /// AutoAugment off.
    pub fn new(size: u32) -> Result<Self> {
        Ok(Self {
            crop: RandomResizedCrop::new(size)?,
            flip: true,
            autoaugment: None,
        })
    }

    /// Draws the crop box, then the flip, then the AutoAugment choices (when
    /// enabled) for a `width x height` image.
    pub fn sample<R: Rng + ?Sized>(&self, width: u32, height: u32, rng: &mut R) -> TrainParams {
        let crop = self.crop.sample(width, height, rng);
        let flip = self.flip && rng.random_bool(0.5);
        let autoaugment = self.autoaugment.map(|policy| policy.sample(rng));
        TrainParams {
            crop,
            flip,
            autoaugment,
        }
    }

    /// Applies drawn choices: crop, resize, mirror left-right if `flip`,
    /// then the AutoAugment steps.
    pub fn apply_params(&self, image: &RgbImage, params: &TrainParams) -> RgbImage {
        let mut out = self.crop.apply_box(image, params.crop);
        if params.flip {
            imageops::flip_horizontal_in_place(&mut out);
        }
        match &params.autoaugment {
            Some(autoaugment) => autoaugment.apply(&out),
            None => out,
        }
    }

    /// Draws the choices for `image` from `rng` and applies them.
    pub fn apply<R: Rng + ?Sized>(&self, image: &RgbImage, rng: &mut R) -> RgbImage {
        let params = self.sample(image.width(), image.height(), rng);
        self.apply_params(image, &params)
    }
}

/// The evaluation transform: resize so that the shorter side is
/// `resize_shorter` (aspect ratio kept), then take the centred
/// `crop_width x crop_height` region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalTransform {
    pub resize_shorter: u32,
    pub crop_height: u32,
    pub crop_width: u32,
}

impl Default for EvalTransform {
    /// Returns the published recipe: shorter side 256, centre crop 224 x 224.
    fn default() -> Self {
        Self {
            resize_shorter: RESIZE_SHORTER,
            crop_height: CROP_SIZE,
            crop_width: CROP_SIZE,
        }
    }
}

impl EvalTransform {
    /// Creates the transform after checking that every size is a valid side
    /// length. A crop larger than the resized image is allowed and padded
    /// with black, as torchvision's `CenterCrop` pads.
    pub fn new(resize_shorter: u32, crop_height: u32, crop_width: u32) -> Result<Self> {
        check_side("resize size", resize_shorter)?;
        check_side("crop height", crop_height)?;
        check_side("crop width", crop_width)?;
        Ok(Self {
            resize_shorter,
            crop_height,
            crop_width,
        })
    }

    /// Returns the `(width, height)` that a `width x height` image is resized
    /// to, see [`resized_size`].
    pub fn resized_size(&self, width: u32, height: u32) -> (u64, u64) {
        resized_size(width, height, self.resize_shorter)
    }

    /// Resizes and centre-crops `image`.
    ///
    /// Fails when the resized image would exceed [`MAX_RESIZED_PIXELS`],
    /// which only an extreme aspect ratio causes.
    pub fn apply(&self, image: &RgbImage) -> Result<RgbImage> {
        let resized = resize_shorter_side(image, self.resize_shorter)?;
        Ok(center_crop(&resized, self.crop_width, self.crop_height))
    }
}

/// Returns the `(width, height)` of a `width x height` image whose shorter
/// side is resized to `shorter`, as torchvision's `Resize(shorter)` computes
/// it: the longer side becomes `int(shorter * longer / shorter_side)`, which
/// truncates.
pub fn resized_size(width: u32, height: u32, shorter: u32) -> (u64, u64) {
    let (short_side, long_side) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_short = u64::from(shorter);
    let new_long = new_short * u64::from(long_side) / u64::from(short_side.max(1));
    if width <= height {
        (new_short, new_long)
    } else {
        (new_long, new_short)
    }
}

/// Resizes `image` so that its shorter side is `shorter` pixels, keeping the
/// aspect ratio as [`resized_size`] rounds it (triangle filter).
///
/// Fails when the result would exceed [`MAX_RESIZED_PIXELS`].
pub fn resize_shorter_side(image: &RgbImage, shorter: u32) -> Result<RgbImage> {
    let (width, height) = resized_size(image.width(), image.height(), shorter);
    let fits = width * height <= MAX_RESIZED_PIXELS;
    let (Ok(width), Ok(height), true) = (u32::try_from(width), u32::try_from(height), fits) else {
        return Err(DataError::InvalidArgument {
            name: "image size",
            value: format!("{}x{}", image.width(), image.height()),
            fix: format!(
                "resizing its shorter side to {shorter} would give {width}x{height} pixels, \
                 more than the limit of {MAX_RESIZED_PIXELS}; crop the image to a less \
                 extreme aspect ratio"
            ),
        });
    };
    Ok(crate::image::resize_rgb(image, width, height))
}

/// Returns the offset of a centred crop of length `crop` in a side of
/// length `side >= crop`: `int(round((side - crop) / 2))` as torchvision's
/// `center_crop` computes it, so an odd difference rounds half to even.
pub fn center_offset(side: u32, crop: u32) -> u32 {
    (f64::from(side - crop) / 2.0).round_ties_even() as u32
}

/// Takes the centred `width x height` region of `image` as torchvision's
/// `CenterCrop` does. Where the crop is larger than the image, the image is
/// first padded with black by `(crop - side) / 2` before and the rest after.
pub fn center_crop(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    let (source_x, target_x, copy_width) = crop_span(image.width(), width);
    let (source_y, target_y, copy_height) = crop_span(image.height(), height);
    let mut out = RgbImage::new(width, height);
    let region = imageops::crop_imm(image, source_x, source_y, copy_width, copy_height);
    imageops::replace(&mut out, &*region, i64::from(target_x), i64::from(target_y));
    out
}

/// Returns `(source offset, target offset, length)` of the part of one side
/// that a centred crop copies.
fn crop_span(side: u32, crop: u32) -> (u32, u32, u32) {
    if crop <= side {
        (center_offset(side, crop), 0, crop)
    } else {
        (0, (crop - side) / 2, side)
    }
}

fn check_side(name: &'static str, size: u32) -> Result<()> {
    if size == 0 || size > 65_535 {
        return Err(DataError::InvalidArgument {
            name,
            value: size.to_string(),
            fix: "use a side length between 1 and 65535 pixels".to_string(),
        });
    }
    Ok(())
}

fn check_range(name: &'static str, (low, high): (f64, f64)) -> Result<()> {
    let valid = low.is_finite() && high.is_finite() && low > 0.0 && low <= high;
    if !valid {
        return Err(DataError::InvalidArgument {
            name,
            value: format!("({low}, {high})"),
            fix: "use finite positive bounds with min <= max".to_string(),
        });
    }
    Ok(())
}

//! The image operations of AutoAugment, with the semantics of the PIL
//! (Pillow) calls in the published AutoAugment code.
//!
//! Geometric operations follow PIL's `Image.transform` with `Image.AFFINE`:
//! the centre `(x + 0.5, y + 0.5)` of every output pixel is mapped to an
//! input position, and an output pixel whose position falls outside the
//! input keeps the fill colour [`FILL`]. Colour operations work on each
//! 8-bit channel separately, except where the grayscale image is used.

use ::image::Rgb;

use crate::image::RgbImage;

/// Colour of the pixels that a geometric operation uncovers, the fill colour
/// `(128, 128, 128)` of the published code.
pub const FILL: Rgb<u8> = Rgb([128, 128, 128]);

/// Shears along x: output pixel `(x, y)` samples input `(x + shear * y, y)`,
/// with PIL's bicubic interpolation.
pub fn shear_x(image: &RgbImage, shear: f64) -> RgbImage {
    affine_bicubic(image, [1.0, shear, 0.0, 0.0, 1.0, 0.0])
}

/// Shears along y: output pixel `(x, y)` samples input `(x, y + shear * x)`,
/// with PIL's bicubic interpolation.
pub fn shear_y(image: &RgbImage, shear: f64) -> RgbImage {
    affine_bicubic(image, [1.0, 0.0, 0.0, shear, 1.0, 0.0])
}

/// Translates along x: output pixel `(x, y)` takes the input pixel nearest
/// to `(x + pixels, y)`, so a positive offset moves the content left.
pub fn translate_x(image: &RgbImage, pixels: f64) -> RgbImage {
    affine_nearest(image, [1.0, 0.0, pixels, 0.0, 1.0, 0.0])
}

/// Translates along y: output pixel `(x, y)` takes the input pixel nearest
/// to `(x, y + pixels)`, so a positive offset moves the content up.
pub fn translate_y(image: &RgbImage, pixels: f64) -> RgbImage {
    affine_nearest(image, [1.0, 0.0, 0.0, 0.0, 1.0, pixels])
}

/// Rotates counter-clockwise by `degrees` about the image centre with
/// nearest-neighbour sampling, as PIL's `Image.rotate` does by default.
///
/// The published code rotates an RGBA copy, whose uncovered pixels are
/// transparent, and composites it over a gray image. Because nearest
/// sampling makes every alpha 0 or 255, that equals filling the uncovered
/// pixels with [`FILL`].
pub fn rotate(image: &RgbImage, degrees: f64) -> RgbImage {
    if degrees.rem_euclid(360.0) == 0.0 {
        return image.clone();
    }
    let angle = -degrees.to_radians();
    // PIL rounds the matrix to 15 decimals, so that 90 degrees gives an
    // exact cosine of 0.
    let cos = round_to_15_decimals(angle.cos());
    let sin = round_to_15_decimals(angle.sin());
    let centre_x = f64::from(image.width()) / 2.0;
    let centre_y = f64::from(image.height()) / 2.0;
    // The offsets move the centre to the origin, rotate, and move back, in
    // PIL's order of floating-point operations.
    let offset_x = cos * -centre_x + sin * -centre_y + centre_x;
    let offset_y = -sin * -centre_x + cos * -centre_y + centre_y;
    affine_nearest(image, [cos, sin, offset_x, -sin, cos, offset_y])
}

fn round_to_15_decimals(value: f64) -> f64 {
    (value * 1e15).round() / 1e15
}

/// Blends with the grayscale image (PIL's `ImageEnhance.Color`): factor 0
/// gives the grayscale image, 1 the original.
pub fn color(image: &RgbImage, factor: f64) -> RgbImage {
    let mut gray = image.clone();
    for pixel in gray.pixels_mut() {
        let luma = luma(pixel);
        *pixel = Rgb([luma; 3]);
    }
    blend(&gray, image, factor)
}

/// Blends with a uniform image of the rounded mean of the grayscale image
/// (PIL's `ImageEnhance.Contrast`): factor 0 gives that uniform gray.
pub fn contrast(image: &RgbImage, factor: f64) -> RgbImage {
    let sum: u64 = image.pixels().map(|p| u64::from(luma(p))).sum();
    let count = u64::from(image.width()) * u64::from(image.height());
    let mean = if count == 0 {
        0
    } else {
        // PIL computes `int(mean + 0.5)` in floating point.
        (sum as f64 / count as f64 + 0.5) as u8
    };
    let uniform = RgbImage::from_pixel(image.width(), image.height(), Rgb([mean; 3]));
    blend(&uniform, image, factor)
}

/// Blends with the image smoothed by PIL's `ImageFilter.SMOOTH`
/// (PIL's `ImageEnhance.Sharpness`): factor 0 gives the smoothed image.
pub fn sharpness(image: &RgbImage, factor: f64) -> RgbImage {
    blend(&smooth(image), image, factor)
}

/// Blends with black (PIL's `ImageEnhance.Brightness`): factor 0 gives a
/// black image.
pub fn brightness(image: &RgbImage, factor: f64) -> RgbImage {
    let black = RgbImage::new(image.width(), image.height());
    blend(&black, image, factor)
}

/// Keeps the `bits` most significant bits of every channel (PIL's
/// `ImageOps.posterize`), so 0 gives black. Panics if `bits` exceeds 8.
pub fn posterize(image: &RgbImage, bits: u8) -> RgbImage {
    assert!(bits <= 8, "posterize bits {bits} exceed 8");
    let mask = (0xFF00u16 >> bits) as u8;
    map_values(image, |v| v & mask)
}

/// Inverts every channel value at or above `threshold` (PIL's
/// `ImageOps.solarize`): 256 or more keeps the image, 0 inverts all of it.
pub fn solarize(image: &RgbImage, threshold: f64) -> RgbImage {
    map_values(
        image,
        |v| {
            if f64::from(v) < threshold {
                v
            } else {
                255 - v
            }
        },
    )
}

/// Stretches each channel linearly so that its lowest value becomes 0 and
/// its highest 255 (PIL's `ImageOps.autocontrast` with cutoff 0). A channel
/// with a single value is left unchanged.
///
/// PIL maps value `v` to `int(v * scale + offset)`, which gives the highest
/// value 254 instead of 255 for 4852 of the 32640 (low, high) pairs, because
/// the floating-point sum falls just short of 255. This function does the same.
pub fn autocontrast(image: &RgbImage) -> RgbImage {
    let histograms = channel_histograms(image);
    let tables = histograms.map(|histogram| autocontrast_table(&histogram));
    apply_tables(image, &tables)
}

fn autocontrast_table(histogram: &[u32; 256]) -> [u8; 256] {
    let low = histogram.iter().position(|&n| n > 0);
    let high = histogram.iter().rposition(|&n| n > 0);
    let mut table = identity_table();
    let (Some(low), Some(high)) = (low, high) else {
        return table;
    };
    if high <= low {
        return table;
    }
    let scale = 255.0 / (high - low) as f64;
    let offset = -(low as f64) * scale;
    for (value, entry) in table.iter_mut().enumerate() {
        // PIL truncates with `int()` and clamps to 0..=255.
        *entry = (value as f64 * scale + offset).trunc().clamp(0.0, 255.0) as u8;
    }
    table
}

/// Equalises the histogram of each channel (PIL's `ImageOps.equalize`).
///
/// For a channel whose non-empty histogram bins hold counts `n_1 .. n_k`
/// (k >= 2), `step = (n_1 + ... + n_{k-1}) / 255` rounded down. Value `i`
/// maps to `(step / 2 + pixels below i) / step`, clamped to 255. A channel
/// with one value, or with `step` 0 (fewer than 255 pixels outside its
/// highest value), is left unchanged.
pub fn equalize(image: &RgbImage) -> RgbImage {
    let histograms = channel_histograms(image);
    let tables = histograms.map(|histogram| equalize_table(&histogram));
    apply_tables(image, &tables)
}

fn equalize_table(histogram: &[u32; 256]) -> [u8; 256] {
    let mut table = identity_table();
    let nonzero: Vec<u64> = histogram
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| u64::from(n))
        .collect();
    // The count of the highest value present is left out of the step.
    let Some((_, rest)) = nonzero.split_last() else {
        return table;
    };
    if rest.is_empty() {
        return table;
    }
    let step = rest.iter().sum::<u64>() / 255;
    if step == 0 {
        return table;
    }
    let mut below = step / 2;
    for (entry, &count) in table.iter_mut().zip(histogram) {
        // The value can exceed 255 only for the highest value present and
        // above it, where there are no pixels. PIL's lookup clamps it.
        *entry = (below / step).min(255) as u8;
        below += u64::from(count);
    }
    table
}

/// Replaces every channel value `v` by `255 - v` (PIL's `ImageOps.invert`).
pub fn invert(image: &RgbImage) -> RgbImage {
    map_values(image, |v| 255 - v)
}

/// Returns the grayscale value of PIL's `convert("L")`: the luma
/// `(299 R + 587 G + 114 B) / 1000` in 16-bit fixed point with rounding.
/// For 9040 of the 2^24 colours it is one level off the rounded decimal
/// formula.
pub fn luma(pixel: &Rgb<u8>) -> u8 {
    let [r, g, b] = pixel.0.map(u32::from);
    ((r * 19_595 + g * 38_470 + b * 7_471 + 0x8000) >> 16) as u8
}

/// Computes PIL's `Image.blend(degenerate, image, factor)`:
/// `degenerate + factor * (image - degenerate)` in single precision,
/// clamped to 0..=255 and truncated.
fn blend(degenerate: &RgbImage, image: &RgbImage, factor: f64) -> RgbImage {
    // PIL passes the factor to its C code as a `float`.
    let alpha = factor as f32;
    let mut out = image.clone();
    for (value, &base) in out.iter_mut().zip(degenerate.iter()) {
        let difference = i32::from(*value) - i32::from(base);
        let blended = f32::from(base) + alpha * difference as f32;
        *value = blended.clamp(0.0, 255.0) as u8;
    }
    out
}

/// Applies PIL's `ImageFilter.SMOOTH`: the 3 x 3 kernel with weight 5 at
/// the centre and 1 around it, divided by 13 and rounded, on interior
/// pixels. Pixels of the first and last row and column are copied.
fn smooth(image: &RgbImage) -> RgbImage {
    let (width, height) = image.dimensions();
    let mut out = image.clone();
    if width < 3 || height < 3 {
        return out;
    }
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let mut sums = [0u32; 3];
            for dy in 0..3 {
                for dx in 0..3 {
                    let weight = if dx == 1 && dy == 1 { 5 } else { 1 };
                    let pixel = image.get_pixel(x + dx - 1, y + dy - 1);
                    for (sum, &value) in sums.iter_mut().zip(&pixel.0) {
                        *sum += weight * u32::from(value);
                    }
                }
            }
            // The sum over 13 is never exactly halfway between two
            // integers, so adding 6 before dividing rounds to nearest.
            out.put_pixel(x, y, Rgb(sums.map(|sum| ((sum + 6) / 13) as u8)));
        }
    }
    out
}

/// Maps an affine transform with nearest-neighbour sampling: output pixel
/// `(x, y)` takes the input pixel that contains position
/// `(a x' + b y' + c, d x' + e y' + f)` for the pixel centre `(x', y')`.
///
/// The positions are computed incrementally, pixel by pixel, in the
/// arithmetic that PIL uses for the case. A pure scale or translation uses
/// floating point. Other maps use 16.16 fixed point while the corners stay
/// within 32768 pixels, and floating point beyond. The choice matters
/// because rounding decides which pixel a position near a pixel edge picks.
fn affine_nearest(image: &RgbImage, coefficients: [f64; 6]) -> RgbImage {
    let [_, b, _, d, _, _] = coefficients;
    let (width, height) = image.dimensions();
    if (b != 0.0 || d != 0.0) && fits_fixed_point(&coefficients, width, height) {
        affine_nearest_fixed(image, coefficients)
    } else {
        affine_nearest_float(image, coefficients)
    }
}

/// Returns whether all four corners of the output map to positions within
/// 32768 pixels of the origin, PIL's condition for fixed-point arithmetic.
fn fits_fixed_point([a, b, c, d, e, f]: &[f64; 6], width: u32, height: u32) -> bool {
    let (w, h) = (f64::from(width), f64::from(height));
    [(0.0, 0.0), (w, h), (0.0, h), (w, 0.0)]
        .iter()
        .all(|&(x, y)| (x * a + y * b + c).abs() < 32768.0 && (x * d + y * e + f).abs() < 32768.0)
}

fn affine_nearest_float(image: &RgbImage, [a, b, c, d, e, f]: [f64; 6]) -> RgbImage {
    let (width, height) = image.dimensions();
    let mut out = RgbImage::from_pixel(width, height, FILL);
    let mut row_x = c + b * 0.5 + a * 0.5;
    let mut row_y = f + e * 0.5 + d * 0.5;
    for y in 0..height {
        let (mut source_x, mut source_y) = (row_x, row_y);
        for x in 0..width {
            if let (Some(sx), Some(sy)) =
                (pixel_index(source_x, width), pixel_index(source_y, height))
            {
                out.put_pixel(x, y, *image.get_pixel(sx, sy));
            }
            source_x += a;
            source_y += d;
        }
        row_x += b;
        row_y += e;
    }
    out
}

fn affine_nearest_fixed(image: &RgbImage, [a, b, c, d, e, f]: [f64; 6]) -> RgbImage {
    let to_fixed = |value: f64| (value * 65536.0 + 0.5).floor() as i64;
    let (step_x, row_step_x) = (to_fixed(a), to_fixed(b));
    let (step_y, row_step_y) = (to_fixed(d), to_fixed(e));
    let mut row_x = to_fixed(c + a * 0.5 + b * 0.5);
    let mut row_y = to_fixed(f + d * 0.5 + e * 0.5);
    let (width, height) = image.dimensions();
    let mut out = RgbImage::from_pixel(width, height, FILL);
    for y in 0..height {
        let (mut source_x, mut source_y) = (row_x, row_y);
        for x in 0..width {
            // The shift floors, so positions left of or above the image are negative.
            let sx = u32::try_from(source_x >> 16).ok().filter(|&sx| sx < width);
            let sy = u32::try_from(source_y >> 16).ok().filter(|&sy| sy < height);
            if let (Some(sx), Some(sy)) = (sx, sy) {
                out.put_pixel(x, y, *image.get_pixel(sx, sy));
            }
            source_x += step_x;
            source_y += step_y;
        }
        row_x += row_step_x;
        row_y += row_step_y;
    }
    out
}

/// Returns the index of the pixel that contains `position` along a side of
/// `len` pixels, or `None` outside the side.
fn pixel_index(position: f64, len: u32) -> Option<u32> {
    (position >= 0.0 && position < f64::from(len)).then_some(position as u32)
}

/// Maps an affine transform as [`affine_nearest`] does, but interpolates
/// the 4 x 4 input pixels around the position with PIL's bicubic kernel.
/// Neighbours beyond the border repeat the edge pixel.
fn affine_bicubic(image: &RgbImage, [a, b, c, d, e, f]: [f64; 6]) -> RgbImage {
    let (width, height) = image.dimensions();
    let mut out = RgbImage::from_pixel(width, height, FILL);
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let (cx, cy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let source_x = a * cx + b * cy + c;
        let source_y = d * cx + e * cy + f;
        if pixel_index(source_x, width).is_none() || pixel_index(source_y, height).is_none() {
            continue;
        }
        *pixel = bicubic_sample(image, source_x - 0.5, source_y - 0.5);
    }
    out
}

/// Interpolates `image` at `(x, y)` in pixel-index coordinates (pixel `i`
/// sits at `i`), rows first, then the four row values.
fn bicubic_sample(image: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let (x0, y0) = (x.floor(), y.floor());
    let (dx, dy) = (x - x0, y - y0);
    let column = |k: i64| clamp_index(x0 as i64 + k, image.width());
    let row = |k: i64| clamp_index(y0 as i64 + k, image.height());
    let columns = [column(-1), column(0), column(1), column(2)];
    let rows = [row(-1), row(0), row(1), row(2)];
    let mut out = [0u8; 3];
    for (channel, value) in out.iter_mut().enumerate() {
        let row_values = rows.map(|ry| {
            let samples = columns.map(|cx| f64::from(image.get_pixel(cx, ry)[channel]));
            cubic(samples, dx)
        });
        let interpolated = cubic(row_values, dy);
        // PIL clamps and truncates the interpolated value.
        *value = interpolated.clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

fn clamp_index(index: i64, len: u32) -> u32 {
    index.clamp(0, i64::from(len) - 1) as u32
}

/// Evaluates PIL's cubic convolution (Keys' kernel with a = -1) between
/// `v[1]` (at 0) and `v[2]` (at 1) at fraction `t`.
fn cubic(v: [f64; 4], t: f64) -> f64 {
    let c1 = v[2] - v[0];
    let c2 = 2.0 * (v[0] - v[1]) + v[2] - v[3];
    let c3 = -v[0] + v[1] - v[2] + v[3];
    v[1] + t * (c1 + t * (c2 + t * c3))
}

fn channel_histograms(image: &RgbImage) -> [[u32; 256]; 3] {
    let mut histograms = [[0u32; 256]; 3];
    for pixel in image.pixels() {
        for (histogram, &value) in histograms.iter_mut().zip(&pixel.0) {
            histogram[usize::from(value)] += 1;
        }
    }
    histograms
}

fn identity_table() -> [u8; 256] {
    std::array::from_fn(|i| i as u8)
}

fn apply_tables(image: &RgbImage, tables: &[[u8; 256]; 3]) -> RgbImage {
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        for (value, table) in pixel.0.iter_mut().zip(tables) {
            *value = table[usize::from(*value)];
        }
    }
    out
}

fn map_values(image: &RgbImage, map: impl Fn(u8) -> u8) -> RgbImage {
    let table: [u8; 256] = std::array::from_fn(|i| map(i as u8));
    apply_tables(image, &[table; 3])
}

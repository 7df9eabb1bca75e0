//! AutoAugment on real CIFAR-10 and ImageNet images: every operation
//! against expectations computed here from its definition, the magnitude
//! scale, both policy tables, the seeded draws, and both training
//! transforms with AutoAugment on.

mod common;

use ::image::imageops;
use ::image::Rgb;
use data::augment::{self, Augment, AugmentParams};
use data::autoaugment::ops::{self, FILL};
use data::autoaugment::policy::{MAX_TRANSLATE_FRACTION, POSTERIZE_BITS};
use data::autoaugment::{
    AppliedStep, AutoAugment, AutoAugmentParams, Operation, Policy, CIFAR10_POLICY,
    IMAGENET_POLICY, MAGNITUDE_LEVELS,
};
use data::image::{load_rgb, RgbImage};
use data::imagenet::TrainTransform;
use data::{Normalization, TrainBatches};
use rand::rngs::StdRng;
use rand::SeedableRng;

use common::{binary_test, imagenet_photo, test_jpeg};

const GRAY: [u8; 3] = [128, 128, 128];

/// Loads the first ship of the CIFAR-10 test JPEGs, 32 x 32.
fn ship() -> RgbImage {
    load_rgb(&test_jpeg("ship", 0)).unwrap()
}

/// Returns an 8 x 8 crop from the middle of [`ship`].
fn crop() -> RgbImage {
    imageops::crop_imm(&ship(), 12, 12, 8, 8).to_image()
}

fn pixel(image: &RgbImage, x: u32, y: u32) -> [u8; 3] {
    image.get_pixel(x, y).0
}

/// Applies `expected` to every channel value of `image`.
fn map_values(image: &RgbImage, expected: impl Fn(u8) -> u8) -> RgbImage {
    let mut out = image.clone();
    out.iter_mut().for_each(|v| *v = expected(*v));
    out
}

// Lookup-table operations.

#[test]
fn invert_subtracts_from_255() {
    let image = crop();
    assert!(ops::invert(&image) == map_values(&image, |v| 255 - v));
}

#[test]
fn solarize_inverts_from_threshold() {
    let image = crop();
    let expected = map_values(&image, |v| if v < 128 { v } else { 255 - v });
    assert!(ops::solarize(&image, 128.0) == expected);
    // A fractional threshold keeps every value below it: 113.78 keeps 113.
    let expected = map_values(&image, |v| if v <= 113 { v } else { 255 - v });
    assert!(ops::solarize(&image, 113.78) == expected);
    assert!(ops::solarize(&image, 256.0) == image, "256 must keep all");
    assert!(ops::solarize(&image, 0.0) == ops::invert(&image));
}

#[test]
fn posterize_masks_low_bits() {
    let image = crop();
    assert!(ops::posterize(&image, 4) == map_values(&image, |v| v & 0b1111_0000));
    assert!(ops::posterize(&image, 1) == map_values(&image, |v| v & 0b1000_0000));
    assert!(ops::posterize(&image, 8) == image, "8 bits must keep all");
    assert!(
        ops::posterize(&image, 0) == RgbImage::new(8, 8),
        "0 bits give black"
    );
}

#[test]
fn autocontrast_stretches_each_channel() {
    let image = crop();
    let out = ops::autocontrast(&image);
    for channel in 0..3 {
        let values: Vec<u8> = image.pixels().map(|p| p[channel]).collect();
        let low = *values.iter().min().unwrap();
        let high = *values.iter().max().unwrap();
        assert!(high > low, "channel {channel} is flat, pick another crop");
        // PIL: scale = 255 / (high - low), offset = -low * scale, and
        // `int(v * scale + offset)` clamped to 0..=255.
        let scale = 255.0 / f64::from(high - low);
        let offset = -f64::from(low) * scale;
        for (k, (p, q)) in image.pixels().zip(out.pixels()).enumerate() {
            let expected = (f64::from(p[channel]) * scale + offset).clamp(0.0, 255.0) as u8;
            assert_eq!(q[channel], expected, "pixel {k} channel {channel}");
        }
        let stretched: Vec<u8> = out.pixels().map(|p| p[channel]).collect();
        assert_eq!(*stretched.iter().min().unwrap(), 0, "channel {channel}");
        assert!(*stretched.iter().max().unwrap() >= 254, "channel {channel}");
    }
}

#[test]
fn autocontrast_keeps_flat_channel() {
    let flat = RgbImage::from_pixel(4, 4, Rgb([7, 7, 7]));
    assert!(ops::autocontrast(&flat) == flat);
}

#[test]
fn equalize_matches_lookup_table() {
    let image = ship();
    let out = ops::equalize(&image);
    for channel in 0..3 {
        let mut histogram = [0u64; 256];
        for p in image.pixels() {
            histogram[usize::from(p[channel])] += 1;
        }
        // PIL: step is the pixel count outside the highest value present,
        // over 255 and rounded down. Value i maps to
        // (step / 2 + pixels below i) / step.
        let highest = histogram.iter().rposition(|&n| n > 0).unwrap();
        let step = (1024 - histogram[highest]) / 255;
        assert!(
            step > 0,
            "channel {channel}: step 0 leaves the image unchanged"
        );
        let mut table = [0u8; 256];
        let mut below = step / 2;
        for (entry, &count) in table.iter_mut().zip(&histogram) {
            *entry = (below / step).min(255) as u8;
            below += count;
        }
        for (k, (p, q)) in image.pixels().zip(out.pixels()).enumerate() {
            let expected = table[usize::from(p[channel])];
            assert_eq!(q[channel], expected, "pixel {k} channel {channel}");
        }
    }
}

#[test]
fn equalize_keeps_small_image() {
    // 64 pixels are fewer than the 255 that a step of 1 needs.
    let image = crop();
    assert!(ops::equalize(&image) == image);
}

#[test]
fn equalize_clamps_table_to_255() {
    // 509 pixels below value 200 give step (1024 - 515) / 255 = 1, so value
    // 200 maps to 509, which PIL clamps to 255. Value 0 (6 pixels) maps to
    // 0 and value 1 to 6.
    let values: Vec<u8> = (0..509)
        .map(|i| (i % 101) as u8)
        .chain(std::iter::repeat_n(200, 515))
        .collect();
    let raw: Vec<u8> = values.iter().flat_map(|&v| [v; 3]).collect();
    let image = RgbImage::from_raw(32, 32, raw).unwrap();
    let out = ops::equalize(&image);
    assert_eq!(pixel(&out, 31, 31), [255; 3]);
    assert_eq!(pixel(&out, 0, 0), [0; 3]);
    assert_eq!(pixel(&out, 1, 0), [6; 3]);
}

// Geometric operations.

#[test]
fn translate_one_pixel_shows_gray_edge() {
    let image = crop();
    let left = ops::translate_x(&image, 1.0);
    let right = ops::translate_x(&image, -1.0);
    let up = ops::translate_y(&image, 1.0);
    let down = ops::translate_y(&image, -1.0);
    for y in 0..8 {
        for x in 0..8 {
            let shifted_left = if x < 7 { pixel(&image, x + 1, y) } else { GRAY };
            assert_eq!(pixel(&left, x, y), shifted_left, "+x at ({x}, {y})");
            let shifted_right = if x > 0 { pixel(&image, x - 1, y) } else { GRAY };
            assert_eq!(pixel(&right, x, y), shifted_right, "-x at ({x}, {y})");
            let shifted_up = if y < 7 { pixel(&image, x, y + 1) } else { GRAY };
            assert_eq!(pixel(&up, x, y), shifted_up, "+y at ({x}, {y})");
            let shifted_down = if y > 0 { pixel(&image, x, y - 1) } else { GRAY };
            assert_eq!(pixel(&down, x, y), shifted_down, "-y at ({x}, {y})");
        }
    }
    assert!(ops::translate_x(&image, 0.0) == image);
}

#[test]
fn translate_rounds_half_pixel_up() {
    // The centre x + 0.5 moves to x + 1.0, the left edge of pixel x + 1.
    let image = crop();
    let out = ops::translate_x(&image, 0.5);
    assert!(out == ops::translate_x(&image, 1.0));
}

#[test]
fn shear_zero_is_identity() {
    let image = crop();
    assert!(ops::shear_x(&image, 0.0) == image);
    assert!(ops::shear_y(&image, 0.0) == image);
}

#[test]
fn shear_moves_known_pixels() {
    let image = crop();
    // Row 2 has centre y = 2.5, so shear 0.4 moves it by exactly one pixel
    // and bicubic interpolation at a whole pixel returns that pixel.
    let sheared_x = ops::shear_x(&image, 0.4);
    let sheared_y = ops::shear_y(&image, 0.4);
    for k in 0..8 {
        let along_x = if k < 7 { pixel(&image, k + 1, 2) } else { GRAY };
        assert_eq!(pixel(&sheared_x, k, 2), along_x, "x shear at ({k}, 2)");
        let along_y = if k < 7 { pixel(&image, 2, k + 1) } else { GRAY };
        assert_eq!(pixel(&sheared_y, 2, k), along_y, "y shear at (2, {k})");
    }
}

#[test]
fn shear_interpolates_bicubic() {
    let image = crop();
    let out = ops::shear_x(&image, 0.2);
    // Pixel (3, 0) samples x = 3.5 + 0.2 * 0.5 = 3.6, which is 0.1 past
    // the centre of pixel 3 on row 0. PIL's cubic kernel (a = -1) weighs
    // pixels 2..=5 by -0.081, 0.981, 0.109 and -0.009 there, and the result
    // is clamped and truncated.
    let weights = [-0.081, 0.981, 0.109, -0.009];
    for channel in 0..3 {
        let value: f64 = (2..6)
            .zip(weights)
            .map(|(x, w)| w * f64::from(image.get_pixel(x, 0)[channel]))
            .sum();
        let fraction = value.fract();
        assert!(
            fraction > 1e-6 && fraction < 1.0 - 1e-6,
            "channel {channel}: {value} is too close to an integer for this check"
        );
        let expected = value.clamp(0.0, 255.0) as u8;
        assert_eq!(out.get_pixel(3, 0)[channel], expected, "channel {channel}");
    }
}

#[test]
fn rotate_zero_is_identity() {
    let image = crop();
    assert!(ops::rotate(&image, 0.0) == image);
}

#[test]
fn rotate_90_turns_counter_clockwise() {
    let image = crop();
    let out = ops::rotate(&image, 90.0);
    for y in 0..8 {
        for x in 0..8 {
            assert_eq!(pixel(&out, x, y), pixel(&image, 7 - y, x), "({x}, {y})");
        }
    }
}

#[test]
fn rotate_30_moves_known_pixels() {
    let image = crop();
    let out = ops::rotate(&image, 30.0);
    // Output (6, 1) lies (2.5, -2.5) from the centre (4, 4). Rotated back it
    // samples (4 + 2.5 cos 30 + 2.5 sin 30, 4 + 2.5 sin 30 - 2.5 cos 30) =
    // (7.42, 3.08), input pixel (7, 3).
    assert_eq!(pixel(&out, 6, 1), pixel(&image, 7, 3));
    // Output (1, 6) samples (0.58, 4.92), input pixel (0, 4).
    assert_eq!(pixel(&out, 1, 6), pixel(&image, 0, 4));
    // The corners sample 0.78 pixels outside the image.
    for (x, y) in [(0, 0), (7, 0), (0, 7), (7, 7)] {
        assert_eq!(pixel(&out, x, y), GRAY, "corner ({x}, {y})");
    }
}

// Enhancements.

fn luma(p: [u8; 3]) -> u8 {
    let [r, g, b] = p.map(u32::from);
    // PIL's `convert("L")`: (299 R + 587 G + 114 B) / 1000 in 16-bit fixed
    // point, rounded.
    ((19_595 * r + 38_470 * g + 7_471 * b + 32_768) >> 16) as u8
}

#[test]
fn enhance_factor_one_is_identity() {
    let image = crop();
    assert!(ops::color(&image, 1.0) == image);
    assert!(ops::contrast(&image, 1.0) == image);
    assert!(ops::sharpness(&image, 1.0) == image);
    assert!(ops::brightness(&image, 1.0) == image);
}

#[test]
fn color_zero_gives_grayscale() {
    let image = crop();
    let out = ops::color(&image, 0.0);
    for (x, y, p) in image.enumerate_pixels() {
        let gray = luma(p.0);
        let [r, g, b] = p.0.map(u32::from);
        let decimal = (299 * r + 587 * g + 114 * b) as f64 / 1000.0;
        assert!(
            (f64::from(gray) - decimal).abs() <= 0.5 + 1e-3,
            "({x}, {y})"
        );
        assert_eq!(pixel(&out, x, y), [gray; 3], "({x}, {y})");
    }
}

#[test]
fn contrast_zero_gives_mean_gray() {
    let image = crop();
    let sum: u32 = image.pixels().map(|p| u32::from(luma(p.0))).sum();
    // int(mean + 0.5) over the 64 pixels.
    let mean = ((sum + 32) / 64) as u8;
    let out = ops::contrast(&image, 0.0);
    assert!(out == RgbImage::from_pixel(8, 8, Rgb([mean; 3])));
}

#[test]
fn brightness_scales_and_clamps() {
    let image = crop();
    assert!(ops::brightness(&image, 0.0) == RgbImage::new(8, 8));
    let brighter = map_values(&image, |v| (f32::from(v) * 1.5).min(255.0) as u8);
    assert!(ops::brightness(&image, 1.5) == brighter);
}

#[test]
fn sharpness_zero_gives_smoothed() {
    let image = crop();
    let out = ops::sharpness(&image, 0.0);
    for (x, y, p) in out.enumerate_pixels() {
        let border = x == 0 || y == 0 || x == 7 || y == 7;
        if border {
            assert_eq!(p.0, pixel(&image, x, y), "border ({x}, {y})");
            continue;
        }
        for channel in 0..3 {
            // PIL's SMOOTH: weight 5 at the centre and 1 on the 8
            // neighbours, divided by 13 and rounded.
            let mut sum = 4 * u32::from(image.get_pixel(x, y)[channel]);
            for ny in y - 1..=y + 1 {
                for nx in x - 1..=x + 1 {
                    sum += u32::from(image.get_pixel(nx, ny)[channel]);
                }
            }
            let expected = (f64::from(sum) / 13.0).round() as u8;
            assert_eq!(p[channel], expected, "({x}, {y}) channel {channel}");
        }
    }
}

#[test]
fn enhance_blend_truncates() {
    let image = crop();
    // Factor 0.5 between black and the image: v / 2 rounded down.
    assert!(ops::brightness(&image, 0.5) == map_values(&image, |v| v / 2));
}

// Agreement with Pillow.

/// Hashes of Pillow 13.0.0's output for each operation, computed in Python
/// with the published code's calls on the images of [`pillow_inputs`], at
/// every level, positive sign before negative where the operation takes a
/// sign. Rotate uses the published RGBA composite over gray.
const PILLOW_HASHES: [(Operation, u64); 14] = [
    (Operation::ShearX, 0x3324_7da8_c34d_bbf6),
    (Operation::ShearY, 0x2351_304e_4d92_9648),
    (Operation::TranslateX, 0x560a_a82e_5fec_9eca),
    (Operation::TranslateY, 0x85ed_8998_2e9f_6a28),
    (Operation::Rotate, 0xf7e6_50d8_a366_3d91),
    (Operation::Color, 0xeae5_c3dd_5dff_bde1),
    (Operation::Posterize, 0x6b94_7ff1_077c_9879),
    (Operation::Solarize, 0x600d_c628_c9db_580d),
    (Operation::Contrast, 0x7482_83ef_a0d9_8d8f),
    (Operation::Sharpness, 0x1aac_4286_4e55_ae62),
    (Operation::Brightness, 0x3307_f815_3d39_3fdb),
    (Operation::AutoContrast, 0xa100_84a9_886b_3f45),
    (Operation::Equalize, 0x2140_ee42_6d3d_2249),
    (Operation::Invert, 0xe76b_57b1_a52b_8439),
];

/// Returns the first 20 images of the CIFAR-10 binary test batch, then a
/// 224 x 224 grid of its first 49 images (7 x 7, row by row).
fn pillow_inputs() -> Vec<RgbImage> {
    let cifar = |i: usize| RgbImage::from_raw(32, 32, binary_test().image(i).to_vec()).unwrap();
    let mut grid = RgbImage::new(224, 224);
    for i in 0..49 {
        let (x, y) = ((i % 7) * 32, (i / 7) * 32);
        imageops::replace(&mut grid, &cifar(i), x as i64, y as i64);
    }
    (0..20).map(cifar).chain([grid]).collect()
}

#[test]
fn operations_match_pillow_output() {
    let inputs = pillow_inputs();
    for (operation, expected) in PILLOW_HASHES {
        let signs: &[bool] = if operation.takes_sign() {
            &[false, true]
        } else {
            &[false]
        };
        let mut bytes = Vec::new();
        for image in &inputs {
            for level in 0..MAGNITUDE_LEVELS {
                for &negative in signs {
                    bytes.extend(operation.apply(image, level, negative).into_raw());
                }
            }
        }
        let hash = common::fnv1a(bytes);
        assert_eq!(hash, expected, "{operation:?}: {hash:#018x}");
    }
}

// Magnitudes and policy tables.

#[test]
fn magnitude_scale_matches_linspace() {
    let levels = 0..MAGNITUDE_LEVELS;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    for level in levels {
        let fraction = f64::from(level) / 9.0;
        let shear = Operation::ShearX.magnitude(level);
        assert!(close(shear, 0.3 * fraction), "shear {level}: {shear}");
        let translate = Operation::TranslateY.magnitude(level);
        assert!(close(translate, 150.0 / 331.0 * fraction), "{translate}");
        let rotate = Operation::Rotate.magnitude(level);
        assert!(close(rotate, 30.0 * fraction), "rotate {level}: {rotate}");
        let sharpness = Operation::Sharpness.magnitude(level);
        assert!(close(sharpness, 0.9 * fraction), "{sharpness}");
        assert_eq!(Operation::Equalize.magnitude(level), 0.0);
        assert_eq!(Operation::Cutout.magnitude(level), 0.0);
    }

    let thresholds: Vec<f64> = (0..MAGNITUDE_LEVELS)
        .map(|level| Operation::Solarize.magnitude(level))
        .collect();
    let listed = [
        256.0, 227.56, 199.11, 170.67, 142.22, 113.78, 85.33, 56.89, 28.44, 0.0,
    ];
    for (threshold, expected) in thresholds.iter().zip(listed) {
        assert!((threshold - expected).abs() < 0.005, "{thresholds:?}");
    }
    assert_eq!(thresholds[0], 256.0);
    assert_eq!(thresholds[9], 0.0);

    let bits: Vec<f64> = (0..MAGNITUDE_LEVELS)
        .map(|level| Operation::Posterize.magnitude(level))
        .collect();
    assert_eq!(bits, [8.0, 8.0, 7.0, 7.0, 6.0, 6.0, 5.0, 5.0, 4.0, 4.0]);
    assert_eq!(POSTERIZE_BITS, [8, 8, 7, 7, 6, 6, 5, 5, 4, 4]);

    // The largest values are numpy's endpoints exactly.
    assert_eq!(Operation::ShearY.magnitude(9), 0.3);
    assert_eq!(Operation::TranslateX.magnitude(9), MAX_TRANSLATE_FRACTION);
    assert_eq!(Operation::Color.magnitude(9), 0.9);
}

#[test]
fn translate_magnitude_scales_with_side() {
    // Level 9 on a 32-pixel side: 150 / 331 * 32 = 14.50 pixels, which the
    // nearest sampling rounds to a shift of 15 (centre x + 0.5 + 14.50).
    let image = ship();
    let out = Operation::TranslateX.apply(&image, 9, false);
    let shift: f64 = 150.0 / 331.0 * 32.0;
    assert!((shift - 14.5015).abs() < 1e-4, "{shift}");
    for x in 0..32 {
        let expected = if x + 15 < 32 {
            pixel(&image, x + 15, 5)
        } else {
            GRAY
        };
        assert_eq!(pixel(&out, x, 5), expected, "x {x}");
    }
    let back = Operation::TranslateX.apply(&image, 9, true);
    // Centre x + 0.5 - 14.5015 = x - 14.0015 lies in pixel x - 15, and
    // outside the image for x < 15.
    for x in 0..32 {
        let expected = if x >= 15 {
            pixel(&image, x - 15, 5)
        } else {
            GRAY
        };
        assert_eq!(pixel(&back, x, 5), expected, "x {x}");
    }
}

#[test]
#[should_panic(expected = "magnitude level 10")]
fn magnitude_rejects_level_10() {
    Operation::Rotate.magnitude(10);
}

#[test]
fn random_sign_operations() {
    let signed = [
        Operation::ShearX,
        Operation::ShearY,
        Operation::TranslateX,
        Operation::TranslateY,
        Operation::Color,
        Operation::Contrast,
        Operation::Sharpness,
        Operation::Brightness,
    ];
    let unsigned = [
        Operation::Rotate,
        Operation::Posterize,
        Operation::Solarize,
        Operation::AutoContrast,
        Operation::Equalize,
        Operation::Invert,
        Operation::Cutout,
    ];
    for op in signed {
        assert!(op.takes_sign(), "{op:?}");
    }
    for op in unsigned {
        assert!(!op.takes_sign(), "{op:?}");
    }
    // Rotate ignores a negative sign: it always turns counter-clockwise.
    let image = ship();
    assert!(Operation::Rotate.apply(&image, 5, true) == Operation::Rotate.apply(&image, 5, false));
    assert!(Operation::Cutout.apply(&image, 4, false) == image);
}

/// Formats a sub-policy as `p1 operation1 m1 | p2 operation2 m2`.
fn row(policy: &[data::autoaugment::SubPolicy], index: usize) -> String {
    let [a, b] = policy[index].steps();
    format!(
        "{} {:?} {} | {} {:?} {}",
        a.probability, a.operation, a.magnitude, b.probability, b.operation, b.magnitude
    )
}

#[test]
fn policy_tables_match_published() {
    assert_eq!(CIFAR10_POLICY.len(), 95);
    assert_eq!(IMAGENET_POLICY.len(), 24);
    assert_eq!(Policy::Cifar10.sub_policies().len(), 95);
    assert_eq!(Policy::ImageNet.sub_policies().len(), 24);

    let cifar = [
        (0, "0.1 Invert 7 | 0.2 Contrast 6"),
        (1, "0.7 Rotate 2 | 0.3 TranslateX 9"),
        (20, "0.2 ShearY 7 | 0.3 Posterize 7"),
        (47, "0.9 Brightness 3 | 0.4 AutoContrast 1"),
        (48, "0.8 Equalize 8 | 0.7 Equalize 7"),
        (61, "0.2 Cutout 4 | 0.1 Equalize 1"),
        (82, "0 ShearX 3 | 0 Posterize 3"),
        (94, "0.6 Equalize 9 | 0.4 Equalize 4"),
    ];
    for (index, expected) in cifar {
        assert_eq!(
            row(&CIFAR10_POLICY, index),
            expected,
            "CIFAR-10 row {index}"
        );
    }
    let imagenet = [
        (0, "0.4 Posterize 8 | 0.6 Rotate 9"),
        (7, "0.8 Posterize 5 | 1 Equalize 2"),
        (18, "0.6 ShearX 5 | 1 Equalize 9"),
        (19, "0.4 Color 0 | 0.6 Equalize 3"),
    ];
    for (index, expected) in imagenet {
        assert_eq!(
            row(&IMAGENET_POLICY, index),
            expected,
            "ImageNet row {index}"
        );
    }
    // The last four ImageNet rows repeat rows 4, 1, 13 and 14.
    for (repeat, original) in [(20, 4), (21, 1), (22, 13), (23, 14)] {
        assert_eq!(IMAGENET_POLICY[repeat], IMAGENET_POLICY[original]);
    }
    for step in CIFAR10_POLICY
        .iter()
        .chain(&IMAGENET_POLICY)
        .flat_map(|s| s.steps())
    {
        assert!(step.magnitude < MAGNITUDE_LEVELS, "{step:?}");
        assert!((0.0..=1.0).contains(&step.probability), "{step:?}");
    }
}

// Seeded draws.

#[test]
fn draws_reproducible_for_seed() {
    let image = ship();
    for policy in [AutoAugment::CIFAR10, AutoAugment::IMAGENET] {
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..50).map(|_| policy.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3), "{policy:?}");
        assert_ne!(draw(3), draw(4), "{policy:?}");
        let first = policy.apply(&image, &mut StdRng::seed_from_u64(8));
        let again = policy.apply(&image, &mut StdRng::seed_from_u64(8));
        assert!(first == again, "{policy:?}: same seed, different pixels");
    }
}

#[test]
fn sample_covers_every_sub_policy() {
    for policy in [AutoAugment::CIFAR10, AutoAugment::IMAGENET] {
        let count = policy.policy.sub_policies().len();
        let mut hits = vec![0usize; count];
        let mut rng = StdRng::seed_from_u64(21);
        for _ in 0..count * 200 {
            hits[policy.sample(&mut rng).sub_policy] += 1;
        }
        // 200 are expected per index, and 120..=280 spans more than 5
        // standard deviations.
        for (index, &n) in hits.iter().enumerate() {
            assert!((120..=280).contains(&n), "{policy:?} index {index}: {n}");
        }
    }
}

#[test]
fn steps_follow_probabilities() {
    let mut rng = StdRng::seed_from_u64(5);
    let draws = 10_000;
    // CIFAR-10 row 1: 0.7 rotate, 0.3 translateX.
    let mut applied = [0usize; 2];
    let mut negative_translate = 0;
    for _ in 0..draws {
        let steps = CIFAR10_POLICY[1].sample(&mut rng);
        for (count, step) in applied.iter_mut().zip(&steps) {
            *count += usize::from(step.is_some());
        }
        if let Some(rotate) = steps[0] {
            assert!(!rotate.negative, "rotate drew a sign");
        }
        if let Some(translate) = steps[1] {
            negative_translate += usize::from(translate.negative);
        }
    }
    assert!((6800..=7200).contains(&applied[0]), "{applied:?}");
    assert!((2800..=3200).contains(&applied[1]), "{applied:?}");
    let half = applied[1] / 2;
    assert!(
        negative_translate.abs_diff(half) < 200,
        "{negative_translate}"
    );

    // CIFAR-10 row 10 never applies its second step (probability 0), and
    // ImageNet row 13 always applies its second step (probability 1).
    for _ in 0..1000 {
        assert!(CIFAR10_POLICY[10].sample(&mut rng)[1].is_none());
        let equalize = IMAGENET_POLICY[13].sample(&mut rng)[1];
        assert_eq!(
            equalize,
            Some(AppliedStep {
                operation: Operation::Equalize,
                magnitude: 8,
                negative: false
            })
        );
    }
}

#[test]
fn params_apply_steps_in_order() {
    let image = ship();
    let params = AutoAugmentParams {
        sub_policy: 0,
        steps: [
            Some(AppliedStep {
                operation: Operation::Invert,
                magnitude: 7,
                negative: false,
            }),
            Some(AppliedStep {
                operation: Operation::Solarize,
                magnitude: 5,
                negative: false,
            }),
        ],
    };
    let expected = ops::solarize(&ops::invert(&image), Operation::Solarize.magnitude(5));
    assert!(params.apply(&image) == expected);
    let skipped = AutoAugmentParams {
        sub_policy: 0,
        steps: [None, None],
    };
    assert!(skipped.apply(&image) == image);
}

// Training transforms.

const CIFAR: Normalization = Normalization::CIFAR10;

#[test]
fn cifar_transform_pads_gray() {
    let hwc = binary_test().image(3);
    let image = RgbImage::from_raw(32, 32, hwc.to_vec()).unwrap();
    let table = CIFAR.lookup_table();
    let params = AugmentParams {
        crop_y: 0,
        crop_x: 0,
        crop_pad: 4,
        flip: false,
        cutout: None,
        autoaugment: Some(AutoAugmentParams {
            sub_policy: 0,
            steps: [None, None],
        }),
    };
    let mut out = vec![f32::NAN; 3 * 32 * 32];
    augment::apply(hwc, 32, 32, &params, &table, &mut out);
    for c in 0..3 {
        for y in 0..32u32 {
            for x in 0..32u32 {
                let value = out[c * 1024 + (y * 32 + x) as usize];
                let source = if x < 4 || y < 4 {
                    FILL[c]
                } else {
                    image.get_pixel(x - 4, y - 4)[c]
                };
                assert_eq!(
                    value,
                    table[c][usize::from(source)],
                    "({x}, {y}) channel {c}"
                );
            }
        }
    }
}

#[test]
fn cifar_transform_applies_policy_before_normalization() {
    let hwc = binary_test().image(9);
    let image = RgbImage::from_raw(32, 32, hwc.to_vec()).unwrap();
    let table = CIFAR.lookup_table();
    let steps = [
        Some(AppliedStep {
            operation: Operation::Equalize,
            magnitude: 0,
            negative: false,
        }),
        None,
    ];
    let params = AugmentParams {
        crop_y: 4,
        crop_x: 4,
        crop_pad: 4,
        flip: true,
        cutout: Some((30, 2, 16)),
        autoaugment: Some(AutoAugmentParams {
            sub_policy: 48,
            steps,
        }),
    };
    let mut out = vec![f32::NAN; 3 * 32 * 32];
    augment::apply(hwc, 32, 32, &params, &table, &mut out);

    let expected_image = ops::equalize(&imageops::flip_horizontal(&image));
    let mut expected = vec![0.0; 3 * 32 * 32];
    data::transform::normalize_chw_into(expected_image.as_raw(), &table, &mut expected);
    augment::cutout(&mut expected, 32, 32, 30, 2, 16);
    assert_eq!(out, expected);
}

#[test]
fn cifar_sample_keeps_crop_draws() {
    // AutoAugment draws come after the crop and flip, so those match the
    // transform without AutoAugment for the same seed.
    let plain = Augment::cifar(Some(16));
    let with_policy = Augment {
        autoaugment: Some(AutoAugment::CIFAR10),
        ..plain
    };
    for seed in 0..50 {
        let a = plain.sample(32, 32, &mut StdRng::seed_from_u64(seed));
        let b = with_policy.sample(32, 32, &mut StdRng::seed_from_u64(seed));
        assert_eq!((a.crop_y, a.crop_x, a.flip), (b.crop_y, b.crop_x, b.flip));
        assert!(a.autoaugment.is_none());
        assert!(b.autoaugment.is_some());
    }
}

#[test]
fn cifar_batches_with_policy_reproducible() {
    let dataset = binary_test().select(&(0..200).collect::<Vec<_>>());
    let augment = Augment {
        autoaugment: Some(AutoAugment::CIFAR10),
        ..Augment::cifar(Some(16))
    };
    let run = |augment| -> Vec<_> {
        TrainBatches::new(&dataset, 50, 7, 1, augment, CIFAR)
            .unwrap()
            .collect()
    };
    let first = run(augment);
    assert_eq!(first, run(augment));
    let plain = run(Augment::cifar(Some(16)));
    assert_eq!(first[0].indices, plain[0].indices, "the order changed");
    assert_ne!(
        first[0].images, plain[0].images,
        "AutoAugment changed nothing"
    );
}

#[test]
fn imagenet_transform_applies_policy_last() {
    let image = load_rgb(&imagenet_photo("n01443537")).unwrap();
    let plain = TrainTransform::new(224).unwrap();
    let transform = TrainTransform {
        autoaugment: Some(AutoAugment::IMAGENET),
        ..plain
    };
    for seed in 0..20 {
        let params = transform.sample(
            image.width(),
            image.height(),
            &mut StdRng::seed_from_u64(seed),
        );
        let plain_params = plain.sample(
            image.width(),
            image.height(),
            &mut StdRng::seed_from_u64(seed),
        );
        assert_eq!(
            (params.crop, params.flip),
            (plain_params.crop, plain_params.flip)
        );
        let policy = params.autoaugment.expect("AutoAugment enabled");
        let out = transform.apply_params(&image, &params);
        assert_eq!(out.dimensions(), (224, 224));
        let expected = policy.apply(&plain.apply_params(&image, &plain_params));
        assert!(out == expected, "seed {seed}");
    }
    let first = transform.apply(&image, &mut StdRng::seed_from_u64(2));
    let again = transform.apply(&image, &mut StdRng::seed_from_u64(2));
    assert!(first == again, "same seed, different pixels");
}

/// Measures the single-thread rate of the CIFAR training transform with and
/// without AutoAugment. Run with `--ignored --nocapture`.
#[test]
#[ignore]
fn cifar_transform_rate() {
    let dataset = binary_test();
    let table = CIFAR.lookup_table();
    let mut out = vec![0.0f32; 3 * 32 * 32];
    for (name, augment) in [
        ("without AutoAugment", Augment::cifar(Some(16))),
        (
            "with AutoAugment",
            Augment {
                autoaugment: Some(AutoAugment::CIFAR10),
                ..Augment::cifar(Some(16))
            },
        ),
    ] {
        let mut rng = StdRng::seed_from_u64(0);
        let rounds = 5;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            for i in 0..dataset.len() {
                let params = augment.sample(32, 32, &mut rng);
                augment::apply(dataset.image(i), 32, 32, &params, &table, &mut out);
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let images = rounds * dataset.len();
        println!(
            "{name}: {:.0} images/s ({images} images in {seconds:.2} s)",
            images as f64 / seconds
        );
    }
}

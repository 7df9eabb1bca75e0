mod common;

use std::fs;
use std::path::Path;

use data::image::{decode_rgb, load_rgb, resize_rgb, RgbImage};
use data::DataError;
use image::{GrayAlphaImage, GrayImage, ImageBuffer, Luma, Rgb, Rgba, RgbaImage};

fn real_image() -> RgbImage {
    load_rgb(&common::test_jpeg("frog", 7)).expect("decode a real CIFAR-10 JPEG")
}

fn grey_levels(image: &RgbImage) -> Vec<u8> {
    image
        .pixels()
        .map(|p| p[0] / 3 + p[1] / 3 + p[2] / 3)
        .collect()
}

fn assert_grey_rgb(decoded: &RgbImage, levels: &[u8]) {
    assert_eq!(decoded.dimensions(), (32, 32));
    for (pixel, &level) in decoded.pixels().zip(levels) {
        assert_eq!(pixel.0, [level; 3]);
    }
}

#[test]
fn jpeg_decodes_to_rgb() {
    let image = real_image();
    assert_eq!(image.dimensions(), (32, 32));
    assert_eq!(image.as_raw().len(), 32 * 32 * 3);
}

#[test]
fn grey_png_replicates_channels() {
    let dir = tempfile::tempdir().unwrap();
    let levels = grey_levels(&real_image());
    let grey = GrayImage::from_raw(32, 32, levels.clone()).unwrap();
    let path = dir.path().join("grey.png");
    grey.save(&path).unwrap();
    assert_grey_rgb(&load_rgb(&path).unwrap(), &levels);
}

#[test]
fn grey_alpha_png_drops_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let levels = grey_levels(&real_image());
    let grey_alpha = GrayAlphaImage::from_fn(32, 32, |x, y| {
        image::LumaA([levels[(y * 32 + x) as usize], (x * 8) as u8])
    });
    let path = dir.path().join("grey_alpha.png");
    grey_alpha.save(&path).unwrap();
    assert_grey_rgb(&load_rgb(&path).unwrap(), &levels);
}

#[test]
fn rgba_png_drops_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = real_image();
    let rgba = RgbaImage::from_fn(32, 32, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgba([r, g, b, (y * 8) as u8])
    });
    let path = dir.path().join("rgba.png");
    rgba.save(&path).unwrap();
    assert_eq!(load_rgb(&path).unwrap(), rgb);
}

#[test]
fn rgb16_png_rounds_to_8_bit() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = real_image();
    // v * 257 + 128 is just below v + 0.5 in 8-bit units, so it rounds to v.
    let wide: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(32, 32, |x, y| {
        let p = rgb.get_pixel(x, y).0;
        Rgb(p.map(|v| u16::from(v) * 257 + if v < 255 { 128 } else { 0 }))
    });
    let path = dir.path().join("rgb16.png");
    wide.save(&path).unwrap();
    assert_eq!(load_rgb(&path).unwrap(), rgb);
}

#[test]
fn grey16_png_rounds_up_past_half() {
    let dir = tempfile::tempdir().unwrap();
    let levels: Vec<u8> = grey_levels(&real_image())
        .iter()
        .map(|&v| v.min(254))
        .collect();
    // v * 257 + 129 is just above v + 0.5 in 8-bit units, so it rounds to v + 1.
    let wide: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(32, 32, |x, y| {
        Luma([u16::from(levels[(y * 32 + x) as usize]) * 257 + 129])
    });
    let path = dir.path().join("grey16.png");
    wide.save(&path).unwrap();
    let expected: Vec<u8> = levels.iter().map(|v| v + 1).collect();
    assert_grey_rgb(&load_rgb(&path).unwrap(), &expected);
}

#[test]
fn text_named_png_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.png");
    fs::write(&path, "this is a text file, not an image\n").unwrap();
    let error = load_rgb(&path).unwrap_err();
    assert!(
        matches!(error, DataError::UnsupportedFormat { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("notes.png"), "{message}");
    assert!(message.contains("not a PNG or JPEG image"), "{message}");
}

#[test]
fn empty_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.jpg");
    fs::write(&path, b"").unwrap();
    let message = load_rgb(&path).unwrap_err().to_string();
    assert!(message.contains("empty"), "{message}");
}

#[test]
fn format_detected_from_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actually_a_jpeg.png");
    fs::copy(common::test_jpeg("frog", 7), &path).unwrap();
    assert_eq!(load_rgb(&path).unwrap(), real_image());
}

#[test]
fn truncated_jpeg_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(common::test_jpeg("frog", 7)).unwrap();
    let path = dir.path().join("truncated.jpg");
    fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let error = load_rgb(&path).unwrap_err();
    assert!(matches!(error, DataError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("truncated.jpg"), "{error}");
}

#[test]
fn missing_file_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.jpg");
    let error = load_rgb(&path).unwrap_err();
    assert!(matches!(error, DataError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("absent.jpg"), "{error}");
}

#[test]
fn decode_names_given_path() {
    let error = decode_rgb(b"GIF89a", Path::new("upload.bin")).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("upload.bin"), "{message}");
    assert!(message.contains("Gif"), "{message}");
}

#[test]
fn resize_keeps_uniform_colour() {
    let uniform = RgbImage::from_pixel(64, 48, Rgb([10, 120, 250]));
    let small = resize_rgb(&uniform, 32, 32);
    assert_eq!(small.dimensions(), (32, 32));
    assert!(small.pixels().all(|p| p.0 == [10, 120, 250]));
}

#[test]
fn resize_to_same_size_is_identity() {
    let image = real_image();
    assert_eq!(resize_rgb(&image, 32, 32), image);
}

#[test]
fn downscale_averages_blocks() {
    let image = real_image();
    let large = image::imageops::resize(&image, 64, 64, image::imageops::FilterType::Nearest);
    let back = resize_rgb(&large, 32, 32);
    let max = back
        .as_raw()
        .iter()
        .zip(image.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(
        max <= 40,
        "2x nearest upscale then bilinear downscale differs by {max}"
    );
}

/// Copies a real JPEG and rewrites the height and width in its SOF0 header.
fn jpeg_with_header_size(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = fs::read(common::test_jpeg("frog", 7)).unwrap();
    let sof = bytes
        .windows(2)
        .position(|marker| marker == [0xFF, 0xC0])
        .expect("the CIFAR-10 JPEGs are baseline (SOF0)");
    // SOF0: marker, length (2 bytes), precision (1 byte), height, width.
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

#[test]
fn oversized_image_names_limit() {
    let bytes = jpeg_with_header_size(60000, 50000);
    let error = decode_rgb(&bytes, Path::new("bomb.jpg")).unwrap_err();
    assert!(matches!(error, DataError::TooLarge { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("bomb.jpg"), "{message}");
    assert!(message.contains("too large to decode"), "{message}");
    assert!(message.contains("60000x50000 pixels"), "{message}");
    assert!(message.contains("memory limit of 512 MiB"), "{message}");
}

#[test]
fn decoder_messages_have_no_newlines() {
    let bytes = fs::read(common::test_jpeg("frog", 7)).unwrap();
    for len in (4..bytes.len()).step_by(7) {
        let Err(error) = decode_rgb(&bytes[..len], Path::new("cut.jpg")) else {
            continue;
        };
        let message = error.to_string();
        assert!(!message.contains('\n'), "{len} bytes: {message:?}");
        assert!(!message.contains(" ;"), "{len} bytes: {message:?}");
    }
}

#[test]
fn read_error_keeps_cause_as_source() {
    let dir = tempfile::tempdir().unwrap();
    let error = load_rgb(dir.path()).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }), "{error:?}");
    let cause = std::error::Error::source(&error)
        .expect("the I/O error is the source")
        .to_string();
    let message = error.to_string();
    assert!(message.starts_with("failed to read"), "{message}");
    assert!(!message.contains(&cause), "{message} repeats {cause}");
}

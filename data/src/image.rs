//! Decoding of PNG and JPEG files to 8-bit RGB, and resizing.
//!
//! The format is detected from the file content, not its extension. Every
//! colour type converts to 8-bit RGB: grey is replicated to the three
//! channels, 16-bit samples are scaled to 8 bits (`round(v / 257)`), and an
//! alpha channel is dropped (not composited), as PIL's `convert("RGB")` does.
//!
//! NOTE: JPEG goes through zune-jpeg (the `image` 0.25 decoder), whose IDCT
//! and chroma upsampling round differently from other decoders. On the
//! CIFAR-10 test JPEGs its pixels differ from another decode by up to 5
//! levels (mean 0.3), so results match Python pipelines only approximately.

use std::io::Cursor;
use std::path::Path;

use ::image::imageops::FilterType;
use ::image::{ImageError, ImageFormat};

use crate::{DataError, Result};

const MIB: u64 = 1024 * 1024;

/// An 8-bit RGB image, row-major HWC (the `image` crate's buffer type).
pub use ::image::RgbImage;

/// Reads and decodes the PNG or JPEG file at `path` to 8-bit RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_rgb(&bytes, path)
}

/// Decodes PNG or JPEG `bytes` to 8-bit RGB; `path` names the source in errors.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let format = detect_format(bytes, path)?;
    let image = ::image::load_from_memory_with_format(bytes, format)
        .map_err(|e| decode_error(e, bytes, format, path))?;
    Ok(image.into_rgb8())
}

/// Resizes to `width x height` with a bilinear (triangle) filter, which
/// widens its support when shrinking so that downscaling averages (like PIL's
/// bilinear resize). Returns a copy when the size already matches.
pub fn resize_rgb(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    ::image::imageops::resize(image, width, height, FilterType::Triangle)
}

fn detect_format(bytes: &[u8], path: &Path) -> Result<ImageFormat> {
    match ::image::guess_format(bytes) {
        Ok(format @ (ImageFormat::Png | ImageFormat::Jpeg)) => Ok(format),
        Ok(other) => Err(DataError::UnsupportedFormat {
            path: path.to_path_buf(),
            detected: format!("its content is {other:?}"),
        }),
        Err(_) => Err(DataError::UnsupportedFormat {
            path: path.to_path_buf(),
            detected: describe_unknown(bytes),
        }),
    }
}

fn describe_unknown(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "the file is empty".to_string();
    }
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "its first bytes {} match no PNG or JPEG signature",
        head.join(" ")
    )
}

fn decode_error(error: ImageError, bytes: &[u8], format: ImageFormat, path: &Path) -> DataError {
    let path = path.to_path_buf();
    match error {
        ImageError::Unsupported(e) => DataError::UnsupportedFormat {
            path,
            detected: normalize_whitespace(&e.to_string()),
        },
        ImageError::Limits(e) => DataError::TooLarge {
            path,
            size: describe_size(bytes, format),
            limit: describe_limit(&e.to_string()),
        },
        other => DataError::Corrupt {
            path,
            message: normalize_whitespace(&other.to_string()),
        },
    }
}

/// Joins whitespace runs into single spaces and trims the ends, because
/// some decoder messages end in a newline (zune-jpeg's "found 69\n").
fn normalize_whitespace(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Describes the image size from its header, which can be read without
/// decoding the pixels.
fn describe_size(bytes: &[u8], format: ImageFormat) -> String {
    let reader = ::image::ImageReader::with_format(Cursor::new(bytes), format);
    match reader.into_dimensions() {
        Ok((width, height)) => {
            let rgb_mib = u64::from(width) * u64::from(height) * 3 / MIB;
            format!("{width}x{height} pixels ({rgb_mib} MiB as 8-bit RGB)")
        }
        Err(_) => "of unknown size (its header could not be read)".to_string(),
    }
}

/// Names the decoder limit that was exceeded: the `image` crate's default
/// memory limit, or its own message for another limit.
fn describe_limit(message: &str) -> String {
    match ::image::Limits::default().max_alloc {
        Some(bytes) => format!("the decoder's memory limit of {} MiB", bytes / MIB),
        None => normalize_whitespace(message),
    }
}

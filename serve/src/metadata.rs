//! The model metadata that `export` writes into `metadata_props`, parsed.
//!
//! Keys: `classes`, `mean`, `std`, `input_size` (JSON arrays), `genotype`
//! (JSON), `genotype_name`, `network`, `model_json` (text) and `params`,
//! `params_with_auxiliary`, `macs`, `resize_shorter` (decimal integers). Every
//! key is optional so that models from other exporters still load; commands
//! that need a key report it as missing.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Result, ServeError};
use crate::inspect::{ModelInfo, TensorInfo};

/// Metadata of an ONNX model written by `export`, with the input size filled
/// in from the graph when the `input_size` key is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelMetadata {
    /// Class names, indexed like the logits.
    pub classes: Option<Vec<String>>,
    /// Per-channel mean subtracted from pixel values in [0, 1].
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation that centred pixel values are divided by.
    pub std: Option<Vec<f32>>,
    /// Input image shape as [channels, height, width].
    pub input_size: [usize; 3],
    /// Length in pixels that preprocessing resizes an image's shorter side
    /// to before cropping the centred input-size region (ImageNet models).
    /// Without it, images are resized straight to the input size.
    pub resize_shorter: Option<u32>,
    /// Parameter count of the network without the auxiliary head.
    pub params: Option<u64>,
    /// Parameter count including the auxiliary head, which inference does not run.
    pub params_with_auxiliary: Option<u64>,
    /// Multiply-accumulate operations for one image.
    pub macs: Option<u64>,
    /// Genotype as JSON text.
    pub genotype: Option<String>,
    /// Name of a built-in genotype, when the model used one.
    pub genotype_name: Option<String>,
    /// Every `metadata_props` entry, including the keys parsed above.
    pub all: BTreeMap<String, String>,
}

impl ModelMetadata {
    /// Parses the metadata of `info`, checking it against the graph input
    /// (`[batch, C, H, W]`). Present but malformed entries are errors.
    pub fn from_info(info: &ModelInfo) -> Result<Self> {
        let parser = Parser {
            path: &info.path,
            entries: &info.metadata,
        };
        let input_size = input_size(&parser, info)?;
        let channels = input_size[0];
        Ok(Self {
            classes: parser.json::<Vec<String>>("classes")?,
            mean: parser.channel_values("mean", channels)?,
            std: parser.channel_values("std", channels)?,
            input_size,
            resize_shorter: resize_shorter(&parser, input_size)?,
            params: parser.integer("params")?,
            params_with_auxiliary: parser.integer("params_with_auxiliary")?,
            macs: parser.integer("macs")?,
            genotype: parser.text("genotype"),
            genotype_name: parser.text("genotype_name"),
            all: info.metadata.clone(),
        })
    }
}

/// Parses the decimal integer metadata entry `key` (`params`,
/// `params_with_auxiliary`, `macs`) of any ONNX model; `None` when absent.
pub fn metadata_integer(info: &ModelInfo, key: &str) -> Result<Option<u64>> {
    let parser = Parser {
        path: &info.path,
        entries: &info.metadata,
    };
    parser.integer(key)
}

struct Parser<'a> {
    path: &'a Path,
    entries: &'a BTreeMap<String, String>,
}

impl Parser<'_> {
    fn text(&self, key: &str) -> Option<String> {
        self.entries.get(key).cloned()
    }

    fn invalid(&self, key: &str, value: &str, reason: impl ToString) -> ServeError {
        ServeError::InvalidMetadata {
            path: self.path.to_path_buf(),
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }

    fn json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let Some(value) = self.entries.get(key) else {
            return Ok(None);
        };
        serde_json::from_str(value)
            .map(Some)
            .map_err(|error| self.invalid(key, value, error))
    }

    fn integer(&self, key: &str) -> Result<Option<u64>> {
        let Some(value) = self.entries.get(key) else {
            return Ok(None);
        };
        value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| self.invalid(key, value, "expected a non-negative decimal integer"))
    }

    /// Parses a JSON array with one finite number per input channel; `std`
    /// values must also be positive because pixels are divided by them.
    fn channel_values(&self, key: &str, channels: usize) -> Result<Option<Vec<f32>>> {
        let Some(values) = self.json::<Vec<f32>>(key)? else {
            return Ok(None);
        };
        let value = &self.entries[key];
        if values.len() != channels {
            let reason = format!("expected {channels} values, one per input channel");
            return Err(self.invalid(key, value, reason));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(self.invalid(key, value, "values must be finite"));
        }
        if key == "std" && values.iter().any(|&v| v <= 0.0) {
            return Err(self.invalid(key, value, "values must be positive"));
        }
        Ok(Some(values))
    }
}

/// Takes the input size from the `input_size` key, or else from the fixed
/// [C, H, W] dimensions of the graph input. When both exist they must agree.
fn input_size(parser: &Parser, info: &ModelInfo) -> Result<[usize; 3]> {
    let input = single_input(info)?;
    let from_graph = graph_input_size(input);
    let Some(from_metadata) = parser.json::<[usize; 3]>("input_size")? else {
        return from_graph.ok_or_else(|| {
            let message = format!(
                "input `{}` has shape {} and there is no `input_size` metadata entry; \
                 serve needs a fixed [batch, C, H, W] input",
                input.name,
                input.shape_text()
            );
            ServeError::unsupported(&info.path, message)
        });
    };
    let value = &parser.entries["input_size"];
    if from_metadata.contains(&0) {
        return Err(parser.invalid("input_size", value, "sizes must be positive"));
    }
    match from_graph {
        Some(size) if size != from_metadata => {
            let reason = format!(
                "the graph input `{}` has shape {}",
                input.name,
                input.shape_text()
            );
            Err(parser.invalid("input_size", value, reason))
        }
        _ => Ok(from_metadata),
    }
}

/// Parses `resize_shorter`, which must be at least the input height and
/// width so that the centre crop lies inside the resized image.
fn resize_shorter(parser: &Parser, input_size: [usize; 3]) -> Result<Option<u32>> {
    let Some(value) = parser.integer("resize_shorter")? else {
        return Ok(None);
    };
    let text = &parser.entries["resize_shorter"];
    let [_, height, width] = input_size;
    let smallest = height.max(width) as u64;
    if value < smallest {
        let reason = format!(
            "expected at least {smallest}, the larger of the input height and width \
             ({height}x{width}), so that the centre crop lies inside the resized image"
        );
        return Err(parser.invalid("resize_shorter", text, reason));
    }
    let value = u32::try_from(value)
        .ok()
        .filter(|&v| v <= 65_535)
        .ok_or_else(|| parser.invalid("resize_shorter", text, "expected at most 65535"))?;
    Ok(Some(value))
}

/// The one graph input that is not an initializer; it must be rank 4 float.
pub(crate) fn single_input(info: &ModelInfo) -> Result<&TensorInfo> {
    let [input] = info.inputs.as_slice() else {
        let names: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
        let message = format!("expected one graph input (the image batch), found {names:?}");
        return Err(ServeError::unsupported(&info.path, message));
    };
    if input.element_type != "float" || input.shape.len() != 4 {
        let message = format!(
            "input `{}` is {} with shape {}, but serve needs float [batch, C, H, W]",
            input.name,
            input.element_type,
            input.shape_text()
        );
        return Err(ServeError::unsupported(&info.path, message));
    }
    Ok(input)
}

fn graph_input_size(input: &TensorInfo) -> Option<[usize; 3]> {
    let tail = input.fixed_tail()?;
    <[usize; 3]>::try_from(tail).ok()
}

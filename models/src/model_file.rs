//! `model.json`: everything needed to rebuild a trained network and feed it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::genotype::Genotype;
use crate::graph::Graph;
use crate::network::{
    build_network, DatasetKind, NetworkConfig, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD,
    IMAGENET_MEAN, IMAGENET_STD,
};
use crate::ModelError;

/// Version of the `model.json` layout written by this crate.
pub const MODEL_FILE_VERSION: u32 = 1;

/// The contents of `model.json`, written beside `weights.safetensors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format_version: u32,
    /// Network family, `cifar` or `imagenet`; always agrees with
    /// `network.dataset`, which files without it default to.
    pub architecture: String,
    /// The built-in name the genotype was chosen by, if any.
    pub genotype_name: Option<String>,
    pub genotype: Genotype,
    pub network: NetworkConfig,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Per-channel mean subtracted from pixels scaled to [0, 1].
    pub mean: [f32; 3],
    /// Per-channel standard deviation that pixels are divided by after the mean.
    pub std: [f32; 3],
    /// Input `[channels, height, width]`.
    pub input_size: [usize; 3],
    /// Evaluation preprocessing: resize the shorter image side to this many
    /// pixels, then crop the centre to `input_size`. Without it, images are
    /// resized to `input_size` directly (CIFAR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_shorter: Option<usize>,
}

impl ModelFile {
    /// Describes a model of `network`'s type with the given class names and
    /// that type's standard normalisation.
    pub fn new(
        genotype_name: Option<String>,
        genotype: Genotype,
        network: NetworkConfig,
        classes: Vec<String>,
    ) -> Self {
        let size = network.image_size;
        let (mean, std) = match network.dataset {
            DatasetKind::Cifar10 => (CIFAR10_MEAN, CIFAR10_STD),
            DatasetKind::ImageNet => (IMAGENET_MEAN, IMAGENET_STD),
        };
        let resize_shorter = network.resize_shorter();
        ModelFile {
            format_version: MODEL_FILE_VERSION,
            architecture: architecture_name(network.dataset).to_string(),
            genotype_name,
            genotype,
            network,
            classes,
            mean,
            std,
            input_size: [3, size, size],
            resize_shorter,
        }
    }

    /// Describes a CIFAR-10 model with the standard classes and normalisation.
    pub fn cifar10(
        genotype_name: Option<String>,
        genotype: Genotype,
        network: NetworkConfig,
    ) -> Self {
        let classes = CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect();
        ModelFile::new(genotype_name, genotype, network, classes)
    }

    /// Builds the network graph this file describes.
    pub fn graph(&self) -> Result<Graph, ModelError> {
        build_network(&self.genotype, &self.network)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model file always serialises")
    }

    /// Parses and checks `model.json` text; `path` is used in error messages.
    pub fn from_json(text: &str, path: &str) -> Result<Self, ModelError> {
        let invalid = |message: String| ModelError::InvalidModelFile {
            path: path.to_string(),
            message,
        };
        let file: ModelFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if file.format_version != MODEL_FILE_VERSION {
            return Err(invalid(format!(
                "format_version {} is not supported; this build reads version {MODEL_FILE_VERSION}",
                file.format_version
            )));
        }
        let expected = architecture_name(file.network.dataset);
        if file.architecture != expected {
            return Err(invalid(format!(
                "architecture `{}` does not match network.dataset `{}` (expected `{expected}`)",
                file.architecture, file.network.dataset
            )));
        }
        if file.classes.len() != file.network.num_classes {
            return Err(invalid(format!(
                "{} class names for a network with {} classes",
                file.classes.len(),
                file.network.num_classes
            )));
        }
        file.network.validate()?;
        let crop = file.input_size[1].max(file.input_size[2]);
        if let Some(resize) = file.resize_shorter.filter(|&r| r < crop) {
            return Err(invalid(format!(
                "resize_shorter {resize} is smaller than the {crop}-pixel crop of input_size"
            )));
        }
        Ok(file)
    }

    /// Reads and checks a `model.json` file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_json(&text, &path.display().to_string())
    }
}

/// Returns the `architecture` value written for a network type.
fn architecture_name(dataset: DatasetKind) -> &'static str {
    match dataset {
        DatasetKind::Cifar10 => "cifar",
        DatasetKind::ImageNet => "imagenet",
    }
}

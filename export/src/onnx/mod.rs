//! ONNX models from network graphs: inference only, opset 17, BatchNorm
//! folded into convolutions where a convolution (or a Concat of them) feeds it.

mod emit;
mod fold;
mod proto;

use std::path::Path;

use models::{Graph, ModelFile};
use onnx_protobuf::{GraphProto, Message, OperatorSetIdProto, StringStringEntryProto};

pub use onnx_protobuf::ModelProto;

use crate::{ExportError, Weights};
use emit::Emitter;
use proto::{float_value_info, Dim};

/// The ai.onnx opset the models use.
pub const OPSET_VERSION: i64 = 17;
/// ONNX IR version 8, introduced with ONNX 1.10. ONNX Runtime 1.31.1 loads it.
pub const IR_VERSION: i64 = 8;
/// Name of the float32 NCHW image input.
pub const INPUT_NAME: &str = "input";
/// Name of the `[batch, num_classes]` output.
pub const OUTPUT_NAME: &str = "logits";
/// Name of the symbolic batch dimension of input and output.
pub const BATCH_DIM: &str = "batch";
pub const PRODUCER_NAME: &str = "sharpdarts-export";

/// Keys of the `metadata_props` that [`model_metadata`] writes.
pub mod metadata_keys {
    /// JSON array of class names in label order.
    pub const CLASSES: &str = "classes";
    /// JSON array of the per-channel mean subtracted from pixels in [0, 1].
    pub const MEAN: &str = "mean";
    /// JSON array of the per-channel standard deviation pixels are divided by.
    pub const STD: &str = "std";
    /// JSON `[channels, height, width]`.
    pub const INPUT_SIZE: &str = "input_size";
    /// Genotype JSON.
    pub const GENOTYPE: &str = "genotype";
    /// Built-in genotype name, absent when the genotype came from a file.
    pub const GENOTYPE_NAME: &str = "genotype_name";
    /// `NetworkConfig` JSON.
    pub const NETWORK: &str = "network";
    /// Parameters without the auxiliary head, as a decimal string.
    pub const PARAMS: &str = "params";
    /// Parameters including the auxiliary head, as a decimal string.
    pub const PARAMS_WITH_AUXILIARY: &str = "params_with_auxiliary";
    /// Multiply-adds for one image in inference, as a decimal string.
    pub const MACS: &str = "macs";
    /// The full `model.json` contents, as compact JSON.
    pub const MODEL_JSON: &str = "model_json";
    /// Evaluation preprocessing, as a decimal string: resize the shorter side
    /// to this many pixels, then crop the centre to the input size. Absent
    /// when images are resized to the input size directly.
    pub const RESIZE_SHORTER: &str = "resize_shorter";
}

/// Builds an inference ONNX model of `graph`: auxiliary-head nodes are
/// skipped and drop path is ignored. The weights are checked against the
/// graph first, so errors name a missing or misshapen tensor.
pub fn build_model(
    graph: &Graph,
    weights: &Weights,
    metadata: &[(String, String)],
) -> Result<ModelProto, ExportError> {
    weights.check_against(graph)?;
    check_single_file_size(graph)?;
    let mut emitter = Emitter::new(graph, weights);
    emitter.run(INPUT_NAME)?;
    let [c, h, w] = graph.input_shape();
    let batch = Dim::Symbolic(BATCH_DIM);
    let input = float_value_info(
        INPUT_NAME,
        &[batch, Dim::Fixed(c), Dim::Fixed(h), Dim::Fixed(w)],
    );
    let output = float_value_info(OUTPUT_NAME, &output_dims(graph, emitter.logits_rank()));
    let onnx_graph = GraphProto {
        name: "sharpdarts".to_string(),
        node: std::mem::take(&mut emitter.nodes),
        initializer: std::mem::take(&mut emitter.initializers),
        input: vec![input],
        output: vec![output],
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET_VERSION,
            ..Default::default()
        }],
        producer_name: PRODUCER_NAME.to_string(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        graph: Some(onnx_graph).into(),
        metadata_props: metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto {
                key: key.clone(),
                value: value.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

/// Largest weight payload written into one ONNX file: protobuf messages are
/// limited to 2 GiB, and ONNX Runtime refuses larger single-file models.
/// The margin leaves room for the graph and metadata.
const MAX_WEIGHT_BYTES: u64 = (1 << 31) - (64 << 20);

/// Rejects a network whose inference weights would not fit in one ONNX file.
fn check_single_file_size(graph: &Graph) -> Result<(), ExportError> {
    let values: u64 = graph
        .parameters()
        .iter()
        .filter(|p| p.scope == models::Scope::Main)
        .map(|p| p.numel() as u64)
        .sum();
    let bytes = values * 4;
    if bytes <= MAX_WEIGHT_BYTES {
        return Ok(());
    }
    Err(ExportError::InvalidModel {
        message: format!(
            "its {values} weight values take {bytes} bytes, more than an ONNX file can hold \
             ({MAX_WEIGHT_BYTES} bytes below the 2 GiB protobuf limit); use fewer channels \
             or cells"
        ),
    })
}

fn output_dims(graph: &Graph, rank: usize) -> Vec<Dim> {
    let [c, h, w] = graph.nodes[graph.logits].shape;
    let mut dims = vec![Dim::Symbolic(BATCH_DIM), Dim::Fixed(c)];
    if rank == 4 {
        dims.extend([Dim::Fixed(h), Dim::Fixed(w)]);
    }
    dims
}

/// Serialises a model to protobuf bytes.
pub fn encode_model(model: &ModelProto) -> Result<Vec<u8>, ExportError> {
    model.write_to_bytes().map_err(|e| ExportError::Encode {
        message: e.to_string(),
    })
}

/// Writes a model to `path` atomically.
pub fn write_model(path: &Path, model: &ModelProto) -> Result<(), ExportError> {
    let bytes = encode_model(model)?;
    models::io::write_atomic(path, &bytes).map_err(|error| ExportError::Write {
        path: path.display().to_string(),
        error,
    })
}

/// Lists the `metadata_props` that serving reads: classes, normalisation, input
/// size, genotype, network settings, counts and the full `model.json`.
pub fn model_metadata(file: &ModelFile, graph: &Graph) -> Vec<(String, String)> {
    use metadata_keys as key;
    let counts = models::count_parameters(graph);
    let mut entries = vec![
        (key::CLASSES, json(&file.classes)),
        (key::MEAN, json(&file.mean)),
        (key::STD, json(&file.std)),
        (key::INPUT_SIZE, json(&file.input_size)),
        (key::GENOTYPE, json(&file.genotype)),
        (key::NETWORK, json(&file.network)),
        (key::PARAMS, counts.main.to_string()),
        (
            key::PARAMS_WITH_AUXILIARY,
            counts.with_auxiliary.to_string(),
        ),
        (key::MACS, models::count_macs(graph).to_string()),
        (key::MODEL_JSON, json(file)),
    ];
    if let Some(name) = &file.genotype_name {
        entries.push((key::GENOTYPE_NAME, name.clone()));
    }
    if let Some(resize) = file.resize_shorter {
        entries.push((key::RESIZE_SHORTER, resize.to_string()));
    }
    entries
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}

/// Builds the ONNX model of a `model.json` and its weights, with
/// [`model_metadata`]. Fails when the file's `input_size` disagrees with the
/// network it describes.
pub fn build_model_file(file: &ModelFile, weights: &Weights) -> Result<ModelProto, ExportError> {
    let graph = file.graph()?;
    if file.input_size != graph.input_shape() {
        return Err(ExportError::InvalidModel {
            message: format!(
                "input_size {:?} does not match the network input {:?} (image_size {})",
                file.input_size,
                graph.input_shape(),
                file.network.image_size
            ),
        });
    }
    build_model(&graph, weights, &model_metadata(file, &graph))
}

/// Exports a `model.json` and its weights to ONNX bytes; see [`build_model_file`].
pub fn export_model_file(file: &ModelFile, weights: &Weights) -> Result<Vec<u8>, ExportError> {
    encode_model(&build_model_file(file, weights)?)
}

/// Compact JSON of a metadata value.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("model file fields always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_beyond_one_file_are_rejected() {
        let genotype = models::Genotype::resolve("DARTS").unwrap();
        let small = models::build_network(&genotype, &models::NetworkConfig::cifar10(36, 20));
        check_single_file_size(&small.unwrap()).unwrap();
        // About 674 million weights, 2.7 GB of float32 values.
        let config = models::NetworkConfig::cifar10(2900, 3);
        let large = models::build_network(&genotype, &config).unwrap();
        let message = check_single_file_size(&large).unwrap_err().to_string();
        assert!(message.contains("2 GiB protobuf limit"), "{message}");
        assert!(message.contains("674148510 weight values"), "{message}");
    }
}

//! Reading an ONNX file's structure (inputs, outputs, opset, metadata)
//! directly from its protobuf encoding, without ONNX Runtime.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use onnx_protobuf::{tensor_proto, type_proto, GraphProto, ModelProto, ValueInfoProto};
use protobuf::{Enum, Message};
use serde::Serialize;

use crate::error::{Result, ServeError};

/// One dimension of a graph input or output shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A symbolic size such as `batch`, fixed only when the model runs.
    Symbolic(String),
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(size) => write!(f, "{size}"),
            Dim::Symbolic(name) => f.write_str(name),
        }
    }
}

/// Name, element type and shape of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    /// ONNX element type in lower case, such as `float`.
    pub element_type: String,
    pub shape: Vec<Dim>,
}

impl TensorInfo {
    /// Formats the shape as text, such as `[batch, 3, 32, 32]`.
    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(Dim::to_string).collect();
        format!("[{}]", dims.join(", "))
    }

    /// Returns the fixed sizes of the dimensions after the first (batch) one,
    /// or `None` if any of them is symbolic.
    pub fn fixed_tail(&self) -> Option<Vec<usize>> {
        self.shape
            .iter()
            .skip(1)
            .map(|dim| match dim {
                Dim::Fixed(size) => usize::try_from(*size).ok(),
                Dim::Symbolic(_) => None,
            })
            .collect()
    }
}

/// The structure of an ONNX model file.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub ir_version: i64,
    /// Opset version of the default (`ai.onnx`) domain; 0 if not imported.
    pub opset: i64,
    /// Every imported opset as (domain, version); the default domain is `""`.
    pub opset_imports: Vec<(String, i64)>,
    pub producer_name: String,
    pub producer_version: String,
    /// Graph inputs that are not initializers, in graph order.
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    pub node_count: usize,
    pub initializer_count: usize,
    /// Total number of values stored in the initializers.
    pub initializer_values: u64,
    /// The model's `metadata_props`, by key.
    pub metadata: BTreeMap<String, String>,
}

impl ModelInfo {
    /// Reads and parses the ONNX file at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = read_model_bytes(path)?;
        Self::parse(path, &bytes)
    }

    /// Parses the ONNX protobuf `bytes` read from `path`. Rejects files that
    /// are empty, truncated, do not decode or contain no graph.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let proto = decode_model(path, bytes)?;
        Ok(Self::from_proto(path, &proto))
    }

    /// Describes a model that [`decode_model`] accepted.
    pub fn from_proto(path: &Path, proto: &ModelProto) -> Self {
        let default_graph = GraphProto::default();
        let graph = proto.graph.as_ref().unwrap_or(&default_graph);
        let initializers: HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs = graph
            .input
            .iter()
            .filter(|input| !initializers.contains(input.name.as_str()))
            .map(tensor_info)
            .collect();
        let initializer_values = graph
            .initializer
            .iter()
            .map(|t| t.dims.iter().map(|&d| d.max(0) as u64).product::<u64>())
            .sum();

        Self {
            path: path.to_path_buf(),
            ir_version: proto.ir_version,
            opset: default_opset(proto),
            opset_imports: opset_imports(proto),
            producer_name: proto.producer_name.clone(),
            producer_version: proto.producer_version.clone(),
            inputs,
            outputs: graph.output.iter().map(tensor_info).collect(),
            node_count: graph.node.len(),
            initializer_count: graph.initializer.len(),
            initializer_values,
            metadata: proto
                .metadata_props
                .iter()
                .map(|entry| (entry.key.clone(), entry.value.clone()))
                .collect(),
        }
    }
}

/// Reads and decodes the ONNX file at `path`; see [`decode_model`].
pub fn read_model(path: &Path) -> Result<ModelProto> {
    let bytes = read_model_bytes(path)?;
    decode_model(path, &bytes)
}

/// Decodes the ONNX protobuf `bytes` read from `path`. Rejects files that
/// are empty, truncated, do not decode or contain no graph nodes.
pub fn decode_model(path: &Path, bytes: &[u8]) -> Result<ModelProto> {
    if bytes.is_empty() {
        return Err(ServeError::invalid_model(path, "the file is empty"));
    }
    check_top_level_fields(bytes).map_err(|message| ServeError::invalid_model(path, message))?;
    let proto = ModelProto::parse_from_bytes(bytes)
        .map_err(|error| ServeError::invalid_model(path, error))?;
    if proto
        .graph
        .as_ref()
        .is_none_or(|graph| graph.node.is_empty())
    {
        return Err(ServeError::invalid_model(
            path,
            "it contains no graph nodes",
        ));
    }
    Ok(proto)
}

/// Reads the whole model file, with distinct errors for a missing file.
pub(crate) fn read_model_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ServeError::ModelNotFound {
            path: path.to_path_buf(),
        },
        _ => ServeError::ReadModel {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Walks the top-level protobuf fields of `bytes` and checks that each one
/// ends inside the file.
///
/// The protobuf crate (3.4) accepts a message that ends inside a nested
/// message, such as the graph, and returns the fields read so far. A
/// truncated ONNX file always cuts a top-level field, because the graph and
/// the metadata are top-level fields, so this walk detects it.
fn check_top_level_fields(bytes: &[u8]) -> Result<(), String> {
    let mut position = 0;
    while position < bytes.len() {
        let tag = read_varint(bytes, &mut position)?;
        let field = tag >> 3;
        let length = match tag & 7 {
            0 => read_varint(bytes, &mut position).map(|_| 0)?,
            1 => 8,
            2 => read_varint(bytes, &mut position)?,
            5 => 4,
            wire_type => {
                return Err(format!(
                    "field {field} has unsupported wire type {wire_type}"
                ));
            }
        };
        let remaining = (bytes.len() - position) as u64;
        if length > remaining {
            return Err(format!(
                "the file is truncated: top-level field {field} needs {length} bytes but only \
                 {remaining} remain"
            ));
        }
        position += length as usize;
    }
    Ok(())
}

/// Reads one base-128 varint at `position` and advances past it.
fn read_varint(bytes: &[u8], position: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&byte) = bytes.get(*position) else {
            return Err("the file is truncated inside a field header".to_owned());
        };
        *position += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(format!("invalid varint at byte {}", *position))
}

fn default_opset(proto: &ModelProto) -> i64 {
    proto
        .opset_import
        .iter()
        .find(|opset| opset.domain.is_empty() || opset.domain == "ai.onnx")
        .map_or(0, |opset| opset.version)
}

fn opset_imports(proto: &ModelProto) -> Vec<(String, i64)> {
    proto
        .opset_import
        .iter()
        .map(|opset| (opset.domain.clone(), opset.version))
        .collect()
}

fn tensor_info(value: &ValueInfoProto) -> TensorInfo {
    let tensor = match value.type_.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(tensor)) => tensor,
        _ => {
            return TensorInfo {
                name: value.name.clone(),
                element_type: "non-tensor".to_owned(),
                shape: Vec::new(),
            }
        }
    };
    let shape = tensor
        .shape
        .as_ref()
        .map(|shape| shape.dim.iter().map(dim).collect())
        .unwrap_or_default();
    TensorInfo {
        name: value.name.clone(),
        element_type: element_type_name(tensor.elem_type),
        shape,
    }
}

fn dim(dimension: &onnx_protobuf::tensor_shape_proto::Dimension) -> Dim {
    if dimension.has_dim_value() {
        Dim::Fixed(dimension.dim_value())
    } else if dimension.has_dim_param() && !dimension.dim_param().is_empty() {
        Dim::Symbolic(dimension.dim_param().to_owned())
    } else {
        Dim::Symbolic("?".to_owned())
    }
}

fn element_type_name(code: i32) -> String {
    match tensor_proto::DataType::from_i32(code) {
        Some(data_type) => format!("{data_type:?}").to_lowercase(),
        None => format!("unknown type {code}"),
    }
}

//! Parameter and multiply-add (MAC) counts computed from an ONNX graph alone.
//!
//! The walk infers every value's shape from the graph input with batch 1,
//! then applies the published counting rules (see [`rules`]) to each node.
//! It reports two figures:
//!
//! - **deployed**: the graph as written. Parameters are the elements of the
//!   floating-point initializers that nodes read as data, which excludes
//!   integer shape, index and padding constants. A Conv with a folded
//!   BatchNorm counts its folded bias.
//! - **published**: the network before BatchNorm folding, as the published
//!   counter reports it. `export` notes each change in node `doc_string`s
//!   (see [`note`]). A Conv noted as folded counts without its folded bias,
//!   plus the BatchNorm it absorbed (input elements, twice when affine;
//!   `2 C` parameters when affine). Running statistics are never published
//!   parameters.
//!
//! Without notes, as in graphs from other exporters, the two figures differ
//! only in BatchNorm running statistics.

mod note;
mod rules;
mod shape;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use onnx_protobuf::{type_proto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use serde::Serialize;

use note::{parse_notes, Note};
use shape::{Operator, Value};

/// Counts of one ONNX graph for one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GraphCounts {
    /// Parameters of the network before folding, by the published rules.
    pub params_published: u64,
    /// Multiply-adds of the network before folding, by the published rules.
    pub macs_published: u64,
    /// Elements of the floating-point initializers that nodes read as data.
    pub params_deployed: u64,
    /// Multiply-adds of the graph as written.
    pub macs_deployed: u64,
    /// BatchNorm layers noted as folded into convolutions.
    pub folded_batch_norms: u64,
    /// ReLUs noted as removed because they read known zeros.
    pub elided_relus: u64,
}

/// Errors from counting an ONNX graph.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error("the model contains no graph")]
    MissingGraph,
    #[error(
        "node `{node}` uses operator {op_type}, which the counter does not support; \
         it supports {supported}, the operators `export` writes and a few of the same kinds",
        supported = supported_operators()
    )]
    UnsupportedOperator { node: String, op_type: String },
    #[error("invalid {op_type} node `{node}`: {message}")]
    InvalidNode {
        node: String,
        op_type: String,
        message: String,
    },
    #[error(
        "node `{node}` reads `{value}`, which is neither a graph input, an initializer nor \
         the output of an earlier node; ONNX graphs list nodes in topological order"
    )]
    UnknownValue { node: String, value: String },
    #[error("graph input `{name}` cannot be counted: {message}")]
    InvalidInput { name: String, message: String },
    #[error("invalid initializer `{name}`: {message}")]
    InvalidInitializer { name: String, message: String },
    #[error("invalid counting note {note:?} on node `{node}`: {message}")]
    InvalidNote {
        node: String,
        note: String,
        message: String,
    },
    #[error("the counts overflow 64 bits; the graph's shapes are implausibly large")]
    Overflow,
}

/// Counts the graph of `model`; see [`count_graph`].
pub fn count_model(model: &ModelProto) -> Result<GraphCounts, CountError> {
    let graph = model.graph.as_ref().ok_or(CountError::MissingGraph)?;
    count_graph(graph)
}

/// Infers shapes through `graph` and counts its parameters and MACs.
/// Rejects operators outside [`supported_operators`], naming the node.
pub fn count_graph(graph: &GraphProto) -> Result<GraphCounts, CountError> {
    let mut walk = Walk::new(graph)?;
    for (index, node) in graph.node.iter().enumerate() {
        walk.visit(index, node)?;
    }
    walk.finish()
}

/// Names of the operators the counter supports, comma-separated.
pub fn supported_operators() -> String {
    let names: Vec<&str> = Operator::ALL.iter().map(|op| op.name()).collect();
    names.join(", ")
}

/// State of the walk over a graph's nodes.
struct Walk<'g> {
    values: HashMap<&'g str, Value>,
    initializers: HashMap<&'g str, &'g TensorProto>,
    /// Floating-point initializers read as data, whose sizes sum to `params_deployed`.
    deployed_weights: HashSet<&'g str>,
    /// Initializers already counted in `params_published`.
    published_seen: HashSet<&'g str>,
    /// Names of the BatchNorm layers noted as folded.
    folded: HashSet<String>,
    /// Elided ReLUs as (node label, stride, value name), resolved at the end.
    elided: Vec<(String, u64, String)>,
    counts: GraphCounts,
}

impl<'g> Walk<'g> {
    fn new(graph: &'g GraphProto) -> Result<Self, CountError> {
        let mut values = HashMap::new();
        let mut initializers = HashMap::new();
        for tensor in &graph.initializer {
            let value =
                Value::of_tensor(tensor).map_err(|message| CountError::InvalidInitializer {
                    name: tensor.name.clone(),
                    message,
                })?;
            values.insert(tensor.name.as_str(), value);
            initializers.insert(tensor.name.as_str(), tensor);
        }
        for input in &graph.input {
            if !initializers.contains_key(input.name.as_str()) {
                values.insert(input.name.as_str(), input_value(input)?);
            }
        }
        Ok(Walk {
            values,
            initializers,
            deployed_weights: HashSet::new(),
            published_seen: HashSet::new(),
            folded: HashSet::new(),
            elided: Vec::new(),
            counts: GraphCounts::default(),
        })
    }

    fn visit(&mut self, index: usize, node: &'g NodeProto) -> Result<(), CountError> {
        let label = if node.name.is_empty() {
            format!("#{index}")
        } else {
            node.name.clone()
        };
        let op = Operator::of_node(node).ok_or_else(|| CountError::UnsupportedOperator {
            node: label.clone(),
            op_type: qualified_op_type(node),
        })?;
        let note = self.node_note(op, node, &label)?;
        let invalid = |message| CountError::InvalidNode {
            node: label.clone(),
            op_type: op.name().to_owned(),
            message,
        };

        let inputs = node
            .input
            .iter()
            .map(|name| match name.as_str() {
                "" => Ok(None),
                name => self
                    .values
                    .get(name)
                    .map(Some)
                    .ok_or_else(|| CountError::UnknownValue {
                        node: label.clone(),
                        value: name.to_owned(),
                    }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = shape::infer(op, node, &inputs).map_err(invalid)?;
        let deployed = rules::deployed_macs(op, &inputs, &output).map_err(invalid)?;
        let published =
            rules::published_macs(op, &inputs, &output, note.as_ref()).map_err(invalid)?;
        let conv_out_channels = output.shape.get(1).copied().unwrap_or(0);

        add(&mut self.counts.macs_deployed, deployed)?;
        add(&mut self.counts.macs_published, published)?;
        self.count_parameters(op, node, note.as_ref(), conv_out_channels)?;
        for name in node.output.iter().filter(|name| !name.is_empty()) {
            self.values.insert(name, output.clone());
        }
        Ok(())
    }

    /// Parses the node's counting notes. Records elided ReLUs and returns
    /// the note that changes how the node itself counts, if any.
    fn node_note(
        &mut self,
        op: Operator,
        node: &NodeProto,
        label: &str,
    ) -> Result<Option<Note>, CountError> {
        let invalid = |note: &str, message: &str| CountError::InvalidNote {
            node: label.to_owned(),
            note: note.to_owned(),
            message: message.to_owned(),
        };
        let notes =
            parse_notes(&node.doc_string).map_err(|(line, reason)| invalid(&line, &reason))?;
        let mut own = None;
        for note in notes {
            let fits = match &note {
                Note::ElidedRelu { stride, zeros_of } => {
                    let entry = (label.to_owned(), *stride, zeros_of.clone());
                    self.elided.push(entry);
                    continue;
                }
                Note::FoldedBatchNorm { .. } => op == Operator::Conv,
                Note::BatchNorm { .. } => op == Operator::BatchNormalization,
            };
            if !fits {
                let message = format!("a {} node cannot carry this note", op.name());
                return Err(invalid(&format!("{note:?}"), &message));
            }
            if own.is_some() {
                return Err(invalid(
                    &node.doc_string,
                    "the node carries two BatchNorm notes",
                ));
            }
            own = Some(note);
        }
        if let Some(Note::FoldedBatchNorm { name, .. }) = &own {
            self.folded.insert(name.clone());
        }
        Ok(own)
    }

    /// Adds the node's parameters to both figures. `out_channels` is the
    /// output's axis 1, the channels of a folded BatchNorm's share.
    fn count_parameters(
        &mut self,
        op: Operator,
        node: &'g NodeProto,
        note: Option<&Note>,
        out_channels: u64,
    ) -> Result<(), CountError> {
        for (index, name) in node.input.iter().enumerate() {
            let Some(tensor) = self.initializers.get(name.as_str()) else {
                continue;
            };
            if !op.reads_data(index) || !shape::is_floating(tensor) {
                continue;
            }
            let elements = self.values[name.as_str()].elements();
            if self.deployed_weights.insert(name) {
                add(&mut self.counts.params_deployed, elements)?;
            }
            if published_parameter(op, index, note) && self.published_seen.insert(name) {
                add(&mut self.counts.params_published, elements)?;
            }
        }
        if let Some(Note::FoldedBatchNorm {
            affine, conv_bias, ..
        }) = note
        {
            // The original bias, then the BatchNorm's scale and shift for this
            // convolution's share of its channels.
            let per_channel = u64::from(*conv_bias) + if *affine { 2 } else { 0 };
            add(
                &mut self.counts.params_published,
                per_channel * out_channels,
            )?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<GraphCounts, CountError> {
        for (label, stride, name) in std::mem::take(&mut self.elided) {
            let invalid = |message: String| CountError::InvalidNote {
                node: label.clone(),
                note: format!("elided Relu stride={stride} zeros_of={name}"),
                message,
            };
            let value = self
                .values
                .get(name.as_str())
                .ok_or_else(|| invalid(format!("the graph has no value `{name}`")))?;
            let elements = strided_elements(&value.shape, stride)
                .ok_or_else(|| invalid(format!("value `{name}` has shape {:?}", value.shape)))?;
            add(&mut self.counts.macs_published, elements)?;
            self.counts.elided_relus += 1;
        }
        self.counts.folded_batch_norms = self.folded.len() as u64;
        Ok(self.counts)
    }
}

/// Returns whether initializer input `index` of a node is a published
/// parameter. Folded biases, BatchNorm running statistics and the unit scale
/// and zero shift of a non-affine BatchNorm are not.
fn published_parameter(op: Operator, index: usize, note: Option<&Note>) -> bool {
    match (op, note) {
        (Operator::Conv, Some(Note::FoldedBatchNorm { .. })) => index != 2,
        (Operator::BatchNormalization, Some(Note::BatchNorm { affine: false, .. })) => false,
        (Operator::BatchNormalization, _) => index == 1 || index == 2,
        _ => true,
    }
}

/// Counts the elements of every `stride`-th row and column of an `[N, C, H, W]` value.
fn strided_elements(shape: &[u64], stride: u64) -> Option<u64> {
    if shape.len() < 3 {
        return None;
    }
    let spatial = shape[2..].iter().map(|&d| d.div_ceil(stride));
    shape[..2]
        .iter()
        .copied()
        .chain(spatial)
        .try_fold(1u64, |total, d| total.checked_mul(d))
}

/// Builds the value of a graph input with fixed dimensions. A symbolic
/// first (batch) dimension becomes 1.
fn input_value(input: &ValueInfoProto) -> Result<Value, CountError> {
    let invalid = |message: String| CountError::InvalidInput {
        name: input.name.clone(),
        message,
    };
    let tensor = match input.type_.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(tensor)) => tensor,
        _ => return Err(invalid("it is not a tensor".to_owned())),
    };
    let dims = &tensor
        .shape
        .as_ref()
        .ok_or_else(|| invalid("its shape is not given".to_owned()))?
        .dim;
    let mut shape = Vec::with_capacity(dims.len());
    for (axis, dim) in dims.iter().enumerate() {
        let size = if dim.has_dim_value() {
            u64::try_from(dim.dim_value())
                .map_err(|_| invalid(format!("axis {axis} has size {}", dim.dim_value())))?
        } else if axis == 0 {
            1
        } else {
            return Err(invalid(format!(
                "axis {axis} is symbolic; counts need fixed sizes after the batch axis"
            )));
        };
        shape.push(size);
    }
    Value::new(shape).map_err(invalid)
}

fn qualified_op_type(node: &NodeProto) -> String {
    if node.domain.is_empty() || node.domain == "ai.onnx" {
        node.op_type.clone()
    } else {
        format!("{}.{}", node.domain, node.op_type)
    }
}

fn add(total: &mut u64, amount: u64) -> Result<(), CountError> {
    *total = total.checked_add(amount).ok_or(CountError::Overflow)?;
    Ok(())
}

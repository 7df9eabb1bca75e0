//! Translation of graph nodes into ONNX nodes and initializers.

use std::collections::{HashMap, HashSet};

use models::graph::{BatchNorm, Conv2d, Linear, Pool};
use models::{Graph, NodeId, Op, Scope};
use onnx_protobuf::{NodeProto, TensorProto};

use super::fold::{conv_weight_shape, fold_conv, ChannelAffine, FoldPlan};
use super::proto::{
    attr_float, attr_int, attr_ints, attr_tensor, float_tensor, int64_tensor, node,
};
use super::OUTPUT_NAME;
use crate::{ExportError, Weights};

/// Slice bound that means "to the end of the axis".
const TO_END: i64 = i64::MAX;

/// The ONNX counterpart of a graph node's output.
#[derive(Clone, Debug)]
enum Value {
    /// A named ONNX value of rank 4 (NCHW) or 2 (after Flatten or Gemm).
    Named { name: String, rank: usize },
    /// All zeros, shaped like every `stride`-th row and column of `source`;
    /// materialised only when a consumer needs a real tensor.
    Zero { source: String, stride: usize },
    /// A node of the auxiliary head, which inference skips.
    Skipped,
}

/// Builds the nodes and initializers of the inference graph.
pub(crate) struct Emitter<'a> {
    graph: &'a Graph,
    weights: &'a Weights,
    plan: FoldPlan,
    values: Vec<Value>,
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    constants: HashSet<String>,
    materialised_zeros: HashMap<(String, usize), String>,
    /// `(source, stride)` of each ReLU that read a known zero and emitted no
    /// node, kept so that [`elided_relu_note`] can record them for counting.
    elided_relus: Vec<(String, usize)>,
}

impl<'a> Emitter<'a> {
    pub fn new(graph: &'a Graph, weights: &'a Weights) -> Self {
        Emitter {
            graph,
            weights,
            plan: FoldPlan::new(graph),
            values: Vec::with_capacity(graph.nodes.len()),
            nodes: Vec::new(),
            initializers: Vec::new(),
            constants: HashSet::new(),
            materialised_zeros: HashMap::new(),
            elided_relus: Vec::new(),
        }
    }

    /// Emits every inference node, then names the logits `logits`.
    pub fn run(&mut self, input_name: &str) -> Result<(), ExportError> {
        for id in 0..self.graph.nodes.len() {
            let value = if self.graph.nodes[id].scope == Scope::Auxiliary {
                Value::Skipped
            } else if id == 0 {
                Value::Named {
                    name: input_name.to_string(),
                    rank: 4,
                }
            } else {
                self.emit(id)?
            };
            self.values.push(value);
        }
        let logits = self.real_input(self.graph.logits)?;
        if logits != OUTPUT_NAME {
            let identity = node("Identity", OUTPUT_NAME, &[&logits], OUTPUT_NAME, vec![]);
            self.nodes.push(identity);
        }
        self.note_elided_relus();
        Ok(())
    }

    /// Appends an [`elided_relu_note`] for each ReLU that read a known zero
    /// to the `doc_string` of the node that produces the zero's source, or of
    /// the first node when the source is the graph input.
    fn note_elided_relus(&mut self) {
        for (source, stride) in std::mem::take(&mut self.elided_relus) {
            let producer = self
                .nodes
                .iter()
                .position(|n| n.output.contains(&source))
                .unwrap_or(0);
            let Some(node) = self.nodes.get_mut(producer) else {
                continue;
            };
            if !node.doc_string.is_empty() {
                node.doc_string.push('\n');
            }
            node.doc_string.push_str(&elided_relu_note(&source, stride));
        }
    }

    /// Rank of the ONNX logits value.
    pub fn logits_rank(&self) -> usize {
        match &self.values[self.graph.logits] {
            Value::Named { rank, .. } => *rank,
            _ => 4,
        }
    }

    fn emit(&mut self, id: NodeId) -> Result<Value, ExportError> {
        let node = &self.graph.nodes[id];
        let first = node.inputs[0];
        match &node.op {
            Op::Input => Err(invalid(format!("node {id} is a second input node"))),
            Op::Conv2d(conv) => self.conv(id, conv),
            Op::BatchNorm(_) if self.plan.folded_batch_norms.contains(&id) => {
                Ok(self.values[first].clone())
            }
            Op::BatchNorm(bn) => self.batch_norm(id, bn),
            Op::Relu => match &self.values[first] {
                Value::Zero { source, stride } => {
                    self.elided_relus.push((source.clone(), *stride));
                    Ok(self.values[first].clone())
                }
                _ => self.unary(id, "Relu", vec![]),
            },
            Op::MaxPool(pool) => self.unary_4d(id, "MaxPool", pool_attributes(pool)),
            Op::AvgPool {
                pool,
                count_include_pad,
            } => {
                let mut attributes = pool_attributes(pool);
                attributes.push(attr_int("count_include_pad", i64::from(*count_include_pad)));
                self.unary_4d(id, "AveragePool", attributes)
            }
            Op::Zero { stride } => self.zero(id, *stride),
            Op::ShiftCrop => self.shift_crop(id),
            Op::Add => self.add(id),
            Op::Concat => self.concat(id),
            Op::GlobalAvgPool => self.unary_4d(id, "GlobalAveragePool", vec![]),
            Op::Flatten => {
                let name = self.unary(id, "Flatten", vec![attr_int("axis", 1)])?;
                Ok(with_rank(name, 2))
            }
            Op::Linear(linear) => self.linear(id, linear),
            Op::MixedOp { .. } => Err(invalid(format!(
                "node {id} is a mixed operation of a search network; search networks cannot \
                 be exported, so export the derived genotype instead"
            ))),
        }
    }

    /// Name of node `id`'s output, materialising zeros; fails for skipped nodes.
    fn real_input(&mut self, id: NodeId) -> Result<String, ExportError> {
        match self.values[id].clone() {
            Value::Named { name, .. } => Ok(name),
            Value::Zero { source, stride } => self.materialise_zero(&source, stride),
            Value::Skipped => Err(invalid(format!(
                "node {id} belongs to the auxiliary head but an inference node reads it"
            ))),
        }
    }

    fn rank(&self, id: NodeId) -> usize {
        match &self.values[id] {
            Value::Named { rank, .. } => *rank,
            _ => 4,
        }
    }

    /// Fails unless node `id` is an NCHW value, as convolutions and pools need.
    fn require_4d(&self, id: NodeId, reader: NodeId) -> Result<(), ExportError> {
        if self.rank(id) != 4 {
            return Err(invalid(format!(
                "node {reader} ({:?}) needs an NCHW input but node {id} is flattened",
                self.graph.nodes[reader].op
            )));
        }
        Ok(())
    }

    fn output_name(&self, id: NodeId, default: String) -> String {
        if id == self.graph.logits {
            OUTPUT_NAME.to_string()
        } else {
            default
        }
    }

    fn unary(
        &mut self,
        id: NodeId,
        op_type: &str,
        attributes: Vec<onnx_protobuf::AttributeProto>,
    ) -> Result<Value, ExportError> {
        let input_id = self.graph.nodes[id].inputs[0];
        let input = self.real_input(input_id)?;
        let output = self.output_name(id, format!("{}_{id}", op_type.to_lowercase()));
        self.nodes
            .push(node(op_type, &output, &[&input], &output, attributes));
        Ok(Value::Named {
            name: output,
            rank: self.rank(input_id),
        })
    }

    fn unary_4d(
        &mut self,
        id: NodeId,
        op_type: &str,
        attributes: Vec<onnx_protobuf::AttributeProto>,
    ) -> Result<Value, ExportError> {
        self.require_4d(self.graph.nodes[id].inputs[0], id)?;
        self.unary(id, op_type, attributes)
    }

    fn conv(&mut self, id: NodeId, conv: &Conv2d) -> Result<Value, ExportError> {
        let input_id = self.graph.nodes[id].inputs[0];
        self.require_4d(input_id, id)?;
        let input = self.real_input(input_id)?;
        let (weight_name, bias_name) = self.conv_initializers(id, conv)?;
        let [ph, pw] = conv.padding.map(|p| p as i64);
        // A folded ShiftCrop leaves the zero row and column it would append to
        // the convolution's bottom and right padding.
        let extra = i64::from(self.plan.folded_shift_crops.contains(&input_id));
        let attributes = vec![
            attr_ints("kernel_shape", &to_i64(&conv.kernel)),
            attr_ints("strides", &to_i64(&conv.stride)),
            attr_ints("pads", &[ph, pw, ph + extra, pw + extra]),
            attr_ints("dilations", &to_i64(&conv.dilation)),
            attr_int("group", conv.groups as i64),
        ];
        let output = self.output_name(id, conv.name.clone());
        let mut inputs = vec![input.as_str(), weight_name.as_str()];
        if let Some(bias) = &bias_name {
            inputs.push(bias);
        }
        let mut conv_node = node("Conv", &output, &inputs, &output, attributes);
        if let Some(&(bn_id, _)) = self.plan.conv_targets.get(&id) {
            let Op::BatchNorm(bn) = &self.graph.nodes[bn_id].op else {
                unreachable!("the fold plan targets BatchNorm nodes only");
            };
            conv_node.doc_string = folded_batch_norm_note(bn, conv.bias);
        }
        self.nodes.push(conv_node);
        Ok(named(output, 4))
    }

    /// Adds the weight and optional bias of a convolution, folded with its
    /// BatchNorm when the fold plan lists the convolution, and returns their names.
    fn conv_initializers(
        &mut self,
        id: NodeId,
        conv: &Conv2d,
    ) -> Result<(String, Option<String>), ExportError> {
        let weight_shape = conv_weight_shape(conv);
        if let Some(&(bn_id, offset)) = self.plan.conv_targets.get(&id) {
            let Op::BatchNorm(bn) = &self.graph.nodes[bn_id].op else {
                unreachable!("the fold plan targets BatchNorm nodes only");
            };
            let affine = ChannelAffine::from_batch_norm(bn, self.weights)?;
            let (weight, bias) = fold_conv(conv, self.weights, &affine, offset)?;
            let weight_name = format!("{}.weight_folded", conv.name);
            let bias_name = format!("{}.bias_folded", conv.name);
            let doc = format!("folded with BatchNorm {}", bn.name);
            let mut weight_tensor = float_tensor(&weight_name, &weight_shape, &weight);
            weight_tensor.doc_string = doc.clone();
            let mut bias_tensor = float_tensor(&bias_name, &[conv.out_channels], &bias);
            bias_tensor.doc_string = doc;
            self.initializers.push(weight_tensor);
            self.initializers.push(bias_tensor);
            return Ok((weight_name, Some(bias_name)));
        }
        let weight_name = format!("{}.weight", conv.name);
        self.copy_initializer(&weight_name, &weight_shape)?;
        if !conv.bias {
            return Ok((weight_name, None));
        }
        let bias_name = format!("{}.bias", conv.name);
        self.copy_initializer(&bias_name, &[conv.out_channels])?;
        Ok((weight_name, Some(bias_name)))
    }

    /// Adds weight tensor `name` unchanged as an initializer.
    fn copy_initializer(&mut self, name: &str, shape: &[usize]) -> Result<(), ExportError> {
        let tensor = self.weights.require(name, shape)?;
        self.initializers
            .push(float_tensor(name, shape, &tensor.data));
        Ok(())
    }

    fn batch_norm(&mut self, id: NodeId, bn: &BatchNorm) -> Result<Value, ExportError> {
        let input_id = self.graph.nodes[id].inputs[0];
        let input = self.real_input(input_id)?;
        let c = [bn.channels];
        let (scale, bias) = if bn.affine {
            let scale = format!("{}.weight", bn.name);
            let bias = format!("{}.bias", bn.name);
            self.copy_initializer(&scale, &c)?;
            self.copy_initializer(&bias, &c)?;
            (scale, bias)
        } else {
            let scale = format!("{}.unit_scale", bn.name);
            let bias = format!("{}.zero_bias", bn.name);
            let ones = vec![1.0; bn.channels];
            let zeros = vec![0.0; bn.channels];
            self.initializers.push(float_tensor(&scale, &c, &ones));
            self.initializers.push(float_tensor(&bias, &c, &zeros));
            (scale, bias)
        };
        let mean = format!("{}.running_mean", bn.name);
        let var = format!("{}.running_var", bn.name);
        self.copy_initializer(&mean, &c)?;
        self.copy_initializer(&var, &c)?;
        let output = self.output_name(id, bn.name.clone());
        let inputs = [input.as_str(), &scale, &bias, &mean, &var];
        let epsilon = vec![attr_float("epsilon", bn.eps as f32)];
        let mut batch_norm = node("BatchNormalization", &output, &inputs, &output, epsilon);
        batch_norm.doc_string = batch_norm_note(bn);
        self.nodes.push(batch_norm);
        Ok(named(output, self.rank(input_id)))
    }

    fn zero(&mut self, id: NodeId, stride: usize) -> Result<Value, ExportError> {
        let input_id = self.graph.nodes[id].inputs[0];
        self.require_4d(input_id, id)?;
        let source = self.real_input(input_id)?;
        Ok(Value::Zero { source, stride })
    }

    /// Emits zeros shaped like every `stride`-th row and column of `source`:
    /// a strided Slice (for strides above 1), Shape, then ConstantOfShape, so
    /// the result is exactly zero even where `source` is infinite or NaN.
    fn materialise_zero(&mut self, source: &str, stride: usize) -> Result<String, ExportError> {
        let key = (source.to_string(), stride);
        if let Some(name) = self.materialised_zeros.get(&key) {
            return Ok(name.clone());
        }
        let base = format!("zeros_{}", self.materialised_zeros.len());
        let mut shaped = source.to_string();
        if stride > 1 {
            let steps = self.constant(&format!("slice_steps_{stride}"), &[stride as i64; 2]);
            let starts = self.constant("slice_starts_0", &[0, 0]);
            let ends = self.constant("slice_ends_max", &[TO_END, TO_END]);
            let axes = self.constant("slice_axes_hw", &[2, 3]);
            shaped = format!("{base}.strided");
            let inputs = [source, &starts, &ends, &axes, &steps];
            self.nodes
                .push(node("Slice", &shaped, &inputs, &shaped, vec![]));
        }
        let shape = format!("{base}.shape");
        self.nodes
            .push(node("Shape", &shape, &[&shaped], &shape, vec![]));
        let value = attr_tensor("value", float_tensor("", &[1], &[0.0]));
        let constant = node("ConstantOfShape", &base, &[&shape], &base, vec![value]);
        self.nodes.push(constant);
        self.materialised_zeros.insert(key, base.clone());
        Ok(base)
    }

    /// Adds a shared int64 constant initializer once and returns its name.
    fn constant(&mut self, name: &str, values: &[i64]) -> String {
        if self.constants.insert(name.to_string()) {
            let tensor = int64_tensor(name, &[values.len()], values);
            self.initializers.push(tensor);
        }
        name.to_string()
    }

    /// `y[i, j] = x[i + 1, j + 1]` with zeros past the bottom and right: a
    /// Slice from 1 on H and W, then a Pad of one row and column at the end
    /// unless every reader is a convolution that pads instead.
    fn shift_crop(&mut self, id: NodeId) -> Result<Value, ExportError> {
        let input_id = self.graph.nodes[id].inputs[0];
        self.require_4d(input_id, id)?;
        let input = self.real_input(input_id)?;
        let starts = self.constant("slice_starts_1", &[1, 1]);
        let ends = self.constant("slice_ends_max", &[TO_END, TO_END]);
        let axes = self.constant("slice_axes_hw", &[2, 3]);
        let sliced = format!("shift_crop_{id}.slice");
        let inputs = [input.as_str(), &starts, &ends, &axes];
        self.nodes
            .push(node("Slice", &sliced, &inputs, &sliced, vec![]));
        if self.plan.folded_shift_crops.contains(&id) {
            return Ok(named(sliced, 4));
        }
        // Pad takes [begin of each axis..., end of each axis...] for NCHW.
        let pads = self.constant("pads_end_hw_1", &[0, 0, 0, 0, 0, 0, 1, 1]);
        let output = self.output_name(id, format!("shift_crop_{id}"));
        self.nodes
            .push(node("Pad", &output, &[&sliced, &pads], &output, vec![]));
        Ok(named(output, 4))
    }

    /// Sums the inputs that are not known zeros; drops the Add when one remains.
    fn add(&mut self, id: NodeId) -> Result<Value, ExportError> {
        let inputs = self.graph.nodes[id].inputs.clone();
        let live: Vec<NodeId> = inputs
            .iter()
            .copied()
            .filter(|&i| !matches!(self.values[i], Value::Zero { .. }))
            .collect();
        match live.as_slice() {
            [] => Ok(self.values[inputs[0]].clone()),
            [single] => Ok(self.values[*single].clone()),
            _ => self.variadic(
                id,
                &live,
                if live.len() == 2 { "Add" } else { "Sum" },
                vec![],
            ),
        }
    }

    fn concat(&mut self, id: NodeId) -> Result<Value, ExportError> {
        let inputs = self.graph.nodes[id].inputs.clone();
        self.variadic(id, &inputs, "Concat", vec![attr_int("axis", 1)])
    }

    /// Emits an op over several inputs of equal rank.
    fn variadic(
        &mut self,
        id: NodeId,
        inputs: &[NodeId],
        op_type: &str,
        attributes: Vec<onnx_protobuf::AttributeProto>,
    ) -> Result<Value, ExportError> {
        let rank = self.rank(inputs[0]);
        if inputs.iter().any(|&i| self.rank(i) != rank) {
            return Err(invalid(format!(
                "node {id} ({op_type}) mixes flattened and NCHW inputs"
            )));
        }
        let names = inputs
            .iter()
            .map(|&i| self.real_input(i))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let output = self.output_name(id, format!("{}_{id}", op_type.to_lowercase()));
        self.nodes
            .push(node(op_type, &output, &refs, &output, attributes));
        Ok(named(output, rank))
    }

    /// Emits Gemm with `transB = 1`, flattening an NCHW input first.
    fn linear(&mut self, id: NodeId, linear: &Linear) -> Result<Value, ExportError> {
        let input_id = self.graph.nodes[id].inputs[0];
        let mut input = self.real_input(input_id)?;
        if self.rank(input_id) != 2 {
            let flat = format!("{}.flatten", linear.name);
            let axis = vec![attr_int("axis", 1)];
            self.nodes
                .push(node("Flatten", &flat, &[&input], &flat, axis));
            input = flat;
        }
        let weight = format!("{}.weight", linear.name);
        let bias = format!("{}.bias", linear.name);
        self.copy_initializer(&weight, &[linear.out_features, linear.in_features])?;
        self.copy_initializer(&bias, &[linear.out_features])?;
        let output = self.output_name(id, linear.name.clone());
        let trans_b = vec![attr_int("transB", 1)];
        let gemm = node("Gemm", &output, &[&input, &weight, &bias], &output, trans_b);
        self.nodes.push(gemm);
        Ok(named(output, 2))
    }
}

// Counting notes. The published parameter and MAC counts describe the
// network before BatchNorm folding and zero elision, so the emitter records
// what it removed in node `doc_string`s (ONNX Runtime ignores them) and
// `serve info` recovers the published counts from the graph alone. Each note
// is one line: fixed words, then `key=value` fields in a fixed order, and the
// last field takes the rest of the line, so names may contain spaces. The
// format is documented in docs/counting.md, so keep the two in step.

/// Formats the note on a Conv node that absorbed a BatchNorm:
/// `folded BatchNorm2d affine=<true|false> conv_bias=<true|false> name=<bn>`.
/// `conv_bias` is whether the convolution had a bias of its own before folding.
pub(crate) fn folded_batch_norm_note(bn: &BatchNorm, conv_bias: bool) -> String {
    format!(
        "folded BatchNorm2d affine={} conv_bias={conv_bias} name={}",
        bn.affine, bn.name
    )
}

/// Formats the note on a BatchNormalization node:
/// `BatchNorm2d affine=<true|false> name=<bn>`. A non-affine layer still gets
/// unit scale and zero bias initializers, so only this note shows that it has
/// no learnable parameters.
pub(crate) fn batch_norm_note(bn: &BatchNorm) -> String {
    format!("BatchNorm2d affine={} name={}", bn.affine, bn.name)
}

/// Formats the note for a ReLU that read a known zero and so emitted no node:
/// `elided Relu stride=<s> zeros_of=<value>`. The zeros are shaped like every
/// `s`-th row and column of the ONNX value `<value>`.
pub(crate) fn elided_relu_note(source: &str, stride: usize) -> String {
    format!("elided Relu stride={stride} zeros_of={source}")
}

fn pool_attributes(pool: &Pool) -> Vec<onnx_protobuf::AttributeProto> {
    let [k, s, p] = [pool.kernel, pool.stride, pool.padding].map(|v| v as i64);
    vec![
        attr_ints("kernel_shape", &[k, k]),
        attr_ints("strides", &[s, s]),
        attr_ints("pads", &[p, p, p, p]),
    ]
}

fn with_rank(value: Value, rank: usize) -> Value {
    match value {
        Value::Named { name, .. } => Value::Named { name, rank },
        other => other,
    }
}

fn named(name: String, rank: usize) -> Value {
    Value::Named { name, rank }
}

fn to_i64(values: &[usize; 2]) -> [i64; 2] {
    values.map(|v| v as i64)
}

fn invalid(message: String) -> ExportError {
    ExportError::InvalidModel { message }
}

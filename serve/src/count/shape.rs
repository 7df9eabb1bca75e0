//! Shape inference for the ONNX operators that `export` writes, with batch 1.
//!
//! Errors are plain messages, and the caller adds the node and operator.

use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{AttributeProto, NodeProto, TensorProto};
use protobuf::Enum;

/// A value's shape for a batch of one image, and its contents when it is a
/// small integer tensor known before the model runs (an int64 initializer, a
/// Constant or a Shape output). Slice, Pad and ConstantOfShape read those.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Value {
    pub shape: Vec<u64>,
    pub ints: Option<Vec<i64>>,
}

impl Value {
    /// Builds a value of unknown contents, checking that its element count fits in `u64`.
    pub fn new(shape: Vec<u64>) -> Result<Self, String> {
        checked_product(&shape)?;
        Ok(Value { shape, ints: None })
    }

    /// Returns the number of elements, which [`Value::new`] has checked to fit.
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Builds the value of an initializer or Constant tensor.
    pub fn of_tensor(tensor: &TensorProto) -> Result<Self, String> {
        let shape = tensor
            .dims
            .iter()
            .map(|&d| u64::try_from(d).map_err(|_| format!("dimension {d} is negative")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut value = Value::new(shape)?;
        value.ints = tensor_ints(tensor).filter(|ints| ints.len() as u64 == value.elements());
        Ok(value)
    }
}

/// Operators the counter supports: those `export` writes, plus a few of the
/// same kinds (GlobalMaxPool, Sum, Mul, Constant) that need no new rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operator {
    Conv,
    BatchNormalization,
    Relu,
    MaxPool,
    AveragePool,
    GlobalAveragePool,
    GlobalMaxPool,
    Flatten,
    Gemm,
    Add,
    Sum,
    Mul,
    Concat,
    Slice,
    Pad,
    Shape,
    ConstantOfShape,
    Constant,
    Identity,
}

impl Operator {
    pub const ALL: [Operator; 19] = [
        Operator::Conv,
        Operator::BatchNormalization,
        Operator::Relu,
        Operator::MaxPool,
        Operator::AveragePool,
        Operator::GlobalAveragePool,
        Operator::GlobalMaxPool,
        Operator::Flatten,
        Operator::Gemm,
        Operator::Add,
        Operator::Sum,
        Operator::Mul,
        Operator::Concat,
        Operator::Slice,
        Operator::Pad,
        Operator::Shape,
        Operator::ConstantOfShape,
        Operator::Constant,
        Operator::Identity,
    ];

    /// Returns the ONNX `op_type`.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Conv => "Conv",
            Operator::BatchNormalization => "BatchNormalization",
            Operator::Relu => "Relu",
            Operator::MaxPool => "MaxPool",
            Operator::AveragePool => "AveragePool",
            Operator::GlobalAveragePool => "GlobalAveragePool",
            Operator::GlobalMaxPool => "GlobalMaxPool",
            Operator::Flatten => "Flatten",
            Operator::Gemm => "Gemm",
            Operator::Add => "Add",
            Operator::Sum => "Sum",
            Operator::Mul => "Mul",
            Operator::Concat => "Concat",
            Operator::Slice => "Slice",
            Operator::Pad => "Pad",
            Operator::Shape => "Shape",
            Operator::ConstantOfShape => "ConstantOfShape",
            Operator::Constant => "Constant",
            Operator::Identity => "Identity",
        }
    }

    /// Finds the operator of a node in the default (`ai.onnx`) domain.
    pub fn of_node(node: &NodeProto) -> Option<Self> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return None;
        }
        Operator::ALL
            .into_iter()
            .find(|op| op.name() == node.op_type)
    }

    /// Returns whether input `index` is tensor data rather than a shape,
    /// index or padding constant. Only data inputs contain parameters.
    pub fn reads_data(self, index: usize) -> bool {
        match self {
            Operator::Slice | Operator::Pad => index == 0,
            Operator::Shape | Operator::ConstantOfShape | Operator::Constant => false,
            _ => true,
        }
    }
}

/// Infers the output of `node` from its inputs (`None` for an omitted
/// optional input). Every output of the node gets this value.
pub(crate) fn infer(
    op: Operator,
    node: &NodeProto,
    inputs: &[Option<&Value>],
) -> Result<Value, String> {
    let attributes = Attributes(node);
    match op {
        Operator::Conv => conv(&attributes, inputs),
        Operator::BatchNormalization => batch_norm(&attributes, node, inputs),
        Operator::Relu => Value::new(input(inputs, 0, "X")?.shape.clone()),
        Operator::Identity => Ok(input(inputs, 0, "input")?.clone()),
        Operator::MaxPool | Operator::AveragePool => pool(&attributes, inputs),
        Operator::GlobalAveragePool | Operator::GlobalMaxPool => global_pool(inputs),
        Operator::Flatten => flatten(&attributes, inputs),
        Operator::Gemm => gemm(&attributes, inputs),
        Operator::Add | Operator::Sum | Operator::Mul => broadcast(inputs),
        Operator::Concat => concat(&attributes, inputs),
        Operator::Slice => slice(&attributes, inputs),
        Operator::Pad => pad(&attributes, inputs),
        Operator::Shape => shape(&attributes, inputs),
        Operator::ConstantOfShape => constant_of_shape(inputs),
        Operator::Constant => constant(&attributes),
    }
}

/// Returns input `index`, which the operator requires.
pub(crate) fn input<'v>(
    inputs: &[Option<&'v Value>],
    index: usize,
    input_name: &str,
) -> Result<&'v Value, String> {
    inputs
        .get(index)
        .copied()
        .flatten()
        .ok_or_else(|| format!("input {index} ({input_name}) is missing"))
}

fn conv(attributes: &Attributes, inputs: &[Option<&Value>]) -> Result<Value, String> {
    let x = input(inputs, 0, "X")?;
    let w = input(inputs, 1, "W")?;
    let rank = x.shape.len();
    if rank < 3 || w.shape.len() != rank {
        return Err(format!(
            "input X has shape {:?} and weight W {:?}, but Conv needs [N, C, spatial...] and \
             a weight of the same rank",
            x.shape, w.shape
        ));
    }

    let out_channels = w.shape[0];
    check_conv_channels(attributes, x, w)?;
    if let Some(bias) = inputs.get(2).copied().flatten() {
        if bias.shape != [out_channels] {
            return Err(format!(
                "bias B has shape {:?} but W has {out_channels} output channels",
                bias.shape
            ));
        }
    }

    let kernel = &w.shape[2..];
    if let Some(declared) = attributes.ints("kernel_shape") {
        let matches = declared
            .iter()
            .map(|&k| k as u64)
            .eq(kernel.iter().copied());
        if !matches {
            return Err(format!(
                "kernel_shape {declared:?} does not match weight W {:?}",
                w.shape
            ));
        }
    }
    let spatial = window_output(attributes, &x.shape[2..], kernel)?;
    Value::new([&[x.shape[0], out_channels][..], &spatial].concat())
}

/// Checks that `group` divides the channels of input X and weight W evenly.
fn check_conv_channels(attributes: &Attributes, x: &Value, w: &Value) -> Result<(), String> {
    let group = attributes.int("group", 1);
    let group = u64::try_from(group)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| format!("group {group} is not a positive integer"))?;
    let (channels, out_channels) = (x.shape[1], w.shape[0]);
    if w.shape[1].checked_mul(group) != Some(channels) || out_channels % group != 0 {
        return Err(format!(
            "input X has {channels} channels, which does not match weight W {:?} with group \
             {group}",
            w.shape
        ));
    }
    Ok(())
}

fn batch_norm(
    attributes: &Attributes,
    node: &NodeProto,
    inputs: &[Option<&Value>],
) -> Result<Value, String> {
    let x = input(inputs, 0, "X")?;
    if attributes.int("training_mode", 0) != 0 || node.output.len() > 1 {
        let message = "training mode is not supported, because counts cover inference graphs only";
        return Err(message.to_owned());
    }
    if x.shape.len() < 2 {
        return Err(format!(
            "input X has shape {:?}; expected [N, C, ...]",
            x.shape
        ));
    }
    let channels = x.shape[1];
    for (index, input_name) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
        let value = input(inputs, index, input_name)?;
        if value.shape != [channels] {
            return Err(format!(
                "input {index} ({input_name}) has shape {:?} but X has {channels} channels",
                value.shape
            ));
        }
    }
    Value::new(x.shape.clone())
}

fn pool(attributes: &Attributes, inputs: &[Option<&Value>]) -> Result<Value, String> {
    let x = input(inputs, 0, "X")?;
    if x.shape.len() < 3 {
        return Err(format!(
            "input X has shape {:?}; expected [N, C, spatial...]",
            x.shape
        ));
    }
    if attributes.int("ceil_mode", 0) != 0 {
        return Err("ceil_mode=1 is not supported; only floor rounding of output sizes is".into());
    }
    let kernel = attributes
        .ints("kernel_shape")
        .ok_or("attribute kernel_shape is missing")?;
    let kernel = kernel
        .iter()
        .map(|&k| u64::try_from(k).ok().filter(|&k| k >= 1))
        .collect::<Option<Vec<u64>>>()
        .filter(|k| k.len() == x.shape.len() - 2)
        .ok_or_else(|| format!("kernel_shape {kernel:?} does not fit input X {:?}", x.shape))?;
    let spatial = window_output(attributes, &x.shape[2..], &kernel)?;
    Value::new([&x.shape[..2], &spatial].concat())
}

/// Output sizes of a sliding window over `input` (the spatial axes): from
/// `strides`, `dilations`, `pads` and `auto_pad`, rounding down.
fn window_output(
    attributes: &Attributes,
    input: &[u64],
    kernel: &[u64],
) -> Result<Vec<u64>, String> {
    let axes = input.len();
    let strides = attributes.positive_ints("strides", axes)?;
    let dilations = attributes.positive_ints("dilations", axes)?;
    let pads = match attributes.ints("pads") {
        None => vec![0; 2 * axes],
        Some(pads) if pads.len() == 2 * axes && pads.iter().all(|&p| p >= 0) => {
            pads.iter().map(|&p| p as u64).collect()
        }
        Some(pads) => {
            return Err(format!(
                "pads {pads:?} must hold {} non-negative values",
                2 * axes
            ))
        }
    };
    let auto_pad = attributes
        .string("auto_pad")
        .unwrap_or_else(|| "NOTSET".into());
    let mut output = Vec::with_capacity(axes);
    for axis in 0..axes {
        let (size, stride) = (input[axis], strides[axis]);
        let padded = match auto_pad.as_str() {
            "NOTSET" => size
                .checked_add(pads[axis])
                .and_then(|s| s.checked_add(pads[axis + axes]))
                .ok_or("pads overflow")?,
            "VALID" => size,
            "SAME_UPPER" | "SAME_LOWER" => {
                output.push(size.div_ceil(stride));
                continue;
            }
            other => return Err(format!("auto_pad {other:?} is not a valid ONNX value")),
        };
        let span = dilations[axis]
            .checked_mul(kernel[axis].saturating_sub(1))
            .and_then(|s| s.checked_add(1))
            .ok_or("dilations overflow")?;
        if padded < span {
            return Err(format!(
                "the window spans {span} elements on axis {} but the padded input has {padded}",
                axis + 2
            ));
        }
        output.push((padded - span) / stride + 1);
    }
    Ok(output)
}

fn global_pool(inputs: &[Option<&Value>]) -> Result<Value, String> {
    let x = input(inputs, 0, "X")?;
    if x.shape.len() < 3 {
        return Err(format!(
            "input X has shape {:?}; expected [N, C, spatial...]",
            x.shape
        ));
    }
    let mut shape = x.shape[..2].to_vec();
    shape.resize(x.shape.len(), 1);
    Value::new(shape)
}

fn flatten(attributes: &Attributes, inputs: &[Option<&Value>]) -> Result<Value, String> {
    let x = input(inputs, 0, "input")?;
    let axis = normalize_axis(attributes.int("axis", 1), x.shape.len() + 1)?;
    let outer = x.shape[..axis].iter().product();
    let inner = x.shape[axis..].iter().product();
    Value::new(vec![outer, inner])
}

fn gemm(attributes: &Attributes, inputs: &[Option<&Value>]) -> Result<Value, String> {
    let a = input(inputs, 0, "A")?;
    let b = input(inputs, 1, "B")?;
    let (Ok([a0, a1]), Ok([b0, b1])) = (
        <[u64; 2]>::try_from(a.shape.as_slice()),
        <[u64; 2]>::try_from(b.shape.as_slice()),
    ) else {
        return Err(format!(
            "inputs A {:?} and B {:?} must both have rank 2",
            a.shape, b.shape
        ));
    };
    let (m, k) = if attributes.int("transA", 0) != 0 {
        (a1, a0)
    } else {
        (a0, a1)
    };
    let (k_b, n) = if attributes.int("transB", 0) != 0 {
        (b1, b0)
    } else {
        (b0, b1)
    };
    if k != k_b {
        return Err(format!(
            "A {:?} and B {:?} disagree on the inner dimension after transA and transB",
            a.shape, b.shape
        ));
    }
    if let Some(c) = inputs.get(2).copied().flatten() {
        broadcast_shapes(&c.shape, &[m, n])
            .filter(|shape| shape == &[m, n])
            .ok_or_else(|| format!("C {:?} does not broadcast to [{m}, {n}]", c.shape))?;
    }
    Value::new(vec![m, n])
}

fn broadcast(inputs: &[Option<&Value>]) -> Result<Value, String> {
    let first = input(inputs, 0, "A")?;
    let mut shape = first.shape.clone();
    for (index, value) in inputs.iter().enumerate().skip(1) {
        let value = value.ok_or_else(|| format!("input {index} is missing"))?;
        shape = broadcast_shapes(&shape, &value.shape).ok_or_else(|| {
            format!(
                "input {index} {:?} does not broadcast with {shape:?}",
                value.shape
            )
        })?;
    }
    Value::new(shape)
}

/// Multidirectional (NumPy) broadcasting of two shapes.
fn broadcast_shapes(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    let rank = a.len().max(b.len());
    let dim = |shape: &[u64], i: usize| {
        (i + shape.len())
            .checked_sub(rank)
            .map_or(1, |index| shape[index])
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

fn concat(attributes: &Attributes, inputs: &[Option<&Value>]) -> Result<Value, String> {
    let first = input(inputs, 0, "inputs")?;
    let rank = first.shape.len();
    let axis = attributes.get("axis").ok_or("attribute axis is missing")?.i;
    let axis = normalize_axis(axis, rank)?;
    let mut shape = first.shape.clone();
    for (index, value) in inputs.iter().enumerate().skip(1) {
        let value = value.ok_or_else(|| format!("input {index} is missing"))?;
        let compatible =
            value.shape.len() == rank && (0..rank).all(|i| i == axis || value.shape[i] == shape[i]);
        if !compatible {
            return Err(format!(
                "input {index} {:?} does not match {:?} outside axis {axis}",
                value.shape, first.shape
            ));
        }
        shape[axis] = shape[axis]
            .checked_add(value.shape[axis])
            .ok_or("sizes overflow")?;
    }
    Value::new(shape)
}

fn slice(attributes: &Attributes, inputs: &[Option<&Value>]) -> Result<Value, String> {
    let data = input(inputs, 0, "data")?;
    let rank = data.shape.len();
    // Opset 1 to 9 take the parameters as attributes, later opsets as inputs.
    let from_attributes = attributes.get("starts").is_some();
    let parameter = |index: usize, name: &str| -> Result<Option<Vec<i64>>, String> {
        if from_attributes {
            return Ok(attributes.ints(name).map(<[i64]>::to_vec));
        }
        constant_ints(inputs, index, name)
    };
    let starts = parameter(1, "starts")?.ok_or("starts are missing")?;
    let ends = parameter(2, "ends")?.ok_or("ends are missing")?;
    let axes = parameter(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = parameter(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    let count = starts.len();
    if ends.len() != count || axes.len() != count || steps.len() != count {
        return Err(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
        ));
    }
    let mut shape = data.shape.clone();
    for i in 0..count {
        let axis = normalize_axis(axes[i], rank)?;
        shape[axis] = sliced_length(shape[axis], starts[i], ends[i], steps[i])?;
    }
    Value::new(shape)
}

/// Length of `start..end` by `step` on an axis of `size`, with the ONNX
/// Slice rules: negative bounds count from the end, then bounds are clamped.
fn sliced_length(size: u64, start: i64, end: i64, step: i64) -> Result<u64, String> {
    if step == 0 {
        return Err("a step is 0".to_owned());
    }
    if size == 0 {
        return Ok(0);
    }
    let size = i128::from(size);
    let resolve = |bound: i64| {
        let bound = i128::from(bound);
        if bound < 0 {
            bound + size
        } else {
            bound
        }
    };
    let (start, end, step) = (resolve(start), resolve(end), i128::from(step));
    let (span, step) = if step > 0 {
        let (start, end) = (start.clamp(0, size), end.clamp(0, size));
        (end - start, step)
    } else {
        let (start, end) = (start.clamp(0, size - 1), end.clamp(-1, size - 1));
        (start - end, -step)
    };
    // Rounds span / step up. Both are non-negative once span is clamped at 0.
    let length = (span.max(0) + step - 1) / step;
    Ok(length as u64)
}

fn pad(attributes: &Attributes, inputs: &[Option<&Value>]) -> Result<Value, String> {
    let data = input(inputs, 0, "data")?;
    let rank = data.shape.len();
    // Opset 1 to 10 take `pads` as an attribute, later opsets as input 1.
    let pads = match attributes.ints("pads") {
        Some(pads) => pads.to_vec(),
        None => constant_ints(inputs, 1, "pads")?.ok_or("pads are missing")?,
    };
    let axes = match constant_ints(inputs, 3, "axes")? {
        Some(axes) => axes
            .iter()
            .map(|&a| normalize_axis(a, rank))
            .collect::<Result<Vec<_>, _>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!(
            "pads {pads:?} must hold two values for each of the {} padded axes",
            axes.len()
        ));
    }
    let mut shape = data.shape.clone();
    for (i, &axis) in axes.iter().enumerate() {
        let size = i128::from(shape[axis]) + i128::from(pads[i]) + i128::from(pads[i + axes.len()]);
        shape[axis] = u64::try_from(size)
            .map_err(|_| format!("pads {pads:?} leave axis {axis} with size {size}"))?;
    }
    Value::new(shape)
}

fn shape(attributes: &Attributes, inputs: &[Option<&Value>]) -> Result<Value, String> {
    let data = input(inputs, 0, "data")?;
    let rank = data.shape.len() as i64;
    let clamp = |bound: i64| {
        let resolved = if bound < 0 {
            bound.saturating_add(rank)
        } else {
            bound
        };
        resolved.clamp(0, rank) as usize
    };
    let start = clamp(attributes.int("start", 0));
    let end = clamp(attributes.int("end", rank));
    let dims: Vec<u64> = data.shape[start..end.max(start)].to_vec();
    let ints = dims.iter().map(|&d| d as i64).collect();
    Ok(Value {
        shape: vec![dims.len() as u64],
        ints: Some(ints),
    })
}

fn constant_of_shape(inputs: &[Option<&Value>]) -> Result<Value, String> {
    let dims = constant_ints(inputs, 0, "input")?.ok_or("input 0 (input) is missing")?;
    let shape = dims
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| format!("shape {dims:?} has a negative size")))
        .collect::<Result<Vec<_>, _>>()?;
    Value::new(shape)
}

fn constant(attributes: &Attributes) -> Result<Value, String> {
    if let Some(attribute) = attributes.get("value") {
        let tensor = attribute
            .t
            .as_ref()
            .ok_or("attribute value holds no tensor")?;
        return Value::of_tensor(tensor);
    }
    if let Some(attribute) = attributes.get("value_int") {
        return Ok(Value {
            shape: vec![],
            ints: Some(vec![attribute.i]),
        });
    }
    if let Some(attribute) = attributes.get("value_ints") {
        return Ok(Value {
            shape: vec![attribute.ints.len() as u64],
            ints: Some(attribute.ints.clone()),
        });
    }
    if attributes.get("value_float").is_some() {
        return Value::new(vec![]);
    }
    if let Some(attribute) = attributes.get("value_floats") {
        return Value::new(vec![attribute.floats.len() as u64]);
    }
    Err("only value, value_int, value_ints, value_float and value_floats are supported".into())
}

/// Returns the known integer contents of optional input `index`, `None`
/// when the input is omitted, and an error when it is computed at run time.
fn constant_ints(
    inputs: &[Option<&Value>],
    index: usize,
    input_name: &str,
) -> Result<Option<Vec<i64>>, String> {
    let Some(value) = inputs.get(index).copied().flatten() else {
        return Ok(None);
    };
    match &value.ints {
        Some(ints) => Ok(Some(ints.clone())),
        None => Err(format!(
            "input {index} ({input_name}) is not a constant integer tensor; only constant values are \
             supported"
        )),
    }
}

/// Maps `axis` in `[-rank, rank)` to `[0, rank)`.
fn normalize_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let rank_i64 = rank as i64;
    let resolved = if axis < 0 { axis + rank_i64 } else { axis };
    if (0..rank_i64).contains(&resolved) {
        Ok(resolved as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

fn checked_product(shape: &[u64]) -> Result<u64, String> {
    shape
        .iter()
        .try_fold(1u64, |total, &d| total.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} has more elements than fit in 64 bits"))
}

/// Returns the contents of an int64 or int32 tensor, or `None` for other
/// element types.
pub(crate) fn tensor_ints(tensor: &TensorProto) -> Option<Vec<i64>> {
    let data_type = DataType::from_i32(tensor.data_type);
    match data_type {
        Some(DataType::INT64) if !tensor.raw_data.is_empty() => Some(
            tensor
                .raw_data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("chunks of 8 bytes")))
                .collect(),
        ),
        Some(DataType::INT64) => Some(tensor.int64_data.clone()),
        Some(DataType::INT32) if !tensor.raw_data.is_empty() => Some(
            tensor
                .raw_data
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes(b.try_into().expect("chunks of 4 bytes"))))
                .collect(),
        ),
        Some(DataType::INT32) => Some(tensor.int32_data.iter().map(|&v| i64::from(v)).collect()),
        _ => None,
    }
}

/// Returns whether a tensor contains floating-point values (weights rather than indices).
pub(crate) fn is_floating(tensor: &TensorProto) -> bool {
    matches!(
        DataType::from_i32(tensor.data_type),
        Some(DataType::FLOAT | DataType::FLOAT16 | DataType::DOUBLE | DataType::BFLOAT16)
    )
}

/// Attribute lookup on one node.
struct Attributes<'a>(&'a NodeProto);

impl<'a> Attributes<'a> {
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }

    fn ints(&self, name: &str) -> Option<&'a [i64]> {
        self.get(name).map(|a| a.ints.as_slice())
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    /// Reads `name` as one positive integer per spatial axis, 1s when absent.
    fn positive_ints(&self, name: &str, axes: usize) -> Result<Vec<u64>, String> {
        let Some(values) = self.ints(name) else {
            return Ok(vec![1; axes]);
        };
        values
            .iter()
            .map(|&v| u64::try_from(v).ok().filter(|&v| v >= 1))
            .collect::<Option<Vec<u64>>>()
            .filter(|values| values.len() == axes)
            .ok_or_else(|| format!("{name} {values:?} must hold {axes} positive values"))
    }
}

//! Naive single-image evaluators for tests: one runs a `models::Graph` by its
//! definition (BatchNorm unfolded, ShiftCrop and Zero as documented), the
//! other runs the subset of ONNX that the exporter writes. Both compute in f64.

#![allow(dead_code)]

use std::collections::HashMap;

use export::Weights;
use models::graph::{Conv2d, Graph, Op, Scope};
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{AttributeProto, ModelProto, NodeProto, TensorProto};

/// A `[channels, height, width]` feature map of one image; flattened values
/// use height = width = 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f64>,
}

impl Map {
    pub fn zeros(c: usize, h: usize, w: usize) -> Self {
        Map {
            c,
            h,
            w,
            data: vec![0.0; c * h * w],
        }
    }

    pub fn at(&self, c: usize, y: usize, x: usize) -> f64 {
        self.data[(c * self.h + y) * self.w + x]
    }

    fn set(&mut self, c: usize, y: usize, x: usize, value: f64) {
        self.data[(c * self.h + y) * self.w + x] = value;
    }

    /// Returns the value at signed coordinates, `None` outside the map.
    fn get(&self, c: usize, y: i64, x: i64) -> Option<f64> {
        let inside = y >= 0 && x >= 0 && (y as usize) < self.h && (x as usize) < self.w;
        inside.then(|| self.at(c, y as usize, x as usize))
    }
}

/// Creates a deterministic pseudo-random map with values in [-1, 1).
pub fn random_map(shape: [usize; 3], seed: u64) -> Map {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data = (0..shape.iter().product::<usize>())
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Map {
        c: shape[0],
        h: shape[1],
        w: shape[2],
        data,
    }
}

/// Convolution geometry; `pads` is `[top, left, bottom, right]`.
#[derive(Clone, Copy, Debug)]
pub struct ConvGeometry {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pads: [usize; 4],
    pub dilation: [usize; 2],
    pub groups: usize,
}

/// Direct 2-D convolution with zero padding; `weight` is `[out, in / groups, kh, kw]`.
pub fn conv2d(x: &Map, weight: &[f64], bias: Option<&[f64]>, out: usize, g: ConvGeometry) -> Map {
    let [kh, kw] = g.kernel;
    let span = |size: usize, pad_begin: usize, pad_end: usize, k: usize, s: usize, d: usize| {
        (size + pad_begin + pad_end - (d * (k - 1) + 1)) / s + 1
    };
    let oh = span(x.h, g.pads[0], g.pads[2], kh, g.stride[0], g.dilation[0]);
    let ow = span(x.w, g.pads[1], g.pads[3], kw, g.stride[1], g.dilation[1]);
    let in_per_group = x.c / g.groups;
    let out_per_group = out / g.groups;
    let mut y = Map::zeros(out, oh, ow);
    for o in 0..out {
        let group = o / out_per_group;
        for oy in 0..oh {
            for ox in 0..ow {
                let mut sum = bias.map_or(0.0, |b| b[o]);
                for i in 0..in_per_group {
                    let channel = group * in_per_group + i;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy =
                                (oy * g.stride[0] + ky * g.dilation[0]) as i64 - g.pads[0] as i64;
                            let ix =
                                (ox * g.stride[1] + kx * g.dilation[1]) as i64 - g.pads[1] as i64;
                            if let Some(v) = x.get(channel, iy, ix) {
                                let wi = ((o * in_per_group + i) * kh + ky) * kw + kx;
                                sum += weight[wi] * v;
                            }
                        }
                    }
                }
                y.set(o, oy, ox, sum);
            }
        }
    }
    y
}

/// Inference BatchNorm: `(x - mean) / sqrt(var + eps) * gamma + beta`.
pub fn batch_norm(
    x: &Map,
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> Map {
    let mut y = x.clone();
    let plane = x.h * x.w;
    for c in 0..x.c {
        let inv = 1.0 / (var[c] + eps).sqrt();
        for v in &mut y.data[c * plane..(c + 1) * plane] {
            *v = (*v - mean[c]) * inv * gamma[c] + beta[c];
        }
    }
    y
}

/// Max or average pooling over a square window with symmetric padding.
pub fn pool(x: &Map, k: usize, s: usize, p: usize, average: Option<bool>) -> Map {
    let out = |size: usize| (size + 2 * p - k) / s + 1;
    let mut y = Map::zeros(x.c, out(x.h), out(x.w));
    for c in 0..x.c {
        for oy in 0..y.h {
            for ox in 0..y.w {
                let mut values = Vec::new();
                let mut window = 0;
                for ky in 0..k {
                    for kx in 0..k {
                        window += 1;
                        let iy = (oy * s + ky) as i64 - p as i64;
                        let ix = (ox * s + kx) as i64 - p as i64;
                        values.extend(x.get(c, iy, ix));
                    }
                }
                let value = match average {
                    None => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    Some(true) => values.iter().sum::<f64>() / window as f64,
                    Some(false) => values.iter().sum::<f64>() / values.len() as f64,
                };
                y.set(c, oy, ox, value);
            }
        }
    }
    y
}

fn relu(x: &Map) -> Map {
    let mut y = x.clone();
    y.data.iter_mut().for_each(|v| *v = v.max(0.0));
    y
}

fn add(inputs: &[&Map]) -> Map {
    let mut y = inputs[0].clone();
    for other in &inputs[1..] {
        y.data
            .iter_mut()
            .zip(&other.data)
            .for_each(|(a, b)| *a += b);
    }
    y
}

fn concat(inputs: &[&Map]) -> Map {
    let c = inputs.iter().map(|m| m.c).sum();
    let data = inputs.iter().flat_map(|m| m.data.iter().copied()).collect();
    Map {
        c,
        h: inputs[0].h,
        w: inputs[0].w,
        data,
    }
}

fn global_average(x: &Map) -> Map {
    let plane = x.h * x.w;
    let data = x
        .data
        .chunks(plane)
        .map(|p| p.iter().sum::<f64>() / plane as f64)
        .collect();
    Map {
        c: x.c,
        h: 1,
        w: 1,
        data,
    }
}

fn flatten(x: &Map) -> Map {
    Map {
        c: x.data.len(),
        h: 1,
        w: 1,
        data: x.data.clone(),
    }
}

/// `y = W x + b` with `W` as `[out, in]`.
fn linear(x: &Map, weight: &[f64], bias: &[f64]) -> Map {
    let inputs = x.data.len();
    let data = bias
        .iter()
        .enumerate()
        .map(|(o, b)| {
            b + (0..inputs)
                .map(|i| weight[o * inputs + i] * x.data[i])
                .sum::<f64>()
        })
        .collect();
    Map {
        c: bias.len(),
        h: 1,
        w: 1,
        data,
    }
}

fn tensor(weights: &Weights, name: &str) -> Vec<f64> {
    let tensor = weights
        .get(name)
        .unwrap_or_else(|| panic!("weights lack `{name}`"));
    tensor.data.iter().map(|&v| f64::from(v)).collect()
}

fn graph_conv(x: &Map, conv: &Conv2d, weights: &Weights) -> Map {
    let weight = tensor(weights, &format!("{}.weight", conv.name));
    let bias = conv
        .bias
        .then(|| tensor(weights, &format!("{}.bias", conv.name)));
    let [ph, pw] = conv.padding;
    let geometry = ConvGeometry {
        kernel: conv.kernel,
        stride: conv.stride,
        pads: [ph, pw, ph, pw],
        dilation: conv.dilation,
        groups: conv.groups,
    };
    conv2d(x, &weight, bias.as_deref(), conv.out_channels, geometry)
}

/// Evaluates the inference part of `graph` on one image by the definitions
/// of its operations, with BatchNorm as a separate step.
pub fn run_graph(graph: &Graph, weights: &Weights, input: &Map) -> Map {
    let mut values: Vec<Option<Map>> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        if node.scope == Scope::Auxiliary {
            values.push(None);
            continue;
        }
        let inputs: Vec<&Map> = node
            .inputs
            .iter()
            .map(|&i| {
                values[i]
                    .as_ref()
                    .expect("inference nodes read inference nodes")
            })
            .collect();
        let y = match &node.op {
            Op::Input => input.clone(),
            Op::Conv2d(conv) => graph_conv(inputs[0], conv, weights),
            Op::BatchNorm(bn) => {
                let p = |suffix: &str| tensor(weights, &format!("{}.{suffix}", bn.name));
                let (gamma, beta) = if bn.affine {
                    (p("weight"), p("bias"))
                } else {
                    (vec![1.0; bn.channels], vec![0.0; bn.channels])
                };
                let (mean, var) = (p("running_mean"), p("running_var"));
                batch_norm(inputs[0], &gamma, &beta, &mean, &var, bn.eps)
            }
            Op::Relu => relu(inputs[0]),
            Op::MaxPool(p) => pool(inputs[0], p.kernel, p.stride, p.padding, None),
            Op::AvgPool {
                pool: p,
                count_include_pad,
            } => pool(
                inputs[0],
                p.kernel,
                p.stride,
                p.padding,
                Some(*count_include_pad),
            ),
            Op::Zero { .. } => Map::zeros(node.shape[0], node.shape[1], node.shape[2]),
            Op::ShiftCrop => {
                let x = inputs[0];
                let mut y = Map::zeros(x.c, x.h, x.w);
                for c in 0..x.c {
                    for i in 0..x.h {
                        for j in 0..x.w {
                            y.set(c, i, j, x.get(c, i as i64 + 1, j as i64 + 1).unwrap_or(0.0));
                        }
                    }
                }
                y
            }
            Op::Add => add(&inputs),
            Op::Concat => concat(&inputs),
            Op::GlobalAvgPool => global_average(inputs[0]),
            Op::Flatten => flatten(inputs[0]),
            Op::Linear(l) => linear(
                inputs[0],
                &tensor(weights, &format!("{}.weight", l.name)),
                &tensor(weights, &format!("{}.bias", l.name)),
            ),
            Op::MixedOp { .. } => panic!("search networks have no ONNX reference evaluation"),
        };
        values.push(Some(y));
    }
    values[graph.logits]
        .take()
        .expect("logits are an inference node")
}

/// A value in the ONNX evaluator.
#[derive(Clone, Debug)]
enum OnnxValue {
    Map(Map),
    Ints(Vec<i64>),
}

/// Decodes a float32 or int64 initializer stored in `raw_data`.
fn decode(tensor: &TensorProto) -> OnnxValue {
    if tensor.data_type == DataType::INT64 as i32 {
        let ints = tensor
            .raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        return OnnxValue::Ints(ints);
    }
    assert_eq!(tensor.data_type, DataType::FLOAT as i32, "{}", tensor.name);
    let data: Vec<f64> = tensor
        .raw_data
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
        .collect();
    // Weights are consumed flat; their shapes come from the node attributes.
    OnnxValue::Map(Map {
        c: data.len(),
        h: 1,
        w: 1,
        data,
    })
}

impl OnnxValue {
    fn map(&self) -> &Map {
        match self {
            OnnxValue::Map(m) => m,
            OnnxValue::Ints(_) => panic!("expected a float tensor"),
        }
    }

    fn ints(&self) -> &[i64] {
        match self {
            OnnxValue::Ints(v) => v,
            OnnxValue::Map(_) => panic!("expected an int64 tensor"),
        }
    }
}

/// Finds attribute `name` of a node.
pub fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn ints_or(node: &NodeProto, name: &str, default: &[i64]) -> Vec<usize> {
    attribute(node, name)
        .map_or(default.to_vec(), |a| a.ints.clone())
        .into_iter()
        .map(|v| v as usize)
        .collect()
}

fn int_or(node: &NodeProto, name: &str, default: i64) -> i64 {
    attribute(node, name).map_or(default, |a| a.i)
}

/// Evaluates an exported model on one image. Supports exactly the ops the
/// exporter writes and panics on anything else.
pub fn run_onnx(model: &ModelProto, input: &Map) -> Map {
    let graph = model.graph.as_ref().expect("model has a graph");
    let mut values: HashMap<String, OnnxValue> = HashMap::new();
    for tensor in &graph.initializer {
        values.insert(tensor.name.clone(), decode(tensor));
    }
    values.insert(graph.input[0].name.clone(), OnnxValue::Map(input.clone()));
    for node in &graph.node {
        let inputs: Vec<&OnnxValue> = node
            .input
            .iter()
            .map(|name| {
                values
                    .get(name)
                    .unwrap_or_else(|| panic!("value `{name}` undefined"))
            })
            .collect();
        let output = eval_node(node, &inputs);
        values.insert(node.output[0].clone(), output);
    }
    values[&graph.output[0].name].map().clone()
}

fn eval_node(node: &NodeProto, inputs: &[&OnnxValue]) -> OnnxValue {
    let x = || inputs[0].map();
    let maps = || inputs.iter().map(|v| v.map()).collect::<Vec<_>>();
    let y = match node.op_type.as_str() {
        "Conv" => {
            let weight = &inputs[1].map().data;
            let bias = inputs.get(2).map(|b| b.map().data.as_slice());
            let kernel = ints_or(node, "kernel_shape", &[]);
            let stride = ints_or(node, "strides", &[1, 1]);
            let pads = ints_or(node, "pads", &[0, 0, 0, 0]);
            let dilation = ints_or(node, "dilations", &[1, 1]);
            let groups = int_or(node, "group", 1) as usize;
            let per_out = x().c / groups * kernel[0] * kernel[1];
            let geometry = ConvGeometry {
                kernel: [kernel[0], kernel[1]],
                stride: [stride[0], stride[1]],
                pads: [pads[0], pads[1], pads[2], pads[3]],
                dilation: [dilation[0], dilation[1]],
                groups,
            };
            conv2d(x(), weight, bias, weight.len() / per_out, geometry)
        }
        "BatchNormalization" => {
            let p = |i: usize| inputs[i].map().data.clone();
            let eps = attribute(node, "epsilon").map_or(1e-5, |a| f64::from(a.f));
            batch_norm(x(), &p(1), &p(2), &p(3), &p(4), eps)
        }
        "Relu" => relu(x()),
        "MaxPool" | "AveragePool" => {
            let kernel = ints_or(node, "kernel_shape", &[]);
            let stride = ints_or(node, "strides", &[1, 1]);
            let pads = ints_or(node, "pads", &[0, 0, 0, 0]);
            assert!(pads.iter().all(|&p| p == pads[0]), "symmetric pads only");
            let average =
                (node.op_type == "AveragePool").then(|| int_or(node, "count_include_pad", 0) == 1);
            pool(x(), kernel[0], stride[0], pads[0], average)
        }
        "Add" | "Sum" => add(&maps()),
        "Concat" => {
            assert_eq!(int_or(node, "axis", 0), 1);
            concat(&maps())
        }
        "GlobalAveragePool" => global_average(x()),
        "Flatten" => flatten(x()),
        "Gemm" => {
            assert_eq!(int_or(node, "transB", 0), 1);
            linear(x(), &inputs[1].map().data, &inputs[2].map().data)
        }
        "Identity" => x().clone(),
        "Slice" => slice(x(), inputs),
        "Pad" => pad(x(), inputs[1].ints()),
        "Shape" => return OnnxValue::Ints(vec![1, x().c as i64, x().h as i64, x().w as i64]),
        "ConstantOfShape" => {
            let value = &attribute(node, "value").unwrap().t;
            assert_eq!(decode(value).map().data, vec![0.0]);
            let shape = inputs[0].ints();
            Map::zeros(shape[1] as usize, shape[2] as usize, shape[3] as usize)
        }
        other => panic!("op {other} is not supported by the test evaluator"),
    };
    OnnxValue::Map(y)
}

/// Slice over axes 2 and 3 (the only axes the exporter slices).
fn slice(x: &Map, inputs: &[&OnnxValue]) -> Map {
    let starts = inputs[1].ints();
    let ends = inputs[2].ints();
    assert_eq!(inputs[3].ints(), &[2, 3]);
    let steps = inputs.get(4).map_or(vec![1, 1], |s| s.ints().to_vec());
    let range = |axis: usize, size: usize| {
        let end = (ends[axis].min(size as i64)) as usize;
        (starts[axis] as usize..end)
            .step_by(steps[axis] as usize)
            .collect::<Vec<_>>()
    };
    let (rows, cols) = (range(0, x.h), range(1, x.w));
    let mut y = Map::zeros(x.c, rows.len(), cols.len());
    for c in 0..x.c {
        for (i, &r) in rows.iter().enumerate() {
            for (j, &q) in cols.iter().enumerate() {
                y.set(c, i, j, x.at(c, r, q));
            }
        }
    }
    y
}

/// Constant zero Pad of NCHW with pads `[n, c, h, w begins, n, c, h, w ends]`.
fn pad(x: &Map, pads: &[i64]) -> Map {
    assert_eq!(pads.len(), 8);
    for axis in [0, 1, 4, 5] {
        assert_eq!(pads[axis], 0, "Pad touches only H and W");
    }
    let p: Vec<usize> = pads.iter().map(|&v| v as usize).collect();
    let mut y = Map::zeros(x.c, x.h + p[2] + p[6], x.w + p[3] + p[7]);
    for c in 0..x.c {
        for i in 0..x.h {
            for j in 0..x.w {
                y.set(c, i + p[2], j + p[3], x.at(c, i, j));
            }
        }
    }
    y
}

/// Largest absolute difference between two maps of the same shape.
pub fn max_abs_diff(a: &Map, b: &Map) -> f64 {
    assert_eq!((a.c, a.h, a.w), (b.c, b.h, b.w), "shapes differ");
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Replaces BatchNorm parameters and statistics with values away from 1 and 0,
/// where fresh initialisation leaves them, so that tests exercise folding.
/// Gamma is in [0.5, 1.5), beta and mean in [-0.5, 0.5), variance in [0.3, 2).
pub fn perturb_batch_norms(graph: &Graph, weights: &mut Weights, seed: u64) {
    use models::ParamRole;
    for (index, spec) in graph.parameters().into_iter().enumerate() {
        let (low, high) = match spec.role {
            ParamRole::BnWeight => (0.5, 1.5),
            ParamRole::BnBias | ParamRole::BnRunningMean => (-0.5, 0.5),
            ParamRole::BnRunningVar => (0.3, 2.0),
            _ => continue,
        };
        let unit = random_map([spec.numel(), 1, 1], seed + index as u64);
        let data = unit
            .data
            .iter()
            .map(|u| (low + (u + 1.0) / 2.0 * (high - low)) as f32)
            .collect();
        let tensor = export::Tensor::new(&spec.name, spec.shape.clone(), data).unwrap();
        weights.insert(spec.name, tensor);
    }
}

//! Shape inference and counting rules on small hand-built graphs.

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};

use super::shape::{infer, Operator, Value};
use super::{count_graph, count_model, CountError, GraphCounts};

/// Builds the graph input `x`: `[batch, C, H, W]` with a symbolic batch.
fn image_input(chw: [i64; 3]) -> ValueInfoProto {
    let mut dims = vec![Dimension {
        value: Some(dimension::Value::DimParam("batch".to_owned())),
        ..Default::default()
    }];
    dims.extend(chw.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(d)),
        ..Default::default()
    }));
    let tensor = type_proto::Tensor {
        elem_type: DataType::FLOAT as i32,
        shape: Some(TensorShapeProto {
            dim: dims,
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    ValueInfoProto {
        name: "x".to_owned(),
        type_: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

/// Builds a zero float initializer. Counting reads only its dimensions.
fn weight(name: &str, dims: &[i64]) -> TensorProto {
    let elements: i64 = dims.iter().product();
    TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::FLOAT as i32,
        raw_data: vec![0; 4 * elements as usize],
        ..Default::default()
    }
}

fn int64s(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.to_owned(),
        dims: vec![values.len() as i64],
        data_type: DataType::INT64 as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        type_: AttributeType::INT.into(),
        i: value,
        ..Default::default()
    }
}

fn ints_attribute(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        type_: AttributeType::INTS.into(),
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// Builds a node named after its single output.
fn node(
    op_type: &str,
    output: &str,
    inputs: &[&str],
    attributes: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op_type.to_owned(),
        name: output.to_owned(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_owned()],
        attribute: attributes,
        ..Default::default()
    }
}

fn noted(mut node: NodeProto, note: &str) -> NodeProto {
    node.doc_string = note.to_owned();
    node
}

fn graph(input: [i64; 3], nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> GraphProto {
    GraphProto {
        node: nodes,
        initializer: initializers,
        input: vec![image_input(input)],
        ..Default::default()
    }
}

fn counts(input: [i64; 3], nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> GraphCounts {
    count_graph(&graph(input, nodes, initializers)).unwrap()
}

fn count_error(input: [i64; 3], nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> String {
    count_graph(&graph(input, nodes, initializers))
        .unwrap_err()
        .to_string()
}

fn value(shape: &[u64]) -> Value {
    Value::new(shape.to_vec()).unwrap()
}

/// Infers the output shape of one node from input shapes.
fn infer_shape(op: Operator, node: &NodeProto, inputs: &[&Value]) -> Vec<u64> {
    let inputs: Vec<Option<&Value>> = inputs.iter().map(|v| Some(*v)).collect();
    infer(op, node, &inputs).unwrap().shape
}

/// Grouped, strided, dilated convolution with asymmetric padding.
fn grouped_conv() -> NodeProto {
    node(
        "Conv",
        "conv",
        &["x", "w", "b"],
        vec![
            int_attribute("group", 2),
            ints_attribute("strides", &[2, 2]),
            ints_attribute("pads", &[1, 0, 2, 1]),
            ints_attribute("dilations", &[2, 2]),
        ],
    )
}

#[test]
fn conv_shape_groups_stride_dilation() {
    let shape = infer_shape(
        Operator::Conv,
        &grouped_conv(),
        &[&value(&[1, 4, 9, 9]), &value(&[6, 2, 3, 3]), &value(&[6])],
    );
    // Height: 9 + 1 + 2 padded, window 2 * (3 - 1) + 1 = 5, so (12 - 5) / 2 + 1 = 4.
    // Width: 9 + 0 + 1 padded, so (10 - 5) / 2 + 1 = 3.
    assert_eq!(shape, [1, 6, 4, 3]);
}

#[test]
fn conv_counts_bias_term() {
    let initializers = vec![weight("w", &[6, 2, 3, 3]), weight("b", &[6])];
    let counts = counts([4, 9, 9], vec![grouped_conv()], initializers);
    // (3 * 3 * 4 / 2 + 1) MACs for each of the 6 * 4 * 3 outputs.
    assert_eq!(counts.macs_deployed, 19 * 72);
    assert_eq!(counts.macs_published, 19 * 72);
    assert_eq!(counts.params_deployed, 108 + 6);
    assert_eq!(counts.params_published, 108 + 6);
    assert_eq!(counts.folded_batch_norms, 0);
}

#[test]
fn conv_same_padding_and_kernel_shape() {
    let conv = node(
        "Conv",
        "conv",
        &["x", "w"],
        vec![
            ints_attribute("kernel_shape", &[7, 1]),
            ints_attribute("strides", &[2, 2]),
            AttributeProto {
                name: "auto_pad".to_owned(),
                type_: AttributeType::STRING.into(),
                s: b"SAME_UPPER".to_vec(),
                ..Default::default()
            },
        ],
    );
    let shape = infer_shape(
        Operator::Conv,
        &conv,
        &[&value(&[1, 3, 9, 8]), &value(&[5, 3, 7, 1])],
    );
    assert_eq!(shape, [1, 5, 5, 4]);
}

#[test]
fn conv_mismatches_rejected() {
    let kernel = node(
        "Conv",
        "c1",
        &["x", "w"],
        vec![ints_attribute("kernel_shape", &[5, 5])],
    );
    let message = count_error([4, 9, 9], vec![kernel], vec![weight("w", &[6, 4, 3, 3])]);
    assert!(message.contains("invalid Conv node `c1`"), "{message}");
    assert!(message.contains("kernel_shape [5, 5]"), "{message}");

    let grouped = node("Conv", "c2", &["x", "w"], vec![int_attribute("group", 3)]);
    let message = count_error([4, 9, 9], vec![grouped], vec![weight("w", &[6, 2, 3, 3])]);
    assert!(message.contains("4 channels"), "{message}");
    assert!(message.contains("group 3"), "{message}");

    let large = node("Conv", "c3", &["x", "w"], vec![]);
    let message = count_error([4, 2, 2], vec![large], vec![weight("w", &[6, 4, 3, 3])]);
    assert!(message.contains("window spans 3"), "{message}");
}

#[test]
fn pools_count_input_elements() {
    let pool_attributes = |stride| {
        vec![
            ints_attribute("kernel_shape", &[3, 3]),
            ints_attribute("strides", &[stride, stride]),
            ints_attribute("pads", &[1, 1, 1, 1]),
        ]
    };
    let mut average = pool_attributes(1);
    average.push(int_attribute("count_include_pad", 1));
    let nodes = vec![
        node("MaxPool", "max", &["x"], pool_attributes(2)),
        node("AveragePool", "average", &["max"], average),
        node("GlobalAveragePool", "global", &["average"], vec![]),
    ];
    let max_shape = infer_shape(Operator::MaxPool, &nodes[0], &[&value(&[1, 4, 8, 8])]);
    assert_eq!(max_shape, [1, 4, 4, 4]);
    let average_shape = infer_shape(Operator::AveragePool, &nodes[1], &[&value(&[1, 4, 4, 4])]);
    assert_eq!(average_shape, [1, 4, 4, 4]);
    let global_shape = infer_shape(
        Operator::GlobalAveragePool,
        &nodes[2],
        &[&value(&[1, 4, 4, 4])],
    );
    assert_eq!(global_shape, [1, 4, 1, 1]);

    let counts = counts([4, 8, 8], nodes, vec![]);
    assert_eq!(counts.macs_deployed, 256 + 64 + 64);
    assert_eq!(counts.macs_published, 256 + 64 + 64);
    assert_eq!(counts.params_deployed, 0);
}

#[test]
fn pool_ceil_mode_rejected() {
    let pool = node(
        "MaxPool",
        "pool",
        &["x"],
        vec![
            ints_attribute("kernel_shape", &[2, 2]),
            int_attribute("ceil_mode", 1),
        ],
    );
    let message = count_error([4, 5, 5], vec![pool], vec![]);
    assert!(message.contains("ceil_mode=1"), "{message}");
}

/// Builds a 3x3 convolution to 4 channels with padding 1, carrying `note`.
fn folded_conv(note: &str) -> (Vec<NodeProto>, Vec<TensorProto>) {
    let conv = node(
        "Conv",
        "conv",
        &["x", "w", "b"],
        vec![ints_attribute("pads", &[1; 4])],
    );
    let initializers = vec![weight("w", &[4, 3, 3, 3]), weight("b", &[4])];
    (vec![noted(conv, note)], initializers)
}

#[test]
fn folded_affine_batch_norm() {
    let (nodes, initializers) =
        folded_conv("folded BatchNorm2d affine=true conv_bias=false name=bn");
    let counts = counts([3, 8, 8], nodes, initializers);
    // 4 * 8 * 8 = 256 outputs with 27 weights each.
    assert_eq!(counts.macs_deployed, 28 * 256, "with the folded bias");
    assert_eq!(
        counts.macs_published,
        27 * 256 + 2 * 256,
        "BatchNorm instead of the bias"
    );
    assert_eq!(counts.params_deployed, 108 + 4);
    assert_eq!(counts.params_published, 108 + 2 * 4);
    assert_eq!(counts.folded_batch_norms, 1);
}

#[test]
fn folded_non_affine_batch_norm() {
    let (nodes, initializers) =
        folded_conv("folded BatchNorm2d affine=false conv_bias=false name=bn");
    let counts = counts([3, 8, 8], nodes, initializers);
    assert_eq!(counts.macs_published, 27 * 256 + 256);
    assert_eq!(counts.params_published, 108);
    assert_eq!(counts.params_deployed, 108 + 4);
}

#[test]
fn folded_conv_with_own_bias() {
    let (nodes, initializers) =
        folded_conv("free text first\nfolded BatchNorm2d affine=true conv_bias=true name=bn");
    let counts = counts([3, 8, 8], nodes, initializers);
    assert_eq!(counts.macs_published, 28 * 256 + 2 * 256);
    assert_eq!(counts.params_published, 108 + 4 + 2 * 4);
}

/// FactorizedReduce as `export` writes it: ReLU, a stride-2 1x1 convolution,
/// a shifted copy through Slice into a second one whose end padding adds the
/// cropped row and column, a Concat, and one BatchNorm folded into both.
#[test]
fn factorized_reduce_halves_batch_norm() {
    let note = "folded BatchNorm2d affine=true conv_bias=false name=reduce.bn";
    let stride = || ints_attribute("strides", &[2, 2]);
    let nodes = vec![
        node("Relu", "relu", &["x"], vec![]),
        noted(
            node("Conv", "conv_1", &["relu", "w1", "b1"], vec![stride()]),
            note,
        ),
        node(
            "Slice",
            "shifted",
            &["relu", "starts", "ends", "axes"],
            vec![],
        ),
        noted(
            node(
                "Conv",
                "conv_2",
                &["shifted", "w2", "b2"],
                vec![stride(), ints_attribute("pads", &[0, 0, 1, 1])],
            ),
            note,
        ),
        node(
            "Concat",
            "joined",
            &["conv_1", "conv_2"],
            vec![int_attribute("axis", 1)],
        ),
    ];
    let initializers = vec![
        weight("w1", &[2, 4, 1, 1]),
        weight("b1", &[2]),
        weight("w2", &[2, 4, 1, 1]),
        weight("b2", &[2]),
        int64s("starts", &[1, 1]),
        int64s("ends", &[i64::MAX, i64::MAX]),
        int64s("axes", &[2, 3]),
    ];
    let sliced = infer_shape(
        Operator::Slice,
        &nodes[2],
        &[
            &value(&[1, 4, 8, 8]),
            &Value::of_tensor(&initializers[4]).unwrap(),
            &Value::of_tensor(&initializers[5]).unwrap(),
            &Value::of_tensor(&initializers[6]).unwrap(),
        ],
    );
    assert_eq!(sliced, [1, 4, 7, 7]);

    let counts = counts([4, 8, 8], nodes, initializers);
    // The ReLU counts 256. Each convolution counts 4 MACs for each of its
    // 2 * 4 * 4 outputs, and the BatchNorm twice its 4 * 4 * 4 inputs.
    assert_eq!(counts.macs_published, 256 + 2 * 128 + 128);
    assert_eq!(counts.macs_deployed, 256 + 2 * (5 * 32));
    // Two 2x4 weights and the BatchNorm's 4 scales and 4 shifts.
    assert_eq!(counts.params_published, 16 + 8);
    assert_eq!(
        counts.params_deployed,
        16 + 4,
        "int64 Slice constants are not parameters"
    );
    assert_eq!(
        counts.folded_batch_norms, 1,
        "both halves name the same BatchNorm"
    );
}

fn batch_norm_graph(note: &str) -> GraphCounts {
    let batch_norm = node(
        "BatchNormalization",
        "bn",
        &["x", "scale", "shift", "mean", "var"],
        vec![],
    );
    let initializers = ["scale", "shift", "mean", "var"]
        .iter()
        .map(|name| weight(name, &[5]))
        .collect();
    counts([5, 4, 4], vec![noted(batch_norm, note)], initializers)
}

#[test]
fn batch_norm_node_counts() {
    let affine = batch_norm_graph("");
    assert_eq!(affine.macs_deployed, 2 * 80);
    assert_eq!(affine.macs_published, 2 * 80);
    assert_eq!(
        affine.params_deployed,
        4 * 5,
        "running statistics are initializers"
    );
    assert_eq!(
        affine.params_published,
        2 * 5,
        "running statistics are buffers"
    );

    let plain = batch_norm_graph("BatchNorm2d affine=false name=bn");
    assert_eq!(plain.macs_deployed, 2 * 80);
    assert_eq!(plain.macs_published, 80);
    assert_eq!(plain.params_deployed, 4 * 5);
    assert_eq!(plain.params_published, 0);
}

#[test]
fn classifier_counts() {
    let nodes = vec![
        node("GlobalAveragePool", "pooled", &["x"], vec![]),
        node(
            "Flatten",
            "flat",
            &["pooled"],
            vec![int_attribute("axis", 1)],
        ),
        node(
            "Gemm",
            "logits",
            &["flat", "fc.w", "fc.b"],
            vec![int_attribute("transB", 1)],
        ),
    ];
    let initializers = vec![weight("fc.w", &[10, 4]), weight("fc.b", &[10])];
    let counts = counts([4, 3, 3], nodes, initializers);
    assert_eq!(counts.macs_deployed, 36 + 40);
    assert_eq!(counts.params_deployed, 50);
    assert_eq!(counts.params_published, 50);
}

/// Zeros materialised as `export` does for a strided `none` edge, read by a
/// ReLU that `export` removed and noted.
#[test]
fn strided_zeros_and_elided_relu() {
    let nodes = vec![
        noted(
            node("Relu", "relu", &["x"], vec![]),
            "elided Relu stride=2 zeros_of=relu",
        ),
        node(
            "Slice",
            "strided",
            &["relu", "zeros", "ends", "axes", "steps"],
            vec![],
        ),
        node("Shape", "shape", &["strided"], vec![]),
        node("ConstantOfShape", "zeros_0", &["shape"], vec![]),
        node("Pad", "padded", &["zeros_0", "pads"], vec![]),
    ];
    let initializers = vec![
        int64s("zeros", &[0, 0]),
        int64s("ends", &[i64::MAX, i64::MAX]),
        int64s("axes", &[2, 3]),
        int64s("steps", &[2, 2]),
        int64s("pads", &[0, 0, 0, 0, 0, 0, 1, 1]),
    ];
    let counts = counts([4, 7, 7], nodes, initializers);
    // The kept ReLU reads 4 * 7 * 7 values and the removed one 4 * 4 * 4 zeros.
    assert_eq!(counts.macs_deployed, 196);
    assert_eq!(counts.macs_published, 196 + 64);
    assert_eq!(counts.elided_relus, 1);
    assert_eq!(counts.params_deployed, 0);
}

#[test]
fn slice_lengths_follow_onnx_rules() {
    use super::shape::Value as V;
    let cases: [(&[i64], u64); 6] = [
        (&[1, i64::MAX, 1], 6),
        (&[0, i64::MAX, 2], 4),
        (&[-3, -1, 1], 2),
        (&[5, 1, -2], 2),
        (&[-1, i64::MIN, -1], 7),
        (&[4, 2, 1], 0),
    ];
    for (parameters, expected) in cases {
        let [start, end, step] = [parameters[0], parameters[1], parameters[2]];
        let slice = node("Slice", "s", &["x", "a", "b", "c", "d"], vec![]);
        let constant = |v: i64| V::of_tensor(&int64s("c", &[v])).unwrap();
        let shape = infer_shape(
            Operator::Slice,
            &slice,
            &[
                &value(&[7]),
                &constant(start),
                &constant(end),
                &constant(0),
                &constant(step),
            ],
        );
        assert_eq!(shape, [expected], "start {start}, end {end}, step {step}");
    }
}

#[test]
fn broadcast_and_sum_shapes() {
    let add = node("Add", "sum", &["a", "b"], vec![]);
    let shape = infer_shape(
        Operator::Add,
        &add,
        &[&value(&[1, 4, 1, 5]), &value(&[3, 1])],
    );
    assert_eq!(shape, [1, 4, 3, 5]);

    let nodes = vec![node("Sum", "total", &["x", "x", "x"], vec![])];
    assert_eq!(counts([2, 3, 3], nodes, vec![]).macs_deployed, 0);

    let mismatched = node("Add", "bad", &["x", "w"], vec![]);
    let message = count_error([2, 3, 3], vec![mismatched], vec![weight("w", &[4])]);
    assert!(message.contains("does not broadcast"), "{message}");
}

#[test]
fn unknown_operator_named() {
    let nodes = vec![
        node("Relu", "relu", &["x"], vec![]),
        node("Softmax", "probabilities", &["relu"], vec![]),
    ];
    let message = count_error([2, 3, 3], nodes, vec![]);
    assert!(message.contains("`probabilities`"), "{message}");
    assert!(message.contains("operator Softmax"), "{message}");
    assert!(message.contains("Conv, BatchNormalization"), "{message}");

    let mut custom = node("Conv", "fused", &["x"], vec![]);
    custom.domain = "com.microsoft".to_owned();
    let message = count_error([2, 3, 3], vec![custom], vec![]);
    assert!(message.contains("com.microsoft.Conv"), "{message}");
}

#[test]
fn unnamed_node_labelled_by_index() {
    let mut softmax = node("Softmax", "out", &["x"], vec![]);
    softmax.name.clear();
    let message = count_error([2, 3, 3], vec![softmax], vec![]);
    assert!(message.contains("node `#0`"), "{message}");
}

#[test]
fn out_of_order_node_rejected() {
    let nodes = vec![
        node("Relu", "second", &["first"], vec![]),
        node("Relu", "first", &["x"], vec![]),
    ];
    let message = count_error([2, 3, 3], nodes, vec![]);
    assert!(message.contains("node `second` reads `first`"), "{message}");
}

#[test]
fn notes_checked_against_node() {
    let relu = noted(
        node("Relu", "relu", &["x"], vec![]),
        "folded BatchNorm2d affine=true conv_bias=false name=bn",
    );
    let message = count_error([2, 3, 3], vec![relu], vec![]);
    assert!(message.contains("on node `relu`"), "{message}");
    assert!(
        message.contains("a Relu node cannot carry this note"),
        "{message}"
    );

    let (mut nodes, initializers) = folded_conv("folded BatchNorm2d affine=maybe");
    let message = count_error([3, 8, 8], nodes.clone(), initializers.clone());
    assert!(message.contains("`true` or `false`"), "{message}");

    nodes[0].doc_string = "elided Relu stride=1 zeros_of=missing".to_owned();
    let message = count_error([3, 8, 8], nodes, initializers);
    assert!(message.contains("no value `missing`"), "{message}");
}

#[test]
fn symbolic_spatial_input_rejected() {
    let mut input = image_input([3, 8, 8]);
    if let Some(type_proto::Value::TensorType(tensor)) =
        input.type_.as_mut().and_then(|t| t.value.as_mut())
    {
        tensor.shape.as_mut().unwrap().dim[2].value =
            Some(dimension::Value::DimParam("height".to_owned()));
    }
    let graph = GraphProto {
        node: vec![node("Relu", "relu", &["x"], vec![])],
        input: vec![input],
        ..Default::default()
    };
    let message = count_graph(&graph).unwrap_err().to_string();
    assert!(message.contains("graph input `x`"), "{message}");
    assert!(message.contains("axis 2 is symbolic"), "{message}");
}

#[test]
fn model_without_graph_rejected() {
    let error = count_model(&ModelProto::default()).unwrap_err();
    assert!(matches!(error, CountError::MissingGraph), "{error}");
}

//! BatchNorm folding and the less common ops, checked against direct
//! computation on small hand-built graphs.

mod common;

use common::{
    batch_norm, conv2d, max_abs_diff, perturb_batch_norms, random_map, run_graph, run_onnx,
    ConvGeometry, Map,
};
use export::onnx;
use export::Weights;
use models::graph::{Conv2d, Graph, GraphBuilder, Linear, Op};
use models::Genotype;
use models::NetworkConfig;
use onnx_protobuf::ModelProto;

fn random_weights(graph: &Graph, seed: u64) -> Weights {
    let mut weights = Weights::random(graph, seed);
    perturb_batch_norms(graph, &mut weights, seed + 100);
    weights
}

fn export(graph: &Graph, weights: &Weights) -> ModelProto {
    onnx::build_model(graph, weights, &[]).unwrap()
}

fn count_ops(model: &ModelProto, op_type: &str) -> usize {
    let nodes = &model.graph.as_ref().unwrap().node;
    nodes.iter().filter(|n| n.op_type == op_type).count()
}

fn initializer(model: &ModelProto, name: &str) -> Vec<f64> {
    let tensors = &model.graph.as_ref().unwrap().initializer;
    let tensor = tensors.iter().find(|t| t.name == name);
    let tensor = tensor.unwrap_or_else(|| panic!("no initializer `{name}`"));
    tensor
        .raw_data
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
        .collect()
}

fn values(weights: &Weights, name: &str) -> Vec<f64> {
    weights
        .get(name)
        .unwrap()
        .data
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

/// Compares the graph's definition with the exported model on one input.
fn assert_matches_graph(graph: &Graph, weights: &Weights, model: &ModelProto, seed: u64) {
    let input = random_map(graph.input_shape(), seed);
    let expected = run_graph(graph, weights, &input);
    let actual = run_onnx(model, &input);
    let error = max_abs_diff(&expected, &actual);
    assert!(error < 1e-5, "max abs error {error}");
}

/// One case of the conv -> BatchNorm folding test.
struct FoldCase {
    groups: usize,
    bias: bool,
    affine: bool,
    eps: f64,
    stride: usize,
}

#[test]
fn conv_batch_norm_folds_exactly() {
    let cases = [
        FoldCase {
            groups: 1,
            bias: false,
            affine: true,
            eps: 1e-5,
            stride: 1,
        },
        FoldCase {
            groups: 1,
            bias: true,
            affine: true,
            eps: 1e-3,
            stride: 2,
        },
        FoldCase {
            groups: 2,
            bias: true,
            affine: false,
            eps: 1e-5,
            stride: 1,
        },
        FoldCase {
            groups: 4,
            bias: false,
            affine: true,
            eps: 1e-5,
            stride: 2,
        },
    ];
    for (index, case) in cases.iter().enumerate() {
        let mut builder = GraphBuilder::new([4, 7, 6]);
        let conv = Conv2d {
            name: "conv".to_string(),
            in_channels: 4,
            out_channels: 8,
            kernel: [3, 3],
            stride: [case.stride, case.stride],
            padding: [1, 1],
            dilation: [1, 1],
            groups: case.groups,
            bias: case.bias,
        };
        let y = builder.push(Op::Conv2d(conv), vec![GraphBuilder::INPUT]);
        let y = builder.batch_norm(y, "bn".to_string(), case.affine, case.eps);
        let graph = builder.finish(y, None);
        let weights = random_weights(&graph, index as u64);
        let model = export(&graph, &weights);
        assert_eq!(count_ops(&model, "BatchNormalization"), 0, "case {index}");
        assert_eq!(count_ops(&model, "Conv"), 1, "case {index}");

        let input = random_map([4, 7, 6], 40 + index as u64);
        let geometry = ConvGeometry {
            kernel: [3, 3],
            stride: [case.stride, case.stride],
            pads: [1, 1, 1, 1],
            dilation: [1, 1],
            groups: case.groups,
        };
        let bias = case.bias.then(|| values(&weights, "conv.bias"));
        let convolved = conv2d(
            &input,
            &values(&weights, "conv.weight"),
            bias.as_deref(),
            8,
            geometry,
        );
        let (gamma, beta) = if case.affine {
            (values(&weights, "bn.weight"), values(&weights, "bn.bias"))
        } else {
            (vec![1.0; 8], vec![0.0; 8])
        };
        let mean = values(&weights, "bn.running_mean");
        let var = values(&weights, "bn.running_var");
        let expected = batch_norm(&convolved, &gamma, &beta, &mean, &var, case.eps);

        let folded_weight = initializer(&model, "conv.weight_folded");
        let folded_bias = initializer(&model, "conv.bias_folded");
        let actual = conv2d(&input, &folded_weight, Some(&folded_bias), 8, geometry);
        let error = max_abs_diff(&expected, &actual);
        assert!(error < 1e-5, "case {index}: max abs error {error}");
        let spread = expected.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            spread > 0.1,
            "case {index}: output is not trivially small ({spread})"
        );
    }
}

#[test]
fn factorized_reduce_odd_size() {
    let mut builder = GraphBuilder::new([4, 7, 7]);
    let y = builder.factorized_reduce(GraphBuilder::INPUT, "reduce", 6, true);
    let graph = builder.finish(y, None);
    assert_eq!(graph.nodes[y].shape, [6, 4, 4]);
    let weights = random_weights(&graph, 1);
    let model = export(&graph, &weights);
    assert_eq!(
        count_ops(&model, "BatchNormalization"),
        0,
        "BatchNorm folds across Concat"
    );
    assert_eq!(
        count_ops(&model, "Pad"),
        0,
        "the shift folds into conv_2's padding"
    );
    assert_eq!(count_ops(&model, "Slice"), 1);
    assert_matches_graph(&graph, &weights, &model, 2);
}

#[test]
fn shift_crop_pads_for_other_readers() {
    let mut builder = GraphBuilder::new([3, 7, 5]);
    let shifted = builder.push(Op::ShiftCrop, vec![GraphBuilder::INPUT]);
    let y = builder.relu(shifted);
    let graph = builder.finish(y, None);
    let weights = Weights::random(&graph, 0);
    let model = export(&graph, &weights);
    assert_eq!(count_ops(&model, "Pad"), 1);
    assert_matches_graph(&graph, &weights, &model, 3);
}

#[test]
fn zero_dropped_from_add() {
    let mut builder = GraphBuilder::new([4, 6, 6]);
    let zero = builder.push(Op::Zero { stride: 1 }, vec![GraphBuilder::INPUT]);
    let relu = builder.relu(GraphBuilder::INPUT);
    let y = builder.push(Op::Add, vec![zero, relu]);
    let graph = builder.finish(y, None);
    let weights = Weights::random(&graph, 0);
    let model = export(&graph, &weights);
    assert_eq!(count_ops(&model, "Add"), 0);
    assert_eq!(count_ops(&model, "ConstantOfShape"), 0);
    assert_matches_graph(&graph, &weights, &model, 4);
}

#[test]
fn strided_zero_materialised() {
    let mut builder = GraphBuilder::new([4, 7, 7]);
    let zero = builder.push(Op::Zero { stride: 2 }, vec![GraphBuilder::INPUT]);
    let pooled = builder.push(
        Op::MaxPool(models::graph::Pool {
            kernel: 3,
            stride: 2,
            padding: 1,
        }),
        vec![GraphBuilder::INPUT],
    );
    let y = builder.push(Op::Concat, vec![zero, pooled]);
    let graph = builder.finish(y, None);
    assert_eq!(graph.nodes[zero].shape, [4, 4, 4]);
    let weights = Weights::random(&graph, 0);
    let model = export(&graph, &weights);
    assert_eq!(count_ops(&model, "ConstantOfShape"), 1);
    assert_matches_graph(&graph, &weights, &model, 5);
}

#[test]
fn lone_batch_norm_becomes_node() {
    let mut builder = GraphBuilder::new([5, 4, 4]);
    let y = builder.relu(GraphBuilder::INPUT);
    let y = builder.batch_norm(y, "bn".to_string(), false, 1e-3);
    let y = builder.push(Op::GlobalAvgPool, vec![y]);
    let linear = Linear {
        name: "fc".to_string(),
        in_features: 5,
        out_features: 3,
    };
    let y = builder.push(Op::Linear(linear), vec![y]);
    let graph = builder.finish(y, None);
    let weights = random_weights(&graph, 6);
    let model = export(&graph, &weights);
    assert_eq!(count_ops(&model, "BatchNormalization"), 1);
    assert_eq!(count_ops(&model, "Flatten"), 1, "Gemm needs a 2-D input");
    assert_matches_graph(&graph, &weights, &model, 6);
}

#[test]
fn all_primitives_match_graph() {
    let genotype = Genotype::from_json(
        r#"{
            "normal": [["none", 0], ["conv_7x1_1x7", 1], ["sep_conv_5x5", 0], ["dil_conv_5x5", 2],
                       ["flood_conv_3x3", 1], ["choke_conv_3x3", 3], ["none", 2], ["none", 4]],
            "normal_concat": [2, 3, 4, 5],
            "reduce": [["none", 0], ["conv_7x1_1x7", 1], ["avg_pool_3x3", 0],
                       ["dil_flood_conv_3x3", 2], ["sep_conv_7x7", 1], ["dil_choke_conv_3x3", 0],
                       ["skip_connect", 0], ["max_pool_3x3", 1]],
            "reduce_concat": [2, 3, 4, 5]
        }"#,
    )
    .unwrap();
    let graph = models::build_network(&genotype, &NetworkConfig::cifar10(4, 3)).unwrap();
    let weights = random_weights(&graph, 7);
    let model = export(&graph, &weights);
    assert_eq!(count_ops(&model, "BatchNormalization"), 0);
    assert!(
        count_ops(&model, "ConstantOfShape") > 0,
        "node 5 of the normal cell is all zeros"
    );
    let input = random_map([3, 32, 32], 8);
    let expected: Map = run_graph(&graph, &weights, &input);
    let actual = run_onnx(&model, &input);
    let error = max_abs_diff(&expected, &actual);
    assert!(error < 1e-5, "max abs error {error}");
}

//! The counting notes in node `doc_string`s, whose format `serve info`
//! parses: every folded BatchNorm, every BatchNormalization node and every
//! ReLU removed because it read zeros is recorded.

use std::collections::BTreeSet;

use export::onnx;
use export::Weights;
use models::graph::{GraphBuilder, Op, Scope};
use models::{Genotype, Graph, NetworkConfig};
use onnx_protobuf::{ModelProto, NodeProto};

fn export(graph: &Graph) -> ModelProto {
    let weights = Weights::random(graph, 1);
    onnx::build_model(graph, &weights, &[]).unwrap()
}

fn node<'a>(model: &'a ModelProto, name: &str) -> &'a NodeProto {
    let nodes = &model.graph.as_ref().unwrap().node;
    nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node `{name}`"))
}

#[test]
fn folded_convs_name_their_batch_norm() {
    let genotype = Genotype::resolve("DARTS").unwrap();
    let graph = models::build_network(&genotype, &NetworkConfig::cifar10(4, 3)).unwrap();
    let model = export(&graph);

    let stem = node(&model, "stem.0");
    assert_eq!(
        stem.doc_string,
        "folded BatchNorm2d affine=true conv_bias=false name=stem.1"
    );
    // Cell 2 follows the reduction cell 1, so FactorizedReduce preprocesses its s0.
    let expected = "folded BatchNorm2d affine=true conv_bias=false name=cells.2.preprocess0.bn";
    for half in ["conv_1", "conv_2"] {
        let conv = node(&model, &format!("cells.2.preprocess0.{half}"));
        assert_eq!(conv.doc_string, expected, "{half}");
    }
    let nodes = &model.graph.as_ref().unwrap().node;
    let noted: BTreeSet<&str> = nodes
        .iter()
        .filter(|n| n.op_type == "Conv")
        .filter_map(|n| n.doc_string.split_once(" name=").map(|(_, name)| name))
        .collect();
    let batch_norms: BTreeSet<&str> = graph
        .nodes
        .iter()
        .filter(|n| n.scope == Scope::Main)
        .filter_map(|n| match &n.op {
            Op::BatchNorm(bn) => Some(bn.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(noted, batch_norms, "every inference BatchNorm is noted");
}

#[test]
fn lone_batch_norm_noted() {
    let mut builder = GraphBuilder::new([5, 4, 4]);
    let y = builder.relu(GraphBuilder::INPUT);
    let y = builder.batch_norm(y, "bn".to_string(), false, 1e-3);
    let graph = builder.finish(y, None);
    let model = export(&graph);
    let batch_norm = node(&model, "logits");
    assert_eq!(batch_norm.op_type, "BatchNormalization");
    assert_eq!(batch_norm.doc_string, "BatchNorm2d affine=false name=bn");
}

#[test]
fn relu_of_zeros_noted_on_source() {
    let mut builder = GraphBuilder::new([4, 7, 7]);
    let source = builder.relu(GraphBuilder::INPUT);
    let zero = builder.push(Op::Zero { stride: 2 }, vec![source]);
    let relu = builder.relu(zero);
    let pooled = builder.push(
        Op::MaxPool(models::graph::Pool {
            kernel: 3,
            stride: 2,
            padding: 1,
        }),
        vec![source],
    );
    let y = builder.push(Op::Concat, vec![relu, pooled]);
    let graph = builder.finish(y, None);
    let model = export(&graph);

    let nodes = &model.graph.as_ref().unwrap().node;
    let relus: Vec<&NodeProto> = nodes.iter().filter(|n| n.op_type == "Relu").collect();
    assert_eq!(relus.len(), 1, "the ReLU of zeros emits no node");
    let expected = format!("elided Relu stride=2 zeros_of={}", relus[0].output[0]);
    assert_eq!(relus[0].doc_string, expected);
}

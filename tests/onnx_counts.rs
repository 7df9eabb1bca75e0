//! `serve`'s graph counter agrees with the `models` counters on exported
//! networks: for every built-in genotype, on every network type, the
//! published parameters and MACs recovered from the ONNX graph equal those of
//! the network description, and the deployed figures match the graph as
//! written.

use export::onnx::ModelProto;
use models::genotype::named_genotypes;
use models::{Graph, NetworkConfig, Op, Scope};
use serve::GraphCounts;

/// `TensorProto.DataType.FLOAT` in the ONNX protobuf schema.
const ONNX_FLOAT: i32 = 1;

/// Small networks checked for every built-in genotype, one per network type.
fn small_networks() -> Vec<(&'static str, NetworkConfig)> {
    vec![
        ("CIFAR-10", NetworkConfig::cifar10(8, 5)),
        ("ImageNet", NetworkConfig::imagenet(8, 5)),
    ]
}

fn export_graph(graph: &Graph, seed: u64) -> ModelProto {
    let weights = export::Weights::random(graph, seed);
    export::onnx::build_model(graph, &weights, &[]).unwrap()
}

fn count(model: &ModelProto) -> GraphCounts {
    serve::count_model(model).unwrap()
}

fn float_initializer_values(model: &ModelProto) -> u64 {
    let graph = model.graph.as_ref().unwrap();
    graph
        .initializer
        .iter()
        .filter(|tensor| tensor.data_type == ONNX_FLOAT)
        .map(|tensor| tensor.dims.iter().product::<i64>() as u64)
        .sum()
}

fn op_count(model: &ModelProto, op_type: &str) -> usize {
    let graph = model.graph.as_ref().unwrap();
    graph.node.iter().filter(|n| n.op_type == op_type).count()
}

fn elements(shape: [usize; 3]) -> u64 {
    shape.iter().product::<usize>() as u64
}

/// Derives from the `models` graph the MACs of the network once every
/// inference BatchNorm is folded and every ReLU of known zeros removed. That
/// is the published count less each BatchNorm and each removed ReLU, plus
/// one bias term per output element of the convolutions that absorbed a
/// BatchNorm.
fn expected_deployed_macs(graph: &Graph) -> u64 {
    let mut known_zero = vec![false; graph.nodes.len()];
    let mut macs = models::count_macs(graph);
    for (id, node) in graph.nodes.iter().enumerate() {
        if node.scope != Scope::Main {
            continue;
        }
        let input = node.inputs.first().copied();
        known_zero[id] = match &node.op {
            Op::Zero { .. } => true,
            Op::Add => node.inputs.iter().all(|&i| known_zero[i]),
            Op::Relu => known_zero[input.unwrap()],
            _ => false,
        };
        match &node.op {
            Op::BatchNorm(bn) => {
                let input_elements = elements(graph.nodes[input.unwrap()].shape);
                let batch_norm = input_elements * if bn.affine { 2 } else { 1 };
                macs = macs - batch_norm + input_elements;
            }
            Op::Relu if known_zero[id] => macs -= elements(node.shape),
            _ => {}
        }
    }
    macs
}

fn main_batch_norms(graph: &Graph) -> u64 {
    let is_main_batch_norm =
        |n: &&models::Node| n.scope == Scope::Main && matches!(n.op, Op::BatchNorm(_));
    graph.nodes.iter().filter(is_main_batch_norm).count() as u64
}

#[test]
fn every_genotype_counts_match_models() {
    for (network, config) in small_networks() {
        for named in named_genotypes() {
            let case = format!("{} on {network}", named.name);
            let graph = models::build_network(&named.genotype(), &config)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            let model = export_graph(&graph, 3);
            let counts = serve::count_model(&model).unwrap_or_else(|e| panic!("{case}: {e}"));

            let published = models::count_parameters(&graph).main as u64;
            assert_eq!(
                counts.params_published, published,
                "{case}: published parameters"
            );
            assert_eq!(
                counts.macs_published,
                models::count_macs(&graph),
                "{case}: published MACs"
            );
            assert_eq!(
                counts.params_deployed,
                float_initializer_values(&model),
                "{case}: deployed parameters"
            );
            assert_eq!(
                op_count(&model, "BatchNormalization"),
                0,
                "{case}: unfolded BatchNorm"
            );
            assert_eq!(
                counts.macs_deployed,
                expected_deployed_macs(&graph),
                "{case}: deployed MACs"
            );
            assert_eq!(
                counts.folded_batch_norms,
                main_batch_norms(&graph),
                "{case}: folded BatchNorm layers"
            );
        }
    }
}

/// A genotype whose `none` edges feed ReLUs exercises the removed-ReLU notes.
#[test]
fn none_edges_counted_through_notes() {
    let named = models::genotype::named("SHARPER_SCALAR_genotype_no_hack").unwrap();
    let graph = models::build_network(&named.genotype(), &NetworkConfig::cifar10(8, 5)).unwrap();
    let counts = count(&export_graph(&graph, 4));
    assert!(
        counts.elided_relus > 0,
        "no ReLU of zeros removed: {counts:?}"
    );
    assert_eq!(counts.macs_published, models::count_macs(&graph));
}

/// The published CIFAR-10 SHARPSEPCONV_DARTS (36 channels, 20 cells), read
/// back from a file as `serve info` reads it.
#[test]
fn published_size_from_file() {
    let genotype = models::Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let graph = models::build_network(&genotype, &NetworkConfig::cifar10(36, 20)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    export::onnx::write_model(&path, &export_graph(&graph, 5)).unwrap();

    let model = serve::inspect::read_model(&path).unwrap();
    let counts = count(&model);
    assert_eq!(counts.params_published, 3_555_622);
    assert_eq!(counts.macs_published, 578_604_672);
    assert_eq!(counts.params_deployed, float_initializer_values(&model));
    assert!(
        counts.params_deployed < counts.params_published,
        "{counts:?}"
    );
}

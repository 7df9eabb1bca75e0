//! Structure, metadata and numerics of exported CIFAR networks.

mod common;

use std::time::Instant;

use common::{max_abs_diff, perturb_batch_norms, random_map, run_graph, run_onnx};
use export::onnx::{self, metadata_keys};
use export::Weights;
use models::graph::{Op, Scope};
use models::{Genotype, ModelFile, NetworkConfig};
use onnx_protobuf::tensor_shape_proto::dimension::Value as DimValue;
use onnx_protobuf::type_proto::Value as TypeValue;
use onnx_protobuf::{Message, ModelProto, ValueInfoProto};

const GENOTYPES: [&str; 2] = ["SHARPSEPCONV_DARTS", "DARTS"];

fn model_file(name: &str, init_channels: usize, layers: usize) -> ModelFile {
    let genotype = Genotype::resolve(name).unwrap();
    let network = NetworkConfig::cifar10(init_channels, layers);
    ModelFile::cifar10(Some(name.to_string()), genotype, network)
}

/// Exports a C = 8, L = 5 network, writes it to disk and parses the file back.
fn exported(name: &str) -> (ModelFile, ModelProto) {
    let file = model_file(name, 8, 5);
    let graph = file.graph().unwrap();
    let weights = Weights::random(&graph, 3);
    let model = onnx::build_model_file(&file, &weights).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    onnx::write_model(&path, &model).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let parsed = ModelProto::parse_from_bytes(&bytes).unwrap();
    assert_eq!(
        parsed, model,
        "{name}: the written file parses back to the built model"
    );
    (file, parsed)
}

fn metadata<'a>(model: &'a ModelProto, key: &str) -> &'a str {
    let entry = model.metadata_props.iter().find(|e| e.key == key);
    entry
        .unwrap_or_else(|| panic!("metadata key `{key}` is missing"))
        .value
        .as_str()
}

/// Dimensions of a value, as `Ok(fixed)` or `Err(symbolic name)`.
fn dims(info: &ValueInfoProto) -> Vec<Result<i64, String>> {
    let Some(TypeValue::TensorType(tensor)) = &info.type_.value else {
        panic!("{} is not a tensor", info.name);
    };
    assert_eq!(tensor.elem_type, 1, "{} is float32", info.name);
    tensor
        .shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(DimValue::DimValue(v)) => Ok(*v),
            Some(DimValue::DimParam(p)) => Err(p.clone()),
            _ => panic!("{} has an unset dimension", info.name),
        })
        .collect()
}

#[test]
fn header_has_opset_17() {
    for name in GENOTYPES {
        let (_, model) = exported(name);
        assert_eq!(model.ir_version, 8, "{name}");
        assert_eq!(model.opset_import.len(), 1, "{name}");
        assert_eq!(model.opset_import[0].domain, "", "{name}: ai.onnx domain");
        assert_eq!(model.opset_import[0].version, 17, "{name}");
        assert_eq!(model.producer_name, "sharpdarts-export", "{name}");
        assert_eq!(model.producer_version, env!("CARGO_PKG_VERSION"), "{name}");
    }
}

#[test]
fn input_output_have_symbolic_batch() {
    let batch = || Err("batch".to_string());
    for name in GENOTYPES {
        let (_, model) = exported(name);
        let graph = model.graph.as_ref().unwrap();
        assert_eq!(graph.input.len(), 1, "{name}");
        assert_eq!(graph.input[0].name, "input", "{name}");
        assert_eq!(
            dims(&graph.input[0]),
            vec![batch(), Ok(3), Ok(32), Ok(32)],
            "{name}"
        );
        assert_eq!(graph.output.len(), 1, "{name}");
        assert_eq!(graph.output[0].name, "logits", "{name}");
        assert_eq!(dims(&graph.output[0]), vec![batch(), Ok(10)], "{name}");
        let produced = graph
            .node
            .iter()
            .any(|n| n.output.contains(&"logits".to_string()));
        assert!(produced, "{name}: a node writes `logits`");
    }
}

#[test]
fn batch_norm_fully_folded() {
    for name in GENOTYPES {
        let (_, model) = exported(name);
        let graph = model.graph.as_ref().unwrap();
        let remaining = graph
            .node
            .iter()
            .filter(|n| n.op_type == "BatchNormalization")
            .count();
        assert_eq!(remaining, 0, "{name}: BatchNormalization nodes left");
        let statistics = graph
            .initializer
            .iter()
            .filter(|t| t.name.contains("running_"));
        assert_eq!(
            statistics.count(),
            0,
            "{name}: running statistics left as initializers"
        );
    }
}

#[test]
fn auxiliary_head_skipped() {
    for name in GENOTYPES {
        let (_, model) = exported(name);
        let graph = model.graph.as_ref().unwrap();
        let node = graph.node.iter().find(|n| n.name.contains("auxiliary"));
        assert!(node.is_none(), "{name}: auxiliary node {node:?}");
        let tensor = graph
            .initializer
            .iter()
            .find(|t| t.name.contains("auxiliary"));
        assert!(
            tensor.is_none(),
            "{name}: auxiliary initializer {:?}",
            tensor.map(|t| &t.name)
        );
    }
}

#[test]
fn every_conv_has_initializers() {
    for name in GENOTYPES {
        let (file, model) = exported(name);
        let network = file.graph().unwrap();
        let graph = model.graph.as_ref().unwrap();
        let consumers = network.consumers();
        let mut checked = 0;
        for (id, node) in network.nodes.iter().enumerate() {
            let Op::Conv2d(conv) = &node.op else {
                continue;
            };
            if node.scope != Scope::Main {
                continue;
            }
            // A BatchNorm reads the convolution directly or through the
            // Concat of FactorizedReduce.
            let is_bn = |n: usize| matches!(network.nodes[n].op, Op::BatchNorm(_));
            let folded = consumers[id].iter().any(|&c| {
                is_bn(c)
                    || matches!(network.nodes[c].op, Op::Concat)
                        && consumers[c].iter().any(|&b| is_bn(b))
            });
            let onnx_node = graph
                .node
                .iter()
                .find(|n| n.op_type == "Conv" && n.name == conv.name);
            let onnx_node =
                onnx_node.unwrap_or_else(|| panic!("{name}: no Conv node for {}", conv.name));
            let inputs = if folded || conv.bias { 3 } else { 2 };
            assert_eq!(
                onnx_node.input.len(),
                inputs,
                "{name}: {} inputs",
                conv.name
            );
            let weight = graph
                .initializer
                .iter()
                .find(|t| t.name == onnx_node.input[1]);
            let weight = weight.unwrap_or_else(|| panic!("{name}: no weight for {}", conv.name));
            let expected = [
                conv.out_channels,
                conv.in_channels / conv.groups,
                conv.kernel[0],
                conv.kernel[1],
            ]
            .map(|d| d as i64);
            assert_eq!(weight.dims, expected, "{name}: {} weight dims", conv.name);
            let values = expected.iter().product::<i64>() as usize;
            assert_eq!(weight.raw_data.len(), 4 * values, "{name}: {}", conv.name);
            if inputs == 3 {
                let bias = graph
                    .initializer
                    .iter()
                    .find(|t| t.name == onnx_node.input[2]);
                let bias = bias.unwrap_or_else(|| panic!("{name}: no bias for {}", conv.name));
                assert_eq!(
                    bias.dims,
                    [conv.out_channels as i64],
                    "{name}: {}",
                    conv.name
                );
            }
            checked += 1;
        }
        let conv_nodes = graph.node.iter().filter(|n| n.op_type == "Conv").count();
        assert_eq!(
            conv_nodes, checked,
            "{name}: one Conv node per inference convolution"
        );
    }
}

#[test]
fn metadata_matches_models_counts() {
    for name in GENOTYPES {
        let (file, model) = exported(name);
        let graph = file.graph().unwrap();
        let counts = models::count_parameters(&graph);
        let macs = models::count_macs(&graph);
        assert_eq!(
            metadata(&model, metadata_keys::PARAMS),
            counts.main.to_string()
        );
        assert_eq!(
            metadata(&model, metadata_keys::PARAMS_WITH_AUXILIARY),
            counts.with_auxiliary.to_string()
        );
        assert_eq!(metadata(&model, metadata_keys::MACS), macs.to_string());
        let classes: Vec<String> =
            serde_json::from_str(metadata(&model, metadata_keys::CLASSES)).unwrap();
        assert_eq!(classes, file.classes, "{name}");
        let mean: [f32; 3] = serde_json::from_str(metadata(&model, metadata_keys::MEAN)).unwrap();
        assert_eq!(mean, file.mean, "{name}");
        let std: [f32; 3] = serde_json::from_str(metadata(&model, metadata_keys::STD)).unwrap();
        assert_eq!(std, file.std, "{name}");
        let size: [usize; 3] =
            serde_json::from_str(metadata(&model, metadata_keys::INPUT_SIZE)).unwrap();
        assert_eq!(size, [3, 32, 32], "{name}");
        let genotype = Genotype::from_json(metadata(&model, metadata_keys::GENOTYPE)).unwrap();
        assert_eq!(genotype, file.genotype, "{name}");
        let network: NetworkConfig =
            serde_json::from_str(metadata(&model, metadata_keys::NETWORK)).unwrap();
        assert_eq!(network, file.network, "{name}");
        let genotype_name = metadata(&model, metadata_keys::GENOTYPE_NAME);
        assert_eq!(genotype_name, name, "{name}");
        let model_json = metadata(&model, metadata_keys::MODEL_JSON);
        let parsed = ModelFile::from_json(model_json, "metadata").unwrap();
        assert_eq!(parsed, file, "{name}");
    }
}

#[test]
fn metadata_json_is_compact() {
    let (_, model) = exported("DARTS");
    for entry in &model.metadata_props {
        assert!(
            !entry.value.contains('\n'),
            "`{}` contains a newline: {}",
            entry.key,
            entry.value
        );
        assert!(
            !entry.value.contains(": "),
            "`{}` is not compact JSON: {}",
            entry.key,
            entry.value
        );
    }
}

#[test]
fn exported_bytes_parse_back() {
    let file = model_file("DARTS", 8, 5);
    let weights = Weights::random(&file.graph().unwrap(), 2);
    let bytes = onnx::export_model_file(&file, &weights).unwrap();
    let parsed = ModelProto::parse_from_bytes(&bytes).unwrap();
    assert_eq!(parsed, onnx::build_model_file(&file, &weights).unwrap());
}

#[test]
fn genotype_name_absent_for_files() {
    let mut file = model_file("DARTS", 8, 5);
    file.genotype_name = None;
    let graph = file.graph().unwrap();
    let keys: Vec<String> = onnx::model_metadata(&file, &graph)
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(
        !keys.contains(&metadata_keys::GENOTYPE_NAME.to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&metadata_keys::GENOTYPE.to_string()),
        "{keys:?}"
    );
}

#[test]
fn networks_match_graph_evaluation() {
    for name in GENOTYPES {
        let file = model_file(name, 8, 5);
        let graph = file.graph().unwrap();
        let mut weights = Weights::random(&graph, 5);
        perturb_batch_norms(&graph, &mut weights, 17);
        let model = onnx::build_model_file(&file, &weights).unwrap();
        let input = random_map([3, 32, 32], 23);
        let expected = run_graph(&graph, &weights, &input);
        let actual = run_onnx(&model, &input);
        let scale = expected.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            scale > 1e-3,
            "{name}: logits are not all near zero ({scale})"
        );
        let error = max_abs_diff(&expected, &actual);
        assert!(
            error <= 1e-5 * scale.max(1.0),
            "{name}: max abs error {error}, scale {scale}"
        );
    }
}

#[test]
fn input_size_mismatch_rejected() {
    let mut file = model_file("DARTS", 8, 5);
    let graph = file.graph().unwrap();
    let weights = Weights::random(&graph, 0);
    file.input_size = [3, 64, 64];
    let message = onnx::build_model_file(&file, &weights)
        .unwrap_err()
        .to_string();
    assert!(message.contains("[3, 64, 64]"), "{message}");
    assert!(message.contains("[3, 32, 32]"), "{message}");
}

/// A loose bound that catches accidental quadratic work, not a benchmark: the
/// 36-channel, 20-cell network builds in tens of milliseconds on one core.
#[test]
fn large_network_builds_quickly() {
    let file = model_file("SHARPSEPCONV_DARTS", 36, 20);
    let graph = file.graph().unwrap();
    let weights = Weights::random(&graph, 0);
    let start = Instant::now();
    let model = onnx::build_model_file(&file, &weights).unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed.as_secs_f64() < 5.0, "build took {elapsed:?}");
    let initializers = &model.graph.as_ref().unwrap().initializer;
    let floats: usize = initializers.iter().map(|t| t.raw_data.len() / 4).sum();
    let params = models::count_parameters(&graph).main;
    // Folding adds a bias per convolution and drops BatchNorm, so the counts
    // differ, but only by BatchNorm-sized vectors.
    assert!(
        floats.abs_diff(params) < params / 20,
        "{floats} floats for {params} params"
    );
}

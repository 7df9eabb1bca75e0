//! `serve info`: counts derived from the graph beside the metadata counts.

mod common;

use std::path::{Path, PathBuf};

use common::{describe, model_file, run, serve, stdout_json};
use models::ModelFile;

/// Exports `file` with random weights, letting `edit` change the metadata
/// entries and the model before it is written to `dir/name`.
fn export_edited(
    dir: &Path,
    name: &str,
    file: &ModelFile,
    edit: impl FnOnce(&mut Vec<(String, String)>, &mut export::onnx::ModelProto),
) -> PathBuf {
    let graph = file.graph().unwrap();
    let weights = export::Weights::random(&graph, 2);
    let mut metadata = export::onnx::model_metadata(file, &graph);
    let mut proto = export::onnx::build_model(&graph, &weights, &[]).unwrap();
    edit(&mut metadata, &mut proto);
    let with_metadata = export::onnx::build_model(&graph, &weights, &metadata).unwrap();
    proto.metadata_props = with_metadata.metadata_props;
    let path = dir.join(name);
    export::onnx::write_model(&path, &proto).unwrap();
    path
}

fn info(model: &Path, json: bool) -> std::process::Output {
    let mut args = vec!["info", model.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let output = run(&mut serve(&args));
    assert!(output.status.success(), "{}", describe(&output));
    output
}

#[test]
fn graph_counts_beside_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let file = model_file("SHARPSEPCONV_DARTS", 8, 5);
    let model = export_edited(dir.path(), "m.onnx", &file, |_, _| {});
    let graph = file.graph().unwrap();
    let params = models::count_parameters(&graph).main as u64;
    let macs = models::count_macs(&graph);

    let json = stdout_json(&info(&model, true));
    assert_eq!(json["params"].as_u64(), Some(params));
    assert_eq!(json["macs"].as_u64(), Some(macs));
    assert_eq!(json["graph"]["params_published"].as_u64(), Some(params));
    assert_eq!(json["graph"]["macs_published"].as_u64(), Some(macs));
    let deployed = json["graph"]["params_deployed"].as_u64().unwrap();
    assert!(
        deployed < params,
        "folding drops BatchNorm parameters: {json}"
    );
    assert!(json["graph"]["macs_deployed"].as_u64().unwrap() < macs);
    assert!(json["graph_error"].is_null(), "{json}");
    assert_eq!(json["warnings"], serde_json::json!([]));

    let output = info(&model, false);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("published (graph)  published (metadata)  deployed graph"),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");
}

#[test]
fn stale_metadata_warned() {
    let dir = tempfile::tempdir().unwrap();
    let file = model_file("DARTS", 4, 3);
    let model = export_edited(dir.path(), "stale.onnx", &file, |metadata, _| {
        for (key, value) in metadata.iter_mut() {
            if key == "macs" {
                *value = "12345".to_owned();
            }
        }
    });

    let output = info(&model, false);
    let text = String::from_utf8_lossy(&output.stdout);
    let warning = text
        .lines()
        .find(|line| line.starts_with("warning: "))
        .unwrap_or_else(|| panic!("no warning line\n{text}"));
    assert!(warning.contains("published MACs"), "{warning}");
    assert!(
        warning.contains("`macs` metadata entry is 12,345"),
        "{warning}"
    );
    assert!(!text.contains("published parameters"), "{text}");

    let output = info(&model, true);
    let json = stdout_json(&output);
    assert_eq!(json["warnings"].as_array().unwrap().len(), 1, "{json}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("12,345"), "the warning is logged\n{stderr}");
}

#[test]
fn unknown_operator_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = model_file("DARTS", 4, 3);
    let model = export_edited(dir.path(), "custom.onnx", &file, |_, proto| {
        let graph = proto.graph.as_mut().unwrap();
        let relu = graph.node.iter_mut().find(|n| n.op_type == "Relu").unwrap();
        relu.op_type = "Selu".to_owned();
        relu.name = "activation".to_owned();
    });

    let output = info(&model, false);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("graph counts  unavailable"), "{text}");
    assert!(
        text.contains("node `activation` uses operator Selu"),
        "{text}"
    );
    assert!(
        text.contains("(without the auxiliary head)"),
        "metadata still shown\n{text}"
    );

    let json = stdout_json(&info(&model, true));
    assert!(json["graph"].is_null(), "{json}");
    let error = json["graph_error"].as_str().unwrap();
    assert!(error.contains("Selu"), "{error}");
    assert!(json["params"].as_u64().is_some(), "{json}");
}

//! `serve info`: structure, counts and metadata of an ONNX file. Reads the
//! file directly, so it works without ONNX Runtime.
//!
//! Parameters and MACs come from two sources: the `params`, `params_with_auxiliary`
//! and `macs` metadata entries that `export` writes, and [`serve::count`],
//! which walks the graph itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use serve::inspect::read_model;
use serve::metadata::metadata_integer;
use serve::{count_model, GraphCounts, ModelInfo, TensorInfo};

use super::print_json;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// ONNX model file.
    pub model: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Opset<'a> {
    domain: &'a str,
    version: i64,
}

#[derive(Debug, Serialize)]
struct InfoOutput<'a> {
    path: &'a PathBuf,
    inputs: &'a [TensorInfo],
    outputs: &'a [TensorInfo],
    opset: i64,
    opset_imports: Vec<Opset<'a>>,
    ir_version: i64,
    producer_name: &'a str,
    producer_version: &'a str,
    node_count: usize,
    initializer_count: usize,
    initializer_values: u64,
    /// Parameters of the network without the auxiliary head (`params` metadata).
    params: Option<u64>,
    params_with_auxiliary: Option<u64>,
    /// Multiply-accumulate operations per image (`macs` metadata).
    macs: Option<u64>,
    /// Counts derived from the graph itself, or `None` when counting failed.
    graph: Option<GraphCounts>,
    /// Error message from counting the graph, when it failed.
    graph_error: Option<String>,
    /// Disagreements between the graph-derived published counts and the metadata.
    warnings: Vec<String>,
    metadata: &'a BTreeMap<String, String>,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let proto = read_model(&args.model)
        .with_context(|| format!("failed to inspect {}", args.model.display()))?;
    let info = ModelInfo::from_proto(&args.model, &proto);
    let count = |key| {
        metadata_integer(&info, key)
            .with_context(|| format!("failed to read the metadata of {}", args.model.display()))
    };
    let params = count("params")?;
    let macs = count("macs")?;
    let (graph, graph_error) = match count_model(&proto) {
        Ok(counts) => (Some(counts), None),
        Err(error) => (None, Some(error.to_string())),
    };
    let warnings = graph
        .map(|counts| metadata_mismatches(&counts, params, macs))
        .unwrap_or_default();
    if args.json {
        if let Some(error) = &graph_error {
            tracing::warn!(model = %args.model.display(), %error, "failed to count the graph");
        }
        for warning in &warnings {
            tracing::warn!(model = %args.model.display(), "{warning}");
        }
    }
    let output = InfoOutput {
        path: &args.model,
        inputs: &info.inputs,
        outputs: &info.outputs,
        opset: info.opset,
        opset_imports: info
            .opset_imports
            .iter()
            .map(|(domain, version)| Opset {
                domain,
                version: *version,
            })
            .collect(),
        ir_version: info.ir_version,
        producer_name: &info.producer_name,
        producer_version: &info.producer_version,
        node_count: info.node_count,
        initializer_count: info.initializer_count,
        initializer_values: info.initializer_values,
        params,
        params_with_auxiliary: count("params_with_auxiliary")?,
        macs,
        graph,
        graph_error,
        warnings,
        metadata: &info.metadata,
    };
    if args.json {
        print_json(&output)
    } else {
        print_text(&output);
        Ok(())
    }
}

fn print_text(output: &InfoOutput) {
    println!("model         {}", output.path.display());
    println!(
        "producer      {} {}",
        output.producer_name, output.producer_version
    );
    println!("IR version    {}", output.ir_version);

    for opset in &output.opset_imports {
        let domain = if opset.domain.is_empty() {
            "ai.onnx"
        } else {
            opset.domain
        };
        println!("opset         {} ({domain})", opset.version);
    }
    for input in output.inputs {
        println!("input         {}", describe(input));
    }
    for tensor in output.outputs {
        println!("output        {}", describe(tensor));
    }

    println!("nodes         {}", output.node_count);
    println!(
        "initializers  {} ({} values)",
        output.initializer_count,
        thousands(output.initializer_values)
    );
    println!(
        "parameters    {}",
        count_text(output.params, "without the auxiliary head")
    );
    if output.params_with_auxiliary.is_some() {
        let text = count_text(output.params_with_auxiliary, "with the auxiliary head");
        println!("              {text}");
    }
    println!("MACs          {}", count_text(output.macs, "per image"));
    print_count_table(output);

    println!("metadata");
    for (key, value) in output.metadata {
        println!("  {key}: {}", one_line(value));
    }
}

/// Returns a warning for each published figure where the graph and the
/// metadata disagree.
fn metadata_mismatches(graph: &GraphCounts, params: Option<u64>, macs: Option<u64>) -> Vec<String> {
    let pairs = [
        ("parameters", "params", graph.params_published, params),
        ("MACs", "macs", graph.macs_published, macs),
    ];
    pairs
        .into_iter()
        .filter_map(|(quantity, key, from_graph, from_metadata)| {
            let from_metadata = from_metadata.filter(|&value| value != from_graph)?;
            Some(format!(
                "the graph gives {} published {quantity} but the `{key}` metadata entry is {}; \
                 the metadata may be stale or belong to another network, so export the model \
                 again",
                thousands(from_graph),
                thousands(from_metadata)
            ))
        })
        .collect()
}

/// Prints published (graph), published (metadata) and deployed counts side
/// by side, then any disagreement between the two published columns.
fn print_count_table(output: &InfoOutput) {
    let Some(graph) = &output.graph else {
        let error = output.graph_error.as_deref().unwrap_or("unknown error");
        println!("graph counts  unavailable: {error}");
        return;
    };
    let number = |value: Option<u64>| value.map_or_else(|| "unknown".to_owned(), thousands);
    println!(
        "{:<14}{:>17}  {:>20}  {:>14}",
        "counts", "published (graph)", "published (metadata)", "deployed graph"
    );
    let rows = [
        (
            "  parameters",
            graph.params_published,
            output.params,
            graph.params_deployed,
        ),
        (
            "  MACs",
            graph.macs_published,
            output.macs,
            graph.macs_deployed,
        ),
    ];
    for (label, published, metadata, deployed) in rows {
        println!(
            "{label:<14}{:>17}  {:>20}  {:>14}",
            thousands(published),
            number(metadata),
            thousands(deployed)
        );
    }
    if graph.folded_batch_norms > 0 || graph.elided_relus > 0 {
        println!(
            "              {} BatchNorm layers folded into convolutions, {} ReLUs on zeros \
             removed",
            graph.folded_batch_norms, graph.elided_relus
        );
    }
    for warning in &output.warnings {
        println!("warning: {warning}");
    }
}

/// Re-encodes a JSON value (such as `model_json`) compactly so that each
/// entry stays on one line; other text is returned unchanged.
fn one_line(value: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(json) if value.contains('\n') => json.to_string(),
        _ => value.to_owned(),
    }
}

fn describe(tensor: &TensorInfo) -> String {
    format!(
        "{}: {} {}",
        tensor.name,
        tensor.element_type,
        tensor.shape_text()
    )
}

fn count_text(count: Option<u64>, note: &str) -> String {
    match count {
        Some(count) => format!("{} ({note})", thousands(count)),
        None => "unknown (no metadata)".to_owned(),
    }
}

/// Formats an integer with `,` between groups of three digits.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).expect("decimal digits are ASCII"))
        .collect();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(3_345_802), "3,345,802");
    }
}

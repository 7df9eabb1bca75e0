//! The search supernetwork against parameter counts measured with the
//! published PyTorch code, its parameter names and structure, and genotype
//! derivation against logged architecture weights and the genotypes the
//! published extractor derived from them.

use std::collections::HashSet;
use std::path::PathBuf;

use models::genotype::named;
use models::graph::GraphBuilder;
use models::search::{node_rows, row_inputs};
use models::{
    build_network, build_search_network, count_macs, count_parameters, derive_genotype,
    edges_per_cell, parameter_free_share, CellKind, Genotype, Graph, NetworkConfig, Op, OpTable,
    ParamSpec, Primitive, PrimitiveSet, SearchConfig, Weighting,
};

fn config(primitives: PrimitiveSet) -> SearchConfig {
    SearchConfig {
        primitives,
        ..SearchConfig::default()
    }
}

fn parameters(graph: &Graph) -> Vec<ParamSpec> {
    graph.parameters()
}

fn shape_of(params: &[ParamSpec], name: &str) -> Option<Vec<usize>> {
    params
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.shape.clone())
}

#[test]
fn published_search_counts() {
    // (set, parameters of the published search network at C 16, L 8, 4 steps)
    let table = [
        (PrimitiveSet::Sharp, 5_867_642),
        (PrimitiveSet::Darts, 2_527_354),
        (PrimitiveSet::Sharper, 9_707_002),
    ];
    for (set, expected) in table {
        let graph = build_search_network(&config(set)).unwrap();
        let count = count_parameters(&graph);
        assert_eq!(count.main, expected, "{set}");
        assert_eq!(count.with_auxiliary, expected, "{set}: no auxiliary head");
        assert_eq!(graph.aux_logits, None, "{set}");
    }
}

#[test]
fn darts_table_builds_single_stage_dil_conv() {
    let darts = SearchConfig {
        ops: OpTable::Darts,
        ..config(PrimitiveSet::Darts)
    };
    let graph = build_search_network(&darts).unwrap();
    let params = parameters(&graph);
    // dil_conv_3x3 is column 6 of DARTS_PRIMITIVES: ReLU, a dilated depthwise
    // convolution, a 1x1 convolution and BatchNorm.
    let dil = "cells.0._ops.0._ops.6";
    assert_eq!(
        shape_of(&params, &format!("{dil}.op.1.weight")),
        Some(vec![16, 1, 3, 3])
    );
    assert_eq!(
        shape_of(&params, &format!("{dil}.op.2.weight")),
        Some(vec![16, 16, 1, 1])
    );
    assert!(shape_of(&params, &format!("{dil}.op.3.running_mean")).is_some());
    assert_eq!(shape_of(&params, &format!("{dil}.op.5.weight")), None);
    // The sharp table builds both dilated convolutions as two stages, so the
    // DARTS table's network is smaller by the second stage of each.
    let sharp = count_parameters(&build_search_network(&config(PrimitiveSet::Darts)).unwrap());
    assert!(count_parameters(&graph).main < sharp.main);
}

#[test]
fn search_parameter_names() {
    let graph = build_search_network(&SearchConfig::default()).unwrap();
    let params = parameters(&graph);
    let shape = |name: &str| shape_of(&params, name);
    assert_eq!(shape("stem.0.weight"), Some(vec![48, 3, 3, 3]));
    assert_eq!(shape("stem.1.weight"), Some(vec![48]));
    assert_eq!(
        shape("cells.0.preprocess0.op.1.weight"),
        Some(vec![16, 48, 1, 1])
    );
    assert_eq!(
        shape("cells.0.preprocess1.op.1.weight"),
        Some(vec![16, 48, 1, 1])
    );
    // Preprocessing and candidates have no affine BatchNorm.
    assert_eq!(shape("cells.0.preprocess0.op.2.weight"), None);
    assert_eq!(
        shape("cells.0.preprocess0.op.2.running_mean"),
        Some(vec![16])
    );
    // PRIMITIVES column 1 is max_pool_3x3, followed by BatchNorm as module 1.
    assert_eq!(shape("cells.0._ops.0._ops.1.1.running_var"), Some(vec![16]));
    assert_eq!(shape("cells.0._ops.0._ops.1.1.weight"), None);
    // Column 3 is sep_conv_3x3, a SharpSepConv.
    assert_eq!(
        shape("cells.0._ops.13._ops.3.op.1.weight"),
        Some(vec![16, 1, 3, 3])
    );
    assert_eq!(
        shape("cells.0._ops.13._ops.3.op.6.weight"),
        Some(vec![16, 16, 1, 1])
    );
    // Column 7 is choke_conv_3x3 with the constructors' default width 32.
    assert_eq!(
        shape("cells.0._ops.0._ops.7.op.2.weight"),
        Some(vec![32, 16, 1, 1])
    );
    // Cell 2 reduces: skip_connect (column 2) on a cell input is a FactorizedReduce.
    assert_eq!(
        shape("cells.2._ops.0._ops.2.conv_1.weight"),
        Some(vec![16, 32, 1, 1])
    );
    assert_eq!(
        shape("cells.2._ops.0._ops.2.conv_2.weight"),
        Some(vec![16, 32, 1, 1])
    );
    assert_eq!(
        shape("cells.2._ops.2._ops.2.conv_1.weight"),
        Some(vec![16, 32, 1, 1])
    );
    // ... but skip_connect on an intermediate node (row 4 reads state 2) is identity.
    assert!(!params
        .iter()
        .any(|p| p.name.starts_with("cells.2._ops.4._ops.2.")));
    // The cell after a reduction preprocesses its first input with FactorizedReduce.
    assert_eq!(
        shape("cells.3.preprocess0.conv_1.weight"),
        Some(vec![16, 64, 1, 1])
    );
    assert_eq!(shape("cells.3.preprocess0.bn.running_mean"), Some(vec![32]));
    assert_eq!(shape("classifier.weight"), Some(vec![10, 256]));
    assert_eq!(shape("classifier.bias"), Some(vec![10]));

    let mut seen = HashSet::new();
    for param in &params {
        assert!(seen.insert(&param.name), "{} is defined twice", param.name);
    }
}

#[test]
fn search_graph_structure() {
    let config = SearchConfig::default();
    let graph = build_search_network(&config).unwrap();
    let candidates = config.candidates().unwrap();
    let mixed: Vec<(usize, CellKind, usize)> = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(id, node)| match node.op {
            Op::MixedOp {
                cell,
                row,
                weighting,
            } => {
                assert_eq!(weighting, Weighting::Scalar);
                Some((id, cell, row))
            }
            _ => None,
        })
        .collect();
    assert_eq!(mixed.len(), config.layers * edges_per_cell(config.steps));

    let reductions = config.reduction_cells();
    assert_eq!(reductions, [2, 5]);
    let inputs = row_inputs(config.steps);
    for (k, &(id, cell, row)) in mixed.iter().enumerate() {
        let index = k / config.rows();
        let reduction = reductions.contains(&index);
        let expected = if reduction {
            CellKind::Reduction
        } else {
            CellKind::Normal
        };
        assert_eq!(cell, expected, "cell {index}");
        assert_eq!(row, k % config.rows(), "cell {index}");
        let node = &graph.nodes[id];
        assert_eq!(
            node.inputs.len(),
            candidates.len(),
            "cell {index} row {row}"
        );
        // Candidate 0 is `none`: a Zero node, kept so input indices match columns.
        let zero = &graph.nodes[node.inputs[0]];
        let stride = if reduction && inputs[row] < 2 { 2 } else { 1 };
        assert_eq!(zero.op, Op::Zero { stride }, "cell {index} row {row}");
        for &input in &node.inputs {
            assert_eq!(
                graph.nodes[input].shape, node.shape,
                "cell {index} row {row}"
            );
        }
    }
    // 32x32 input, reductions at cells 2 and 5: the last cell is 64 channels at 8x8.
    let last_add = graph
        .nodes
        .iter()
        .rposition(|node| node.op == Op::Add)
        .unwrap();
    assert_eq!(graph.nodes[last_add].shape, [64, 8, 8]);
    assert_eq!(graph.nodes[graph.logits].shape, [10, 1, 1]);
    assert!(graph.nodes.iter().all(|node| !node.drop_path));
}

#[test]
fn node_sums_read_one_edge_per_state() {
    let config = SearchConfig {
        layers: 3,
        steps: 3,
        multiplier: 2,
        ..SearchConfig::default()
    };
    let graph = build_search_network(&config).unwrap();
    // The first cell's intermediate nodes are the first `steps` Add nodes.
    let adds: Vec<usize> = (0..graph.nodes.len())
        .filter(|&id| graph.nodes[id].op == Op::Add)
        .take(config.steps)
        .collect();
    for (node, &add) in adds.iter().enumerate() {
        let rows: Vec<usize> = graph.nodes[add]
            .inputs
            .iter()
            .map(|&edge| match graph.nodes[edge].op {
                Op::MixedOp { row, .. } => row,
                ref op => panic!("node {node} sums {op:?}"),
            })
            .collect();
        assert_eq!(rows, node_rows(node).collect::<Vec<_>>(), "node {node}");
    }
    // The cell output concatenates the last two states: 2 x 16 channels.
    let last_state = adds[config.steps - 1];
    let concat = graph
        .nodes
        .iter()
        .position(|node| node.op == Op::Concat && node.inputs.contains(&last_state))
        .unwrap();
    assert_eq!(graph.nodes[concat].inputs, adds[1..].to_vec());
    assert_eq!(graph.nodes[concat].shape, [32, 32, 32]);
}

#[test]
fn weighting_carried_by_every_mixed_op() {
    let config = SearchConfig {
        weighting: Weighting::MaxW,
        layers: 3,
        ..SearchConfig::default()
    };
    let graph = build_search_network(&config).unwrap();
    let weightings: HashSet<Weighting> = graph
        .nodes
        .iter()
        .filter_map(|node| match node.op {
            Op::MixedOp { weighting, .. } => Some(weighting),
            _ => None,
        })
        .collect();
    assert_eq!(weightings, HashSet::from([Weighting::MaxW]));
}

#[test]
fn mixed_op_is_free_in_macs() {
    let mut builder = GraphBuilder::new([4, 8, 8]);
    let x = GraphBuilder::INPUT;
    let pool = builder.push(Op::GlobalAvgPool, vec![x]);
    let other = builder.push(Op::GlobalAvgPool, vec![x]);
    let mixed = Op::MixedOp {
        cell: CellKind::Normal,
        row: 0,
        weighting: Weighting::Scalar,
    };
    let sum = builder.push(mixed, vec![pool, other]);
    let graph = builder.finish(sum, None);
    // Each global pool reads 4 x 8 x 8 elements; the mixed sum adds nothing.
    assert_eq!(count_macs(&graph), 2 * 256);
    assert_eq!(count_parameters(&graph).main, 0);
}

#[test]
fn config_errors_name_option() {
    let cases = [
        (
            config(PrimitiveSet::MultiChannelNet),
            "--primitives MULTICHANNELNET_PRIMITIVES",
        ),
        (
            SearchConfig {
                ops: OpTable::Darts,
                ..config(PrimitiveSet::Sharp)
            },
            "--ops darts",
        ),
        (
            SearchConfig {
                init_channels: 0,
                ..SearchConfig::default()
            },
            "--init-channels 0",
        ),
        (
            SearchConfig {
                layers: 0,
                ..SearchConfig::default()
            },
            "--layers 0",
        ),
        (
            SearchConfig {
                steps: 0,
                ..SearchConfig::default()
            },
            "--steps 0",
        ),
        (
            SearchConfig {
                multiplier: 5,
                ..SearchConfig::default()
            },
            "--multiplier 5",
        ),
        (
            SearchConfig {
                num_classes: 0,
                ..SearchConfig::default()
            },
            "--num-classes 0",
        ),
        (
            SearchConfig {
                image_size: 0,
                ..SearchConfig::default()
            },
            "--image-size 0",
        ),
        (
            SearchConfig {
                layers: 1000,
                steps: 32,
                ..SearchConfig::default()
            },
            "--layers 1000",
        ),
    ];
    for (config, expected) in cases {
        let message = build_search_network(&config).unwrap_err().to_string();
        assert!(message.contains(expected), "{expected}: {message}");
    }
    let darts = SearchConfig {
        ops: OpTable::Darts,
        ..SearchConfig::default()
    };
    let message = darts.validate().unwrap_err().to_string();
    assert!(message.contains("flood_conv_3x3"), "{message}");
    assert!(message.contains("--ops sharp"), "{message}");
}

#[test]
fn small_search_networks_build() {
    // One or two cells and odd sizes still give consistent shapes.
    for (layers, image_size, init_channels) in [(1, 8, 4), (2, 7, 3), (3, 32, 16)] {
        let config = SearchConfig {
            layers,
            image_size,
            init_channels,
            primitives: PrimitiveSet::Sharper,
            ..SearchConfig::default()
        };
        let graph = build_search_network(&config).unwrap();
        assert_eq!(graph.input_shape(), [3, image_size, image_size]);
        assert_eq!(graph.num_classes(), 10);
    }
}

#[test]
fn weighting_names() {
    for weighting in Weighting::ALL {
        let parsed: Weighting = weighting.name().parse().unwrap();
        assert_eq!(parsed, weighting);
        let json = serde_json::to_string(&weighting).unwrap();
        assert_eq!(json, format!("\"{}\"", weighting.name()));
        assert_eq!(serde_json::from_str::<Weighting>(&json).unwrap(), weighting);
    }
    assert_eq!(Weighting::MaxW.to_string(), "max_w");
    let message = "maxw".parse::<Weighting>().unwrap_err().to_string();
    assert!(message.contains("maxw"), "{message}");
    assert!(message.contains("scalar"), "{message}");
    assert!(message.contains("max_w"), "{message}");
}

/// Softmax of `logits`, in f32 as the search computes it.
fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|&e| e / sum).collect()
}

#[test]
fn scalar_coefficients_are_weights() {
    let row = softmax(&[0.3, -1.0, 2.0, 0.0]);
    assert_eq!(Weighting::Scalar.coefficients(&row), row);
}

#[test]
fn max_w_coefficients() {
    let row = [0.1, 0.6, 0.3];
    let coefficients = Weighting::MaxW.coefficients(&row);
    assert_eq!(coefficients[1], 1.0);
    assert!((coefficients[0] - 0.5).abs() < 1e-6, "{coefficients:?}");
    assert!((coefficients[2] - 0.7).abs() < 1e-6, "{coefficients:?}");
    // The maximal candidate gets exactly 1.0, for maxima from near 1/12 to 1.
    let mut state = 12_345_u32;
    for _ in 0..2000 {
        let logits: Vec<f32> = (0..12)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1 << 24) as f32 * 8.0 - 4.0
            })
            .collect();
        let row = softmax(&logits);
        let best = (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        let coefficients = Weighting::MaxW.coefficients(&row);
        assert_eq!(coefficients[best], 1.0, "{row:?}");
        assert!(coefficients.iter().all(|&c| c <= 1.0), "{coefficients:?}");
    }
    // A uniform row gives every candidate 1.
    let uniform = softmax(&[0.0; 9]);
    assert!(Weighting::MaxW
        .coefficients(&uniform)
        .iter()
        .all(|&c| c == 1.0));
}

/// Folder of the published reference data (`genotypes.json`): the
/// `SHARPDARTS_REFERENCE` variable, or `shared/reference` beside the workspace.
fn reference_table() -> serde_json::Value {
    let folder = std::env::var_os("SHARPDARTS_REFERENCE").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/reference"
            ))
        },
        PathBuf::from,
    );
    let path = folder.join("genotypes.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the reference genotype table {}: {e}; set SHARPDARTS_REFERENCE to \
             the folder that contains genotypes.json",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("genotypes.json is valid JSON")
}

/// Reads the normal and reduce weight matrices of one logged weight dump.
fn weight_dump(table: &serde_json::Value, name: &str) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let dump = table["raw_weight_genotypes"]
        .as_array()
        .expect("raw_weight_genotypes is a list")
        .iter()
        .find(|dump| dump["name"] == name)
        .unwrap_or_else(|| panic!("weight dump {name} not found"));
    let matrix = |cell: &str| -> Vec<Vec<f32>> {
        serde_json::from_value(dump[cell].clone())
            .unwrap_or_else(|e| panic!("{name}.{cell} is not a matrix: {e}"))
    };
    (matrix("normal"), matrix("reduce"))
}

#[test]
fn derivation_matches_published_genotypes() {
    let table = reference_table();
    let cases = [
        ("SHARPER_SCALAR_WEIGHTS", "SHARPER_SCALAR"),
        ("SHARPER_MAX_W_WEIGHTS", "SHARPER_MAX_W"),
    ];
    for (dump, prefix) in cases {
        let (normal, reduce) = weight_dump(&table, dump);
        assert_eq!((normal.len(), normal[0].len()), (14, 12), "{dump}");
        let derive =
            |skip| derive_genotype(&normal, &reduce, PrimitiveSet::Sharper, 4, 4, skip).unwrap();
        let skip_none = named(&format!("{prefix}_genotype_skip_none")).unwrap();
        assert_eq!(
            derive(Some(Primitive::None)),
            skip_none.genotype(),
            "{dump}"
        );
        let no_hack = named(&format!("{prefix}_genotype_no_hack")).unwrap();
        assert_eq!(derive(None), no_hack.genotype(), "{dump}");
    }
}

#[test]
fn derived_genotype_builds_final_network() {
    let table = reference_table();
    let (normal, reduce) = weight_dump(&table, "SHARPER_MAX_W_WEIGHTS");
    let genotype = derive_genotype(
        &normal,
        &reduce,
        PrimitiveSet::Sharper,
        4,
        4,
        Some(Primitive::None),
    )
    .unwrap();
    let graph = build_network(&genotype, &NetworkConfig::cifar10(16, 8)).unwrap();
    assert_eq!(graph.num_classes(), 10);
}

/// Builds a 2-step weight matrix (5 rows) of DARTS_PRIMITIVES columns, zero
/// except for the given `(row, column, weight)` entries.
fn matrix(entries: &[(usize, usize, f32)]) -> Vec<Vec<f32>> {
    let mut rows = vec![vec![0.0; 8]; 5];
    for &(row, column, weight) in entries {
        rows[row][column] = weight;
    }
    rows
}

fn derive_two_steps(weights: &[Vec<f32>], skip: Option<Primitive>) -> Genotype {
    derive_genotype(weights, weights, PrimitiveSet::Darts, 2, 2, skip).unwrap()
}

fn pairs(edges: &[models::Edge]) -> Vec<(&'static str, usize)> {
    edges.iter().map(|e| (e.op.name(), e.input)).collect()
}

#[test]
fn equal_edge_scores_keep_lower_input() {
    // Node 0's two edges tie at 0.5 and keep input order. In node 1 (rows
    // 2-4), inputs 1 and 2 tie at 0.4 above input 0's 0.3, so they are kept
    // in input order too.
    let weights = matrix(&[
        (0, 4, 0.5),
        (1, 5, 0.5),
        (2, 3, 0.3),
        (3, 6, 0.4),
        (4, 7, 0.4),
    ]);
    let genotype = derive_two_steps(&weights, Some(Primitive::None));
    assert_eq!(
        pairs(&genotype.normal),
        [
            ("sep_conv_3x3", 0),
            ("sep_conv_5x5", 1),
            ("dil_conv_3x3", 1),
            ("dil_conv_5x5", 2)
        ]
    );
    assert_eq!(genotype.reduce, genotype.normal);
    assert_eq!(genotype.normal_concat, [2, 3]);
}

#[test]
fn higher_score_comes_first() {
    // Node 1: input 2 scores highest and is listed before input 0.
    let weights = matrix(&[
        (0, 1, 0.2),
        (1, 2, 0.1),
        (2, 4, 0.3),
        (3, 4, 0.1),
        (4, 3, 0.9),
    ]);
    let genotype = derive_two_steps(&weights, Some(Primitive::None));
    assert_eq!(
        pairs(&genotype.normal),
        [
            ("max_pool_3x3", 0),
            ("avg_pool_3x3", 1),
            ("skip_connect", 2),
            ("sep_conv_3x3", 0)
        ]
    );
}

#[test]
fn equal_primitive_weights_keep_first_column() {
    // Row 0 ties columns 2 and 6 at 0.4; row 1 ties every column at 0.
    let weights = matrix(&[(0, 2, 0.4), (0, 6, 0.4), (2, 0, 0.9), (3, 5, 0.1)]);
    let genotype = derive_two_steps(&weights, Some(Primitive::None));
    assert_eq!(
        genotype.normal[0],
        models::Edge {
            op: Primitive::AvgPool3x3,
            input: 0
        }
    );
    // Column 0 (`none`) is skipped, so the all-zero row picks column 1.
    assert_eq!(
        genotype.normal[1],
        models::Edge {
            op: Primitive::MaxPool3x3,
            input: 1
        }
    );
}

#[test]
fn skipped_primitive_ignored_in_scores() {
    // Row 2's `none` weight is the largest in node 1, but with `none`
    // skipped its score is only its best other column.
    let weights = matrix(&[(2, 0, 0.9), (2, 4, 0.05), (3, 5, 0.2), (4, 6, 0.1)]);
    let skipped = derive_two_steps(&weights, Some(Primitive::None));
    assert_eq!(
        pairs(&skipped.normal[2..]),
        [("sep_conv_5x5", 1), ("dil_conv_3x3", 2)]
    );
    let kept = derive_two_steps(&weights, None);
    assert_eq!(pairs(&kept.normal[2..]), [("none", 0), ("sep_conv_5x5", 1)]);
    // Skipping another primitive works the same way.
    let no_sep = derive_two_steps(&weights, Some(Primitive::SepConv5x5));
    assert_eq!(
        pairs(&no_sep.normal[2..]),
        [("none", 0), ("dil_conv_3x3", 2)]
    );
}

#[test]
fn derivation_errors_name_sizes() {
    let weights = matrix(&[]);
    let derive = |normal: &[Vec<f32>], reduce: &[Vec<f32>], skip| {
        derive_genotype(normal, reduce, PrimitiveSet::Darts, 2, 2, skip)
            .unwrap_err()
            .to_string()
    };
    let message = derive(&weights[..4], &weights, None);
    assert!(message.contains("normal weights have 4 rows"), "{message}");
    assert!(message.contains("5 edges"), "{message}");

    let mut short = weights.clone();
    short[3].pop();
    let message = derive(&weights, &short, None);
    assert!(
        message.contains("row 3 of the reduce weights has 7 values"),
        "{message}"
    );
    assert!(message.contains("DARTS_PRIMITIVES has 8"), "{message}");

    let mut nan = weights.clone();
    nan[1][2] = f32::NAN;
    let message = derive(&nan, &weights, None);
    assert!(message.contains("row 1, column 2 is NaN"), "{message}");

    let message = derive(&weights, &weights, Some(Primitive::FloodConv3x3));
    assert!(
        message.contains("flood_conv_3x3 is not in DARTS_PRIMITIVES"),
        "{message}"
    );

    let message = derive_genotype(&weights, &weights, PrimitiveSet::Darts, 2, 3, None)
        .unwrap_err()
        .to_string();
    assert!(message.contains("multiplier 3"), "{message}");

    let set = PrimitiveSet::MultiChannelNet;
    let message = derive_genotype(&weights, &weights, set, 2, 2, None)
        .unwrap_err()
        .to_string();
    assert!(message.contains("MULTICHANNELNET_PRIMITIVES"), "{message}");
}

#[test]
fn parameter_free_shares() {
    // SHARP_DARTS: normal has 5 of 8 parameter-free edges (skips), reduce 7 of 8.
    let genotype = named("SHARP_DARTS").unwrap().genotype();
    let share = parameter_free_share(&genotype);
    assert_eq!(share.normal, 5.0 / 8.0);
    assert_eq!(share.reduce, 7.0 / 8.0);
    assert_eq!(share.overall, 12.0 / 16.0);
    // The no-skip SHARPER_SCALAR genotype keeps `none` edges, which count too.
    let no_hack = named("SHARPER_SCALAR_genotype_no_hack").unwrap().genotype();
    let share = parameter_free_share(&no_hack);
    assert_eq!(share.normal, 7.0 / 8.0);
    assert_eq!(share.reduce, 6.0 / 8.0);
}

#[test]
fn derived_genotype_file_round_trip() {
    let table = reference_table();
    let (normal, reduce) = weight_dump(&table, "SHARPER_SCALAR_WEIGHTS");
    let genotype = derive_genotype(
        &normal,
        &reduce,
        PrimitiveSet::Sharper,
        4,
        4,
        Some(Primitive::None),
    )
    .unwrap();
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("genotype.json");
    models::io::write_atomic(&path, genotype.to_json().as_bytes()).unwrap();
    // `train final --genotype FILE` resolves its argument this way.
    let read = Genotype::resolve(path.to_str().unwrap()).unwrap();
    assert_eq!(read, genotype);
    assert_eq!(Genotype::from_json(&genotype.to_json()).unwrap(), genotype);
}

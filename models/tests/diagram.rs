//! Cell diagrams of every built-in genotype: the DOT graph against the
//! genotype's edges and concat lists, and the SVG as a well-formed drawing.

use std::collections::{BTreeMap, BTreeSet};

use models::genotype::named_genotypes;
use models::{cell_dot, cell_svg, CellKind, Edge, Genotype};

/// The nodes (id to label) and edges of a DOT file as `cell_dot` writes it:
/// one statement per line.
struct DotGraph {
    nodes: BTreeMap<String, String>,
    edges: Vec<(String, String)>,
}

fn parse_dot(dot: &str) -> DotGraph {
    let mut nodes = BTreeMap::new();
    let mut edges = Vec::new();
    for line in dot.lines().map(str::trim) {
        if let Some((from, to)) = line.split_once(" -> ") {
            let to = to.strip_suffix(';').expect("an edge statement ends with ;");
            edges.push((unquote(from), unquote(to)));
        } else if line.starts_with('"') {
            let (id, attributes) = line
                .split_once(" [")
                .expect("a node statement has attributes");
            let label = attributes
                .split_once("label=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(label, _)| label.to_string())
                .expect("every node has a label");
            let previous = nodes.insert(unquote(id), label);
            assert!(previous.is_none(), "node {id} declared twice");
        }
    }
    DotGraph { nodes, edges }
}

fn unquote(text: &str) -> String {
    text.trim()
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{text} is not a quoted id"))
        .to_string()
}

fn cell(genotype: &Genotype, kind: CellKind) -> (&[Edge], &[usize]) {
    match kind {
        CellKind::Normal => (&genotype.normal, &genotype.normal_concat),
        CellKind::Reduction => (&genotype.reduce, &genotype.reduce_concat),
    }
}

/// Returns the node id of cell state `state`: the two inputs, then the sums.
fn state_id(state: usize) -> String {
    match state {
        0 | 1 => format!("input_{state}"),
        _ => format!("sum_{}", state - 2),
    }
}

/// Derives the expected edges from the genotype, independently of the crate.
fn expected_edges(edges: &[Edge], concat: &[usize]) -> BTreeSet<(String, String)> {
    let mut expected = BTreeSet::new();
    for (i, edge) in edges.iter().enumerate() {
        expected.insert((state_id(edge.input), format!("op_{i}")));
        expected.insert((format!("op_{i}"), format!("sum_{}", i / 2)));
    }
    for &state in concat {
        expected.insert((state_id(state), "output".to_string()));
    }
    expected
}

/// Returns the labels every diagram of the cell must show, sorted.
fn expected_labels(edges: &[Edge]) -> Vec<String> {
    let mut labels = vec![
        "c_{k-2}".to_string(),
        "c_{k-1}".to_string(),
        "c_{k}".to_string(),
    ];
    labels.extend(edges.iter().map(|edge| edge.op.name().to_string()));
    labels.extend(std::iter::repeat_n("+".to_string(), edges.len() / 2));
    labels.sort();
    labels
}

fn each_cell(mut check: impl FnMut(&str, CellKind, &Genotype)) {
    for named in named_genotypes() {
        for kind in CellKind::ALL {
            check(&named.name, kind, &named.genotype());
        }
    }
}

#[test]
fn dot_nodes_match_genotype() {
    each_cell(|name, kind, genotype| {
        let (edges, _) = cell(genotype, kind);
        let graph = parse_dot(&cell_dot(genotype, kind));
        let steps = edges.len() / 2;
        let context = format!("{name} {}", kind.name());
        assert_eq!(graph.nodes.len(), edges.len() + steps + 3, "{context}");
        assert_eq!(graph.nodes["input_0"], "c_{k-2}", "{context}");
        assert_eq!(graph.nodes["input_1"], "c_{k-1}", "{context}");
        assert_eq!(graph.nodes["output"], "c_{k}", "{context}");
        for (i, edge) in edges.iter().enumerate() {
            assert_eq!(
                graph.nodes[&format!("op_{i}")],
                edge.op.name(),
                "{context} op {i}"
            );
        }
        for j in 0..steps {
            assert_eq!(graph.nodes[&format!("sum_{j}")], "+", "{context} sum {j}");
        }
    });
}

#[test]
fn dot_edges_match_genotype() {
    each_cell(|name, kind, genotype| {
        let (edges, concat) = cell(genotype, kind);
        let graph = parse_dot(&cell_dot(genotype, kind));
        let context = format!("{name} {}", kind.name());
        assert_eq!(
            graph.edges.len(),
            2 * edges.len() + concat.len(),
            "{context}"
        );
        for (from, to) in &graph.edges {
            assert!(
                graph.nodes.contains_key(from),
                "{context}: undeclared {from}"
            );
            assert!(graph.nodes.contains_key(to), "{context}: undeclared {to}");
        }
        let actual: BTreeSet<(String, String)> = graph.edges.iter().cloned().collect();
        assert_eq!(actual.len(), graph.edges.len(), "{context}: repeated edge");
        assert_eq!(actual, expected_edges(edges, concat), "{context}");
    });
}

#[test]
fn nasnet_output_follows_concat() {
    let genotype = Genotype::resolve("NASNet").unwrap();
    let into_output = |kind| -> Vec<String> {
        let graph = parse_dot(&cell_dot(&genotype, kind));
        let mut sources: Vec<String> = graph
            .edges
            .into_iter()
            .filter(|(_, to)| to == "output")
            .map(|(from, _)| from)
            .collect();
        sources.sort();
        sources
    };
    // NASNet's normal cell concatenates all five nodes, its reduction cell
    // only nodes 2 to 4.
    assert_eq!(genotype.normal_concat, [2, 3, 4, 5, 6]);
    assert_eq!(
        into_output(CellKind::Normal),
        ["sum_0", "sum_1", "sum_2", "sum_3", "sum_4"]
    );
    assert_eq!(genotype.reduce_concat, [4, 5, 6]);
    assert_eq!(
        into_output(CellKind::Reduction),
        ["sum_2", "sum_3", "sum_4"]
    );
}

#[test]
fn concat_of_input_drawn() {
    let mut genotype = Genotype::resolve("DARTS").unwrap();
    genotype.normal_concat = vec![0, 3, 5];
    genotype.validate().unwrap();
    let graph = parse_dot(&cell_dot(&genotype, CellKind::Normal));
    let expected = expected_edges(&genotype.normal, &genotype.normal_concat);
    let actual: BTreeSet<(String, String)> = graph.edges.into_iter().collect();
    assert!(actual.contains(&("input_0".to_string(), "output".to_string())));
    assert!(!actual.contains(&("sum_0".to_string(), "output".to_string())));
    assert_eq!(actual, expected);
    let svg = cell_svg(&genotype, CellKind::Normal);
    let document = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(count_edge_paths(&document), expected.len());
}

/// Counts the `<path>` elements that end in an arrowhead, one per edge.
fn count_edge_paths(document: &roxmltree::Document) -> usize {
    document
        .descendants()
        .filter(|node| node.has_tag_name("path") && node.attribute("marker-end").is_some())
        .count()
}

fn count_elements(document: &roxmltree::Document, tag: &str) -> usize {
    document
        .descendants()
        .filter(|node| node.has_tag_name(tag))
        .count()
}

fn number(node: roxmltree::Node, attribute: &str) -> f64 {
    node.attribute(attribute)
        .unwrap_or_else(|| panic!("<{}> has no {attribute}", node.tag_name().name()))
        .parse()
        .unwrap()
}

/// Returns `[left, top, right, bottom]` of every node's `<rect>` or `<circle>`.
fn node_bounds(document: &roxmltree::Document) -> Vec<(String, [f64; 4])> {
    let mut bounds = Vec::new();
    for group in document.descendants().filter(|n| n.has_tag_name("g")) {
        let Some(id) = group.attribute("id") else {
            continue;
        };
        let shape = group.children().find(|n| n.is_element()).unwrap();
        let bound = if shape.has_tag_name("circle") {
            let (x, y, r) = (number(shape, "cx"), number(shape, "cy"), number(shape, "r"));
            [x - r, y - r, x + r, y + r]
        } else {
            let (x, y) = (number(shape, "x"), number(shape, "y"));
            [
                x,
                y,
                x + number(shape, "width"),
                y + number(shape, "height"),
            ]
        };
        bounds.push((id.to_string(), bound));
    }
    bounds
}

#[test]
fn svg_parses_with_one_label_per_node() {
    each_cell(|name, kind, genotype| {
        let (edges, concat) = cell(genotype, kind);
        let svg = cell_svg(genotype, kind);
        let context = format!("{name} {}", kind.name());
        let document = roxmltree::Document::parse(&svg)
            .unwrap_or_else(|e| panic!("{context}: invalid XML: {e}"));
        let root = document.root_element();
        assert!(
            root.has_tag_name(("http://www.w3.org/2000/svg", "svg")),
            "{context}"
        );
        assert_eq!(root.attribute("version"), Some("1.1"), "{context}");

        let mut labels: Vec<String> = document
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or_default().to_string())
            .collect();
        labels.sort();
        assert_eq!(labels, expected_labels(edges), "{context}");
        let edge_count = 2 * edges.len() + concat.len();
        assert_eq!(count_edge_paths(&document), edge_count, "{context}");
        for tag in ["script", "image", "style", "foreignObject"] {
            assert_eq!(count_elements(&document, tag), 0, "{context}: <{tag}>");
        }
    });
}

#[test]
fn svg_nodes_inside_and_apart() {
    each_cell(|name, kind, genotype| {
        let svg = cell_svg(genotype, kind);
        let document = roxmltree::Document::parse(&svg).unwrap();
        let root = document.root_element();
        let (width, height) = (number(root, "width"), number(root, "height"));
        let bounds = node_bounds(&document);
        let context = format!("{name} {}", kind.name());
        assert_eq!(
            bounds.len(),
            3 + genotype_nodes(genotype, kind),
            "{context}"
        );
        for (id, [left, top, right, bottom]) in &bounds {
            assert!(*left >= 0.0, "{context}: {id} cut off at the left");
            assert!(*top >= 0.0, "{context}: {id} cut off at the top");
            assert!(*right <= width, "{context}: {id} cut off at the right");
            assert!(*bottom <= height, "{context}: {id} cut off at the bottom");
        }
        for (i, (a, first)) in bounds.iter().enumerate() {
            for (b, second) in &bounds[i + 1..] {
                let apart = first[2] <= second[0]
                    || second[2] <= first[0]
                    || first[3] <= second[1]
                    || second[3] <= first[1];
                assert!(apart, "{context}: {a} overlaps {b}");
            }
        }
    });
}

/// Counts the operation and sum nodes of a cell.
fn genotype_nodes(genotype: &Genotype, kind: CellKind) -> usize {
    let (edges, _) = cell(genotype, kind);
    edges.len() + edges.len() / 2
}

#[test]
fn inputs_left_output_right() {
    each_cell(|name, kind, genotype| {
        let svg = cell_svg(genotype, kind);
        let document = roxmltree::Document::parse(&svg).unwrap();
        let bounds: BTreeMap<String, [f64; 4]> = node_bounds(&document).into_iter().collect();
        let context = format!("{name} {}", kind.name());
        let input_right = bounds["input_0"][2].max(bounds["input_1"][2]);
        let output_left = bounds["output"][0];
        assert!(
            bounds["input_0"][1] < bounds["input_1"][1],
            "{context}: c_{{k-2}} on top"
        );
        for (id, bound) in &bounds {
            if id.starts_with("op_") || id.starts_with("sum_") {
                assert!(bound[0] > input_right, "{context}: {id} left of the inputs");
                assert!(
                    bound[2] < output_left,
                    "{context}: {id} right of the output"
                );
            }
        }
    });
}

#[test]
fn diagrams_deterministic() {
    let genotype = Genotype::resolve("AmoebaNet").unwrap();
    for kind in CellKind::ALL {
        assert_eq!(cell_dot(&genotype, kind), cell_dot(&genotype, kind));
        assert_eq!(cell_svg(&genotype, kind), cell_svg(&genotype, kind));
    }
}

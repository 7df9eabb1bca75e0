//! Cell diagrams of a genotype, as Graphviz DOT source and as self-contained SVG.
//!
//! A diagram reads left to right. It starts at the cell inputs `c_{k-2}` and
//! `c_{k-1}`. It has one box per operation and one `+` node per intermediate
//! node, which sums its two operations. It ends at the cell output `c_{k}`,
//! which concatenates the states in the cell's concat list. Both formats draw the
//! same nodes and edges, and the text depends only on the genotype.

mod layout;
mod svg;

use std::fmt::Write;

use crate::genotype::{Edge, Genotype};

/// The cell of a genotype to draw: normal or reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CellKind {
    Normal,
    Reduction,
}

impl CellKind {
    /// Both cells, in the order a network first uses them.
    pub const ALL: [CellKind; 2] = [CellKind::Normal, CellKind::Reduction];

    /// Returns the name used in file names and titles: `normal` or `reduction`.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Normal => "normal",
            CellKind::Reduction => "reduction",
        }
    }

    fn edges(self, genotype: &Genotype) -> &[Edge] {
        match self {
            CellKind::Normal => &genotype.normal,
            CellKind::Reduction => &genotype.reduce,
        }
    }

    fn concat(self, genotype: &Genotype) -> &[usize] {
        match self {
            CellKind::Normal => &genotype.normal_concat,
            CellKind::Reduction => &genotype.reduce_concat,
        }
    }
}

/// Renders one cell as Graphviz DOT source, laid out left to right by `dot`.
///
/// Node ids are `input_0` (`c_{k-2}`), `input_1` (`c_{k-1}`), `op_<i>` for
/// edge `i` of the genotype, `sum_<j>` for intermediate node `j` and `output`.
///
/// # Panics
///
/// If the genotype fails [`Genotype::validate`], which genotypes parsed from
/// JSON or taken from the built-in table never do.
pub fn cell_dot(genotype: &Genotype, kind: CellKind) -> String {
    let graph = CellGraph::new(genotype, kind);
    let mut dot = String::new();
    writeln!(dot, "digraph {} {{", quote_dot(kind.name())).unwrap();
    dot.push_str("    rankdir=LR;\n");
    dot.push_str("    node [style=filled, fontname=\"Helvetica\", fontsize=14, penwidth=1.5];\n");
    dot.push_str("    edge [color=\"#555555\", arrowsize=0.8];\n");
    for node in &graph.nodes {
        let (shape, style) = match node.role {
            NodeRole::Operation => ("box", "\"rounded,filled\""),
            NodeRole::Sum => ("circle", "filled"),
            NodeRole::Input | NodeRole::Output => ("box", "filled"),
        };
        writeln!(
            dot,
            "    {} [label={}, shape={shape}, style={style}, fillcolor={}];",
            quote_dot(&node.id),
            quote_dot(&node.label),
            node.role.graphviz_color(),
        )
        .unwrap();
    }
    for &(from, to) in &graph.edges {
        writeln!(
            dot,
            "    {} -> {};",
            quote_dot(&graph.nodes[from].id),
            quote_dot(&graph.nodes[to].id)
        )
        .unwrap();
    }
    dot.push_str("}\n");
    dot
}

/// Renders one cell as a standalone SVG 1.1 document: boxes for the inputs,
/// operations and output, circles for the sums, and arrows between them. It
/// uses no external fonts, images or scripts.
///
/// # Panics
///
/// If the genotype fails [`Genotype::validate`], as [`cell_dot`] does.
pub fn cell_svg(genotype: &Genotype, kind: CellKind) -> String {
    let graph = CellGraph::new(genotype, kind);
    svg::render(&graph, &format!("{} cell", kind.name()))
}

/// The role of a diagram node, which sets its shape and fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeRole {
    Input,
    Operation,
    Sum,
    Output,
}

impl NodeRole {
    /// Returns the X11 color name that Graphviz fills the node with.
    fn graphviz_color(self) -> &'static str {
        match self {
            NodeRole::Input | NodeRole::Operation => "darkseagreen2",
            NodeRole::Sum => "lightblue",
            NodeRole::Output => "palegoldenrod",
        }
    }
}

#[derive(Clone, Debug)]
struct DiagramNode {
    id: String,
    label: String,
    role: NodeRole,
}

/// The nodes and directed edges of one cell diagram.
///
/// Nodes are stored as: the two inputs, one node per operation in genotype
/// order, one sum per intermediate node, then the output.
#[derive(Clone, Debug)]
struct CellGraph {
    nodes: Vec<DiagramNode>,
    /// `(from, to)` indices into `nodes`.
    edges: Vec<(usize, usize)>,
}

impl CellGraph {
    fn new(genotype: &Genotype, kind: CellKind) -> Self {
        if let Err(error) = genotype.validate() {
            panic!("cannot draw the {} cell: {error}", kind.name());
        }
        let cell_edges = kind.edges(genotype);
        let ops = cell_edges.len();
        let steps = ops / 2;
        let mut nodes = vec![
            DiagramNode::new("input_0", "c_{k-2}", NodeRole::Input),
            DiagramNode::new("input_1", "c_{k-1}", NodeRole::Input),
        ];
        for (i, edge) in cell_edges.iter().enumerate() {
            nodes.push(DiagramNode::new(
                &format!("op_{i}"),
                edge.op.name(),
                NodeRole::Operation,
            ));
        }
        for j in 0..steps {
            nodes.push(DiagramNode::new(&format!("sum_{j}"), "+", NodeRole::Sum));
        }
        nodes.push(DiagramNode::new("output", "c_{k}", NodeRole::Output));

        // States 0 and 1 are the inputs, and state `s >= 2` is the sum of node `s - 2`.
        let state_node = |state: usize| {
            if state < 2 {
                state
            } else {
                2 + ops + state - 2
            }
        };
        let output = nodes.len() - 1;
        let mut edges = Vec::with_capacity(2 * ops + steps);
        for (i, edge) in cell_edges.iter().enumerate() {
            let op = 2 + i;
            edges.push((state_node(edge.input), op));
            edges.push((op, state_node(2 + i / 2)));
        }
        for &state in kind.concat(genotype) {
            edges.push((state_node(state), output));
        }
        CellGraph { nodes, edges }
    }
}

impl DiagramNode {
    fn new(id: &str, label: &str, role: NodeRole) -> Self {
        DiagramNode {
            id: id.to_string(),
            label: label.to_string(),
            role,
        }
    }
}

/// Quotes a DOT identifier, escaping backslashes and double quotes.
fn quote_dot(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genotype::named;

    #[test]
    fn state_indices_map_to_nodes() {
        let genotype = named("DARTS_V2").unwrap().genotype();
        let graph = CellGraph::new(&genotype, CellKind::Normal);
        let id = |index: usize| graph.nodes[index].id.as_str();
        let edges: Vec<(&str, &str)> = graph.edges.iter().map(|&(a, b)| (id(a), id(b))).collect();
        // DARTS_V2 normal edges 2 and 3 read c_{k-2} and c_{k-1} into node 1.
        // Edge 7 reads node 0 (state 2) into node 3.
        assert!(edges.contains(&("input_0", "op_2")), "{edges:?}");
        assert!(edges.contains(&("input_1", "op_3")), "{edges:?}");
        assert!(edges.contains(&("op_2", "sum_1")), "{edges:?}");
        assert!(edges.contains(&("op_3", "sum_1")), "{edges:?}");
        assert!(edges.contains(&("sum_0", "op_7")), "{edges:?}");
        assert!(edges.contains(&("op_7", "sum_3")), "{edges:?}");
        assert!(edges.contains(&("sum_3", "output")), "{edges:?}");
    }

    #[test]
    fn concat_input_feeds_output() {
        let mut genotype = named("DARTS_V2").unwrap().genotype();
        genotype.normal_concat = vec![1, 3];
        let graph = CellGraph::new(&genotype, CellKind::Normal);
        let output = graph.nodes.len() - 1;
        let into_output: Vec<&str> = graph
            .edges
            .iter()
            .filter(|&&(_, to)| to == output)
            .map(|&(from, _)| graph.nodes[from].id.as_str())
            .collect();
        assert_eq!(into_output, ["input_1", "sum_1"]);
    }

    #[test]
    fn dot_quotes_escaped() {
        assert_eq!(quote_dot(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    #[should_panic(expected = "cannot draw the normal cell")]
    fn invalid_genotype_panics() {
        let mut genotype = named("DARTS_V2").unwrap().genotype();
        genotype.normal[0].input = 7;
        cell_dot(&genotype, CellKind::Normal);
    }
}

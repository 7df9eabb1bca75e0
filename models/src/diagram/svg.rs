//! SVG 1.1 rendering of a laid-out cell diagram.

use std::fmt::Write;

use super::layout::{self, NodeSize, Point};
use super::{CellGraph, NodeRole};

const FONT_SIZE: f64 = 14.0;
/// Advance of one character of DejaVu Sans Mono, measured as 0.602 em. A
/// monospace font makes label widths predictable without font metrics, and
/// the label padding absorbs the small differences between monospace fonts.
const CHAR_WIDTH: f64 = 0.602 * FONT_SIZE;
const FONT_FAMILY: &str = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace";
/// Space between a label and the left and right sides of its box.
const LABEL_PADDING: f64 = 12.0;
const OPERATION_HEIGHT: f64 = 30.0;
/// The inputs and the output are taller, since many edges can meet there.
const TERMINAL_HEIGHT: f64 = 40.0;
const SUM_DIAMETER: f64 = 28.0;
/// Length of an arrowhead along its edge.
const ARROW_LENGTH: f64 = 8.0;
const EDGE_COLOR: &str = "#555555";
const OUTLINE_COLOR: &str = "#333333";

/// Renders `graph` as a standalone SVG document titled `title`.
pub(super) fn render(graph: &CellGraph, title: &str) -> String {
    let sizes: Vec<NodeSize> = graph
        .nodes
        .iter()
        .map(|node| node_size(&node.label, node.role))
        .collect();
    let layout = layout::layout(graph, &sizes);
    let mut svg = String::new();
    writeln!(
        svg,
        r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>"#
    )
    .unwrap();
    writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}">"#,
        w = layout.width.ceil(),
        h = layout.height.ceil(),
    )
    .unwrap();
    writeln!(svg, "<title>{}</title>", escape_xml(title)).unwrap();
    writeln!(
        svg,
        r#"<defs><marker id="arrowhead" viewBox="0 0 {l} 8" refX="0" refY="4" markerUnits="userSpaceOnUse" markerWidth="{l}" markerHeight="8" orient="auto"><path d="M 0 0 L {l} 4 L 0 8 z" fill="{EDGE_COLOR}"/></marker></defs>"#,
        l = ARROW_LENGTH,
    )
    .unwrap();
    writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#).unwrap();

    writeln!(
        svg,
        r#"<g fill="none" stroke="{EDGE_COLOR}" stroke-width="1.4">"#
    )
    .unwrap();
    for route in &layout.routes {
        writeln!(
            svg,
            r#"<path d="{}" marker-end="url(#arrowhead)"/>"#,
            path_data(route)
        )
        .unwrap();
    }
    svg.push_str("</g>\n");

    writeln!(
        svg,
        r#"<g stroke="{OUTLINE_COLOR}" stroke-width="1.5" font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}" text-anchor="middle">"#
    )
    .unwrap();
    for ((node, size), center) in graph.nodes.iter().zip(&sizes).zip(&layout.centers) {
        write_node(&mut svg, &node.id, &node.label, node.role, *size, *center);
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}

fn node_size(label: &str, role: NodeRole) -> NodeSize {
    let text_width = label.chars().count() as f64 * CHAR_WIDTH;
    match role {
        NodeRole::Sum => NodeSize {
            width: SUM_DIAMETER,
            height: SUM_DIAMETER,
            is_circle: true,
        },
        NodeRole::Operation => NodeSize {
            width: text_width + 2.0 * LABEL_PADDING,
            height: OPERATION_HEIGHT,
            is_circle: false,
        },
        NodeRole::Input | NodeRole::Output => NodeSize {
            width: text_width + 2.0 * LABEL_PADDING,
            height: TERMINAL_HEIGHT,
            is_circle: false,
        },
    }
}

/// Returns the hex form of the X11 color that Graphviz uses for `role`, since
/// SVG has no `darkseagreen2`.
fn fill_color(role: NodeRole) -> &'static str {
    match role {
        NodeRole::Input | NodeRole::Operation => "#b4eeb4",
        NodeRole::Sum => "#add8e6",
        NodeRole::Output => "#eee8aa",
    }
}

fn write_node(
    svg: &mut String,
    id: &str,
    label: &str,
    role: NodeRole,
    size: NodeSize,
    center: Point,
) {
    writeln!(svg, r#"<g id="{}">"#, escape_xml(id)).unwrap();
    let fill = fill_color(role);
    if size.is_circle {
        writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{:.1}" fill="{fill}"/>"#,
            center.x,
            center.y,
            size.width / 2.0
        )
        .unwrap();
    } else {
        let corner = if role == NodeRole::Operation {
            8.0
        } else {
            0.0
        };
        writeln!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{corner}" fill="{fill}"/>"#,
            center.x - size.width / 2.0,
            center.y - size.height / 2.0,
            size.width,
            size.height
        )
        .unwrap();
    }
    // Renderers disagree on `dominant-baseline`, so the baseline is placed
    // 0.35 em below the node's center, which centers lowercase text and digits.
    writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" stroke="none" fill="black">{}</text>"#,
        center.x,
        center.y + 0.35 * FONT_SIZE,
        escape_xml(label)
    )
    .unwrap();
    svg.push_str("</g>\n");
}

/// Returns SVG path data for a route: straight where two points share `y`,
/// otherwise a cubic curve that leaves and arrives horizontally. The route
/// stops one arrowhead short of its end, and the arrowhead fills the rest.
fn path_data(route: &[Point]) -> String {
    let mut points = route.to_vec();
    let end = points.pop().expect("a route has two points or more");
    let arrow_base = Point {
        x: end.x - ARROW_LENGTH,
        y: end.y,
    };
    while points.len() > 1 && points[points.len() - 1].x >= arrow_base.x {
        points.pop();
    }
    points.push(arrow_base);

    let mut data = format!("M {:.1} {:.1}", points[0].x, points[0].y);
    for pair in points.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        if (from.y - to.y).abs() < 0.05 {
            write!(data, " L {:.1} {:.1}", to.x, to.y).unwrap();
        } else {
            let middle = (from.x + to.x) / 2.0;
            write!(
                data,
                " C {:.1} {:.1} {:.1} {:.1} {:.1} {:.1}",
                middle, from.y, middle, to.y, to.x, to.y
            )
            .unwrap();
        }
    }
    data
}

/// Escapes text for XML content and double-quoted attribute values.
fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_specials_escaped() {
        assert_eq!(
            escape_xml(r#"a<b & "c'>"#),
            "a&lt;b &amp; &quot;c&apos;&gt;"
        );
    }

    #[test]
    fn straight_route_ends_at_arrow_base() {
        let route = [Point { x: 0.0, y: 10.0 }, Point { x: 50.0, y: 10.0 }];
        assert_eq!(path_data(&route), "M 0.0 10.0 L 42.0 10.0");
    }

    #[test]
    fn bent_route_is_cubic() {
        let route = [Point { x: 0.0, y: 0.0 }, Point { x: 48.0, y: 20.0 }];
        assert_eq!(
            path_data(&route),
            "M 0.0 0.0 C 20.0 0.0 20.0 20.0 40.0 20.0"
        );
    }
}

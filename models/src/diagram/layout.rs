//! Layered left-to-right layout of a cell diagram, in the Sugiyama style:
//! ranks, dummy vertices on long edges, crossing reduction by barycenters and
//! adjacent swaps, then vertical placement by weighted least squares.

use super::{CellGraph, NodeRole};

/// Horizontal gap between the widest nodes of neighbouring ranks, in pixels.
const RANK_GAP: f64 = 56.0;
/// Vertical gap between two nodes of one rank.
const NODE_GAP: f64 = 18.0;
/// Vertical gap next to a dummy vertex, where a long edge passes a rank.
const DUMMY_GAP: f64 = 10.0;
/// Blank border around the drawing.
pub(super) const MARGIN: f64 = 16.0;
/// Maximum passes of barycenter ordering, which stops early once no edges cross.
const ORDER_PASSES: usize = 24;
/// Passes of vertical placement.
const PLACE_PASSES: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Point {
    pub x: f64,
    pub y: f64,
}

/// The drawn extent of a node: a box, or a circle when `is_circle` is set
/// (then `width == height` is the diameter).
#[derive(Clone, Copy, Debug)]
pub(super) struct NodeSize {
    pub width: f64,
    pub height: f64,
    pub is_circle: bool,
}

/// Node centers and edge routes of a laid-out diagram, in pixels from the
/// top-left corner.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    pub width: f64,
    pub height: f64,
    pub centers: Vec<Point>,
    /// For each graph edge, the polyline from a port on the source's right
    /// side to a port on the target's left side. Consecutive points at equal
    /// `y` are joined straight and the others by a horizontal S-curve.
    pub routes: Vec<Vec<Point>>,
}

/// A vertex of the layered graph: a diagram node, or a dummy where a long
/// edge crosses a rank.
#[derive(Clone, Copy, Debug)]
struct Vertex {
    rank: usize,
    height: f64,
    is_dummy: bool,
}

/// The layered graph: vertices, the chain of vertices each edge passes, and
/// the vertex order within each rank.
struct Layers {
    vertices: Vec<Vertex>,
    chains: Vec<Vec<usize>>,
    /// `(upper, lower)` pairs of vertices in neighbouring ranks.
    segments: Vec<(usize, usize)>,
    order: Vec<Vec<usize>>,
}

/// Lays out `graph` with the given node sizes, indexed like `graph.nodes`.
pub(super) fn layout(graph: &CellGraph, sizes: &[NodeSize]) -> Layout {
    let ranks = assign_ranks(graph);
    let mut layers = Layers::new(graph, &ranks, sizes);
    layers.reduce_crossings();
    let ys = layers.place_vertically();

    let rank_count = layers.order.len();
    let mut rank_widths = vec![0.0_f64; rank_count];
    for (node, size) in sizes.iter().enumerate() {
        rank_widths[ranks[node]] = rank_widths[ranks[node]].max(size.width);
    }
    let mut rank_centers = Vec::with_capacity(rank_count);
    let mut left = MARGIN;
    for width in &rank_widths {
        rank_centers.push(left + width / 2.0);
        left += width + RANK_GAP;
    }
    let width = left - RANK_GAP + MARGIN;

    let top = (0..layers.vertices.len())
        .map(|v| ys[v] - layers.vertices[v].height / 2.0)
        .fold(f64::INFINITY, f64::min);
    let bottom = (0..layers.vertices.len())
        .map(|v| ys[v] + layers.vertices[v].height / 2.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let shift = MARGIN - top;
    let ys: Vec<f64> = ys.iter().map(|y| y + shift).collect();

    let centers = (0..sizes.len())
        .map(|node| Point {
            x: rank_centers[ranks[node]],
            y: ys[node],
        })
        .collect::<Vec<_>>();
    let ports = layers.port_offsets(&ys, sizes);
    let routes = layers
        .chains
        .iter()
        .enumerate()
        .map(|(edge, chain)| {
            let geometry = RouteGeometry {
                centers: &centers,
                sizes,
                rank_centers: &rank_centers,
                rank_widths: &rank_widths,
            };
            geometry.route(&layers.vertices, &ys, chain, ports[edge])
        })
        .collect();
    Layout {
        width,
        height: bottom - top + 2.0 * MARGIN,
        centers,
        routes,
    }
}

/// Ranks the nodes left to right: inputs first, each sum one rank after its
/// latest operation, each operation just before its sum, and the output
/// alone in the last rank.
fn assign_ranks(graph: &CellGraph) -> Vec<usize> {
    let count = graph.nodes.len();
    let mut ranks = vec![0; count];
    // Longest path from the inputs. The graph is acyclic, so `count` passes settle it.
    for _ in 0..count {
        let mut changed = false;
        for &(from, to) in &graph.edges {
            if ranks[to] < ranks[from] + 1 {
                ranks[to] = ranks[from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    // An operation feeds only its sum. Placing it right before the sum keeps
    // the operations of one node together and leaves only input edges long.
    for (node, diagram_node) in graph.nodes.iter().enumerate() {
        if diagram_node.role == NodeRole::Operation {
            let successor = graph
                .edges
                .iter()
                .filter(|&&(from, _)| from == node)
                .map(|&(_, to)| ranks[to])
                .min();
            if let Some(rank) = successor {
                ranks[node] = rank - 1;
            }
        }
    }

    // A sum missing from the concat list has no edge to the output and can
    // end up as far right as the output, so the output moves past every node.
    let last = (0..count)
        .filter(|&node| graph.nodes[node].role != NodeRole::Output)
        .map(|node| ranks[node])
        .max()
        .unwrap_or(0);
    for (node, diagram_node) in graph.nodes.iter().enumerate() {
        if diagram_node.role == NodeRole::Output {
            ranks[node] = last + 1;
        }
    }
    ranks
}

impl Layers {
    /// Splits every edge that spans several ranks into a chain through dummy
    /// vertices, one per rank it crosses.
    fn new(graph: &CellGraph, ranks: &[usize], sizes: &[NodeSize]) -> Self {
        let mut vertices: Vec<Vertex> = ranks
            .iter()
            .zip(sizes)
            .map(|(&rank, size)| Vertex {
                rank,
                height: size.height,
                is_dummy: false,
            })
            .collect();
        let mut chains = Vec::with_capacity(graph.edges.len());
        let mut segments = Vec::new();
        for &(from, to) in &graph.edges {
            let mut chain = vec![from];
            for rank in ranks[from] + 1..ranks[to] {
                vertices.push(Vertex {
                    rank,
                    height: 0.0,
                    is_dummy: true,
                });
                chain.push(vertices.len() - 1);
            }
            chain.push(to);
            segments.extend(chain.windows(2).map(|pair| (pair[0], pair[1])));
            chains.push(chain);
        }
        let rank_count = ranks.iter().max().map_or(0, |max| max + 1);
        let mut order = vec![Vec::new(); rank_count];
        for (v, vertex) in vertices.iter().enumerate() {
            order[vertex.rank].push(v);
        }
        Layers {
            vertices,
            chains,
            segments,
            order,
        }
    }

    /// Returns each vertex's index within its rank.
    fn positions(&self) -> Vec<usize> {
        let mut positions = vec![0; self.vertices.len()];
        for rank in &self.order {
            for (i, &v) in rank.iter().enumerate() {
                positions[v] = i;
            }
        }
        positions
    }

    /// Counts edge crossings between rank `upper` and rank `upper + 1`.
    fn crossings_below(&self, upper: usize, positions: &[usize]) -> usize {
        let between: Vec<(usize, usize)> = self
            .segments
            .iter()
            .filter(|&&(from, _)| self.vertices[from].rank == upper)
            .map(|&(from, to)| (positions[from], positions[to]))
            .collect();
        let mut count = 0;
        for (i, a) in between.iter().enumerate() {
            for b in &between[i + 1..] {
                if (a.0 < b.0 && a.1 > b.1) || (a.0 > b.0 && a.1 < b.1) {
                    count += 1;
                }
            }
        }
        count
    }

    fn total_crossings(&self) -> usize {
        let positions = self.positions();
        (0..self.order.len().saturating_sub(1))
            .map(|rank| self.crossings_below(rank, &positions))
            .sum()
    }

    /// Orders each rank to reduce crossings: alternate sweeps that sort by the
    /// mean position of the neighbours in the previous rank, each followed by
    /// adjacent swaps, keeping the best order seen. The first rank, the
    /// inputs, keeps `c_{k-2}` above `c_{k-1}` in every diagram.
    fn reduce_crossings(&mut self) {
        self.swap_adjacent();
        let mut best = (self.total_crossings(), self.order.clone());
        for pass in 0..ORDER_PASSES {
            if best.0 == 0 {
                break;
            }
            let downward = pass % 2 == 0;
            let rank_count = self.order.len();
            let ranks: Vec<usize> = if downward {
                (1..rank_count).collect()
            } else {
                (1..rank_count.saturating_sub(1)).rev().collect()
            };
            for rank in ranks {
                self.sort_by_barycenter(rank, downward);
            }
            self.swap_adjacent();
            let crossings = self.total_crossings();
            if crossings < best.0 {
                best = (crossings, self.order.clone());
            }
        }
        self.order = best.1;
    }

    /// Sorts one rank by the mean position of each vertex's neighbours in the
    /// rank above (`downward`) or below. A vertex without such neighbours
    /// keeps its position; the sort is stable, so ties keep their order.
    fn sort_by_barycenter(&mut self, rank: usize, downward: bool) {
        let positions = self.positions();
        let mut keyed: Vec<(f64, usize)> = self.order[rank]
            .iter()
            .map(|&v| {
                let neighbours: Vec<usize> = self
                    .segments
                    .iter()
                    .filter_map(|&(from, to)| match downward {
                        true if to == v => Some(from),
                        false if from == v => Some(to),
                        _ => None,
                    })
                    .collect();
                let key = if neighbours.is_empty() {
                    positions[v] as f64
                } else {
                    let sum: usize = neighbours.iter().map(|&n| positions[n]).sum();
                    sum as f64 / neighbours.len() as f64
                };
                (key, v)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.order[rank] = keyed.into_iter().map(|(_, v)| v).collect();
    }

    /// Swaps neighbours within a rank, except in the first, while that lowers
    /// the crossings with the ranks on either side.
    fn swap_adjacent(&mut self) {
        let rank_count = self.order.len();
        let around = |layers: &Layers, rank: usize| {
            let positions = layers.positions();
            let above = if rank > 0 {
                layers.crossings_below(rank - 1, &positions)
            } else {
                0
            };
            let below = if rank + 1 < rank_count {
                layers.crossings_below(rank, &positions)
            } else {
                0
            };
            above + below
        };
        let mut improved = true;
        while improved {
            improved = false;
            for rank in 1..rank_count {
                for i in 0..self.order[rank].len().saturating_sub(1) {
                    let before = around(self, rank);
                    self.order[rank].swap(i, i + 1);
                    if around(self, rank) < before {
                        improved = true;
                    } else {
                        self.order[rank].swap(i, i + 1);
                    }
                }
            }
        }
    }

    /// Places vertices vertically: each rank in turn moves every vertex as
    /// close as the spacing allows to the weighted mean of its neighbours,
    /// sweeping down, then up, then both ways. Segments through dummies weigh
    /// more, so long edges run straight.
    fn place_vertically(&self) -> Vec<f64> {
        let mut ys = vec![0.0; self.vertices.len()];
        for rank in &self.order {
            let mut y = 0.0;
            for (i, &v) in rank.iter().enumerate() {
                if i > 0 {
                    y += self.min_distance(rank[i - 1], v);
                }
                ys[v] = y;
            }
        }
        let rank_count = self.order.len();
        for pass in 0..PLACE_PASSES {
            let (ranks, side): (Vec<usize>, Side) = match pass % 3 {
                0 => ((1..rank_count).collect(), Side::Upper),
                1 => (
                    (0..rank_count.saturating_sub(1)).rev().collect(),
                    Side::Lower,
                ),
                _ => ((0..rank_count).collect(), Side::Both),
            };
            for rank in ranks {
                self.place_rank(rank, side, &mut ys);
            }
        }
        ys
    }

    fn place_rank(&self, rank: usize, side: Side, ys: &mut [f64]) {
        let order = &self.order[rank];
        let mut desired = Vec::with_capacity(order.len());
        let mut weights = Vec::with_capacity(order.len());
        for &v in order {
            let (mut sum, mut weight) = (0.0, 0.0);
            for &(from, to) in &self.segments {
                let neighbour = match side {
                    Side::Upper if to == v => from,
                    Side::Lower if from == v => to,
                    Side::Both if to == v => from,
                    Side::Both if from == v => to,
                    _ => continue,
                };
                let w = self.segment_weight(v, neighbour);
                sum += w * ys[neighbour];
                weight += w;
            }
            if weight > 0.0 {
                desired.push(sum / weight);
                weights.push(weight);
            } else {
                // No neighbour on this side: stay put, but yield to the others.
                desired.push(ys[v]);
                weights.push(0.1);
            }
        }
        let gaps: Vec<f64> = order
            .windows(2)
            .map(|pair| self.min_distance(pair[0], pair[1]))
            .collect();
        for (&v, y) in order.iter().zip(place_with_gaps(&desired, &weights, &gaps)) {
            ys[v] = y;
        }
    }

    /// Returns the minimum distance between the centers of two vertices stacked in a rank.
    fn min_distance(&self, a: usize, b: usize) -> f64 {
        let (a, b) = (self.vertices[a], self.vertices[b]);
        let gap = if a.is_dummy || b.is_dummy {
            DUMMY_GAP
        } else {
            NODE_GAP
        };
        (a.height + b.height) / 2.0 + gap
    }

    /// Weights a segment by how many of its ends are dummies (1, 2 or 8), so
    /// that the inner parts of long edges pull hardest towards straight lines.
    fn segment_weight(&self, a: usize, b: usize) -> f64 {
        match (self.vertices[a].is_dummy, self.vertices[b].is_dummy) {
            (false, false) => 1.0,
            (true, true) => 8.0,
            _ => 2.0,
        }
    }

    /// Spreads the ends of the segments that leave or enter each node over
    /// its side, sorted by the other end's `y` so that they do not cross
    /// there. Returns, per edge, the vertical offsets of its source and
    /// target ports from the node centers.
    fn port_offsets(&self, ys: &[f64], sizes: &[NodeSize]) -> Vec<(f64, f64)> {
        let mut offsets = vec![(0.0, 0.0); self.chains.len()];
        for (node, size) in sizes.iter().enumerate() {
            // Outgoing segments, sorted by the vertex they lead to.
            let mut outgoing: Vec<(f64, usize)> = (0..self.chains.len())
                .filter(|&e| self.chains[e][0] == node)
                .map(|e| (ys[self.chains[e][1]], e))
                .collect();
            outgoing.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (k, dy) in spread(outgoing.len(), size).into_iter().enumerate() {
                offsets[outgoing[k].1].0 = dy;
            }

            // Incoming segments, sorted by the vertex they come from.
            let mut incoming: Vec<(f64, usize)> = (0..self.chains.len())
                .filter(|&e| *self.chains[e].last().unwrap() == node)
                .map(|e| {
                    let chain = &self.chains[e];
                    (ys[chain[chain.len() - 2]], e)
                })
                .collect();
            incoming.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (k, dy) in spread(incoming.len(), size).into_iter().enumerate() {
                offsets[incoming[k].1].1 = dy;
            }
        }
        offsets
    }
}

#[derive(Clone, Copy)]
enum Side {
    Upper,
    Lower,
    Both,
}

/// Returns `count` port offsets from a node's center, evenly spaced over the
/// middle 60 % of its height and at most 8 pixels apart.
fn spread(count: usize, size: &NodeSize) -> Vec<f64> {
    if count < 2 {
        return vec![0.0; count];
    }
    let step = (0.6 * size.height / (count - 1) as f64).min(8.0);
    let middle = (count - 1) as f64 / 2.0;
    (0..count).map(|k| (k as f64 - middle) * step).collect()
}

/// Returns the positions `y` closest to `desired` in the weighted least
/// squares sense subject to `y[i + 1] - y[i] >= gaps[i]`.
///
/// Subtracting the cumulative gaps turns the constraints into `z[i] <= z[i +
/// 1]`, which is isotonic regression, solved exactly by pooling adjacent
/// violators.
fn place_with_gaps(desired: &[f64], weights: &[f64], gaps: &[f64]) -> Vec<f64> {
    let mut offsets = Vec::with_capacity(desired.len());
    let mut offset = 0.0;
    for i in 0..desired.len() {
        if i > 0 {
            offset += gaps[i - 1];
        }
        offsets.push(offset);
    }
    // Each block: weighted sum of z, total weight, number of pooled entries.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for i in 0..desired.len() {
        blocks.push((weights[i] * (desired[i] - offsets[i]), weights[i], 1));
        while blocks.len() >= 2 {
            let last = blocks[blocks.len() - 1];
            let previous = blocks[blocks.len() - 2];
            if previous.0 / previous.1 <= last.0 / last.1 {
                break;
            }
            blocks.pop();
            let merged = blocks.last_mut().unwrap();
            *merged = (
                previous.0 + last.0,
                previous.1 + last.1,
                previous.2 + last.2,
            );
        }
    }
    let mut ys = Vec::with_capacity(desired.len());
    for (sum, weight, count) in blocks {
        for _ in 0..count {
            ys.push(sum / weight + offsets[ys.len()]);
        }
    }
    ys
}

/// Geometry needed to turn a chain of vertices into a drawn route.
struct RouteGeometry<'a> {
    centers: &'a [Point],
    sizes: &'a [NodeSize],
    rank_centers: &'a [f64],
    rank_widths: &'a [f64],
}

impl RouteGeometry<'_> {
    /// Returns the polyline of one edge. Where the route crosses a rank it
    /// runs straight across the rank's full width, so that it bends only in
    /// the gaps between ranks, away from the nodes.
    fn route(
        &self,
        vertices: &[Vertex],
        ys: &[f64],
        chain: &[usize],
        (source_dy, target_dy): (f64, f64),
    ) -> Vec<Point> {
        let source = chain[0];
        let target = chain[chain.len() - 1];
        let start = self.port(source, source_dy, 1.0);
        let end = self.port(target, target_dy, -1.0);

        let mut points = vec![start];
        let source_rank_right = self.rank_edge(vertices[source].rank, 1.0);
        if start.x < source_rank_right {
            points.push(Point {
                x: source_rank_right,
                y: start.y,
            });
        }
        for &dummy in &chain[1..chain.len() - 1] {
            let rank = vertices[dummy].rank;
            for side in [-1.0, 1.0] {
                points.push(Point {
                    x: self.rank_edge(rank, side),
                    y: ys[dummy],
                });
            }
        }

        let target_rank_left = self.rank_edge(vertices[target].rank, -1.0);
        if end.x > target_rank_left {
            points.push(Point {
                x: target_rank_left,
                y: end.y,
            });
        }
        points.push(end);
        points
    }

    /// Returns the left (`side = -1`) or right (`side = 1`) edge of a rank.
    fn rank_edge(&self, rank: usize, side: f64) -> f64 {
        self.rank_centers[rank] + side * self.rank_widths[rank] / 2.0
    }

    /// Returns the point on a node's left (`side = -1`) or right (`side = 1`)
    /// outline at height `dy` from its center.
    fn port(&self, node: usize, dy: f64, side: f64) -> Point {
        let center = self.centers[node];
        let size = self.sizes[node];
        let half_width = if size.is_circle {
            let radius = size.width / 2.0;
            (radius * radius - dy * dy).max(0.0).sqrt()
        } else {
            size.width / 2.0
        };
        Point {
            x: center.x + side * half_width,
            y: center.y + dy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_kept_when_desired_overlap() {
        let ys = place_with_gaps(&[5.0, 5.0, 5.0], &[1.0, 1.0, 1.0], &[10.0, 10.0]);
        assert_eq!(ys, [-5.0, 5.0, 15.0]);
    }

    #[test]
    fn free_vertices_reach_desired() {
        let ys = place_with_gaps(&[0.0, 40.0, 100.0], &[1.0, 1.0, 1.0], &[10.0, 10.0]);
        assert_eq!(ys, [0.0, 40.0, 100.0]);
    }

    #[test]
    fn heavy_vertex_moves_less() {
        let ys = place_with_gaps(&[0.0, 0.0], &[3.0, 1.0], &[20.0]);
        assert_eq!(ys, [-5.0, 15.0]);
    }

    #[test]
    fn spread_centred_and_bounded() {
        let size = NodeSize {
            width: 80.0,
            height: 30.0,
            is_circle: false,
        };
        assert_eq!(spread(1, &size), [0.0]);
        assert_eq!(spread(3, &size), [-8.0, 0.0, 8.0]);
        let five = spread(5, &size);
        assert_eq!(five.len(), 5);
        assert!((five[4] - 9.0).abs() < 1e-9, "{five:?}");
        assert!((five[0] + 9.0).abs() < 1e-9, "{five:?}");
    }
}

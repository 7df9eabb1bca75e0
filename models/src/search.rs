//! The DARTS search supernetwork. Every edge of a search cell is a mixed
//! operation over all candidate primitives, weighted by the architecture
//! weights (alpha) of its cell type. The supernetwork is a [`Graph`] like the
//! final networks, with parameter names from the published module layout
//! (`cells.1._ops.4._ops.3.op.1.weight` is candidate 3 of edge row 4 in cell 1).
//!
//! [`derive_genotype`] turns trained architecture weights into a [`Genotype`].
//!
//! [`Genotype`]: crate::Genotype

mod derive;

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use derive::{derive_genotype, parameter_free_share, ParameterFreeShare};

use crate::diagram::CellKind;
use crate::graph::{Graph, GraphBuilder, Linear, NodeId, Op};
use crate::network::MAX_PARAMETERS;
use crate::ops::{OpSettings, OpTable};
use crate::primitive::{Primitive, PrimitiveSet};
use crate::ModelError;

const STEM_MULTIPLIER: usize = 3;
const BN_EPS: f64 = 1e-5;
/// Middle width of the choke convolutions. The published search network never
/// passes one, so the operation constructors' default applies.
const CHOKE_MID_CHANNELS: usize = 32;

// Upper bounds that catch a mistyped value before anything is allocated.
const MAX_INIT_CHANNELS: usize = 4096;
const MAX_LAYERS: usize = 1000;
const MAX_STEPS: usize = 32;
const MAX_CLASSES: usize = 100_000;
const MAX_IMAGE_SIZE: usize = 4096;
/// Largest number of candidate operations (cells x edge rows x primitives).
/// The graph has about six nodes per candidate; the default search network
/// has 1,008 candidates.
const MAX_CANDIDATES: usize = 200_000;

/// Rule for the coefficients of a mixed operation's candidates, computed from
/// one softmax row of the architecture weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// `w_p`: the softmax weight itself, as in DARTS.
    #[default]
    Scalar,
    /// `1 - max(w) + w_p`: the strongest candidate gets coefficient 1 and the
    /// others less (sharpDARTS "Max-W").
    MaxW,
}

impl Weighting {
    pub const ALL: [Weighting; 2] = [Weighting::Scalar, Weighting::MaxW];

    /// Returns the name used in configuration files and options: `scalar` or `max_w`.
    pub fn name(self) -> &'static str {
        match self {
            Weighting::Scalar => "scalar",
            Weighting::MaxW => "max_w",
        }
    }

    /// Computes the coefficients of one edge's candidates from its softmax row.
    ///
    /// For [`Weighting::MaxW`], `1 - max` is computed first and `w_p` added
    /// after, as the published `1 - max_w + w` evaluates. In round-to-nearest
    /// `f32` arithmetic that gives the maximal candidate exactly 1.0 for any
    /// maximum in `[0, 1]`, which every softmax row has.
    pub fn coefficients(self, softmax_row: &[f32]) -> Vec<f32> {
        match self {
            Weighting::Scalar => softmax_row.to_vec(),
            Weighting::MaxW => {
                let max = softmax_row
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                let offset = 1.0 - max;
                softmax_row.iter().map(|&w| offset + w).collect()
            }
        }
    }
}

impl fmt::Display for Weighting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Weighting {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Weighting::ALL
            .into_iter()
            .find(|weighting| weighting.name() == value)
            .ok_or_else(|| ModelError::InvalidConfig {
                option: "weighting".to_string(),
                value: value.to_string(),
                fix: "use `scalar` (softmax weights) or `max_w` (1 - max + weight)".to_string(),
            })
    }
}

/// Settings of the search supernetwork. The defaults are the published ones:
/// `PRIMITIVES`, the sharp operation table, 16 channels, 8 cells, 4 steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchConfig {
    /// Candidate operations of every edge. Only the cell sets are valid.
    pub primitives: PrimitiveSet,
    /// Operation table the candidates are built with.
    pub ops: OpTable,
    pub weighting: Weighting,
    /// Channels of the first cell (`C`); the stem has `3 C`.
    pub init_channels: usize,
    /// Number of cells (`L`); reductions sit at `L / 3` and `2 L / 3`.
    pub layers: usize,
    /// Intermediate nodes per cell.
    pub steps: usize,
    /// Number of last states concatenated into a cell's output.
    pub multiplier: usize,
    pub num_classes: usize,
    /// Input image height and width in pixels.
    pub image_size: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            primitives: PrimitiveSet::Sharp,
            ops: OpTable::Sharp,
            weighting: Weighting::Scalar,
            init_channels: 16,
            layers: 8,
            steps: 4,
            multiplier: 4,
            num_classes: 10,
            image_size: 32,
        }
    }
}

impl SearchConfig {
    /// Returns the candidate operations of every edge, in the column order of
    /// the architecture weights. Fails for the MultiChannelNet set.
    pub fn candidates(&self) -> Result<&'static [Primitive], ModelError> {
        self.primitives
            .cell_primitives()
            .ok_or_else(|| ModelError::InvalidConfig {
                option: "primitives".to_string(),
                value: self.primitives.to_string(),
                fix: "its operations change the channel count and cannot be cell edges; use \
                      PRIMITIVES, SHARPER_PRIMITIVES or DARTS_PRIMITIVES"
                    .to_string(),
            })
    }

    /// Returns the number of edge rows per cell, which is the row count of each
    /// architecture weight matrix.
    pub fn rows(&self) -> usize {
        edges_per_cell(self.steps)
    }

    /// Returns the indices of the two reduction cells; with one layer both are cell 0.
    pub fn reduction_cells(&self) -> [usize; 2] {
        [self.layers / 3, 2 * self.layers / 3]
    }

    /// Lists the states concatenated into a cell's output: the last `multiplier` ones.
    pub fn concat(&self) -> Vec<usize> {
        concat_states(self.steps, self.multiplier)
    }

    /// Rejects settings the supernetwork cannot be built with, naming the option.
    pub fn validate(&self) -> Result<(), ModelError> {
        let candidates = self.candidates()?;
        if let Some(missing) = candidates.iter().find(|&&p| !self.ops.contains(p)) {
            let fix = format!(
                "{} includes {missing}, which only the sharp operation table has; use --ops \
                 sharp or DARTS_PRIMITIVES",
                self.primitives
            );
            return invalid("ops", self.ops, &fix);
        }
        self.validate_sizes()?;
        let total = self.layers * self.rows() * candidates.len();
        if total > MAX_CANDIDATES {
            let fix = format!(
                "{} cells of {} edge rows with {} candidates each make {total} candidate \
                 operations, more than the limit of {MAX_CANDIDATES}; use fewer --layers or \
                 --steps",
                self.layers,
                self.rows(),
                candidates.len()
            );
            return invalid("layers", self.layers, &fix);
        }
        Ok(())
    }

    fn validate_sizes(&self) -> Result<(), ModelError> {
        let bounds = [
            ("init-channels", self.init_channels, MAX_INIT_CHANNELS),
            ("layers", self.layers, MAX_LAYERS),
            ("steps", self.steps, MAX_STEPS),
            ("num-classes", self.num_classes, MAX_CLASSES),
            ("image-size", self.image_size, MAX_IMAGE_SIZE),
        ];
        for (option, value, max) in bounds {
            if !(1..=max).contains(&value) {
                return invalid(option, value, &format!("use 1 to {max}"));
            }
        }
        if !(1..=self.steps).contains(&self.multiplier) {
            let fix = format!(
                "use 1 to {} (the cell output concatenates the last `multiplier` of its {} \
                 intermediate nodes)",
                self.steps, self.steps
            );
            return invalid("multiplier", self.multiplier, &fix);
        }
        Ok(())
    }
}

fn invalid(option: &str, value: impl fmt::Display, fix: &str) -> Result<(), ModelError> {
    Err(ModelError::InvalidConfig {
        option: option.to_string(),
        value: value.to_string(),
        fix: fix.to_string(),
    })
}

/// Returns the number of edges of a search cell with `steps` intermediate
/// nodes. Node `i` reads every earlier state, that is `i + 2` edges, so 4
/// steps have 14.
pub fn edges_per_cell(steps: usize) -> usize {
    steps * (steps + 3) / 2
}

/// Returns the edge rows of intermediate node `node`: row `start + j` reads state `j`.
pub fn node_rows(node: usize) -> Range<usize> {
    let start = edges_per_cell(node);
    start..start + node + 2
}

/// Lists the state index that each edge row reads, in row order:
/// `[0, 1, 0, 1, 2, 0, 1, 2, 3, ...]`.
pub fn row_inputs(steps: usize) -> Vec<usize> {
    (0..steps).flat_map(|node| 0..node + 2).collect()
}

/// Lists the last `multiplier` of the `steps + 2` states of a cell.
pub(crate) fn concat_states(steps: usize, multiplier: usize) -> Vec<usize> {
    (steps + 2 - multiplier..steps + 2).collect()
}

/// Builds the search supernetwork: a 3x3 stem to `3 C` channels with
/// BatchNorm, `layers` search cells, global average pooling and a linear
/// classifier. It has no auxiliary head and no drop path.
///
/// Cells preprocess their inputs without affine BatchNorm, and every
/// candidate is built without affine BatchNorm and with choke width 32.
/// Candidates whose name contains `pool` get a BatchNorm without affine
/// parameters after them. Edges that read a cell input in a reduction cell
/// have stride 2.
pub fn build_search_network(config: &SearchConfig) -> Result<Graph, ModelError> {
    config.validate()?;
    let candidates = config.candidates()?;
    let size = config.image_size;
    let mut b = GraphBuilder::new([3, size, size]);
    let c = config.init_channels;
    let (one, three) = ([1, 1], [3, 3]);
    let stem = b.conv(
        GraphBuilder::INPUT,
        "stem.0".into(),
        STEM_MULTIPLIER * c,
        three,
        one,
        one,
        1,
        1,
    );
    let stem = b.batch_norm(stem, "stem.1".into(), true, BN_EPS);

    let (mut s0, mut s1) = (stem, stem);
    let mut channels = c;
    let mut reduction_prev = false;
    let reductions = config.reduction_cells();
    for index in 0..config.layers {
        let reduction = reductions.contains(&index);
        if reduction {
            channels *= 2;
        }
        let cell = SearchCell {
            index,
            channels,
            reduction,
            reduction_prev,
        };
        let out = b.search_cell(&cell, s0, s1, config, candidates);
        (s0, s1) = (s1, out);
        reduction_prev = reduction;
    }

    let pooled = b.push(Op::GlobalAvgPool, vec![s1]);
    let flat = b.push(Op::Flatten, vec![pooled]);
    let classifier = Linear {
        name: "classifier".to_string(),
        in_features: b.shape(flat)[0],
        out_features: config.num_classes,
    };
    let logits = b.push(Op::Linear(classifier), vec![flat]);
    let graph = b.finish(logits, None);
    check_size(&graph, config)?;
    Ok(graph)
}

/// Rejects a network too large to allocate, before any back end tries.
fn check_size(graph: &Graph, config: &SearchConfig) -> Result<(), ModelError> {
    let parameters = crate::count_parameters(graph).with_auxiliary;
    if parameters <= MAX_PARAMETERS {
        return Ok(());
    }
    Err(ModelError::TooLarge {
        parameters,
        limit: MAX_PARAMETERS,
        init_channels: config.init_channels,
        layers: config.layers,
    })
}

/// One cell of the search network.
struct SearchCell {
    index: usize,
    channels: usize,
    reduction: bool,
    reduction_prev: bool,
}

impl GraphBuilder {
    fn search_cell(
        &mut self,
        cell: &SearchCell,
        s0: NodeId,
        s1: NodeId,
        config: &SearchConfig,
        candidates: &[Primitive],
    ) -> NodeId {
        let prefix = format!("cells.{}", cell.index);
        let c = cell.channels;
        let pre0 = format!("{prefix}.preprocess0");
        let s0 = if cell.reduction_prev {
            self.factorized_reduce(s0, &pre0, c, false)
        } else {
            self.relu_conv_bn(s0, &pre0, c, false)
        };
        let s1 = self.relu_conv_bn(s1, &format!("{prefix}.preprocess1"), c, false);
        let kind = if cell.reduction {
            CellKind::Reduction
        } else {
            CellKind::Normal
        };
        let settings = OpSettings {
            affine: false,
            mid_channels: CHOKE_MID_CHANNELS,
            table: config.ops,
        };

        let mut states = vec![s0, s1];
        for node in 0..config.steps {
            let mut edges = Vec::with_capacity(node + 2);
            for (input, row) in node_rows(node).enumerate() {
                let edge = MixedEdge {
                    name: format!("{prefix}._ops.{row}"),
                    stride: if cell.reduction && input < 2 { 2 } else { 1 },
                    op: Op::MixedOp {
                        cell: kind,
                        row,
                        weighting: config.weighting,
                    },
                };
                edges.push(self.mixed_op(states[input], edge, candidates, settings));
            }
            states.push(self.push(Op::Add, edges));
        }
        let outputs = states[states.len() - config.multiplier..].to_vec();
        self.push(Op::Concat, outputs)
    }

    /// Appends every candidate of one edge and the mixed operation that sums them.
    fn mixed_op(
        &mut self,
        x: NodeId,
        edge: MixedEdge,
        candidates: &[Primitive],
        settings: OpSettings,
    ) -> NodeId {
        let mut outputs = Vec::with_capacity(candidates.len());
        for (p, &primitive) in candidates.iter().enumerate() {
            let name = format!("{}._ops.{p}", edge.name);
            let mut y = self.primitive(x, primitive, &name, edge.stride, settings);
            // The published code wraps a pool and its BatchNorm in a
            // Sequential, so the BatchNorm is module 1 of the candidate.
            if primitive.name().contains("pool") {
                y = self.batch_norm(y, format!("{name}.1"), false, BN_EPS);
            }
            outputs.push(y);
        }
        self.push(edge.op, outputs)
    }
}

/// One edge of a search cell, before its candidates are built.
struct MixedEdge {
    /// Parameter prefix: `cells.{cell}._ops.{row}`.
    name: String,
    stride: usize,
    op: Op,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_inputs() {
        assert_eq!(edges_per_cell(4), 14);
        assert_eq!(edges_per_cell(1), 2);
        assert_eq!(node_rows(0), 0..2);
        assert_eq!(node_rows(1), 2..5);
        assert_eq!(node_rows(3), 9..14);
        assert_eq!(row_inputs(4), [0, 1, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4]);
        assert_eq!(concat_states(4, 4), [2, 3, 4, 5]);
        assert_eq!(concat_states(4, 2), [4, 5]);
    }

    #[test]
    fn max_w_gives_maximum_exactly_one() {
        // Every 997th f32 from 2^-30 to 1, plus both ends.
        let mut bits = (2.0_f32).powi(-30).to_bits();
        let mut maxima = vec![0.0_f32, 1.0];
        while bits <= 1.0_f32.to_bits() {
            maxima.push(f32::from_bits(bits));
            bits += 997;
        }
        for max in maxima {
            let coefficients = Weighting::MaxW.coefficients(&[max, max / 3.0]);
            assert_eq!(coefficients[0], 1.0, "maximum {max:e}");
        }
    }
}

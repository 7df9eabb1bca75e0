//! The CIFAR network: stem, a stack of cells, auxiliary head and classifier.

use serde::{Deserialize, Serialize};

use crate::genotype::{Edge, Genotype};
use crate::graph::{Graph, GraphBuilder, Linear, NodeId, Op, Pool, Scope};
use crate::ops::OpSettings;
use crate::ModelError;

/// CIFAR-10 per-channel mean of pixels scaled to [0, 1].
pub const CIFAR10_MEAN: [f32; 3] = [0.491_399_68, 0.482_158_27, 0.446_531_24];
/// CIFAR-10 per-channel standard deviation of pixels scaled to [0, 1].
pub const CIFAR10_STD: [f32; 3] = [0.247_032_33, 0.243_485_05, 0.261_587_68];
/// CIFAR-10 class names in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

const STEM_MULTIPLIER: usize = 3;

// Upper bounds that catch a mistyped value before anything is allocated. They
// are far above the published networks (36 channels x 20 cells for CIFAR).
const MAX_INIT_CHANNELS: usize = 4096;
const MAX_LAYERS: usize = 1000;
const MAX_CLASSES: usize = 100_000;
const MAX_MID_CHANNELS: usize = 65_536;
const MAX_IMAGE_SIZE: usize = 4096;
/// Largest network built, in parameters including the auxiliary head: 4 GB of
/// float32 weights, before gradients and optimiser state.
pub const MAX_PARAMETERS: usize = 1_000_000_000;
const AUX_HIDDEN: usize = 128;
const AUX_FEATURES: usize = 768;

/// Settings of a cell-based network, as stored in `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Channels of the first cell (`C`); the stem has `3 C`.
    pub init_channels: usize,
    /// Number of cells (`L`); reductions sit at `L / 3` and `2 L / 3`.
    pub layers: usize,
    pub num_classes: usize,
    /// Build the auxiliary head after the second reduction cell.
    pub auxiliary: bool,
    /// Middle width of choke convolutions.
    pub mid_channels: usize,
    /// Input image height and width in pixels.
    pub image_size: usize,
}

impl NetworkConfig {
    /// Returns the published CIFAR-10 settings at a given width and depth.
    pub fn cifar10(init_channels: usize, layers: usize) -> Self {
        NetworkConfig {
            init_channels,
            layers,
            num_classes: 10,
            auxiliary: true,
            mid_channels: 32,
            image_size: 32,
        }
    }

    /// Indices of the two reduction cells.
    pub fn reduction_cells(&self) -> [usize; 2] {
        [self.layers / 3, 2 * self.layers / 3]
    }

    /// Rejects settings the network cannot be built with, naming the option.
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid = |option: &str, value: usize, fix: &str| {
            Err(ModelError::InvalidConfig {
                option: option.to_string(),
                value: value.to_string(),
                fix: fix.to_string(),
            })
        };
        let channels = self.init_channels;
        if channels == 0 || !channels.is_multiple_of(2) || channels > MAX_INIT_CHANNELS {
            let fix = format!(
                "use an even number from 2 to {MAX_INIT_CHANNELS} \
                 (FactorizedReduce splits channels in halves)"
            );
            return invalid("init-channels", channels, &fix);
        }
        if !(3..=MAX_LAYERS).contains(&self.layers) {
            let fix = format!(
                "use 3 to {MAX_LAYERS} cells: the network has two reduction cells after the first"
            );
            return invalid("layers", self.layers, &fix);
        }
        if !(1..=MAX_CLASSES).contains(&self.num_classes) {
            let fix = format!("use 1 to {MAX_CLASSES} classes");
            return invalid("num-classes", self.num_classes, &fix);
        }
        if !(1..=MAX_MID_CHANNELS).contains(&self.mid_channels) {
            let fix = format!("use 1 to {MAX_MID_CHANNELS} channels");
            return invalid("mid-channels", self.mid_channels, &fix);
        }
        // Two reductions must leave at least the auxiliary head's 5x5 window.
        let size = self.image_size;
        if !(32..=MAX_IMAGE_SIZE).contains(&size) || !size.is_multiple_of(4) {
            let fix = format!("use a multiple of 4 from 32 to {MAX_IMAGE_SIZE}");
            return invalid("image-size", size, &fix);
        }
        Ok(())
    }
}

/// Builds the CIFAR network graph for `genotype` with the sharp operation table.
pub fn build_cifar(genotype: &Genotype, config: &NetworkConfig) -> Result<Graph, ModelError> {
    genotype.validate()?;
    config.validate()?;
    let size = config.image_size;
    let mut b = GraphBuilder::new([3, size, size]);
    let c = config.init_channels;
    let settings = OpSettings {
        affine: true,
        mid_channels: config.mid_channels,
    };

    let stem_channels = STEM_MULTIPLIER * c;
    let (k3, s1, p1) = ([3, 3], [1, 1], [1, 1]);
    let stem = b.conv(
        GraphBuilder::INPUT,
        "stem.0".into(),
        stem_channels,
        k3,
        s1,
        p1,
        1,
        1,
    );
    let stem = b.batch_norm(stem, "stem.1".into(), true, 1e-5);

    let (mut s0, mut s1) = (stem, stem);
    let mut channels = c;
    let mut reduction_prev = false;
    let reductions = config.reduction_cells();
    let mut aux_input = None;
    for i in 0..config.layers {
        let reduction = reductions.contains(&i);
        if reduction {
            channels *= 2;
        }
        let (edges, concat) = if reduction {
            (&genotype.reduce, &genotype.reduce_concat)
        } else {
            (&genotype.normal, &genotype.normal_concat)
        };
        let cell = CellSpec {
            index: i,
            edges,
            concat,
            channels,
            reduction,
            reduction_prev,
        };
        let out = b.cell(&cell, s0, s1, settings);
        (s0, s1) = (s1, out);
        reduction_prev = reduction;
        if i == reductions[1] && config.auxiliary {
            aux_input = Some(out);
        }
    }

    let pooled = b.push(Op::GlobalAvgPool, vec![s1]);
    let flat = b.push(Op::Flatten, vec![pooled]);
    let logits = b.linear(flat, "classifier", config.num_classes);
    let aux_logits = aux_input.map(|x| b.auxiliary_head_cifar(x, config.num_classes));
    let graph = b.finish(logits, aux_logits);
    check_size(&graph, config)?;
    Ok(graph)
}

/// Rejects a network too large to allocate, before any back end tries.
fn check_size(graph: &Graph, config: &NetworkConfig) -> Result<(), ModelError> {
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

/// One cell of the final network.
struct CellSpec<'a> {
    index: usize,
    edges: &'a [Edge],
    concat: &'a [usize],
    channels: usize,
    reduction: bool,
    reduction_prev: bool,
}

impl GraphBuilder {
    fn linear(&mut self, x: NodeId, name: &str, out: usize) -> NodeId {
        let linear = Linear {
            name: name.to_string(),
            in_features: self.shape(x)[0],
            out_features: out,
        };
        self.push(Op::Linear(linear), vec![x])
    }

    fn cell(&mut self, cell: &CellSpec, s0: NodeId, s1: NodeId, settings: OpSettings) -> NodeId {
        let prefix = format!("cells.{}", cell.index);
        let c = cell.channels;
        let pre0 = format!("{prefix}.preprocess0");
        let s0 = if cell.reduction_prev {
            self.factorized_reduce(s0, &pre0, c, settings.affine)
        } else {
            self.relu_conv_bn(s0, &pre0, c, settings.affine)
        };
        let s1 = self.relu_conv_bn(s1, &format!("{prefix}.preprocess1"), c, settings.affine);

        let mut states = vec![s0, s1];
        for (node, pair) in cell.edges.chunks(2).enumerate() {
            let mut branches = Vec::with_capacity(2);
            for (k, edge) in pair.iter().enumerate() {
                let index = 2 * node + k;
                let stride = if cell.reduction && edge.input < 2 {
                    2
                } else {
                    1
                };
                let input = states[edge.input];
                let name = format!("{prefix}._ops.{index}");
                let out = self.primitive(input, edge.op, &name, stride, settings);
                if out != input {
                    self.mark_drop_path(out);
                }
                branches.push(out);
            }
            states.push(self.push(Op::Add, branches));
        }
        let parts = cell.concat.iter().map(|&i| states[i]).collect();
        self.push(Op::Concat, parts)
    }

    /// Appends the CIFAR auxiliary head, which expects an 8x8 input for 32x32 images.
    fn auxiliary_head_cifar(&mut self, x: NodeId, num_classes: usize) -> NodeId {
        self.set_scope(Scope::Auxiliary);
        let name = |i: usize| format!("auxiliary_head.features.{i}");
        let y = self.relu(x);
        let pool = Pool {
            kernel: 5,
            stride: 3,
            padding: 0,
        };
        let y = self.push(
            Op::AvgPool {
                pool,
                count_include_pad: false,
            },
            vec![y],
        );
        let (one, zero) = ([1, 1], [0, 0]);
        let y = self.conv(y, name(2), AUX_HIDDEN, one, one, zero, 1, 1);
        let y = self.batch_norm(y, name(3), true, 1e-5);
        let y = self.relu(y);
        let y = self.conv(y, name(5), AUX_FEATURES, [2, 2], one, zero, 1, 1);
        let y = self.batch_norm(y, name(6), true, 1e-5);
        let y = self.relu(y);
        let y = self.push(Op::Flatten, vec![y]);
        let logits = self.linear(y, "auxiliary_head.classifier", num_classes);
        self.set_scope(Scope::Main);
        logits
    }
}

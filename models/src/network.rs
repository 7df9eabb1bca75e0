//! The CIFAR and ImageNet networks: stem, a stack of cells, auxiliary head
//! and classifier.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::genotype::{Edge, Genotype};
use crate::graph::{Graph, GraphBuilder, Linear, NodeId, Op, Pool, Scope};
use crate::ops::{OpSettings, OpTable};
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

/// ImageNet-1k per-channel mean of pixels scaled to [0, 1], as torchvision uses.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet-1k per-channel standard deviation of pixels scaled to [0, 1].
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

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

/// The network type, named after the data set it was published for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetKind {
    /// 32x32 input, a 3x3 stem with `3 C` channels, cells at full resolution.
    #[default]
    #[serde(rename = "cifar10")]
    Cifar10,
    /// 224x224 input, two stride-2 stems; the first cell reduces the output
    /// of the first stem (56x56) to the 28x28 of the second.
    #[serde(rename = "imagenet")]
    ImageNet,
}

impl DatasetKind {
    pub const ALL: [DatasetKind; 2] = [DatasetKind::Cifar10, DatasetKind::ImageNet];

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::ImageNet => "imagenet",
        }
    }

    /// Total stride from the input to the first cell's output.
    fn input_stride(self) -> usize {
        match self {
            DatasetKind::Cifar10 => 1,
            DatasetKind::ImageNet => 8,
        }
    }

    /// Stride of the auxiliary head's 5x5 average pool.
    fn aux_pool_stride(self) -> usize {
        match self {
            DatasetKind::Cifar10 => 3,
            DatasetKind::ImageNet => 2,
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        DatasetKind::ALL
            .into_iter()
            .find(|kind| kind.name() == value)
            .ok_or_else(|| ModelError::InvalidConfig {
                option: "dataset".to_string(),
                value: value.to_string(),
                fix: "use `cifar10` or `imagenet`".to_string(),
            })
    }
}

/// Settings of a cell-based network, as stored in `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Network type; files written before it existed are CIFAR networks.
    #[serde(default)]
    pub dataset: DatasetKind,
    /// Operation table the genotype's names are built with.
    #[serde(default)]
    pub ops: OpTable,
    /// Channels of the first cell (`C`); the CIFAR stem has `3 C`.
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
            dataset: DatasetKind::Cifar10,
            ops: OpTable::Sharp,
            init_channels,
            layers,
            num_classes: 10,
            auxiliary: true,
            mid_channels: 32,
            image_size: 32,
        }
    }

    /// Returns the published ImageNet settings (1000 classes, 224x224 input,
    /// choke width 96) at a given width and depth.
    pub fn imagenet(init_channels: usize, layers: usize) -> Self {
        NetworkConfig {
            dataset: DatasetKind::ImageNet,
            num_classes: 1000,
            mid_channels: 96,
            image_size: 224,
            ..NetworkConfig::cifar10(init_channels, layers)
        }
    }

    /// Returns the published settings of `dataset`'s network type.
    pub fn for_dataset(dataset: DatasetKind, init_channels: usize, layers: usize) -> Self {
        match dataset {
            DatasetKind::Cifar10 => NetworkConfig::cifar10(init_channels, layers),
            DatasetKind::ImageNet => NetworkConfig::imagenet(init_channels, layers),
        }
    }

    /// Returns the evaluation preprocessing's resize of the shorter image
    /// side, before a centre crop to `image_size`: the published 256 for 224
    /// ImageNet crops, scaled with the input size. `None` for CIFAR, whose
    /// images are resized to the input size directly.
    pub fn resize_shorter(&self) -> Option<usize> {
        match self.dataset {
            DatasetKind::Cifar10 => None,
            DatasetKind::ImageNet => Some(self.image_size * 8 / 7),
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
        let (min, step) = self.image_size_bounds();
        let size = self.image_size;
        if !(min..=MAX_IMAGE_SIZE).contains(&size) || !size.is_multiple_of(step) {
            let fix = format!(
                "use a multiple of {step} from {min} to {MAX_IMAGE_SIZE} for the {} network{}",
                self.dataset,
                if self.auxiliary {
                    " with auxiliary head"
                } else {
                    ""
                }
            );
            return invalid("image-size", size, &fix);
        }
        Ok(())
    }

    /// Smallest input side and the multiple it must be: two reductions after
    /// the stem must leave a map that the auxiliary head's 5x5 pool and 2x2
    /// convolution reduce to 1x1 or more, that is `(s - 5) / stride + 1 >= 2`.
    fn image_size_bounds(&self) -> (usize, usize) {
        let step = 4 * self.dataset.input_stride();
        let min_final = if self.auxiliary {
            5 + self.dataset.aux_pool_stride()
        } else {
            1
        };
        ((step * min_final).max(32), step)
    }
}

/// Builds the network graph of `genotype` for `config`'s network type and
/// operation table.
pub fn build_network(genotype: &Genotype, config: &NetworkConfig) -> Result<Graph, ModelError> {
    genotype.validate()?;
    config.validate()?;
    check_table(genotype, config.ops)?;
    let size = config.image_size;
    let mut b = GraphBuilder::new([3, size, size]);
    let c = config.init_channels;
    let settings = OpSettings {
        affine: true,
        mid_channels: config.mid_channels,
        table: config.ops,
    };

    let start = match config.dataset {
        DatasetKind::Cifar10 => b.cifar_stem(c),
        DatasetKind::ImageNet => b.imagenet_stems(c),
    };
    let (last, aux_input) = b.cells(genotype, config, start, settings);

    let pooled = b.push(Op::GlobalAvgPool, vec![last]);
    let flat = b.push(Op::Flatten, vec![pooled]);
    let logits = b.linear(flat, "classifier", config.num_classes);
    let aux_stride = config.dataset.aux_pool_stride();
    let aux_logits = aux_input.map(|x| b.auxiliary_head(x, aux_stride, config.num_classes));
    let graph = b.finish(logits, aux_logits);
    check_size(&graph, config)?;
    Ok(graph)
}

/// Rejects a genotype that names an operation the table does not have.
fn check_table(genotype: &Genotype, table: OpTable) -> Result<(), ModelError> {
    let cells = [("normal", &genotype.normal), ("reduce", &genotype.reduce)];
    for (field, edges) in cells {
        if let Some(edge) = edges.iter().find(|e| !table.contains(e.op)) {
            return Err(ModelError::InvalidConfig {
                option: "ops".to_string(),
                value: table.to_string(),
                fix: format!(
                    "the genotype's {field} cell uses {}, which only the sharp \
                     operation table has; use --ops sharp",
                    edge.op
                ),
            });
        }
    }
    Ok(())
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

/// The two states the first cell reads, and its channel settings.
struct CellInputs {
    s0: NodeId,
    s1: NodeId,
    /// Whether `s0` has twice the resolution of `s1`.
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

    /// 3x3 convolution to `3 C` channels and BatchNorm (`stem.0`, `stem.1`).
    fn cifar_stem(&mut self, c: usize) -> CellInputs {
        let stem = self.conv3x3(Self::INPUT, "stem.0", STEM_MULTIPLIER * c, 1);
        let stem = self.batch_norm(stem, "stem.1".into(), true, 1e-5);
        CellInputs {
            s0: stem,
            s1: stem,
            reduction_prev: false,
        }
    }

    /// `stem0`: two stride-2 3x3 convolutions (to `C / 2`, then `C`) with
    /// BatchNorm and a ReLU between; `stem1`: ReLU, stride-2 3x3 convolution,
    /// BatchNorm. 224x224 input gives 56x56 and 28x28.
    fn imagenet_stems(&mut self, c: usize) -> CellInputs {
        let x = self.conv3x3(Self::INPUT, "stem0.0", c / 2, 2);
        let x = self.batch_norm(x, "stem0.1".into(), true, 1e-5);
        let x = self.relu(x);
        let x = self.conv3x3(x, "stem0.3", c, 2);
        let s0 = self.batch_norm(x, "stem0.4".into(), true, 1e-5);
        let x = self.relu(s0);
        let x = self.conv3x3(x, "stem1.1", c, 2);
        let s1 = self.batch_norm(x, "stem1.2".into(), true, 1e-5);
        CellInputs {
            s0,
            s1,
            reduction_prev: true,
        }
    }

    fn conv3x3(&mut self, x: NodeId, name: &str, out: usize, stride: usize) -> NodeId {
        let s = [stride, stride];
        self.conv(x, name.into(), out, [3, 3], s, [1, 1], 1, 1)
    }

    /// Appends the stack of cells; returns the last cell's output and the
    /// auxiliary head's input (the second reduction cell's output).
    fn cells(
        &mut self,
        genotype: &Genotype,
        config: &NetworkConfig,
        start: CellInputs,
        settings: OpSettings,
    ) -> (NodeId, Option<NodeId>) {
        let CellInputs {
            mut s0,
            mut s1,
            mut reduction_prev,
        } = start;
        let mut channels = config.init_channels;
        let reductions = config.reduction_cells();
        let mut aux_input = None;
        for i in 0..config.layers {
            let reduction = reductions.contains(&i);
            if reduction {
                channels *= 2;
            }
            // NOTE: the published ImageNet network gives normal cells the
            // reduce concat list; each cell type uses its own list here.
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
            let out = self.cell(&cell, s0, s1, settings);
            (s0, s1) = (s1, out);
            reduction_prev = reduction;
            if i == reductions[1] && config.auxiliary {
                aux_input = Some(out);
            }
        }
        (s1, aux_input)
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

    /// Appends the auxiliary head: ReLU, 5x5 average pool (stride 3 for
    /// CIFAR's 8x8 input, 2 for ImageNet's 7x7), 1x1 and 2x2 convolutions
    /// with BatchNorm and ReLU, and a classifier.
    fn auxiliary_head(&mut self, x: NodeId, pool_stride: usize, num_classes: usize) -> NodeId {
        self.set_scope(Scope::Auxiliary);
        let name = |i: usize| format!("auxiliary_head.features.{i}");
        let y = self.relu(x);
        let pool = Pool {
            kernel: 5,
            stride: pool_stride,
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

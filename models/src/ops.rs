//! Builders that turn one operation into graph nodes, for both operation
//! tables: the sharp table (`OPS`) and the original DARTS table (`DARTS_OPS`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::graph::{BatchNorm, Conv2d, GraphBuilder, NodeId, Op, Pool};
use crate::primitive::Primitive;
use crate::ModelError;

const BN_EPS: f64 = 1e-5;
/// BatchNorm eps of the sharp `conv_7x1_1x7` and of ResizablePool's projection.
const BN_EPS_1E3: f64 = 1e-3;

/// An operation table: the construction each operation name maps to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpTable {
    /// The sharpDARTS table: every convolution is a SharpSepConv and average
    /// pooling counts zero padding.
    #[default]
    Sharp,
    /// The original DARTS table: dilated convolutions are a single separable
    /// stage and average pooling leaves padding out of the divisor. It has no
    /// flood or choke convolutions.
    Darts,
}

impl OpTable {
    pub const ALL: [OpTable; 2] = [OpTable::Sharp, OpTable::Darts];

    pub fn name(self) -> &'static str {
        match self {
            OpTable::Sharp => "sharp",
            OpTable::Darts => "darts",
        }
    }

    /// True when the table has a construction for `primitive`.
    pub fn contains(self, primitive: Primitive) -> bool {
        match self {
            OpTable::Sharp => true,
            OpTable::Darts => !matches!(
                primitive,
                Primitive::FloodConv3x3
                    | Primitive::FloodConv5x5
                    | Primitive::DilFloodConv3x3
                    | Primitive::ChokeConv3x3
                    | Primitive::DilChokeConv3x3
            ),
        }
    }
}

impl fmt::Display for OpTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OpTable {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        OpTable::ALL
            .into_iter()
            .find(|table| table.name() == value)
            .ok_or_else(|| ModelError::InvalidConfig {
                option: "ops".to_string(),
                value: value.to_string(),
                fix: "use `sharp` (the sharpDARTS table) or `darts` (the original DARTS table)"
                    .to_string(),
            })
    }
}

/// Settings shared by every operation of a network.
#[derive(Clone, Copy, Debug)]
pub struct OpSettings {
    /// Learnable BatchNorm scale and shift (final networks) or not (search).
    pub affine: bool,
    /// Middle width of the choke convolutions.
    pub mid_channels: usize,
    pub table: OpTable,
}

impl GraphBuilder {
    /// Appends a convolution without bias.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: NodeId,
        name: String,
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: usize,
        groups: usize,
    ) -> NodeId {
        let in_channels = self.shape(x)[0];
        let conv = Conv2d {
            name,
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            dilation: [dilation, dilation],
            groups,
            bias: false,
        };
        self.push(Op::Conv2d(conv), vec![x])
    }

    pub fn batch_norm(&mut self, x: NodeId, name: String, affine: bool, eps: f64) -> NodeId {
        let channels = self.shape(x)[0];
        let bn = BatchNorm {
            name,
            channels,
            eps,
            affine,
        };
        self.push(Op::BatchNorm(bn), vec![x])
    }

    pub fn relu(&mut self, x: NodeId) -> NodeId {
        self.push(Op::Relu, vec![x])
    }

    /// ReLU, 1x1 convolution, BatchNorm (`{name}.op.1`, `{name}.op.2`).
    pub fn relu_conv_bn(&mut self, x: NodeId, name: &str, out: usize, affine: bool) -> NodeId {
        let y = self.relu(x);
        let y = self.conv(y, format!("{name}.op.1"), out, [1, 1], [1, 1], [0, 0], 1, 1);
        self.batch_norm(y, format!("{name}.op.2"), affine, BN_EPS)
    }

    /// FactorizedReduce: ReLU, two stride-2 1x1 convolutions (the second on the
    /// input shifted by one pixel), concatenated, then BatchNorm.
    pub fn factorized_reduce(&mut self, x: NodeId, name: &str, out: usize, affine: bool) -> NodeId {
        assert!(
            out.is_multiple_of(2),
            "FactorizedReduce needs an even channel count, got {out}"
        );
        let y = self.relu(x);
        let half = out / 2;
        let a = self.conv(
            y,
            format!("{name}.conv_1"),
            half,
            [1, 1],
            [2, 2],
            [0, 0],
            1,
            1,
        );
        let shifted = self.push(Op::ShiftCrop, vec![y]);
        let b = self.conv(
            shifted,
            format!("{name}.conv_2"),
            half,
            [1, 1],
            [2, 2],
            [0, 0],
            1,
            1,
        );
        let joined = self.push(Op::Concat, vec![a, b]);
        self.batch_norm(joined, format!("{name}.bn"), affine, BN_EPS)
    }

    /// SharpSepConv: two depthwise-separable stages; only the first carries
    /// stride and dilation. Layers are `{name}.op.{1,2,3,5,6,7}`.
    #[allow(clippy::too_many_arguments)]
    pub fn sharp_sep_conv(
        &mut self,
        x: NodeId,
        name: &str,
        out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        mid: usize,
        affine: bool,
    ) -> NodeId {
        let c_in = self.shape(x)[0];
        let k = [kernel, kernel];
        let y = self.relu(x);
        let (s, p) = ([stride, stride], [padding, padding]);
        let y = self.conv(y, format!("{name}.op.1"), c_in, k, s, p, dilation, c_in);
        let y = self.conv(y, format!("{name}.op.2"), mid, [1, 1], [1, 1], [0, 0], 1, 1);
        let y = self.batch_norm(y, format!("{name}.op.3"), affine, BN_EPS);
        let y = self.relu(y);
        let same = (kernel - 1) / 2;
        let y = self.conv(
            y,
            format!("{name}.op.5"),
            mid,
            k,
            [1, 1],
            [same, same],
            1,
            mid,
        );
        let y = self.conv(y, format!("{name}.op.6"), out, [1, 1], [1, 1], [0, 0], 1, 1);
        self.batch_norm(y, format!("{name}.op.7"), affine, BN_EPS)
    }

    /// DilConv of the original DARTS table: ReLU, one dilated depthwise
    /// convolution, a 1x1 convolution and BatchNorm (`{name}.op.{1,2,3}`).
    #[allow(clippy::too_many_arguments)]
    pub fn dil_conv(
        &mut self,
        x: NodeId,
        name: &str,
        out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        affine: bool,
    ) -> NodeId {
        let c_in = self.shape(x)[0];
        let y = self.relu(x);
        let y = self.conv(
            y,
            format!("{name}.op.1"),
            c_in,
            [kernel, kernel],
            [stride, stride],
            [padding, padding],
            dilation,
            c_in,
        );
        let y = self.conv(y, format!("{name}.op.2"), out, [1, 1], [1, 1], [0, 0], 1, 1);
        self.batch_norm(y, format!("{name}.op.3"), affine, BN_EPS)
    }

    /// ResizablePool: a 3x3 pool; when the channel count changes, followed by
    /// a 1x1 convolution and BatchNorm with eps 1e-3 (`{name}.conv`, `{name}.bn`).
    pub fn resizable_pool(
        &mut self,
        x: NodeId,
        name: &str,
        out: usize,
        stride: usize,
        max: bool,
        affine: bool,
    ) -> NodeId {
        let pool = Pool {
            kernel: 3,
            stride,
            padding: 1,
        };
        let op = if max {
            Op::MaxPool(pool)
        } else {
            Op::AvgPool {
                pool,
                count_include_pad: true,
            }
        };
        let y = self.push(op, vec![x]);
        if self.shape(x)[0] == out {
            return y;
        }
        let y = self.conv(y, format!("{name}.conv"), out, [1, 1], [1, 1], [0, 0], 1, 1);
        self.batch_norm(y, format!("{name}.bn"), affine, BN_EPS_1E3)
    }

    /// ReLU, 1x7 then 7x1 convolution, BatchNorm (eps 1e-3 in the sharp
    /// table, 1e-5 in the DARTS table).
    fn conv_7x1_1x7(
        &mut self,
        x: NodeId,
        name: &str,
        stride: usize,
        affine: bool,
        eps: f64,
    ) -> NodeId {
        let c = self.shape(x)[0];
        let y = self.relu(x);
        let y = self.conv(
            y,
            format!("{name}.op.1"),
            c,
            [1, 7],
            [1, stride],
            [0, 3],
            1,
            1,
        );
        let y = self.conv(
            y,
            format!("{name}.op.2"),
            c,
            [7, 1],
            [stride, 1],
            [3, 0],
            1,
            1,
        );
        self.batch_norm(y, format!("{name}.op.3"), affine, eps)
    }

    /// Appends one cell operation with `C -> C` channels and returns its output.
    /// Identity (skip_connect at stride 1) appends nothing and returns `x`.
    ///
    /// Panics if `settings.table` has no construction for `primitive`; network
    /// builders check the genotype against the table first.
    pub fn primitive(
        &mut self,
        x: NodeId,
        primitive: Primitive,
        name: &str,
        stride: usize,
        settings: OpSettings,
    ) -> NodeId {
        let c = self.shape(x)[0];
        let affine = settings.affine;
        let pool = Pool {
            kernel: 3,
            stride,
            padding: 1,
        };
        let ssc = |b: &mut Self, k: usize, pad: usize, dil: usize, mid: usize| {
            b.sharp_sep_conv(x, name, c, k, stride, pad, dil, mid, affine)
        };
        assert!(
            settings.table.contains(primitive),
            "the {} operation table has no {primitive}",
            settings.table
        );
        let darts = settings.table == OpTable::Darts;
        match primitive {
            Primitive::None => self.push(Op::Zero { stride }, vec![x]),
            Primitive::MaxPool3x3 => self.push(Op::MaxPool(pool), vec![x]),
            Primitive::AvgPool3x3 => {
                let op = Op::AvgPool {
                    pool,
                    count_include_pad: !darts,
                };
                self.push(op, vec![x])
            }
            Primitive::DilConv3x3 if darts => self.dil_conv(x, name, c, 3, stride, 2, 2, affine),
            Primitive::DilConv5x5 if darts => self.dil_conv(x, name, c, 5, stride, 4, 2, affine),
            Primitive::SkipConnect if stride == 1 => x,
            Primitive::SkipConnect => self.factorized_reduce(x, name, c, affine),
            Primitive::SepConv3x3 => ssc(self, 3, 1, 1, c),
            Primitive::SepConv5x5 => ssc(self, 5, 2, 1, c),
            Primitive::SepConv7x7 => ssc(self, 7, 3, 1, c),
            Primitive::DilConv3x3 => ssc(self, 3, 2, 2, c),
            Primitive::DilConv5x5 => ssc(self, 5, 4, 2, c),
            Primitive::FloodConv3x3 => ssc(self, 3, 1, 1, 4 * c),
            Primitive::FloodConv5x5 => ssc(self, 5, 2, 1, 4 * c),
            Primitive::DilFloodConv3x3 => ssc(self, 3, 2, 2, 4 * c),
            Primitive::ChokeConv3x3 => ssc(self, 3, 1, 1, settings.mid_channels),
            Primitive::DilChokeConv3x3 => ssc(self, 3, 2, 2, settings.mid_channels),
            Primitive::Conv7x1_1x7 => {
                let eps = if darts { BN_EPS } else { BN_EPS_1E3 };
                self.conv_7x1_1x7(x, name, stride, affine, eps)
            }
        }
    }
}

//! The network as a data-flow graph of layers: the one description that the
//! libtorch back end executes, the ONNX exporter writes, and the counters walk.
//!
//! Parameter names follow the module layout of the published PyTorch code
//! (`cells.3._ops.1.op.2.weight`), so weights move between back ends by name.

use crate::diagram::CellKind;
use crate::search::Weighting;

/// Index of a node; its value is the node's output.
pub type NodeId = usize;

/// Per-sample shape `[channels, height, width]`; the batch dimension is implicit.
pub type Shape = [usize; 3];

/// The part of the network a node belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Runs in training and inference.
    Main,
    /// The auxiliary head: runs only in training.
    Auxiliary,
}

/// A 2-D convolution. `[h, w]` pairs allow the asymmetric 7x1 and 1x7 kernels.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// Parameter prefix: the weight is `{name}.weight`.
    pub name: String,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub bias: bool,
}

/// BatchNorm2d with running statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// Parameter prefix: `{name}.weight`, `.bias`, `.running_mean`, `.running_var`.
    pub name: String,
    pub channels: usize,
    pub eps: f64,
    /// Learnable scale and shift; without them the layer only normalises.
    pub affine: bool,
}

/// A fully connected layer with bias.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub name: String,
    pub in_features: usize,
    pub out_features: usize,
}

/// A 2-D pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// The normalised image batch, NCHW.
    Input,
    Conv2d(Conv2d),
    BatchNorm(BatchNorm),
    Relu,
    /// Max pooling; padding acts as negative infinity.
    MaxPool(Pool),
    /// Average pooling; `count_include_pad` counts zero padding in the divisor.
    AvgPool {
        pool: Pool,
        count_include_pad: bool,
    },
    /// Zeros shaped like every `stride`-th row and column of the input.
    Zero {
        stride: usize,
    },
    /// `y[i, j] = x[i + 1, j + 1]`, zero past the bottom and right borders:
    /// the shifted branch of FactorizedReduce.
    ShiftCrop,
    /// Element-wise sum of all inputs.
    Add,
    /// Channel concatenation of all inputs, in order.
    Concat,
    /// Mean over height and width, keeping `[C, 1, 1]`.
    GlobalAvgPool,
    /// `[C, H, W]` to `[C * H * W]`.
    Flatten,
    Linear(Linear),
    /// A mixed operation of the search supernetwork: the weighted sum of one
    /// edge's candidate outputs. Input `p` is candidate `p` of the primitive
    /// set, `none` included, so a back end may skip that input because it is
    /// always zero. The coefficients come from `weighting` applied to row `row`
    /// of the softmax of the `cell` type's architecture weights (see
    /// [`Weighting::coefficients`]). The architecture weights are not graph
    /// parameters, as in the published parameter counter.
    MixedOp {
        cell: CellKind,
        row: usize,
        weighting: Weighting,
    },
}

/// One layer application.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<NodeId>,
    /// Output shape for one sample.
    pub shape: Shape,
    pub scope: Scope,
    /// In training, drop path applies to this node's output (the output of a
    /// cell operation other than identity).
    pub drop_path: bool,
}

/// The role of a parameter tensor, so back ends can initialise and fold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    ConvWeight,
    ConvBias,
    BnWeight,
    BnBias,
    BnRunningMean,
    BnRunningVar,
    LinearWeight,
    LinearBias,
}

impl ParamRole {
    /// True for tensors that are buffers in PyTorch and are not counted or trained.
    pub fn is_buffer(self) -> bool {
        matches!(self, ParamRole::BnRunningMean | ParamRole::BnRunningVar)
    }
}

/// A named parameter or buffer tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: ParamRole,
    pub scope: Scope,
}

impl ParamSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A network graph. Node 0 is the input; nodes only read earlier nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub logits: NodeId,
    pub aux_logits: Option<NodeId>,
}

impl Graph {
    pub fn input_shape(&self) -> Shape {
        self.nodes[0].shape
    }

    pub fn num_classes(&self) -> usize {
        self.nodes[self.logits].shape[0]
    }

    /// Lists every parameter and buffer in node order.
    pub fn parameters(&self) -> Vec<ParamSpec> {
        let mut params = Vec::new();
        for node in &self.nodes {
            let mut add = |name: String, shape: Vec<usize>, role: ParamRole| {
                params.push(ParamSpec {
                    name,
                    shape,
                    role,
                    scope: node.scope,
                })
            };
            match &node.op {
                Op::Conv2d(conv) => {
                    let weight = vec![
                        conv.out_channels,
                        conv.in_channels / conv.groups,
                        conv.kernel[0],
                        conv.kernel[1],
                    ];
                    add(
                        format!("{}.weight", conv.name),
                        weight,
                        ParamRole::ConvWeight,
                    );
                    if conv.bias {
                        let shape = vec![conv.out_channels];
                        add(format!("{}.bias", conv.name), shape, ParamRole::ConvBias);
                    }
                }
                Op::BatchNorm(bn) => {
                    let c = vec![bn.channels];
                    if bn.affine {
                        add(
                            format!("{}.weight", bn.name),
                            c.clone(),
                            ParamRole::BnWeight,
                        );
                        add(format!("{}.bias", bn.name), c.clone(), ParamRole::BnBias);
                    }
                    let mean = format!("{}.running_mean", bn.name);
                    add(mean, c.clone(), ParamRole::BnRunningMean);
                    add(
                        format!("{}.running_var", bn.name),
                        c,
                        ParamRole::BnRunningVar,
                    );
                }
                Op::Linear(linear) => {
                    let weight = vec![linear.out_features, linear.in_features];
                    add(
                        format!("{}.weight", linear.name),
                        weight,
                        ParamRole::LinearWeight,
                    );
                    let bias = vec![linear.out_features];
                    add(format!("{}.bias", linear.name), bias, ParamRole::LinearBias);
                }
                _ => {}
            }
        }
        params
    }

    /// For each node, the nodes that read its output.
    pub fn consumers(&self) -> Vec<Vec<NodeId>> {
        let mut consumers = vec![Vec::new(); self.nodes.len()];
        for (id, node) in self.nodes.iter().enumerate() {
            for &input in &node.inputs {
                consumers[input].push(id);
            }
        }
        consumers
    }
}

/// Appends nodes while inferring their shapes.
pub struct GraphBuilder {
    nodes: Vec<Node>,
    scope: Scope,
}

impl GraphBuilder {
    /// Starts a graph whose input has shape `input`.
    pub fn new(input: Shape) -> Self {
        let input = Node {
            op: Op::Input,
            inputs: Vec::new(),
            shape: input,
            scope: Scope::Main,
            drop_path: false,
        };
        GraphBuilder {
            nodes: vec![input],
            scope: Scope::Main,
        }
    }

    pub const INPUT: NodeId = 0;

    /// Sets the scope of the nodes appended next.
    pub fn set_scope(&mut self, scope: Scope) {
        self.scope = scope;
    }

    pub fn shape(&self, id: NodeId) -> Shape {
        self.nodes[id].shape
    }

    /// Marks a node's output for drop path in training.
    pub fn mark_drop_path(&mut self, id: NodeId) {
        self.nodes[id].drop_path = true;
    }

    /// Appends `op` reading `inputs` and returns its id.
    ///
    /// Panics on inconsistent shapes: builders in this crate check their
    /// arguments first, so a panic here is a bug in a builder.
    pub fn push(&mut self, op: Op, inputs: Vec<NodeId>) -> NodeId {
        let shapes: Vec<Shape> = inputs.iter().map(|&i| self.nodes[i].shape).collect();
        let shape = infer_shape(&op, &shapes);
        self.nodes.push(Node {
            op,
            inputs,
            shape,
            scope: self.scope,
            drop_path: false,
        });
        self.nodes.len() - 1
    }

    pub fn finish(self, logits: NodeId, aux_logits: Option<NodeId>) -> Graph {
        Graph {
            nodes: self.nodes,
            logits,
            aux_logits,
        }
    }
}

fn window_out(size: usize, kernel: usize, stride: usize, padding: usize, dilation: usize) -> usize {
    let span = dilation * (kernel - 1) + 1;
    assert!(
        size + 2 * padding >= span,
        "window {span} larger than padded input {size}"
    );
    (size + 2 * padding - span) / stride + 1
}

fn infer_shape(op: &Op, inputs: &[Shape]) -> Shape {
    let first = || inputs[0];
    match op {
        Op::Input => unreachable!("the input node is created by GraphBuilder::new"),
        Op::Conv2d(c) => {
            let [channels, h, w] = first();
            assert_eq!(channels, c.in_channels, "{}: input channels", c.name);
            [
                c.out_channels,
                window_out(h, c.kernel[0], c.stride[0], c.padding[0], c.dilation[0]),
                window_out(w, c.kernel[1], c.stride[1], c.padding[1], c.dilation[1]),
            ]
        }
        Op::BatchNorm(bn) => {
            assert_eq!(first()[0], bn.channels, "{}: channels", bn.name);
            first()
        }
        Op::Relu | Op::ShiftCrop => first(),
        Op::MaxPool(p) | Op::AvgPool { pool: p, .. } => {
            let [c, h, w] = first();
            let out = |size| window_out(size, p.kernel, p.stride, p.padding, 1);
            [c, out(h), out(w)]
        }
        Op::Zero { stride } => {
            let [c, h, w] = first();
            [c, h.div_ceil(*stride), w.div_ceil(*stride)]
        }
        Op::Add => {
            assert!(
                inputs.iter().all(|s| *s == inputs[0]),
                "add of shapes {inputs:?}"
            );
            first()
        }
        Op::Concat => {
            let [_, h, w] = first();
            assert!(
                inputs.iter().all(|s| s[1] == h && s[2] == w),
                "concat of {inputs:?}"
            );
            [inputs.iter().map(|s| s[0]).sum(), h, w]
        }
        Op::GlobalAvgPool => [first()[0], 1, 1],
        Op::Flatten => [first().iter().product(), 1, 1],
        Op::Linear(l) => {
            assert_eq!(first()[0], l.in_features, "{}: in_features", l.name);
            [l.out_features, 1, 1]
        }
        Op::MixedOp { cell, row, .. } => {
            assert!(
                inputs.iter().all(|s| *s == inputs[0]),
                "mixed operation of {} row {row} with input shapes {inputs:?}",
                cell.name()
            );
            first()
        }
    }
}

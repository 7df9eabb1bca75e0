//! A [`models::Graph`] executed with libtorch.
//!
//! Every parameter and BatchNorm buffer of the graph becomes one variable of a
//! [`tch::nn::VarStore`] with the graph's dotted name (`cells.3._ops.1.op.2.weight`),
//! so checkpoints carry the same names as the PyTorch reference and the ONNX export.

use models::graph::{BatchNorm, Conv2d, Linear, Pool};
use models::{CellKind, Graph, Node, Op, Scope};
use tch::nn::{Init, Path};
use tch::{Device, Kind, Tensor};

use crate::search::arch::Coefficients;
use crate::TrainError;

/// BatchNorm running-statistics momentum, as in PyTorch.
const BN_MOMENTUM: f64 = 0.1;

/// Learnable tensors and buffers of one graph node.
#[derive(Debug)]
enum Layer {
    Stateless,
    Conv {
        weight: Tensor,
        bias: Option<Tensor>,
    },
    BatchNorm {
        weight: Option<Tensor>,
        bias: Option<Tensor>,
        running_mean: Tensor,
        running_var: Tensor,
    },
    Linear {
        weight: Tensor,
        bias: Tensor,
    },
}

/// A cell-based network whose layers follow a [`Graph`].
#[derive(Debug)]
pub struct Network {
    graph: Graph,
    layers: Vec<Layer>,
    /// Per node, how many nodes read its output in inference.
    readers_eval: Vec<usize>,
    /// Per node, how many nodes read its output in training.
    readers_train: Vec<usize>,
    /// Per node, whether it is a zero that only mixed operations read, which
    /// they skip, so it is never computed.
    skipped: Vec<bool>,
    device: Device,
}

impl Network {
    /// Creates the variables of `graph` under `root` with PyTorch's default
    /// initialisation: convolution and linear weights Kaiming-uniform with
    /// `a = sqrt(5)` (bound `1 / sqrt(fan_in)`), biases uniform in
    /// `+-1 / sqrt(fan_in)`, BatchNorm scale 1 and shift 0, running mean 0 and
    /// running variance 1. Running statistics are not trainable.
    pub fn new(root: &Path, graph: &Graph) -> Result<Network, TrainError> {
        let layers = graph
            .nodes
            .iter()
            .map(|node| create_layer(root, &node.op))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Network {
            readers_eval: count_readers(graph, false),
            readers_train: count_readers(graph, true),
            skipped: skipped_zeros(graph),
            graph: graph.clone(),
            layers,
            device: root.device(),
        })
    }

    /// Returns the graph this network executes.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs the network on an NCHW batch and returns `(logits, aux_logits)`.
    ///
    /// In training mode (`train`) BatchNorm uses batch statistics and updates
    /// its running statistics, and the auxiliary head runs when the graph has
    /// one. Drop path with probability `drop_path_prob` then zeroes whole
    /// samples of each flagged cell operation and scales the kept ones by
    /// `1 / (1 - p)`. In inference `aux_logits` is `None`.
    ///
    /// # Panics
    ///
    /// Panics where [`Network::f_forward_t`] returns an error, e.g. on an input
    /// of the wrong shape.
    pub fn forward_t(
        &self,
        x: &Tensor,
        train: bool,
        drop_path_prob: f64,
    ) -> (Tensor, Option<Tensor>) {
        match self.f_forward_t(x, train, drop_path_prob) {
            Ok(outputs) => outputs,
            Err(error) => panic!("network forward failed: {error}"),
        }
    }

    /// Fallible [`Network::forward_t`]: checks the input shape and returns
    /// libtorch errors instead of panicking.
    pub fn f_forward_t(
        &self,
        x: &Tensor,
        train: bool,
        drop_path_prob: f64,
    ) -> Result<(Tensor, Option<Tensor>), TrainError> {
        self.forward_graph(x, train, drop_path_prob, None)
    }

    /// Runs a search supernetwork and returns its logits. Each mixed
    /// operation sums its candidates' outputs weighted by its row of
    /// `coefficients`; the `none` candidates contribute nothing and are skipped.
    pub fn f_forward_search(
        &self,
        x: &Tensor,
        train: bool,
        coefficients: &Coefficients,
    ) -> Result<Tensor, TrainError> {
        Ok(self.forward_graph(x, train, 0.0, Some(coefficients))?.0)
    }

    fn forward_graph(
        &self,
        x: &Tensor,
        train: bool,
        drop_path_prob: f64,
        coefficients: Option<&Coefficients>,
    ) -> Result<(Tensor, Option<Tensor>), TrainError> {
        self.check_input(x)?;
        let drop_path_prob = if train { drop_path_prob } else { 0.0 };
        let mut remaining = if train {
            self.readers_train.clone()
        } else {
            self.readers_eval.clone()
        };
        let mut outputs: Vec<Option<Tensor>> = Vec::with_capacity(self.graph.nodes.len());
        for (id, node) in self.graph.nodes.iter().enumerate() {
            if !runs(node, train) || self.skipped[id] {
                outputs.push(None);
                continue;
            }
            let mut y = match &node.op {
                Op::Input => channels_last(x)?,
                Op::MixedOp { cell, row, .. } => {
                    let coefficients = coefficients.ok_or(TrainError::MissingArchWeights)?;
                    let row = match cell {
                        CellKind::Normal => coefficients.normal.f_get(*row as i64)?,
                        CellKind::Reduction => coefficients.reduce.f_get(*row as i64)?,
                    };
                    let candidates = node.inputs.iter().map(|&i| outputs[i].as_ref());
                    mixed(candidates, &row)?
                }
                _ => {
                    let inputs = node
                        .inputs
                        .iter()
                        .map(|&i| {
                            outputs[i]
                                .as_ref()
                                .expect("graph nodes only read earlier, live nodes")
                        })
                        .collect::<Vec<_>>();
                    self.apply(id, node, &inputs, train)?
                }
            };
            if node.drop_path && drop_path_prob > 0.0 {
                y = drop_path(&y, drop_path_prob)?;
            }
            outputs.push(Some(y));
            // Free intermediate outputs once their last reader has run.
            for &input in &node.inputs {
                remaining[input] -= 1;
                if remaining[input] == 0 {
                    outputs[input] = None;
                }
            }
        }
        let logits = outputs[self.graph.logits]
            .take()
            .expect("the logits node always runs");
        let aux_logits = match self.graph.aux_logits {
            Some(id) if train => outputs[id].take(),
            _ => None,
        };
        Ok((logits, aux_logits))
    }

    fn check_input(&self, x: &Tensor) -> Result<(), TrainError> {
        let expected = self.graph.input_shape();
        let size = x.size();
        let matches = size.len() == 4
            && size[0] >= 1
            && size[1..].iter().zip(expected).all(|(&a, e)| a == e as i64);
        if matches {
            Ok(())
        } else {
            Err(TrainError::InputShape {
                actual: size,
                expected,
            })
        }
    }

    /// Applies the operation of node `id` to its input tensors.
    fn apply(
        &self,
        id: usize,
        node: &Node,
        inputs: &[&Tensor],
        train: bool,
    ) -> Result<Tensor, TrainError> {
        let x = inputs[0];
        let y = match (&node.op, &self.layers[id]) {
            (Op::Conv2d(conv), Layer::Conv { weight, bias }) => {
                conv2d(x, conv, weight, bias.as_ref())?
            }
            (Op::BatchNorm(bn), layer) => batch_norm(x, bn, layer, train)?,
            (Op::Relu, _) => x.f_relu()?,
            (Op::MaxPool(pool), _) => {
                let (kernel, stride, padding) = pool_i64(pool);
                x.f_max_pool2d([kernel; 2], [stride; 2], [padding; 2], [1, 1], false)?
            }
            (
                Op::AvgPool {
                    pool,
                    count_include_pad,
                },
                _,
            ) => {
                let (kernel, stride, padding) = pool_i64(pool);
                x.f_avg_pool2d(
                    [kernel; 2],
                    [stride; 2],
                    [padding; 2],
                    false,
                    *count_include_pad,
                    None,
                )?
            }
            (Op::Zero { stride }, _) => zeros_strided(x, *stride as i64)?,
            (Op::ShiftCrop, _) => shift_crop(x)?,
            (Op::Add, _) => {
                let mut sum = x.f_add(inputs[1])?;
                for input in &inputs[2..] {
                    sum = sum.f_add(input)?;
                }
                sum
            }
            (Op::Concat, _) => Tensor::f_cat(inputs, 1)?,
            (Op::GlobalAvgPool, _) => x.f_adaptive_avg_pool2d([1, 1])?,
            (Op::Flatten, _) => x.f_flatten(1, -1)?,
            (Op::Linear(_), Layer::Linear { weight, bias }) => x.f_linear(weight, Some(bias))?,
            (op, layer) => unreachable!("node {id}: {op:?} has no matching layer {layer:?}"),
        };
        Ok(y)
    }

    /// Returns the device of the variables.
    pub fn device(&self) -> Device {
        self.device
    }
}

/// True when `node` runs in this mode: auxiliary nodes run only in training.
fn runs(node: &Node, train: bool) -> bool {
    train || node.scope == Scope::Main
}

/// Returns `sum_p row[p] * candidate_p` over the candidates that were
/// computed; a skipped candidate (a zero) adds nothing.
fn mixed<'a>(
    candidates: impl Iterator<Item = Option<&'a Tensor>>,
    row: &Tensor,
) -> Result<Tensor, TrainError> {
    let mut sum: Option<Tensor> = None;
    for (p, candidate) in candidates.enumerate() {
        let Some(candidate) = candidate else {
            continue;
        };
        let term = candidate.f_mul(&row.f_get(p as i64)?)?;
        sum = Some(match sum {
            Some(total) => total.f_add(&term)?,
            None => term,
        });
    }
    sum.ok_or(TrainError::MissingArchWeights)
}

/// Marks zero nodes that only mixed operations read.
fn skipped_zeros(graph: &Graph) -> Vec<bool> {
    let consumers = graph.consumers();
    graph
        .nodes
        .iter()
        .zip(&consumers)
        .map(|(node, readers)| {
            matches!(node.op, Op::Zero { .. })
                && !readers.is_empty()
                && readers
                    .iter()
                    .all(|&r| matches!(graph.nodes[r].op, Op::MixedOp { .. }))
        })
        .collect()
}

fn count_readers(graph: &Graph, train: bool) -> Vec<usize> {
    let mut readers = vec![0; graph.nodes.len()];
    for node in graph.nodes.iter().filter(|node| runs(node, train)) {
        for &input in &node.inputs {
            readers[input] += 1;
        }
    }
    readers
}

fn create_layer(root: &Path, op: &Op) -> Result<Layer, TrainError> {
    let layer = match op {
        Op::Conv2d(conv) => {
            let fan_in = conv.in_channels / conv.groups * conv.kernel[0] * conv.kernel[1];
            let bound = 1.0 / (fan_in as f64).sqrt();
            let init = Init::Uniform {
                lo: -bound,
                up: bound,
            };
            let weight_shape = [
                conv.out_channels,
                conv.in_channels / conv.groups,
                conv.kernel[0],
                conv.kernel[1],
            ];
            let weight = variable(root, &format!("{}.weight", conv.name), &weight_shape, init)?;
            let bias = if conv.bias {
                Some(variable(
                    root,
                    &format!("{}.bias", conv.name),
                    &[conv.out_channels],
                    init,
                )?)
            } else {
                None
            };
            Layer::Conv { weight, bias }
        }
        Op::BatchNorm(bn) => create_batch_norm(root, bn)?,
        Op::Linear(linear) => create_linear(root, linear)?,
        _ => Layer::Stateless,
    };
    Ok(layer)
}

fn create_batch_norm(root: &Path, bn: &BatchNorm) -> Result<Layer, TrainError> {
    let c = [bn.channels];
    let (weight, bias) = if bn.affine {
        let weight = variable(root, &format!("{}.weight", bn.name), &c, Init::Const(1.0))?;
        let bias = variable(root, &format!("{}.bias", bn.name), &c, Init::Const(0.0))?;
        (Some(weight), Some(bias))
    } else {
        (None, None)
    };
    let running_mean = buffer(root, &format!("{}.running_mean", bn.name), &c, false)?;
    let running_var = buffer(root, &format!("{}.running_var", bn.name), &c, true)?;
    Ok(Layer::BatchNorm {
        weight,
        bias,
        running_mean,
        running_var,
    })
}

fn create_linear(root: &Path, linear: &Linear) -> Result<Layer, TrainError> {
    let bound = 1.0 / (linear.in_features as f64).sqrt();
    let init = Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let shape = [linear.out_features, linear.in_features];
    let weight = variable(root, &format!("{}.weight", linear.name), &shape, init)?;
    let bias = variable(
        root,
        &format!("{}.bias", linear.name),
        &[linear.out_features],
        init,
    )?;
    Ok(Layer::Linear { weight, bias })
}

/// Calls `create` with the VarStore path of the parent of a dotted name and its
/// last segment: `cells.0.preprocess0.op.1.weight` becomes `root / "cells" / "0"
/// / "preprocess0" / "op" / "1"` and `weight`.
fn with_parent_path<T>(
    root: &Path,
    name: &str,
    create: impl FnOnce(&Path, &str) -> Result<T, tch::TchError>,
) -> Result<T, TrainError> {
    let (parent, last) = name.rsplit_once('.').unwrap_or(("", name));
    let mut sub: Option<Path> = None;
    for segment in parent.split('.').filter(|segment| !segment.is_empty()) {
        sub = Some(match sub {
            Some(path) => path.sub(segment),
            None => root.sub(segment),
        });
    }
    let path = sub.as_ref().unwrap_or(root);
    // tch would silently rename a second variable of the same name.
    if path.get(last).is_some() {
        return Err(TrainError::DuplicateVariable(name.to_string()));
    }
    Ok(create(path, last)?)
}

fn variable(root: &Path, name: &str, shape: &[usize], init: Init) -> Result<Tensor, TrainError> {
    with_parent_path(root, name, |path, last| {
        path.f_var(last, &dims(shape), init)
    })
}

/// Creates a non-trainable tensor filled with ones, or zeros when `ones` is false.
fn buffer(root: &Path, name: &str, shape: &[usize], ones: bool) -> Result<Tensor, TrainError> {
    with_parent_path(root, name, |path, last| {
        if !ones {
            path.f_zeros_no_train(last, &dims(shape))
        } else {
            path.f_ones_no_train(last, &dims(shape))
        }
    })
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

fn conv2d(
    x: &Tensor,
    conv: &Conv2d,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor, TrainError> {
    let pair = |v: [usize; 2]| [v[0] as i64, v[1] as i64];
    let y = x.f_conv2d(
        weight,
        bias,
        pair(conv.stride),
        pair(conv.padding),
        pair(conv.dilation),
        conv.groups as i64,
    )?;
    Ok(y)
}

fn batch_norm(
    x: &Tensor,
    bn: &BatchNorm,
    layer: &Layer,
    train: bool,
) -> Result<Tensor, TrainError> {
    let Layer::BatchNorm {
        weight,
        bias,
        running_mean,
        running_var,
    } = layer
    else {
        unreachable!("{}: BatchNorm node without BatchNorm variables", bn.name)
    };
    Ok(x.f_batch_norm(
        weight.as_ref(),
        bias.as_ref(),
        Some(running_mean),
        Some(running_var),
        train,
        BN_MOMENTUM,
        bn.eps,
        true,
    )?)
}

/// `(kernel, stride, padding)` as libtorch integers.
fn pool_i64(pool: &Pool) -> (i64, i64, i64) {
    (pool.kernel as i64, pool.stride as i64, pool.padding as i64)
}

/// Zeros shaped `[N, C, ceil(H / s), ceil(W / s)]`.
fn zeros_strided(x: &Tensor, stride: i64) -> Result<Tensor, TrainError> {
    let size = x.size();
    let shape = [
        size[0],
        size[1],
        (size[2] + stride - 1) / stride,
        (size[3] + stride - 1) / stride,
    ];
    Ok(Tensor::f_zeros(shape, (x.kind(), x.device()))?)
}

/// `y[i, j] = x[i + 1, j + 1]` with zeros past the bottom and right borders.
fn shift_crop(x: &Tensor) -> Result<Tensor, TrainError> {
    let size = x.size();
    // Padding order is (left, right, top, bottom) for the last two dimensions.
    let padded = x.f_constant_pad_nd([0, 1, 0, 1])?;
    Ok(padded.f_narrow(2, 1, size[2])?.f_narrow(3, 1, size[3])?)
}

/// Keeps each sample with probability `1 - p`, scaling kept samples by `1 / (1 - p)`.
fn drop_path(x: &Tensor, p: f64) -> Result<Tensor, TrainError> {
    let keep = 1.0 - p;
    let mut mask = Tensor::f_empty([x.size()[0], 1, 1, 1], (Kind::Float, x.device()))?;
    let mask = mask.f_bernoulli_float_(keep)?.f_to_kind(x.kind())?;
    Ok(x.f_div_scalar(keep)?.f_mul(&mask)?)
}

/// Returns `x` with a channels-last (NHWC) memory layout and unchanged values.
///
/// libtorch keeps that layout through the convolutions. On a 2-core CPU with
/// libtorch 2.11.0 (batch 64, 2 threads), SHARPSEPCONV_DARTS at 16 channels x
/// 8 cells then trains at 110 images/s instead of 64-85. The 36 x 20 network
/// runs at 12 images/s with either layout.
fn channels_last(x: &Tensor) -> Result<Tensor, TrainError> {
    Ok(x.f_permute([0, 2, 3, 1])?
        .f_contiguous()?
        .f_permute([0, 3, 1, 2])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(values: &[f32], n: i64, c: i64, h: i64, w: i64) -> Tensor {
        Tensor::from_slice(values).view([n, c, h, w])
    }

    #[test]
    fn channels_last_keeps_values() {
        let x = Tensor::randn([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        let y = channels_last(&x).unwrap();
        assert_eq!(y.size(), x.size());
        assert_eq!(y.stride(), vec![60, 1, 15, 3], "NHWC strides");
        assert!(y.equal(&x));
    }

    #[test]
    fn drop_path_zeroes_or_scales_whole_samples() {
        tch::manual_seed(7);
        let x = Tensor::ones([256, 2, 3, 3], (Kind::Float, Device::Cpu));
        let p = 0.25;
        let y = drop_path(&x, p).unwrap();
        let per_sample = y.view([256, -1]);
        let min = Vec::<f32>::try_from(per_sample.min_dim(1, false).0).unwrap();
        let max = Vec::<f32>::try_from(per_sample.max_dim(1, false).0).unwrap();
        let scaled = (1.0 / (1.0 - p)) as f32;
        let mut dropped = 0;
        for (lo, hi) in min.iter().zip(&max) {
            assert_eq!(lo, hi, "a sample is dropped or kept as a whole");
            assert!(*lo == 0.0 || (*lo - scaled).abs() < 1e-6, "value {lo}");
            dropped += (*lo == 0.0) as usize;
        }
        // 256 draws with p = 0.25: 64 expected, 35..95 is beyond 4 standard deviations.
        assert!(
            (35..95).contains(&dropped),
            "{dropped} of 256 samples dropped"
        );
    }

    /// Runs a one-node graph `op(input)` on a `[1, 1, 3, 3]` input in inference.
    fn run_single_op(op: Op, x: &Tensor) -> Tensor {
        let mut builder = models::graph::GraphBuilder::new([1, 3, 3]);
        let id = builder.push(op, vec![models::graph::GraphBuilder::INPUT]);
        let graph = builder.finish(id, None);
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let network = Network::new(&vs.root(), &graph).unwrap();
        network.f_forward_t(x, false, 0.0).unwrap().0
    }

    #[test]
    fn pool_padding_semantics() {
        let pool = Pool {
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let negative = grid(&[-1.0; 9], 1, 1, 3, 3);
        let max = run_single_op(Op::MaxPool(pool), &negative);
        assert_eq!(
            f64::try_from(max.max()).unwrap(),
            -1.0,
            "max pool pads with -inf"
        );

        let ones = grid(&[1.0; 9], 1, 1, 3, 3);
        let avg = |count_include_pad| Op::AvgPool {
            pool,
            count_include_pad,
        };
        let counted = run_single_op(avg(true), &ones);
        let corner = f64::try_from(counted.get(0).get(0).get(0).get(0)).unwrap();
        assert!(
            (corner - 4.0 / 9.0).abs() < 1e-6,
            "count_include_pad corner {corner}"
        );
        let uncounted = run_single_op(avg(false), &ones);
        assert_eq!(f64::try_from(uncounted.min()).unwrap(), 1.0);
    }

    #[test]
    fn shift_crop_node() {
        let x = grid(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], 1, 1, 3, 3);
        let y = run_single_op(Op::ShiftCrop, &x);
        let expected = grid(&[5., 6., 0., 8., 9., 0., 0., 0., 0.], 1, 1, 3, 3);
        assert!(y.equal(&expected), "{y}");
    }

    #[test]
    fn zero_node_with_stride() {
        let x = grid(&[1.0; 9], 1, 1, 3, 3);
        let y = run_single_op(Op::Zero { stride: 2 }, &x);
        assert_eq!(y.size(), [1, 1, 2, 2]);
        assert_eq!(f64::try_from(y.abs().max()).unwrap(), 0.0);
    }
}

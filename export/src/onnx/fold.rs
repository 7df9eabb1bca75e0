//! BatchNorm folding: which BatchNorm layers merge into the convolutions that
//! feed them, and the folded convolution weights.

use std::collections::{HashMap, HashSet};

use models::graph::{BatchNorm, Conv2d};
use models::{Graph, NodeId, Op, Scope};

use crate::{ExportError, Weights};

/// The rewrites that remove nodes from the exported graph.
#[derive(Debug, Default)]
pub(crate) struct FoldPlan {
    /// Convolution -> (BatchNorm it folds into, first BatchNorm channel it feeds).
    pub conv_targets: HashMap<NodeId, (NodeId, usize)>,
    /// BatchNorm layers folded into convolutions; they emit no node.
    pub folded_batch_norms: HashSet<NodeId>,
    /// ShiftCrop nodes read only by convolutions, whose end padding then adds
    /// the crop's zero row and column, so no Pad node is needed.
    pub folded_shift_crops: HashSet<NodeId>,
}

impl FoldPlan {
    /// Finds the foldable BatchNorm and ShiftCrop nodes of the inference graph.
    pub fn new(graph: &Graph) -> Self {
        let consumers = inference_consumers(graph);
        let mut plan = FoldPlan::default();
        for (id, node) in graph.nodes.iter().enumerate() {
            if node.scope != Scope::Main {
                continue;
            }
            match node.op {
                Op::BatchNorm(_) => {
                    if let Some(convs) = foldable_convs(graph, &consumers, node.inputs[0]) {
                        for (conv, offset) in convs {
                            plan.conv_targets.insert(conv, (id, offset));
                        }
                        plan.folded_batch_norms.insert(id);
                    }
                }
                Op::ShiftCrop => {
                    let readers = &consumers[id];
                    let all_convs = readers
                        .iter()
                        .all(|&r| matches!(graph.nodes[r].op, Op::Conv2d(_)));
                    if !readers.is_empty() && all_convs && id != graph.logits {
                        plan.folded_shift_crops.insert(id);
                    }
                }
                _ => {}
            }
        }
        plan
    }
}

/// For each node, the inference (main scope) nodes that read it.
fn inference_consumers(graph: &Graph) -> Vec<Vec<NodeId>> {
    let mut consumers = vec![Vec::new(); graph.nodes.len()];
    for (id, node) in graph.nodes.iter().enumerate() {
        if node.scope == Scope::Main {
            for &input in &node.inputs {
                consumers[input].push(id);
            }
        }
    }
    consumers
}

/// Lists the convolutions that a BatchNorm reading `input` can fold into, each
/// with its first BatchNorm channel. That is `input` itself if it is a convolution
/// read only by the BatchNorm, or the inputs of a Concat of such convolutions.
fn foldable_convs(
    graph: &Graph,
    consumers: &[Vec<NodeId>],
    input: NodeId,
) -> Option<Vec<(NodeId, usize)>> {
    let read_once = |id: NodeId| consumers[id].len() == 1 && id != graph.logits;
    if !read_once(input) {
        return None;
    }
    match &graph.nodes[input].op {
        Op::Conv2d(_) => Some(vec![(input, 0)]),
        Op::Concat => {
            let mut convs = Vec::new();
            let mut offset = 0;
            for &part in &graph.nodes[input].inputs {
                let Op::Conv2d(conv) = &graph.nodes[part].op else {
                    return None;
                };
                if !read_once(part) {
                    return None;
                }
                convs.push((part, offset));
                offset += conv.out_channels;
            }
            Some(convs)
        }
        _ => None,
    }
}

/// A BatchNorm in inference as a per-channel affine map `y = scale * x + shift`.
pub(crate) struct ChannelAffine {
    pub scale: Vec<f64>,
    pub shift: Vec<f64>,
}

impl ChannelAffine {
    /// Computes `scale = gamma / sqrt(var + eps)` and `shift = beta - mean * scale`
    /// in f64; gamma is 1 and beta 0 without affine parameters.
    pub fn from_batch_norm(bn: &BatchNorm, weights: &Weights) -> Result<Self, ExportError> {
        let c = [bn.channels];
        let read = |suffix: &str| -> Result<Vec<f64>, ExportError> {
            let name = format!("{}.{suffix}", bn.name);
            let tensor = weights.require(&name, &c)?;
            Ok(tensor.data.iter().map(|&v| f64::from(v)).collect())
        };
        let mean = read("running_mean")?;
        let var = read("running_var")?;
        let (gamma, beta) = if bn.affine {
            (read("weight")?, read("bias")?)
        } else {
            (vec![1.0; bn.channels], vec![0.0; bn.channels])
        };
        let scale: Vec<f64> = (0..bn.channels)
            .map(|i| gamma[i] / (var[i] + bn.eps).sqrt())
            .collect();
        let shift = (0..bn.channels)
            .map(|i| beta[i] - mean[i] * scale[i])
            .collect();
        Ok(ChannelAffine { scale, shift })
    }
}

/// Folds BatchNorm channels `offset..offset + out_channels` into a convolution:
/// `w' = w * scale` per output channel and `b' = b * scale + shift`, which
/// equals `(b - mean) * gamma / sqrt(var + eps) + beta`. Returns `(w', b')`.
pub(crate) fn fold_conv(
    conv: &Conv2d,
    weights: &Weights,
    affine: &ChannelAffine,
    offset: usize,
) -> Result<(Vec<f32>, Vec<f32>), ExportError> {
    let weight_shape = conv_weight_shape(conv);
    let weight = weights.require(&format!("{}.weight", conv.name), &weight_shape)?;
    let bias = if conv.bias {
        let bias = weights.require(&format!("{}.bias", conv.name), &[conv.out_channels])?;
        bias.data.iter().map(|&b| f64::from(b)).collect()
    } else {
        vec![0.0; conv.out_channels]
    };
    let per_channel = weight.data.len() / conv.out_channels;
    let mut folded_weight = Vec::with_capacity(weight.data.len());
    let mut folded_bias = Vec::with_capacity(conv.out_channels);
    for (channel, values) in weight.data.chunks_exact(per_channel).enumerate() {
        let scale = affine.scale[offset + channel];
        let shift = affine.shift[offset + channel];
        folded_weight.extend(values.iter().map(|&w| (f64::from(w) * scale) as f32));
        folded_bias.push((bias[channel] * scale + shift) as f32);
    }
    Ok((folded_weight, folded_bias))
}

/// `[out, in / groups, kh, kw]`, the shape `models` gives a convolution weight.
pub(crate) fn conv_weight_shape(conv: &Conv2d) -> Vec<usize> {
    vec![
        conv.out_channels,
        conv.in_channels / conv.groups,
        conv.kernel[0],
        conv.kernel[1],
    ]
}

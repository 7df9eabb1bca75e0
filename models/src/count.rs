//! Parameter and multiply-add (MAC) counts, by the rules of the published
//! counter: parameters exclude BatchNorm running statistics; MACs are those of
//! one image in inference, so the auxiliary head contributes none.

use crate::graph::{Graph, Op, Scope};

/// Parameter counts of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamCount {
    /// Without the auxiliary head: the figure papers report.
    pub main: usize,
    /// Including the auxiliary head.
    pub with_auxiliary: usize,
}

/// Counts learnable parameters, with and without the auxiliary head.
pub fn count_parameters(graph: &Graph) -> ParamCount {
    let mut count = ParamCount {
        main: 0,
        with_auxiliary: 0,
    };
    for param in graph.parameters().iter().filter(|p| !p.role.is_buffer()) {
        count.with_auxiliary += param.numel();
        if param.scope == Scope::Main {
            count.main += param.numel();
        }
    }
    count
}

/// Counts multiply-adds for one image in inference.
///
/// Convolutions: `k_h k_w C_in (C_out / groups) H_out W_out` (+ `C_out H_out W_out`
/// with bias); ReLU: output elements; pools: input elements; BatchNorm: input
/// elements, twice when affine; linear: `in * out`. Additions, concatenations,
/// zeros, identities, the FactorizedReduce shift and the weighted sums of
/// mixed operations are free.
pub fn count_macs(graph: &Graph) -> u64 {
    let numel = |shape: [usize; 3]| shape.iter().product::<usize>() as u64;
    graph
        .nodes
        .iter()
        .filter(|node| node.scope == Scope::Main)
        .map(|node| {
            let input = || numel(graph.nodes[node.inputs[0]].shape);
            let output = numel(node.shape);
            match &node.op {
                Op::Conv2d(c) => {
                    let per_output = (c.kernel[0] * c.kernel[1] * c.in_channels / c.groups) as u64;
                    let bias = if c.bias { output } else { 0 };
                    per_output * output + bias
                }
                Op::Relu => output,
                Op::MaxPool(_) | Op::AvgPool { .. } | Op::GlobalAvgPool => input(),
                Op::BatchNorm(bn) => input() * if bn.affine { 2 } else { 1 },
                Op::Linear(l) => (l.in_features * l.out_features) as u64,
                Op::Input
                | Op::Zero { .. }
                | Op::ShiftCrop
                | Op::Add
                | Op::Concat
                | Op::Flatten
                | Op::MixedOp { .. } => 0,
            }
        })
        .sum()
}

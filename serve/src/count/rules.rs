//! The published MAC rules applied to ONNX operators, for one image.
//!
//! Conv: `k_h k_w (C_in / groups) C_out H_out W_out`, plus `C_out H_out W_out`
//! with a bias. Relu: output elements. Pools, global pools included: input
//! elements. BatchNormalization: input elements, twice when it has a scale
//! and shift. Gemm: `M K N`. Every other operator is free.

use super::note::Note;
use super::shape::{input, Operator, Value};

/// Counts the multiply-adds of a node of the graph as written. An ONNX
/// BatchNormalization always applies its scale and shift, so it counts twice.
pub(crate) fn deployed_macs(
    op: Operator,
    inputs: &[Option<&Value>],
    output: &Value,
) -> Result<u64, String> {
    match op {
        Operator::Conv => {
            let bias = inputs.get(2).copied().flatten().is_some();
            conv_macs(inputs, output, bias)
        }
        Operator::Relu => Ok(output.elements()),
        Operator::MaxPool
        | Operator::AveragePool
        | Operator::GlobalAveragePool
        | Operator::GlobalMaxPool => Ok(input(inputs, 0, "X")?.elements()),
        Operator::BatchNormalization => times(input(inputs, 0, "X")?.elements(), 2),
        Operator::Gemm => gemm_macs(inputs, output),
        _ => Ok(0),
    }
}

/// Counts the multiply-adds of a node in the network before folding, by the
/// published rules. A Conv with a folded BatchNorm counts without the folded
/// bias, plus the BatchNorm on its output. A BatchNormalization noted as
/// non-affine counts its input elements once.
pub(crate) fn published_macs(
    op: Operator,
    inputs: &[Option<&Value>],
    output: &Value,
    note: Option<&Note>,
) -> Result<u64, String> {
    match (op, note) {
        (
            Operator::Conv,
            Some(Note::FoldedBatchNorm {
                affine, conv_bias, ..
            }),
        ) => {
            let conv = conv_macs(inputs, output, *conv_bias)?;
            let batch_norm = times(output.elements(), if *affine { 2 } else { 1 })?;
            conv.checked_add(batch_norm).ok_or_else(overflow)
        }
        (Operator::BatchNormalization, Some(Note::BatchNorm { affine: false, .. })) => {
            Ok(input(inputs, 0, "X")?.elements())
        }
        _ => deployed_macs(op, inputs, output),
    }
}

/// Counts `k_h k_w (C_in / groups)` MACs per output element, which is the
/// product of the weight's dimensions after the first, plus one with a bias.
fn conv_macs(inputs: &[Option<&Value>], output: &Value, bias: bool) -> Result<u64, String> {
    let weight = input(inputs, 1, "W")?;
    let per_output = weight.shape[1..]
        .iter()
        .try_fold(1u64, |total, &d| total.checked_mul(d))
        .and_then(|product| product.checked_add(u64::from(bias)))
        .ok_or_else(overflow)?;
    times(output.elements(), per_output)
}

/// Counts `M K N` MACs for an output `[M, N]`, where `K` is the size of A
/// divided by `M`.
fn gemm_macs(inputs: &[Option<&Value>], output: &Value) -> Result<u64, String> {
    let a = input(inputs, 0, "A")?;
    let rows = output.shape[0];
    if rows == 0 {
        return Ok(0);
    }
    times(output.elements(), a.elements() / rows)
}

fn times(a: u64, b: u64) -> Result<u64, String> {
    a.checked_mul(b).ok_or_else(overflow)
}

fn overflow() -> String {
    "the multiply-add count overflows 64 bits".to_owned()
}

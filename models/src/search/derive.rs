//! Genotype derivation from the architecture weights of a search, by the
//! rules of the published DARTS code: each intermediate node keeps its two
//! strongest incoming edges, each with its strongest primitive.

use crate::genotype::{Edge, Genotype};
use crate::primitive::{Primitive, PrimitiveSet};
use crate::ModelError;

use super::{concat_states, edges_per_cell, node_rows};

/// Derives a genotype from the post-softmax architecture weights of the
/// normal and reduction cells (edge rows x primitive columns, rows in the
/// order of [`node_rows`]).
///
/// For each intermediate node, an incoming edge scores the maximum of its
/// row over every column except `skip`'s. The two best-scoring edges are
/// kept, and on equal scores the lower edge index comes first. Each kept edge,
/// in that order, gets the primitive with the largest weight except `skip`,
/// and on equal weights the lowest column wins. The published search skips
/// `none`; with `skip` set to `None` every column counts. Both cells
/// concatenate the last `multiplier` states.
///
/// Fails when the primitive set has no cell operations, when `skip` is not in
/// it, when `multiplier` is not in `1..=steps`, and on weight matrices of the
/// wrong shape or with non-finite values.
pub fn derive_genotype(
    normal: &[Vec<f32>],
    reduce: &[Vec<f32>],
    primitives: PrimitiveSet,
    steps: usize,
    multiplier: usize,
    skip: Option<Primitive>,
) -> Result<Genotype, ModelError> {
    let candidates = primitives.cell_primitives().ok_or_else(|| {
        invalid(format!(
            "{primitives} has no cell operations; use PRIMITIVES, SHARPER_PRIMITIVES or \
             DARTS_PRIMITIVES"
        ))
    })?;
    if steps == 0 || !(1..=steps).contains(&multiplier) {
        return Err(invalid(format!(
            "steps {steps} and multiplier {multiplier} do not fit: use at least one step and \
             a multiplier from 1 to the number of steps"
        )));
    }
    let skip_column = skip
        .map(|primitive| column_of(primitive, primitives, candidates))
        .transpose()?;
    let weights = [("normal", normal), ("reduce", reduce)];
    for (cell, rows) in weights {
        check_weights(cell, rows, primitives, candidates.len(), steps)?;
    }
    let concat = concat_states(steps, multiplier);
    Ok(Genotype {
        normal: derive_cell(normal, candidates, steps, skip_column),
        normal_concat: concat.clone(),
        reduce: derive_cell(reduce, candidates, steps, skip_column),
        reduce_concat: concat,
    })
}

/// Finds the column of `primitive` in the weight matrices of `primitives`.
fn column_of(
    primitive: Primitive,
    primitives: PrimitiveSet,
    candidates: &[Primitive],
) -> Result<usize, ModelError> {
    candidates
        .iter()
        .position(|&p| p == primitive)
        .ok_or_else(|| {
            invalid(format!(
                "the skipped primitive {primitive} is not in {primitives}; skip one of {} or none",
                primitives.op_names().join(", ")
            ))
        })
}

fn invalid(message: String) -> ModelError {
    ModelError::InvalidDerivation { message }
}

/// Rejects a weight matrix that is not `edges_per_cell(steps)` x `columns`
/// finite values.
fn check_weights(
    cell: &str,
    rows: &[Vec<f32>],
    primitives: PrimitiveSet,
    columns: usize,
    steps: usize,
) -> Result<(), ModelError> {
    let expected_rows = edges_per_cell(steps);
    if rows.len() != expected_rows {
        return Err(invalid(format!(
            "the {cell} weights have {} rows, but a cell of {steps} steps has {expected_rows} \
             edges (one row each)",
            rows.len()
        )));
    }
    for (r, row) in rows.iter().enumerate() {
        if row.len() != columns {
            return Err(invalid(format!(
                "row {r} of the {cell} weights has {} values, but {primitives} has {columns} \
                 primitives (one column each)",
                row.len()
            )));
        }
        if let Some(column) = row.iter().position(|w| !w.is_finite()) {
            return Err(invalid(format!(
                "the {cell} weight at row {r}, column {column} is {}; weights must be finite",
                row[column]
            )));
        }
    }
    Ok(())
}

/// Picks two edges per node from `weights`, which the caller has checked.
fn derive_cell(
    weights: &[Vec<f32>],
    candidates: &[Primitive],
    steps: usize,
    skip_column: Option<usize>,
) -> Vec<Edge> {
    let mut edges = Vec::with_capacity(2 * steps);
    for node in 0..steps {
        let rows = &weights[node_rows(node)];
        let best: Vec<usize> = rows
            .iter()
            .map(|row| best_column(row, skip_column))
            .collect();
        let score = |input: usize| rows[input][best[input]];
        let mut inputs: Vec<usize> = (0..rows.len()).collect();
        // Descending score; the sort is stable, so equal scores keep the
        // lower input first.
        inputs.sort_by(|&a, &b| {
            score(b)
                .partial_cmp(&score(a))
                .expect("weights are checked to be finite")
        });
        for &input in &inputs[..2] {
            edges.push(Edge {
                op: candidates[best[input]],
                input,
            });
        }
    }
    edges
}

/// Finds the column of the largest weight other than `skip_column`; the first
/// one wins ties.
fn best_column(row: &[f32], skip_column: Option<usize>) -> usize {
    let mut best: Option<usize> = None;
    for (column, &weight) in row.iter().enumerate() {
        if Some(column) == skip_column {
            continue;
        }
        if best.is_none_or(|b| weight > row[b]) {
            best = Some(column);
        }
    }
    best.expect("every cell primitive set has more than one primitive")
}

/// Share of parameter-free operations (none, pools, skip) among the edges of
/// a genotype, from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParameterFreeShare {
    pub normal: f64,
    pub reduce: f64,
    /// Over the edges of both cells together.
    pub overall: f64,
}

/// Computes the share of parameter-free operations per cell and overall. A
/// cell without edges has share 0; validated genotypes always have edges.
pub fn parameter_free_share(genotype: &Genotype) -> ParameterFreeShare {
    let free = |edges: &[Edge]| edges.iter().filter(|e| e.op.is_parameter_free()).count();
    let share = |free: usize, total: usize| {
        if total == 0 {
            0.0
        } else {
            free as f64 / total as f64
        }
    };
    let (normal, reduce) = (&genotype.normal, &genotype.reduce);
    let (normal_free, reduce_free) = (free(normal), free(reduce));
    ParameterFreeShare {
        normal: share(normal_free, normal.len()),
        reduce: share(reduce_free, reduce.len()),
        overall: share(normal_free + reduce_free, normal.len() + reduce.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_column_first_wins_ties() {
        assert_eq!(best_column(&[0.5, 0.2, 0.5], None), 0);
        assert_eq!(best_column(&[0.5, 0.2, 0.5], Some(0)), 2);
        assert_eq!(best_column(&[0.9, 0.1, 0.1], Some(0)), 1);
    }
}

//! Cell genotypes: which operation feeds each intermediate node of a cell.

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::primitive::{known_names, Primitive};
use crate::ModelError;

/// One edge of a cell: an operation applied to the state with index `input`.
///
/// State 0 is the preprocessed output of the cell two back, state 1 that of the
/// previous cell, and state `j >= 2` is intermediate node `j - 2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub op: Primitive,
    pub input: usize,
}

/// A cell-based genotype. Edges `2i` and `2i + 1` are summed into node `i`.
///
/// Its JSON form lists edges as `[op, input_index]` pairs; parsing validates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "GenotypeJson", into = "GenotypeJson")]
pub struct Genotype {
    pub normal: Vec<Edge>,
    pub normal_concat: Vec<usize>,
    pub reduce: Vec<Edge>,
    pub reduce_concat: Vec<usize>,
}

/// The JSON form: edges as `[op, input_index]` pairs.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenotypeJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    normal: Vec<(String, usize)>,
    normal_concat: Vec<usize>,
    reduce: Vec<(String, usize)>,
    reduce_concat: Vec<usize>,
}

/// A genotype built into the crate, with its aliases.
#[derive(Debug)]
pub struct NamedGenotype {
    pub name: String,
    pub aliases: Vec<String>,
    /// The primitive set the genotype was searched in, if it came from a search.
    pub primitives: Option<String>,
    genotype: Genotype,
}

impl NamedGenotype {
    pub fn genotype(&self) -> Genotype {
        self.genotype.clone()
    }
}

/// One entry of `named_genotypes.json`.
#[derive(Deserialize)]
struct NamedGenotypeJson {
    name: String,
    aliases: Vec<String>,
    primitives: Option<String>,
    normal: Vec<(String, usize)>,
    normal_concat: Vec<usize>,
    reduce: Vec<(String, usize)>,
    reduce_concat: Vec<usize>,
}

/// The published cell genotypes of sharpDARTS, DARTS, NASNet and AmoebaNet, as
/// listed in the published code's `genotypes.py`, in that file's order.
const NAMED_GENOTYPES_JSON: &str = include_str!("named_genotypes.json");

/// Returns every built-in genotype (parsed once).
pub fn named_genotypes() -> &'static [NamedGenotype] {
    static NAMED: OnceLock<Vec<NamedGenotype>> = OnceLock::new();
    NAMED.get_or_init(|| {
        let entries: Vec<NamedGenotypeJson> = serde_json::from_str(NAMED_GENOTYPES_JSON)
            .expect("the built-in genotype table is valid JSON");
        entries.into_iter().map(parse_named).collect()
    })
}

fn parse_named(entry: NamedGenotypeJson) -> NamedGenotype {
    let raw = GenotypeJson {
        name: None,
        normal: entry.normal,
        normal_concat: entry.normal_concat,
        reduce: entry.reduce,
        reduce_concat: entry.reduce_concat,
    };
    let genotype = Genotype::try_from(raw)
        .unwrap_or_else(|e| panic!("built-in genotype {} is invalid: {e}", entry.name));
    NamedGenotype {
        name: entry.name,
        aliases: entry.aliases,
        primitives: entry.primitives,
        genotype,
    }
}

/// Finds a built-in genotype by name or alias, ignoring ASCII case.
pub fn named(name: &str) -> Option<&'static NamedGenotype> {
    named_genotypes().iter().find(|g| {
        g.name.eq_ignore_ascii_case(name) || g.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Lists the built-in names with their aliases, for error messages and help text.
pub fn named_list() -> String {
    named_genotypes()
        .iter()
        .map(|g| match g.aliases.as_slice() {
            [] => g.name.clone(),
            aliases => format!("{} ({})", g.name, aliases.join(", ")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Genotype {
    /// Number of intermediate nodes in the normal cell.
    pub fn normal_steps(&self) -> usize {
        self.normal.len() / 2
    }

    /// Number of intermediate nodes in the reduction cell.
    pub fn reduce_steps(&self) -> usize {
        self.reduce.len() / 2
    }

    /// Parses and validates a genotype from JSON text.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let raw: GenotypeJson =
            serde_json::from_str(text).map_err(|e| ModelError::GenotypeJson(e.to_string()))?;
        Genotype::try_from(raw)
    }

    /// Writes the genotype as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genotype always serialises")
    }

    /// Resolves `NAME|FILE`: a built-in name or alias, else a path to a JSON file.
    pub fn resolve(name_or_path: &str) -> Result<Self, ModelError> {
        if let Some(named) = named(name_or_path) {
            return Ok(named.genotype());
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(ModelError::GenotypeNotFound {
                value: name_or_path.to_string(),
                known: named_list(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_json(&text).map_err(|e| ModelError::InFile {
            path: path.display().to_string(),
            source: Box::new(e),
        })
    }

    /// Checks edge counts, input indices and concat lists of both cells.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_cell(
            "normal",
            &self.normal,
            "normal_concat",
            &self.normal_concat,
            false,
        )?;
        validate_cell(
            "reduce",
            &self.reduce,
            "reduce_concat",
            &self.reduce_concat,
            true,
        )
    }
}

impl TryFrom<GenotypeJson> for Genotype {
    type Error = ModelError;

    fn try_from(raw: GenotypeJson) -> Result<Self, Self::Error> {
        let genotype = Genotype {
            normal: parse_cell("normal", &raw.normal)?,
            normal_concat: raw.normal_concat,
            reduce: parse_cell("reduce", &raw.reduce)?,
            reduce_concat: raw.reduce_concat,
        };
        genotype.validate()?;
        Ok(genotype)
    }
}

impl From<Genotype> for GenotypeJson {
    fn from(genotype: Genotype) -> Self {
        let pairs = |edges: &[Edge]| -> Vec<(String, usize)> {
            edges
                .iter()
                .map(|e| (e.op.name().to_string(), e.input))
                .collect()
        };
        GenotypeJson {
            name: None,
            normal: pairs(&genotype.normal),
            normal_concat: genotype.normal_concat,
            reduce: pairs(&genotype.reduce),
            reduce_concat: genotype.reduce_concat,
        }
    }
}

fn parse_cell(field: &str, pairs: &[(String, usize)]) -> Result<Vec<Edge>, ModelError> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (op, input))| {
            let op = op.parse().map_err(|_| ModelError::InvalidGenotype {
                field: format!("{field}[{i}]"),
                message: format!(
                    "unknown operation `{op}`; known operations: {}",
                    known_names()
                ),
            })?;
            Ok(Edge { op, input: *input })
        })
        .collect()
}

fn validate_cell(
    field: &str,
    edges: &[Edge],
    concat_field: &str,
    concat: &[usize],
    reduction: bool,
) -> Result<(), ModelError> {
    let invalid = |field: String, message: String| ModelError::InvalidGenotype { field, message };
    if edges.is_empty() || !edges.len().is_multiple_of(2) {
        return Err(invalid(
            field.to_string(),
            format!(
                "has {} edges; a cell needs an even, non-zero number (two per node)",
                edges.len()
            ),
        ));
    }
    for (i, edge) in edges.iter().enumerate() {
        let node = i / 2;
        if edge.input >= node + 2 {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!(
                    "input index {} points forward; node {node} can read states 0..={}",
                    edge.input,
                    node + 1
                ),
            ));
        }
    }
    let states = edges.len() / 2 + 2;
    if concat.is_empty() {
        return Err(invalid(concat_field.to_string(), "is empty".to_string()));
    }
    for (i, &state) in concat.iter().enumerate() {
        if state >= states {
            return Err(invalid(
                format!("{concat_field}[{i}]"),
                format!(
                    "state {state} does not exist; the cell has states 0..={}",
                    states - 1
                ),
            ));
        }
        // The cell inputs keep the resolution that the reduction halves.
        if reduction && state < 2 {
            return Err(invalid(
                format!("{concat_field}[{i}]"),
                format!(
                    "state {state} is a cell input, which a reduction cell does not \
                     downsample; concatenate intermediate nodes only (2..={})",
                    states - 1
                ),
            ));
        }
        if concat[..i].contains(&state) {
            return Err(invalid(
                format!("{concat_field}[{i}]"),
                format!("state {state} is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_json() -> String {
        named("SHARPSEPCONV_DARTS").unwrap().genotype().to_json()
    }

    #[test]
    fn reduction_concat_of_an_input_rejected() {
        let mut genotype = named("DARTS").unwrap().genotype();
        genotype.reduce_concat = vec![1, 2];
        let message = genotype.validate().unwrap_err().to_string();
        assert!(message.contains("reduce_concat[0]"), "{message}");
        assert!(message.contains("2..=5"), "{message}");
        // A normal cell may concatenate an input: it keeps its resolution.
        let mut genotype = named("DARTS").unwrap().genotype();
        genotype.normal_concat = vec![0, 2, 3];
        genotype.validate().unwrap();
    }

    #[test]
    fn json_round_trip() {
        for named in named_genotypes() {
            let genotype = named.genotype();
            let parsed = Genotype::from_json(&genotype.to_json()).unwrap();
            assert_eq!(parsed, genotype, "{}", named.name);
        }
    }

    #[test]
    fn names_and_aliases_resolve() {
        assert_eq!(
            Genotype::resolve("DARTS").unwrap(),
            Genotype::resolve("DARTS_V2").unwrap()
        );
        assert_eq!(
            Genotype::resolve("sharpsepconv_darts").unwrap(),
            Genotype::resolve("DARTS_PRIMITIVES_DIL_IS_SEPCONV").unwrap()
        );
    }

    #[test]
    fn unknown_op_names_field() {
        let text = sample_json().replacen("sep_conv_3x3", "warp_conv_9x9", 1);
        let message = Genotype::from_json(&text).unwrap_err().to_string();
        assert!(message.contains("normal[0]"), "{message}");
        assert!(message.contains("warp_conv_9x9"), "{message}");
    }

    #[test]
    fn forward_input_rejected() {
        let mut genotype = named("DARTS").unwrap().genotype();
        genotype.normal[1].input = 2;
        let message = genotype.validate().unwrap_err().to_string();
        assert!(message.contains("normal[1]"), "{message}");
        assert!(message.contains("points forward"), "{message}");
    }

    #[test]
    fn odd_edge_count_rejected() {
        let mut genotype = named("DARTS").unwrap().genotype();
        genotype.reduce.pop();
        let message = genotype.validate().unwrap_err().to_string();
        assert!(message.contains("reduce"), "{message}");
        assert!(message.contains("7 edges"), "{message}");
    }

    #[test]
    fn bad_concat_rejected() {
        let mut genotype = named("DARTS").unwrap().genotype();
        genotype.normal_concat = vec![2, 3, 9];
        let message = genotype.validate().unwrap_err().to_string();
        assert!(message.contains("normal_concat[2]"), "{message}");
        genotype.normal_concat = vec![2, 2];
        let message = genotype.validate().unwrap_err().to_string();
        assert!(message.contains("listed twice"), "{message}");
        genotype.normal_concat = vec![];
        assert!(genotype.validate().is_err());
    }

    #[test]
    fn missing_file_lists_names() {
        let message = Genotype::resolve("no/such/genotype.json")
            .unwrap_err()
            .to_string();
        assert!(message.contains("no/such/genotype.json"), "{message}");
        assert!(message.contains("SHARPSEPCONV_DARTS"), "{message}");
    }
}

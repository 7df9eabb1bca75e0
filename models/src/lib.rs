//! The sharpDARTS architecture description, with no heavy dependencies.
//!
//! A [`Genotype`] names the operations of a cell; [`build_network`] turns it and a
//! [`NetworkConfig`] into a [`Graph`] of layers with named parameters, which the
//! training back end (libtorch), the ONNX exporter and the counters all read.
//! [`build_search_network`] describes the DARTS search supernetwork the same
//! way, and [`derive_genotype`] turns its architecture weights into a genotype.

pub mod count;
pub mod diagram;
pub mod genotype;
pub mod graph;
pub mod io;
pub mod model_file;
pub mod network;
pub mod ops;
pub mod primitive;
pub mod search;

pub use count::{count_macs, count_parameters, ParamCount};
pub use diagram::{cell_dot, cell_svg, CellKind};
pub use genotype::{Edge, Genotype};
pub use graph::{Graph, Node, NodeId, Op, ParamRole, ParamSpec, Scope, Shape};
pub use model_file::ModelFile;
pub use network::{build_network, DatasetKind, NetworkConfig};
pub use ops::OpTable;
pub use primitive::{Primitive, PrimitiveSet};
pub use search::{
    build_search_network, derive_genotype, edges_per_cell, parameter_free_share,
    ParameterFreeShare, SearchConfig, Weighting,
};

/// Errors from parsing genotypes, validating network settings and deriving
/// genotypes from architecture weights.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown operation `{0}`; known operations: {known}", known = primitive::known_names())]
    UnknownPrimitive(String),
    #[error("invalid genotype JSON: {0}")]
    GenotypeJson(String),
    #[error("invalid genotype: field `{field}` {message}")]
    InvalidGenotype { field: String, message: String },
    #[error("genotype `{value}` is neither a built-in name nor an existing file; built-in genotypes: {known}")]
    GenotypeNotFound { value: String, known: String },
    #[error("invalid --{option} {value}: {fix}")]
    InvalidConfig {
        option: String,
        value: String,
        fix: String,
    },
    #[error("failed to read {path}: {message}")]
    Io { path: String, message: String },
    #[error("invalid genotype file {path}")]
    InFile {
        path: String,
        source: Box<ModelError>,
    },
    #[error(
        "a network of {parameters} parameters exceeds the limit of {limit} \
         (--init-channels {init_channels}, --layers {layers}); use fewer channels or cells"
    )]
    TooLarge {
        parameters: usize,
        limit: usize,
        init_channels: usize,
        layers: usize,
    },
    #[error("invalid model file {path}: {message}")]
    InvalidModelFile { path: String, message: String },
    #[error("cannot derive a genotype: {message}")]
    InvalidDerivation { message: String },
    /// A graph operation that a back end does not implement.
    #[error("{operation} is not supported; {fix}")]
    Unsupported { operation: String, fix: String },
}

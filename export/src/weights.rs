//! Named f32 tensors: loading and saving safetensors files, checking them
//! against a network, and fresh initialisation with PyTorch's defaults.

use std::collections::BTreeMap;
use std::path::Path;

use models::{Graph, ParamRole, ParamSpec, Scope};
use rand::distr::{Distribution, Uniform};
use rand::rngs::StdRng;
use rand::SeedableRng;
use safetensors::{Dtype, SafeTensors};

use crate::ExportError;

/// A dense, row-major f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// Creates a tensor, checking that `data` has one value per element of `shape`.
    pub fn new(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Result<Self, ExportError> {
        let elements: usize = shape.iter().product();
        if elements != data.len() {
            return Err(ExportError::DataLength {
                name: name.to_string(),
                shape,
                len: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Network weights by parameter name (`cells.3._ops.1.op.2.weight`), the
/// names that [`models::Graph::parameters`] lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
}

impl Weights {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a tensor.
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.tensors.insert(name.into(), tensor);
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Removes a tensor and returns it, if present.
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Iterates over tensors in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors
            .iter()
            .map(|(name, tensor)| (name.as_str(), tensor))
    }

    /// Returns the tensor `name`, or an error naming it and its expected shape.
    pub fn require(&self, name: &str, expected: &[usize]) -> Result<&Tensor, ExportError> {
        self.get(name).ok_or_else(|| ExportError::MissingTensor {
            name: name.to_string(),
            expected: expected.to_vec(),
        })
    }

    /// Reads a safetensors file whose tensors are all F32.
    pub fn load_safetensors(path: &Path) -> Result<Self, ExportError> {
        let bytes = std::fs::read(path).map_err(|error| ExportError::Read {
            path: path.display().to_string(),
            error,
        })?;
        parse_safetensors(&bytes, &path.display().to_string())
    }

    /// Parses safetensors bytes whose tensors are all F32.
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Self, ExportError> {
        parse_safetensors(bytes, "safetensors data")
    }

    /// Serialises all tensors in the safetensors format.
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>, ExportError> {
        let views = self.tensors.iter().map(|(name, tensor)| {
            let bytes: Vec<u8> = tensor.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            let view = OwnedView {
                shape: tensor.shape.clone(),
                bytes,
            };
            (name.as_str(), view)
        });
        safetensors::serialize(views, None).map_err(|e| ExportError::Safetensors {
            origin: "weights to serialise".to_string(),
            message: e.to_string(),
        })
    }

    /// Writes all tensors to a safetensors file atomically.
    pub fn save_safetensors(&self, path: &Path) -> Result<(), ExportError> {
        let bytes = self.to_safetensors_bytes()?;
        models::io::write_atomic(path, &bytes).map_err(|error| ExportError::Write {
            path: path.display().to_string(),
            error,
        })
    }

    /// Checks that every inference parameter of `graph` is present with its
    /// exact shape. Tensors the graph does not use, such as the auxiliary
    /// head's, are allowed.
    pub fn check_against(&self, graph: &Graph) -> Result<(), ExportError> {
        let main = graph
            .parameters()
            .into_iter()
            .filter(|p| p.scope == Scope::Main);
        for spec in main {
            let tensor = self.require(&spec.name, &spec.shape)?;
            if tensor.shape != spec.shape {
                return Err(ExportError::ShapeMismatch {
                    name: spec.name,
                    expected: spec.shape,
                    found: tensor.shape.clone(),
                });
            }
            if tensor.data.len() != spec.numel() {
                return Err(ExportError::DataLength {
                    name: spec.name,
                    shape: spec.shape,
                    len: tensor.data.len(),
                });
            }
        }
        Ok(())
    }

    /// Initialises every parameter and buffer of `graph`, auxiliary head
    /// included, like PyTorch's defaults: convolution and linear weights
    /// U(-b, b) with b = 1 / sqrt(fan_in) (Kaiming uniform with a = sqrt(5)),
    /// biases the same, BatchNorm weight 1, bias 0, running mean 0 and running
    /// variance 1. Parameters are drawn in graph order, so a seed fixes the result.
    pub fn random(graph: &Graph, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let params = graph.parameters();
        let mut weights = Weights::new();
        for (index, spec) in params.iter().enumerate() {
            let data = match spec.role {
                ParamRole::BnWeight | ParamRole::BnRunningVar => vec![1.0; spec.numel()],
                ParamRole::BnBias | ParamRole::BnRunningMean => vec![0.0; spec.numel()],
                ParamRole::ConvWeight | ParamRole::LinearWeight => {
                    uniform(&mut rng, spec.numel(), weight_fan_in(spec))
                }
                ParamRole::ConvBias | ParamRole::LinearBias => {
                    // The weight of the same layer precedes its bias in `parameters()`.
                    let weight = &params[index - 1];
                    uniform(&mut rng, spec.numel(), weight_fan_in(weight))
                }
            };
            let tensor = Tensor {
                shape: spec.shape.clone(),
                data,
            };
            weights.insert(spec.name.clone(), tensor);
        }
        weights
    }
}

/// Parses safetensors bytes; `origin` names the file in error messages.
fn parse_safetensors(bytes: &[u8], origin: &str) -> Result<Weights, ExportError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| ExportError::Safetensors {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    let mut weights = Weights::new();
    for (name, view) in file.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(ExportError::UnsupportedDtype {
                name: name.to_string(),
                dtype: format!("{:?}", view.dtype()),
            });
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        weights.insert(name, Tensor::new(name, view.shape().to_vec(), data)?);
    }
    Ok(weights)
}

/// `in / groups * kh * kw` for a convolution weight `[out, in / groups, kh, kw]`,
/// `in` for a linear weight `[out, in]`.
fn weight_fan_in(weight: &ParamSpec) -> usize {
    weight.shape[1..].iter().product()
}

fn uniform(rng: &mut StdRng, count: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    let distribution = Uniform::new(-bound, bound).expect("a positive bound gives a valid range");
    distribution.sample_iter(rng).take(count).collect()
}

/// A tensor serialised for `safetensors::serialize`.
struct OwnedView {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for OwnedView {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use models::{Genotype, NetworkConfig};

    fn small_graph() -> Graph {
        let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
        models::build_network(&genotype, &NetworkConfig::cifar10(8, 5)).unwrap()
    }

    #[test]
    fn random_covers_every_parameter() {
        let graph = small_graph();
        let weights = Weights::random(&graph, 0);
        let params = graph.parameters();
        assert_eq!(weights.len(), params.len());
        for spec in &params {
            let tensor = weights.get(&spec.name).unwrap();
            assert_eq!(tensor.shape, spec.shape, "{}", spec.name);
            assert_eq!(tensor.data.len(), spec.numel(), "{}", spec.name);
        }
        assert!(weights.check_against(&graph).is_ok());
    }

    #[test]
    fn random_follows_pytorch_defaults() {
        let graph = small_graph();
        let weights = Weights::random(&graph, 1);
        let params = graph.parameters();
        for (index, spec) in params.iter().enumerate() {
            let data = &weights.get(&spec.name).unwrap().data;
            match spec.role {
                ParamRole::BnWeight | ParamRole::BnRunningVar => {
                    assert!(data.iter().all(|&v| v == 1.0), "{}", spec.name)
                }
                ParamRole::BnBias | ParamRole::BnRunningMean => {
                    assert!(data.iter().all(|&v| v == 0.0), "{}", spec.name)
                }
                role => {
                    let weight = if role == ParamRole::ConvBias || role == ParamRole::LinearBias {
                        &params[index - 1]
                    } else {
                        spec
                    };
                    let fan_in: usize = weight.shape[1..].iter().product();
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    let max = data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    assert!(max <= bound, "{}: {max} > {bound}", spec.name);
                    if data.len() >= 100 {
                        // U(-b, b) has mean |x| = b / 2; 100 draws land near it.
                        let mean_abs =
                            data.iter().map(|v| v.abs()).sum::<f32>() / data.len() as f32;
                        assert!(
                            (mean_abs / bound - 0.5).abs() < 0.15,
                            "{}: {mean_abs}",
                            spec.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn random_is_seeded() {
        let graph = small_graph();
        assert_eq!(Weights::random(&graph, 5), Weights::random(&graph, 5));
        assert_ne!(Weights::random(&graph, 5), Weights::random(&graph, 6));
    }

    #[test]
    fn check_reports_expected_and_found() {
        let graph = small_graph();
        let mut weights = Weights::random(&graph, 0);
        let wrong = Tensor::new("classifier.weight", vec![10, 3], vec![0.0; 30]).unwrap();
        let expected = weights.get("classifier.weight").unwrap().shape.clone();
        weights.insert("classifier.weight", wrong);
        let message = weights.check_against(&graph).unwrap_err().to_string();
        assert!(message.contains("classifier.weight"), "{message}");
        assert!(message.contains("[10, 3]"), "{message}");
        assert!(message.contains(&format!("{expected:?}")), "{message}");
    }

    #[test]
    fn check_catches_inconsistent_tensor() {
        let graph = small_graph();
        let mut weights = Weights::random(&graph, 0);
        let tensor = Tensor {
            shape: vec![10],
            data: vec![0.0; 3],
        };
        weights.insert("classifier.bias", tensor);
        let message = weights.check_against(&graph).unwrap_err().to_string();
        assert!(message.contains("classifier.bias"), "{message}");
        assert!(message.contains("3 values"), "{message}");
    }
}

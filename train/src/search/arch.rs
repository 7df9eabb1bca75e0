//! Architecture weights: one matrix of logits for normal cells and one for
//! reduction cells, `rows x candidates` each.

use models::search::Weighting;
use tch::{Device, Kind, Tensor};

use crate::TrainError;

/// The architecture weights (α) of a search.
pub struct ArchWeights {
    pub normal: Tensor,
    pub reduce: Tensor,
}

/// Mixing coefficients of every edge, `rows x candidates`, computed from
/// the architecture weights for one forward pass.
pub struct Coefficients {
    pub normal: Tensor,
    pub reduce: Tensor,
}

impl ArchWeights {
    /// Draws both matrices as `1e-3` times standard normal values, from
    /// libtorch's generator.
    pub fn new(rows: usize, candidates: usize, device: Device) -> ArchWeights {
        let shape = [rows as i64, candidates as i64];
        let draw = || (Tensor::randn(shape, (Kind::Float, device)) * 1e-3).set_requires_grad(true);
        ArchWeights {
            normal: draw(),
            reduce: draw(),
        }
    }

    /// Both matrices, normal first, for the optimiser.
    pub fn tensors(&self) -> [Tensor; 2] {
        [self.normal.shallow_clone(), self.reduce.shallow_clone()]
    }

    /// Computes the coefficients: the softmax of each row, weighted by
    /// `weighting`. Gradients flow back to the architecture weights.
    pub fn coefficients(&self, weighting: Weighting) -> Result<Coefficients, TrainError> {
        Ok(Coefficients {
            normal: mix(&self.normal, weighting)?,
            reduce: mix(&self.reduce, weighting)?,
        })
    }

    /// Returns the softmax of every row of both matrices, for logging and
    /// genotype derivation.
    pub fn softmax_rows(&self) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), TrainError> {
        Ok((rows_of(&self.normal)?, rows_of(&self.reduce)?))
    }
}

/// Softmax of each row, then `scalar`: the softmax itself, or `max_w`:
/// `1 - max + w`, with the row maximum not detached, so its coefficient is
/// exactly 1 and the gradient reaches every other coefficient through it.
fn mix(alpha: &Tensor, weighting: Weighting) -> Result<Tensor, TrainError> {
    let w = alpha.f_softmax(-1, alpha.kind())?;
    Ok(match weighting {
        Weighting::Scalar => w,
        Weighting::MaxW => {
            let (max, _) = w.f_max_dim(-1, true)?;
            w.f_sub(&max)?.f_add_scalar(1.0)?
        }
    })
}

fn rows_of(alpha: &Tensor) -> Result<Vec<Vec<f32>>, TrainError> {
    let w = tch::no_grad(|| alpha.f_softmax(-1, Kind::Float))?.f_to_device(Device::Cpu)?;
    let columns = w.size()[1] as usize;
    let values: Vec<f32> = Vec::try_from(w.f_flatten(0, -1)?)?;
    Ok(values.chunks(columns).map(<[f32]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_w_top_coefficient_is_one() {
        tch::manual_seed(1);
        let arch = ArchWeights::new(14, 8, Device::Cpu);
        let coefficients = arch.coefficients(Weighting::MaxW).unwrap();
        let (max, _) = coefficients.normal.max_dim(-1, false);
        let ones = Tensor::ones([14], (Kind::Float, Device::Cpu));
        assert!(max.allclose(&ones, 0.0, 0.0, false), "{max}");
        // Every coefficient is 1 - max + w, so at most 1 and above 1 - max.
        let (w, _) = arch.softmax_rows().unwrap();
        let c: Vec<f32> = Vec::try_from(coefficients.normal.flatten(0, -1)).unwrap();
        for (row, w_row) in w.iter().enumerate() {
            let m = w_row.iter().cloned().fold(f32::MIN, f32::max);
            for (p, &wp) in w_row.iter().enumerate() {
                assert!((c[row * 8 + p] - (1.0 - m + wp)).abs() < 1e-6);
            }
        }
        // A loss on the non-maximal coefficients reaches every α entry.
        let weights = Tensor::rand([14, 8], (Kind::Float, Device::Cpu));
        (coefficients.normal * weights).sum(Kind::Float).backward();
        let grad = arch.normal.grad();
        let nonzero = grad.abs().gt(0.0).sum(Kind::Int64).int64_value(&[]);
        assert_eq!(nonzero, 14 * 8, "{grad}");
    }

    #[test]
    fn scalar_coefficients_are_the_softmax() {
        let arch = ArchWeights::new(2, 3, Device::Cpu);
        let coefficients = arch.coefficients(Weighting::Scalar).unwrap();
        let sums = coefficients.reduce.sum_dim_intlist(-1, false, Kind::Float);
        let ones = Tensor::ones([2], (Kind::Float, Device::Cpu));
        assert!(sums.allclose(&ones, 1e-6, 1e-6, false));
    }
}

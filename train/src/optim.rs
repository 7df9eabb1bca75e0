//! SGD and Adam with their state in plain tensors.
//!
//! They compute what `torch.optim.SGD` (dampening 0, no Nesterov) and
//! `torch.optim.Adam` (L2 weight decay added to the gradient) compute, to
//! within float rounding. The state is kept here rather than inside
//! libtorch's optimisers, because tch 0.24 can neither read nor set theirs.
//! The second-order architecture step of the search reads the SGD momentum,
//! and a checkpoint must contain the optimiser state to resume a run exactly.

use tch::Tensor;

use crate::TrainError;

/// SGD with momentum and L2 weight decay.
pub struct Sgd {
    pub momentum: f64,
    pub weight_decay: f64,
    /// Momentum buffer per parameter; `None` until its first step.
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(parameter_count: usize, momentum: f64, weight_decay: f64) -> Sgd {
        Sgd {
            momentum,
            weight_decay,
            buffers: (0..parameter_count).map(|_| None).collect(),
        }
    }

    /// Updates every parameter that has a gradient: `d = g + wd p`,
    /// `b = momentum b + d` (`b = d` on the first step), `p -= lr b`.
    pub fn step(&mut self, parameters: &[Tensor], lr: f64) -> Result<(), TrainError> {
        tch::no_grad(|| {
            for (parameter, buffer) in parameters.iter().zip(&mut self.buffers) {
                let grad = parameter.grad();
                if !grad.defined() {
                    continue;
                }
                let d = grad.f_add(&parameter.f_mul_scalar(self.weight_decay)?)?;
                let next = match buffer.take() {
                    Some(b) => b.f_mul_scalar(self.momentum)?.f_add(&d)?,
                    None => d,
                };
                let mut parameter = parameter.shallow_clone();
                let _ = parameter.f_sub_(&next.f_mul_scalar(lr)?)?;
                *buffer = Some(next);
            }
            Ok(())
        })
    }

    /// Returns `momentum * b` for parameter `index`, the part of the next step
    /// that does not depend on the next gradient; `None` before its first step.
    pub fn momentum_term(&self, index: usize) -> Option<Tensor> {
        let buffer = self.buffers[index].as_ref()?;
        Some(buffer * self.momentum)
    }

    /// Returns the momentum buffers by parameter index, for a checkpoint.
    pub fn buffers(&self) -> &[Option<Tensor>] {
        &self.buffers
    }

    /// Replaces the momentum buffers, e.g. from a checkpoint.
    pub fn set_buffers(&mut self, buffers: Vec<Option<Tensor>>) {
        assert_eq!(
            buffers.len(),
            self.buffers.len(),
            "one buffer per parameter"
        );
        self.buffers = buffers;
    }
}

/// Adam with L2 weight decay added to the gradient (not decoupled).
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken so far.
    pub steps: i64,
    /// First and second moment per parameter.
    moments: Vec<(Tensor, Tensor)>,
}

impl Adam {
    /// Creates the optimiser for `parameters` with zero moments.
    pub fn new(parameters: &[Tensor], lr: f64, betas: (f64, f64), weight_decay: f64) -> Adam {
        let moments = parameters
            .iter()
            .map(|p| (p.zeros_like(), p.zeros_like()))
            .collect();
        Adam {
            lr,
            beta1: betas.0,
            beta2: betas.1,
            eps: 1e-8,
            weight_decay,
            steps: 0,
            moments,
        }
    }

    /// Takes one step on every parameter with the gradient in its `grad`
    /// field; parameters without one are left alone.
    pub fn step(&mut self, parameters: &[Tensor]) -> Result<(), TrainError> {
        let gradients: Vec<Tensor> = parameters.iter().map(Tensor::grad).collect();
        self.step_with_gradients(parameters, &gradients)
    }

    /// Takes one step with `gradients[i]` as the gradient of `parameters[i]`;
    /// an undefined gradient leaves its parameter alone.
    pub fn step_with_gradients(
        &mut self,
        parameters: &[Tensor],
        gradients: &[Tensor],
    ) -> Result<(), TrainError> {
        assert_eq!(
            parameters.len(),
            gradients.len(),
            "one gradient per parameter"
        );
        self.steps += 1;
        let t = self.steps as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2 = 1.0 - self.beta2.powi(t);
        tch::no_grad(|| {
            let items = parameters.iter().zip(gradients).zip(&mut self.moments);
            for ((parameter, grad), (m, v)) in items {
                if !grad.defined() {
                    continue;
                }
                let g = grad.f_add(&parameter.f_mul_scalar(self.weight_decay)?)?;
                *m = m
                    .f_mul_scalar(self.beta1)?
                    .f_add(&g.f_mul_scalar(1.0 - self.beta1)?)?;
                *v = v
                    .f_mul_scalar(self.beta2)?
                    .f_add(&g.f_mul(&g)?.f_mul_scalar(1.0 - self.beta2)?)?;
                let denom = v
                    .f_sqrt()?
                    .f_div_scalar(bias2.sqrt())?
                    .f_add_scalar(self.eps)?;
                let update = m.f_div(&denom)?.f_mul_scalar(self.lr / bias1)?;
                let mut parameter = parameter.shallow_clone();
                let _ = parameter.f_sub_(&update)?;
            }
            Ok(())
        })
    }

    /// Returns the first and second moments by parameter index.
    pub fn moments(&self) -> &[(Tensor, Tensor)] {
        &self.moments
    }

    /// Replaces the moments and step count, e.g. from a checkpoint.
    pub fn set_state(&mut self, moments: Vec<(Tensor, Tensor)>, steps: i64) {
        assert_eq!(moments.len(), self.moments.len(), "one pair per parameter");
        self.moments = moments;
        self.steps = steps;
    }
}

/// Scales the gradients of `parameters` so that their global L2 norm is at
/// most `max_norm`, as `torch.nn.utils.clip_grad_norm_`; returns the norm
/// before clipping.
pub fn clip_grad_norm(parameters: &[Tensor], max_norm: f64) -> Result<f64, TrainError> {
    tch::no_grad(|| {
        let mut squares = 0.0;
        let grads: Vec<Tensor> = parameters
            .iter()
            .map(|p| p.grad())
            .filter(|g| g.defined())
            .collect();
        for grad in &grads {
            let norm = grad.f_norm()?.f_double_value(&[])?;
            squares += norm * norm;
        }
        let total = squares.sqrt();
        let coefficient = max_norm / (total + 1e-6);
        if coefficient < 1.0 {
            for grad in &grads {
                let mut grad = grad.shallow_clone();
                let _ = grad.f_mul_scalar_(coefficient)?;
            }
        }
        Ok(total)
    })
}

#[cfg(test)]
mod tests {
    use tch::nn::{self, OptimizerConfig};
    use tch::{Device, Kind};

    use super::*;

    /// Returns a quadratic loss with a different gradient each step.
    fn loss(p: &Tensor, step: i64) -> Tensor {
        let target = Tensor::arange(p.numel() as i64, (Kind::Float, Device::Cpu))
            .reshape(p.size())
            .f_mul_scalar(0.1 * (step + 1) as f64)
            .unwrap();
        (p - target).pow_tensor_scalar(2).sum(Kind::Float)
    }

    /// Runs five steps with libtorch's optimiser and with ours from the same
    /// start and returns the largest difference between the two parameters.
    fn compare(
        make_theirs: impl FnOnce(&nn::VarStore) -> nn::Optimizer,
        mut ours: impl FnMut(&Tensor),
    ) -> f64 {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let theirs_p = vs.root().randn("p", &[3, 4], 0.0, 1.0);
        let mut theirs = make_theirs(&vs);
        let mut ours_p = theirs_p.detach().copy().set_requires_grad(true);
        for step in 0..5 {
            theirs.zero_grad();
            loss(&theirs_p, step).backward();
            theirs.step();
            ours_p.zero_grad();
            loss(&ours_p, step).backward();
            ours(&ours_p);
        }
        (theirs_p - ours_p).abs().max().double_value(&[])
    }

    #[test]
    fn sgd_matches_libtorch() {
        let mut sgd = Sgd::new(1, 0.9, 3e-4);
        let difference = compare(
            |vs| {
                nn::Sgd {
                    momentum: 0.9,
                    dampening: 0.0,
                    wd: 3e-4,
                    nesterov: false,
                }
                .build(vs, 0.05)
                .unwrap()
            },
            |p| sgd.step(std::slice::from_ref(p), 0.05).unwrap(),
        );
        assert!(difference < 1e-6, "{difference}");
        let term = sgd.momentum_term(0).unwrap();
        assert_eq!(term.size(), vec![3, 4]);
    }

    #[test]
    fn adam_matches_libtorch() {
        let mut adam = None;
        let difference = compare(
            |vs| {
                nn::Adam {
                    beta1: 0.5,
                    beta2: 0.999,
                    wd: 1e-3,
                    eps: 1e-8,
                    amsgrad: false,
                }
                .build(vs, 0.01)
                .unwrap()
            },
            |p| {
                let adam = adam.get_or_insert_with(|| {
                    Adam::new(std::slice::from_ref(p), 0.01, (0.5, 0.999), 1e-3)
                });
                adam.step(std::slice::from_ref(p)).unwrap();
            },
        );
        assert!(difference < 1e-6, "{difference}");
    }

    #[test]
    fn clipping_scales_to_the_maximum_norm() {
        let p = Tensor::zeros([4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        (&p * Tensor::from_slice(&[3.0f32, 4.0, 0.0, 0.0]))
            .sum(Kind::Float)
            .backward();
        let before = clip_grad_norm(std::slice::from_ref(&p), 1.0).unwrap();
        assert!((before - 5.0).abs() < 1e-6);
        let after: Vec<f32> = Vec::try_from(p.grad()).unwrap();
        assert!(
            (after[0] - 0.6).abs() < 1e-5 && (after[1] - 0.8).abs() < 1e-5,
            "{after:?}"
        );
        // A norm under the maximum is left alone.
        let again = clip_grad_norm(std::slice::from_ref(&p), 10.0).unwrap();
        assert!((again - 1.0).abs() < 1e-5);
    }
}

//! The search supernetwork with its architecture weights, and the two
//! optimisation steps of every search step: the architecture step (first or
//! second order) and the weight step.

use models::search::Weighting;
use tch::nn::VarStore;
use tch::{Kind, Reduction, Tensor};

use super::arch::{ArchWeights, Coefficients};
use super::optim::{clip_grad_norm, Adam, Sgd};
use crate::{Network, TrainError};

/// Images and labels of one batch, on the network's device.
pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
}

/// The supernetwork: network weights in a variable store, architecture
/// weights beside it, so the weight optimiser leaves them alone.
pub struct Supernet {
    pub vs: VarStore,
    pub network: Network,
    /// Trainable network weights, sorted by name.
    pub weights: Vec<(String, Tensor)>,
    /// Every variable of `vs` (weights and BatchNorm statistics), sorted by name.
    pub variables: Vec<(String, Tensor)>,
    pub arch: ArchWeights,
    pub weighting: Weighting,
}

impl Supernet {
    pub fn new(vs: VarStore, network: Network, arch: ArchWeights, weighting: Weighting) -> Self {
        let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        let weights = variables
            .iter()
            .filter(|(_, tensor)| tensor.requires_grad())
            .map(|(name, tensor)| (name.clone(), tensor.shallow_clone()))
            .collect();
        Supernet {
            vs,
            network,
            weights,
            variables,
            arch,
            weighting,
        }
    }

    /// Returns the network weights, in the order of `weights`.
    pub fn weight_tensors(&self) -> Vec<Tensor> {
        self.weights
            .iter()
            .map(|(_, t)| t.shallow_clone())
            .collect()
    }

    /// Runs the network with the current architecture weights; with
    /// `arch_gradient` false they are detached, so no gradient reaches them.
    pub fn logits(
        &self,
        x: &Tensor,
        train: bool,
        arch_gradient: bool,
    ) -> Result<Tensor, TrainError> {
        let coefficients = self.arch.coefficients(self.weighting)?;
        let coefficients = if arch_gradient {
            coefficients
        } else {
            Coefficients {
                normal: coefficients.normal.detach(),
                reduce: coefficients.reduce.detach(),
            }
        };
        self.network.f_forward_search(x, train, &coefficients)
    }

    /// Mean cross-entropy of a batch in training mode.
    pub fn loss(&self, batch: &Batch, arch_gradient: bool) -> Result<Tensor, TrainError> {
        let logits = self.logits(&batch.images, true, arch_gradient)?;
        cross_entropy(&logits, &batch.labels, Reduction::Mean)
    }

    /// Copies of every variable, to restore after the unrolled step.
    fn snapshot(&self) -> Vec<Tensor> {
        tch::no_grad(|| self.variables.iter().map(|(_, t)| t.copy()).collect())
    }

    fn restore(&self, snapshot: &[Tensor]) -> Result<(), TrainError> {
        tch::no_grad(|| {
            for ((_, variable), saved) in self.variables.iter().zip(snapshot) {
                let mut variable = variable.shallow_clone();
                variable.f_copy_(saved)?;
            }
            Ok(())
        })
    }

    /// Adds `scale * direction[i]` to every weight.
    fn shift_weights(&self, direction: &[Tensor], scale: f64) -> Result<(), TrainError> {
        tch::no_grad(|| {
            for ((_, weight), d) in self.weights.iter().zip(direction) {
                let mut weight = weight.shallow_clone();
                let _ = weight.f_add_(&d.f_mul_scalar(scale)?)?;
            }
            Ok(())
        })
    }
}

/// Cross-entropy of logits against class indices.
pub fn cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
    reduction: Reduction,
) -> Result<Tensor, TrainError> {
    Ok(logits.f_cross_entropy_loss::<Tensor>(labels, None, reduction, -100, 0.0)?)
}

/// Gradients of `loss` with respect to `inputs`; an input the loss does not
/// depend on gets zeros.
fn gradients(loss: &Tensor, inputs: &[Tensor]) -> Result<Vec<Tensor>, TrainError> {
    let grads = Tensor::f_run_backward(&[loss], inputs, false, false)?;
    Ok(grads
        .into_iter()
        .zip(inputs)
        .map(|(g, input)| if g.defined() { g } else { input.zeros_like() })
        .collect())
}

/// The architecture optimiser (Adam) and the order of its gradient.
pub struct Architect {
    pub adam: Adam,
    pub second_order: bool,
}

/// Measurements of an architecture step.
pub struct ArchStep {
    /// Validation loss at the weights the gradient was taken at.
    pub valid_loss: f64,
}

impl Architect {
    /// Takes one Adam step on the architecture weights. First order: the
    /// gradient of the validation loss at the current weights. Second order:
    /// the gradient of the validation loss after one virtual SGD step of the
    /// weights at `lr`, with the Hessian-vector product by finite differences.
    pub fn step(
        &mut self,
        net: &Supernet,
        train: &Batch,
        valid: &Batch,
        lr: f64,
        sgd: &Sgd,
    ) -> Result<ArchStep, TrainError> {
        let arch = net.arch.tensors();
        let (grads, valid_loss) = if self.second_order {
            unrolled_gradient(net, train, valid, lr, sgd, HESSIAN_RADIUS)?
        } else {
            let loss = net.loss(valid, true)?;
            let value = loss.f_double_value(&[])?;
            (gradients(&loss, &arch)?, value)
        };
        self.adam.step_with_gradients(&arch, &grads)?;
        Ok(ArchStep { valid_loss })
    }
}

/// Radius of the published finite-difference Hessian-vector product,
/// divided by the norm of the direction.
pub const HESSIAN_RADIUS: f64 = 0.01;

/// Computes the second-order architecture gradient of the published code.
///
/// The virtual step is `w' = w - lr (m + g(w) + wd w)`, with `m` the SGD
/// momentum term and `g` the training-loss gradient. The gradient is
/// `dα = ∂L_val(w', α)/∂α - lr h`. Here `h` approximates
/// `∇²_{α,w} L_train · u`, with `u = ∂L_val(w', α)/∂w'`, by central
/// differences at `w ± r u` and `r = radius / |u|` ([`HESSIAN_RADIUS`] in a
/// search). Every variable, BatchNorm statistics included, is restored
/// afterwards.
pub fn unrolled_gradient(
    net: &Supernet,
    train: &Batch,
    valid: &Batch,
    lr: f64,
    sgd: &Sgd,
    radius: f64,
) -> Result<(Vec<Tensor>, f64), TrainError> {
    let snapshot = net.snapshot();
    let weights = net.weight_tensors();
    let arch = net.arch.tensors();

    let train_loss = net.loss(train, false)?;
    let train_grads = gradients(&train_loss, &weights)?;
    let step: Vec<Tensor> = tch::no_grad(|| -> Result<Vec<Tensor>, TrainError> {
        let mut step = Vec::with_capacity(weights.len());
        for (i, (w, g)) in weights.iter().zip(&train_grads).enumerate() {
            let mut d = g.f_add(&w.f_mul_scalar(sgd.weight_decay)?)?;
            if let Some(momentum) = sgd.momentum_term(i) {
                d = d.f_add(&momentum)?;
            }
            step.push(d);
        }
        Ok(step)
    })?;
    net.shift_weights(&step, -lr)?;

    let valid_loss = net.loss(valid, true)?;
    let value = valid_loss.f_double_value(&[])?;
    let mut inputs: Vec<Tensor> = arch.iter().map(Tensor::shallow_clone).collect();
    inputs.extend(weights.iter().map(Tensor::shallow_clone));
    let mut grads = gradients(&valid_loss, &inputs)?;
    let direction = grads.split_off(arch.len());
    let mut arch_grads = grads;
    net.restore(&snapshot)?;

    let norm = tch::no_grad(|| -> Result<f64, TrainError> {
        let mut squares = 0.0;
        for d in &direction {
            let n = d.f_norm()?.f_double_value(&[])?;
            squares += n * n;
        }
        Ok(squares.sqrt())
    })?;
    if norm > 0.0 {
        let r = radius / norm;
        net.shift_weights(&direction, r)?;
        let plus = gradients(&net.loss(train, true)?, &arch)?;
        net.shift_weights(&direction, -2.0 * r)?;
        let minus = gradients(&net.loss(train, true)?, &arch)?;
        net.restore(&snapshot)?;
        arch_grads = tch::no_grad(|| -> Result<Vec<Tensor>, TrainError> {
            let mut out = Vec::with_capacity(arch_grads.len());
            for ((g, p), m) in arch_grads.iter().zip(&plus).zip(&minus) {
                let h = p.f_sub(m)?.f_div_scalar(2.0 * r)?;
                out.push(g.f_sub(&h.f_mul_scalar(lr)?)?);
            }
            Ok(out)
        })?;
    }
    Ok((arch_grads, value))
}

/// Takes one weight step: cross-entropy on the training batch with the
/// architecture weights fixed, gradient clipping, SGD.
pub fn weight_step(
    net: &Supernet,
    sgd: &mut Sgd,
    batch: &Batch,
    lr: f64,
    grad_clip: f64,
) -> Result<(f64, i64), TrainError> {
    let weights = net.weight_tensors();
    for w in &weights {
        let mut grad = w.grad();
        if grad.defined() {
            let _ = grad.f_zero_()?;
        }
    }
    let logits = net.logits(&batch.images, true, false)?;
    let loss = cross_entropy(&logits, &batch.labels, Reduction::Mean)?;
    let value = loss.f_double_value(&[])?;
    loss.f_backward()?;
    clip_grad_norm(&weights, grad_clip)?;
    sgd.step(&weights, lr)?;
    let correct = logits
        .f_argmax(-1, false)?
        .f_eq_tensor(&batch.labels)?
        .f_sum(Kind::Int64)?
        .f_int64_value(&[])?;
    Ok((value, correct))
}

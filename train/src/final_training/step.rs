//! The parts of one `train final` step that benchmarks call as well, so they
//! time the same code as training.

use tch::nn::VarStore;
use tch::{Reduction, Tensor};

use super::amp::LossScaler;
use super::config::{FinalConfig, MOMENTUM};
use crate::optim::{clip_grad_norm, Sgd};
use crate::{Network, TrainError};

/// SGD over the trainable variables of a variable store, with the momentum
/// buffers in reach for checkpoints.
pub struct SgdOptimizer {
    /// Trainable variables, sorted by name.
    parameters: Vec<(String, Tensor)>,
    sgd: Sgd,
    lr: f64,
}

impl SgdOptimizer {
    /// Sets the learning rate of the following steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Returns the trainable variables by name, sorted by name.
    pub fn parameters(&self) -> &[(String, Tensor)] {
        &self.parameters
    }

    /// Returns the momentum buffers by parameter name, for a checkpoint;
    /// parameters that have not taken a step yet have none.
    pub fn momentum_buffers(&self) -> Vec<(String, Tensor)> {
        self.parameters
            .iter()
            .zip(self.sgd.buffers())
            .filter_map(|((name, _), buffer)| {
                Some((name.clone(), buffer.as_ref()?.shallow_clone()))
            })
            .collect()
    }

    /// Replaces the momentum buffers with `buffers(name)` for each parameter,
    /// moved to the parameter's device; `None` means no step has been taken.
    pub fn set_momentum_buffers(
        &mut self,
        mut buffers: impl FnMut(&str) -> Option<Tensor>,
    ) -> Result<(), TrainError> {
        let mut restored = Vec::with_capacity(self.parameters.len());
        for (name, parameter) in &self.parameters {
            let buffer = match buffers(name) {
                Some(buffer) => Some(buffer.f_to_device(parameter.device())?),
                None => None,
            };
            restored.push(buffer);
        }
        self.sgd.set_buffers(restored);
        Ok(())
    }

    fn parameter_tensors(&self) -> Vec<Tensor> {
        self.parameters
            .iter()
            .map(|(_, tensor)| tensor.shallow_clone())
            .collect()
    }
}

/// Creates the SGD optimizer of `config` over every trainable variable of
/// `vs`: momentum [`MOMENTUM`], no dampening, no Nesterov,
/// `config.weight_decay`, learning rate `config.lr`. It computes what
/// `torch.optim.SGD` computes, to within float rounding.
pub fn sgd(vs: &VarStore, config: &FinalConfig) -> Result<SgdOptimizer, TrainError> {
    let mut parameters: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, tensor)| tensor.requires_grad())
        .collect();
    parameters.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(SgdOptimizer {
        sgd: Sgd::new(parameters.len(), MOMENTUM, config.weight_decay),
        parameters,
        lr: config.lr,
    })
}

/// Runs `network` in training mode on one batch and returns `(logits, loss)`.
///
/// The loss is the mean cross-entropy plus `auxiliary_weight` times the
/// auxiliary head's mean cross-entropy, when the network has that head.
pub fn training_loss(
    network: &Network,
    images: &Tensor,
    labels: &Tensor,
    auxiliary_weight: f64,
    drop_path_prob: f64,
) -> Result<(Tensor, Tensor), TrainError> {
    let (logits, aux_logits) = network.f_forward_t(images, true, drop_path_prob)?;
    let mut loss = cross_entropy(&logits, labels, Reduction::Mean)?;
    if let Some(aux_logits) = aux_logits {
        let aux_loss = cross_entropy(&aux_logits, labels, Reduction::Mean)?;
        loss = loss.f_add(&aux_loss.f_mul_scalar(auxiliary_weight)?)?;
    }
    Ok((logits, loss))
}

/// Zeroes the gradients, backpropagates `loss`, clips the gradients to a
/// global L2 norm of `grad_clip` and takes one optimizer step.
pub fn apply_gradients(
    optimizer: &mut SgdOptimizer,
    loss: &Tensor,
    grad_clip: f64,
) -> Result<(), TrainError> {
    let parameters = optimizer.parameter_tensors();
    zero_gradients(&parameters)?;
    loss.f_backward()?;
    clip_grad_norm(&parameters, grad_clip)?;
    optimizer.sgd.step(&parameters, optimizer.lr)
}

/// Runs [`apply_gradients`] with float16 loss scaling: backpropagates `loss`
/// times the scale, divides the gradients by it, and takes the step only when
/// their norm is finite. Returns whether the step was taken; `scaler` is
/// updated either way.
pub fn apply_scaled_gradients(
    optimizer: &mut SgdOptimizer,
    loss: &Tensor,
    grad_clip: f64,
    scaler: &mut LossScaler,
) -> Result<bool, TrainError> {
    let parameters = optimizer.parameter_tensors();
    zero_gradients(&parameters)?;
    loss.f_mul_scalar(scaler.scale)?.f_backward()?;
    tch::no_grad(|| -> Result<(), TrainError> {
        for parameter in &parameters {
            let mut grad = parameter.grad();
            if grad.defined() {
                let _ = grad.f_div_scalar_(scaler.scale)?;
            }
        }
        Ok(())
    })?;
    // An infinity or NaN in any gradient makes the global norm non-finite.
    let norm = clip_grad_norm(&parameters, grad_clip)?;
    if !scaler.update(norm.is_finite()) {
        return Ok(false);
    }
    optimizer.sgd.step(&parameters, optimizer.lr)?;
    Ok(true)
}

fn zero_gradients(parameters: &[Tensor]) -> Result<(), TrainError> {
    for parameter in parameters {
        let mut grad = parameter.grad();
        if grad.defined() {
            let _ = grad.f_zero_()?;
        }
    }
    Ok(())
}

/// Cross-entropy of logits against class indices, without label smoothing.
pub(super) fn cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
    reduction: Reduction,
) -> Result<Tensor, TrainError> {
    // -100 is PyTorch's default ignore_index; no label takes that value.
    Ok(logits.f_cross_entropy_loss::<Tensor>(labels, None, reduction, -100, 0.0)?)
}

#[cfg(test)]
mod tests {
    use tch::nn::OptimizerConfig;
    use tch::{Device, Kind};

    use super::*;

    /// Five steps of a quadratic loss with tch's SGD and with [`SgdOptimizer`]
    /// from the same start reach the same parameters.
    #[test]
    fn sgd_optimizer_matches_libtorch() {
        let config = FinalConfig::new("DARTS", "data".into(), "run".into());
        let start = Tensor::randn([3, 4], (Kind::Float, Device::Cpu));
        let target = Tensor::randn([3, 4], (Kind::Float, Device::Cpu));

        let theirs_vs = VarStore::new(Device::Cpu);
        let theirs_p = theirs_vs.root().var_copy("p", &start);
        let mut theirs = tch::nn::Sgd {
            momentum: MOMENTUM,
            dampening: 0.0,
            wd: config.weight_decay,
            nesterov: false,
        }
        .build(&theirs_vs, 0.05)
        .unwrap();

        let ours_vs = VarStore::new(Device::Cpu);
        let ours_p = ours_vs.root().var_copy("p", &start);
        let mut ours = sgd(&ours_vs, &config).unwrap();
        ours.set_lr(0.05);

        for step in 0..5 {
            let scale = (step + 1) as f64;
            let theirs_loss = (&theirs_p - &target * scale).square().sum(Kind::Float);
            theirs.zero_grad();
            theirs_loss.backward();
            // A large norm, so clipping leaves both alike.
            theirs.clip_grad_norm(1e6);
            theirs.step();
            let ours_loss = (&ours_p - &target * scale).square().sum(Kind::Float);
            apply_gradients(&mut ours, &ours_loss, 1e6).unwrap();
        }
        let difference = (&theirs_p - &ours_p).abs().max().double_value(&[]);
        assert!(difference < 1e-5, "{difference}");
        assert_eq!(ours.momentum_buffers().len(), 1);
    }

    /// Scaled gradients take the same step as unscaled ones, and an
    /// infinite gradient skips the step and halves the scale.
    #[test]
    fn scaled_step_matches_and_skips_overflow() {
        let config = FinalConfig::new("DARTS", "data".into(), "run".into());
        let start = Tensor::from_slice(&[1.0f32, -2.0, 0.5]);
        let plain_vs = VarStore::new(Device::Cpu);
        let plain_p = plain_vs.root().var_copy("p", &start);
        let mut plain = sgd(&plain_vs, &config).unwrap();
        let scaled_vs = VarStore::new(Device::Cpu);
        let scaled_p = scaled_vs.root().var_copy("p", &start);
        let mut scaled = sgd(&scaled_vs, &config).unwrap();
        let mut scaler = LossScaler::new();

        apply_gradients(&mut plain, &plain_p.square().sum(Kind::Float), 5.0).unwrap();
        let stepped = apply_scaled_gradients(
            &mut scaled,
            &scaled_p.square().sum(Kind::Float),
            5.0,
            &mut scaler,
        )
        .unwrap();
        assert!(stepped);
        let difference = (&plain_p - &scaled_p).abs().max().double_value(&[]);
        assert!(difference < 1e-6, "{difference}");
        assert_eq!(scaler.scale, LossScaler::INITIAL_SCALE);

        let before = scaled_p.copy();
        let overflow = scaled_p.sum(Kind::Float) * f64::INFINITY;
        let stepped = apply_scaled_gradients(&mut scaled, &overflow, 5.0, &mut scaler).unwrap();
        assert!(!stepped, "a non-finite gradient skips the step");
        assert!(scaled_p.equal(&before), "the weights are unchanged");
        assert_eq!(scaler.scale, LossScaler::INITIAL_SCALE / 2.0);
    }

    #[test]
    fn momentum_buffers_round_trip() {
        let config = FinalConfig::new("DARTS", "data".into(), "run".into());
        let vs = VarStore::new(Device::Cpu);
        let p = vs.root().var("p", &[2], tch::nn::Init::Const(1.0));
        let mut optimizer = sgd(&vs, &config).unwrap();
        assert!(optimizer.momentum_buffers().is_empty(), "no step taken");
        apply_gradients(&mut optimizer, &p.square().sum(Kind::Float), 5.0).unwrap();
        let saved = optimizer.momentum_buffers();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].0, "p");

        let mut restored = sgd(&vs, &config).unwrap();
        restored
            .set_momentum_buffers(|name| {
                saved
                    .iter()
                    .find(|(saved_name, _)| saved_name == name)
                    .map(|(_, buffer)| buffer.copy())
            })
            .unwrap();
        let buffers = restored.momentum_buffers();
        assert_eq!(buffers.len(), 1);
        assert!(buffers[0].1.equal(&saved[0].1));
    }
}

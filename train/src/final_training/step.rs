//! The parts of one `train final` step that benchmarks call as well, so they
//! time the same code as training.

use tch::nn::{Optimizer, OptimizerConfig, VarStore};
use tch::{Reduction, Tensor};

use super::config::{FinalConfig, MOMENTUM};
use crate::{Network, TrainError};

/// Creates the SGD optimizer of `config` over every variable of `vs`:
/// momentum [`MOMENTUM`], no dampening, no Nesterov, `config.weight_decay`,
/// learning rate `config.lr`.
pub fn sgd(vs: &VarStore, config: &FinalConfig) -> Result<Optimizer, TrainError> {
    Ok(tch::nn::Sgd {
        momentum: MOMENTUM,
        dampening: 0.0,
        wd: config.weight_decay,
        nesterov: false,
    }
    .build(vs, config.lr)?)
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
    optimizer: &mut Optimizer,
    loss: &Tensor,
    grad_clip: f64,
) -> Result<(), TrainError> {
    optimizer.zero_grad();
    loss.f_backward()?;
    optimizer.clip_grad_norm(grad_clip);
    optimizer.step();
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

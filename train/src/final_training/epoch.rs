//! One epoch: a pass over the shuffled, augmented training set, then an
//! evaluation of the test set (and CIFAR-10.1 when given) in inference mode.
//!
//! Every random draw of epoch `e` comes from generators seeded with
//! `(seed, e)`: the data order and augmentation (see
//! [`data::batch::epoch_seed`]) and libtorch's generator, which drop path
//! draws from ([`torch_seed`]). A resumed run therefore needs no generator
//! state to repeat an epoch exactly.

use std::sync::mpsc;
use std::time::Instant;

use data::{Batch, Dataset, EvalBatches, Normalization};
use indicatif::{ProgressBar, ProgressStyle};
use tch::{Device, Kind, Reduction, Tensor};

use super::amp::LossScaler;
use super::config::FinalConfig;
use super::outputs::EpochMetrics;
use super::run_data::RunData;
use super::step::{
    apply_gradients, apply_scaled_gradients, cross_entropy, training_loss, SgdOptimizer,
};
use crate::{Network, TrainError};

/// Training batches prepared ahead of the step that uses them.
const PREFETCH_BATCHES: usize = 2;

/// Mixed into the run's seed for libtorch's generator, so that it does not
/// share its seed with the data generator of the same epoch.
const TORCH_SEED_MIX: u64 = 0x5DEE_CE66_D1CE_5EED;

/// Returns the seed of libtorch's generator for `epoch` of a run seeded with `seed`.
pub(super) fn torch_seed(seed: u64, epoch: usize) -> i64 {
    // libtorch takes the seed as a u64; tch passes it as an i64 of the same bits.
    data::batch::epoch_seed(seed ^ TORCH_SEED_MIX, epoch as u64) as i64
}

/// Settings that change from epoch to epoch.
pub(super) struct EpochSettings {
    /// 1-based epoch number.
    pub epoch: usize,
    pub lr: f64,
    pub drop_path_prob: f64,
    /// Epoch whose weights are saved so far, for the non-finite loss message.
    pub best_epoch: Option<usize>,
}

pub(super) struct Trainer<'a> {
    pub config: &'a FinalConfig,
    pub network: Network,
    pub optimizer: SgdOptimizer,
    pub device: Device,
    pub data: &'a RunData,
    /// CIFAR-10.1, evaluated after the test split when given.
    pub cifar10_1: Option<&'a Dataset>,
    /// Loss scale of `--amp fp16`; `None` otherwise.
    pub loss_scaler: Option<LossScaler>,
}

/// Sums over the images of an epoch.
#[derive(Default)]
struct Totals {
    loss: f64,
    correct: i64,
    images: usize,
    /// Seconds the training loop spent waiting for its next batch.
    data_wait_seconds: f64,
}

impl Totals {
    fn mean_loss(&self) -> f64 {
        self.loss / self.images.max(1) as f64
    }

    fn accuracy(&self) -> f64 {
        100.0 * self.correct as f64 / self.images.max(1) as f64
    }
}

impl Trainer<'_> {
    /// Trains one epoch, evaluates the test set, and returns the metrics.
    pub(super) fn run_epoch(
        &mut self,
        settings: &EpochSettings,
    ) -> Result<EpochMetrics, TrainError> {
        let start = Instant::now();
        self.optimizer.set_lr(settings.lr);
        tch::manual_seed(torch_seed(self.config.seed, settings.epoch));
        let train = self.train_epoch(settings)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let test = self.evaluate(self.data.test_batches(self.config.batch_size)?)?;
        let cifar10_1 = match self.cifar10_1 {
            Some(set) => {
                let batches =
                    EvalBatches::new(set, self.config.batch_size, Normalization::CIFAR10)?;
                Some(self.evaluate(batches)?)
            }
            None => None,
        };
        for (split, totals) in [("training", &train), ("test", &test)] {
            if totals.images == 0 {
                return Err(TrainError::NoImages {
                    split,
                    epoch: settings.epoch,
                });
            }
        }
        Ok(EpochMetrics {
            epoch: settings.epoch,
            lr: settings.lr,
            drop_path_prob: settings.drop_path_prob,
            train_loss: train.mean_loss(),
            train_accuracy: train.accuracy(),
            test_loss: test.mean_loss(),
            test_accuracy: test.accuracy(),
            seconds: start.elapsed().as_secs_f64(),
            images_per_second: train.images as f64 / train_seconds.max(1e-9),
            data_wait_seconds: train.data_wait_seconds,
            cifar10_1_loss: cifar10_1.as_ref().map(Totals::mean_loss),
            cifar10_1_accuracy: cifar10_1.as_ref().map(Totals::accuracy),
        })
    }

    /// Runs the training steps while a second thread prepares the next
    /// batches, and records how long the steps waited for them.
    fn train_epoch(&mut self, settings: &EpochSettings) -> Result<Totals, TrainError> {
        let batches = self.data.train_batches(self.config, settings.epoch)?;
        let steps = self.data.train_len().div_ceil(self.config.batch_size);
        let bar = progress_bar(settings.epoch, self.config.epochs, steps);
        let start = Instant::now();
        let mut totals = Totals::default();
        let outcome = std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::sync_channel(PREFETCH_BATCHES);
            scope.spawn(move || {
                for batch in batches {
                    // The receiver is gone when training stopped early.
                    if sender.send(batch).is_err() {
                        break;
                    }
                }
            });
            let mut step = 0;
            loop {
                let wait_start = Instant::now();
                let next = receiver.recv();
                totals.data_wait_seconds += wait_start.elapsed().as_secs_f64();
                // An error means the preparing thread sent every batch and ended.
                let Ok(batch) = next else { break };
                step += 1;
                self.train_step(&batch, step, settings, &mut totals)?;
                let rate = totals.images as f64 / start.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "loss {:.4} acc {:.2}% {rate:.0} img/s",
                    totals.mean_loss(),
                    totals.accuracy()
                ));
                bar.inc(1);
            }
            Ok(())
        });
        bar.finish_and_clear();
        outcome.map(|()| totals)
    }

    fn train_step(
        &mut self,
        batch: &Batch,
        step: usize,
        settings: &EpochSettings,
        totals: &mut Totals,
    ) -> Result<(), TrainError> {
        // BatchNorm cannot normalise one sample over a 1x1 map (the auxiliary
        // head has one), so a last batch of a single image is left out.
        if batch.len < 2 {
            tracing::debug!(epoch = settings.epoch, step, "skipped a one-image batch");
            return Ok(());
        }
        let (images, labels) = to_tensors(batch, self.device)?;
        // NOTE: the --amp path (CUDA only) has not been run: no CUDA device
        // was available when it was written, and the tests cover only its
        // rejection on the CPU and the loss-scale rule.
        let (logits, loss) = tch::autocast(self.config.amp.is_some(), || {
            training_loss(
                &self.network,
                &images,
                &labels,
                self.config.auxiliary_weight,
                settings.drop_path_prob,
            )
        })?;
        let loss_value = loss.f_double_value(&[])?;
        if !loss_value.is_finite() {
            return Err(non_finite_loss(settings, step, loss_value));
        }

        match &mut self.loss_scaler {
            Some(scaler) => {
                let stepped = apply_scaled_gradients(
                    &mut self.optimizer,
                    &loss,
                    self.config.grad_clip,
                    scaler,
                )?;
                if !stepped {
                    tracing::debug!(
                        epoch = settings.epoch,
                        step,
                        loss_scale = scaler.scale,
                        "skipped a step with non-finite float16 gradients; halved the loss scale"
                    );
                }
            }
            None => apply_gradients(&mut self.optimizer, &loss, self.config.grad_clip)?,
        }

        totals.loss += loss_value * batch.len as f64;
        totals.correct += count_correct(&logits, &labels)?;
        totals.images += batch.len;
        Ok(())
    }

    /// Returns the summed loss and correct predictions over `batches`, in
    /// inference mode.
    fn evaluate(&self, batches: impl Iterator<Item = Batch>) -> Result<Totals, TrainError> {
        let _no_grad = tch::no_grad_guard();
        let mut totals = Totals::default();
        for batch in batches {
            let (images, labels) = to_tensors(&batch, self.device)?;
            let (logits, _) = self.network.f_forward_t(&images, false, 0.0)?;
            let loss = cross_entropy(&logits, &labels, Reduction::Sum)?;
            totals.loss += loss.f_double_value(&[])?;
            totals.correct += count_correct(&logits, &labels)?;
            totals.images += batch.len;
        }
        Ok(totals)
    }
}

fn to_tensors(batch: &Batch, device: Device) -> Result<(Tensor, Tensor), TrainError> {
    let shape = batch.shape().map(|d| d as i64);
    let images = Tensor::f_from_slice(&batch.images)?
        .f_view(shape)?
        .f_to_device(device)?;
    let labels = Tensor::f_from_slice(&batch.labels)?.f_to_device(device)?;
    Ok((images, labels))
}

fn count_correct(logits: &Tensor, labels: &Tensor) -> Result<i64, TrainError> {
    let predicted = logits.f_argmax(-1, false)?;
    let correct = predicted.f_eq_tensor(labels)?.f_sum(Kind::Int64)?;
    Ok(correct.f_int64_value(&[])?)
}

fn non_finite_loss(settings: &EpochSettings, step: usize, loss: f64) -> TrainError {
    let weights_status = match settings.best_epoch {
        Some(epoch) => format!("weights.safetensors keeps epoch {epoch}, the best so far"),
        None if settings.epoch == 1 => {
            "weights.safetensors was not written because no epoch finished".to_string()
        }
        None => "weights.safetensors was not written because no epoch had a finite test loss"
            .to_string(),
    };
    TrainError::NonFiniteLoss {
        epoch: settings.epoch,
        step,
        loss,
        weights_status,
    }
}

/// Creates a bar over the steps of one epoch; indicatif hides it when stderr
/// is not a terminal.
fn progress_bar(epoch: usize, epochs: usize, steps: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    let style = ProgressStyle::with_template(
        "epoch {prefix} {bar:30.cyan/blue} {pos}/{len} steps {msg} [{elapsed_precise}<{eta_precise}]",
    )
    .expect("the progress template is valid");
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(epoch: usize, best_epoch: Option<usize>) -> EpochSettings {
        EpochSettings {
            epoch,
            lr: 0.1,
            drop_path_prob: 0.0,
            best_epoch,
        }
    }

    #[test]
    fn non_finite_message_names_kept_epoch() {
        let message = non_finite_loss(&settings(5, Some(3)), 7, f64::INFINITY).to_string();
        assert!(message.contains("inf at epoch 5, step 7"), "{message}");
        assert!(
            message.contains("weights.safetensors keeps epoch 3"),
            "{message}"
        );
        assert!(message.contains("try a lower --lr"), "{message}");
    }

    #[test]
    fn torch_seed_differs_by_epoch_and_seed() {
        assert_ne!(torch_seed(0, 1), torch_seed(0, 2));
        assert_ne!(torch_seed(0, 1), torch_seed(1, 1));
        assert_ne!(torch_seed(0, 1) as u64, data::batch::epoch_seed(0, 1));
        assert_eq!(torch_seed(3, 7), torch_seed(3, 7));
    }

    #[test]
    fn non_finite_message_without_weights() {
        let first = non_finite_loss(&settings(1, None), 2, f64::NAN).to_string();
        assert!(first.contains("no epoch finished"), "{first}");
        let later = non_finite_loss(&settings(4, None), 1, f64::NAN).to_string();
        assert!(later.contains("no epoch had a finite test loss"), "{later}");
    }
}

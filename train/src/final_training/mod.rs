//! Final training of a genotype network on CIFAR-10 or ImageNet with the
//! published recipe, without AutoAugment.
//!
//! The recipe is SGD (momentum 0.9, weight decay 3e-4, no Nesterov) with
//! Cosine Power Annealing per epoch. The loss is cross-entropy plus the
//! weighted auxiliary loss, gradients are clipped by global norm, and drop path
//! ramps up linearly. The test split is evaluated after every epoch and the
//! weights of the best epoch are kept.
//!
//! NOTE: the published recipe also applies AutoAugment to the training images;
//! this crate does not implement it yet, so accuracies can fall short of it.

mod config;
mod epoch;
mod outputs;
mod run_data;
mod step;

use std::time::Instant;

use models::{build_network, count_macs, count_parameters, Genotype, ModelFile, NetworkConfig};
use tch::nn::VarStore;
use tch::Device;

pub use config::{
    DeviceChoice, FinalConfig, DEFAULT_WARMUP_EPOCHS, IMAGENET_WEIGHT_DECAY, MOMENTUM, WEIGHT_DECAY,
};
pub use outputs::{
    EpochMetrics, RunConfig, RunResult, CONFIG_FILE, METRICS_FILE, MODEL_FILE, RESULT_FILE,
    WEIGHTS_FILE,
};
pub use step::{apply_gradients, sgd, training_loss};

use crate::schedule::cosine_power_annealing;
use crate::{checkpoint, Network, TrainError};
use epoch::{EpochSettings, Trainer};
use outputs::RunFolder;
use run_data::RunData;

/// Runs `train final`: trains, evaluates every epoch, and writes the run
/// folder. Returns the final `result.json` contents.
///
/// Stops with [`TrainError::NonFiniteLoss`] as soon as the training loss is
/// NaN or infinite; `weights.safetensors` then still contains the best earlier
/// epoch, if any epoch finished. Returns [`TrainError::NoFiniteTestLoss`] when
/// every epoch finished with a non-finite test loss, so no weights were saved;
/// `metrics.jsonl` and `result.json` are written in both cases.
pub fn run(config: &FinalConfig) -> Result<RunResult, TrainError> {
    let start = Instant::now();
    config.validate()?;
    let device = select_device(config.device)?;
    let (genotype_name, genotype) = resolve_genotype(&config.genotype)?;
    let schedule = cosine_power_annealing(
        config.epochs,
        config.lr,
        config.lr_min,
        config.lr_power,
        config.warmup_epochs,
    )?;
    RunFolder::check(&config.out_dir, config.overwrite)?;
    let data = RunData::load(config)?;
    // The network is built before the run folder is touched, so settings
    // that cannot build it leave no files behind.
    let network_config = config.network(data.classes().len());
    let graph = build_network(&genotype, &network_config)?;
    let mut folder = RunFolder::prepare(&config.out_dir, config.overwrite)?;
    folder.write_config(&RunConfig::new(config, tch::get_num_threads()))?;
    folder.write_model(&model_file(
        genotype_name,
        genotype,
        network_config,
        data.classes(),
    ))?;

    tch::manual_seed(config.seed as i64);
    let vs = VarStore::new(device);
    let network = Network::new(&vs.root(), &graph)?;
    let optimizer = sgd(&vs, config)?;
    let counts = count_parameters(&graph);
    tracing::info!(
        genotype = %config.genotype,
        params = counts.main,
        params_with_auxiliary = counts.with_auxiliary,
        macs = count_macs(&graph),
        ?device,
        "network built"
    );

    let mut result = RunResult {
        best_epoch: 0,
        best_test_accuracy: 0.0,
        final_test_accuracy: 0.0,
        epochs_completed: 0,
        epochs_planned: config.epochs,
        test_images: data.test_len(),
        train_images: data.train_len(),
        params: counts.main,
        params_with_auxiliary: counts.with_auxiliary,
        macs: count_macs(&graph),
        total_seconds: 0.0,
    };
    let mut trainer = Trainer {
        config,
        network,
        optimizer,
        device,
        data: &data,
    };
    for (index, &lr) in schedule.iter().enumerate() {
        let epoch = index + 1;
        let settings = EpochSettings {
            epoch,
            lr,
            drop_path_prob: config.drop_path_prob * epoch as f64 / config.epochs as f64,
            best_epoch: (result.best_epoch > 0).then_some(result.best_epoch),
        };
        let metrics = trainer.run_epoch(&settings)?;
        update_result(&mut result, &metrics, start);
        if result.best_epoch == epoch {
            checkpoint::save(&vs, &folder.weights_path())?;
        }
        log_epoch(&metrics, &result);
        folder.push_epoch(metrics)?;
        folder.write_result(&result)?;
    }
    if result.best_epoch == 0 {
        return Err(TrainError::NoFiniteTestLoss {
            epochs: result.epochs_completed,
            lr: config.lr,
        });
    }
    Ok(result)
}

// NOTE: training on CUDA has not been run yet; the tests cover the CPU path
// and the error when no CUDA device is present.
fn select_device(choice: DeviceChoice) -> Result<Device, TrainError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(TrainError::CudaUnavailable),
    }
}

/// Resolves `NAME|FILE`; the name is kept only for built-in genotypes.
fn resolve_genotype(name_or_path: &str) -> Result<(Option<String>, Genotype), TrainError> {
    let genotype = Genotype::resolve(name_or_path)?;
    let name = models::genotype::named(name_or_path).map(|named| named.name.to_string());
    Ok((name, genotype))
}

fn model_file(
    genotype_name: Option<String>,
    genotype: Genotype,
    network: NetworkConfig,
    classes: &[String],
) -> ModelFile {
    ModelFile::new(genotype_name, genotype, network, classes.to_vec())
}

/// Records an epoch; it becomes the best one when its test accuracy is higher
/// than every earlier epoch's. An epoch with a non-finite test loss is never
/// the best, so diverged weights are not saved.
fn update_result(result: &mut RunResult, metrics: &EpochMetrics, start: Instant) {
    let finite = metrics.test_loss.is_finite();
    if !finite {
        tracing::warn!(
            epoch = metrics.epoch,
            test_loss = metrics.test_loss,
            "test loss is not finite; this epoch's weights are not saved"
        );
    }
    let first = result.best_epoch == 0;
    if finite && (first || metrics.test_accuracy > result.best_test_accuracy) {
        result.best_epoch = metrics.epoch;
        result.best_test_accuracy = metrics.test_accuracy;
    }
    result.final_test_accuracy = metrics.test_accuracy;
    result.epochs_completed = metrics.epoch;
    result.total_seconds = start.elapsed().as_secs_f64();
}

fn log_epoch(metrics: &EpochMetrics, result: &RunResult) {
    tracing::info!(
        epoch = metrics.epoch,
        lr = format_args!("{:.6e}", metrics.lr),
        drop_path_prob = format_args!("{:.4}", metrics.drop_path_prob),
        train_loss = format_args!("{:.4}", metrics.train_loss),
        train_accuracy = format_args!("{:.2}", metrics.train_accuracy),
        test_loss = format_args!("{:.4}", metrics.test_loss),
        test_accuracy = format_args!("{:.2}", metrics.test_accuracy),
        best_epoch = result.best_epoch,
        best_test_accuracy = format_args!("{:.2}", result.best_test_accuracy),
        seconds = format_args!("{:.1}", metrics.seconds),
        images_per_second = format_args!("{:.0}", metrics.images_per_second),
        "epoch finished"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_choice_matches_availability() {
        let selected = select_device(DeviceChoice::Cuda);
        if tch::Cuda::is_available() {
            assert_eq!(selected.unwrap(), Device::Cuda(0));
        } else {
            let error = selected.unwrap_err();
            assert!(matches!(error, TrainError::CudaUnavailable), "{error}");
            assert!(error.to_string().contains("--device cpu"), "{error}");
        }
        assert_eq!(select_device(DeviceChoice::Cpu).unwrap(), Device::Cpu);
    }
}

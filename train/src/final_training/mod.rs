//! Final training of a genotype network on CIFAR-10 or ImageNet with the
//! published recipe.
//!
//! The recipe is SGD (momentum 0.9, weight decay 3e-4, no Nesterov) with
//! Cosine Power Annealing per epoch. The loss is cross-entropy plus the
//! weighted auxiliary loss, gradients are clipped by global norm, and drop path
//! ramps up linearly. The test split is evaluated after every epoch and the
//! weights of the best epoch are kept. With `cifar10_1_dir`, CIFAR-10.1 is
//! evaluated after every epoch too, but the test split alone chooses the
//! best epoch. AutoAugment, which the published recipe applies to the
//! training images, is an option (`autoaugment`).
//!
//! Every epoch ends with a checkpoint, from which [`resume()`] continues a
//! stopped run. On the CPU with the same thread count it ends with the same
//! metrics, bit for bit, as an uninterrupted run (tests/final_resume.rs
//! checks this with one thread and `deterministic`).

mod amp;
mod config;
mod epoch;
mod outputs;
mod resume;
mod run_data;
mod step;

use std::path::Path;
use std::time::Instant;

use data::Dataset;
use models::{
    build_network, count_macs, count_parameters, Genotype, Graph, ModelFile, NetworkConfig,
};
use tch::nn::VarStore;
use tch::Device;

pub use amp::{LossScaler, MixedPrecision};
pub use config::{
    DeviceChoice, FinalConfig, DEFAULT_WARMUP_EPOCHS, IMAGENET_WEIGHT_DECAY, MOMENTUM, WEIGHT_DECAY,
};
pub use outputs::{
    EpochMetrics, RunConfig, RunResult, CHECKPOINT_FILE, CHECKPOINT_STATE_FILE, CONFIG_FILE,
    METRICS_FILE, MODEL_FILE, RESULT_FILE, WEIGHTS_FILE,
};
pub use resume::{read_run_config, CheckpointState};
pub use step::{apply_gradients, sgd, training_loss, SgdOptimizer};

use crate::manifest::Manifest;
use crate::schedule::cosine_power_annealing;
use crate::{determinism, Network, TrainError};
use epoch::{EpochSettings, Trainer};
use outputs::RunFolder;
use resume::Checkpoint;
use run_data::RunData;

/// Runs `train final` into a new run folder: trains, evaluates and
/// checkpoints every epoch. Returns the final `result.json` contents.
///
/// Stops with [`TrainError::NonFiniteLoss`] as soon as the training loss is
/// NaN or infinite; `weights.safetensors` then still contains the best earlier
/// epoch, if any epoch finished. Returns [`TrainError::NoFiniteTestLoss`] when
/// every epoch finished with a non-finite test loss, so no weights were saved;
/// `metrics.jsonl` and `result.json` are written in both cases.
pub fn run(config: &FinalConfig) -> Result<RunResult, TrainError> {
    crate::onednn::cap_cpu_isa();
    let start = Instant::now();
    config.validate()?;
    let schedule = schedule(config)?;
    RunFolder::check(&config.out_dir, config.overwrite)?;
    let setup = Setup::new(config)?;
    let folder = RunFolder::prepare(&config.out_dir, config.overwrite)?;
    let run_config = RunConfig::new(config, tch::get_num_threads());
    folder.write_config(&run_config)?;
    folder.write_model(&setup.model)?;
    run_manifest(&run_config, setup.device).write(&config.out_dir)?;
    train(config, &setup, &schedule, folder, None, start)
}

/// Continues the `train final` run in `run_dir` after its last finished
/// epoch, with the settings of its `config.json`, and returns the final
/// `result.json` contents. A run that finished every epoch is left as it is.
///
/// Files that the stopped process may not have finished are redone first:
/// temporary files are deleted, and the files that follow the last
/// checkpoint are rewritten from it.
pub fn resume(run_dir: &Path) -> Result<RunResult, TrainError> {
    crate::onednn::cap_cpu_isa();
    let start = Instant::now();
    let run_config = read_run_config(run_dir)?;
    let config = FinalConfig {
        out_dir: run_dir.to_path_buf(),
        overwrite: false,
        ..run_config.config.clone()
    };
    config.validate()?;
    let schedule = schedule(&config)?;
    resume::remove_temporary_files(run_dir)?;
    let checkpoint = resume::read_checkpoint(run_dir)?;
    let mut folder = RunFolder::open(run_dir)?;
    if let Some(checkpoint) = &checkpoint {
        checkpoint.check(run_dir, &config, &schedule)?;
        checkpoint.repair_files(&mut folder)?;
        let result = &checkpoint.state.result;
        if checkpoint.state.epochs_completed == config.epochs {
            tracing::info!(
                folder = %run_dir.display(),
                epochs = config.epochs,
                "the run already finished every epoch; nothing to resume"
            );
            return finished(config.epochs, config.lr, result.clone());
        }
        tracing::info!(
            epochs_completed = checkpoint.state.epochs_completed,
            epochs = config.epochs,
            "resuming after the last finished epoch"
        );
    } else {
        tracing::info!("no epoch finished before; starting the run from its first epoch");
    }

    let setup = Setup::new(&config)?;
    if !folder.path(MODEL_FILE).exists() {
        folder.write_model(&setup.model)?;
    }
    Manifest::record_resume(run_dir, || run_manifest(&run_config, setup.device))?;
    train(&config, &setup, &schedule, folder, checkpoint, start)
}

fn schedule(config: &FinalConfig) -> Result<Vec<f64>, TrainError> {
    Ok(cosine_power_annealing(
        config.epochs,
        config.lr,
        config.lr_min,
        config.lr_power,
        config.warmup_epochs,
    )?)
}

/// Describes a run that starts now with the settings of `run_config`.
fn run_manifest(run_config: &RunConfig, device: Device) -> Manifest {
    let options = serde_json::to_value(run_config).expect("settings always serialise");
    let deterministic = run_config.config.deterministic && determinism::is_enabled();
    Manifest::new(options, device, run_config.config.seed, deterministic)
}

/// Device, data and network of a run. They are settled before the run folder
/// is touched, so settings that cannot build them leave no files behind.
struct Setup {
    device: Device,
    data: RunData,
    /// CIFAR-10.1, evaluated after every epoch when `--cifar10-1` is given.
    cifar10_1: Option<Dataset>,
    graph: Graph,
    model: ModelFile,
}

impl Setup {
    fn new(config: &FinalConfig) -> Result<Setup, TrainError> {
        if config.deterministic {
            determinism::enable()?;
        }
        let device = select_device(config.device)?;
        if let Some(precision) = config.amp {
            amp::set_autocast_type(precision)?;
        }
        let (genotype_name, genotype) = resolve_genotype(&config.genotype)?;
        let data = RunData::load(config)?;
        let cifar10_1 = run_data::load_cifar10_1(config, data.classes())?;
        let network_config = config.network(data.classes().len());
        let graph = build_network(&genotype, &network_config)?;
        let model = model_file(genotype_name, genotype, network_config, data.classes());
        Ok(Setup {
            device,
            data,
            cifar10_1,
            graph,
            model,
        })
    }
}

/// Builds the network, restores `checkpoint` if given, and trains the
/// epochs after it, committing a checkpoint after each.
fn train(
    config: &FinalConfig,
    setup: &Setup,
    schedule: &[f64],
    mut folder: RunFolder,
    checkpoint: Option<Checkpoint>,
    start: Instant,
) -> Result<RunResult, TrainError> {
    // Initialises the weights; a checkpoint then replaces them.
    tch::manual_seed(config.seed as i64);
    let vs = VarStore::new(setup.device);
    let network = Network::new(&vs.root(), &setup.graph)?;
    let mut optimizer = sgd(&vs, config)?;
    let counts = count_parameters(&setup.graph);
    tracing::info!(
        genotype = %config.genotype,
        params = counts.main,
        params_with_auxiliary = counts.with_auxiliary,
        macs = count_macs(&setup.graph),
        device = ?setup.device,
        "network built"
    );

    let fp16 = config.amp == Some(MixedPrecision::Fp16);
    let mut loss_scaler = fp16.then(LossScaler::new);
    let (mut result, first_epoch) = match checkpoint {
        Some(checkpoint) => {
            checkpoint.restore(&folder.path(CHECKPOINT_FILE), &vs, &mut optimizer)?;
            let state = checkpoint.state;
            if fp16 {
                loss_scaler = Some(state.loss_scaler.unwrap_or_default());
            }
            (state.result, state.epochs_completed + 1)
        }
        None => (
            RunResult {
                best_epoch: 0,
                best_test_accuracy: 0.0,
                final_test_accuracy: 0.0,
                epochs_completed: 0,
                epochs_planned: config.epochs,
                test_images: setup.data.test_len(),
                train_images: setup.data.train_len(),
                params: counts.main,
                params_with_auxiliary: counts.with_auxiliary,
                macs: count_macs(&setup.graph),
                total_seconds: 0.0,
                best_cifar10_1_accuracy: None,
                final_cifar10_1_accuracy: None,
            },
            1,
        ),
    };
    let seconds_before = result.total_seconds;
    let mut trainer = Trainer {
        config,
        network,
        optimizer,
        device: setup.device,
        data: &setup.data,
        cifar10_1: setup.cifar10_1.as_ref(),
        loss_scaler,
    };
    for epoch in first_epoch..=config.epochs {
        let settings = EpochSettings {
            epoch,
            lr: schedule[epoch - 1],
            drop_path_prob: config.drop_path_prob * epoch as f64 / config.epochs as f64,
            best_epoch: (result.best_epoch > 0).then_some(result.best_epoch),
        };
        let metrics = trainer.run_epoch(&settings)?;
        update_result(
            &mut result,
            &metrics,
            seconds_before + start.elapsed().as_secs_f64(),
        );
        log_epoch(&metrics, &result);
        let state = CheckpointState::after_epoch(
            &result,
            metrics,
            schedule.get(epoch).copied(),
            trainer.loss_scaler.clone(),
        );
        resume::commit_epoch(&vs, &trainer.optimizer, &mut folder, &state)?;
    }
    finished(config.epochs, config.lr, result)
}

/// Returns `result`, or [`TrainError::NoFiniteTestLoss`] when no epoch had
/// a finite test loss.
fn finished(epochs: usize, lr: f64, result: RunResult) -> Result<RunResult, TrainError> {
    if result.best_epoch == 0 {
        return Err(TrainError::NoFiniteTestLoss { epochs, lr });
    }
    Ok(result)
}

// NOTE: training on CUDA has not been run yet; the tests cover the CPU path
// and the error when no CUDA device is present.
pub(crate) fn select_device(choice: DeviceChoice) -> Result<Device, TrainError> {
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
fn update_result(result: &mut RunResult, metrics: &EpochMetrics, total_seconds: f64) {
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
        result.best_cifar10_1_accuracy = metrics.cifar10_1_accuracy;
    }
    result.final_test_accuracy = metrics.test_accuracy;
    result.final_cifar10_1_accuracy = metrics.cifar10_1_accuracy;
    result.epochs_completed = metrics.epoch;
    result.total_seconds = total_seconds;
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
        cifar10_1_accuracy = metrics.cifar10_1_accuracy,
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

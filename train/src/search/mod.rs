//! Architecture search with DARTS: a supernetwork of mixed operations whose
//! architecture weights are trained on a held-out split of the training set.
//!
//! Every step takes an architecture step on a validation batch (Adam, first
//! or second order), then a weight step on a training batch (SGD with
//! momentum and gradient clipping), as the published search does. After
//! every epoch the genotype is derived from the architecture weights and the
//! supernetwork is evaluated on the whole validation split.

pub mod arch;
pub mod config;
pub mod memory;
pub mod outputs;
pub mod supernet;

/// The optimisers moved to the crate root, where final training uses them
/// too; this re-export keeps the `train::search::optim` paths working.
pub use crate::optim;

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use data::cifar10::{self, Split};
use data::{Augment, Dataset, EvalBatches, Normalization, TrainBatches};
use models::search::{build_search_network, derive_genotype, parameter_free_share};
use models::{Genotype, Primitive};
use tch::nn::VarStore;
use tch::{Device, Reduction, Tensor};

pub use config::SearchRunConfig;
pub use outputs::{
    AlphaRecord, CheckpointState, SearchEpochMetrics, SearchRecord, SearchResult, ALPHAS_FILE,
    CHECKPOINT_FILE, CHECKPOINT_STATE_FILE, CONFIG_FILE, GENOTYPES_DIR, GENOTYPE_FILE,
    METRICS_FILE, RESULT_FILE,
};

use crate::final_training::select_device;
use crate::manifest::Manifest;
use crate::optim::{Adam, Sgd};
use crate::schedule::cosine_power_annealing;
use crate::{checkpoint, determinism, Network, TrainError};
use arch::ArchWeights;
use memory::{available_memory, gib, peak_resident_memory, MemoryEstimate};
use outputs::SearchFolder;
use supernet::{cross_entropy, weight_step, Architect, Batch, Supernet};

/// Share of parameter-free operations above which a warning names the
/// collapse of DARTS into skip connections.
const COLLAPSE_SHARE: f64 = 0.5;
/// Names of the two architecture weight matrices in checkpoints.
const CELL_NAMES: [&str; 2] = ["normal", "reduce"];
/// Name of the checkpoint tensor that contains the number of finished epochs.
const EPOCH_TENSOR: &str = "epochs_completed";
/// Batches prepared ahead of the step that uses them.
const PREFETCH_BATCHES: usize = 2;

/// Runs `train search` into a new run folder.
pub fn run(config: &SearchRunConfig, threads: usize) -> Result<SearchResult, TrainError> {
    crate::onednn::cap_cpu_isa();
    config.validate()?;
    prepare_folder(&config.out_dir)?;
    // Data, network and memory are checked before the first file is written,
    // so a rejected configuration leaves an empty folder that can be reused.
    let search = Search::start(config, SearchFolder::new(&config.out_dir), None)?;
    let record = SearchRecord {
        train_version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.clone(),
        threads,
    };
    search.folder.write_json(CONFIG_FILE, &record)?;
    search_manifest(&record, search.device).write(&config.out_dir)?;
    search.run()
}

/// Describes a search that starts now with the settings of `record`.
fn search_manifest(record: &SearchRecord, device: Device) -> Manifest {
    let options = serde_json::to_value(record).expect("settings always serialise");
    let deterministic = record.config.deterministic && determinism::is_enabled();
    Manifest::new(options, device, record.config.seed, deterministic)
}

/// Continues the search in `run_dir` after its last completed epoch, with
/// the settings recorded in its `config.json`.
pub fn resume(run_dir: &Path) -> Result<SearchResult, TrainError> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| TrainError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let record: SearchRecord =
        serde_json::from_str(&text).map_err(|e| TrainError::InvalidRunFolder {
            path: run_dir.display().to_string(),
            message: format!("{} is not a search config: {e}", path.display()),
        })?;
    let mut config = record.config.clone();
    config.out_dir = run_dir.to_path_buf();
    config.validate()?;
    if config.deterministic {
        determinism::enable()?;
    }
    Manifest::record_resume(run_dir, || {
        search_manifest(&record, select_device(config.device).unwrap_or(Device::Cpu))
    })?;
    let state_path = run_dir.join(CHECKPOINT_STATE_FILE);
    let state: CheckpointState = match std::fs::read_to_string(&state_path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| TrainError::InvalidRunFolder {
            path: run_dir.display().to_string(),
            message: format!("{} is damaged: {e}", state_path.display()),
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!("no epoch finished before; starting the search from the beginning");
            // Lines of an epoch that stopped before its checkpoint are written again.
            let folder = SearchFolder::new(run_dir);
            for file in [METRICS_FILE, ALPHAS_FILE] {
                folder.truncate_lines(file, 0)?;
            }
            return Search::start(&config, folder, None)?.run();
        }
        Err(source) => {
            return Err(TrainError::Read {
                path: state_path.display().to_string(),
                source,
            })
        }
    };
    let folder = SearchFolder::new(run_dir);
    Search::start(&config, folder, Some(state))?.run()
}

/// Creates the run folder, which must be missing or empty.
fn prepare_folder(dir: &Path) -> Result<(), TrainError> {
    let not_empty = dir.is_dir()
        && std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(true);
    if not_empty || (dir.exists() && !dir.is_dir()) {
        return Err(TrainError::InvalidRunFolder {
            path: dir.display().to_string(),
            message: "it already exists and is not an empty folder; choose a new --out, \
                      or continue it with --resume"
                .to_string(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| TrainError::Write {
        path: dir.display().to_string(),
        source,
    })
}

/// A search in progress.
struct Search<'a> {
    config: &'a SearchRunConfig,
    folder: SearchFolder,
    net: Supernet,
    sgd: Sgd,
    architect: Architect,
    weight_split: Arc<Dataset>,
    arch_split: Arc<Dataset>,
    schedule: Vec<f64>,
    device: Device,
    first_epoch: usize,
    result: SearchResult,
}

impl<'a> Search<'a> {
    fn start(
        config: &'a SearchRunConfig,
        folder: SearchFolder,
        state: Option<CheckpointState>,
    ) -> Result<Search<'a>, TrainError> {
        let device = select_device(config.device)?;
        if config.deterministic {
            determinism::enable()?;
        }
        let schedule = cosine_power_annealing(
            config.epochs,
            config.lr,
            config.lr_min,
            config.lr_power,
            config.warmup_epochs,
        )?;
        let train_set = cifar10::load(&config.data_dir, Split::Train)?;
        let train_set = match config.limit_train {
            Some(n) => data::subset::balanced(&train_set, n, config.seed),
            None => train_set,
        };
        let (weight_split, arch_split) = split(&train_set, config.train_portion, config.seed);
        let network_config = config.network(train_set.num_classes());
        let graph = build_search_network(&network_config)?;
        check_memory(&graph, config, device)?;

        tch::manual_seed(config.seed as i64);
        let vs = VarStore::new(device);
        let network = Network::new(&vs.root(), &graph)?;
        let candidates = network_config.candidates()?.len();
        let arch = ArchWeights::new(network_config.rows(), candidates, device);
        let net = Supernet::new(vs, network, arch, config.weighting);
        let sgd = Sgd::new(net.weights.len(), config.momentum, config.weight_decay);
        let adam = Adam::new(
            &net.arch.tensors(),
            config.arch_lr,
            (0.5, 0.999),
            config.arch_weight_decay,
        );
        let params = models::count_parameters(&graph).main;
        tracing::info!(
            primitives = %config.primitives,
            weighting = config.weighting.name(),
            order = config.order,
            params,
            weight_images = weight_split.len(),
            arch_images = arch_split.len(),
            ?device,
            "supernetwork built"
        );
        let mut search = Search {
            config,
            folder,
            net,
            sgd,
            architect: Architect {
                adam,
                second_order: config.order == 2,
            },
            result: SearchResult {
                best_epoch: 0,
                best_valid_accuracy: 0.0,
                epochs_completed: 0,
                epochs_planned: config.epochs,
                weight_images: weight_split.len(),
                arch_images: arch_split.len(),
                params,
                total_seconds: 0.0,
            },
            weight_split: Arc::new(weight_split),
            arch_split: Arc::new(arch_split),
            schedule,
            device,
            first_epoch: 1,
        };
        if let Some(state) = state {
            search.load_checkpoint(state)?;
        }
        Ok(search)
    }

    fn run(mut self) -> Result<SearchResult, TrainError> {
        for epoch in self.first_epoch..=self.config.epochs {
            let metrics = self.run_epoch(epoch)?;
            self.record_epoch(metrics)?;
        }
        Ok(self.result)
    }

    /// Trains one epoch, evaluates the validation split, logs the
    /// architecture weights and returns the epoch's metrics.
    fn run_epoch(&mut self, epoch: usize) -> Result<SearchEpochMetrics, TrainError> {
        let start = Instant::now();
        let lr = self.schedule[epoch - 1];
        let totals = self.train_epoch(epoch, lr)?;
        let train_seconds = start.elapsed().as_secs_f64();

        let (valid_loss, valid_accuracy) = self.evaluate()?;
        let (normal, reduce) = self.net.arch.softmax_rows()?;
        let genotype = self.derive(&normal, &reduce)?;
        let record = AlphaRecord {
            epoch,
            primitives: self.primitive_names(),
            normal,
            reduce,
        };
        self.folder.append_line(ALPHAS_FILE, &record)?;

        let images = totals.images.max(1) as f64;
        Ok(SearchEpochMetrics {
            epoch,
            lr,
            train_loss: totals.loss / images,
            train_accuracy: 100.0 * totals.correct as f64 / images,
            arch_loss: totals.arch_loss / totals.steps.max(1) as f64,
            valid_loss,
            valid_accuracy,
            parameter_free: parameter_free_share(&genotype),
            genotype,
            seconds: start.elapsed().as_secs_f64(),
            steps_per_second: totals.steps as f64 / train_seconds.max(1e-9),
            peak_memory_bytes: peak_resident_memory(),
        })
    }

    /// Runs the search steps of one epoch while a second thread prepares the
    /// next pairs of weight and architecture batches.
    fn train_epoch(&mut self, epoch: usize, lr: f64) -> Result<Totals, TrainError> {
        let config = self.config;
        let weight_split = Arc::clone(&self.weight_split);
        let arch_split = Arc::clone(&self.arch_split);
        let weight_batches = TrainBatches::new(
            &weight_split,
            config.batch_size,
            config.seed,
            epoch as u64,
            Augment {
                autoaugment: config.autoaugment.then_some(data::AutoAugment::CIFAR10),
                ..Augment::cifar(config.cutout)
            },
            Normalization::CIFAR10,
        )?;
        // NOTE: the published search augments the architecture batches like
        // the training batches and draws each with replacement. Here they are
        // unaugmented and visit the split once per epoch in a seeded order.
        let arch_batches = cycled_batches(&arch_split, config.batch_size, config.seed, epoch);

        let mut totals = Totals::default();
        std::thread::scope(|scope| -> Result<(), TrainError> {
            let (sender, receiver) = mpsc::sync_channel(PREFETCH_BATCHES);
            scope.spawn(move || {
                for pair in weight_batches.zip(arch_batches) {
                    if sender.send(pair).is_err() {
                        break;
                    }
                }
            });
            for (step, (train, valid)) in receiver.into_iter().enumerate() {
                // BatchNorm needs two samples, so a one-image last batch is left out.
                if train.len < 2 || valid.len < 2 {
                    continue;
                }
                self.search_step(epoch, step + 1, lr, &train, &valid, &mut totals)?;
            }
            Ok(())
        })?;
        Ok(totals)
    }

    /// Takes an architecture step, then a weight step, and adds them to
    /// `totals`; stops the search when a loss is not finite.
    fn search_step(
        &mut self,
        epoch: usize,
        step: usize,
        lr: f64,
        train: &data::Batch,
        valid: &data::Batch,
        totals: &mut Totals,
    ) -> Result<(), TrainError> {
        let train = self.to_device(train)?;
        let valid = self.to_device(valid)?;
        let arch = self
            .architect
            .step(&self.net, &train, &valid, lr, &self.sgd)?;
        let (loss, correct) =
            weight_step(&self.net, &mut self.sgd, &train, lr, self.config.grad_clip)?;

        let non_finite = [loss, arch.valid_loss].into_iter().find(|l| !l.is_finite());
        if let Some(loss) = non_finite {
            return Err(TrainError::NonFiniteLoss {
                epoch,
                step,
                loss,
                weights_status: "checkpoint.safetensors keeps the last finished epoch".to_string(),
            });
        }

        let images = train.labels.size()[0] as usize;
        totals.loss += loss * images as f64;
        totals.arch_loss += arch.valid_loss;
        totals.correct += correct;
        totals.images += images;
        totals.steps += 1;
        tracing::debug!(epoch, step, loss, "search step");
        Ok(())
    }

    /// Derives the genotype with `none` excluded, as the published search does.
    fn derive(&self, normal: &[Vec<f32>], reduce: &[Vec<f32>]) -> Result<Genotype, TrainError> {
        Ok(derive_genotype(
            normal,
            reduce,
            self.config.primitives,
            self.config.steps,
            models::search::SearchConfig::default().multiplier,
            Some(Primitive::None),
        )?)
    }

    fn primitive_names(&self) -> Vec<String> {
        self.config
            .primitives
            .op_names()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Returns the cross-entropy and accuracy of the supernetwork on the
    /// validation split.
    fn evaluate(&self) -> Result<(f64, f64), TrainError> {
        let _guard = tch::no_grad_guard();
        let (mut loss, mut correct, mut images) = (0.0, 0i64, 0usize);
        let batches = EvalBatches::new(
            &self.arch_split,
            self.config.batch_size,
            Normalization::CIFAR10,
        )?;
        for batch in batches {
            let batch = self.to_device(&batch)?;
            let logits = self.net.logits(&batch.images, false, false)?;
            loss += cross_entropy(&logits, &batch.labels, Reduction::Sum)?.f_double_value(&[])?;
            correct += logits
                .f_argmax(-1, false)?
                .f_eq_tensor(&batch.labels)?
                .f_sum(tch::Kind::Int64)?
                .f_int64_value(&[])?;
            images += batch.labels.size()[0] as usize;
        }
        let images = images.max(1) as f64;
        Ok((loss / images, 100.0 * correct as f64 / images))
    }

    fn to_device(&self, batch: &data::Batch) -> Result<Batch, TrainError> {
        let shape = batch.shape().map(|d| d as i64);
        Ok(Batch {
            images: Tensor::f_from_slice(&batch.images)?
                .f_view(shape)?
                .f_to_device(self.device)?,
            labels: Tensor::f_from_slice(&batch.labels)?.f_to_device(self.device)?,
        })
    }

    /// Writes the epoch's files, then the checkpoint that makes it final.
    fn record_epoch(&mut self, metrics: SearchEpochMetrics) -> Result<(), TrainError> {
        let epoch = metrics.epoch;
        self.folder.write_epoch_genotype(epoch, &metrics.genotype)?;
        let share = metrics.parameter_free.overall;
        if share > COLLAPSE_SHARE {
            tracing::warn!(
                epoch,
                parameter_free_share = format_args!("{share:.2}"),
                "more than half of the derived operations are parameter-free (skip, pool, \
                 none): the known collapse of DARTS; consider fewer epochs or another weighting"
            );
        }
        if self.result.best_epoch == 0 || metrics.valid_accuracy > self.result.best_valid_accuracy {
            self.result.best_epoch = epoch;
            self.result.best_valid_accuracy = metrics.valid_accuracy;
            self.folder.write_best(&metrics.genotype)?;
        }
        self.result.epochs_completed = epoch;
        self.result.total_seconds += metrics.seconds;
        tracing::info!(
            epoch,
            lr = format_args!("{:.3e}", metrics.lr),
            train_loss = format_args!("{:.4}", metrics.train_loss),
            train_accuracy = format_args!("{:.2}", metrics.train_accuracy),
            valid_accuracy = format_args!("{:.2}", metrics.valid_accuracy),
            parameter_free = format_args!("{share:.2}"),
            seconds = format_args!("{:.1}", metrics.seconds),
            steps_per_second = format_args!("{:.2}", metrics.steps_per_second),
            peak_memory = metrics.peak_memory_bytes.map(gib).unwrap_or_default(),
            "epoch finished"
        );
        self.folder.append_line(METRICS_FILE, &metrics)?;
        self.folder.write_json(RESULT_FILE, &self.result)?;
        self.save_checkpoint()
    }

    /// Saves every tensor a resumed search needs, then `checkpoint.json`.
    /// The state file is written last, so it always names a complete
    /// checkpoint.
    fn save_checkpoint(&self) -> Result<(), TrainError> {
        let tensors = self.checkpoint_tensors();
        checkpoint::write_tensors(&tensors, &self.folder.path(CHECKPOINT_FILE))?;

        let state = CheckpointState {
            epochs_completed: self.result.epochs_completed,
            adam_steps: self.architect.adam.steps,
            result: self.result.clone(),
        };
        self.folder.write_json(CHECKPOINT_STATE_FILE, &state)
    }

    /// Returns the network variables, architecture weights, Adam moments and
    /// SGD momentum buffers on the CPU, named `net/`, `arch/`, `adam_m/`,
    /// `adam_v/` and `sgd/`, and the number of finished epochs.
    fn checkpoint_tensors(&self) -> Vec<(String, Tensor)> {
        let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu);
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (name, variable) in &self.net.variables {
            tensors.push((format!("net/{name}"), cpu(variable)));
        }
        let arch = self.net.arch.tensors();
        let moments = self.architect.adam.moments();
        for (i, cell) in CELL_NAMES.iter().enumerate() {
            tensors.push((format!("arch/{cell}"), cpu(&arch[i])));
            tensors.push((format!("adam_m/{cell}"), cpu(&moments[i].0)));
            tensors.push((format!("adam_v/{cell}"), cpu(&moments[i].1)));
        }
        for ((name, _), buffer) in self.net.weights.iter().zip(self.sgd.buffers()) {
            if let Some(buffer) = buffer {
                tensors.push((format!("sgd/{name}"), cpu(buffer)));
            }
        }
        let epochs = self.result.epochs_completed as i64;
        tensors.push((EPOCH_TENSOR.to_string(), Tensor::from_slice(&[epochs])));
        tensors
    }

    /// Restores the checkpoint of a search that finished
    /// `state.epochs_completed` epochs, and drops later lines of the epoch logs.
    fn load_checkpoint(&mut self, state: CheckpointState) -> Result<(), TrainError> {
        let path = self.folder.path(CHECKPOINT_FILE);
        let tensors = checkpoint::read_tensors(&path)?;
        // Checkpoints written before the epoch tensor existed have none.
        if let Some(stored) = tensors.get(EPOCH_TENSOR) {
            let epochs = stored.f_int64_value(&[0])?;
            if epochs != state.epochs_completed as i64 {
                return Err(TrainError::InvalidRunFolder {
                    path: path.display().to_string(),
                    message: format!(
                        "it holds epoch {epochs} but {CHECKPOINT_STATE_FILE} names epoch {}: \
                         the search stopped between writing the two, so it cannot continue; \
                         start a new search",
                        state.epochs_completed
                    ),
                });
            }
        }
        let get = |name: &str| -> Result<Tensor, TrainError> {
            let tensor = tensors
                .get(name)
                .ok_or_else(|| TrainError::CheckpointMismatch {
                    path: path.display().to_string(),
                    message: format!("tensor {name} is missing"),
                })?;
            Ok(tensor.to_device(self.device))
        };

        checkpoint::copy_into(&self.net.variables, &tensors, "net/", &path)?;
        let arch: Vec<(String, Tensor)> = CELL_NAMES
            .iter()
            .map(|cell| cell.to_string())
            .zip(self.net.arch.tensors())
            .collect();
        checkpoint::copy_into(&arch, &tensors, "arch/", &path)?;

        let mut moments = Vec::new();
        for cell in CELL_NAMES {
            moments.push((
                get(&format!("adam_m/{cell}"))?,
                get(&format!("adam_v/{cell}"))?,
            ));
        }
        self.architect.adam.set_state(moments, state.adam_steps);
        let buffers = self
            .net
            .weights
            .iter()
            .map(|(name, _)| get(&format!("sgd/{name}")).ok())
            .collect();
        self.sgd.set_buffers(buffers);

        let done = state.epochs_completed;
        for file in [METRICS_FILE, ALPHAS_FILE] {
            self.folder.truncate_lines(file, done)?;
        }
        self.first_epoch = done + 1;
        self.result = SearchResult {
            epochs_planned: self.config.epochs,
            ..state.result
        };
        tracing::info!(epochs_completed = done, "resuming the search");
        Ok(())
    }
}

/// Sums over the steps of an epoch.
#[derive(Default)]
struct Totals {
    loss: f64,
    arch_loss: f64,
    correct: i64,
    images: usize,
    steps: usize,
}

/// Splits the training images into the weight-training share and the
/// architecture share, class-balanced and seeded.
///
/// NOTE: the published search splits at an index without shuffling, which
/// on a class-sorted image folder would give each half different classes.
pub fn split(dataset: &Dataset, portion: f64, seed: u64) -> (Dataset, Dataset) {
    let n = ((dataset.len() as f64) * portion).floor() as usize;
    let chosen = data::subset::balanced_indices(&dataset.labels, dataset.num_classes(), n, seed);
    let mut in_weights = vec![false; dataset.len()];
    for &i in &chosen {
        in_weights[i] = true;
    }
    let rest: Vec<usize> = (0..dataset.len()).filter(|&i| !in_weights[i]).collect();
    (dataset.select(&chosen), dataset.select(&rest))
}

/// Returns unaugmented architecture batches in a seeded order per epoch.
/// When the split runs out before the weight batches do, another order follows.
fn cycled_batches(
    dataset: &Dataset,
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> impl Iterator<Item = data::Batch> + Send + '_ {
    (0u64..).flat_map(move |round| {
        let pass_seed = seed ^ 0xA5A5_A5A5 ^ round.wrapping_mul(0x1000_0001);
        TrainBatches::new(
            dataset,
            batch_size,
            pass_seed,
            epoch as u64,
            Augment::NONE,
            Normalization::CIFAR10,
        )
        .expect("the batch size was checked")
    })
}

/// Estimates the memory of a search step and rejects a batch that would not
/// fit, naming the largest batch that would.
fn check_memory(
    graph: &models::Graph,
    config: &SearchRunConfig,
    device: Device,
) -> Result<(), TrainError> {
    let estimate = MemoryEstimate::for_graph(graph, config.order == 2);
    let needed = estimate.total(config.batch_size);
    tracing::info!(
        batch_size = config.batch_size,
        estimate = gib(needed),
        per_image = gib(estimate.per_image_bytes),
        "estimated memory of a search step"
    );
    // NOTE: on CUDA the device memory is not queried; the estimate is only logged.
    if device != Device::Cpu {
        return Ok(());
    }
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if needed <= available {
        return Ok(());
    }
    Err(TrainError::InvalidOption {
        option: "batch-size",
        value: config.batch_size.to_string(),
        fix: format!(
            "a search step needs about {} but {} is available; the largest batch that fits \
             is about {}",
            gib(needed),
            gib(available),
            estimate.largest_batch(available)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_batch_names_largest_batch() {
        let config = SearchRunConfig {
            batch_size: 10_000_000,
            ..SearchRunConfig::new("data".into(), "run".into())
        };
        let graph = build_search_network(&config.network(10)).unwrap();
        let message = check_memory(&graph, &config, Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(message.contains("--batch-size 10000000"), "{message}");
        assert!(
            message.contains("the largest batch that fits is about"),
            "{message}"
        );
        let fits = SearchRunConfig {
            batch_size: 2,
            ..config
        };
        check_memory(&graph, &fits, Device::Cpu).unwrap();
    }

    #[test]
    fn split_is_class_balanced() {
        let dataset = Dataset {
            images: vec![0; 40 * 3],
            labels: (0..40).map(|i| (i % 4) as u16).collect(),
            classes: (0..4).map(|c| c.to_string()).collect(),
            height: 1,
            width: 1,
        };
        let (weights, arch) = split(&dataset, 0.5, 3);
        assert_eq!((weights.len(), arch.len()), (20, 20));
        assert_eq!(weights.class_counts(), [5, 5, 5, 5]);
        assert_eq!(arch.class_counts(), [5, 5, 5, 5]);
    }
}

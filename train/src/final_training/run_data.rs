//! The training and test images of a run: CIFAR-10 decoded into memory, or
//! an ImageNet folder decoded batch by batch.

use data::cifar10::{self, Split};
use data::cifar10_1::{self, Cifar10_1};
use data::imagenet::{self, EvalTransform, TrainTransform};
use data::{
    Augment, AutoAugment, Batch, Dataset, EvalBatches, FileBatches, ImageFiles, ImageTransform,
    Normalization, TrainBatches,
};
use models::DatasetKind;

use super::config::FinalConfig;
use crate::TrainError;

/// A stream of batches that a second thread can prepare.
pub(super) type Batches<'a> = Box<dyn Iterator<Item = Batch> + Send + 'a>;

/// Images of both splits.
pub(super) enum RunData {
    Cifar10 {
        train: Dataset,
        test: Dataset,
    },
    /// `train/` and `val/` of an ImageNet folder, with the crop size of the
    /// network input and the evaluation resize.
    ImageNet {
        train: ImageFiles,
        test: ImageFiles,
        image_size: u32,
        resize_shorter: u32,
    },
}

impl RunData {
    /// Loads or lists both splits of `config.data_dir` and takes the
    /// requested subsets.
    pub fn load(config: &FinalConfig) -> Result<RunData, TrainError> {
        let data = match config.dataset {
            DatasetKind::Cifar10 => load_cifar10(config)?,
            DatasetKind::ImageNet => list_imagenet(config)?,
        };
        if data.train_classes() != data.test_classes() {
            return Err(TrainError::DatasetMismatch {
                what: format!("data folder {}", config.data_dir.display()),
                message: format!(
                    "the training split has classes {:?} but the test split has {:?}; \
                     both splits need the same class folders",
                    data.train_classes(),
                    data.test_classes()
                ),
            });
        }
        tracing::info!(
            train_images = data.train_len(),
            test_images = data.test_len(),
            classes = data.classes().len(),
            "datasets ready"
        );
        Ok(data)
    }

    /// Class names in label order.
    pub fn classes(&self) -> &[String] {
        self.train_classes()
    }

    fn train_classes(&self) -> &[String] {
        match self {
            RunData::Cifar10 { train, .. } => &train.classes,
            RunData::ImageNet { train, .. } => &train.classes,
        }
    }

    fn test_classes(&self) -> &[String] {
        match self {
            RunData::Cifar10 { test, .. } => &test.classes,
            RunData::ImageNet { test, .. } => &test.classes,
        }
    }

    pub fn train_len(&self) -> usize {
        match self {
            RunData::Cifar10 { train, .. } => train.len(),
            RunData::ImageNet { train, .. } => train.len(),
        }
    }

    pub fn test_len(&self) -> usize {
        match self {
            RunData::Cifar10 { test, .. } => test.len(),
            RunData::ImageNet { test, .. } => test.len(),
        }
    }

    /// Shuffled, augmented training batches of `epoch`, with AutoAugment
    /// when `config.autoaugment` is set.
    pub fn train_batches(
        &self,
        config: &FinalConfig,
        epoch: usize,
    ) -> Result<Batches<'_>, TrainError> {
        let (seed, epoch) = (config.seed, epoch as u64);
        Ok(match self {
            RunData::Cifar10 { train, .. } => Box::new(TrainBatches::new(
                train,
                config.batch_size,
                seed,
                epoch,
                Augment {
                    autoaugment: config.autoaugment.then_some(AutoAugment::CIFAR10),
                    ..Augment::cifar(config.cutout)
                },
                Normalization::CIFAR10,
            )?),
            RunData::ImageNet {
                train, image_size, ..
            } => Box::new(FileBatches::train(
                train,
                config.batch_size,
                seed,
                epoch,
                TrainTransform {
                    autoaugment: config.autoaugment.then_some(AutoAugment::IMAGENET),
                    ..TrainTransform::new(*image_size)?
                },
                Normalization::IMAGENET,
            )?),
        })
    }

    /// Test batches in order, without augmentation.
    pub fn test_batches(&self, batch_size: usize) -> Result<Batches<'_>, TrainError> {
        Ok(match self {
            RunData::Cifar10 { test, .. } => {
                Box::new(EvalBatches::new(test, batch_size, Normalization::CIFAR10)?)
            }
            RunData::ImageNet {
                test,
                image_size,
                resize_shorter,
                ..
            } => {
                let transform = EvalTransform::new(*resize_shorter, *image_size, *image_size)?;
                Box::new(FileBatches::eval(
                    test,
                    batch_size,
                    ImageTransform::Eval(transform),
                    Normalization::IMAGENET,
                )?)
            }
        })
    }
}

fn load_cifar10(config: &FinalConfig) -> Result<RunData, TrainError> {
    let mut train = cifar10::load(&config.data_dir, Split::Train)?;
    let mut test = cifar10::load(&config.data_dir, Split::Test)?;
    if let Some(n) = config.limit_train {
        log_whole_split(n, train.len(), "limit-train", "train");
        train = data::subset::balanced(&train, n, config.seed);
    }
    if let Some(n) = config.limit_test {
        log_whole_split(n, test.len(), "limit-test", "test");
        test = data::subset::balanced(&test, n, config.seed);
    }
    Ok(RunData::Cifar10 { train, test })
}

/// Loads the CIFAR-10.1 set of `config.cifar10_1_dir`, when given, and
/// checks that its labels mean the classes of the run, in the same order.
pub(super) fn load_cifar10_1(
    config: &FinalConfig,
    classes: &[String],
) -> Result<Option<Dataset>, TrainError> {
    let Some(dir) = &config.cifar10_1_dir else {
        return Ok(None);
    };
    let set = Cifar10_1::open(dir)?.load()?;
    if set.is_empty() {
        return Err(TrainError::InvalidOption {
            option: "cifar10-1",
            value: dir.display().to_string(),
            fix: format!(
                "its files contain no image; pass a folder with the {} images",
                cifar10_1::NAME
            ),
        });
    }
    if set.classes != classes {
        return Err(TrainError::DatasetMismatch {
            what: format!("--cifar10-1 {}", dir.display()),
            message: format!(
                "{} labels mean the CIFAR-10 classes {:?}, but the training data has the \
                 classes {:?}; use a CIFAR-10 data folder with these ten classes",
                cifar10_1::NAME,
                set.classes,
                classes
            ),
        });
    }
    Ok(Some(set))
}

fn list_imagenet(config: &FinalConfig) -> Result<RunData, TrainError> {
    let folder = imagenet::ImageNet::open(&config.data_dir)?;
    let subset = |files: ImageFiles, limit: Option<usize>, option: &str, split: &str| match limit {
        Some(n) => {
            log_whole_split(n, files.len(), option, split);
            let labels = files.labels();
            let indices =
                data::subset::balanced_indices(&labels, files.num_classes(), n, config.seed);
            files.select(&indices)
        }
        None => files,
    };
    let network = config.network(folder.classes().len());
    let resize_shorter = network.resize_shorter().unwrap_or(network.image_size);
    Ok(RunData::ImageNet {
        train: subset(folder.train, config.limit_train, "limit-train", "train"),
        test: subset(folder.val, config.limit_test, "limit-test", "val"),
        image_size: network.image_size as u32,
        resize_shorter: resize_shorter as u32,
    })
}

/// Logs that a limit above the split size keeps the whole split.
fn log_whole_split(n: usize, len: usize, option: &str, split: &str) {
    if n > len {
        tracing::info!(
            "--{option} {n} is larger than the {split} split; using the whole split ({len} images)"
        );
    }
}

//! Settings of an architecture search, with the published defaults.

use std::path::PathBuf;

use models::search::Weighting;
use models::{OpTable, PrimitiveSet};
use serde::{Deserialize, Serialize};

use crate::final_training::DeviceChoice;
use crate::{invalid_option as invalid, TrainError};

/// Settings of `train search`. [`SearchRunConfig::new`] fills in the
/// published defaults: 50 epochs, batch 64, C = 16, 8 cells, 4 nodes per
/// cell, SGD lr 0.025 to 1e-4 with Cosine Power Annealing p = 2 and a 5-epoch
/// warm-up, architecture Adam lr 3e-4, half the training set for the
/// architecture weights, first order.
///
/// `config.json` stores it without the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRunConfig {
    /// CIFAR-10 folder (ImageFolder or official binary layout).
    pub data_dir: PathBuf,
    #[serde(skip)]
    pub out_dir: PathBuf,
    pub primitives: PrimitiveSet,
    pub ops: OpTable,
    pub weighting: Weighting,
    /// 1: first-order architecture gradient; 2: unrolled second order.
    pub order: u8,
    pub epochs: usize,
    pub batch_size: usize,
    pub init_channels: usize,
    pub layers: usize,
    /// Intermediate nodes per cell.
    pub steps: usize,
    pub lr: f64,
    pub lr_min: f64,
    pub lr_power: f64,
    pub warmup_epochs: usize,
    pub momentum: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub arch_lr: f64,
    pub arch_weight_decay: f64,
    /// Share of the training images that train the network weights; the rest
    /// train the architecture weights and measure validation accuracy.
    pub train_portion: f64,
    pub seed: u64,
    pub device: DeviceChoice,
    /// Search on a seeded class-balanced subset of this many training images.
    pub limit_train: Option<usize>,
    /// Side of the Cutout square applied to weight-training images.
    pub cutout: Option<usize>,
    /// Apply the CIFAR-10 AutoAugment policy to weight-training images.
    #[serde(default)]
    pub autoaugment: bool,
    /// Use libtorch's deterministic algorithms.
    #[serde(default)]
    pub deterministic: bool,
}

impl SearchRunConfig {
    pub fn new(data_dir: PathBuf, out_dir: PathBuf) -> SearchRunConfig {
        SearchRunConfig {
            data_dir,
            out_dir,
            primitives: PrimitiveSet::Sharp,
            ops: OpTable::Sharp,
            weighting: Weighting::Scalar,
            order: 1,
            epochs: 50,
            batch_size: 64,
            init_channels: 16,
            layers: 8,
            steps: 4,
            lr: 0.025,
            lr_min: 1e-4,
            lr_power: 2.0,
            warmup_epochs: 5,
            momentum: 0.9,
            weight_decay: 3e-4,
            grad_clip: 5.0,
            arch_lr: 3e-4,
            arch_weight_decay: 1e-3,
            train_portion: 0.5,
            seed: 2,
            device: DeviceChoice::Cpu,
            limit_train: None,
            cutout: None,
            autoaugment: false,
            deterministic: false,
        }
    }

    /// Checks every option that does not need the data.
    pub fn validate(&self) -> Result<(), TrainError> {
        if !(1..=2).contains(&self.order) {
            return invalid(
                "order",
                self.order,
                "use 1 (first order) or 2 (unrolled second order)",
            );
        }
        if self.epochs == 0 {
            return invalid("epochs", 0, "search for at least 1 epoch");
        }
        if self.batch_size < 2 {
            return invalid(
                "batch-size",
                self.batch_size,
                "use at least 2: BatchNorm needs two samples per batch in training",
            );
        }
        if self.warmup_epochs >= self.epochs {
            return invalid(
                "warmup-epochs",
                self.warmup_epochs,
                &format!(
                    "use fewer warm-up epochs than --epochs {}, e.g. --warmup-epochs 0",
                    self.epochs
                ),
            );
        }
        if !(self.train_portion > 0.0 && self.train_portion < 1.0) {
            return invalid(
                "train-portion",
                self.train_portion,
                "use a share strictly between 0 and 1 (the published value is 0.5)",
            );
        }
        self.validate_rates()?;
        if let Some(limit) = self.limit_train.filter(|&n| n < 4) {
            return invalid(
                "limit-train",
                limit,
                "use at least 4 images: each split needs two for a BatchNorm batch",
            );
        }
        if self.cutout == Some(0) {
            return invalid("cutout", 0, "use a side of at least 1 pixel");
        }
        self.network(10).validate()?;
        Ok(())
    }

    /// Checks the learning rates, weight decays and the gradient clipping norm.
    fn validate_rates(&self) -> Result<(), TrainError> {
        positive_finite("lr", self.lr)?;
        positive_finite("arch-lr", self.arch_lr)?;
        positive_finite("grad-clip", self.grad_clip)?;
        for (option, value) in [
            ("lr-min", self.lr_min),
            ("weight-decay", self.weight_decay),
            ("arch-weight-decay", self.arch_weight_decay),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return invalid(option, value, "use a finite value of 0 or more");
            }
        }
        if self.lr_min > self.lr {
            return invalid(
                "lr-min",
                self.lr_min,
                &format!("use a value no larger than --lr {}", self.lr),
            );
        }
        if !(1.0..f64::INFINITY).contains(&self.lr_power) {
            return invalid(
                "lr-power",
                self.lr_power,
                "use 1 (cosine annealing) or more",
            );
        }
        Ok(())
    }

    /// Returns the supernetwork these settings search.
    pub fn network(&self, num_classes: usize) -> models::search::SearchConfig {
        models::search::SearchConfig {
            primitives: self.primitives,
            ops: self.ops,
            weighting: self.weighting,
            init_channels: self.init_channels,
            layers: self.layers,
            steps: self.steps,
            num_classes,
            ..models::search::SearchConfig::default()
        }
    }
}

fn positive_finite(option: &'static str, value: f64) -> Result<(), TrainError> {
    if !(value.is_finite() && value > 0.0) {
        return invalid(option, value, "use a finite value above 0");
    }
    Ok(())
}

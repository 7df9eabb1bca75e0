//! Dataset readers and image preprocessing shared by training (libtorch) and
//! serving (ONNX Runtime).
//!
//! Images are kept as 8-bit RGB in HWC order ([`Dataset`]): CIFAR-10 from
//! [`cifar10`] and the CIFAR-10.1 test set from [`cifar10_1`]. The model input
//! comes from [`transform`] (normalisation to CHW `f32`), [`augment`] (the
//! CIFAR training recipe of pad-and-crop, flip and Cutout), [`autoaugment`]
//! (the AutoAugment policies, an option of both training transforms) and
//! [`batch`] (shuffled training batches and ordered evaluation batches,
//! NCHW).
//!
//! ImageNet-sized data stays on disk: [`imagenet`] lists the files of an
//! ImageFolder root (`train/`, `val/`) and provides torchvision's ImageNet
//! transforms, and [`FileBatches`] decodes and transforms each batch on
//! worker threads. This crate links neither libtorch nor ONNX Runtime.

pub mod augment;
pub mod autoaugment;
pub mod batch;
pub mod cifar10;
pub mod cifar10_1;
mod dataset;
mod error;
pub mod file_batch;
pub mod image;
pub mod image_folder;
pub mod imagenet;
pub mod subset;
pub mod transform;

pub use augment::Augment;
pub use autoaugment::{AutoAugment, Policy};
pub use batch::{prefetch, Batch, EvalBatches, TrainBatches};
pub use dataset::{Dataset, LoadReport};
pub use error::{with_sources, DataError};
pub use file_batch::{FileBatches, ImageTransform, SkippedImages};
pub use image_folder::ImageFiles;
pub use transform::{normalize_chw, Normalization};

/// Result type of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

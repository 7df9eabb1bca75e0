//! Batches decoded from image files, for data sets too large to hold in
//! memory such as ImageNet.
//!
//! [`FileBatches`] yields the same [`Batch`] type as [`crate::TrainBatches`]
//! and [`crate::EvalBatches`], so a training or evaluation loop consumes
//! either, and [`crate::prefetch`] overlaps it with the caller's work. Each
//! batch is decoded, transformed and normalised in parallel on the rayon
//! global thread pool (`RAYON_NUM_THREADS` sets its size).
//!
//! A file that cannot be read or decoded is left out of its batch, logged
//! and recorded in [`SkippedImages`], so a bad file does not stop the run.
//! Batches can therefore be smaller than the batch size.
//!
//! NOTE: zune-jpeg (the `image` crate's JPEG decoder) decodes a file cut off
//! inside its compressed scan data without an error, so such a truncated
//! JPEG is used instead of being skipped. PIL raises an error for it by
//! default.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::batch::{check_batch_size, epoch_seed, next_chunk, remaining_batches};
use crate::image::{load_rgb, resize_rgb, RgbImage};
use crate::image_folder::ImageFiles;
use crate::imagenet::{EvalTransform, TrainTransform};
use crate::transform::{normalize_chw_into, Normalization};
use crate::{Batch, Result};

/// Maximum number of skipped files logged one by one per pass; the rest are
/// only counted.
const MAX_SKIP_WARNINGS: usize = 20;

/// The resize, crop or augmentation that turns a decoded image of any size
/// into a fixed-size model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ImageTransform {
    /// Random resized crop and flip, for training.
    Train(TrainTransform),
    /// Resize of the shorter side and centre crop, for evaluation.
    Eval(EvalTransform),
    /// Resize to `width x height`, ignoring the aspect ratio.
    Resize { width: u32, height: u32 },
}

impl ImageTransform {
    /// Returns the `(width, height)` of every output image.
    pub fn output_size(&self) -> (u32, u32) {
        match self {
            ImageTransform::Train(transform) => (transform.crop.size, transform.crop.size),
            ImageTransform::Eval(transform) => (transform.crop_width, transform.crop_height),
            ImageTransform::Resize { width, height } => (*width, *height),
        }
    }

    /// Transforms `image`; only [`ImageTransform::Train`] draws from `rng`.
    pub fn apply<R: Rng + ?Sized>(&self, image: &RgbImage, rng: &mut R) -> Result<RgbImage> {
        match self {
            ImageTransform::Train(transform) => Ok(transform.apply(image, rng)),
            ImageTransform::Eval(transform) => transform.apply(image),
            ImageTransform::Resize { width, height } => Ok(resize_rgb(image, *width, *height)),
        }
    }

    /// Transforms `image`, drawing the choices of a training transform from
    /// a generator seeded with `seed`.
    pub fn apply_with_seed(&self, image: &RgbImage, seed: u64) -> Result<RgbImage> {
        self.apply(image, &mut StdRng::seed_from_u64(seed))
    }
}

/// The files that a [`FileBatches`] left out, shared with the batch source so
/// that the caller can read it after handing the batches to another thread.
#[derive(Debug, Clone, Default)]
pub struct SkippedImages {
    paths: Arc<Mutex<Vec<PathBuf>>>,
}

impl SkippedImages {
    /// Returns the number of files skipped so far.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Returns the skipped files in the order they were found.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().clone()
    }

    /// Records a skipped file and logs it while fewer than
    /// [`MAX_SKIP_WARNINGS`] were logged.
    fn record(&self, path: &Path, error: &crate::DataError) {
        let mut paths = self.lock();
        if paths.len() < MAX_SKIP_WARNINGS {
            let error = crate::error::with_sources(error);
            tracing::warn!(path = %path.display(), %error, "skipped an unreadable image");
        }
        paths.push(path.to_path_buf());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        // A panic while pushing a path leaves a valid list, so poisoning is ignored.
        self.paths.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Batches of images decoded from files, transformed and normalised to NCHW
/// `f32`, for one pass over an [`ImageFiles`] list.
pub struct FileBatches<'a> {
    files: &'a ImageFiles,
    order: Vec<usize>,
    batch_size: usize,
    position: usize,
    transform: ImageTransform,
    table: [[f32; 256]; 3],
    /// Seed of the per-image random generators.
    seed: u64,
    skipped: SkippedImages,
    finished: bool,
}

impl<'a> FileBatches<'a> {
    /// Creates training batches for `epoch`: the files in an order shuffled
    /// with [`epoch_seed`]`(seed, epoch)`, each augmented by `transform`.
    ///
    /// Every image draws its crop, flip and AutoAugment choices from its
    /// own generator, seeded from the epoch seed and the image's position in
    /// `files`. A run is therefore reproducible for any batch size and
    /// thread count.
    pub fn train(
        files: &'a ImageFiles,
        batch_size: usize,
        seed: u64,
        epoch: u64,
        transform: TrainTransform,
        normalization: Normalization,
    ) -> Result<Self> {
        let seed = epoch_seed(seed, epoch);
        let mut order: Vec<usize> = (0..files.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        Self::new(
            files,
            order,
            batch_size,
            ImageTransform::Train(transform),
            normalization,
            seed,
        )
    }

    /// Creates evaluation batches: the files in order, each transformed by
    /// `transform`. An [`ImageTransform::Train`] transform draws from
    /// per-image generators seeded from 0 and the image's position, so it
    /// gives the same images on every pass.
    pub fn eval(
        files: &'a ImageFiles,
        batch_size: usize,
        transform: ImageTransform,
        normalization: Normalization,
    ) -> Result<Self> {
        let order = (0..files.len()).collect();
        Self::new(files, order, batch_size, transform, normalization, 0)
    }

    fn new(
        files: &'a ImageFiles,
        order: Vec<usize>,
        batch_size: usize,
        transform: ImageTransform,
        normalization: Normalization,
        seed: u64,
    ) -> Result<Self> {
        check_batch_size(batch_size)?;
        let (width, height) = transform.output_size();
        if width == 0 || height == 0 {
            return Err(crate::DataError::InvalidArgument {
                name: "output image size",
                value: format!("{width}x{height}"),
                fix: "use a width and height of at least 1 pixel".to_string(),
            });
        }
        Ok(Self {
            files,
            order,
            batch_size,
            position: 0,
            transform,
            table: normalization.lookup_table(),
            seed,
            skipped: SkippedImages::default(),
            finished: false,
        })
    }

    /// Returns a handle to the list of skipped files, which stays readable
    /// after the batches were moved to another thread or dropped.
    pub fn skipped(&self) -> SkippedImages {
        self.skipped.clone()
    }

    /// Returns the number of batches left, counting a batch whose images
    /// all fail as one. It is exact unless files are skipped.
    pub fn max_remaining(&self) -> usize {
        remaining_batches(self.order.len(), self.position, self.batch_size)
    }

    /// Returns the `(height, width)` of every image in the batches.
    pub fn image_size(&self) -> (usize, usize) {
        let (width, height) = self.transform.output_size();
        (height as usize, width as usize)
    }

    /// Decodes the files at `indices` into one batch, leaving out those
    /// that fail; `None` when all fail.
    fn load(&self, indices: &[usize]) -> Option<Batch> {
        let (height, width) = self.image_size();
        let image_len = height * width * 3;
        let mut images = vec![0.0; indices.len() * image_len];
        let outcomes: Vec<Result<()>> = images
            .par_chunks_mut(image_len)
            .zip(indices.par_iter())
            .map(|(slot, &i)| self.prepare(i, slot))
            .collect();

        let mut labels = Vec::with_capacity(indices.len());
        let mut kept_indices = Vec::with_capacity(indices.len());
        for (k, (&i, outcome)) in indices.iter().zip(outcomes).enumerate() {
            match outcome {
                Ok(()) => {
                    let target = kept_indices.len();
                    if target != k {
                        images.copy_within(k * image_len..(k + 1) * image_len, target * image_len);
                    }
                    labels.push(self.files.label(i) as i64);
                    kept_indices.push(i);
                }
                Err(error) => self.skipped.record(self.files.path(i), &error),
            }
        }
        if kept_indices.is_empty() {
            return None;
        }
        images.truncate(kept_indices.len() * image_len);
        Some(Batch {
            images,
            labels,
            len: kept_indices.len(),
            indices: kept_indices,
            height,
            width,
        })
    }

    /// Decodes, transforms and normalises file `i` into `slot` (CHW).
    fn prepare(&self, i: usize, slot: &mut [f32]) -> Result<()> {
        let image = load_rgb(self.files.path(i))?;
        let mut rng = image_rng(self.seed, i);
        let image = self.transform.apply(&image, &mut rng)?;
        normalize_chw_into(image.as_raw(), &self.table, slot);
        Ok(())
    }

    /// Logs the number of skipped files once, at the end of the pass.
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let skipped = self.skipped.count();
        if skipped > 0 {
            tracing::warn!(
                folder = %self.files.root.display(),
                skipped,
                images = self.files.len(),
                "finished a pass over the images with unreadable files skipped"
            );
        }
    }
}

/// Creates the generator of image `index`. The 32-byte seed contains the
/// pass seed and the index side by side, so every (pass, image) pair gets its
/// own stream.
fn image_rng(seed: u64, index: usize) -> StdRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&(index as u64).to_le_bytes());
    StdRng::from_seed(bytes)
}

impl Iterator for FileBatches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        loop {
            let Some(indices) = next_chunk(&self.order, &mut self.position, self.batch_size) else {
                self.finish();
                return None;
            };
            let indices = indices.to_vec();
            if let Some(batch) = self.load(&indices) {
                return Some(batch);
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.max_remaining()))
    }
}

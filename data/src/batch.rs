//! Batches of normalised NCHW `f32` images with `i64` labels.
//!
//! [`TrainBatches`] visits a dataset once in an order shuffled per epoch and
//! augments every image; [`EvalBatches`] visits it in order without
//! augmentation. Both keep the last, smaller batch.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::augment::{self, Augment};
use crate::transform::{fill_batch, Normalization};
use crate::{DataError, Dataset, Result};

/// One batch of images.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `len * 3 * height * width` normalised values, NCHW.
    pub images: Vec<f32>,
    /// Class index of each image.
    pub labels: Vec<i64>,
    /// Position of each image in the dataset.
    pub indices: Vec<usize>,
    pub len: usize,
    pub height: usize,
    pub width: usize,
}

impl Batch {
    /// Shape of `images` as `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.len, 3, self.height, self.width]
    }

    fn new(dataset: &Dataset, indices: &[usize]) -> Batch {
        Batch {
            images: vec![0.0; indices.len() * dataset.image_len()],
            labels: indices.iter().map(|&i| dataset.label(i) as i64).collect(),
            indices: indices.to_vec(),
            len: indices.len(),
            height: dataset.height,
            width: dataset.width,
        }
    }
}

/// Derives the random seed of one epoch, so that every epoch has its own
/// order and augmentation and a run can resume at any epoch.
pub fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Shuffled, augmented training batches for one epoch.
pub struct TrainBatches<'a> {
    dataset: &'a Dataset,
    order: Vec<usize>,
    batch_size: usize,
    position: usize,
    augment: Augment,
    table: [[f32; 256]; 3],
    rng: StdRng,
}

impl<'a> TrainBatches<'a> {
    /// Shuffles `dataset` with a generator seeded by [`epoch_seed`]`(seed,
    /// epoch)`, which then also draws the augmentation of every image.
    pub fn new(
        dataset: &'a Dataset,
        batch_size: usize,
        seed: u64,
        epoch: u64,
        augment: Augment,
        normalization: Normalization,
    ) -> Result<Self> {
        check_batch_size(batch_size)?;
        let mut rng = StdRng::seed_from_u64(epoch_seed(seed, epoch));
        let mut order: Vec<usize> = (0..dataset.len()).collect();
        order.shuffle(&mut rng);
        Ok(TrainBatches {
            dataset,
            order,
            batch_size,
            position: 0,
            augment,
            table: normalization.lookup_table(),
            rng,
        })
    }
}

impl Iterator for TrainBatches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let indices = next_chunk(&self.order, &mut self.position, self.batch_size)?;
        let dataset = self.dataset;
        let (h, w) = (dataset.height, dataset.width);
        let mut batch = Batch::new(dataset, indices);
        for (&i, out) in indices
            .iter()
            .zip(batch.images.chunks_exact_mut(dataset.image_len()))
        {
            let params = self.augment.sample(h, w, &mut self.rng);
            augment::apply(dataset.image(i), h, w, &params, &self.table, out);
        }
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = remaining_batches(self.order.len(), self.position, self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for TrainBatches<'_> {}

/// Batches in dataset order, normalised, without augmentation.
pub struct EvalBatches<'a> {
    dataset: &'a Dataset,
    order: Vec<usize>,
    batch_size: usize,
    position: usize,
    normalization: Normalization,
}

impl<'a> EvalBatches<'a> {
    pub fn new(
        dataset: &'a Dataset,
        batch_size: usize,
        normalization: Normalization,
    ) -> Result<Self> {
        check_batch_size(batch_size)?;
        Ok(EvalBatches {
            dataset,
            order: (0..dataset.len()).collect(),
            batch_size,
            position: 0,
            normalization,
        })
    }
}

impl Iterator for EvalBatches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let indices = next_chunk(&self.order, &mut self.position, self.batch_size)?;
        let mut batch = Batch::new(self.dataset, indices);
        fill_batch(
            self.dataset,
            indices,
            &self.normalization,
            &mut batch.images,
        );
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = remaining_batches(self.order.len(), self.position, self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for EvalBatches<'_> {}

pub(crate) fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(DataError::InvalidArgument {
            name: "batch size",
            value: "0".to_string(),
            fix: "use a batch size of at least 1".to_string(),
        });
    }
    Ok(())
}

pub(crate) fn next_chunk<'o>(
    order: &'o [usize],
    position: &mut usize,
    size: usize,
) -> Option<&'o [usize]> {
    if *position >= order.len() {
        return None;
    }
    let end = (*position + size).min(order.len());
    let chunk = &order[*position..end];
    *position = end;
    Some(chunk)
}

pub(crate) fn remaining_batches(total: usize, position: usize, size: usize) -> usize {
    (total - position).div_ceil(size)
}

/// Runs `consume` on `batches` while a background thread prepares the next
/// batch, so that batch preparation overlaps with the caller's work.
///
/// At most one prepared batch waits in the queue. If `consume` returns
/// before the end, the background thread stops after its current batch.
/// A panic in the background thread is raised again here.
pub fn prefetch<I, F, R>(batches: I, consume: F) -> R
where
    I: Iterator<Item = Batch> + Send,
    F: FnOnce(&mut dyn Iterator<Item = Batch>) -> R,
{
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for batch in batches {
                if sender.send(batch).is_err() {
                    break;
                }
            }
        });
        let mut received = receiver.into_iter();
        let result = consume(&mut received);
        drop(received);
        result
    })
}

//! Seeded, class-balanced subsets.
//!
//! Training and evaluation call the same function, so the same `n` and seed
//! select the same images from the same dataset in the same order.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::Dataset;

/// Returns a class-balanced subset of `n` images of `dataset`, see
/// [`balanced_indices`]. If `n >= dataset.len()` the dataset is returned
/// unchanged, in its original order.
pub fn balanced(dataset: &Dataset, n: usize, seed: u64) -> Dataset {
    if n >= dataset.len() {
        return dataset.clone();
    }
    dataset.select(&balanced_indices(
        &dataset.labels,
        dataset.num_classes(),
        n,
        seed,
    ))
}

/// Picks `n` positions from `labels` with as equal a count per class as the
/// classes allow, in an order shuffled with `seed`.
///
/// Each class gets `n / num_classes` images and the first `n % num_classes`
/// classes one more. A class with fewer images gives all of them and its
/// shortfall is shared the same way among the classes that still have
/// images, so `min(n, labels.len())` positions are returned. Within a class
/// the images are a seeded random choice. If `n >= labels.len()` every
/// position is returned in order.
///
/// NOTE: the choice is reproducible for a given `rand` version, because
/// `StdRng` does not promise the same stream across `rand` releases.
pub fn balanced_indices(labels: &[u16], num_classes: usize, n: usize, seed: u64) -> Vec<usize> {
    if n >= labels.len() {
        return (0..labels.len()).collect();
    }
    let mut by_class = positions_by_class(labels, num_classes);
    let quotas = class_quotas(&by_class, n);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chosen = Vec::with_capacity(n);
    for (positions, quota) in by_class.iter_mut().zip(quotas) {
        let (picked, _) = positions.partial_shuffle(&mut rng, quota);
        chosen.extend_from_slice(picked);
    }
    chosen.shuffle(&mut rng);
    chosen
}

fn positions_by_class(labels: &[u16], num_classes: usize) -> Vec<Vec<usize>> {
    let classes = labels
        .iter()
        .map(|&l| usize::from(l) + 1)
        .max()
        .unwrap_or(0)
        .max(num_classes);
    let mut by_class = vec![Vec::new(); classes];
    for (i, &label) in labels.iter().enumerate() {
        by_class[usize::from(label)].push(i);
    }
    by_class
}

/// Shares `n` among the classes: equal shares, the remainder to the first
/// classes, and the share a class cannot fill shared again among the others.
fn class_quotas(by_class: &[Vec<usize>], n: usize) -> Vec<usize> {
    let mut quotas = vec![0; by_class.len()];
    let mut left = n;
    loop {
        let open: Vec<usize> = (0..by_class.len())
            .filter(|&c| quotas[c] < by_class[c].len())
            .collect();
        if left == 0 || open.is_empty() {
            return quotas;
        }
        let share = left / open.len();
        let extra = left % open.len();
        for (rank, &c) in open.iter().enumerate() {
            let want = share + usize::from(rank < extra);
            let take = want.min(by_class[c].len() - quotas[c]);
            quotas[c] += take;
            left -= take;
        }
    }
}

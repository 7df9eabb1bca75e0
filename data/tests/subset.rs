mod common;

use data::subset::{balanced, balanced_indices};

use common::binary_test;

#[test]
fn counts_per_class_equal() {
    let subset = balanced(binary_test(), 1000, 7);
    assert_eq!(subset.len(), 1000);
    assert_eq!(subset.class_counts(), vec![100; 10]);
}

#[test]
fn remainder_goes_to_first_classes() {
    let subset = balanced(binary_test(), 1003, 7);
    assert_eq!(
        subset.class_counts(),
        vec![101, 101, 101, 100, 100, 100, 100, 100, 100, 100]
    );
}

#[test]
fn fewer_images_than_classes() {
    let subset = balanced(binary_test(), 4, 7);
    assert_eq!(subset.class_counts(), vec![1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn same_seed_same_subset() {
    let first = balanced_indices(&binary_test().labels, 10, 500, 42);
    let second = balanced_indices(&binary_test().labels, 10, 500, 42);
    assert_eq!(first, second);
    assert_eq!(
        balanced(binary_test(), 500, 42),
        binary_test().select(&first)
    );
}

#[test]
fn other_seed_other_subset() {
    let first = balanced_indices(&binary_test().labels, 10, 500, 42);
    let second = balanced_indices(&binary_test().labels, 10, 500, 43);
    assert_ne!(first, second);
}

#[test]
fn indices_unique_and_shuffled() {
    let indices = balanced_indices(&binary_test().labels, 10, 2000, 1);
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 2000, "indices repeat");
    assert_ne!(indices, sorted, "order is not shuffled");
    let labels: Vec<usize> = indices
        .iter()
        .take(20)
        .map(|&i| binary_test().label(i))
        .collect();
    assert!(
        labels.windows(2).any(|w| w[0] > w[1]),
        "classes come in label order: {labels:?}"
    );
}

#[test]
fn whole_dataset_unchanged() {
    let all = balanced(binary_test(), 10_000, 3);
    assert_eq!(all, *binary_test());
    let more = balanced(binary_test(), 20_000, 3);
    assert_eq!(more, *binary_test());
}

#[test]
fn small_class_shortfall_redistributed() {
    // Class 0 has 2 images, class 1 has 10, class 2 has 10.
    let labels: Vec<u16> = [vec![0; 2], vec![1; 10], vec![2; 10]].concat();
    let indices = balanced_indices(&labels, 3, 12, 5);
    let mut counts = [0; 3];
    for &i in &indices {
        counts[usize::from(labels[i])] += 1;
    }
    assert_eq!(indices.len(), 12);
    assert_eq!(counts, [2, 5, 5]);
}

#[test]
fn empty_class_ignored() {
    let labels: Vec<u16> = [vec![0; 6], vec![2; 6]].concat();
    let indices = balanced_indices(&labels, 3, 7, 5);
    let mut counts = [0; 3];
    for &i in &indices {
        counts[usize::from(labels[i])] += 1;
    }
    assert_eq!(counts, [4, 0, 3]);
}

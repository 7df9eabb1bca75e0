mod common;

use data::augment::{self, cutout, Augment, AugmentParams};
use data::transform::{fill_batch, normalize_chw_into, preprocess};
use data::{normalize_chw, prefetch, EvalBatches, Normalization, TrainBatches};
use rand::rngs::StdRng;
use rand::SeedableRng;

use common::binary_test;

const CIFAR: Normalization = Normalization::CIFAR10;
const PLANE: usize = 32 * 32;

fn normalized(image: usize) -> Vec<f32> {
    normalize_chw(binary_test().image(image), 32, 32, CIFAR.mean, CIFAR.std)
}

fn params(
    crop_y: usize,
    crop_x: usize,
    flip: bool,
    cutout: Option<(usize, usize, usize)>,
) -> AugmentParams {
    AugmentParams {
        crop_y,
        crop_x,
        crop_pad: 4,
        flip,
        cutout,
        autoaugment: None,
    }
}

fn augmented(image: usize, params: &AugmentParams) -> Vec<f32> {
    let mut out = vec![f32::NAN; 3 * PLANE];
    let table = CIFAR.lookup_table();
    augment::apply(binary_test().image(image), 32, 32, params, &table, &mut out);
    out
}

#[test]
fn normalizes_known_pixels() {
    let hwc = [0u8, 128, 255, 255, 0, 64];
    let chw = normalize_chw(&hwc, 1, 2, CIFAR.mean, CIFAR.std);
    let expected = [
        (0.0 - 0.491_399_68) / 0.247_032_33,
        (1.0 - 0.491_399_68) / 0.247_032_33,
        (128.0 / 255.0 - 0.482_158_27) / 0.243_485_05,
        (0.0 - 0.482_158_27) / 0.243_485_05,
        (1.0 - 0.446_531_24) / 0.261_587_68,
        (64.0 / 255.0 - 0.446_531_24) / 0.261_587_68,
    ];
    for (i, (got, want)) in chw.iter().zip(expected).enumerate() {
        assert!((got - want).abs() < 1e-6, "value {i}: {got} != {want}");
    }
    // Black red is -mean/std = -1.98921 standard deviations.
    assert!((chw[0] - -1.989_21).abs() < 1e-5, "{}", chw[0]);
}

#[test]
fn normalization_rejects_zero_std() {
    assert!(Normalization::new([0.5; 3], [0.2, 0.0, 0.2]).is_err());
    assert!(Normalization::new([f32::NAN, 0.5, 0.5], [0.2; 3]).is_err());
    assert_eq!(Normalization::new(CIFAR.mean, CIFAR.std).unwrap(), CIFAR);
}

#[test]
fn fill_batch_matches_single_images() {
    let indices = [5, 0, 9999];
    let mut batch = vec![0.0; 3 * 3 * PLANE];
    fill_batch(binary_test(), &indices, &CIFAR, &mut batch);
    for (slot, &i) in batch.chunks_exact(3 * PLANE).zip(&indices) {
        assert_eq!(slot, normalized(i).as_slice(), "image {i}");
    }
}

#[test]
fn centre_crop_is_identity() {
    assert_eq!(augmented(3, &params(4, 4, false, None)), normalized(3));
}

#[test]
fn flip_mirrors_columns() {
    let plain = normalized(3);
    let flipped = augmented(3, &params(4, 4, true, None));
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                let at = c * PLANE + y * 32;
                assert_eq!(flipped[at + x], plain[at + 31 - x], "c {c} y {y} x {x}");
            }
        }
    }
}

#[test]
fn crop_shifts_and_pads_black() {
    let plain = normalized(3);
    let table = CIFAR.lookup_table();
    // Offset (0, 8): the window starts 4 rows above and 4 columns right of the image.
    let shifted = augmented(3, &params(0, 8, false, None));
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                let got = shifted[c * PLANE + y * 32 + x];
                let want = if y < 4 || x >= 28 {
                    table[c][0]
                } else {
                    plain[c * PLANE + (y - 4) * 32 + x + 4]
                };
                assert_eq!(got, want, "c {c} y {y} x {x}");
            }
        }
    }
}

#[test]
fn cutout_zeroes_clipped_square() {
    let plain = normalized(8);
    // Centre (2, 30) with length 16: rows [0, 10), columns [22, 32).
    let holed = augmented(8, &params(4, 4, false, Some((2, 30, 16))));
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                let at = c * PLANE + y * 32 + x;
                let inside = y < 10 && x >= 22;
                let want = if inside { 0.0 } else { plain[at] };
                assert_eq!(holed[at], want, "c {c} y {y} x {x}");
            }
        }
    }
}

#[test]
fn cutout_odd_length_uses_half_down() {
    let mut chw = vec![1.0; 3 * PLANE];
    cutout(&mut chw, 32, 32, 10, 10, 5);
    let zeros = chw.iter().filter(|&&v| v == 0.0).count();
    assert_eq!(zeros, 3 * 4 * 4, "rows and columns [8, 12)");
    assert_eq!(chw[8 * 32 + 8], 0.0);
    assert_eq!(chw[11 * 32 + 11], 0.0);
    assert_eq!(chw[12 * 32 + 12], 1.0);
}

#[test]
fn sampled_params_in_range() {
    let mut rng = StdRng::seed_from_u64(9);
    let recipe = Augment::cifar(Some(16));
    let mut flips = 0;
    for _ in 0..2000 {
        let p = recipe.sample(32, 32, &mut rng);
        assert!(p.crop_y <= 8, "{p:?}");
        assert!(p.crop_x <= 8, "{p:?}");
        let (y, x, len) = p.cutout.expect("cutout enabled");
        assert!(y < 32, "{p:?}");
        assert!(x < 32, "{p:?}");
        assert_eq!(len, 16, "{p:?}");
        flips += usize::from(p.flip);
    }
    assert!((800..1200).contains(&flips), "{flips} flips in 2000 draws");
    let none = Augment::NONE.sample(32, 32, &mut rng);
    assert_eq!(
        none,
        AugmentParams {
            crop_y: 0,
            crop_x: 0,
            crop_pad: 0,
            flip: false,
            cutout: None,
            autoaugment: None,
        }
    );
}

#[test]
fn no_augment_equals_normalize() {
    let mut rng = StdRng::seed_from_u64(1);
    let p = Augment::NONE.sample(32, 32, &mut rng);
    let mut out = vec![0.0; 3 * PLANE];
    augment::apply(
        binary_test().image(4),
        32,
        32,
        &p,
        &CIFAR.lookup_table(),
        &mut out,
    );
    let mut direct = vec![0.0; 3 * PLANE];
    normalize_chw_into(binary_test().image(4), &CIFAR.lookup_table(), &mut direct);
    assert_eq!(out, direct);
}

#[test]
fn train_batches_cover_epoch() {
    let dataset = binary_test().select(&(0..1000).collect::<Vec<_>>());
    let batches: Vec<_> = TrainBatches::new(&dataset, 64, 3, 0, Augment::cifar(Some(16)), CIFAR)
        .unwrap()
        .collect();
    assert_eq!(batches.len(), 16);
    assert_eq!(batches[15].len, 1000 - 15 * 64);
    assert_eq!(batches[15].shape(), [40, 3, 32, 32]);
    assert_eq!(batches[15].images.len(), 40 * 3 * PLANE);
    let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_ne!(
        seen[..64],
        (0..64).collect::<Vec<_>>(),
        "order is not shuffled"
    );
    seen.sort_unstable();
    assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    for batch in &batches {
        for (&i, &label) in batch.indices.iter().zip(&batch.labels) {
            assert_eq!(label, dataset.label(i) as i64);
        }
    }
}

#[test]
fn train_batches_reproducible() {
    let dataset = binary_test().select(&(0..300).collect::<Vec<_>>());
    let augment = Augment::cifar(Some(16));
    let run = |seed, epoch| -> Vec<_> {
        TrainBatches::new(&dataset, 50, seed, epoch, augment, CIFAR)
            .unwrap()
            .collect()
    };
    assert_eq!(run(1, 2), run(1, 2));
    assert_ne!(
        run(1, 2)[0].indices,
        run(1, 3)[0].indices,
        "epochs share an order"
    );
    assert_ne!(
        run(1, 2)[0].indices,
        run(2, 2)[0].indices,
        "seeds share an order"
    );
}

#[test]
fn train_batches_apply_augmentation() {
    let dataset = binary_test().select(&(0..64).collect::<Vec<_>>());
    let batch = TrainBatches::new(&dataset, 64, 5, 0, Augment::cifar(Some(16)), CIFAR)
        .unwrap()
        .next()
        .unwrap();
    for (slot, &i) in batch.images.chunks_exact(3 * PLANE).zip(&batch.indices) {
        assert_ne!(slot, normalized(i).as_slice(), "image {i} not augmented");
        // Cutout of length 16 zeroes at least an 8 x 8 corner square per channel.
        let zeros = slot.iter().filter(|&&v| v == 0.0).count();
        assert!(zeros >= 3 * 64, "image {i}: {zeros} zeros");
    }
}

#[test]
fn eval_batches_in_order() {
    let dataset = binary_test().select(&(0..130).collect::<Vec<_>>());
    let batches: Vec<_> = EvalBatches::new(&dataset, 64, CIFAR).unwrap().collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[2].len, 2);
    let indices: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(indices, (0..130).collect::<Vec<_>>());
    assert_eq!(&batches[1].images[..3 * PLANE], normalized(64).as_slice());
    assert_eq!(
        batches[2].labels,
        vec![dataset.label(128) as i64, dataset.label(129) as i64]
    );
}

#[test]
fn zero_batch_size_rejected() {
    let dataset = binary_test();
    assert!(EvalBatches::new(dataset, 0, CIFAR).is_err());
    assert!(TrainBatches::new(dataset, 0, 1, 0, Augment::NONE, CIFAR).is_err());
}

#[test]
fn prefetch_yields_same_batches() {
    let dataset = binary_test().select(&(0..200).collect::<Vec<_>>());
    let augment = Augment::cifar(Some(16));
    let make = || TrainBatches::new(&dataset, 64, 4, 1, augment, CIFAR).unwrap();
    let direct: Vec<_> = make().collect();
    let prefetched = prefetch(make(), |batches| batches.collect::<Vec<_>>());
    assert_eq!(prefetched, direct);
}

#[test]
fn prefetch_stops_early() {
    let dataset = binary_test();
    let batches = EvalBatches::new(dataset, 10, CIFAR).unwrap();
    let first = prefetch(batches, |batches| batches.next().unwrap());
    assert_eq!(first.indices, (0..10).collect::<Vec<_>>());
}

#[test]
fn preprocess_resizes_and_normalizes() {
    let image = data::image::load_rgb(&common::test_jpeg("ship", 0)).unwrap();
    let same = preprocess(&image, 32, &CIFAR);
    let expected = normalize_chw(image.as_raw(), 32, 32, CIFAR.mean, CIFAR.std);
    assert_eq!(same, expected);
    let large = data::image::resize_rgb(&image, 100, 60);
    let small = preprocess(&large, 16, &CIFAR);
    assert_eq!(small.len(), 3 * 16 * 16);
    let resized = data::image::resize_rgb(&large, 16, 16);
    assert_eq!(
        small,
        normalize_chw(resized.as_raw(), 16, 16, CIFAR.mean, CIFAR.std)
    );
}

/// Hashes every value and index of the first batches of a fixed-seed epoch.
fn train_batches_fingerprint(augment: Augment) -> u64 {
    let dataset = binary_test().select(&(0..256).collect::<Vec<_>>());
    let batches = TrainBatches::new(&dataset, 64, 2024, 3, augment, CIFAR).unwrap();
    let bytes = batches.flat_map(|batch| {
        let values = batch.images.into_iter().flat_map(f32::to_le_bytes);
        let indices = batch
            .indices
            .into_iter()
            .flat_map(|i| (i as u64).to_le_bytes());
        values.chain(indices).collect::<Vec<u8>>()
    });
    common::fnv1a(bytes)
}

/// The CIFAR training transform without AutoAugment gives the same values as
/// before AutoAugment existed; the hashes were recorded from that version.
#[test]
fn train_batches_match_recorded_output() {
    let with_cutout = train_batches_fingerprint(Augment::cifar(Some(16)));
    let without_cutout = train_batches_fingerprint(Augment::cifar(None));
    assert_eq!(with_cutout, 0xb977_767a_86f1_9997, "{with_cutout:#018x}");
    assert_eq!(
        without_cutout, 0x5336_ab81_c0c6_bde8,
        "{without_cutout:#018x}"
    );
}

//! The ImageNet path on real ImageNet photos: folder listing, class table,
//! torchvision's transforms and file-backed batches.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use ::image::imageops::{self, FilterType};
use ::image::Rgb;
use data::image::{load_rgb, RgbImage};
use data::imagenet::transform::{center_crop, center_offset, resized_size};
use data::imagenet::{
    self, ClassTable, CropBox, EvalTransform, ImageNet, RandomResizedCrop, Split, TrainParams,
    TrainTransform,
};
use data::{image_folder, prefetch, DataError, FileBatches, ImageTransform, Normalization};
use rand::rngs::StdRng;
use rand::SeedableRng;

use common::{imagenet_class_table, imagenet_photo};

/// Goldfish (376x263), kite (400x500, portrait) and paddle (500x311, grey).
const SYNSETS: [&str; 3] = ["n01443537", "n01608432", "n03873416"];
const HEN: &str = "n01514859";

/// Builds `root/{train,val}/<synset>/` from the real photos, by symlink.
///
/// The class folders are created in reverse order. Each training folder
/// contains its class photo and one more file: another photo (`extra.jpg`) or
/// a PNG copy (`copy.png`). The goldfish folder also contains files that must
/// be ignored (`notes.txt`, `.hidden.JPEG`). Each validation folder contains
/// its class photo, named with a mixed-case extension.
fn build_imagenet(root: &Path) {
    for (k, synset) in SYNSETS.iter().enumerate().rev() {
        let train = root.join("train").join(synset);
        let val = root.join("val").join(synset);
        fs::create_dir_all(&train).unwrap();
        fs::create_dir_all(&val).unwrap();
        let photo = imagenet_photo(synset);
        symlink(&photo, train.join(photo.file_name().unwrap())).unwrap();
        symlink(&photo, val.join(format!("{synset}_val.Jpeg"))).unwrap();
        if k == 1 {
            load_rgb(&photo)
                .unwrap()
                .save(train.join("copy.png"))
                .unwrap();
        } else {
            symlink(imagenet_photo(HEN), train.join("extra.jpg")).unwrap();
        }
    }
    let goldfish = root.join("train").join(SYNSETS[0]);
    fs::write(goldfish.join("notes.txt"), "not an image").unwrap();
    symlink(imagenet_photo(HEN), goldfish.join(".hidden.JPEG")).unwrap();
}

fn imagenet_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    build_imagenet(dir.path());
    dir
}

fn file_names(paths: impl IntoIterator<Item = PathBuf>) -> Vec<String> {
    paths
        .into_iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn open_sorts_classes_and_files() {
    let dir = imagenet_dir();
    let imagenet = ImageNet::open(dir.path()).unwrap();
    assert_eq!(imagenet.classes(), SYNSETS);
    assert_eq!(imagenet.val.classes, SYNSETS);
    let train_names = file_names(imagenet.train.samples.iter().map(|(p, _)| p.clone()));
    assert_eq!(
        train_names,
        [
            "extra.jpg",
            "n01443537_goldfish.JPEG",
            "copy.png",
            "n01608432_kite.JPEG",
            "extra.jpg",
            "n03873416_paddle.JPEG",
        ]
    );
    assert_eq!(imagenet.train.labels(), [0, 0, 1, 1, 2, 2]);
    assert_eq!(imagenet.val.labels(), [0, 1, 2]);
    assert_eq!(imagenet.val.class_counts(), [1, 1, 1]);
    assert!(imagenet.class_table.is_none());
    assert_eq!(imagenet.class_names(), SYNSETS);
}

#[test]
fn open_split_lists_one_split() {
    let dir = imagenet_dir();
    let val = imagenet::open_split(dir.path(), Split::Val).unwrap();
    assert_eq!(val.root, dir.path().join("val"));
    assert_eq!(val.len(), 3);

    fs::remove_dir_all(dir.path().join("train")).unwrap();
    let val = imagenet::open_split(dir.path(), Split::Val).unwrap();
    assert_eq!(val.classes, SYNSETS);
    let error = imagenet::open_split(dir.path(), Split::Train).unwrap_err();
    assert!(matches!(error, DataError::NotImageNet { .. }), "{error:?}");
    assert!(error.to_string().contains("train/ not found"), "{error}");
}

#[test]
fn open_rejects_missing_val() {
    let dir = imagenet_dir();
    fs::remove_dir_all(dir.path().join("val")).unwrap();
    let error = ImageNet::open(dir.path()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("val/ not found"), "{message}");
    assert!(
        message.contains("train/<class>/ and val/<class>/"),
        "{message}"
    );
}

#[test]
fn split_class_mismatch_names_difference() {
    let dir = imagenet_dir();
    fs::create_dir(dir.path().join("val/n09999999")).unwrap();
    fs::remove_dir_all(dir.path().join("val").join(SYNSETS[1])).unwrap();
    let error = ImageNet::open(dir.path()).unwrap_err();
    assert!(
        matches!(error, DataError::SplitClassMismatch { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("only in train: n01608432"), "{message}");
    assert!(message.contains("only in val: n09999999"), "{message}");

    let error = imagenet::open_split(dir.path(), Split::Val).unwrap_err();
    assert!(
        matches!(error, DataError::SplitClassMismatch { .. }),
        "{error:?}"
    );
}

#[test]
fn scan_rejects_folder_without_images() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("n01443537")).unwrap();
    fs::write(dir.path().join("n01443537/readme.txt"), "text").unwrap();
    let error = image_folder::scan(dir.path()).unwrap_err();
    assert!(matches!(error, DataError::NoImageFiles { .. }), "{error:?}");
}

#[test]
fn class_table_reads_imagenet_names() {
    let table = ClassTable::read(&imagenet_class_table()).unwrap();
    assert_eq!(table.len(), 1000);
    assert_eq!(table.name("n01443537"), Some("goldfish"));
    assert_eq!(table.name("n01484850"), Some("great white shark"));
    let first = &table.entries()[0];
    assert_eq!((first.index, first.synset.as_str()), (0, "n01440764"));
    assert_eq!(table.get("n01443537").unwrap().index, 1);
    assert_eq!(table.display_name("n00000000"), "n00000000");
    let sorted = table
        .entries()
        .windows(2)
        .all(|p| p[0].synset < p[1].synset);
    assert!(sorted, "the standard list is in sorted synset order");
}

#[test]
fn class_table_matches_photo_names() {
    let table = ClassTable::read(&imagenet_class_table()).unwrap();
    let dir = common::imagenet_data_root().join("imagenet-samples");
    let mut checked = 0;
    for name in file_names(fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path())) {
        let stem = name.strip_suffix(".JPEG").unwrap();
        let (synset, label) = stem.split_once('_').unwrap();
        let expected = table.name(synset).unwrap().replace(' ', "_");
        assert_eq!(label, expected, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 100);
}

#[test]
fn open_finds_class_table_in_root() {
    let dir = imagenet_dir();
    symlink(
        imagenet_class_table(),
        dir.path().join("imagenet_classes.tsv"),
    )
    .unwrap();
    let imagenet = ImageNet::open(dir.path()).unwrap();
    assert_eq!(
        imagenet.class_table.as_ref().map(ClassTable::len),
        Some(1000)
    );
    assert_eq!(imagenet.class_names(), ["goldfish", "kite", "paddle"]);
}

#[test]
fn class_table_rejects_malformed_lines() {
    let path = Path::new("classes.tsv");
    let cases = [
        (
            "index\tsynset\tname\n0\tn01\tone\n0\tn02\ttwo\n",
            "index 0 appears",
        ),
        ("0\tn01\tone\n1\tn01\tagain\n", "synset n01 appears"),
        (
            "index\tsynset\tname\nzero\tn01\tone\n",
            "line 2: index \"zero\"",
        ),
        ("0\tn01\n", "line 1: found 2 tab-separated fields"),
        ("0\tn01\t \n", "line 1: the synset or the name is empty"),
        ("index\tsynset\tname\n\n", "contains no classes"),
    ];
    for (text, expected) in cases {
        let error = ClassTable::parse(text, path).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(expected), "{text:?}: {message}");
        assert!(message.contains("classes.tsv"), "{message}");
    }
}

#[test]
fn class_table_accepts_crlf_and_no_header() {
    let table =
        ClassTable::parse("5\tn05\tfive\r\n2\tn02\ttwo, second\r\n", Path::new("t")).unwrap();
    let indices: Vec<usize> = table.entries().iter().map(|e| e.index).collect();
    assert_eq!(indices, [2, 5]);
    assert_eq!(table.name("n02"), Some("two, second"));
}

/// Resizes with the `image` crate and crops at offsets computed here from
/// torchvision's formulas, independently of the transform under test.
fn reference_eval(image: &RgbImage, shorter: u32, crop: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let (new_w, new_h) = if w <= h {
        (
            shorter,
            (f64::from(shorter) * f64::from(h) / f64::from(w)) as u32,
        )
    } else {
        (
            (f64::from(shorter) * f64::from(w) / f64::from(h)) as u32,
            shorter,
        )
    };
    let resized = imageops::resize(image, new_w, new_h, FilterType::Triangle);
    let top = (f64::from(new_h - crop) / 2.0).round_ties_even() as u32;
    let left = (f64::from(new_w - crop) / 2.0).round_ties_even() as u32;
    imageops::crop_imm(&resized, left, top, crop, crop).to_image()
}

#[test]
fn eval_transform_resizes_and_crops_224() {
    let transform = EvalTransform::default();
    assert_eq!(
        (
            transform.resize_shorter,
            transform.crop_height,
            transform.crop_width
        ),
        (256, 224, 224)
    );
    let expected_resized = [(365, 256), (256, 320), (411, 256)];
    for (synset, expected) in SYNSETS.iter().zip(expected_resized) {
        let image = load_rgb(&imagenet_photo(synset)).unwrap();
        let (w, h) = transform.resized_size(image.width(), image.height());
        assert_eq!(
            (w, h),
            expected,
            "{synset}: resized size of {:?}",
            image.dimensions()
        );
        let out = transform.apply(&image).unwrap();
        assert_eq!(out.dimensions(), (224, 224), "{synset}");
        assert!(
            out == reference_eval(&image, 256, 224),
            "{synset}: pixels differ"
        );
    }
}

#[test]
fn eval_transform_crops_centre_of_small_sizes() {
    let transform = EvalTransform::new(40, 32, 32).unwrap();
    for synset in SYNSETS {
        let image = load_rgb(&imagenet_photo(synset)).unwrap();
        let out = transform.apply(&image).unwrap();
        assert_eq!(out.dimensions(), (32, 32), "{synset}");
        assert!(
            out == reference_eval(&image, 40, 32),
            "{synset}: pixels differ"
        );
    }
}

#[test]
fn resized_size_truncates_long_side() {
    assert_eq!(resized_size(376, 263, 256), (365, 256));
    assert_eq!(resized_size(263, 376, 256), (256, 365));
    assert_eq!(resized_size(500, 500, 256), (256, 256));
    // 256 * 500 / 311 = 411.58, truncated as Python's int() does.
    assert_eq!(resized_size(500, 311, 256), (411, 256));
}

#[test]
fn center_offset_rounds_half_to_even() {
    assert_eq!(center_offset(256, 224), 16);
    assert_eq!(center_offset(225, 224), 0);
    assert_eq!(center_offset(227, 224), 2);
    assert_eq!(center_offset(229, 224), 2);
    assert_eq!(center_offset(231, 224), 4);
}

/// Creates an image whose red value is the column + 1 and green value the row + 1.
fn coordinate_image(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| Rgb([x as u8 + 1, y as u8 + 1, 200]))
}

#[test]
fn center_crop_picks_centre_columns() {
    // Width 7 gives offset round(1.5) = 2, and width 9 gives round(2.5) = 2.
    for (width, offset) in [(7, 2), (9, 2), (8, 2), (6, 1)] {
        let out = center_crop(&coordinate_image(width, 4), 4, 4);
        let columns: Vec<u8> = (0..4).map(|x| out.get_pixel(x, 0)[0] - 1).collect();
        let expected: Vec<u8> = (offset..offset + 4).collect();
        assert_eq!(columns, expected, "width {width}");
    }
}

#[test]
fn center_crop_pads_small_image() {
    let out = center_crop(&coordinate_image(3, 3), 6, 5);
    assert_eq!(out.dimensions(), (6, 5));
    for y in 0..5 {
        for x in 0..6 {
            let inside = (1..4).contains(&x) && (1..4).contains(&y);
            let expected = if inside {
                Rgb([x as u8, y as u8, 200])
            } else {
                Rgb([0, 0, 0])
            };
            assert_eq!(*out.get_pixel(x, y), expected, "pixel ({x}, {y})");
        }
    }
}

#[test]
fn eval_transform_rejects_extreme_aspect_ratio() {
    let strip = RgbImage::new(1, 65_535);
    let error = EvalTransform::default().apply(&strip).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("1x65535"), "{message}");
    assert!(message.contains("256x16776960"), "{message}");
}

#[test]
fn transforms_reject_invalid_sizes() {
    assert!(EvalTransform::new(0, 224, 224).is_err());
    assert!(EvalTransform::new(256, 224, 70_000).is_err());
    assert!(RandomResizedCrop::new(0).is_err());
    assert!(RandomResizedCrop::with_ranges(32, (0.5, 0.1), (0.75, 1.33)).is_err());
    assert!(RandomResizedCrop::with_ranges(32, (0.1, 1.0), (0.0, 1.33)).is_err());
    assert!(RandomResizedCrop::with_ranges(32, (f64::NAN, 1.0), (0.75, 1.33)).is_err());
}

#[test]
fn random_resized_crop_output_size() {
    let transform = TrainTransform::new(64).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    for synset in SYNSETS {
        let image = load_rgb(&imagenet_photo(synset)).unwrap();
        for _ in 0..5 {
            assert_eq!(transform.apply(&image, &mut rng).dimensions(), (64, 64));
        }
    }
    let default = TrainTransform::new(224).unwrap();
    let image = load_rgb(&imagenet_photo(SYNSETS[0])).unwrap();
    assert_eq!(default.apply(&image, &mut rng).dimensions(), (224, 224));
}

#[test]
fn random_resized_crop_stays_in_bounds() {
    let crop = RandomResizedCrop::new(224).unwrap();
    // Side rounding moves the area and aspect ratio by under 2% for boxes
    // of these images, whose sides are at least 70 pixels.
    let tolerance = 0.02;
    for (width, height) in [(376, 263), (400, 500), (500, 311)] {
        let area = f64::from(width * height);
        let fallback = crop.fallback(width, height);
        let (mut min_scale, mut max_scale) = (f64::MAX, 0.0f64);
        let (mut min_ratio, mut max_ratio) = (f64::MAX, 0.0f64);
        for seed in 0..2000 {
            let b = crop.sample(width, height, &mut StdRng::seed_from_u64(seed));
            assert!(
                b.width > 0 && b.height > 0,
                "{width}x{height} seed {seed}: {b:?}"
            );
            assert!(
                b.left + b.width <= width,
                "{width}x{height} seed {seed}: {b:?}"
            );
            assert!(
                b.top + b.height <= height,
                "{width}x{height} seed {seed}: {b:?}"
            );
            if b == fallback {
                continue;
            }
            let scale = f64::from(b.width * b.height) / area;
            let ratio = f64::from(b.width) / f64::from(b.height);
            assert!(
                scale >= 0.08 * (1.0 - tolerance),
                "seed {seed}: scale {scale}"
            );
            assert!(
                ratio >= 0.75 * (1.0 - tolerance),
                "seed {seed}: ratio {ratio}"
            );
            assert!(
                ratio <= 4.0 / 3.0 * (1.0 + tolerance),
                "seed {seed}: ratio {ratio}"
            );
            (min_scale, max_scale) = (min_scale.min(scale), max_scale.max(scale));
            (min_ratio, max_ratio) = (min_ratio.min(ratio), max_ratio.max(ratio));
        }
        assert!(
            min_scale < 0.1 && max_scale > 0.7,
            "scales {min_scale}..{max_scale}"
        );
        assert!(
            min_ratio < 0.8 && max_ratio > 1.25,
            "ratios {min_ratio}..{max_ratio}"
        );
    }
}

#[test]
fn random_resized_crop_falls_back_to_centre() {
    let crop = RandomResizedCrop::new(224).unwrap();
    for seed in 0..20 {
        let mut rng = StdRng::seed_from_u64(seed);
        // No box of at least 8% of the area fits a 10-pixel strip, so the
        // fallback takes the strip's height and the largest ratio, 4/3.
        let wide = crop.sample(1000, 10, &mut rng);
        let expected = CropBox {
            top: 0,
            left: 493,
            height: 10,
            width: 13,
        };
        assert_eq!(wide, expected, "seed {seed}");
        let tall = crop.sample(10, 1000, &mut rng);
        let expected = CropBox {
            top: 493,
            left: 0,
            height: 13,
            width: 10,
        };
        assert_eq!(tall, expected, "seed {seed}");
    }
    // A scale above 1 never fits, and a 400x500 image (ratio 0.8) is kept whole.
    let too_large = RandomResizedCrop::with_ranges(224, (2.0, 3.0), (0.75, 4.0 / 3.0)).unwrap();
    let whole = too_large.sample(400, 500, &mut StdRng::seed_from_u64(1));
    let expected = CropBox {
        top: 0,
        left: 0,
        height: 500,
        width: 400,
    };
    assert_eq!(whole, expected);
}

#[test]
fn random_resized_crop_deterministic_per_seed() {
    let transform = TrainTransform::new(48).unwrap();
    let image = load_rgb(&imagenet_photo(SYNSETS[1])).unwrap();
    let first = transform.apply(&image, &mut StdRng::seed_from_u64(11));
    let again = transform.apply(&image, &mut StdRng::seed_from_u64(11));
    assert!(first == again, "same seed, different pixels");

    let params: Vec<TrainParams> = (0..10)
        .map(|seed| transform.sample(400, 500, &mut StdRng::seed_from_u64(seed)))
        .collect();
    let mut boxes: Vec<(u32, u32, u32, u32)> = params
        .iter()
        .map(|p| (p.crop.top, p.crop.left, p.crop.height, p.crop.width))
        .collect();
    boxes.sort();
    boxes.dedup();
    assert!(boxes.len() >= 9, "10 seeds gave only {} boxes", boxes.len());
}

#[test]
fn flip_mirrors_crop() {
    let transform = TrainTransform::new(40).unwrap();
    let image = load_rgb(&imagenet_photo(SYNSETS[0])).unwrap();
    let crop = CropBox {
        top: 20,
        left: 30,
        height: 150,
        width: 120,
    };
    let plain = transform.apply_params(
        &image,
        &TrainParams {
            crop,
            flip: false,
            autoaugment: None,
        },
    );
    let flipped = transform.apply_params(
        &image,
        &TrainParams {
            crop,
            flip: true,
            autoaugment: None,
        },
    );
    assert!(
        flipped == imageops::flip_horizontal(&plain),
        "flip is not a mirror"
    );
    assert!(
        flipped != plain,
        "the crop is symmetric, so the test cannot see a flip"
    );

    let flips = (0..1000)
        .filter(|&seed| {
            transform
                .sample(376, 263, &mut StdRng::seed_from_u64(seed))
                .flip
        })
        .count();
    assert!((430..=570).contains(&flips), "{flips} of 1000 flipped");

    let no_flip = TrainTransform {
        flip: false,
        ..transform
    };
    let any = (0..200).any(|seed| {
        no_flip
            .sample(376, 263, &mut StdRng::seed_from_u64(seed))
            .flip
    });
    assert!(!any, "flip disabled but drawn");
}

/// Normalises with the ImageNet constants written out here, CHW.
fn imagenet_normalized(image: &RgbImage) -> Vec<f32> {
    let mean = [0.485f32, 0.456, 0.406];
    let std = [0.229f32, 0.224, 0.225];
    let mut out = Vec::new();
    for c in 0..3 {
        for pixel in image.pixels() {
            out.push((f32::from(pixel[c]) / 255.0 - mean[c]) / std[c]);
        }
    }
    out
}

#[test]
fn eval_batches_normalize_with_imagenet_std() {
    let dir = imagenet_dir();
    let val = imagenet::open_split(dir.path(), Split::Val).unwrap();
    let transform = EvalTransform::new(72, 64, 64).unwrap();
    let batches = FileBatches::eval(
        &val,
        2,
        ImageTransform::Eval(transform),
        Normalization::IMAGENET,
    )
    .unwrap();
    let skipped = batches.skipped();
    let batches: Vec<_> = batches.collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].shape(), [2, 3, 64, 64]);
    assert_eq!(batches[1].shape(), [1, 3, 64, 64]);
    assert_eq!(batches[0].labels, [0, 1]);
    assert_eq!(batches[1].labels, [2]);
    assert_eq!(skipped.count(), 0);

    let image_len = 3 * 64 * 64;
    let images = batches
        .iter()
        .flat_map(|b| b.images.chunks_exact(image_len));
    for (i, values) in images.enumerate() {
        let photo = load_rgb(val.path(i)).unwrap();
        let expected = imagenet_normalized(&transform.apply(&photo).unwrap());
        let max_error = values
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max_error < 1e-5, "image {i}: error {max_error}");
    }

    // A red value of 0 maps to (0 - 0.485) / 0.229 and 255 to (1 - 0.485) / 0.229.
    let table = Normalization::IMAGENET.lookup_table();
    assert!((table[0][0] + 2.117_904).abs() < 1e-5, "{}", table[0][0]);
    assert!(
        (table[0][255] - 2.248_908).abs() < 1e-5,
        "{}",
        table[0][255]
    );
    assert!((table[2][255] - 2.64).abs() < 1e-5, "{}", table[2][255]);
}

#[test]
fn train_batches_deterministic_per_seed() {
    let dir = imagenet_dir();
    let train = imagenet::open_split(dir.path(), Split::Train).unwrap();
    let transform = TrainTransform::new(32).unwrap();
    let batches = |batch_size, seed, epoch| -> Vec<data::Batch> {
        FileBatches::train(
            &train,
            batch_size,
            seed,
            epoch,
            transform,
            Normalization::IMAGENET,
        )
        .unwrap()
        .collect()
    };
    let first = batches(4, 7, 0);
    assert_eq!(first.len(), 2);
    assert_eq!((first[0].len, first[1].len), (4, 2));
    assert_eq!(first[0].shape(), [4, 3, 32, 32]);
    assert_eq!(first, batches(4, 7, 0), "same seed and epoch");

    let mut visited: Vec<usize> = first.iter().flat_map(|b| b.indices.clone()).collect();
    for batch in &first {
        for (&index, &label) in batch.indices.iter().zip(&batch.labels) {
            assert_eq!(label as usize, train.label(index), "image {index}");
        }
    }
    let order = visited.clone();
    visited.sort();
    assert_eq!(visited, [0, 1, 2, 3, 4, 5]);
    assert_ne!(order, visited, "seed 7 left the files in listing order");

    let other_epoch = batches(4, 7, 1);
    assert_ne!(first, other_epoch, "epochs 0 and 1 gave the same batches");

    // Each image's crop depends on the epoch and the image, not on the batch.
    let image_len = 3 * 32 * 32;
    let by_index = |batches: &[data::Batch]| {
        let mut images: Vec<(usize, Vec<f32>)> = batches
            .iter()
            .flat_map(|b| {
                b.indices
                    .iter()
                    .copied()
                    .zip(b.images.chunks_exact(image_len))
            })
            .map(|(index, values)| (index, values.to_vec()))
            .collect();
        images.sort_by_key(|(index, _)| *index);
        images
    };
    assert_eq!(by_index(&first), by_index(&batches(3, 7, 0)));
}

#[test]
fn corrupt_files_skipped_and_counted() {
    let dir = imagenet_dir();
    let goldfish = dir.path().join("val").join(SYNSETS[0]);
    let bytes = fs::read(imagenet_photo(SYNSETS[0])).unwrap();
    let truncated = goldfish.join("truncated.JPEG");
    // Cut inside the header segments: zune-jpeg decodes a file cut inside
    // its scan data without an error.
    fs::write(&truncated, &bytes[..200]).unwrap();
    let kite = dir.path().join("val").join(SYNSETS[1]);
    let text = kite.join("text.jpeg");
    fs::write(&text, "not a JPEG").unwrap();
    let val = imagenet::open_split(dir.path(), Split::Val).unwrap();
    assert_eq!(val.len(), 5);

    let transform = ImageTransform::Eval(EvalTransform::new(40, 32, 32).unwrap());
    let batches = FileBatches::eval(&val, 4, transform, Normalization::IMAGENET).unwrap();
    assert_eq!(batches.max_remaining(), 2);
    let skipped = batches.skipped();
    let received: Vec<data::Batch> = prefetch(batches, |batches| batches.collect());
    let labels: Vec<i64> = received.iter().flat_map(|b| b.labels.clone()).collect();
    assert_eq!(labels, [0, 1, 2]);
    assert_eq!(
        received[0].len, 2,
        "two of the first four files are unreadable"
    );
    assert_eq!(received[0].images.len(), 2 * 3 * 32 * 32);
    assert_eq!(skipped.count(), 2);
    assert_eq!(skipped.paths(), [truncated, text]);
}

#[test]
fn batch_of_only_corrupt_files_is_left_out() {
    let dir = imagenet_dir();
    let goldfish = dir.path().join("val").join(SYNSETS[0]);
    for name in ["a.JPEG", "b.JPEG"] {
        fs::write(goldfish.join(name), "").unwrap();
    }
    let val = imagenet::open_split(dir.path(), Split::Val).unwrap();
    // In listing order the first batch of two contains only the empty files.
    let transform = ImageTransform::Train(TrainTransform::new(16).unwrap());
    let batches = FileBatches::eval(&val, 2, transform, Normalization::IMAGENET).unwrap();
    let skipped = batches.skipped();
    let received: Vec<data::Batch> = batches.collect();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].labels, [0, 1]);
    assert_eq!(received[1].labels, [2]);
    assert_eq!(skipped.count(), 2);
}

#[test]
fn file_batches_reject_zero_sizes() {
    let dir = imagenet_dir();
    let val = imagenet::open_split(dir.path(), Split::Val).unwrap();
    let transform = ImageTransform::Resize {
        width: 8,
        height: 8,
    };
    let result = FileBatches::eval(&val, 0, transform, Normalization::IMAGENET);
    let error = result.err().expect("batch size 0 accepted");
    assert!(error.to_string().contains("batch size"), "{error}");

    let empty = ImageTransform::Resize {
        width: 0,
        height: 8,
    };
    let result = FileBatches::eval(&val, 4, empty, Normalization::IMAGENET);
    let error = result.err().expect("width 0 accepted");
    assert!(error.to_string().contains("0x8"), "{error}");
}

/// The ImageNet training transform without AutoAugment gives the same pixels
/// as before AutoAugment existed; the hash was recorded from that version.
#[test]
fn train_transform_matches_recorded_output() {
    let transform = TrainTransform::new(224).unwrap();
    let image = load_rgb(&imagenet_photo(SYNSETS[1])).unwrap();
    let bytes = (0..4u64).flat_map(|seed| {
        let out = transform.apply(&image, &mut StdRng::seed_from_u64(seed));
        out.into_raw()
    });
    let hash = common::fnv1a(bytes);
    assert_eq!(hash, 0x2e79_b2c4_fb4b_b9ab, "{hash:#018x}");
}

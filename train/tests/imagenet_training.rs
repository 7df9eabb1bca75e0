//! `train final --dataset imagenet` from the library, on an ImageNet-style
//! folder made of real ImageNet photos.

use std::path::{Path, PathBuf};

use models::{DatasetKind, ModelFile};
use train::final_training::{self, FinalConfig, RunConfig, CONFIG_FILE, MODEL_FILE, WEIGHTS_FILE};

/// Folder with the real ImageNet photos: `$SHARPDARTS_DATA/imagenet-samples`,
/// or the data folder beside the workspace.
fn imagenet_samples() -> PathBuf {
    let root = std::env::var_os("SHARPDARTS_DATA").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
        PathBuf::from,
    );
    let dir = root.join("imagenet-samples");
    assert!(
        dir.is_dir(),
        "ImageNet photos not found at {}; set SHARPDARTS_DATA to a folder with imagenet-samples/",
        dir.display()
    );
    dir
}

/// Links the first `classes` photos (one per class, named `<synset>_<name>.JPEG`)
/// into `root/train/<synset>/` and `root/val/<synset>/`, and adds a corrupt
/// JPEG to the training split. Returns the synsets in order.
fn make_imagenet_folder(root: &Path, classes: usize) -> Vec<String> {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(imagenet_samples())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    photos.sort();
    let mut synsets = Vec::new();
    for photo in photos.iter().take(classes) {
        let name = photo.file_name().unwrap().to_string_lossy().into_owned();
        let synset = name.split('_').next().unwrap().to_string();
        for split in ["train", "val"] {
            let folder = root.join(split).join(&synset);
            std::fs::create_dir_all(&folder).unwrap();
            std::os::unix::fs::symlink(photo, folder.join(&name)).unwrap();
        }
        synsets.push(synset);
    }
    let corrupt = root.join("train").join(&synsets[0]).join("corrupt.JPEG");
    std::fs::write(corrupt, b"\xff\xd8 not a JPEG").unwrap();
    synsets
}

#[test]
fn imagenet_run_trains_and_records_its_preprocessing() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("imagenet");
    let synsets = make_imagenet_folder(&data, 6);
    let out = dir.path().join("run");
    let config = FinalConfig {
        epochs: 2,
        batch_size: 4,
        init_channels: 8,
        layers: 5,
        warmup_epochs: 0,
        lr: 0.01,
        // Runs the ImageNet AutoAugment policy on real photos.
        autoaugment: true,
        ..FinalConfig::for_dataset(DatasetKind::ImageNet, "SHARP_DARTS", data, out.clone())
    };
    let result = final_training::run(&config).unwrap();
    assert_eq!(result.epochs_completed, 2);
    let settings: RunConfig =
        serde_json::from_str(&std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap()).unwrap();
    assert!(
        settings.config.autoaugment,
        "config.json records AutoAugment"
    );
    // The corrupt file is listed but skipped when decoded.
    assert_eq!(result.train_images, 7);
    assert_eq!(result.test_images, 6);

    let model = ModelFile::load(&out.join(MODEL_FILE)).unwrap();
    assert_eq!(model.architecture, "imagenet");
    assert_eq!(model.network.dataset, DatasetKind::ImageNet);
    assert_eq!(model.network.mid_channels, 96);
    assert_eq!(model.classes, synsets);
    assert_eq!(model.input_size, [3, 224, 224]);
    assert_eq!(model.resize_shorter, Some(256));
    assert_eq!(model.mean, [0.485, 0.456, 0.406]);
    assert_eq!(model.std, [0.229, 0.224, 0.225]);
    assert!(out.join(WEIGHTS_FILE).is_file());
    let counts = models::count_parameters(&model.graph().unwrap());
    assert_eq!(counts.main, result.params);
}

#[test]
fn imagenet_recipe_defaults() {
    let config = FinalConfig::for_dataset(
        DatasetKind::ImageNet,
        "SHARPSEPCONV_DARTS",
        "data".into(),
        "run".into(),
    );
    assert_eq!(
        (config.init_channels, config.layers, config.mid_channels),
        (48, 14, 96)
    );
    assert_eq!((config.epochs, config.batch_size), (300, 256));
    assert_eq!(
        (config.lr, config.lr_min, config.lr_power),
        (0.1, 0.00016, 10.0)
    );
    assert_eq!(config.warmup_epochs, 10);
    assert_eq!(config.weight_decay, 1e-4);
    assert_eq!(config.drop_path_prob, 0.0);
    config.validate().unwrap();
    let network = config.network(1000);
    assert_eq!(network.image_size, 224);
    let with_cutout = FinalConfig {
        cutout: Some(16),
        ..config
    };
    let message = with_cutout.validate().unwrap_err().to_string();
    assert!(message.contains("--cutout-length 16"), "{message}");
}

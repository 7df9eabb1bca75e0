//! Set-up shared by the criterion benchmarks in `benches/main.rs`: the thread
//! count, the data folder, and libtorch networks built as `train final`
//! builds them.

use std::path::{Path, PathBuf};

use models::{build_network, Genotype};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use train::final_training::FinalConfig;
use train::Network;

/// CPU threads of every benchmark: ONNX Runtime's intra-op threads and
/// libtorch's threads (`tch::set_num_threads`).
pub const THREADS: usize = 2;

/// Genotypes of the ONNX Runtime and libtorch inference benchmarks.
pub const GENOTYPES: [&str; 2] = ["SHARPSEPCONV_DARTS", "SHARP_DARTS"];

/// CIFAR-10 network sizes as `(channels, cells)`: the quick-start size and
/// the published one.
pub const CIFAR_SIZES: [(usize, usize); 2] = [(16, 8), (36, 20)];

const CIFAR10_CLASSES: usize = 10;

/// Returns the folder of the real data sets (CIFAR-10 JPEGs, ImageNet sample
/// photos), which is kept outside the repository.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// A CIFAR-10 network on the CPU with the variables, settings and
/// initialisation of `train final`.
pub struct TorchNetwork {
    /// The published CIFAR-10 recipe with the requested size.
    pub config: FinalConfig,
    pub vs: VarStore,
    pub network: Network,
}

/// Builds `genotype` at `channels x cells` as `train final` builds it: the
/// network of [`FinalConfig::network`] (auxiliary head included), seeded
/// with the config's seed.
///
/// # Panics
///
/// Panics when the genotype is unknown or the size is invalid.
pub fn torch_network(genotype: &str, channels: usize, cells: usize) -> TorchNetwork {
    let mut config = FinalConfig::new(genotype, PathBuf::new(), PathBuf::new());
    config.init_channels = channels;
    config.layers = cells;
    config.validate().expect("valid training settings");
    let genotype = Genotype::resolve(&config.genotype).expect("built-in genotype");
    let graph =
        build_network(&genotype, &config.network(CIFAR10_CLASSES)).expect("buildable network");
    tch::manual_seed(config.seed as i64);
    let vs = VarStore::new(Device::Cpu);
    let network = Network::new(&vs.root(), &graph).expect("network variables");
    TorchNetwork {
        config,
        vs,
        network,
    }
}

/// Returns a contiguous NCHW batch of standard-normal 32 x 32 images, the
/// layout in which the trainer passes batches to the network. The network
/// converts it to channels-last itself.
pub fn random_images(batch: usize) -> Tensor {
    Tensor::randn([batch as i64, 3, 32, 32], (Kind::Float, Device::Cpu))
}

/// Returns `batch` random CIFAR-10 class indices.
pub fn random_labels(batch: usize) -> Tensor {
    Tensor::randint(
        CIFAR10_CLASSES as i64,
        [batch as i64],
        (Kind::Int64, Device::Cpu),
    )
}

/// Sets libtorch's intra-op threads to [`THREADS`] and caps oneDNN's
/// instruction set as `train` does, so the benchmarks time the trainer's kernels.
pub fn set_torch_threads() {
    train::onednn::cap_cpu_isa();
    tch::set_num_threads(THREADS as i32);
}

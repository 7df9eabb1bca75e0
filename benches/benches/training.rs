//! One `train final` step: forward in training mode with the auxiliary head
//! and drop path, loss, backward, gradient clipping and an SGD step.

use benches::{random_images, random_labels, set_torch_threads, torch_network, CIFAR_SIZES};
use criterion::{Criterion, SamplingMode, Throughput};
use train::final_training::{apply_gradients, sgd, training_loss};

/// Training steps of SHARPSEPCONV_DARTS at each size in [`CIFAR_SIZES`], at
/// the recipe's batch size (64) and the last epoch's drop path probability.
///
/// The step leaves out what the trainer does around it: batch preparation,
/// which a second thread overlaps with training, and the accuracy count.
pub fn step(c: &mut Criterion) {
    set_torch_threads();
    for (channels, cells) in CIFAR_SIZES {
        let torch = torch_network("SHARPSEPCONV_DARTS", channels, cells);
        let config = &torch.config;
        let mut optimizer = sgd(&torch.vs, config).unwrap();
        let images = random_images(config.batch_size);
        let labels = random_labels(config.batch_size);

        let mut group =
            c.benchmark_group(format!("training/SHARPSEPCONV_DARTS_{channels}x{cells}"));
        // On 2 idle cores a step takes about 0.5 s at 16 x 8 and about 5 s at
        // 36 x 20 (12 images/s), so both sizes run criterion's minimum of 10
        // samples of one step each. At 36 x 20 that still takes about a minute.
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(config.batch_size as u64));
        group.bench_function(format!("batch_{}", config.batch_size), |b| {
            b.iter(|| {
                let (_logits, loss) = training_loss(
                    &torch.network,
                    &images,
                    &labels,
                    config.auxiliary_weight,
                    config.drop_path_prob,
                )
                .unwrap();
                // The trainer reads the loss before the backward pass to stop on NaN.
                let loss_value = loss.double_value(&[]);
                assert!(loss_value.is_finite(), "training loss became {loss_value}");
                apply_gradients(&mut optimizer, &loss, config.grad_clip).unwrap();
                loss_value
            })
        });
        group.finish();
    }
}

//! Search steps on small supernetworks.

use std::time::Instant;

use models::search::{build_search_network, SearchConfig, Weighting};
use models::PrimitiveSet;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use train::search::arch::ArchWeights;
use train::search::optim::{Adam, Sgd};
use train::search::supernet::{weight_step, Architect, Batch, Supernet};
use train::Network;

fn supernet(config: &SearchConfig) -> Supernet {
    let graph = build_search_network(config).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let network = Network::new(&vs.root(), &graph).unwrap();
    let arch = ArchWeights::new(
        config.rows(),
        config.candidates().unwrap().len(),
        Device::Cpu,
    );
    Supernet::new(vs, network, arch, config.weighting)
}

fn batch(n: i64, size: i64) -> Batch {
    Batch {
        images: Tensor::randn([n, 3, size, size], (Kind::Float, Device::Cpu)),
        labels: Tensor::randint(10, [n], (Kind::Int64, Device::Cpu)),
    }
}

/// Returns a supernetwork small enough for finite differences: 4 channels,
/// 3 cells, 2 nodes per cell, 8x8 images.
fn tiny_config(weighting: Weighting) -> SearchConfig {
    SearchConfig {
        primitives: PrimitiveSet::Darts,
        weighting,
        init_channels: 4,
        layers: 3,
        steps: 2,
        multiplier: 2,
        image_size: 8,
        ..SearchConfig::default()
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

fn changed(before: &[f64], after: &Tensor) -> bool {
    before
        .iter()
        .zip(values(after))
        .any(|(a, b)| (a - b).abs() > 0.0)
}

#[test]
fn search_steps_update_both_weight_sets() {
    for (second_order, weighting) in [(false, Weighting::Scalar), (true, Weighting::MaxW)] {
        tch::manual_seed(5);
        let net = supernet(&tiny_config(weighting));
        let mut sgd = Sgd::new(net.weights.len(), 0.9, 3e-4);
        let mut architect = Architect {
            adam: Adam::new(&net.arch.tensors(), 3e-4, (0.5, 0.999), 1e-3),
            second_order,
        };
        let alpha_before = values(&net.arch.normal);
        let weight_before = values(&net.weights[0].1);
        let variables_before: Vec<Vec<f64>> =
            net.variables.iter().map(|(_, t)| values(t)).collect();
        let (train, valid) = (batch(4, 8), batch(4, 8));
        // The first weight step creates the momentum that the unrolled step reads.
        weight_step(&net, &mut sgd, &train, 0.05, 5.0).unwrap();
        let after_weights: Vec<Vec<f64>> = net.variables.iter().map(|(_, t)| values(t)).collect();
        let step = architect.step(&net, &train, &valid, 0.05, &sgd).unwrap();
        assert!(step.valid_loss.is_finite());
        assert!(changed(&alpha_before, &net.arch.normal), "α moved");
        assert!(changed(&weight_before, &net.weights[0].1), "weights moved");
        // The architecture step leaves every network variable as it found it
        // in the second order (restored) and changes only BatchNorm
        // statistics in the first order.
        for ((name, t), before) in net.variables.iter().zip(&after_weights) {
            let same = !changed(before, t);
            if second_order || t.requires_grad() {
                assert!(same, "{name} changed in the architecture step");
            }
        }
        assert_ne!(variables_before, after_weights);
    }
}

/// The validation loss after one virtual SGD step, as a function of α, is
/// what the second-order gradient differentiates: compare with central
/// differences of that function on a few α entries, in double precision.
#[test]
fn second_order_matches_finite_differences() {
    tch::manual_seed(11);
    let mut net = supernet(&tiny_config(Weighting::Scalar));
    net.vs.double();
    for alpha in net.arch.tensors() {
        tch::no_grad(|| {
            alpha
                .shallow_clone()
                .set_data(&(alpha.to_kind(Kind::Double) * 300.0))
        });
    }
    let to_double = |b: Batch| Batch {
        images: b.images.to_kind(Kind::Double),
        labels: b.labels,
    };
    let (train, valid) = (to_double(batch(4, 8)), to_double(batch(4, 8)));
    let lr = 0.1;
    let sgd = Sgd::new(net.weights.len(), 0.9, 3e-4);
    // ReLU and max pooling make the loss only piecewise smooth, so the
    // published radius (0.01 / |u|) crosses kinks and gives an approximate
    // Hessian-vector product. A radius small enough to stay on one piece
    // checks the formula itself.
    let radius = 1e-7;
    let (grads, _) =
        train::search::supernet::unrolled_gradient(&net, &train, &valid, lr, &sgd, radius).unwrap();
    let analytic = values(&grads[0]);

    // f(α) = L_val(w - lr (∇_w L_train(w, α) + wd w), α), with w restored after.
    let unrolled_loss = |net: &Supernet| -> f64 {
        let snapshot: Vec<Tensor> = net.variables.iter().map(|(_, t)| t.copy()).collect();
        let weights = net.weight_tensors();
        let loss = net.loss(&train, false).unwrap();
        let g = Tensor::run_backward(&[loss], &weights, false, false);
        tch::no_grad(|| {
            for (w, g) in weights.iter().zip(&g) {
                let step = g + w * 3e-4;
                let _ = w.shallow_clone().f_sub_(&(step * lr)).unwrap();
            }
        });
        let value = tch::no_grad(|| net.loss(&valid, false).unwrap().double_value(&[]));
        tch::no_grad(|| {
            for ((_, v), s) in net.variables.iter().zip(&snapshot) {
                v.shallow_clone().copy_(s);
            }
        });
        value
    };
    let epsilon = 1e-6;
    let columns = net.arch.normal.size()[1];
    let mut worst: f64 = 0.0;
    let mut scale: f64 = 0.0;
    for entry in [0i64, 3, columns + 1, 2 * columns + 4] {
        let nudge = |delta: f64| {
            tch::no_grad(|| {
                let flat = net.arch.normal.view([-1]);
                let _ = flat
                    .get(entry)
                    .shallow_clone()
                    .f_add_scalar_(delta)
                    .unwrap();
            })
        };
        nudge(epsilon);
        let plus = unrolled_loss(&net);
        nudge(-2.0 * epsilon);
        let minus = unrolled_loss(&net);
        nudge(epsilon);
        let numeric = (plus - minus) / (2.0 * epsilon);
        let exact = analytic[entry as usize];
        eprintln!("α[{entry}]: second order {exact:.6e}, finite difference {numeric:.6e}");
        worst = worst.max((exact - numeric).abs());
        scale = scale.max(numeric.abs());
    }
    assert!(
        scale > 1e-6,
        "the gradient is too small to compare: {scale:e}"
    );
    assert!(
        worst <= 1e-4 * scale,
        "largest difference {worst:e} against gradient scale {scale:e}"
    );
}

/// Times search steps at the published size (16 channels, 8 cells, batch
/// 32, 2 threads) for both orders and weightings; run with `--ignored
/// --nocapture`. `PRIMITIVES=DARTS_PRIMITIVES` or `SHARPER_PRIMITIVES`
/// changes the search space.
#[test]
#[ignore = "timing: prints seconds per step"]
fn step_timing() {
    tch::set_num_threads(2);
    let primitives = match std::env::var("PRIMITIVES").as_deref() {
        Ok("DARTS_PRIMITIVES") => PrimitiveSet::Darts,
        Ok("SHARPER_PRIMITIVES") => PrimitiveSet::Sharper,
        _ => PrimitiveSet::Sharp,
    };
    for (second_order, weighting) in [
        (false, Weighting::Scalar),
        (false, Weighting::MaxW),
        (true, Weighting::Scalar),
        (true, Weighting::MaxW),
    ] {
        tch::manual_seed(0);
        let config = SearchConfig {
            primitives,
            weighting,
            ..SearchConfig::default()
        };
        let net = supernet(&config);
        let mut sgd = Sgd::new(net.weights.len(), 0.9, 3e-4);
        let mut architect = Architect {
            adam: Adam::new(&net.arch.tensors(), 3e-4, (0.5, 0.999), 1e-3),
            second_order,
        };
        let (train, valid) = (batch(32, 32), batch(32, 32));
        let mut seconds = Vec::new();
        for _ in 0..4 {
            let start = Instant::now();
            architect.step(&net, &train, &valid, 0.025, &sgd).unwrap();
            weight_step(&net, &mut sgd, &train, 0.025, 5.0).unwrap();
            seconds.push(start.elapsed().as_secs_f64());
        }
        // The first step sets up libtorch's kernels for every shape.
        let steady = &seconds[1..];
        let mean = steady.iter().sum::<f64>() / steady.len() as f64;
        eprintln!(
            "{primitives} order {} {}: first step {:.1} s, then {mean:.2} s per step \
             ({steady:.2?}); peak memory {:.2} GiB",
            if second_order { 2 } else { 1 },
            weighting.name(),
            seconds[0],
            train::search::memory::peak_resident_memory().unwrap_or(0) as f64 / (1u64 << 30) as f64
        );
    }
}

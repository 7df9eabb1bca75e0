//! The libtorch network against the graph description in `models`.

use std::collections::BTreeMap;

use models::genotype::named_genotypes;
use models::{build_network, count_parameters, Genotype, Graph, NetworkConfig, Scope};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use train::{checkpoint, Network, TrainError};

fn tiny_config(init_channels: usize, layers: usize) -> NetworkConfig {
    NetworkConfig::cifar10(init_channels, layers)
}

fn build(genotype: &Genotype, config: &NetworkConfig) -> (VarStore, Network) {
    let vs = VarStore::new(Device::Cpu);
    let graph = build_network(genotype, config).unwrap();
    let network = Network::new(&vs.root(), &graph).unwrap();
    (vs, network)
}

fn genotypes() -> Vec<(&'static str, Genotype)> {
    named_genotypes()
        .iter()
        .map(|g| (g.name.as_str(), g.genotype()))
        .collect()
}

fn batch(n: i64) -> Tensor {
    Tensor::randn([n, 3, 32, 32], (Kind::Float, Device::Cpu))
}

fn graph_shapes(graph: &Graph) -> BTreeMap<String, Vec<i64>> {
    graph
        .parameters()
        .into_iter()
        .map(|p| (p.name, p.shape.iter().map(|&d| d as i64).collect()))
        .collect()
}

#[test]
fn variables_match_graph_parameters() {
    for (name, genotype) in genotypes() {
        for (c, layers) in [(8, 5), (4, 3)] {
            let config = tiny_config(c, layers);
            let (vs, network) = build(&genotype, &config);
            let expected = graph_shapes(network.graph());
            let actual: BTreeMap<String, Vec<i64>> = vs
                .variables()
                .into_iter()
                .map(|(k, v)| (k, v.size()))
                .collect();
            assert_eq!(actual, expected, "{name} C={c} L={layers}");
        }
    }
}

#[test]
fn variable_names_follow_module_layout() {
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let (vs, _) = build(&genotype, &tiny_config(8, 5));
    let variables = vs.variables();
    for name in [
        "stem.0.weight",
        "stem.1.running_var",
        "cells.0.preprocess0.op.1.weight",
        "cells.0._ops.0.op.1.weight",
        "cells.0.preprocess0.op.2.running_mean",
        // Layers 5: cells 1 and 3 reduce, so cells 2 and 4 get FactorizedReduce.
        "cells.2.preprocess0.conv_1.weight",
        "cells.4.preprocess0.bn.bias",
        "cells.3.preprocess1.op.1.weight",
        "auxiliary_head.features.5.weight",
        "classifier.bias",
    ] {
        assert!(variables.contains_key(name), "missing {name}");
    }
}

#[test]
fn trainable_count_matches_models_count() {
    for (name, genotype) in genotypes() {
        let (vs, network) = build(&genotype, &tiny_config(8, 5));
        let counts = count_parameters(network.graph());
        let trainable: usize = vs.trainable_variables().iter().map(Tensor::numel).sum();
        assert_eq!(trainable, counts.with_auxiliary, "{name} with auxiliary");

        let main_names: Vec<String> = network
            .graph()
            .parameters()
            .into_iter()
            .filter(|p| p.scope == Scope::Main && !p.role.is_buffer())
            .map(|p| p.name)
            .collect();
        let variables = vs.variables();
        let main: usize = main_names.iter().map(|n| variables[n].numel()).sum();
        assert_eq!(main, counts.main, "{name} main");
        for name in main_names {
            assert!(variables[&name].requires_grad(), "{name} is trainable");
        }
    }
}

#[test]
fn running_statistics_are_buffers() {
    let genotype = Genotype::resolve("DARTS").unwrap();
    let (vs, _) = build(&genotype, &tiny_config(4, 3));
    for (name, tensor) in vs.variables() {
        let is_buffer = name.ends_with("running_mean") || name.ends_with("running_var");
        assert_eq!(tensor.requires_grad(), !is_buffer, "{name}");
        if name.ends_with("running_var") {
            assert_eq!(f64::try_from(tensor.min()).unwrap(), 1.0, "{name}");
        }
    }
}

#[test]
fn default_initialisation_bounds() {
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let (vs, network) = build(&genotype, &tiny_config(8, 5));
    let variables = vs.variables();
    for param in network.graph().parameters() {
        let tensor = &variables[&param.name];
        let max_abs = f64::try_from(tensor.abs().max()).unwrap();
        let mean = f64::try_from(tensor.mean(Kind::Float)).unwrap();
        match param.role {
            models::ParamRole::ConvWeight | models::ParamRole::LinearWeight => {
                let fan_in: usize = param.shape[1..].iter().product();
                let bound = 1.0 / (fan_in as f64).sqrt();
                assert!(
                    max_abs <= bound * (1.0 + 1e-6),
                    "{}: {max_abs} > {bound}",
                    param.name
                );
                assert!(
                    max_abs > 0.5 * bound,
                    "{}: {max_abs} far below {bound}",
                    param.name
                );
            }
            models::ParamRole::BnWeight | models::ParamRole::BnRunningVar => {
                assert_eq!((mean, max_abs), (1.0, 1.0), "{}", param.name)
            }
            models::ParamRole::BnBias | models::ParamRole::BnRunningMean => {
                assert_eq!(max_abs, 0.0, "{}", param.name)
            }
            models::ParamRole::LinearBias | models::ParamRole::ConvBias => {
                assert!(max_abs > 0.0, "{}", param.name)
            }
        }
    }
}

#[test]
fn output_shapes_and_auxiliary_only_in_training() {
    for (name, genotype) in genotypes() {
        let (_vs, network) = build(&genotype, &tiny_config(8, 5));
        let x = batch(3);
        let (logits, aux) = network.forward_t(&x, true, 0.2);
        assert_eq!(logits.size(), [3, 10], "{name} logits");
        assert_eq!(
            aux.expect("auxiliary logits in training").size(),
            [3, 10],
            "{name}"
        );

        let (logits, aux) = tch::no_grad(|| network.forward_t(&x, false, 0.2));
        assert_eq!(logits.size(), [3, 10], "{name} eval logits");
        assert!(aux.is_none(), "{name}: no auxiliary logits in inference");
    }
}

#[test]
fn no_auxiliary_head_when_disabled() {
    let genotype = Genotype::resolve("DARTS").unwrap();
    let config = NetworkConfig {
        auxiliary: false,
        ..tiny_config(4, 3)
    };
    let (vs, network) = build(&genotype, &config);
    assert!(vs
        .variables()
        .keys()
        .all(|k| !k.starts_with("auxiliary_head")));
    let (_, aux) = network.forward_t(&batch(2), true, 0.0);
    assert!(aux.is_none());
}

#[test]
fn inference_is_deterministic_and_batch_independent() {
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let (_vs, network) = build(&genotype, &tiny_config(4, 3));
    let x = batch(4);
    let (all, _) = tch::no_grad(|| network.forward_t(&x, false, 0.0));
    let (again, _) = tch::no_grad(|| network.forward_t(&x, false, 0.0));
    assert!(all.equal(&again));
    // Running statistics make each sample's logits independent of the batch.
    let (first, _) = tch::no_grad(|| network.forward_t(&x.narrow(0, 0, 1), false, 0.0));
    assert!(first.allclose(&all.narrow(0, 0, 1), 1e-4, 1e-5, false));
}

#[test]
fn training_updates_running_statistics() {
    let genotype = Genotype::resolve("DARTS").unwrap();
    let (vs, network) = build(&genotype, &tiny_config(4, 3));
    let before = vs.variables()["stem.1.running_mean"].copy();
    let x = batch(8) * 2.0 + 1.0;
    let _ = tch::no_grad(|| network.forward_t(&x, true, 0.0));
    let after = vs.variables()["stem.1.running_mean"].copy();
    assert!(!before.equal(&after), "running mean moved in training");

    let _ = tch::no_grad(|| network.forward_t(&x, false, 0.0));
    let unchanged = vs.variables()["stem.1.running_mean"].copy();
    assert!(
        after.equal(&unchanged),
        "inference leaves running statistics alone"
    );
}

#[test]
fn drop_path_changes_training_output() {
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let (_vs, network) = build(&genotype, &tiny_config(4, 3));
    let x = batch(4);
    tch::manual_seed(1);
    let (plain, _) = tch::no_grad(|| network.forward_t(&x, true, 0.0));
    let (dropped, _) = tch::no_grad(|| network.forward_t(&x, true, 0.5));
    assert!(!plain.allclose(&dropped, 1e-5, 1e-6, false));
    let (eval_a, _) = tch::no_grad(|| network.forward_t(&x, false, 0.0));
    let (eval_b, _) = tch::no_grad(|| network.forward_t(&x, false, 0.5));
    assert!(eval_a.equal(&eval_b), "drop path is off in inference");
}

#[test]
fn wrong_input_shape_is_an_error() {
    let genotype = Genotype::resolve("DARTS").unwrap();
    let (_vs, network) = build(&genotype, &tiny_config(4, 3));
    let x = Tensor::zeros([2, 3, 28, 28], (Kind::Float, Device::Cpu));
    let error = network.f_forward_t(&x, false, 0.0).unwrap_err();
    assert!(matches!(error, TrainError::InputShape { .. }), "{error}");
    assert!(error.to_string().contains("[2, 3, 28, 28]"), "{error}");
}

#[test]
fn backward_reaches_every_trainable_variable() {
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let (vs, network) = build(&genotype, &tiny_config(4, 3));
    let (logits, aux) = network.forward_t(&batch(4), true, 0.0);
    let labels = Tensor::from_slice(&[0i64, 1, 2, 3]);
    let loss = logits.cross_entropy_for_logits(&labels)
        + aux.unwrap().cross_entropy_for_logits(&labels) * 0.4;
    loss.backward();
    for (name, tensor) in vs.variables() {
        if tensor.requires_grad() {
            assert!(tensor.grad().defined(), "{name} has a gradient");
        }
    }
}

#[test]
fn checkpoint_round_trip() {
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let config = tiny_config(4, 3);
    let (vs, network) = build(&genotype, &config);
    // Move the running statistics away from their initial values.
    let _ = tch::no_grad(|| network.forward_t(&(batch(8) + 0.5), true, 0.0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    checkpoint::save(&vs, &path).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");

    let (mut fresh_vs, fresh) = build(&genotype, &config);
    checkpoint::load(&mut fresh_vs, &path).unwrap();
    let x = batch(3);
    let (expected, _) = tch::no_grad(|| network.forward_t(&x, false, 0.0));
    let (actual, _) = tch::no_grad(|| fresh.forward_t(&x, false, 0.0));
    assert!(expected.equal(&actual), "identical logits after reload");

    let stored = Tensor::read_safetensors(&path).unwrap();
    let mean = stored
        .iter()
        .find(|(n, _)| n == "stem.1.running_mean")
        .unwrap();
    assert!(mean.1.equal(&vs.variables()["stem.1.running_mean"]));
}

#[test]
fn checkpoint_of_other_genotype_is_rejected() {
    let config = tiny_config(4, 3);
    let (vs, _) = build(&Genotype::resolve("DARTS").unwrap(), &config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    checkpoint::save(&vs, &path).unwrap();

    let (mut other_vs, _) = build(&Genotype::resolve("SHARPSEPCONV_DARTS").unwrap(), &config);
    let before = other_vs.variables()["stem.0.weight"].copy();
    let error = checkpoint::load(&mut other_vs, &path).unwrap_err();
    assert!(
        matches!(error, TrainError::CheckpointMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("missing"), "{error}");
    assert!(
        before.equal(&other_vs.variables()["stem.0.weight"]),
        "nothing is loaded"
    );
}

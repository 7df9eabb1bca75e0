//! Parameter and multiply-add counts against figures measured with the
//! published PyTorch code (CIFAR, 36 channels, 20 cells, choke width 32).

use models::graph::GraphBuilder;
use models::ops::OpSettings;
use models::{build_cifar, count_macs, count_parameters, Genotype, NetworkConfig, Primitive};

fn counts(name: &str) -> (usize, usize, u64) {
    let genotype = Genotype::resolve(name).unwrap();
    let graph = build_cifar(&genotype, &NetworkConfig::cifar10(36, 20)).unwrap();
    let params = count_parameters(&graph);
    (params.main, params.with_auxiliary, count_macs(&graph))
}

#[test]
fn darts_v2_cifar_counts() {
    let (main, with_aux, macs) = counts("DARTS");
    assert_eq!(main, 3_529_270);
    assert_eq!(with_aux, 4_005_696);
    assert_eq!(macs, 576_005_760);
}

#[test]
fn other_published_cifar_counts() {
    // (genotype, parameters without and with the auxiliary head, MACs)
    let table = [
        ("SHARP_DARTS", 1_974_934, 2_451_360, 356_729_472),
        ("DARTS_V1", 3_169_414, 3_645_840, 518_940_288),
        (
            "SHARPSEPCONV_DARTS_MAX_W",
            3_546_550,
            4_022_976,
            574_844_544,
        ),
    ];
    for (name, main, with_aux, macs) in table {
        assert_eq!(counts(name), (main, with_aux, macs), "{name}");
    }
}

#[test]
fn every_named_genotype_builds() {
    for named in models::genotype::named_genotypes() {
        let config = NetworkConfig::cifar10(16, 8);
        let graph = build_cifar(&named.genotype(), &config)
            .unwrap_or_else(|e| panic!("{}: {e}", named.name));
        assert_eq!(
            graph.nodes[graph.logits].shape,
            [10, 1, 1],
            "{}",
            named.name
        );
    }
    assert_eq!(models::genotype::named_genotypes().len(), 14);
}

#[test]
fn sharpsepconv_darts_cifar_counts() {
    let (main, with_aux, macs) = counts("SHARPSEPCONV_DARTS");
    assert_eq!(main, 3_555_622);
    assert_eq!(with_aux, 4_032_048);
    assert_eq!(macs, 578_604_672);
}

#[test]
fn classifier_and_shapes() {
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let graph = build_cifar(&genotype, &NetworkConfig::cifar10(36, 20)).unwrap();
    let params = graph.parameters();
    let classifier = params
        .iter()
        .find(|p| p.name == "classifier.weight")
        .unwrap();
    assert_eq!(classifier.shape, vec![10, 576]);
    assert_eq!(graph.nodes[graph.aux_logits.unwrap()].shape, [10, 1, 1]);
    // The auxiliary head has 476,426 parameters at 576 channels and 10 classes.
    let aux: usize = params
        .iter()
        .filter(|p| p.scope == models::Scope::Auxiliary && !p.role.is_buffer())
        .map(|p| p.numel())
        .sum();
    assert_eq!(aux, 476_426);
}

/// Builds one operation on a 16x16x16 input and counts it.
fn op_counts(primitive: Primitive, stride: usize) -> (usize, u64, [usize; 3]) {
    let mut b = GraphBuilder::new([16, 16, 16]);
    let settings = OpSettings {
        affine: true,
        mid_channels: 32,
    };
    let out = b.primitive(GraphBuilder::INPUT, primitive, "op", stride, settings);
    let graph = b.finish(out, None);
    let shape = graph.nodes[out].shape;
    (count_parameters(&graph).main, count_macs(&graph), shape)
}

#[test]
fn per_operation_counts() {
    // (primitive, params, MACs at stride 1, MACs at stride 2)
    let table = [
        (Primitive::None, 0, 0, 0),
        (Primitive::MaxPool3x3, 0, 4096, 4096),
        (Primitive::AvgPool3x3, 0, 4096, 4096),
        (Primitive::SepConv3x3, 864, 229_376, 60_416),
        (Primitive::DilConv3x3, 864, 229_376, 60_416),
        (Primitive::SepConv5x5, 1376, 360_448, 93_184),
        (Primitive::DilConv5x5, 1376, 360_448, 93_184),
        (Primitive::SepConv7x7, 2144, 557_056, 142_336),
        (Primitive::FloodConv3x3, 2928, 770_048, 195_584),
        (Primitive::DilFloodConv3x3, 2928, 770_048, 195_584),
        (Primitive::FloodConv5x5, 4208, 1_097_728, 277_504),
        (Primitive::ChokeConv3x3, 1552, 409_600, 105_472),
        (Primitive::DilChokeConv3x3, 1552, 409_600, 105_472),
        (Primitive::Conv7x1_1x7, 3616, 929_792, 350_208),
    ];
    for (primitive, params, macs1, macs2) in table {
        let (p1, m1, shape1) = op_counts(primitive, 1);
        let (p2, m2, shape2) = op_counts(primitive, 2);
        assert_eq!(p1, params, "{primitive} parameters at stride 1");
        assert_eq!(p2, params, "{primitive} parameters at stride 2");
        assert_eq!(m1, macs1, "{primitive} MACs at stride 1");
        assert_eq!(m2, macs2, "{primitive} MACs at stride 2");
        assert_eq!(shape1, [16, 16, 16], "{primitive} output at stride 1");
        assert_eq!(shape2, [16, 8, 8], "{primitive} output at stride 2");
    }
    let (params, macs, shape) = op_counts(Primitive::SkipConnect, 2);
    assert_eq!((params, macs, shape), (288, 22_528, [16, 8, 8]));
    assert_eq!(op_counts(Primitive::SkipConnect, 1), (0, 0, [16, 16, 16]));
}

#[test]
fn oversized_network_rejected() {
    let genotype = Genotype::resolve("DARTS").unwrap();
    let error = build_cifar(&genotype, &NetworkConfig::cifar10(4096, 1000)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("exceeds the limit"), "{message}");
    assert!(message.contains("--init-channels 4096"), "{message}");
    let error = build_cifar(&genotype, &NetworkConfig::cifar10(100_000, 8)).unwrap_err();
    assert!(
        error.to_string().contains("--init-channels 100000"),
        "{error}"
    );
    let error = build_cifar(&genotype, &NetworkConfig::cifar10(16, usize::MAX)).unwrap_err();
    assert!(error.to_string().contains("--layers"), "{error}");
}

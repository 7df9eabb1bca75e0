//! Parameter and multiply-add counts against figures measured with the
//! published PyTorch code: CIFAR at 36 channels and 20 cells, ImageNet at 48
//! channels and 14 cells, both operation tables, and single operations.

use models::graph::GraphBuilder;
use models::ops::OpSettings;
use models::{
    build_network, count_macs, count_parameters, Genotype, NetworkConfig, Op, OpTable, Primitive,
};

fn counts_for(name: &str, config: &NetworkConfig) -> (usize, usize, u64) {
    let genotype = Genotype::resolve(name).unwrap();
    let graph = build_network(&genotype, config).unwrap();
    let params = count_parameters(&graph);
    (params.main, params.with_auxiliary, count_macs(&graph))
}

fn counts(name: &str) -> (usize, usize, u64) {
    counts_for(name, &NetworkConfig::cifar10(36, 20))
}

#[test]
fn darts_ops_cifar_counts() {
    let config = NetworkConfig {
        ops: OpTable::Darts,
        ..NetworkConfig::cifar10(36, 20)
    };
    let darts = counts_for("DARTS", &config);
    assert_eq!(darts, (3_349_342, 3_825_768, 547_473_024));
    // DARTS_V1 has no dilated convolution, so both tables give one size.
    assert_eq!(counts_for("DARTS_V1", &config), counts("DARTS_V1"));
}

#[test]
fn imagenet_counts() {
    // (genotype, choke width, parameters without and with the auxiliary head, MACs)
    let table = [
        ("SHARPSEPCONV_DARTS", 96, 4_973_728, 6_236_040, 572_981_376),
        ("SHARP_DARTS", 96, 3_714_880, 4_977_192, 481_055_808),
    ];
    for (name, mid, main, with_aux, macs) in table {
        let config = NetworkConfig {
            mid_channels: mid,
            ..NetworkConfig::imagenet(48, 14)
        };
        assert_eq!(counts_for(name, &config), (main, with_aux, macs), "{name}");
    }
    // SHARPSEPCONV_DARTS has no choke convolution: the width changes nothing.
    let narrow = NetworkConfig {
        mid_channels: 32,
        ..NetworkConfig::imagenet(48, 14)
    };
    assert_eq!(
        counts_for("SHARPSEPCONV_DARTS", &narrow),
        (4_973_728, 6_236_040, 572_981_376)
    );
}

#[test]
fn imagenet_shapes() {
    let genotype = Genotype::resolve("SHARPSEPCONV_DARTS").unwrap();
    let graph = build_network(&genotype, &NetworkConfig::imagenet(48, 14)).unwrap();
    let output_of = |prefix: &str| {
        // The last node whose layer name starts with `prefix`.
        let node = graph
            .nodes
            .iter()
            .rposition(|n| layer_name(&n.op).is_some_and(|name| name.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no layer {prefix}"));
        graph.nodes[node].shape
    };
    assert_eq!(output_of("stem0."), [48, 56, 56]);
    assert_eq!(output_of("stem1."), [48, 28, 28]);
    assert_eq!(output_of("cells.0.preprocess0"), [48, 28, 28]);
    assert_eq!(output_of("cells.4._ops"), [96, 14, 14]);
    assert_eq!(output_of("cells.9._ops"), [192, 7, 7]);
    assert_eq!(output_of("cells.13._ops"), [192, 7, 7]);
    let params = graph.parameters();
    let classifier = params.iter().find(|p| p.name == "classifier.weight");
    assert_eq!(classifier.unwrap().shape, vec![1000, 768]);
    let aux: usize = params
        .iter()
        .filter(|p| p.scope == models::Scope::Auxiliary && !p.role.is_buffer())
        .map(|p| p.numel())
        .sum();
    assert_eq!(aux, 1_262_312);
}

/// Returns the parameter prefix of a layer with weights.
fn layer_name(op: &Op) -> Option<&str> {
    match op {
        Op::Conv2d(conv) => Some(&conv.name),
        Op::BatchNorm(bn) => Some(&bn.name),
        Op::Linear(linear) => Some(&linear.name),
        _ => None,
    }
}

#[test]
fn darts_table_rejects_sharp_only_operations() {
    let genotype = Genotype::resolve("SHARP_DARTS").unwrap();
    let config = NetworkConfig {
        ops: OpTable::Darts,
        ..NetworkConfig::cifar10(16, 8)
    };
    let message = build_network(&genotype, &config).unwrap_err().to_string();
    assert!(message.contains("--ops darts"), "{message}");
    assert!(message.contains("choke_conv_3x3"), "{message}");
    assert!(message.contains("use --ops sharp"), "{message}");
}

#[test]
fn image_size_limits_follow_the_network_type() {
    let genotype = Genotype::resolve("DARTS").unwrap();
    let small = NetworkConfig {
        image_size: 192,
        ..NetworkConfig::imagenet(8, 5)
    };
    let message = build_network(&genotype, &small).unwrap_err().to_string();
    assert!(message.contains("--image-size 192"), "{message}");
    assert!(message.contains("multiple of 32 from 224"), "{message}");
    let without_head = NetworkConfig {
        auxiliary: false,
        ..small
    };
    let graph = build_network(&genotype, &without_head).unwrap();
    assert_eq!(graph.nodes[graph.logits].shape, [1000, 1, 1]);
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
    let configs = [NetworkConfig::cifar10(16, 8), NetworkConfig::imagenet(8, 5)];
    for named in models::genotype::named_genotypes() {
        for config in &configs {
            let graph = build_network(&named.genotype(), config)
                .unwrap_or_else(|e| panic!("{} on {}: {e}", named.name, config.dataset));
            let classes = config.num_classes;
            let label = format!("{} on {}", named.name, config.dataset);
            assert_eq!(graph.nodes[graph.logits].shape, [classes, 1, 1], "{label}");
            let aux = graph.aux_logits.expect("auxiliary head");
            assert_eq!(graph.nodes[aux].shape, [classes, 1, 1], "{label}");
        }
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
    let graph = build_network(&genotype, &NetworkConfig::cifar10(36, 20)).unwrap();
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
    table_op_counts(OpTable::Sharp, primitive, stride)
}

fn table_op_counts(
    table: OpTable,
    primitive: Primitive,
    stride: usize,
) -> (usize, u64, [usize; 3]) {
    let mut b = GraphBuilder::new([16, 16, 16]);
    let settings = OpSettings {
        affine: true,
        mid_channels: 32,
        table,
    };
    let out = b.primitive(GraphBuilder::INPUT, primitive, "op", stride, settings);
    let graph = b.finish(out, None);
    let shape = graph.nodes[out].shape;
    (count_parameters(&graph).main, count_macs(&graph), shape)
}

/// Counts a graph built by `build` on a 32x16x16 input.
fn block_counts(build: impl Fn(&mut GraphBuilder) -> usize) -> (usize, u64, [usize; 3]) {
    let mut b = GraphBuilder::new([32, 16, 16]);
    let out = build(&mut b);
    let graph = b.finish(out, None);
    let shape = graph.nodes[out].shape;
    (count_parameters(&graph).main, count_macs(&graph), shape)
}

#[test]
fn channel_changing_blocks() {
    let x = GraphBuilder::INPUT;
    let pool = |stride| block_counts(|b| b.resizable_pool(x, "pool", 64, stride, true, true));
    assert_eq!(pool(1), (2176, 565_248, [64, 16, 16]));
    assert_eq!(pool(2), (2176, 147_456, [64, 8, 8]));
    let ssc = block_counts(|b| b.sharp_sep_conv(x, "ssc", 64, 3, 2, 1, 1, 64, true));
    assert_eq!(ssc, (7264, 477_184, [64, 8, 8]));
    let reduce = block_counts(|b| b.factorized_reduce(x, "reduce", 64, true));
    assert_eq!(reduce, (2176, 147_456, [64, 8, 8]));
    let relu_conv_bn = block_counts(|b| b.relu_conv_bn(x, "rcb", 64, true));
    assert_eq!(relu_conv_bn, (2176, 565_248, [64, 16, 16]));
    // Without a channel change ResizablePool is the bare pool.
    let same = block_counts(|b| b.resizable_pool(x, "pool", 32, 1, false, true));
    assert_eq!(same, (0, 8192, [32, 16, 16]));
}

#[test]
fn darts_table_operation_counts() {
    // Rows that differ from the sharp table: single-stage dilated convolutions.
    let table = [
        (Primitive::DilConv3x3, 432, 114_688, 31_744),
        (Primitive::DilConv5x5, 688, 180_224, 48_128),
    ];
    for (primitive, params, macs1, macs2) in table {
        let (p1, m1, shape1) = table_op_counts(OpTable::Darts, primitive, 1);
        let (p2, m2, shape2) = table_op_counts(OpTable::Darts, primitive, 2);
        assert_eq!(
            (p1, m1, shape1),
            (params, macs1, [16, 16, 16]),
            "{primitive}"
        );
        assert_eq!((p2, m2, shape2), (params, macs2, [16, 8, 8]), "{primitive}");
    }
    // Every other operation of the DARTS table has the sharp table's size.
    let same = [
        Primitive::None,
        Primitive::MaxPool3x3,
        Primitive::AvgPool3x3,
        Primitive::SkipConnect,
        Primitive::SepConv3x3,
        Primitive::SepConv5x5,
        Primitive::SepConv7x7,
        Primitive::Conv7x1_1x7,
    ];
    for primitive in same {
        for stride in [1, 2] {
            assert_eq!(
                table_op_counts(OpTable::Darts, primitive, stride),
                op_counts(primitive, stride),
                "{primitive} at stride {stride}"
            );
        }
    }
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
    let error = build_network(&genotype, &NetworkConfig::cifar10(4096, 1000)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("exceeds the limit"), "{message}");
    assert!(message.contains("--init-channels 4096"), "{message}");
    let error = build_network(&genotype, &NetworkConfig::cifar10(100_000, 8)).unwrap_err();
    assert!(
        error.to_string().contains("--init-channels 100000"),
        "{error}"
    );
    let error = build_network(&genotype, &NetworkConfig::cifar10(16, usize::MAX)).unwrap_err();
    assert!(error.to_string().contains("--layers"), "{error}");
}

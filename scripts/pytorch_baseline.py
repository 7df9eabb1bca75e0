#!/usr/bin/env python3
"""Compare our ONNX export of a sharpDARTS run with what PyTorch gives.

For each run folder written by `train final` (model.json and
weights.safetensors), the script builds the network that the `models` crate
describes as a PyTorch module and loads the weights with strict name
matching. It checks the module's logits against ONNX Runtime on our export
(`export --onnx`).
It then exports the module with torch.onnx (the torch.export-based exporter
and the TorchScript one), checks their logits too, and times PyTorch eager,
our export and both torch.onnx exports on the same inputs and thread counts.

Usage (after scripts/setup.sh):
    .venv/bin/python scripts/pytorch_baseline.py RUN_DIR [RUN_DIR ...] --out DIR
    .venv/bin/python scripts/pytorch_baseline.py RUN_DIR --onnx FILE --check-only

Exit status: 0 on success, 1 when logits differ by more than --tolerance,
2 for invalid input (a missing or invalid run folder, ONNX file or option).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import io
import json
import logging
import math
import os
import platform
import shlex
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnx.checker
import onnx.shape_inference
import onnx.version_converter
import onnxruntime as ort
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

# ---------------------------------------------------------------------------
# Network description (model.json), checked as the `models` crate checks it.
# ---------------------------------------------------------------------------

MODEL_FILE_VERSION = 1
ARCHITECTURES = {"cifar10": "cifar", "imagenet": "imagenet"}
OP_TABLES = ("sharp", "darts")
# Operations that only the sharp table builds.
SHARP_ONLY = {
    "flood_conv_3x3",
    "flood_conv_5x5",
    "dil_flood_conv_3x3",
    "choke_conv_3x3",
    "dil_choke_conv_3x3",
}
PRIMITIVES = {
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "conv_7x1_1x7",
} | SHARP_ONLY

BN_EPS = 1e-5
# BatchNorm eps of the sharp table's conv_7x1_1x7.
BN_EPS_1E3 = 1e-3
STEM_MULTIPLIER = 3
AUX_HIDDEN = 128
AUX_FEATURES = 768

EXIT_MISMATCH = 1
EXIT_INVALID = 2


class InvalidInput(Exception):
    """A run folder, ONNX file or option that cannot be used (exit status 2)."""


class LogitsMismatch(Exception):
    """Logits that differ by more than the tolerance (exit status 1)."""


@dataclass(frozen=True)
class Edge:
    op: str
    input: int


@dataclass(frozen=True)
class NetworkSpec:
    """The parts of model.json that define the network."""

    genotype_name: str | None
    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]
    dataset: str
    ops: str
    init_channels: int
    layers: int
    num_classes: int
    auxiliary: bool
    mid_channels: int
    image_size: int

    def reduction_cells(self) -> tuple[int, int]:
        return self.layers // 3, 2 * self.layers // 3

    def describe(self) -> str:
        name = self.genotype_name or "custom genotype"
        return (
            f"{name} {self.init_channels} x {self.layers} "
            f"({self.dataset}, {self.ops} operations)"
        )


def read_model_file(run_dir: Path) -> NetworkSpec:
    """Read and check RUN_DIR/model.json."""
    if not run_dir.is_dir():
        raise InvalidInput(
            f"run folder {run_dir} not found; pass a folder written by "
            "`train final` (it contains model.json and weights.safetensors)"
        )
    path = run_dir / "model.json"
    if not path.is_file():
        raise InvalidInput(
            f"{path} not found; {run_dir} is not a training run folder "
            "(`train final --out RUN_DIR` writes model.json)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"failed to read {path}: {error}") from error
    try:
        return parse_model_file(data)
    except InvalidInput as error:
        raise InvalidInput(f"invalid model file {path}: {error}") from error


JSON_TYPES = {
    int: "an integer",
    bool: "true or false",
    str: "a string",
    list: "a list",
    dict: "an object",
}


def field(data: object, key: str, kind: type, where: str = ""):
    """Return data[key], checking that it exists and has the JSON type `kind`."""
    name = f"{where}.{key}" if where else key
    if not isinstance(data, dict) or key not in data:
        raise InvalidInput(f"field `{name}` is missing")
    value = data[key]
    # bool is an int subclass in Python, but not a JSON integer.
    wrong_bool = isinstance(value, bool) and kind is int
    if wrong_bool or not isinstance(value, kind):
        raise InvalidInput(f"field `{name}` is {value!r}, expected {JSON_TYPES[kind]}")
    return value


def parse_edges(pairs: list, name: str) -> tuple[Edge, ...]:
    edges = []
    for i, pair in enumerate(pairs):
        ok = (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], int)
            and not isinstance(pair[1], bool)
        )
        if not ok:
            raise InvalidInput(f"field `genotype.{name}[{i}]` is {pair!r}, expected [op, input]")
        if pair[0] not in PRIMITIVES:
            known = ", ".join(sorted(PRIMITIVES))
            raise InvalidInput(
                f"field `genotype.{name}[{i}]` names unknown operation `{pair[0]}`; "
                f"known operations: {known}"
            )
        edges.append(Edge(pair[0], pair[1]))
    return tuple(edges)


def check_cell(name: str, edges: tuple[Edge, ...], concat: tuple[int, ...], reduction: bool):
    """Check edge count, input indices and concat list as `models` does."""
    if not edges or len(edges) % 2:
        raise InvalidInput(
            f"field `genotype.{name}` has {len(edges)} edges; "
            "a cell needs an even, non-zero number (two per node)"
        )
    for i, edge in enumerate(edges):
        node = i // 2
        if not 0 <= edge.input < node + 2:
            raise InvalidInput(
                f"field `genotype.{name}[{i}]` reads state {edge.input}; "
                f"node {node} can read states 0..={node + 1}"
            )
    states = len(edges) // 2 + 2
    if not concat:
        raise InvalidInput(f"field `genotype.{name}_concat` is empty")
    for i, state in enumerate(concat):
        where = f"genotype.{name}_concat[{i}]"
        if not 0 <= state < states:
            raise InvalidInput(
                f"field `{where}` names state {state}; the cell has states 0..={states - 1}"
            )
        if reduction and state < 2:
            raise InvalidInput(
                f"field `{where}` names cell input {state}, which a reduction cell "
                f"does not downsample; use intermediate nodes 2..={states - 1}"
            )
        if state in concat[:i]:
            raise InvalidInput(f"field `{where}` lists state {state} twice")


def parse_model_file(data: object) -> NetworkSpec:
    version = field(data, "format_version", int)
    if version != MODEL_FILE_VERSION:
        raise InvalidInput(
            f"format_version {version} is not supported; this script reads "
            f"version {MODEL_FILE_VERSION}"
        )
    genotype = field(data, "genotype", dict)
    network = field(data, "network", dict)
    normal = parse_edges(field(genotype, "normal", list, "genotype"), "normal")
    reduce = parse_edges(field(genotype, "reduce", list, "genotype"), "reduce")
    concat = {}
    for key in ("normal_concat", "reduce_concat"):
        values = field(genotype, key, list, "genotype")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise InvalidInput(f"field `genotype.{key}` is {values!r}, expected integers")
        concat[key] = tuple(values)
    check_cell("normal", normal, concat["normal_concat"], reduction=False)
    check_cell("reduce", reduce, concat["reduce_concat"], reduction=True)

    # Files written before these fields existed describe CIFAR networks with
    # the sharp table, as in the `models` crate.
    dataset = network.get("dataset", "cifar10")
    if dataset not in ARCHITECTURES:
        raise InvalidInput(f"network.dataset `{dataset}` is unknown; use `cifar10` or `imagenet`")
    architecture = field(data, "architecture", str)
    if architecture != ARCHITECTURES[dataset]:
        raise InvalidInput(
            f"architecture `{architecture}` does not match network.dataset `{dataset}` "
            f"(expected `{ARCHITECTURES[dataset]}`)"
        )
    ops = network.get("ops", "sharp")
    if ops not in OP_TABLES:
        raise InvalidInput(f"network.ops `{ops}` is unknown; use `sharp` or `darts`")
    if ops == "darts":
        for edge in normal + reduce:
            if edge.op in SHARP_ONLY:
                raise InvalidInput(
                    f"the genotype uses {edge.op}, which only the sharp operation table has"
                )

    spec = NetworkSpec(
        genotype_name=data.get("genotype_name") if isinstance(data, dict) else None,
        normal=normal,
        normal_concat=concat["normal_concat"],
        reduce=reduce,
        reduce_concat=concat["reduce_concat"],
        dataset=dataset,
        ops=ops,
        init_channels=field(network, "init_channels", int, "network"),
        layers=field(network, "layers", int, "network"),
        num_classes=field(network, "num_classes", int, "network"),
        auxiliary=field(network, "auxiliary", bool, "network"),
        mid_channels=field(network, "mid_channels", int, "network"),
        image_size=field(network, "image_size", int, "network"),
    )
    check_network(spec)
    return spec


def check_network(spec: NetworkSpec):
    """Reject settings that the network cannot be built with, as the `models`
    crate does (without its upper bounds), naming the field."""
    if spec.init_channels < 2 or spec.init_channels % 2:
        raise InvalidInput(
            f"network.init_channels {spec.init_channels} must be even and at least 2 "
            "(FactorizedReduce splits channels in halves)"
        )
    if spec.layers < 3:
        raise InvalidInput(f"network.layers {spec.layers} must be at least 3")
    if spec.num_classes < 1:
        raise InvalidInput(f"network.num_classes {spec.num_classes} must be at least 1")
    if spec.mid_channels < 1:
        raise InvalidInput(f"network.mid_channels {spec.mid_channels} must be at least 1")
    # Two reductions after the stem (stride 1 for CIFAR, 8 for ImageNet) must
    # leave a map that the auxiliary head's 5x5 pool (stride 3 for CIFAR, 2
    # for ImageNet) and 2x2 convolution reduce to 1x1 or more.
    imagenet = spec.dataset == "imagenet"
    step = 4 * (8 if imagenet else 1)
    aux_pool_stride = 2 if imagenet else 3
    min_final = 5 + aux_pool_stride if spec.auxiliary else 1
    min_size = max(step * min_final, 32)
    if spec.image_size < min_size or spec.image_size % step:
        head = " with auxiliary head" if spec.auxiliary else ""
        raise InvalidInput(
            f"network.image_size {spec.image_size} must be a multiple of {step} "
            f"from {min_size} on for the {spec.dataset} network{head}"
        )


# ---------------------------------------------------------------------------
# The network as PyTorch modules. Module paths give the parameter names that
# the `models` crate uses (`cells.3._ops.1.op.2.weight`).
# ---------------------------------------------------------------------------


def batch_norm(channels: int, eps: float = BN_EPS) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=eps)


def conv(c_in: int, c_out: int, kernel, stride=1, padding=0, dilation=1, groups=1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, groups, bias=False)


class ReLUConvBN(nn.Module):
    """ReLU, 1x1 convolution, BatchNorm (`op.1`, `op.2`)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), conv(c_in, c_out, 1), batch_norm(c_out))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    """ReLU, two stride-2 1x1 convolutions (the second on the input shifted by
    one pixel), concatenated, then BatchNorm (`conv_1`, `conv_2`, `bn`)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = conv(c_in, c_out // 2, 1, stride=2)
        self.conv_2 = conv(c_in, c_out // 2, 1, stride=2)
        self.bn = batch_norm(c_out)

    def forward(self, x):
        y = self.relu(x)
        # conv_2 reads y[i + 1, j + 1], with zeros past the bottom and right
        # borders. Its stride-2 window reaches that zero row or column only
        # for odd sizes. Valid networks feed FactorizedReduce even sizes
        # only, so their exports get no Pad node, which the ONNX version
        # converter cannot lower from opset 18 to 17.
        shifted = y[:, :, 1:, 1:]
        height, width = y.shape[2], y.shape[3]
        if height % 2 or width % 2:
            shifted = F.pad(shifted, (0, width % 2, 0, height % 2))
        return self.bn(torch.cat([self.conv_1(y), self.conv_2(shifted)], dim=1))


class SharpSepConv(nn.Module):
    """Two depthwise-separable stages, of which only the first carries stride and
    dilation (`op.{1,2,3,5,6,7}`)."""

    def __init__(self, c: int, kernel: int, stride: int, padding: int, dilation: int, mid: int):
        super().__init__()
        same = (kernel - 1) // 2
        self.op = nn.Sequential(
            nn.ReLU(),
            conv(c, c, kernel, stride, padding, dilation, groups=c),
            conv(c, mid, 1),
            batch_norm(mid),
            nn.ReLU(),
            conv(mid, mid, kernel, 1, same, groups=mid),
            conv(mid, c, 1),
            batch_norm(c),
        )

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    """The DARTS table's dilated convolution: ReLU, one dilated depthwise
    convolution, a 1x1 convolution and BatchNorm (`op.{1,2,3}`)."""

    def __init__(self, c: int, kernel: int, stride: int, padding: int, dilation: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(),
            conv(c, c, kernel, stride, padding, dilation, groups=c),
            conv(c, c, 1),
            batch_norm(c),
        )

    def forward(self, x):
        return self.op(x)


class Conv7x1x1x7(nn.Module):
    """ReLU, 1x7 then 7x1 convolution, BatchNorm (`op.{1,2,3}`)."""

    def __init__(self, c: int, stride: int, eps: float):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(),
            conv(c, c, (1, 7), (1, stride), (0, 3)),
            conv(c, c, (7, 1), (stride, 1), (3, 0)),
            batch_norm(c, eps),
        )

    def forward(self, x):
        return self.op(x)


class Zero(nn.Module):
    """Zeros shaped like every `stride`-th row and column of the input."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        # zeros_like, not x * 0, so that infinite or NaN inputs still give
        # zeros, as in our export.
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


def build_operation(name: str, c: int, stride: int, table: str, mid_channels: int) -> nn.Module:
    """Build one cell operation with C -> C channels, as `models::ops` does."""
    darts = table == "darts"

    def ssc(kernel: int, padding: int, dilation: int, mid: int) -> nn.Module:
        return SharpSepConv(c, kernel, stride, padding, dilation, mid)

    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if name == "avg_pool_3x3":
        # The sharp table counts zero padding in the divisor, DARTS does not.
        return nn.AvgPool2d(3, stride, 1, count_include_pad=not darts)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    if darts and name == "dil_conv_3x3":
        return DilConv(c, 3, stride, 2, 2)
    if darts and name == "dil_conv_5x5":
        return DilConv(c, 5, stride, 4, 2)
    if name == "conv_7x1_1x7":
        return Conv7x1x1x7(c, stride, BN_EPS if darts else BN_EPS_1E3)
    builders = {
        "sep_conv_3x3": lambda: ssc(3, 1, 1, c),
        "sep_conv_5x5": lambda: ssc(5, 2, 1, c),
        "sep_conv_7x7": lambda: ssc(7, 3, 1, c),
        "dil_conv_3x3": lambda: ssc(3, 2, 2, c),
        "dil_conv_5x5": lambda: ssc(5, 4, 2, c),
        "flood_conv_3x3": lambda: ssc(3, 1, 1, 4 * c),
        "flood_conv_5x5": lambda: ssc(5, 2, 1, 4 * c),
        "dil_flood_conv_3x3": lambda: ssc(3, 2, 2, 4 * c),
        "choke_conv_3x3": lambda: ssc(3, 1, 1, mid_channels),
        "dil_choke_conv_3x3": lambda: ssc(3, 2, 2, mid_channels),
    }
    return builders[name]()


class Cell(nn.Module):
    """One cell: two preprocessed inputs, one node per pair of edges (the sum
    of both edges' outputs), and the channel concatenation of `concat`."""

    def __init__(
        self,
        edges: tuple[Edge, ...],
        concat: tuple[int, ...],
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        spec: NetworkSpec,
    ):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c)
        self.preprocess1 = ReLUConvBN(c_prev, c)
        operations = []
        for edge in edges:
            stride = 2 if reduction and edge.input < 2 else 1
            operations.append(build_operation(edge.op, c, stride, spec.ops, spec.mid_channels))
        self._ops = nn.ModuleList(operations)
        self.inputs = [edge.input for edge in edges]
        self.concat = list(concat)

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self._ops) // 2):
            a, b = 2 * node, 2 * node + 1
            h_a = self._ops[a](states[self.inputs[a]])
            h_b = self._ops[b](states[self.inputs[b]])
            states.append(h_a + h_b)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """The training-only classifier on the second reduction cell's output
    (`features.{2,3,5,6}`, `classifier`). Inference never runs it."""

    def __init__(self, c: int, num_classes: int, pool_stride: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(),
            nn.AvgPool2d(5, pool_stride, 0, count_include_pad=False),
            conv(c, AUX_HIDDEN, 1),
            batch_norm(AUX_HIDDEN),
            nn.ReLU(),
            conv(AUX_HIDDEN, AUX_FEATURES, 2),
            batch_norm(AUX_FEATURES),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(AUX_FEATURES, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class Network(nn.Module):
    """The CIFAR or ImageNet network of `spec`, whose forward returns the logits."""

    def __init__(self, spec: NetworkSpec):
        super().__init__()
        self.imagenet = spec.dataset == "imagenet"
        c = spec.init_channels
        if self.imagenet:
            # Two stride-2 stems: 224x224 input gives 56x56, then 28x28.
            self.stem0 = nn.Sequential(
                conv(3, c // 2, 3, 2, 1),
                batch_norm(c // 2),
                nn.ReLU(),
                conv(c // 2, c, 3, 2, 1),
                batch_norm(c),
            )
            self.stem1 = nn.Sequential(nn.ReLU(), conv(c, c, 3, 2, 1), batch_norm(c))
            c_prev_prev, c_prev, reduction_prev = c, c, True
        else:
            stem = STEM_MULTIPLIER * c
            self.stem = nn.Sequential(conv(3, stem, 3, 1, 1), batch_norm(stem))
            c_prev_prev, c_prev, reduction_prev = stem, stem, False

        reductions = spec.reduction_cells()
        cells = []
        aux_channels = None
        for i in range(spec.layers):
            reduction = i in reductions
            if reduction:
                c *= 2
            # Each cell type uses its own concat list (the published ImageNet
            # network gives normal cells the reduce list instead).
            if reduction:
                edges, concat = spec.reduce, spec.reduce_concat
            else:
                edges, concat = spec.normal, spec.normal_concat
            cells.append(
                Cell(edges, concat, c_prev_prev, c_prev, c, reduction, reduction_prev, spec)
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, len(concat) * c
            if i == reductions[1]:
                aux_channels = c_prev
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, spec.num_classes)
        if spec.auxiliary:
            pool_stride = 2 if self.imagenet else 3
            self.auxiliary_head = AuxiliaryHead(aux_channels, spec.num_classes, pool_stride)

    def forward(self, x):
        if self.imagenet:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        else:
            s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


def check_weight_names(network: Network, weights: dict, path: Path, spec: NetworkSpec):
    """Raise InvalidInput naming the first missing, unexpected and misshapen
    tensors, before load_state_dict would list every one of them."""
    expected = {
        name: tuple(tensor.shape)
        for name, tensor in network.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }
    missing = [name for name in expected if name not in weights]
    unexpected = [name for name in weights if name not in expected]
    misshapen = [
        f"{name} {list(weights[name].shape)} (expected {list(shape)})"
        for name, shape in expected.items()
        if name in weights and tuple(weights[name].shape) != shape
    ]
    problems = []
    groups = {"missing": missing, "unexpected": unexpected, "with the wrong shape": misshapen}
    for kind, names in groups.items():
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            problems.append(f"{len(names)} {kind}: " + ", ".join(names[:3]) + more)
    if problems:
        raise InvalidInput(
            f"weights in {path} do not match the network of its model.json "
            f"({spec.describe()}): " + "; ".join(problems)
            + "; pass the run folder that `train final` wrote both files into"
        )


def load_network(run_dir: Path, spec: NetworkSpec) -> Network:
    """Build the network, load RUN_DIR/weights.safetensors strictly, and drop
    the auxiliary head, which inference does not run."""
    path = run_dir / "weights.safetensors"
    if not path.is_file():
        raise InvalidInput(f"{path} not found; `train final` writes it at the end of each epoch")
    try:
        weights = load_file(str(path))
    except Exception as error:  # safetensors raises several types for bad files
        raise InvalidInput(f"failed to read {path}: {error}") from error
    network = Network(spec)
    check_weight_names(network, weights, path, spec)
    # PyTorch fills in each BatchNorm's num_batches_tracked when a state dict
    # has no version metadata, so strict loading accepts the Rust checkpoint,
    # which does not store it.
    network.load_state_dict(weights, strict=True)
    if spec.auxiliary:
        del network.auxiliary_head
    return network.eval()


# ---------------------------------------------------------------------------
# ONNX graphs and ONNX Runtime sessions.
# ---------------------------------------------------------------------------

# Candidate keys and the names used in reports.
EAGER, OURS, DYNAMO, TORCHSCRIPT = "eager", "ours", "dynamo", "torchscript"
LABELS = {
    EAGER: "PyTorch eager",
    OURS: "our export",
    DYNAMO: "torch.onnx dynamo",
    TORCHSCRIPT: "torch.onnx TorchScript",
}
ONNX_GRAPHS = (OURS, DYNAMO, TORCHSCRIPT)
OPSET = 17


@contextlib.contextmanager
def quiet_exporter(log: io.StringIO):
    """Send the exporters' progress output and warnings to `log`."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with (
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_dynamo(network: Network, example: tuple) -> onnx.ModelProto:
    """Export with the torch.export-based exporter at its lowest opset, 18,
    then convert the optimised graph to opset 17.

    NOTE: asked for opset 17, torch 2.11 converts before its graph
    optimisation, where ReduceMean's axes are not yet constant, so the ONNX
    version converter fails and the file stays at opset 18. Converting the
    optimised graph works, except that onnx 1.23.2's ReduceMean adapter keeps
    the opset-18 attribute `noop_with_empty_axes`, which opset 17 rejects, so
    it is removed where it has its default value 0 (the opset-17 behaviour).
    If the converted graph still fails the ONNX checker, opset 18 is kept.
    """
    program = torch.onnx.export(
        network,
        example,
        None,
        dynamo=True,
        opset_version=18,
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    model = program.model_proto
    try:
        converted = onnx.version_converter.convert_version(model, OPSET)
        for node in converted.graph.node:
            if node.op_type.startswith("Reduce"):
                kept = [
                    a for a in node.attribute if not (a.name == "noop_with_empty_axes" and a.i == 0)
                ]
                del node.attribute[:]
                node.attribute.extend(kept)
        onnx.checker.check_model(converted, full_check=True)
    except (
        RuntimeError,
        onnx.checker.ValidationError,
        onnx.shape_inference.InferenceError,
    ) as error:
        print(f"  NOTE: the torch.onnx dynamo graph stays at opset 18: {error}")
        return model
    return converted


def export_torch_onnx(network: Network, spec: NetworkSpec, folder: Path) -> dict[str, Path]:
    """Export `network` with both torch.onnx exporters (opset 17, dynamic
    batch) into `folder`; their console output is shown only on failure."""
    size = spec.image_size
    # torch.export treats a batch of 1 as a constant, so trace with 2.
    example = (torch.zeros(2, 3, size, size),)
    paths = {}
    for key in (DYNAMO, TORCHSCRIPT):
        path = folder / f"torch_onnx_{key}.onnx"
        temporary = folder / f".torch_onnx_{key}.onnx.tmp"
        log = io.StringIO()
        try:
            with quiet_exporter(log):
                if key == DYNAMO:
                    onnx.save(export_dynamo(network, example), str(temporary))
                else:
                    torch.onnx.export(
                        network,
                        example,
                        str(temporary),
                        dynamo=False,
                        opset_version=OPSET,
                        input_names=["input"],
                        output_names=["logits"],
                        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                    )
        except Exception:
            sys.stderr.write(log.getvalue())
            print(f"pytorch_baseline: torch.onnx export ({LABELS[key]}) failed", file=sys.stderr)
            raise
        notes = [line for line in log.getvalue().splitlines() if "NOTE:" in line]
        for line in notes:
            print(line)
        os.replace(temporary, path)
        paths[key] = path
    return paths


def opset_of(path: Path) -> int | None:
    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


EXPORT_HINT = "write it with `target/release/export --onnx --run RUN_DIR --out FILE`"


def open_session(path: Path, options: ort.SessionOptions, user_file: bool) -> ort.InferenceSession:
    """Open an ONNX Runtime CPU session. A missing or invalid `user_file`
    (our export, given on the command line) raises InvalidInput; errors on
    the graphs this script writes propagate unchanged."""
    if user_file and not path.is_file():
        raise InvalidInput(f"ONNX file {path} not found; {EXPORT_HINT}")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own pybind error types
        if not user_file:
            raise
        raise InvalidInput(f"ONNX Runtime failed to load {path}: {error}; {EXPORT_HINT}") from error


def run_session(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def node_counts(path: Path) -> dict[str, int]:
    """Count the nodes of an ONNX file's main graph by op type."""
    model = onnx.load(str(path), load_external_data=False)
    return dict(collections.Counter(node.op_type for node in model.graph.node).most_common())


# ---------------------------------------------------------------------------
# Logits checks.
# ---------------------------------------------------------------------------


def random_input(spec: NetworkSpec, batch: int, seed: int) -> np.ndarray:
    """Normalised-image-like input: standard normal values, seeded per batch size."""
    rng = np.random.default_rng([seed, batch])
    return rng.standard_normal((batch, 3, spec.image_size, spec.image_size), dtype=np.float32)


def check_logits(
    network: Network,
    spec: NetworkSpec,
    sessions: dict[str, ort.InferenceSession],
    paths: dict[str, Path],
    batches: list[int],
    seed: int,
    tolerance: float,
) -> dict:
    """Compare eager logits with each ONNX graph's at every batch size.

    Returns the max absolute differences by graph and batch, the max absolute
    eager logit by batch, and how much the logits vary across the inputs of
    the largest batch. Raises LogitsMismatch above `tolerance`.
    """
    differences: dict[str, dict[str, float]] = {key: {} for key in sessions}
    max_logits: dict[str, float] = {}
    failures = []
    spread = 0.0
    for batch in batches:
        x = random_input(spec, batch, seed)
        with torch.inference_mode():
            expected = network(torch.from_numpy(x)).numpy()
        if not np.isfinite(expected).all():
            raise InvalidInput(f"eager logits of {spec.describe()} are not finite at batch {batch}")
        max_logits[str(batch)] = float(np.max(np.abs(expected)))
        if batch == max(batches):
            spread = float(np.max(expected.max(axis=0) - expected.min(axis=0)))
        for key, session in sessions.items():
            actual = run_graph(session, x, paths[key], user_file=key == OURS)
            if actual.shape != expected.shape:
                raise InvalidInput(
                    f"{paths[key]} returns logits of shape {list(actual.shape)}, but the network "
                    f"of the run folder returns {list(expected.shape)}; pass the export of this run"
                )
            difference = float(np.max(np.abs(actual - expected)))
            differences[key][str(batch)] = difference
            print(f"  batch {batch:>3}: max |eager - {LABELS[key]}| = {difference:.3e}")
            if not difference <= tolerance:
                failures.append(
                    f"max |eager - {LABELS[key]}| = {difference:.3e} at batch {batch} "
                    f"({paths[key]})"
                )
    print(f"  max |logit| {max(max_logits.values()):.3g}, spread across inputs {spread:.3g}")
    if max(batches) > 1 and spread < 10 * tolerance:
        print(
            f"  NOTE: the logits vary by only {spread:.3g} across inputs, so a graph that "
            "ignored its input could pass this check; train the run longer"
        )
    if failures:
        raise LogitsMismatch(
            f"{spec.describe()}: logits differ by more than {tolerance:g}: " + "; ".join(failures)
        )
    return {"max_abs_difference": differences, "max_abs_logit": max_logits, "input_spread": spread}


def run_graph(
    session: ort.InferenceSession, x: np.ndarray, path: Path, user_file: bool
) -> np.ndarray:
    """Run a session. A failure on our export (`user_file`) raises InvalidInput."""
    try:
        return run_session(session, x)
    except Exception as error:  # onnxruntime raises its own pybind error types
        if not user_file:
            raise
        raise InvalidInput(
            f"ONNX Runtime failed to run {path} on a {list(x.shape)} input: {error}; "
            "pass the export of this run folder"
        ) from error


# ---------------------------------------------------------------------------
# Timing.
# ---------------------------------------------------------------------------


@dataclass
class Candidate:
    key: str
    run: Callable[[], object]


def summarise(samples: list[float], batch: int) -> dict[str, float]:
    median = float(np.median(samples))
    return {
        "median_ms": median * 1e3,
        "p90_ms": float(np.percentile(samples, 90)) * 1e3,
        "images_per_s": batch / median,
        "runs": len(samples),
    }


def time_interleaved(
    candidates: list[Candidate], warmup: int, runs: int, block: int, settle_s: float
) -> dict[str, list[float]]:
    """Time each candidate `runs` times after `warmup` untimed runs.

    The candidates take turns in blocks of up to `block` timed runs, and each
    round starts with the next candidate, so that drift on the machine hits
    all of them alike. Untimed runs for at least `settle_s` seconds (and at
    least one) start each block. On a 2-core machine the previous
    candidate's idle threads keep spinning for tens of milliseconds after
    its last run (ONNX Runtime's pool by default, PyTorch's OpenMP threads),
    and its data has evicted the caches.
    """
    for candidate in candidates:
        for _ in range(warmup):
            candidate.run()
    samples: dict[str, list[float]] = {c.key: [] for c in candidates}
    round_index = 0
    while any(len(values) < runs for values in samples.values()):
        start = round_index % len(candidates)
        for candidate in candidates[start:] + candidates[:start]:
            count = min(block, runs - len(samples[candidate.key]))
            if count == 0:
                continue
            settle_end = time.perf_counter() + settle_s
            candidate.run()
            while time.perf_counter() < settle_end:
                candidate.run()
            for _ in range(count):
                begin = time.perf_counter()
                candidate.run()
                samples[candidate.key].append(time.perf_counter() - begin)
        round_index += 1
    return samples


def benchmark_network(
    network: Network,
    spec: NetworkSpec,
    paths: dict[str, Path],
    args: argparse.Namespace,
) -> list[dict]:
    """Time eager and the three ONNX graphs at every batch size and thread count."""
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        options = session_options(threads)
        sessions = {key: open_session(paths[key], options, key == OURS) for key in ONNX_GRAPHS}
        for batch in args.batch_sizes:
            x = random_input(spec, batch, args.seed)
            tensor = torch.from_numpy(x)
            candidates = [Candidate(EAGER, lambda: network(tensor))]
            for key in ONNX_GRAPHS:
                feed = {sessions[key].get_inputs()[0].name: x}
                candidates.append(Candidate(key, functools.partial(sessions[key].run, None, feed)))
            with torch.inference_mode():
                samples = time_interleaved(
                    candidates, args.warmup, args.runs, args.block, args.settle_ms / 1e3
                )

            latency = {key: summarise(values, batch) for key, values in samples.items()}
            ours = latency[OURS]["median_ms"]
            ratios = {
                "ours_over_dynamo": ours / latency[DYNAMO]["median_ms"],
                "ours_over_torchscript": ours / latency[TORCHSCRIPT]["median_ms"],
                "eager_over_ours": latency[EAGER]["median_ms"] / ours,
            }
            results.append(
                {"batch": batch, "threads": threads, "latency": latency, "ratios": ratios}
            )
            medians = ", ".join(f"{LABELS[k]} {v['median_ms']:.2f} ms" for k, v in latency.items())
            print(f"  batch {batch:>3}, {thread_count(threads)}: {medians}")
    return results


# ---------------------------------------------------------------------------
# Profiling with ONNX Runtime's profiler.
# ---------------------------------------------------------------------------


def profile_graph(
    path: Path, x: np.ndarray, threads: int, warmup: int, runs: int, prefix: Path, keep: bool
) -> dict:
    """Profile `runs` runs of an ONNX graph after `warmup` runs, and total the
    kernel time of each operator type over the profiled runs. The trace file
    is deleted afterwards unless `keep`."""
    options = session_options(threads)
    options.enable_profiling = True
    options.profile_file_prefix = str(prefix)
    session = open_session(path, options, user_file=False)
    for _ in range(warmup + runs):
        run_session(session, x)
    trace_path = Path(session.end_profiling())

    events = json.loads(trace_path.read_text())
    if not keep:
        trace_path.unlink()
    model_runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
        key=lambda e: e["ts"],
    )
    timed = model_runs[-runs:]
    windows = [(e["ts"], e["ts"] + e["dur"]) for e in timed]

    totals: dict[str, float] = collections.defaultdict(float)
    nodes: dict[str, set] = collections.defaultdict(set)
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        if not any(start <= event["ts"] <= end for start, end in windows):
            continue
        op = event.get("args", {}).get("op_name", "?")
        totals[op] += event["dur"]
        nodes[op].add(name)

    kernel_total = sum(totals.values())
    operators = {
        op: {
            "ms_per_run": totals[op] / 1e3 / len(timed),
            "share": totals[op] / kernel_total if kernel_total else 0.0,
            "nodes": len(nodes[op]),
        }
        for op in sorted(totals, key=totals.get, reverse=True)
    }
    return {
        "trace": str(trace_path) if keep else None,
        "run_ms": sum(e["dur"] for e in timed) / 1e3 / len(timed),
        "kernel_ms": kernel_total / 1e3 / len(timed),
        "operators": operators,
    }


def profile_network(
    name: str, spec: NetworkSpec, paths: dict[str, Path], args, folder: Path
) -> list[dict]:
    """Profile every ONNX graph at every batch size and thread count. With
    --keep-traces the trace files are kept in FOLDER/traces."""
    with tempfile.TemporaryDirectory(prefix="pytorch_baseline.") as scratch:
        traces = folder / "traces" if args.keep_traces else Path(scratch)
        traces.mkdir(parents=True, exist_ok=True)
        profiles = []
        for threads in args.threads:
            for batch in args.batch_sizes:
                x = random_input(spec, batch, args.seed)
                graphs = {}
                for key in ONNX_GRAPHS:
                    prefix = traces / f"{name}_{key}_b{batch}_t{threads}"
                    graphs[key] = profile_graph(
                        paths[key], x, threads, args.warmup, args.profile_runs, prefix,
                        args.keep_traces,
                    )
                profiles.append({"batch": batch, "threads": threads, "graphs": graphs})
                times = ", ".join(f"{LABELS[k]} {g['run_ms']:.2f} ms" for k, g in graphs.items())
                print(f"  profiled batch {batch:>3}, {thread_count(threads)}: {times}")
    return profiles


# ---------------------------------------------------------------------------
# Reports.
# ---------------------------------------------------------------------------


def thread_count(threads: int) -> str:
    return "1 thread" if threads == 1 else f"{threads} threads"


def write_atomic(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=prefix, delete=False) as file:
        file.write(text)
        temporary = Path(file.name)
    os.replace(temporary, path)


def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
    }


def versions() -> dict:
    import onnxscript

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "onnxscript": onnxscript.__version__,
        "numpy": np.__version__,
    }


def header_lines(report: dict) -> list[str]:
    machine = report["machine"]
    v = report["versions"]
    s = report["settings"]
    load = report["load_average"]
    return [
        f"- machine: {machine['cpu']}, {machine['logical_cores']} logical cores "
        f"({machine['usable_cores']} usable), {machine['platform']}",
        f"- 1-minute load average: {load['start']:.2f} at the start, {load['end']:.2f} at the end",
        f"- Python {v['python']}, torch {v['torch']}, onnxruntime {v['onnxruntime']}, "
        f"onnx {v['onnx']}, onnxscript {v['onnxscript']}",
        f"- command: `{report['command']}`",
        f"- {s['warmup']} warm-up runs, then {s['runs']} timed runs per candidate. The "
        f"candidates take turns in blocks of {s['block']} timed runs, each after at least "
        f"{s['settle_ms']} ms of untimed runs. "
        "ONNX Runtime: CPU provider, ORT_ENABLE_ALL, sequential execution, 1 inter-op thread. "
        f"torch.onnx exports requested at opset {OPSET} (the opsets written are listed below)",
    ]


def table_row(cells: list) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table_header(names: list[str], numeric_from: int) -> list[str]:
    """Return a Markdown header row and the alignment row, right-aligning
    the columns from index `numeric_from` on."""
    alignment = ["---" if i < numeric_from else "---:" for i in range(len(names))]
    return [table_row(names), table_row(alignment)]


def latency_cell(latency: dict) -> str:
    return f"{latency['median_ms']:.2f} ({latency['p90_ms']:.2f})"


def markdown_report(report: dict) -> str:
    candidates = (EAGER, OURS, DYNAMO, TORCHSCRIPT)
    columns = ["network", "batch", "threads"] + [LABELS[k] for k in candidates]
    lines = ["# PyTorch baselines for our ONNX export", ""] + header_lines(report)
    lines += [
        "",
        "Latency: median (p90) in ms per batch. Ratios compare medians, so ours / torch.onnx "
        "below 1 means that our graph is faster.",
        "",
    ]
    ratio_columns = ["ours / dynamo", "ours / TorchScript", "eager / ours"]
    lines += table_header(columns + ratio_columns, numeric_from=1)
    for net in report["networks"]:
        for row in net["results"]:
            ratios = row["ratios"]
            cells = [net["name"], row["batch"], row["threads"]]
            cells += [latency_cell(row["latency"][k]) for k in candidates]
            cells += [
                f"{ratios['ours_over_dynamo']:.2f}",
                f"{ratios['ours_over_torchscript']:.2f}",
                f"{ratios['eager_over_ours']:.2f}",
            ]
            lines.append(table_row(cells))

    lines += ["", "Throughput in images/s (batch / median latency):", ""]
    lines += table_header(columns, numeric_from=1)
    for net in report["networks"]:
        for row in net["results"]:
            cells = [net["name"], row["batch"], row["threads"]]
            cells += [f"{row['latency'][k]['images_per_s']:,.0f}" for k in candidates]
            lines.append(table_row(cells))

    lines += ["", "Max absolute logit difference from PyTorch eager, by batch size:", ""]
    graph_columns = [LABELS[k] for k in ONNX_GRAPHS]
    lines += table_header(["network", "parameters", "max abs logit"] + graph_columns, 1)
    for net in report["networks"]:
        cells = [net["name"], f"{net['parameters']:,}", f"{max(net['max_abs_logit'].values()):.3g}"]
        for key in ONNX_GRAPHS:
            by_batch = net["max_abs_difference"][key].items()
            cells.append(", ".join(f"{batch}: {value:.1e}" for batch, value in by_batch))
        lines.append(table_row(cells))

    lines += ["", "Runs:", ""]
    for net in report["networks"]:
        opsets = ", ".join(f"{LABELS[k]} {v}" for k, v in net["opsets"].items())
        lines.append(
            f"- {net['name']}: {net['description']}, run folder `{net['run_dir']}`, "
            f"our export `{net['onnx']}`; opsets: {opsets}"
        )
    return "\n".join(lines) + "\n"


def operator_cell(entry: dict | None) -> str:
    if entry is None:
        return "-"
    return f"{entry['ms_per_run']:.3f} / {100 * entry['share']:.1f} % / {entry['nodes']}"


def profile_markdown(report: dict) -> str:
    graph_columns = [LABELS[k] for k in ONNX_GRAPHS]
    lines = ["# ONNX Runtime profiles: our export and the torch.onnx exports", ""]
    lines += header_lines(report)
    lines += [
        f"- {report['settings']['profile_runs']} profiled runs per graph after the warm-up",
        "",
        "Per operator type: kernel time in ms per run, its share of the graph's total kernel "
        "time, and the number of nodes that ran, which is after ONNX Runtime's graph "
        "optimisations. The file node counts are the graphs as written.",
    ]
    for net in report["networks"]:
        lines += ["", f"## {net['name']}", "", "Nodes in the ONNX files by op type:", ""]
        counts = net["file_node_counts"]
        lines += table_header(["op type"] + graph_columns, numeric_from=1)
        for op in sorted({op for by_op in counts.values() for op in by_op}):
            lines.append(table_row([op] + [counts[k].get(op, 0) for k in ONNX_GRAPHS]))
        lines.append(table_row(["total"] + [sum(counts[k].values()) for k in ONNX_GRAPHS]))

        for profile in net["profiles"]:
            graphs = profile["graphs"]
            run_times = ", ".join(f"{LABELS[k]} {graphs[k]['run_ms']:.2f}" for k in ONNX_GRAPHS)
            kernel_times = ", ".join(
                f"{LABELS[k]} {graphs[k]['kernel_ms']:.2f}" for k in ONNX_GRAPHS
            )
            lines += [
                "",
                f"### batch {profile['batch']}, {thread_count(profile['threads'])}",
                "",
                f"Time per run in ms: {run_times}. Kernel time per run in ms: {kernel_times}.",
                "",
            ]
            columns = [f"{label} ms / share / nodes" for label in graph_columns]
            lines += table_header(["op type"] + columns, numeric_from=1)
            ours = graphs[OURS]["operators"]
            ops = {op for k in ONNX_GRAPHS for op in graphs[k]["operators"]}
            # Largest kernel time in our graph first, operators it lacks last.
            for op in sorted(ops, key=lambda op: -ours.get(op, {}).get("ms_per_run", -1.0)):
                cells = [operator_cell(graphs[k]["operators"].get(op)) for k in ONNX_GRAPHS]
                lines.append(table_row([op] + cells))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1; use a positive integer")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; use 0 or more")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} must be a positive finite number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Build the network of each training run folder in PyTorch, check its logits "
            "against our ONNX export, export it with torch.onnx, and time PyTorch eager, "
            "our export and the torch.onnx exports on ONNX Runtime (CPU)."
        )
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="training run folder with model.json and weights.safetensors")
    parser.add_argument("--onnx", action="append", type=Path, metavar="FILE",
                        help="our export of the run (target/release/export --onnx --run RUN_DIR "
                             "--out FILE); give it once per RUN_DIR, in the same order "
                             "[default: RUN_DIR/model.onnx]")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for baseline.md, baseline.json and the torch.onnx exports; "
                             "required unless --check-only")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="also profile every ONNX graph with ONNX Runtime's profiler and write "
                             "per-operator-type totals to DIR/profile.md and DIR/profile.json")

    parser.add_argument("--check-only", action="store_true",
                        help="only check the logits of every ONNX graph against PyTorch "
                             "eager; time nothing and write nothing")
    parser.add_argument("--skip-torch-onnx", action="store_true",
                        help="with --check-only: check only our export, without torch.onnx exports")
    parser.add_argument("--tolerance", type=positive_float, default=1e-4, metavar="T",
                        help="maximum absolute logit difference from PyTorch eager [default: 1e-4]")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the random input batches [default: 0]")

    parser.add_argument("--batch-sizes", nargs="+", type=positive_int, default=[1, 32], metavar="N",
                        help="input batch sizes for the checks and the timings [default: 1 32]")
    parser.add_argument("--threads", nargs="+", type=positive_int, default=[1, 2], metavar="N",
                        help="thread counts: torch.set_num_threads and ONNX Runtime "
                             "intra_op_num_threads [default: 1 2]")

    parser.add_argument("--warmup", type=non_negative_int, default=5, metavar="N",
                        help="untimed runs per candidate before timing [default: 5]")
    parser.add_argument("--runs", type=positive_int, default=30, metavar="N",
                        help="timed runs per candidate, batch size and thread count [default: 30]")
    parser.add_argument("--block", type=positive_int, default=5, metavar="N",
                        help="timed runs of one candidate in a row; the candidates take "
                             "turns in such blocks [default: 5]")
    parser.add_argument("--settle-ms", type=non_negative_int, default=100, metavar="MS",
                        help="untimed runs of a candidate before each of its blocks, for at "
                             "least this many milliseconds (and at least one run), so that "
                             "the previous candidate's threads and cache use have stopped "
                             "[default: 100]")
    parser.add_argument("--profile-runs", type=positive_int, default=10, metavar="N",
                        help="profiled runs per graph, batch size and thread count, after "
                             "--warmup runs [default: 10]")
    parser.add_argument("--keep-traces", action="store_true",
                        help="keep ONNX Runtime's trace files in DIR/traces (tens of MB per "
                             "graph at batch 32) instead of deleting them after the summary")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.check_only and (args.out or args.profile):
        parser.error("--check-only writes nothing; drop --out and --profile, or drop --check-only")
    if args.skip_torch_onnx and not args.check_only:
        parser.error(
            "--skip-torch-onnx needs --check-only, because the timings need the torch.onnx exports"
        )
    if not args.check_only and args.out is None:
        parser.error("--out DIR is required unless --check-only")
    if args.onnx is None:
        args.onnx = [run_dir / "model.onnx" for run_dir in args.run_dirs]
    elif len(args.onnx) != len(args.run_dirs):
        parser.error(
            f"got {len(args.onnx)} --onnx files for {len(args.run_dirs)} run folders; "
            "give one per RUN_DIR in the same order, or none to use RUN_DIR/model.onnx"
        )
    return args


def network_names(run_dirs: list[Path]) -> list[str]:
    """Name each run by its folder, with a suffix where folder names repeat."""
    names = []
    for run_dir in run_dirs:
        base = run_dir.resolve().name or "run"
        name, index = base, 2
        while name in names:
            name, index = f"{base}-{index}", index + 1
        names.append(name)
    return names


def process_network(name: str, run_dir: Path, onnx_path: Path, args, work: Path) -> dict:
    """Check, time and (with --profile) profile one run, and return its report entry."""
    spec = read_model_file(run_dir)
    print(f"{name}: {spec.describe()}")
    network = load_network(run_dir, spec)
    paths = {OURS: onnx_path}
    check_threads = args.threads[0]
    torch.set_num_threads(check_threads)
    options = session_options(check_threads)
    sessions = {OURS: open_session(onnx_path, options, user_file=True)}
    if not args.skip_torch_onnx:
        started = time.perf_counter()
        paths.update(export_torch_onnx(network, spec, work))
        print(f"  exported with torch.onnx in {time.perf_counter() - started:.1f} s")
        for key in (DYNAMO, TORCHSCRIPT):
            opset = opset_of(paths[key])
            if opset != OPSET:
                print(f"  NOTE: {LABELS[key]} wrote opset {opset}, not the requested {OPSET}")
            sessions[key] = open_session(paths[key], options, user_file=False)

    checks = check_logits(
        network, spec, sessions, paths, args.batch_sizes, args.seed, args.tolerance
    )
    entry = {
        "name": name,
        "description": spec.describe(),
        "run_dir": str(run_dir),
        "onnx": str(onnx_path),
        "genotype": spec.genotype_name,
        "dataset": spec.dataset,
        "ops": spec.ops,
        "init_channels": spec.init_channels,
        "layers": spec.layers,
        "parameters": sum(p.numel() for p in network.parameters()),
        **checks,
        "opsets": {key: opset_of(path) for key, path in paths.items()},
    }
    if args.check_only:
        return entry

    entry["file_node_counts"] = {key: node_counts(paths[key]) for key in ONNX_GRAPHS}
    for key in ONNX_GRAPHS:
        counts = ", ".join(f"{op} {n}" for op, n in entry["file_node_counts"][key].items())
        print(f"  {LABELS[key]} nodes: {counts}")
    entry["results"] = benchmark_network(network, spec, paths, args)
    if args.profile:
        entry["profiles"] = profile_network(name, spec, paths, args, args.profile)
    return entry


def write_reports(report: dict, args: argparse.Namespace):
    write_atomic(args.out / "baseline.json", json.dumps(report, indent=2) + "\n")
    write_atomic(args.out / "baseline.md", markdown_report(report))
    print(f"wrote {args.out / 'baseline.md'} and {args.out / 'baseline.json'}")
    if not args.profile:
        return
    profiles = {key: report[key] for key in ("machine", "load_average", "versions", "command")}
    profiles["settings"] = report["settings"]
    profiles["networks"] = [
        {key: net[key] for key in ("name", "description", "file_node_counts", "profiles")}
        for net in report["networks"]
    ]
    write_atomic(args.profile / "profile.json", json.dumps(profiles, indent=2) + "\n")
    write_atomic(args.profile / "profile.md", profile_markdown(report))
    print(f"wrote {args.profile / 'profile.md'} and {args.profile / 'profile.json'}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    report = {
        "machine": machine_info(),
        "load_average": {"start": os.getloadavg()[0]},
        "versions": versions(),
        "command": shlex.join([sys.executable, *sys.argv]),
        "settings": {
            "batch_sizes": args.batch_sizes,
            "threads": args.threads,
            "warmup": args.warmup,
            "runs": args.runs,
            "block": args.block,
            "settle_ms": args.settle_ms,
            "profile_runs": args.profile_runs if args.profile else None,
            "tolerance": args.tolerance,
            "seed": args.seed,
            "opset": OPSET,
        },
        "networks": [],
    }
    names = network_names(args.run_dirs)
    with tempfile.TemporaryDirectory(prefix="pytorch_baseline.") as scratch:
        for name, run_dir, onnx_path in zip(names, args.run_dirs, args.onnx):
            # The torch.onnx exports are kept under --out, else deleted at exit.
            work = (args.out or Path(scratch)) / name
            work.mkdir(parents=True, exist_ok=True)
            report["networks"].append(process_network(name, run_dir, onnx_path, args, work))
    if args.check_only:
        print(f"logits match within {args.tolerance:g} for {len(names)} run folder(s)")
        return 0
    report["load_average"]["end"] = os.getloadavg()[0]
    write_reports(report, args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InvalidInput as error:
        print(f"pytorch_baseline: error: {error}", file=sys.stderr)
        sys.exit(EXIT_INVALID)
    except LogitsMismatch as error:
        print(f"pytorch_baseline: logits check failed: {error}", file=sys.stderr)
        sys.exit(EXIT_MISMATCH)

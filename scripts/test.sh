#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs every test in release mode:
# unit tests of each crate and the end-to-end tests in tests/, which train on
# real CIFAR-10 images and compare libtorch with ONNX Runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --release --workspace --no-fail-fast "$@"

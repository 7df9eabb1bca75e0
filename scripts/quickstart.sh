#!/usr/bin/env bash
# Sets everything up, then runs the whole path on CIFAR-10: a short training of
# SHARPSEPCONV_DARTS (16 channels, 8 cells), ONNX export, `serve eval` of the
# export on the same test images, and `serve predict` on a few test photos.
#
# Data: $CIFAR10_DIR (ImageFolder train/ and test/, or the official binary
# batches); when unset, the copy kept beside the checkout on development machines.
# Output: $RUN_DIR (default runs/quickstart).
set -euo pipefail
cd "$(dirname "$0")/.."

data="${CIFAR10_DIR:-}"
if [ -z "$data" ] && [ -d ../shared/data/cifar10 ]; then
    data=../shared/data/cifar10
fi
if [ -z "$data" ] || [ ! -d "$data" ]; then
    if [ -n "$data" ]; then
        echo "quickstart: CIFAR10_DIR=$data is not a folder." >&2
    fi
    cat >&2 <<'TXT'
quickstart: no CIFAR-10 data found. Set CIFAR10_DIR to a folder in one of these layouts:
  - ImageFolder: train/<class>/*.png|jpg and test/<class>/*.png|jpg
  - the official binary version: data_batch_1.bin ... data_batch_5.bin, test_batch.bin,
    batches.meta.txt (or a folder that contains cifar-10-batches-bin/)
CIFAR-10 is published at https://www.cs.toronto.edu/~kriz/cifar.html
TXT
    exit 2
fi

scripts/setup.sh

run="${RUN_DIR:-runs/quickstart}"
bin=target/release
limit_train=5000
limit_test=1000
seed=0
start=$(date +%s)

"$bin/train" final --genotype SHARPSEPCONV_DARTS --data "$data" --out "$run" --overwrite \
    --init-channels 16 --layers 8 --epochs 3 --warmup-epochs 0 --batch-size 64 \
    --limit-train "$limit_train" --limit-test "$limit_test" --seed "$seed"
"$bin/export" --onnx --run "$run" --out "$run/model.onnx"
"$bin/serve" eval "$run/model.onnx" --data "$data" --limit-test "$limit_test" --seed "$seed" \
    --json > "$run/eval.json"
"$bin/serve" eval "$run/model.onnx" --data "$data" --limit-test "$limit_test" --seed "$seed"

if [ -d "$data/test" ]; then
    mapfile -t photos < <(find "$data/test" -type f \( -name '*.jpg' -o -name '*.png' \) | sort | awk 'NR % 2000 == 1' | head -n 4)
    "$bin/serve" predict "$run/model.onnx" "${photos[@]}" --top-k 3
fi

elapsed=$(( $(date +%s) - start ))
echo
echo "quickstart: finished in ${elapsed} s (after setup). Files in $run:"
echo "  model.json          genotype, network settings, classes, normalisation"
echo "  weights.safetensors weights of the epoch with the best test accuracy"
echo "  metrics.jsonl       one line per epoch: lr, losses, accuracies, images per second"
echo "  result.json         best and final test accuracy, parameters, multiply-adds"
echo "  model.onnx          the exported inference graph (BatchNorm folded, dynamic batch)"
echo "  eval.json           serve eval of model.onnx on the same test images"

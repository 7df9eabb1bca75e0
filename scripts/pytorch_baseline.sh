#!/usr/bin/env bash
# Compares our ONNX export with PyTorch on four trained networks:
# SHARPSEPCONV_DARTS and SHARP_DARTS at 16 channels x 8 cells and at
# 36 x 20. Each gets a very short `train final` on a small real CIFAR-10
# subset, `export --onnx`, then scripts/pytorch_baseline.py checks the logits
# and times PyTorch eager, our export and the torch.onnx exports.
#
# Usage: scripts/pytorch_baseline.sh [--data DIR] [--retrain] [OPTIONS...]
#   --data DIR  CIFAR-10 folder (ImageFolder train/ and test/, or the official
#               binary batches) [default: $CIFAR10_DIR, else the shared data
#               copy beside the checkout]
#   --retrain   train and export again even where a run folder already has
#               weights.safetensors and model.onnx
#   OPTIONS     passed to pytorch_baseline.py, e.g. --runs 10 --threads 2
#
# Run scripts/setup.sh first. Outputs go to runs/baselines/: the run
# folders in runs/, baseline.md and baseline.json, the torch.onnx exports in
# one folder per network, and ONNX Runtime profiles in profile/.
# On a 2-core machine with nothing else running, the whole script with the
# default options took 11 minutes, most of it timing the two 36 x 20
# networks at batch 32.
set -euo pipefail
cd "$(dirname "$0")/.."

data="${CIFAR10_DIR:-$(cd .. && pwd)/shared/data/cifar10}"
retrain=0
while [ $# -gt 0 ]; do
    case "$1" in
        --data)
            if [ $# -lt 2 ]; then
                echo "pytorch_baseline.sh: --data needs a folder" >&2
                exit 2
            fi
            data="$2"
            shift 2
            ;;
        --retrain)
            retrain=1
            shift
            ;;
        *)
            break
            ;;
    esac
done

if [ ! -d "$data" ]; then
    echo "pytorch_baseline.sh: CIFAR-10 folder $data not found; pass --data DIR or set CIFAR10_DIR" >&2
    exit 2
fi
bin=target/release
python=.venv/bin/python
for tool in "$bin/train" "$bin/export" "$python"; do
    if [ ! -x "$tool" ]; then
        echo "pytorch_baseline.sh: $tool not found; run scripts/setup.sh first" >&2
        exit 2
    fi
done

out=runs/baselines
seed=0
# Name, genotype, channels, cells.
networks=(
    "sharpsepconv_darts_16x8 SHARPSEPCONV_DARTS 16 8"
    "sharp_darts_16x8 SHARP_DARTS 16 8"
    "sharpsepconv_darts_36x20 SHARPSEPCONV_DARTS 36 20"
    "sharp_darts_36x20 SHARP_DARTS 36 20"
)
run_dirs=()
for network in "${networks[@]}"; do
    read -r name genotype channels cells <<<"$network"
    run="$out/runs/$name"
    run_dirs+=("$run")
    if [ "$retrain" = 0 ] && [ -f "$run/weights.safetensors" ] && [ -f "$run/model.onnx" ]; then
        echo "pytorch_baseline.sh: reusing $run (pass --retrain to train it again)"
        continue
    fi
    echo "pytorch_baseline.sh: training $genotype $channels x $cells into $run"
    # Batches of 8 give 32 steps, after which the BatchNorm running statistics
    # (momentum 0.1) are about 97 % measured. After 4 steps of 64 they keep
    # two thirds of their initial variance of 1, far above the measured
    # variances, so every BatchNorm shrinks its output. The 36 x 20 logits
    # then hardly depend on the input, and the logits check proves little.
    "$bin/train" final --genotype "$genotype" --data "$data" --out "$run" --overwrite \
        --init-channels "$channels" --layers "$cells" --epochs 1 --warmup-epochs 0 \
        --batch-size 8 --limit-train 256 --limit-test 100 --threads 2 --seed "$seed"
    "$bin/export" --onnx --run "$run" --out "$run/model.onnx"
done

"$python" scripts/pytorch_baseline.py "${run_dirs[@]}" --out "$out" --profile "$out/profile" \
    --seed "$seed" "$@"

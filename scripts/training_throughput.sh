#!/usr/bin/env bash
# Measures `train final` training throughput (images per second, batch 64) of
# SHARPSEPCONV_DARTS at 16x8 and 36x20, with and without AutoAugment, on CPU.
# Each configuration trains two short epochs on a class-balanced subset. Only
# the second epoch's `images_per_second` and `data_wait_seconds` are reported,
# so one-off start-up costs are left out.
#
# Data: $CIFAR10_DIR (default: the copy kept beside the checkout).
# Output: $RUN_DIR (default runs/throughput), one run folder per configuration,
# and summary.md with the table.
set -euo pipefail
cd "$(dirname "$0")/.."

data="${CIFAR10_DIR:-../shared/data/cifar10}"
out="${RUN_DIR:-runs/throughput}"
threads="${THREADS:-$(nproc)}"
bin=target/release
if [ ! -x "$bin/train" ]; then
    echo "training_throughput: $bin/train is missing; run scripts/setup.sh first." >&2
    exit 2
fi

mkdir -p "$out"
summary="$out/summary.md"
{
    echo "| network | AutoAugment | threads | images/s | data wait (s) | epoch incl. test (s) |"
    echo "| --- | --- | ---: | ---: | ---: | ---: |"
} > "$summary"

# size, channels, layers, training images per epoch
for config in "16x8 16 8 3200" "36x20 36 20 640"; do
    read -r name channels layers images <<< "$config"
    for augment in off on; do
        run="$out/${name}_autoaugment_${augment}"
        flag=()
        [ "$augment" = on ] && flag=(--autoaugment)
        "$bin/train" final --genotype SHARPSEPCONV_DARTS --data "$data" --out "$run" --overwrite \
            --init-channels "$channels" --layers "$layers" --batch-size 64 --epochs 2 \
            --warmup-epochs 0 --cutout "${flag[@]}" --limit-train "$images" --limit-test 64 \
            --threads "$threads" --seed 0 > "$run.log" 2>&1
        python3 - "$run/metrics.jsonl" "$name" "$augment" "$threads" >> "$summary" <<'PY'
import json, sys
path, name, augment, threads = sys.argv[1:]
last = [json.loads(line) for line in open(path)][-1]
print(f"| {name} | {augment} | {threads} | {last['images_per_second']:.1f} "
      f"| {last['data_wait_seconds']:.2f} | {last['seconds']:.1f} |")
PY
    done
done
cat "$summary"

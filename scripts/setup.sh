#!/usr/bin/env bash
# Creates the project's virtual environment (.venv) with the pinned libtorch
# and ONNX Runtime wheels, then builds the release binaries into target/release.
# Running it again only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv"
    python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing requirements.txt into $venv (about 4.5 GB: the torch wheel brings its CUDA libraries)"
    "$venv/bin/pip" install --disable-pip-version-check -q -r requirements.txt
    echo "$wanted" > "$stamp"
fi

# Stable links that the build (.cargo/config.toml) and the binaries look up,
# whatever the Python minor version in the path.
# Links are only rewritten when they change, because the build watches them.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
link() {
    [ "$(readlink "$2" 2>/dev/null)" = "$1" ] || ln -sfn "$1" "$2"
}
link "$site/torch" "$venv/libtorch"
link "$site/onnxruntime/capi" "$venv/onnxruntime"

echo "setup: building release binaries (the first build compiles libtorch bindings, several minutes)"
cargo build --release --workspace --bins
echo "setup: done; binaries are in target/release (train, export, serve)"

//! Bakes the path of the project's ONNX Runtime library into the crate, so
//! the binaries find it without any environment variable.
//!
//! scripts/setup.sh links `<workspace>/.venv/onnxruntime` to the pip wheel's
//! `onnxruntime/capi` folder. When that link exists at build time, the build
//! exports the canonical path of the first `libonnxruntime.so*` file in it as
//! `SERVE_ORT_LIBRARY`. Otherwise the variable stays unset.

use std::path::PathBuf;

#[path = "src/runtime/library_files.rs"]
mod library_files;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let folder = manifest.join("..").join(".venv").join("onnxruntime");
    println!("cargo:rerun-if-changed={}", folder.display());
    println!("cargo:rerun-if-changed=src/runtime/library_files.rs");

    let files = library_files::library_files(&folder).unwrap_or_default();
    if let Some(library) = files.into_iter().find_map(|path| path.canonicalize().ok()) {
        println!("cargo:rustc-env=SERVE_ORT_LIBRARY={}", library.display());
    }
}

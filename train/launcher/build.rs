//! Bakes in the workspace's libtorch folder (`.venv/libtorch/lib`, made by
//! scripts/setup.sh) when it exists at build time.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let venv_lib = Path::new(&manifest_dir).join("../../.venv/libtorch/lib");
    println!("cargo:rerun-if-changed={}", venv_lib.display());
    if let Ok(lib_dir) = venv_lib.canonicalize() {
        println!(
            "cargo:rustc-env=TRAIN_LAUNCHER_LIBTORCH_LIB={}",
            lib_dir.display()
        );
    }
}

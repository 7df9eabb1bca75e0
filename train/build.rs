//! Points the engine and the tests at the libtorch that torch-sys linked, so they
//! start without LD_LIBRARY_PATH, and keeps libtorch_cuda.so loaded on CUDA builds.

use std::path::{Path, PathBuf};

fn main() {
    emit_tch_version();
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report its libtorch folder; no rpath is set");
        return;
    };
    let lib_dir = PathBuf::from(lib_dir);
    let lib_dir = lib_dir.canonicalize().unwrap_or(lib_dir);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    println!("cargo:rustc-env=TRAIN_LIBTORCH_LIB={}", lib_dir.display());

    // rustc links with --as-needed, which drops libtorch_cuda.so because no
    // symbol of it is referenced; without it libtorch registers no CUDA backend.
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }

    let version = read_torch_version(&lib_dir).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TRAIN_LIBTORCH_VERSION={version}");
}

/// Reads `__version__` from `<torch>/version.py`, the folder above `lib/`.
fn read_torch_version(lib_dir: &Path) -> Option<String> {
    let path = lib_dir.parent()?.join("version.py");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let value = line
            .strip_prefix("__version__")?
            .trim_start()
            .strip_prefix('=')?;
        Some(
            value
                .trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .to_string(),
        )
    })
}

/// Records the tch version that Cargo.lock resolved, for `train doctor`.
fn emit_tch_version() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let lock = Path::new(&manifest_dir).join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let mut lines = text.lines();
    let mut version = "unknown".to_string();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"tch\"" {
            if let Some(next) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                version = next.trim_matches('"').to_string();
            }
            break;
        }
    }
    println!("cargo:rustc-env=TRAIN_TCH_VERSION={version}");
}

//! Lets the end-to-end tests, which link libtorch through the `train` crate,
//! find it at run time without LD_LIBRARY_PATH.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    // .cargo/config.toml points LIBTORCH at the project's virtual environment.
    let Some(libtorch) = std::env::var_os("LIBTORCH") else {
        return;
    };
    let lib = PathBuf::from(libtorch).join("lib");
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", lib.display());
}

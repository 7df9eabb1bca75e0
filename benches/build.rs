//! Lets the benchmark binary find the libtorch that torch-sys linked at run
//! time without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report its libtorch folder; no rpath is set");
        return;
    };
    let lib_dir = std::path::PathBuf::from(lib_dir);
    let lib_dir = lib_dir.canonicalize().unwrap_or(lib_dir);
    println!(
        "cargo:rustc-link-arg-benches=-Wl,-rpath,{}",
        lib_dir.display()
    );
}

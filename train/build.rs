//! Points the engine and the tests at the libtorch that torch-sys linked, so they
//! start without LD_LIBRARY_PATH, keeps libtorch_cuda.so loaded on CUDA builds,
//! compiles the bindings of libtorch's deterministic mode and autocast type,
//! and records the versions and git revision that `manifest.json` reports.

use std::path::{Path, PathBuf};

fn main() {
    emit_tch_version();
    emit_git_revision();
    println!("cargo::rustc-check-cfg=cfg(deterministic_binding)");
    println!("cargo::rustc-check-cfg=cfg(autocast_binding)");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=torch-sys did not report its libtorch folder; no rpath is set \
             and --deterministic is not available"
        );
        println!("cargo:rustc-env=TRAIN_LIBTORCH_VERSION=unknown");
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
    compile_binding(&DETERMINISTIC_BINDING, &lib_dir);
    compile_binding(&AUTOCAST_BINDING, &lib_dir);
}

/// A C++ file compiled against libtorch's headers, for a libtorch call that
/// tch 0.24 does not bind.
struct Binding {
    source: &'static str,
    /// Header that must exist for the source to compile.
    header: &'static str,
    library: &'static str,
    /// cfg set when the binding compiled.
    cfg: &'static str,
    /// Command-line option that needs the binding, for the warning.
    option: &'static str,
}

const DETERMINISTIC_BINDING: Binding = Binding {
    source: "cpp/deterministic.cpp",
    header: "ATen/Context.h",
    library: "sharpdarts_deterministic",
    cfg: "deterministic_binding",
    option: "--deterministic",
};

const AUTOCAST_BINDING: Binding = Binding {
    source: "cpp/autocast.cpp",
    header: "ATen/autocast_mode.h",
    library: "sharpdarts_autocast",
    cfg: "autocast_binding",
    option: "--amp",
};

/// Compiles `binding` with the flags torch-sys uses for its own C++ wrapper,
/// and sets its cfg when that succeeded.
fn compile_binding(binding: &Binding, lib_dir: &Path) {
    println!("cargo:rerun-if-changed={}", binding.source);
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let Some(include) = lib_dir.parent().map(|torch| torch.join("include")) else {
        return;
    };
    if !include.join(binding.header).is_file() {
        println!(
            "cargo:warning=libtorch headers not found in {}; {} is not available",
            include.display(),
            binding.option
        );
        return;
    }
    // torch-sys defaults to the C++11 ABI as well, which the PyTorch wheels use.
    let cxx11_abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string());
    cc::Build::new()
        .cpp(true)
        .file(binding.source)
        .include(&include)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={cxx11_abi}"))
        .warnings(false)
        .compile(binding.library);
    println!("cargo:rustc-cfg={}", binding.cfg);
}

/// Records the commit checked out in the workspace as TRAIN_GIT_REVISION
/// (empty when it cannot be read) and the workspace folder as
/// TRAIN_WORKSPACE_DIR, and reruns this script when the commit changes.
fn emit_git_revision() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace = Path::new(&manifest_dir).join("..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    println!(
        "cargo:rustc-env=TRAIN_WORKSPACE_DIR={}",
        workspace.display()
    );
    let revision = git_revision(&workspace).unwrap_or_default();
    println!("cargo:rustc-env=TRAIN_GIT_REVISION={revision}");
}

/// Reads the commit that HEAD names from the `.git` folder (or the folder a
/// `.git` file points to, as in a worktree), following a branch through its
/// loose ref file or `packed-refs`.
fn git_revision(workspace: &Path) -> Option<String> {
    let dot_git = workspace.join(".git");
    let git_dir = if dot_git.is_dir() {
        dot_git
    } else {
        let text = std::fs::read_to_string(&dot_git).ok()?;
        workspace.join(text.trim().strip_prefix("gitdir:")?.trim())
    };
    let head_path = git_dir.join("HEAD");
    watch(&head_path);
    let head = std::fs::read_to_string(&head_path).ok()?;
    let Some(reference) = head.trim().strip_prefix("ref:").map(str::trim) else {
        return commit_id(&head);
    };

    // A worktree keeps its HEAD in its own folder and the refs in the common one.
    let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(relative) => git_dir.join(relative.trim()),
        Err(_) => git_dir.clone(),
    };
    for dir in [&git_dir, &common_dir] {
        let loose = dir.join(reference);
        // A commit creates or replaces the loose ref file inside this folder.
        if let Some(parent) = loose.parent().filter(|parent| parent.is_dir()) {
            watch(parent);
        }
        if let Ok(text) = std::fs::read_to_string(&loose) {
            return commit_id(&text);
        }
    }

    let packed = common_dir.join("packed-refs");
    watch(&packed);
    let text = std::fs::read_to_string(&packed).ok()?;
    text.lines().find_map(|line| {
        let (id, name) = line.split_once(' ')?;
        (name.trim() == reference).then(|| commit_id(id)).flatten()
    })
}

/// Reruns this script when `path` changes; only existing paths are watched,
/// because Cargo reruns the script on every build for a missing one.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Returns `text` trimmed when it is a hexadecimal commit id (SHA-1 or SHA-256).
fn commit_id(text: &str) -> Option<String> {
    let id = text.trim();
    let valid = matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| id.to_string())
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

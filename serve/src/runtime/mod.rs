//! Locating, version-checking and loading the ONNX Runtime shared library.
//!
//! ort is built with `load-dynamic`, so nothing links against ONNX Runtime at
//! build time and [`init`] picks the library at run time, in this order:
//!
//! 1. `ORT_DYLIB_PATH`, when set. It is then the only candidate, because an
//!    explicit choice that fails should be reported, not replaced.
//! 2. The path baked in by `build.rs` from `<workspace>/.venv/onnxruntime`.
//! 3. `<folder of the executable>/../../.venv/onnxruntime/libonnxruntime.so*`,
//!    which is the workspace's `.venv` for binaries in `target/<profile>/`.
//!
//! A candidate is accepted only if its version string is 1.31.x, the ONNX
//! Runtime release that ort 2.0.0-rc.15 targets.

mod library_files;
mod providers;

use std::ffi::CStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Result, ServeError};

pub use library_files::{library_files, LIBRARY_PREFIX};
pub(crate) use providers::with_cuda;
pub use providers::{available_providers, cuda_status, default_intra_threads, physical_cores};

/// The ONNX Runtime release this crate accepts: major.minor prefix of the version string.
pub const REQUIRED_VERSION: &str = "1.31.";

/// Environment variable that names the ONNX Runtime library explicitly.
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// A loaded ONNX Runtime library and the process-wide environment built on it.
pub struct Runtime {
    /// Canonical path of the loaded library file.
    pub library: PathBuf,
    /// Version string reported by the library, such as `1.31.1`.
    pub version: String,
    /// Origin of the path: `ORT_DYLIB_PATH`, `build-time path` or `next to the executable`.
    pub source: &'static str,
    environment: ort::environment::Environment,
    // Held for the life of the process (the runtime is stored in a static), so
    // the library loaded for the version check is never unloaded under ort.
    _library: libloading::Library,
}

impl Runtime {
    /// Returns the ort environment that every session of this process is created in.
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("version", &self.version)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// One library path that [`init`] looked at, and why it was rejected.
#[derive(Debug, Clone)]
struct Attempt {
    source: &'static str,
    path: Option<PathBuf>,
    problem: String,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "  {} {}: {}", self.source, path.display(), self.problem),
            None => write!(f, "  {}: {}", self.source, self.problem),
        }
    }
}

static RUNTIME: OnceLock<Result<Runtime, Vec<Attempt>>> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns it; later calls return the
/// same runtime, or the same error.
pub fn init() -> Result<&'static Runtime> {
    match RUNTIME.get_or_init(load_first_candidate) {
        Ok(runtime) => Ok(runtime),
        Err(attempts) => Err(not_found(attempts)),
    }
}

fn not_found(attempts: &[Attempt]) -> ServeError {
    let lines: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
    ServeError::RuntimeNotFound {
        attempts: lines.join("\n"),
    }
}

fn load_first_candidate() -> Result<Runtime, Vec<Attempt>> {
    let mut attempts = Vec::new();
    for (source, path) in candidates(&mut attempts) {
        match load(source, &path) {
            Ok(runtime) => return Ok(runtime),
            Err(problem) => attempts.push(Attempt {
                source,
                path: Some(path),
                problem,
            }),
        }
    }
    Err(attempts)
}

/// Lists the library paths to try, in order. Sources without a usable path
/// are recorded in `attempts` so the final error lists them too.
fn candidates(attempts: &mut Vec<Attempt>) -> Vec<(&'static str, PathBuf)> {
    if let Some(path) = std::env::var_os(DYLIB_ENV).filter(|value| !value.is_empty()) {
        return vec![(DYLIB_ENV, PathBuf::from(path))];
    }
    let mut found = Vec::new();
    match option_env!("SERVE_ORT_LIBRARY") {
        Some(path) => found.push(("build-time path", PathBuf::from(path))),
        None => attempts.push(Attempt {
            source: "build-time path",
            path: None,
            problem: "not set, because .venv/onnxruntime did not exist when serve was built"
                .to_owned(),
        }),
    }
    found.extend(beside_executable(attempts));
    found
}

/// Lists `libonnxruntime.so*` files in `<exe folder>/../../.venv/onnxruntime`.
fn beside_executable(attempts: &mut Vec<Attempt>) -> Vec<(&'static str, PathBuf)> {
    const SOURCE: &str = "next to the executable";
    let folder = match std::env::current_exe() {
        Ok(exe) => exe
            .parent()
            .unwrap_or(Path::new("/"))
            .join("../../.venv/onnxruntime"),
        Err(error) => {
            attempts.push(Attempt {
                source: SOURCE,
                path: None,
                problem: format!("failed to find the executable's path: {error}"),
            });
            return Vec::new();
        }
    };
    match library_files(&folder) {
        Ok(files) if !files.is_empty() => files.into_iter().map(|path| (SOURCE, path)).collect(),
        Ok(_) => {
            let problem = format!("folder contains no {LIBRARY_PREFIX}* file");
            attempts.push(Attempt {
                source: SOURCE,
                path: Some(folder),
                problem,
            });
            Vec::new()
        }
        Err(error) => {
            let problem = format!("folder not readable: {error}");
            attempts.push(Attempt {
                source: SOURCE,
                path: Some(folder),
                problem,
            });
            Vec::new()
        }
    }
}

/// Checks the version of the library at `path`, then hands it to ort and
/// builds the environment. Returns the reason when the library is rejected.
fn load(source: &'static str, path: &Path) -> Result<Runtime, String> {
    let library = path
        .canonicalize()
        .map_err(|error| format!("file not found ({error})"))?;
    let (handle, version) = read_version(&library)?;
    if !version.starts_with(REQUIRED_VERSION) {
        return Err(format!(
            "version {version}, but {REQUIRED_VERSION}x is required (ort 2.0.0-rc.15 targets it)"
        ));
    }
    let builder = ort::init_from(&library).map_err(|error| error.to_string())?;
    let environment = builder
        .with_name("serve")
        .with_telemetry(false)
        .build()
        .map_err(|error| format!("failed to create the environment: {error}"))?;
    tracing::debug!(library = %library.display(), %version, source, "loaded ONNX Runtime");
    Ok(Runtime {
        library,
        version,
        source,
        environment,
        _library: handle,
    })
}

/// Opens the library and returns it with `OrtGetApiBase()->GetVersionString()`,
/// without registering it with ort, so a wrong version can still be rejected
/// (dropping the handle unloads it).
fn read_version(path: &Path) -> Result<(libloading::Library, String), String> {
    type GetApiBase = unsafe extern "system" fn() -> *const ort::sys::OrtApiBase;

    // SAFETY: loading runs the library's initialisers, which for ONNX Runtime
    // only set up its own globals.
    let library = unsafe { libloading::Library::new(path) }.map_err(|error| {
        format!(
            "failed to load it as a shared library ({}); this path must be \
             libonnxruntime.so from onnxruntime {REQUIRED_VERSION}x",
            data::with_sources(&error)
        )
    })?;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime 1.x.
    let get_api_base = unsafe { library.get::<GetApiBase>(b"OrtGetApiBase") }
        .map_err(|_| "not an ONNX Runtime library: no `OrtGetApiBase` symbol".to_owned())?;
    // SAFETY: the function takes no arguments and returns a static table.
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return Err("OrtGetApiBase returned null".to_owned());
    }
    // SAFETY: `base` is non-null and points to the library's static
    // `OrtApiBase`, whose version string is a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(((*base).GetVersionString)()) };
    let version = version.to_string_lossy().into_owned();
    Ok((library, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_lists_source_path_problem() {
        let attempt = Attempt {
            source: DYLIB_ENV,
            path: Some(PathBuf::from("/opt/ort/libonnxruntime.so")),
            problem: "file not found".to_owned(),
        };
        assert_eq!(
            attempt.to_string(),
            "  ORT_DYLIB_PATH /opt/ort/libonnxruntime.so: file not found"
        );
    }

    #[test]
    fn load_rejects_missing_file() {
        let problem = load(DYLIB_ENV, Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
        assert!(problem.contains("file not found"), "{problem}");
    }

    #[test]
    fn read_version_rejects_non_library() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libonnxruntime.so");
        std::fs::write(&path, b"not a shared library").unwrap();
        let problem = read_version(&path).unwrap_err();
        assert!(problem.starts_with("failed to load"), "{problem}");
    }
}

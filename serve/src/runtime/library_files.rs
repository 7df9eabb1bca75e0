//! Finds ONNX Runtime library files by name. Shared by the build script and
//! the runtime loader, so both accept the same file names.

use std::path::{Path, PathBuf};

/// File name prefix of the ONNX Runtime shared library on Linux, followed by
/// an optional version suffix (`libonnxruntime.so.1.31.1`).
pub const LIBRARY_PREFIX: &str = "libonnxruntime.so";

/// Lists the files in `folder` whose name starts with [`LIBRARY_PREFIX`],
/// sorted by path. `libonnxruntime_providers_shared.so` does not match.
pub fn library_files(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut matches = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|name| name.to_str());
        if name.is_some_and(|name| name.starts_with(LIBRARY_PREFIX)) {
            matches.push(path);
        }
    }
    matches.sort();
    Ok(matches)
}

//! Atomic file output shared by every command that writes results.

use std::fs::{self, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Mode requested for new output files; the process umask then applies, as
/// for any file a program creates (0644 under the usual umask 022).
const NEW_FILE_MODE: u32 = 0o666;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder is
/// written, flushed to disk and renamed over the target, so readers see either
/// the old file or the new one, never a partial write.
///
/// A symbolic link at `path` is followed, so its target is replaced and the
/// link kept. An existing target that is not a regular file (a device, FIFO or
/// folder) is rejected rather than replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target = output_target(path)?;
    let folder = parent_folder(&target);
    if !folder.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "folder {} does not exist; create it first",
                folder.display()
            ),
        ));
    }
    let mut file = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(Permissions::from_mode(NEW_FILE_MODE))
        .tempfile_in(folder)
        .map_err(|e| without_temporary_path(e, "cannot create a file in", folder))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| without_temporary_path(e, "cannot write a file in", folder))?;
    file.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// Resolves the file that `path` names: the target of a symbolic link, and
/// only a regular file or a path that does not exist yet.
fn output_target(path: &Path) -> io::Result<PathBuf> {
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{} is a symbolic link whose target cannot be resolved: {e}",
                    path.display()
                ),
            )
        })?,
        _ => path.to_path_buf(),
    };
    match fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} exists and is not a regular file, so it is not replaced; choose a file path",
                path.display()
            ),
        )),
        _ => Ok(target),
    }
}

fn parent_folder(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Rewords an error from the temporary file, whose random name means nothing
/// to the user, in terms of the output folder.
fn without_temporary_path(error: io::Error, action: &str, folder: &Path) -> io::Error {
    let kind = error.kind();
    io::Error::new(kind, format!("{action} {}: {kind}", folder.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let entries = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(entries, 1, "no temporary file is left behind");
    }

    #[test]
    fn new_file_is_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.onnx");
        write_atomic(&path, b"bytes").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        // Whatever the umask removes, the temporary file's 0600 must not stick.
        assert_ne!(mode & 0o777, 0o600, "mode {mode:o}");
        assert_eq!(
            mode & 0o600,
            0o600,
            "owner can read and write, mode {mode:o}"
        );
    }

    #[test]
    fn follows_symbolic_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn rejects_non_regular_target() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a-folder");
        fs::create_dir(&folder).unwrap();
        let error = write_atomic(&folder, b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("not a regular file"), "{error}");
        assert!(folder.is_dir(), "the folder is left in place");
    }

    #[test]
    fn missing_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/out.onnx");
        let error = write_atomic(&path, b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let message = error.to_string();
        assert!(message.contains("missing"), "{message}");
        assert!(
            !message.contains(".tmp-"),
            "no temporary file name in {message}"
        );
    }
}

//! The `train` command. It finds a libtorch 2.11.0 before anything links it,
//! then replaces itself with the `train-engine` binary next to it, passing the
//! same arguments and putting that libtorch first on LD_LIBRARY_PATH.
//!
//! Places searched, in order:
//! 1. `$LIBTORCH/lib` when LIBTORCH is set;
//! 2. the workspace's `.venv/libtorch/lib`, recorded when this binary was built;
//! 3. `<folder of this executable>/../../.venv/libtorch/lib` (a `target/<profile>` build).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The libtorch version tch 0.24 was written for; the engine needs exactly it.
const REQUIRED_VERSION: &str = "2.11.0";
const ENGINE: &str = "train-engine";
const FIX: &str = "run scripts/setup.sh, or set LIBTORCH to a libtorch 2.11.0 folder \
                   that has lib/ and include/";

/// A place where libtorch's shared libraries may be.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    /// Source of the path, for messages.
    origin: String,
    lib_dir: PathBuf,
}

/// Reason a candidate was rejected.
#[derive(Debug, Clone, PartialEq)]
enum Rejection {
    MissingFolder,
    MissingFile(&'static str),
    MissingVersion,
    WrongVersion(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::MissingFolder => write!(f, "folder not found"),
            Rejection::MissingFile(name) => write!(f, "{name} not found"),
            Rejection::MissingVersion => write!(
                f,
                "no version found (neither ../version.py with __version__ nor ../build-version)"
            ),
            Rejection::WrongVersion(found) => {
                write!(
                    f,
                    "found version {found}, but {REQUIRED_VERSION} is required"
                )
            }
        }
    }
}

fn main() -> ExitCode {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let candidates = candidates(
        std::env::var_os("LIBTORCH"),
        option_env!("TRAIN_LAUNCHER_LIBTORCH_LIB"),
        exe_dir.as_deref(),
    );
    let lib_dir = match find_libtorch(&candidates) {
        Ok(lib_dir) => lib_dir,
        Err(rejections) => {
            eprintln!("{}", not_found_message(&candidates, &rejections));
            return ExitCode::from(2);
        }
    };
    let Some(exe_dir) = exe_dir else {
        eprintln!("error: cannot determine the folder of the `train` executable to find {ENGINE}");
        return ExitCode::from(2);
    };
    let error = exec_engine(&exe_dir.join(ENGINE), &lib_dir);
    eprintln!("{error}");
    ExitCode::from(2)
}

/// Lists the places to search, in order.
fn candidates(
    libtorch: Option<OsString>,
    baked: Option<&str>,
    exe_dir: Option<&Path>,
) -> Vec<Candidate> {
    let mut list = Vec::new();
    if let Some(root) = libtorch.filter(|root| !root.is_empty()) {
        list.push(Candidate {
            origin: "$LIBTORCH/lib".to_string(),
            lib_dir: PathBuf::from(root).join("lib"),
        });
    }
    if let Some(lib_dir) = baked {
        list.push(Candidate {
            origin: "workspace .venv at build time".to_string(),
            lib_dir: PathBuf::from(lib_dir),
        });
    }
    if let Some(exe_dir) = exe_dir {
        list.push(Candidate {
            origin: "relative to the executable".to_string(),
            lib_dir: exe_dir.join("../../.venv/libtorch/lib"),
        });
    }
    list
}

/// Returns the first usable libtorch lib folder, or why each candidate failed.
fn find_libtorch(candidates: &[Candidate]) -> Result<PathBuf, Vec<Rejection>> {
    let mut rejections = Vec::new();
    for candidate in candidates {
        match check(&candidate.lib_dir) {
            Ok(()) => {
                if !rejections.is_empty() {
                    warn_skipped(&candidates[..rejections.len()], &rejections, candidate);
                }
                let lib_dir = candidate
                    .lib_dir
                    .canonicalize()
                    .unwrap_or(candidate.lib_dir.clone());
                return Ok(lib_dir);
            }
            Err(rejection) => rejections.push(rejection),
        }
    }
    Err(rejections)
}

/// Tells the user when a place they chose (LIBTORCH) was passed over.
fn warn_skipped(skipped: &[Candidate], rejections: &[Rejection], used: &Candidate) {
    for (candidate, rejection) in skipped.iter().zip(rejections) {
        eprintln!(
            "warning: skipped {} ({}): {rejection}; using {}",
            candidate.lib_dir.display(),
            candidate.origin,
            used.lib_dir.display()
        );
    }
}

/// Checks that `lib_dir` has libtorch's core libraries and the required version.
fn check(lib_dir: &Path) -> Result<(), Rejection> {
    if !lib_dir.is_dir() {
        return Err(Rejection::MissingFolder);
    }
    for name in ["libtorch_cpu.so", "libc10.so"] {
        if !lib_dir.join(name).is_file() {
            return Err(Rejection::MissingFile(name));
        }
    }
    let version = read_version(lib_dir).ok_or(Rejection::MissingVersion)?;
    let release = version.split('+').next().unwrap_or_default();
    if release != REQUIRED_VERSION {
        return Err(Rejection::WrongVersion(version));
    }
    Ok(())
}

/// Reads the libtorch version beside `lib/`: `version.py` in a PyTorch wheel
/// (`__version__ = '2.11.0+cu130'`), `build-version` in a libtorch archive.
fn read_version(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        return text.lines().find_map(parse_version_line);
    }
    let text = std::fs::read_to_string(root.join("build-version")).ok()?;
    let version = text.trim();
    (!version.is_empty()).then(|| version.to_string())
}

/// Parses `__version__ = '2.11.0+cu130'` (optionally `__version__: str = ...`).
fn parse_version_line(line: &str) -> Option<String> {
    let rest = line.strip_prefix("__version__")?;
    if !rest.starts_with([' ', ':', '=']) {
        return None;
    }
    let (_, value) = rest.split_once('=')?;
    let unquoted = value.trim().trim_matches(['\'', '"']);
    (!unquoted.is_empty()).then(|| unquoted.to_string())
}

fn not_found_message(candidates: &[Candidate], rejections: &[Rejection]) -> String {
    let mut message = format!("error: libtorch {REQUIRED_VERSION} not found. Looked in:\n");
    if !candidates.iter().any(|c| c.origin.starts_with("$LIBTORCH")) {
        message.push_str("  $LIBTORCH: not set\n");
    }
    for (candidate, rejection) in candidates.iter().zip(rejections) {
        message.push_str(&format!(
            "  {} ({}): {rejection}\n",
            candidate.lib_dir.display(),
            candidate.origin
        ));
    }
    message.push_str(&format!("To fix: {FIX}."));
    message
}

/// Replaces this process with the engine; returns only on failure.
fn exec_engine(engine: &Path, lib_dir: &Path) -> String {
    if !engine.is_file() {
        return format!(
            "error: {} not found; build it with `cargo build --release --workspace --bins` \
             or run scripts/setup.sh",
            engine.display()
        );
    }
    let mut library_path = OsString::from(lib_dir);
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH").filter(|p| !p.is_empty()) {
        library_path.push(":");
        library_path.push(existing);
    }
    let error = Command::new(engine)
        .arg0("train")
        .args(std::env::args_os().skip(1))
        .env("LD_LIBRARY_PATH", library_path)
        .env("TRAIN_LIBTORCH_LIB", lib_dir)
        .exec();
    format!("error: failed to run {}: {error}", engine.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Makes `<root>/lib` with the two core libraries and a version file.
    fn fake_libtorch(root: &Path, version_py: Option<&str>) -> PathBuf {
        let lib = root.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("libtorch_cpu.so"), b"").unwrap();
        std::fs::write(lib.join("libc10.so"), b"").unwrap();
        if let Some(text) = version_py {
            std::fs::write(root.join("version.py"), text).unwrap();
        }
        lib
    }

    fn candidate(lib_dir: &Path) -> Candidate {
        Candidate {
            origin: "test".to_string(),
            lib_dir: lib_dir.to_path_buf(),
        }
    }

    #[test]
    fn version_line_forms() {
        let parse = parse_version_line;
        assert_eq!(
            parse("__version__ = '2.11.0+cu130'").as_deref(),
            Some("2.11.0+cu130")
        );
        assert_eq!(parse("__version__=\"2.11.0\"").as_deref(), Some("2.11.0"));
        assert_eq!(
            parse("__version__: str = '2.11.0+cpu'").as_deref(),
            Some("2.11.0+cpu")
        );
        assert_eq!(parse("__all__ = ['__version__']"), None);
        assert_eq!(parse("git_version = 'abc'"), None);
    }

    #[test]
    fn accepts_matching_wheel() {
        let dir = tempfile::tempdir().unwrap();
        let lib = fake_libtorch(dir.path(), Some("x = 1\n__version__ = '2.11.0+cu130'\n"));
        assert_eq!(check(&lib), Ok(()));
    }

    #[test]
    fn accepts_libtorch_archive() {
        let dir = tempfile::tempdir().unwrap();
        let lib = fake_libtorch(dir.path(), None);
        std::fs::write(dir.path().join("build-version"), "2.11.0+cpu\n").unwrap();
        assert_eq!(check(&lib), Ok(()));
    }

    #[test]
    fn rejects_wrong_version() {
        let dir = tempfile::tempdir().unwrap();
        let lib = fake_libtorch(dir.path(), Some("__version__ = '2.10.1+cpu'\n"));
        assert_eq!(
            check(&lib),
            Err(Rejection::WrongVersion("2.10.1+cpu".to_string()))
        );
        let message = Rejection::WrongVersion("2.10.1+cpu".into()).to_string();
        assert!(
            message.contains("2.10.1+cpu") && message.contains("2.11.0"),
            "{message}"
        );
    }

    #[test]
    fn rejects_missing_pieces() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            check(&dir.path().join("absent")),
            Err(Rejection::MissingFolder)
        );
        let lib = fake_libtorch(dir.path(), None);
        assert_eq!(check(&lib), Err(Rejection::MissingVersion));
        std::fs::remove_file(lib.join("libc10.so")).unwrap();
        assert_eq!(check(&lib), Err(Rejection::MissingFile("libc10.so")));
    }

    #[test]
    fn first_usable_candidate_wins() {
        let bad = tempfile::tempdir().unwrap();
        let good = tempfile::tempdir().unwrap();
        let bad_lib = fake_libtorch(bad.path(), Some("__version__ = '2.9.0'\n"));
        let good_lib = fake_libtorch(good.path(), Some("__version__ = '2.11.0'\n"));
        let found = find_libtorch(&[candidate(&bad_lib), candidate(&good_lib)]).unwrap();
        assert_eq!(found, good_lib.canonicalize().unwrap());
    }

    #[test]
    fn failure_lists_every_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let wrong = fake_libtorch(&dir.path().join("old"), Some("__version__ = '2.9.0'\n"));
        let absent = dir.path().join("absent/lib");
        let list = [candidate(&wrong), candidate(&absent)];
        let rejections = find_libtorch(&list).unwrap_err();
        let message = not_found_message(&list, &rejections);
        assert!(message.contains(&wrong.display().to_string()), "{message}");
        assert!(message.contains("found version 2.9.0"), "{message}");
        assert!(message.contains(&absent.display().to_string()), "{message}");
        assert!(message.contains("folder not found"), "{message}");
        assert!(message.contains("$LIBTORCH: not set"), "{message}");
        assert!(message.contains("scripts/setup.sh"), "{message}");
    }

    #[test]
    fn candidate_order() {
        let exe_dir = Path::new("/opt/app/target/release");
        let list = candidates(
            Some("/opt/libtorch".into()),
            Some("/baked/lib"),
            Some(exe_dir),
        );
        let dirs: Vec<_> = list.iter().map(|c| c.lib_dir.clone()).collect();
        assert_eq!(
            dirs,
            [
                PathBuf::from("/opt/libtorch/lib"),
                PathBuf::from("/baked/lib"),
                exe_dir.join("../../.venv/libtorch/lib"),
            ]
        );
        assert_eq!(candidates(Some("".into()), None, None), Vec::new());
    }
}

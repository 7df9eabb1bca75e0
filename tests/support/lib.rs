//! Helpers for the end-to-end tests: where the release binaries and the
//! shared data sets are, and how to run a command and keep its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Returns the workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a binary built into the same target profile folder as the running test.
///
/// Panics with the build command when it is missing, since the tests cannot run without it.
pub fn binary(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile folder");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "binary {} not found; build it first with `cargo build --workspace --bins` in the same profile \
         (scripts/test.sh does this)",
        path.display()
    );
    path
}

/// Returns the folder of real data sets next to the repository (CIFAR-10 and ImageNet samples).
///
/// Panics when it is missing: these tests check behaviour on real data and must not pass
/// without it. Set SHARPDARTS_DATA to use another copy.
pub fn shared_data() -> PathBuf {
    let path = std::env::var_os("SHARPDARTS_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"));
    assert!(
        path.join("cifar10/test").is_dir(),
        "real data not found at {} (expected cifar10/test inside); set SHARPDARTS_DATA",
        path.display()
    );
    path
}

/// Runs a command and returns its output; panics only if it cannot be started.
pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("failed to start {command:?}: {e}"))
}

/// Runs a command that must succeed and returns its standard output;
/// `what` names the command in the failure message.
pub fn run_ok(command: &mut Command, what: &str) -> Vec<u8> {
    let output = run(command);
    assert!(
        output.status.success(),
        "{what} failed\n{}",
        describe(&output)
    );
    output.stdout
}

/// Reads a JSON file, naming the file when it is missing or invalid.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads a JSON Lines file, one value per line.
pub fn read_json_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// Standard output and error of a finished command, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts that a command failed cleanly: non-zero exit, no panic, and an error
/// message on stderr that contains every one of `needles`.
pub fn assert_clean_failure(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure\n{}",
        describe(output)
    );
    assert_ne!(
        output.status.code(),
        Some(101),
        "exit code 101 means a panic\n{}",
        describe(output)
    );
    assert!(!stderr.contains("panicked"), "panic\n{}", describe(output));
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks `{needle}`\n{}",
            describe(output)
        );
    }
}

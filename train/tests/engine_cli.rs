//! The `train-engine` binary as a command-line tool.

use std::process::{Command, Stdio};

#[test]
fn closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_train-engine"))
        .arg("doctor")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closing the read end makes the engine's next write fail with EPIPE, as
    // after `train doctor | head -1`.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        let quiet = output.status.success() || output.status.signal() == Some(libc::SIGPIPE);
        assert!(quiet, "status {:?}: {stderr}", output.status);
    }
}

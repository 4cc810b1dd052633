//! Processes that end with the test binary: a watchdog per process group, and the
//! group's end when a guard is dropped.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

/// Runs `cleanup` (a shell snippet) once this test process has exited, however it exits.
pub(crate) fn on_exit(cleanup: &str) -> Result<()> {
    let me = std::process::id();
    let script = format!("while kill -0 {me} 2>/dev/null; do sleep 0.3; done; {cleanup}");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    new_process_group(&mut cmd);
    cmd.spawn().context("spawn the exit watchdog")?;
    Ok(())
}

pub(crate) fn new_process_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    cmd.process_group(0);
}

/// The shell snippet that ends process group `pgid`: TERM, then KILL after 2 s. It runs
/// `/bin/kill` (procps), not the shell's own: Debian's `sh` is dash, whose `kill` refuses
/// the `--` before a negative group id ("Illegal number"), which left every shared relay
/// and browser driver running after its test binary had exited.
pub(crate) fn kill_group_snippet(pgid: u32) -> String {
    format!(
        "/bin/kill -TERM -- -{pgid} 2>/dev/null; sleep 2; /bin/kill -KILL -- -{pgid} 2>/dev/null; true"
    )
}

pub(crate) fn kill_group_now(pgid: u32) {
    // `--` matters: procps-ng 4.0.2's `kill -TERM -PGID` signals every process (-1).
    let _ = Command::new("/bin/kill")
        .arg("-TERM")
        .arg("--")
        .arg(format!("-{pgid}"))
        .status();
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

//! Paths, ports, unique names, scaled time, progress lines and bounded polling: what
//! every other module of the kit and every test uses.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};

/// How often every wait polls.
pub const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------
// Paths, ports, names

/// The workspace root (the folder holding `Cargo.toml`, `scripts/`, `dist/`).
///
/// `cargo test` sets `CARGO_MANIFEST_DIR` when it runs a test binary; that wins over the
/// path compiled in, which is stale when a target dir is shared between two checkouts.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("a workspace member has a parent")
        .to_path_buf()
}

fn from_root(p: impl AsRef<Path>) -> PathBuf {
    let p = p.as_ref();
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        workspace_root().join(p)
    }
}

/// Cargo's target dir: `$CARGO_TARGET_DIR` or `<root>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(from_root)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The relay binary: `$VIGIL_BIN`, or the dev build in the target dir.
pub fn vigil_bin() -> PathBuf {
    std::env::var_os("VIGIL_BIN")
        .map(from_root)
        .unwrap_or_else(|| target_dir().join("debug").join("vigil"))
}

/// The built app: `$VIGIL_DIST_DIR`, or `<root>/dist` (made by `cargo xtask dist`).
pub fn dist_dir() -> PathBuf {
    std::env::var_os("VIGIL_DIST_DIR")
        .map(from_root)
        .unwrap_or_else(|| workspace_root().join("dist"))
}

/// Where failing waits leave page sources and screenshots.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("VIGIL_TEST_ARTIFACTS")
        .map(from_root)
        .unwrap_or_else(|| target_dir().join("e2e-artifacts"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    // Bind to port 0 and let the kernel choose; the listener closes on return.
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A short token unique within this machine for a while: `<prefix><6 hex digits>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mixed =
        (nanos ^ (u64::from(std::process::id()) << 20) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .wrapping_mul(0xff51_afd7_ed55_8ccd);
    format!("{prefix}{:06x}", (mixed >> 40) & 0xff_ffff)
}

/// `n` seconds, multiplied by `$VIGIL_E2E_TIME_SCALE` (default 1) for slow machines.
pub fn secs(n: f64) -> Duration {
    let scale = std::env::var("VIGIL_E2E_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(n * scale.max(0.1))
}

/// CSS selector of a `data-testid`.
pub fn tid(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

/// Prints one progress line (shown by `cargo test` for failing tests, and always with
/// `--nocapture`).
pub fn step(what: &str) {
    static T0: OnceLock<Instant> = OnceLock::new();
    let t0 = T0.get_or_init(Instant::now);
    eprintln!("[{:7.2}s] {what}", t0.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------
// Processes that end with the test binary

/// A word of lowercase letters unique to this run (the targets' typed files are shared).
pub fn unique_word(prefix: &str) -> String {
    let hex = unique("");
    let tail: String = hex
        .chars()
        .map(|c| {
            let d = c.to_digit(16).unwrap_or(0) as u8;
            char::from(b'a' + d)
        })
        .collect();
    format!("{prefix}{tail}")
}

/// Whether `needle` occurs in `hay`.
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Fails if any of `secrets` occurs in any of `received`, naming which and where.
pub fn assert_no_secrets(source: &str, received: &[Vec<u8>], secrets: &[String]) -> Result<()> {
    for (i, data) in received.iter().enumerate() {
        for s in secrets {
            if contains_bytes(data, s.as_bytes()) {
                let shown: String = s.chars().take(12).collect();
                bail!(
                    "{source}: item {i} of {} carries a secret (starting {shown:?}…)",
                    received.len()
                );
            }
        }
    }
    Ok(())
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `timeout`.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(format!("{e:#}")),
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {timeout:?} waiting for {what}{}",
                last_err
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

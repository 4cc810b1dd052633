//! The WebDriver servers: chromedriver, started once per test binary; geckodriver, one per
//! open Firefox (it drives one session at a time), kept for the next Firefox when that one
//! closes. Also the WebDriver commands Vigil's tests add to fantoccini's (Chromium's
//! DevTools and performance log).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{json, Value};

use crate::process::{kill_group_snippet, new_process_group, on_exit, tail};
use crate::{artifacts_dir, free_port, secs, POLL};

pub(super) fn chromedriver() -> Result<&'static str> {
    static DRIVER: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    DRIVER
        .get_or_init(|| start_chromedriver().map_err(|e| format!("{e:#}")))
        .as_deref()
        .map_err(|e| anyhow!("chromedriver: {e}"))
}

fn start_chromedriver() -> Result<String> {
    // chromedriver also binds [::1] on the port and exits when that is taken ("IPv6 port not
    // available"), though the IPv4 port was free: a fresh port then, a few times.
    let mut last = String::new();
    for _ in 0..3 {
        match spawn_chromedriver(free_port())? {
            Ok(url) => return Ok(url),
            Err(why) => last = why,
        }
    }
    bail!("chromedriver did not start in 3 tries; the last:\n{last}")
}

/// `Ok(Ok(url))` once it listens; `Ok(Err(why))` if it exited first (the port was taken).
fn spawn_chromedriver(port: u16) -> Result<std::result::Result<String, String>> {
    let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let log = artifacts_dir().join(format!("chromedriver-{}-{port}.log", std::process::id()));
    let mut cmd = Command::new(&bin);
    cmd.arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::null());
    new_process_group(&mut cmd);
    let mut child = cmd.spawn().with_context(|| format!("spawn {bin}"))?;
    listening(&mut child, "chromedriver", port, &log)
}

/// Waits for a driver just spawned (its process group killed when the tests exit) to
/// listen on `port`: `Ok(Ok(url))` once it does, `Ok(Err(why))` if it exited first.
fn listening(
    child: &mut std::process::Child,
    name: &str,
    port: u16,
    log: &std::path::Path,
) -> Result<std::result::Result<String, String>> {
    on_exit(&kill_group_snippet(child.id()))?;
    let deadline = Instant::now() + secs(20.0);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Ok(format!("http://127.0.0.1:{port}")));
        }
        if let Some(status) = child.try_wait()? {
            return Ok(Err(format!(
                "port {port}: exited ({status}):\n{}",
                tail(log, 20)
            )));
        }
        std::thread::sleep(POLL);
    }
    bail!("{name} did not listen on {port}:\n{}", tail(log, 20))
}

/// A geckodriver for one Firefox session: a free one, or a new one.
pub(super) fn geckodriver() -> Result<String> {
    if let Some(url) = idle_geckodrivers().pop() {
        return Ok(url);
    }
    let mut last = String::new();
    for _ in 0..3 {
        match spawn_geckodriver(free_port())? {
            Ok(url) => return Ok(url),
            Err(why) => last = why,
        }
    }
    bail!("geckodriver did not start in 3 tries; the last:\n{last}")
}

/// Hands back a geckodriver whose session has ended, for the next Firefox.
pub(super) fn geckodriver_done(url: String) {
    idle_geckodrivers().push(url);
}

fn idle_geckodrivers() -> std::sync::MutexGuard<'static, Vec<String>> {
    static IDLE: Mutex<Vec<String>> = Mutex::new(Vec::new());
    IDLE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `$GECKODRIVER`, else `geckodriver` on the PATH, else `~/.cargo/bin/geckodriver` (where
/// `cargo install geckodriver` puts it).
fn geckodriver_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GECKODRIVER") {
        return bin.into();
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("geckodriver"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cargo/bin/geckodriver"))
                .filter(|p| p.is_file())
        })
        .unwrap_or_else(|| "geckodriver".into())
}

/// `$FIREFOX`, else Debian's Firefox ESR.
pub(super) fn firefox_bin() -> String {
    std::env::var("FIREFOX").unwrap_or_else(|_| "/usr/bin/firefox-esr".into())
}

fn spawn_geckodriver(port: u16) -> Result<std::result::Result<String, String>> {
    let bin = geckodriver_bin();
    let log = artifacts_dir().join(format!("geckodriver-{}-{port}.log", std::process::id()));
    let mut cmd = Command::new(&bin);
    cmd.arg(format!("--port={port}"))
        .arg("--host=127.0.0.1")
        .arg(format!("--binary={}", firefox_bin()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::null());
    new_process_group(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawn {} (set $GECKODRIVER)", bin.display()))?;
    listening(&mut child, "geckodriver", port, &log)
}

/// `POST /session/{id}/se/log` for the performance log (Chrome's DevTools events).
#[derive(Debug)]
pub(super) struct GetPerformanceLog;

impl WebDriverCompatibleCommand for GetPerformanceLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type":"performance"}"#.to_string()),
        )
    }
}

/// `POST /session/{id}/goog/cdp/execute`: one DevTools command.
#[derive(Debug)]
pub(super) struct Cdp(pub(super) String, pub(super) Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"cmd": self.0, "params": self.1}).to_string()),
        )
    }
}

//! chromedriver, started once per test binary, and the WebDriver commands Vigil's tests
//! add to fantoccini's (DevTools and the performance log).

use std::process::{Command, Stdio};
use std::sync::OnceLock;
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
    on_exit(&kill_group_snippet(child.id()))?;
    let deadline = Instant::now() + secs(20.0);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Ok(format!("http://127.0.0.1:{port}")));
        }
        if let Some(status) = child.try_wait()? {
            return Ok(Err(format!(
                "port {port}: exited ({status}):\n{}",
                tail(&log, 20)
            )));
        }
        std::thread::sleep(POLL);
    }
    bail!("chromedriver did not listen on {port}:\n{}", tail(&log, 20))
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

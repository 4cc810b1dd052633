//! Harness for Vigil's end-to-end tests: the real relay binary, a real OpenSSH server
//! on loopback and headless Chromium driven through chromedriver.
//!
//! - [`Relay`] runs `vigil serve` on a free 127.0.0.1 port with its own data dir, seeded
//!   through the CLI before it starts ([`Cast`]: users, assets and Smart Rules shaped
//!   like the demo, with names unique to one test).
//! - [`sshd`] starts the project's `scripts/targets/start-ssh.sh` once per test binary.
//! - [`Browser`] is one headless Chromium (its own profile, so several at once are
//!   separate users), with helpers for the app's `data-testid`s, xterm screens and
//!   bounded waits that fail with the page source and a screenshot.
//! - [`Api`] is a REST client (cookie store, CSRF header) that keeps every body it
//!   receives; [`WsRecorder`] keeps every frame of a WebSocket.
//!
//! - [`fake_ssh`] and [`fake_rdp`] are hostile targets on loopback (floods, garbage,
//!   stalls, half packets, a huge desktop, endless fragments), served from the test process.
//!
//! Processes that outlive one test (the shared relay, sshd, chromedriver) are watched
//! by a tiny shell loop that ends them when the test binary exits, however it exits.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use base64::Engine as _;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::{SinkExt, StreamExt};
use reqwest::cookie::CookieStore as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite;
use vigil_wire::api::Me;
use vigil_wire::codec::Frame;

pub use fantoccini;
pub use vigil_wire;

pub mod fake_net;
pub mod fake_rdp;
pub mod fake_ssh;
pub mod rdp;
pub use rdp::{
    compare_canvases, rdp_targets, unique_word, CanvasDiff, CanvasShot, RdpAssets, RdpServer,
    RdpTargets,
};

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
        .expect("tests/ has a parent")
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

/// Runs `cleanup` (a shell snippet) once this test process has exited, however it exits.
fn on_exit(cleanup: &str) -> Result<()> {
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

fn new_process_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    cmd.process_group(0);
}

/// The shell snippet that ends process group `pgid`: TERM, then KILL after 2 s.
fn kill_group_snippet(pgid: u32) -> String {
    format!("kill -TERM -- -{pgid} 2>/dev/null; sleep 2; kill -KILL -- -{pgid} 2>/dev/null; true")
}

fn kill_group_now(pgid: u32) {
    // `--` matters: procps-ng 4.0.2's `kill -TERM -PGID` signals every process (-1).
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg("--")
        .arg(format!("-{pgid}"))
        .status();
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------
// sshd

/// The project's sshd on loopback, with its two managed accounts.
#[derive(Debug, Clone)]
pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    /// Account that logs in with a password.
    pub password_account: String,
    pub password: String,
    /// Account that logs in with a key only.
    pub key_account: String,
    pub key_file: PathBuf,
    pub private_key: String,
}

impl Sshd {
    /// Strings that must never reach a browser: the password, the private key, and each
    /// line of the key's body.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.password.clone(), self.private_key.trim().to_string()];
        for line in self.private_key.lines() {
            let line = line.trim();
            if line.len() >= 16 && !line.starts_with("-----") {
                out.push(line.to_string());
            }
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        out.push(b64.encode(&self.password));
        out
    }
}

/// Starts `scripts/targets/start-ssh.sh` once per test binary on a free port, with its
/// state in a fresh directory. It is stopped (`stop-ssh.sh`) when the binary exits.
pub fn sshd() -> &'static Sshd {
    static SSHD: OnceLock<Sshd> = OnceLock::new();
    SSHD.get_or_init(|| match start_sshd() {
        Ok(s) => s,
        Err(e) => panic!("could not start the test sshd: {e:#}"),
    })
}

fn start_sshd() -> Result<Sshd> {
    let root = workspace_root();
    let start = root.join("scripts/targets/start-ssh.sh");
    let stop = root.join("scripts/targets/stop-ssh.sh");
    if !start.exists() {
        bail!("{} is missing", start.display());
    }
    let base = tempfile::Builder::new()
        .prefix("vigil-e2e-targets-")
        .tempdir()?
        .keep();
    let port = free_port();
    step(&format!(
        "starting sshd on 127.0.0.1:{port} ({})",
        base.display()
    ));
    let log = base.join("start-ssh.log");
    let status = Command::new("bash")
        .arg(&start)
        .env("VIGIL_TARGETS_DIR", &base)
        .env("SSH_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(base.join("start-ssh.err"))?)
        .status()
        .context("run start-ssh.sh")?;
    if !status.success() {
        bail!(
            "start-ssh.sh failed ({status}):\n{}\n{}",
            tail(&log, 20),
            tail(&base.join("start-ssh.err"), 20)
        );
    }
    on_exit(&format!(
        "VIGIL_TARGETS_DIR='{b}' SSH_PORT={port} bash '{s}' >/dev/null 2>&1; rm -rf '{b}'",
        b = base.display(),
        s = stop.display()
    ))?;
    describe_sshd(&base, port)
}

/// What the start script made, from the `ssh/env` file it writes (shell syntax:
/// `SSH_PASS_USER`, `SSH_PASS_PW`, `SSH_KEY_USER`, `SSH_CLIENT_KEY`…).
fn describe_sshd(base: &Path, port: u16) -> Result<Sshd> {
    let env_file = base.join("ssh").join("env");
    let text = std::fs::read_to_string(&env_file)
        .with_context(|| format!("read {}", env_file.display()))?;
    let vars: std::collections::HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"').trim_matches('\'')))
        .collect();
    let get = |k: &str| -> Result<String> {
        vars.get(k)
            .map(|v| v.to_string())
            .with_context(|| format!("{} has no {k}", env_file.display()))
    };
    let key_file = PathBuf::from(get("SSH_CLIENT_KEY")?);
    let private_key = std::fs::read_to_string(&key_file)
        .with_context(|| format!("read {}", key_file.display()))?;
    Ok(Sshd {
        port,
        dir: base.join("ssh"),
        password_account: get("SSH_PASS_USER")?,
        password: get("SSH_PASS_PW")?,
        key_account: get("SSH_KEY_USER")?,
        key_file,
        private_key,
    })
}

// ---------------------------------------------------------------------------------
// The relay, seeded like the demo

/// A login name and password.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// Users, assets and Smart Rules shaped like the demo, every name ending in `-<tag>`:
///
/// | user | groups | rule |
/// | --- | --- | --- |
/// | `admin-T` | administrator | – |
/// | `isa-T` | `ops-T` | `isa` on assets tagged `linux-T` |
/// | `reviewer-T` | `auditors-T` | `active_session_reviewer` on `linux-T` |
/// | `alice-T`, `bob-T` | `staff-T` | `requestor`, auto-approve, on `linux-T` |
/// | `outsider-T` | `outsiders-T` | `active_session_reviewer` on `elsewhere-T` only |
///
/// Assets: `web-T` (password account, `linux-T`), `db-T` (key account, `linux-T`),
/// `vault-T` (password account, `elsewhere-T`), all on the test sshd.
#[derive(Debug, Clone)]
pub struct Cast {
    pub tag: String,
    pub admin: Login,
    pub isa: Login,
    pub reviewer: Login,
    pub alice: Login,
    pub bob: Login,
    pub outsider: Login,
    /// Asset with the password-based account.
    pub web: String,
    /// Asset with the key-based account.
    pub db: String,
    /// Asset only the outsider reviews.
    pub vault: String,
    pub linux_tag: String,
    /// Desktop assets (seeded only by [`Relay::shared_with_rdp`] / [`Relay::start_with_rdp`]).
    pub rdp: RdpAssets,
}

impl Cast {
    fn new(tag: &str) -> Cast {
        let login = |role: &str| {
            let username = format!("{role}-{tag}");
            Login {
                password: format!("{username}-Pw{}", unique("")),
                username,
            }
        };
        Cast {
            tag: tag.to_string(),
            admin: login("admin"),
            isa: login("isa"),
            reviewer: login("reviewer"),
            alice: login("alice"),
            bob: login("bob"),
            outsider: login("outsider"),
            web: format!("web-{tag}"),
            db: format!("db-{tag}"),
            vault: format!("vault-{tag}"),
            linux_tag: format!("linux-{tag}"),
            rdp: RdpAssets::new(tag),
        }
    }

    /// Every user with a word for what they are.
    pub fn users(&self) -> Vec<(&'static str, &Login)> {
        vec![
            ("administrator", &self.admin),
            ("isa", &self.isa),
            ("reviewer", &self.reviewer),
            ("regular", &self.alice),
            ("regular", &self.bob),
            ("outsider", &self.outsider),
        ]
    }
}

/// One `vigil serve` with its own data dir.
pub struct Relay {
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    casts: Vec<Cast>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Relay {
    /// Seeds one [`Cast`] per tag through the CLI, then serves and waits for readiness.
    pub fn start(tags: &[&str]) -> Result<Relay> {
        Relay::start_seeded(tags, false)
    }

    /// Like [`Relay::start`], and also seeds every cast's desktop assets ([`RdpAssets`])
    /// on the RDP targets ([`rdp_targets`], started if need be).
    pub fn start_with_rdp(tags: &[&str]) -> Result<Relay> {
        Relay::start_seeded(tags, true)
    }

    fn start_seeded(tags: &[&str], with_rdp: bool) -> Result<Relay> {
        let bin = vigil_bin();
        if !bin.exists() {
            bail!(
                "{} is missing: build it first (`cargo build -p vigil-relay`), or set VIGIL_BIN",
                bin.display()
            );
        }
        let dist = dist_dir();
        if !dist.join("index.html").exists() {
            bail!(
                "{} has no index.html: run `cargo xtask dist` first, or set VIGIL_DIST_DIR",
                dist.display()
            );
        }
        let sshd = sshd();
        let dir = tempfile::Builder::new()
            .prefix("vigil-e2e-relay-")
            .tempdir()?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir)?;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut casts = Vec::new();
        for tag in tags {
            let cast = Cast::new(tag);
            seed(&data_dir, sshd, &cast).with_context(|| format!("seeding cast `{tag}`"))?;
            if with_rdp {
                rdp::seed_rdp(&data_dir, tag, rdp_targets())
                    .with_context(|| format!("seeding the desktop assets of cast `{tag}`"))?;
            }
            casts.push(cast);
        }
        let log = dir.path().join("relay.log");
        step(&format!(
            "starting the relay on {base} (log {})",
            log.display()
        ));
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .env("VIGIL_BIND", format!("127.0.0.1:{port}"))
            .env("VIGIL_DATA_DIR", &data_dir)
            .env("VIGIL_DIST_DIR", &dist)
            .env("VIGIL_PUBLIC_ORIGIN", &base)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::OpenOptions::new().append(true).open(&log)?);
        new_process_group(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let mut relay = Relay {
            port,
            base,
            data_dir,
            log,
            casts,
            child,
            _dir: dir,
        };
        relay.wait_ready(secs(30.0))?;
        Ok(relay)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("127.0.0.1:{}", self.port);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the relay exited ({status}) before it was ready:\n{}",
                    tail(&self.log, 40)
                );
            }
            if let Ok(mut s) = std::net::TcpStream::connect(&url) {
                use std::io::{Read as _, Write as _};
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req =
                    format!("GET /api/v1/me HTTP/1.1\r\nHost: {url}\r\nConnection: close\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.write_all(req.as_bytes()).is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && buf.starts_with(b"HTTP/1.1 ")
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the relay was not ready after {timeout:?}:\n{}",
                    tail(&self.log, 40)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// One relay per test binary, seeded with `tags` (every caller in one binary must
    /// pass the same list). It is ended when the binary exits.
    pub fn shared(tags: &[&str]) -> &'static Relay {
        Relay::shared_seeded(tags, false)
    }

    /// [`Relay::shared`], with every cast's desktop assets seeded too.
    pub fn shared_with_rdp(tags: &[&str]) -> &'static Relay {
        Relay::shared_seeded(tags, true)
    }

    fn shared_seeded(tags: &[&str], with_rdp: bool) -> &'static Relay {
        static RELAY: OnceLock<Relay> = OnceLock::new();
        let relay = RELAY.get_or_init(|| {
            let relay = match Relay::start_seeded(tags, with_rdp) {
                Ok(r) => r,
                Err(e) => panic!("could not start the shared relay: {e:#}"),
            };
            let cleanup = format!(
                "{}; rm -rf '{}'",
                kill_group_snippet(relay.child.id()),
                relay._dir.path().display()
            );
            if let Err(e) = on_exit(&cleanup) {
                panic!("{e:#}");
            }
            relay
        });
        for tag in tags {
            assert!(
                relay.casts.iter().any(|c| c.tag == *tag),
                "the shared relay has no cast `{tag}`"
            );
        }
        relay
    }

    pub fn cast(&self, tag: &str) -> &Cast {
        self.casts
            .iter()
            .find(|c| c.tag == tag)
            .expect("a cast seeded into this relay")
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The relay process's id (for reading its `/proc` entries).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the relay's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        kill_group_now(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `vigil <args>` against `data_dir`, with `envs` added.
pub fn vigil_cli(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<String> {
    let mut cmd = Command::new(vigil_bin());
    cmd.args(args)
        .env("VIGIL_DATA_DIR", data_dir)
        .env("VIGIL_DIST_DIR", dist_dir())
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .with_context(|| format!("run vigil {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`vigil {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn seed(data_dir: &Path, sshd: &Sshd, c: &Cast) -> Result<()> {
    let t = &c.tag;
    let user = |login: &Login, extra: &[&str]| -> Result<()> {
        let mut args = vec![
            "user",
            "add",
            &login.username,
            "--password-env",
            "VIGIL_SEED_PASSWORD",
        ];
        args.extend_from_slice(extra);
        vigil_cli(data_dir, &args, &[("VIGIL_SEED_PASSWORD", &login.password)]).map(|_| ())
    };
    let (ops, auditors, staff, outsiders) = (
        format!("ops-{t}"),
        format!("auditors-{t}"),
        format!("staff-{t}"),
        format!("outsiders-{t}"),
    );
    user(&c.admin, &["--admin"])?;
    user(&c.isa, &["--group", &ops])?;
    user(&c.reviewer, &["--group", &auditors])?;
    user(&c.alice, &["--group", &staff])?;
    user(&c.bob, &["--group", &staff])?;
    user(&c.outsider, &["--group", &outsiders])?;

    let port = sshd.port.to_string();
    let elsewhere = format!("elsewhere-{t}");
    let key_file = sshd.key_file.to_string_lossy().into_owned();
    let asset = |name: &str,
                 account: &str,
                 tag: &str,
                 secret: &[&str],
                 envs: &[(&str, &str)]|
     -> Result<()> {
        let mut args = vec![
            "asset",
            "add",
            name,
            "--protocol",
            "ssh",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--account",
            account,
        ];
        args.extend_from_slice(secret);
        args.extend_from_slice(&["--tag", tag]);
        vigil_cli(data_dir, &args, envs).map(|_| ())
    };
    let pw_env = [("VIGIL_SEED_TARGET_PASSWORD", sshd.password.as_str())];
    asset(
        &c.web,
        &sshd.password_account,
        &c.linux_tag,
        &["--password-env", "VIGIL_SEED_TARGET_PASSWORD"],
        &pw_env,
    )?;
    asset(
        &c.db,
        &sshd.key_account,
        &c.linux_tag,
        &["--private-key-file", &key_file],
        &[],
    )?;
    asset(
        &c.vault,
        &sshd.password_account,
        &elsewhere,
        &["--password-env", "VIGIL_SEED_TARGET_PASSWORD"],
        &pw_env,
    )?;

    let rule = |name: &str, group: &str, role: &str, tag: &str, extra: &[&str]| -> Result<()> {
        let mut args = vec![
            "rule",
            "add",
            name,
            "--group",
            group,
            "--role",
            role,
            "--protocol",
            "ssh",
            "--tag",
            tag,
        ];
        args.extend_from_slice(extra);
        vigil_cli(data_dir, &args, &[]).map(|_| ())
    };
    rule(&format!("ops-isa-{t}"), &ops, "isa", &c.linux_tag, &[])?;
    rule(
        &format!("auditors-review-{t}"),
        &auditors,
        "active_session_reviewer",
        &c.linux_tag,
        &[],
    )?;
    rule(
        &format!("staff-request-{t}"),
        &staff,
        "requestor",
        &c.linux_tag,
        &["--auto-approve"],
    )?;
    rule(
        &format!("outsiders-review-{t}"),
        &outsiders,
        "active_session_reviewer",
        &elsewhere,
        &[],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// chromedriver and headless Chromium

fn chromedriver() -> Result<&'static str> {
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
struct GetPerformanceLog;

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
struct Cdp(String, Value);

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

/// Everything a browser received over the network, as far as DevTools reports it.
#[derive(Default)]
struct NetLog {
    /// WebSocket frames received (binary ones decoded from base64).
    ws_frames: Vec<Vec<u8>>,
    /// Bodies of HTTP responses.
    bodies: Vec<(String, Vec<u8>)>,
    /// Responses whose body DevTools could not give back.
    missed: Vec<String>,
    seen: HashSet<String>,
    urls: std::collections::HashMap<String, String>,
}

/// One headless Chromium with its own profile: one person at one browser.
pub struct Browser {
    pub client: Client,
    pub name: String,
    base: String,
    net: Mutex<NetLog>,
    shots: AtomicU64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens a fresh headless Chromium whose relative paths go to `relay`.
    pub async fn open(relay: &Relay, name: &str) -> Result<Browser> {
        Browser::open_at(&relay.base, name).await
    }

    pub async fn open_at(base: &str, name: &str) -> Result<Browser> {
        let driver = chromedriver()?;
        let profile = tempfile::Builder::new()
            .prefix("vigil-e2e-chromium-")
            .tempdir()?;
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
            "--window-size=1280,900".into(),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args, "perfLoggingPrefs": {"enableNetwork": true, "enablePage": false} }));
        caps.insert(
            "goog:loggingPrefs".into(),
            json!({ "performance": "ALL", "browser": "ALL" }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(driver)
            .await
            .with_context(|| format!("open Chromium `{name}` through {driver}"))?;
        Ok(Browser {
            client,
            name: name.to_string(),
            base: base.trim_end_matches('/').to_string(),
            net: Mutex::new(NetLog::default()),
            shots: AtomicU64::new(0),
            _profile: profile,
        })
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Loads `path` (a full page load; what the network log holds so far is kept).
    pub async fn goto(&self, path: &str) -> Result<()> {
        self.capture_network().await?;
        self.client
            .goto(&self.url(path))
            .await
            .with_context(|| format!("{}: goto {path}", self.name))?;
        Ok(())
    }

    /// The current URL's path (`/active`, `/sessions/abc`…).
    pub async fn path(&self) -> Result<String> {
        Ok(self.client.current_url().await?.path().to_string())
    }

    /// Runs `body` (a JS function body; `arguments[i]` are `args`) and returns its value.
    pub async fn js(&self, body: &str, args: Vec<Value>) -> Result<Value> {
        self.client
            .execute(body, args)
            .await
            .with_context(|| format!("{}: script failed", self.name))
    }

    /// Runs one DevTools command (e.g. `Network.setCacheDisabled`) and returns its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        self.client
            .issue_cmd(Cdp(cmd.to_string(), params))
            .await
            .with_context(|| format!("{}: DevTools {cmd}", self.name))
    }

    /// Saves the page source and a screenshot; returns an error naming them.
    pub async fn fail(&self, msg: impl std::fmt::Display) -> anyhow::Error {
        let n = self.shots.fetch_add(1, Ordering::Relaxed);
        let stem = artifacts_dir().join(format!("{}-{}-{n}", sanitize(&self.name), unique("")));
        let html = stem.with_extension("html");
        let png = stem.with_extension("png");
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        if let Ok(src) = self.client.source().await {
            let _ = std::fs::write(&html, src);
        }
        if let Ok(bytes) = self.client.screenshot().await {
            let _ = std::fs::write(&png, bytes);
        }
        anyhow!(
            "[{}] {msg}\n  url: {url}\n  page source: {}\n  screenshot: {}",
            self.name,
            html.display(),
            png.display()
        )
    }

    /// Saves a screenshot as `<artifacts>/<name>.png` (for people to look at); returns
    /// its path.
    pub async fn snapshot(&self, name: &str) -> Result<PathBuf> {
        let path = artifacts_dir().join(format!("{}.png", sanitize(name)));
        let bytes = self
            .client
            .screenshot()
            .await
            .with_context(|| format!("{}: screenshot", self.name))?;
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// Waits until this browser is on `/connect/<id>`; returns the id.
    pub async fn connect_page_id(&self) -> Result<String> {
        let sid = self
            .wait_js(
                "the connect page",
                "location.pathname.startsWith('/connect/') ? decodeURIComponent(location.pathname.slice(9)) : null",
                vec![],
                secs(15.0),
            )
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(!sid.is_empty(), "no session id in the connect page's path");
        Ok(sid)
    }

    /// Launches `asset` directly from the Assets page (administrators and ISA users);
    /// returns the session id.
    pub async fn connect_directly(&self, asset: &str) -> Result<String> {
        self.goto("/assets").await?;
        let row = format!("{}[data-asset-name=\"{asset}\"]", tid("asset-row"));
        self.click(&format!("{row} {}", tid("connect-button")), secs(15.0))
            .await?;
        self.connect_page_id().await
    }

    /// Polls the JS expression `expr` every 100 ms until it is truthy; returns its value.
    pub async fn wait_js(
        &self,
        what: &str,
        expr: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Value> {
        let body = format!("return ({expr});");
        let deadline = Instant::now() + timeout;
        let mut last_err = None;
        loop {
            match self.client.execute(&body, args.clone()).await {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(_) => {}
                Err(e) => last_err = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                let extra = last_err
                    .map(|e| format!(" (last script error: {e})"))
                    .unwrap_or_default();
                return Err(self
                    .fail(format!(
                        "timed out after {timeout:?} waiting for {what}{extra}"
                    ))
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for an element matching `css`.
    pub async fn wait_for(
        &self,
        css: &str,
        timeout: Duration,
    ) -> Result<fantoccini::elements::Element> {
        self.wait_js(
            &format!("`{css}`"),
            "!!document.querySelector(arguments[0])",
            vec![json!(css)],
            timeout,
        )
        .await?;
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("{}: find {css}", self.name))
    }

    /// Waits for an element with this `data-testid`.
    pub async fn wait_for_testid(
        &self,
        testid: &str,
        timeout: Duration,
    ) -> Result<fantoccini::elements::Element> {
        self.wait_for(&tid(testid), timeout).await
    }

    /// Waits until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str, timeout: Duration) -> Result<()> {
        self.wait_js(
            &format!("`{css}` to disappear"),
            "!document.querySelector(arguments[0])",
            vec![json!(css)],
            timeout,
        )
        .await
        .map(|_| ())
    }

    /// Whether something matches `css` now.
    pub async fn exists(&self, css: &str) -> Result<bool> {
        Ok(truthy(
            &self
                .js(
                    "return !!document.querySelector(arguments[0]);",
                    vec![json!(css)],
                )
                .await?,
        ))
    }

    /// `innerText` of the first match of `css`, if any.
    pub async fn text(&self, css: &str) -> Result<Option<String>> {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                vec![json!(css)],
            )
            .await?;
        Ok(v.as_str().map(str::to_string))
    }

    /// `innerText` of every match of `css`.
    pub async fn texts(&self, css: &str) -> Result<Vec<String>> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);",
                vec![json!(css)],
            )
            .await?;
        Ok(serde_json::from_value(v).unwrap_or_default())
    }

    /// Waits until the `innerText` of `css` satisfies `pred`; returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Ok(Some(t)) = self.text(css).await {
                if pred(&t) {
                    return Ok(t);
                }
                last = Some(t);
            }
            if Instant::now() >= deadline {
                let seen = last
                    .map(|t| format!("; last text: {t:?}"))
                    .unwrap_or_else(|| "; no such element".into());
                return Err(self
                    .fail(format!(
                        "timed out after {timeout:?} waiting for `{css}` {what}{seen}"
                    ))
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The text on the xterm screen inside `container` (its `.xterm-rows`, one line per
    /// row, non-breaking spaces made plain).
    pub async fn terminal_text(&self, container: &str) -> Result<String> {
        let v = self
            .js(
                "const c = document.querySelector(arguments[0]); if (!c) return null;
                 const r = c.querySelector('.xterm-rows') || c; return r.innerText;",
                vec![json!(container)],
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().replace('\u{a0}', " "))
    }

    /// Waits until the xterm inside `container` shows `needle`; returns the screen.
    pub async fn wait_terminal(
        &self,
        container: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.terminal_text(container).await.unwrap_or_default();
            if screen.contains(needle) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(self
                    .fail(format!("timed out after {timeout:?} waiting for {needle:?} in `{container}`; screen:\n{screen}"))
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types `text` into the xterm inside `container` (through its hidden textarea, as a
    /// keyboard would). `\n` is sent as the Enter key.
    pub async fn type_terminal(&self, container: &str, text: &str) -> Result<()> {
        let area_css = format!("{container} .xterm-helper-textarea");
        let area = self.wait_for(&area_css, secs(10.0)).await?;
        let keys: String = text
            .chars()
            .map(|c| {
                if c == '\n' {
                    char::from(fantoccini::key::Key::Enter)
                } else {
                    c
                }
            })
            .collect();
        area.send_keys(&keys)
            .await
            .with_context(|| format!("{}: type into {container}", self.name))?;
        Ok(())
    }

    /// Clicks the first match of `css` (waiting for it first).
    pub async fn click(&self, css: &str, timeout: Duration) -> Result<()> {
        let el = self.wait_for(css, timeout).await?;
        if let Err(e) = el.click().await {
            // An overlay or animation can intercept a real click; a DOM click still
            // exercises the app's handler.
            let done = self
                .js("const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;", vec![json!(css)])
                .await?;
            if !truthy(&done) {
                return Err(self.fail(format!("could not click `{css}`: {e}")).await);
            }
        }
        Ok(())
    }

    /// Replaces the value of the input matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.wait_for(css, secs(10.0)).await?;
        el.clear().await.ok();
        el.send_keys(text)
            .await
            .with_context(|| format!("{}: type into {css}", self.name))?;
        Ok(())
    }

    /// Submits the login page's form, without waiting for the outcome.
    pub async fn submit_login(&self, username: &str, password: &str) -> Result<()> {
        if !self
            .path()
            .await
            .map(|p| p.starts_with("/login"))
            .unwrap_or(false)
        {
            self.goto("/login").await?;
        }
        self.fill(&tid("login-username"), username).await?;
        self.fill(&tid("login-password"), password).await?;
        self.click(&tid("login-submit"), secs(5.0)).await
    }

    /// Logs in through the login page and waits for the navigation to name the user.
    pub async fn login(&self, login: &Login) -> Result<()> {
        self.submit_login(&login.username, &login.password).await?;
        let name = login.username.clone();
        self.wait_text(
            &tid("nav-user"),
            &format!("to name {name}"),
            secs(15.0),
            |t| t.contains(&name),
        )
        .await?;
        Ok(())
    }

    /// Reads what DevTools logged since the last call: keeps every WebSocket frame
    /// received and fetches the body of every HTTP response. Call it while the page
    /// that made the requests is still loaded ([`Browser::goto`] does).
    pub async fn capture_network(&self) -> Result<()> {
        let entries = match self.client.issue_cmd(GetPerformanceLog).await {
            Ok(v) => v,
            Err(e) => bail!("{}: reading the performance log failed: {e}", self.name),
        };
        let mut responses = Vec::new();
        {
            let mut net = self.net.lock().expect("net log lock");
            for entry in entries.as_array().into_iter().flatten() {
                let Some(msg) = entry.get("message").and_then(Value::as_str) else {
                    continue;
                };
                let Ok(msg) = serde_json::from_str::<Value>(msg) else {
                    continue;
                };
                let method = msg
                    .pointer("/message/method")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let params = msg
                    .pointer("/message/params")
                    .cloned()
                    .unwrap_or(Value::Null);
                match method {
                    "Network.webSocketFrameReceived" => {
                        let opcode = params
                            .pointer("/response/opcode")
                            .and_then(Value::as_i64)
                            .unwrap_or(1);
                        let data = params
                            .pointer("/response/payloadData")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let bytes = if opcode == 2 {
                            base64::engine::general_purpose::STANDARD
                                .decode(data)
                                .unwrap_or_else(|_| data.as_bytes().to_vec())
                        } else {
                            data.as_bytes().to_vec()
                        };
                        net.ws_frames.push(bytes);
                    }
                    "Network.responseReceived" => {
                        let id = params
                            .get("requestId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        let url = params
                            .pointer("/response/url")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        net.urls.insert(id, url);
                    }
                    "Network.loadingFinished" => {
                        let id = params
                            .get("requestId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        // Only the pages' own traffic (not chrome:// internals).
                        let ours = net.urls.get(&id).is_some_and(|u| u.starts_with("http"));
                        if ours && net.seen.insert(id.clone()) {
                            responses.push(id);
                        }
                    }
                    _ => {}
                }
            }
        }
        for id in responses {
            let got = self
                .client
                .issue_cmd(Cdp(
                    "Network.getResponseBody".into(),
                    json!({ "requestId": id }),
                ))
                .await;
            let mut net = self.net.lock().expect("net log lock");
            let id = net.urls.get(&id).map(|u| format!("{id} {u}")).unwrap_or(id);
            match got {
                Ok(v) => {
                    let body = v.get("body").and_then(Value::as_str).unwrap_or("");
                    let bytes = if v
                        .get("base64Encoded")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                    {
                        base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .unwrap_or_default()
                    } else {
                        body.as_bytes().to_vec()
                    };
                    net.bodies.push((id, bytes));
                }
                Err(_) => net.missed.push(id),
            }
        }
        Ok(())
    }

    /// Every WebSocket frame and HTTP body received so far (after [`capture_network`]).
    ///
    /// [`capture_network`]: Browser::capture_network
    pub fn received(&self) -> Vec<Vec<u8>> {
        let net = self.net.lock().expect("net log lock");
        net.ws_frames
            .iter()
            .cloned()
            .chain(net.bodies.iter().map(|(_, b)| b.clone()))
            .collect()
    }

    /// Responses whose body DevTools could not give back (request id and URL).
    pub fn missed(&self) -> Vec<String> {
        self.net.lock().expect("net log lock").missed.clone()
    }

    /// (WebSocket frames, HTTP bodies, responses whose body was not available).
    pub fn received_counts(&self) -> (usize, usize, usize) {
        let net = self.net.lock().expect("net log lock");
        (net.ws_frames.len(), net.bodies.len(), net.missed.len())
    }

    /// Ends the browser session (and its Chromium).
    pub async fn close(self) -> Result<()> {
        self.client
            .close()
            .await
            .map_err(|e| anyhow!("{}: close: {e}", self.name))
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(true),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

// ---------------------------------------------------------------------------------
// REST and WebSocket clients

/// A REST client for one user: cookie store, CSRF header, and a copy of every body.
pub struct Api {
    pub base: String,
    client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    csrf: Mutex<Option<String>>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "unexpected body ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn ok(self) -> Result<Reply> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            bail!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        }
    }
}

impl Api {
    pub fn new(base: &str) -> Result<Api> {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .timeout(Duration::from_secs(30))
            // Below the relay's 10 s keep-alive limit, so a reused connection is never
            // one that the relay is closing.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            client,
            jar,
            csrf: Mutex::new(None),
            bodies: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// A client logged in as `login`.
    pub async fn login_as(relay: &Relay, login: &Login) -> Result<Api> {
        let api = Api::new(&relay.base)?;
        api.login(&login.username, &login.password).await?;
        Ok(api)
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<Me> {
        let reply = self
            .send(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                Some(&json!({"username": username, "password": password})),
            )
            .await?
            .ok()
            .with_context(|| format!("log in as {username}"))?;
        let me: Me = reply.json()?;
        *self.csrf.lock().expect("csrf lock") = Some(me.csrf_token.clone());
        // `/me` gives the same token; fetch it too, as the app does.
        let me2: Me = self.get("/api/v1/me").await?;
        *self.csrf.lock().expect("csrf lock") = Some(me2.csrf_token.clone());
        Ok(me2)
    }

    /// Sends one request (`path` from `/api/v1/...`); records the body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = self.csrf.lock().expect("csrf lock").clone() {
            req = req.header(vigil_wire::CSRF_HEADER, token);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?.to_vec();
        self.bodies.lock().expect("bodies lock").push(bytes.clone());
        Ok(Reply {
            status,
            body: bytes,
        })
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(reqwest::Method::GET, path, None)
            .await?
            .ok()
            .with_context(|| format!("GET {path}"))?
            .json()
    }

    pub async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T> {
        self.send(reqwest::Method::POST, path, Some(body))
            .await?
            .ok()
            .with_context(|| format!("POST {path}"))?
            .json()
    }

    /// The `Cookie` header this client would send to the relay.
    pub fn cookie_header(&self) -> Option<String> {
        let url: url::Url = self.base.parse().ok()?;
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_string))
    }

    /// Every body received so far.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().expect("bodies lock").clone()
    }

    /// Opens a WebSocket at `path` with this user's cookie and the relay's own Origin;
    /// `hello` sends the protocol's `Hello` first. Every frame received is kept.
    pub async fn ws(&self, path: &str, hello: bool) -> Result<WsRecorder> {
        match self.ws_try(path, hello).await? {
            Ok(ws) => Ok(ws),
            Err(status) => bail!("WebSocket {path} refused with HTTP {status}"),
        }
    }

    /// Like [`Api::ws`], but a refused upgrade is `Ok(Err(status))`.
    pub async fn ws_try(
        &self,
        path: &str,
        hello: bool,
    ) -> Result<std::result::Result<WsRecorder, u16>> {
        let origin = self.base.clone();
        self.ws_try_origin(path, hello, &origin).await
    }

    /// Like [`Api::ws_try`], with another `Origin` header.
    pub async fn ws_try_origin(
        &self,
        path: &str,
        hello: bool,
        origin: &str,
    ) -> Result<std::result::Result<WsRecorder, u16>> {
        use tungstenite::client::IntoClientRequest as _;
        let ws_url = format!("{}{path}", self.base.replacen("http", "ws", 1));
        let mut req = ws_url.as_str().into_client_request()?;
        req.headers_mut().insert("Origin", origin.parse()?);
        if let Some(cookie) = self.cookie_header() {
            req.headers_mut().insert("Cookie", cookie.parse()?);
        }
        let (socket, _) = match tokio_tungstenite::connect_async(req).await {
            Ok(ok) => ok,
            Err(tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                if let Some(body) = resp.body() {
                    self.bodies.lock().expect("bodies lock").push(body.clone());
                }
                return Ok(Err(status));
            }
            Err(e) => return Err(anyhow!("WebSocket {path}: {e}")),
        };
        let (mut sink, mut stream) = socket.split();
        if hello {
            let frame =
                vigil_wire::live::ClientMsg::Control(vigil_wire::live::ClientControl::Hello {
                    version: vigil_wire::PROTOCOL_VERSION,
                })
                .encode();
            sink.send(to_message(frame)).await?;
        }
        let frames = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(None));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Frame>();
        let (f2, c2) = (frames.clone(), closed.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = stream.next() => match msg {
                        Some(Ok(tungstenite::Message::Text(t))) => f2.lock().expect("frames").push(Frame::Text(t.to_string())),
                        Some(Ok(tungstenite::Message::Binary(b))) => f2.lock().expect("frames").push(Frame::Binary(b.to_vec())),
                        Some(Ok(tungstenite::Message::Close(c))) => {
                            *c2.lock().expect("closed") = Some(c.map(|c| format!("{} {}", c.code, c.reason)).unwrap_or_default());
                            break;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => { *c2.lock().expect("closed") = Some(format!("error: {e}")); break; }
                        None => { *c2.lock().expect("closed") = Some("eof".into()); break; }
                    },
                    out = rx.recv() => match out {
                        Some(frame) => { if sink.send(to_message(frame)).await.is_err() { break; } }
                        None => { let _ = sink.close().await; break; }
                    },
                }
            }
        });
        Ok(Ok(WsRecorder {
            frames,
            closed,
            tx,
            task,
        }))
    }
}

fn to_message(frame: Frame) -> tungstenite::Message {
    match frame {
        Frame::Text(t) => tungstenite::Message::Text(t.into()),
        Frame::Binary(b) => tungstenite::Message::Binary(b.into()),
    }
}

/// A WebSocket whose every received frame is kept.
pub struct WsRecorder {
    frames: Arc<Mutex<Vec<Frame>>>,
    closed: Arc<Mutex<Option<String>>>,
    tx: tokio::sync::mpsc::UnboundedSender<Frame>,
    task: tokio::task::JoinHandle<()>,
}

impl WsRecorder {
    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().expect("frames").clone()
    }

    /// Frame payloads as bytes (text frames as UTF-8).
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.frames()
            .into_iter()
            .map(|f| match f {
                Frame::Text(t) => t.into_bytes(),
                Frame::Binary(b) => b,
            })
            .collect()
    }

    /// `Some(reason)` once the socket has closed.
    pub fn closed(&self) -> Option<String> {
        self.closed.lock().expect("closed").clone()
    }

    pub fn send(&self, frame: Frame) -> Result<()> {
        self.tx
            .send(frame)
            .map_err(|_| anyhow!("the WebSocket is closed"))
    }

    /// Decoded session-stream messages received so far (undecodable frames skipped).
    pub fn server_msgs(&self) -> Vec<vigil_wire::live::ServerMsg> {
        self.frames()
            .iter()
            .filter_map(|f| vigil_wire::live::ServerMsg::decode(f).ok())
            .collect()
    }

    /// All terminal bytes received (snapshots and live output), as text.
    pub fn terminal_output(&self) -> String {
        let mut out = Vec::new();
        for m in self.server_msgs() {
            match m {
                vigil_wire::live::ServerMsg::Output(b)
                | vigil_wire::live::ServerMsg::Snapshot(b) => out.extend(b),
                _ => {}
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Waits until the terminal output contains `needle`.
    pub async fn wait_output(&self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.terminal_output();
            if out.contains(needle) {
                return Ok(out);
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {needle:?} in the stream's output (closed: {:?}); output so far:\n{out}",
                    self.closed()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for a control message satisfying `pred`.
    pub async fn wait_control(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&vigil_wire::live::ServerControl) -> bool,
    ) -> Result<vigil_wire::live::ServerControl> {
        let deadline = Instant::now() + timeout;
        loop {
            for m in self.server_msgs() {
                if let vigil_wire::live::ServerMsg::Control(c) = m {
                    if pred(&c) {
                        return Ok(c);
                    }
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {what} on the stream (closed: {:?})",
                    self.closed()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Decoded feed messages received so far.
    pub fn feed_msgs(&self) -> Vec<vigil_wire::live::FeedMsg> {
        self.frames()
            .iter()
            .filter_map(|f| vigil_wire::live::FeedMsg::decode(f).ok())
            .collect()
    }

    /// Waits until a frame satisfies `pred`.
    pub async fn wait_frame(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Frame) -> bool,
    ) -> Result<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.frames().into_iter().find(|f| pred(f)) {
                return Ok(f);
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for a frame: {what}; closed: {:?}",
                    self.closed()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn close(self) {
        drop(self.tx);
        let task = self.task;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        });
    }
}

// ---------------------------------------------------------------------------------
// Secrets

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

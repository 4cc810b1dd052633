//! The relay binary (`vigil serve`) with its own data dir on a free loopback port,
//! seeded through the CLI before it starts ([`Cast`]: users, assets and Smart Rules
//! shaped like the demo, with names unique to one test).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::process::{kill_group_now, kill_group_snippet, new_process_group, on_exit, tail};
use crate::targets::rdp::rdp_targets;
use crate::targets::sshd::sshd;
use crate::{dist_dir, free_port, secs, step, vigil_bin, workspace_root, POLL};

mod cast;
pub use cast::{add_rdp_asset, Cast, Login, RdpAssets};

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

    /// Like [`Relay::start`], serving the production bundle (`<root>/dist`, made by
    /// `cargo xtask dist`: no `bench` feature) instead of `$VIGIL_DIST_DIR`.
    pub fn start_production(tags: &[&str]) -> Result<Relay> {
        Relay::start_serving(tags, false, workspace_root().join("dist"), &[])
    }

    /// Like [`Relay::start_with_rdp`], with these settings added to the relay's
    /// environment (`VIGIL_…` configuration variables).
    pub fn start_with_rdp_env(tags: &[&str], env: &[(&str, &str)]) -> Result<Relay> {
        Relay::start_serving(tags, true, dist_dir(), env)
    }

    fn start_seeded(tags: &[&str], with_rdp: bool) -> Result<Relay> {
        Relay::start_serving(tags, with_rdp, dist_dir(), &[])
    }

    fn start_serving(
        tags: &[&str],
        with_rdp: bool,
        dist: PathBuf,
        env: &[(&str, &str)],
    ) -> Result<Relay> {
        let bin = vigil_bin();
        if !bin.exists() {
            bail!(
                "{} is missing: build it first (`cargo build -p vigil-relay`), or set VIGIL_BIN",
                bin.display()
            );
        }
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
        let audit_key = ensure_audit_key(&data_dir)?;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut casts = Vec::new();
        for tag in tags {
            let cast = Cast::new(tag);
            cast::seed(&data_dir, sshd, &cast).with_context(|| format!("seeding cast `{tag}`"))?;
            if with_rdp {
                cast::seed_rdp(&data_dir, tag, rdp_targets())
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
            .env("VIGIL_AUDIT_KEY_FILE", &audit_key)
            .env("VIGIL_DIST_DIR", &dist)
            .env("VIGIL_PUBLIC_ORIGIN", &base)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
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

/// The audit key of the relay on `data_dir`: `<data_dir>.audit.key`, beside it.
pub fn audit_key_path(data_dir: &Path) -> PathBuf {
    PathBuf::from(format!("{}.audit.key", data_dir.display()))
}

/// Makes the audit key of `data_dir` with `vigil audit keygen` unless it exists.
pub fn ensure_audit_key(data_dir: &Path) -> Result<PathBuf> {
    let key = audit_key_path(data_dir);
    if !key.exists() {
        let out = Command::new(vigil_bin())
            .args(["audit", "keygen", "--out"])
            .arg(&key)
            .stdin(Stdio::null())
            .output()
            .context("run vigil audit keygen")?;
        if !out.status.success() {
            bail!(
                "`vigil audit keygen` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(key)
}

/// Runs `vigil <args>` against `data_dir` (and its audit key), with `envs` added.
pub fn vigil_cli(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<String> {
    let audit_key = ensure_audit_key(data_dir)?;
    let mut cmd = Command::new(vigil_bin());
    cmd.args(args)
        .env("VIGIL_DATA_DIR", data_dir)
        .env("VIGIL_AUDIT_KEY_FILE", &audit_key)
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

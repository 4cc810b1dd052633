//! The project's RDP servers: xrdp (TLS; every connection gets its own X session) and
//! freerdp-shadow (NLA), started by `scripts/targets/start-xrdp.sh` and `start-shadow.sh`.
//!
//! - [`rdp_targets`] starts both once per test binary on free loopback ports, for an account
//!   of their own ([`E2E_RDP_ACCOUNT`]) with a password unique to the run; both are stopped
//!   by PID (`stop-*.sh`) when the binary exits.
//! - [`StartedRdp`] is one server of a test's own, for the scripts' default account
//!   ([`super::RDP_ACCOUNT`]), stopped when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;

use crate::process::{on_exit, tail};
use crate::{free_port, step, unique, POLL};

/// One RDP server started by a project script.
#[derive(Debug, Clone)]
pub struct RdpServer {
    /// `xrdp` or `shadow`.
    pub kind: &'static str,
    pub port: u16,
    /// `$VIGIL_TARGETS_DIR` of the script.
    pub base: PathBuf,
}

impl RdpServer {
    /// The file the server's "typing-target" xterm appends its input to.
    pub fn typed_path(&self) -> PathBuf {
        self.base.join(self.kind).join("typed.txt")
    }

    /// What has been typed on the target so far.
    pub fn typed(&self) -> String {
        std::fs::read_to_string(self.typed_path()).unwrap_or_default()
    }

    /// Waits until the typed file contains `word`; `false` after `timeout`.
    pub async fn wait_typed(&self, word: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.typed().contains(word) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Both RDP targets and the managed account they share.
#[derive(Debug, Clone)]
pub struct RdpTargets {
    pub xrdp: RdpServer,
    pub shadow: RdpServer,
    pub account: String,
    pub password: String,
    /// The wrong password given to the `nlabad-*` asset.
    pub bad_password: String,
}

impl RdpTargets {
    /// Strings that must never reach a browser: both passwords, as UTF-8, UTF-16LE (what
    /// CredSSP carries) and base64.
    pub fn secrets(&self) -> Vec<String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = Vec::new();
        for p in [&self.password, &self.bad_password] {
            out.push(p.clone());
            out.push(b64.encode(p));
            let utf16: Vec<u8> = p.encode_utf16().flat_map(u16::to_le_bytes).collect();
            out.push(String::from_utf8_lossy(&utf16).into_owned());
        }
        out
    }
}

/// Starts xrdp and freerdp-shadow once per test binary (in parallel); they are stopped
/// when the binary exits.
pub fn rdp_targets() -> &'static RdpTargets {
    static TARGETS: OnceLock<RdpTargets> = OnceLock::new();
    TARGETS.get_or_init(|| match start_rdp_targets() {
        Ok(t) => t,
        Err(e) => panic!("could not start the RDP targets: {e:#}"),
    })
}

/// The account the tests' RDP targets use (not the hub tests' `gwrdp`, so a run of both at
/// once does not change each other's password).
pub const E2E_RDP_ACCOUNT: &str = "vigile2e";

fn start_rdp_targets() -> Result<RdpTargets> {
    let base = tempfile::Builder::new()
        .prefix("vigil-e2e-rdp-")
        .tempdir()?
        .keep();
    let password = format!("Rdp-{}-{}", unique(""), unique("x"));
    let bad_password = format!("Wrong-{}", unique(""));
    let (xrdp_port, shadow_port) = (free_port(), free_port());
    step(&format!(
        "starting xrdp on 127.0.0.1:{xrdp_port} and freerdp-shadow on 127.0.0.1:{shadow_port} ({})",
        base.display()
    ));
    let scripts = super::scripts_dir();
    let mut cleanup = String::new();
    for kind in ["xrdp", "shadow"] {
        cleanup.push_str(&format!(
            "VIGIL_TARGETS_DIR='{b}' bash '{s}' >/dev/null 2>&1; ",
            b = base.display(),
            s = scripts.join(format!("stop-{kind}.sh")).display()
        ));
    }
    cleanup.push_str(&format!("rm -rf '{}'", base.display()));
    // Registered before starting, so a half-started target is stopped too.
    on_exit(&cleanup)?;
    let run = |kind: &'static str, port_var: &'static str, port: u16| {
        let base = base.clone();
        let password = password.clone();
        let script = scripts.join(format!("start-{kind}.sh"));
        std::thread::spawn(move || -> Result<()> {
            let log = base.join(format!("start-{kind}.log"));
            let status = Command::new("bash")
                .arg(&script)
                .env("VIGIL_TARGETS_DIR", &base)
                .env(port_var, port.to_string())
                .env("RDP_USER", E2E_RDP_ACCOUNT)
                .env("RDP_PW", &password)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log)?)
                .stderr(std::fs::OpenOptions::new().append(true).open(&log)?)
                .status()
                .with_context(|| format!("run {}", script.display()))?;
            if !status.success() {
                bail!("start-{kind}.sh failed ({status}):\n{}", tail(&log, 30));
            }
            Ok(())
        })
    };
    let t0 = Instant::now();
    let x = run("xrdp", "XRDP_PORT", xrdp_port);
    let s = run("shadow", "SHADOW_PORT", shadow_port);
    x.join()
        .map_err(|_| anyhow::anyhow!("xrdp start panicked"))??;
    s.join()
        .map_err(|_| anyhow::anyhow!("shadow start panicked"))??;
    step(&format!(
        "RDP targets up in {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    Ok(RdpTargets {
        xrdp: RdpServer {
            kind: "xrdp",
            port: xrdp_port,
            base: base.clone(),
        },
        shadow: RdpServer {
            kind: "shadow",
            port: shadow_port,
            base,
        },
        account: E2E_RDP_ACCOUNT.to_string(),
        password,
        bad_password,
    })
}

/// One RDP server of the caller's own, started by `scripts/targets/start-<kind>.sh` on a free
/// loopback port for the scripts' default account, and stopped by its PID-based stop script
/// when dropped (also when the test panics).
pub struct StartedRdp {
    /// `xrdp` or `shadow`.
    pub kind: &'static str,
    pub port: u16,
    /// `$VIGIL_TARGETS_DIR` of the scripts.
    pub dir: PathBuf,
}

impl StartedRdp {
    /// `kind` is `xrdp` or `shadow`.
    pub fn start(kind: &'static str) -> StartedRdp {
        StartedRdp::start_with(kind, &[])
    }

    /// With extra variables for the start script (e.g. `SHADOW_GEOMETRY`).
    pub fn start_with(kind: &'static str, env: &[(&str, &str)]) -> StartedRdp {
        // One start at a time: a shadow server makes its certificate on its first start, and
        // the scripts may install packages.
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("vigil-rdp-{}-{kind}-{port}", std::process::id()));
        let port_var = if kind == "xrdp" {
            "XRDP_PORT"
        } else {
            "SHADOW_PORT"
        };
        let out = Command::new(super::scripts_dir().join(format!("start-{kind}.sh")))
            .env("VIGIL_TARGETS_DIR", &dir)
            .env(port_var, port.to_string())
            .envs(env.iter().copied())
            .output()
            .expect("run the start script");
        assert!(
            out.status.success(),
            "start-{kind}.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{}", String::from_utf8_lossy(&out.stdout).trim());
        StartedRdp { kind, port, dir }
    }

    /// The file the server's "typing-target" xterm appends its input to.
    pub fn typed_path(&self) -> PathBuf {
        self.dir.join(self.kind).join("typed.txt")
    }

    /// What has been typed on the target so far.
    pub fn typed(&self) -> String {
        std::fs::read_to_string(self.typed_path()).unwrap_or_default()
    }
}

impl Drop for StartedRdp {
    fn drop(&mut self) {
        let out = Command::new(super::scripts_dir().join(format!("stop-{}.sh", self.kind)))
            .env("VIGIL_TARGETS_DIR", &self.dir)
            .output();
        match out {
            Ok(o) if o.status.success() => println!("stopped {}", self.kind),
            other => eprintln!("stop-{}.sh: {other:?}", self.kind),
        }
    }
}

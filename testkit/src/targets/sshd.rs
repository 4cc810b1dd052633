//! The project's sshd (`scripts/targets/start-ssh.sh`) on loopback, started once per test
//! binary and stopped when the binary exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use base64::Engine as _;

use crate::process::{on_exit, tail};
use crate::{free_port, step};

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
    let start = super::scripts_dir().join("start-ssh.sh");
    let stop = super::scripts_dir().join("stop-ssh.sh");
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

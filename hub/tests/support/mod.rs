//! Shared by the hub's integration tests: the sshd target, a hub fixture, and
//! readers of a participant's stream.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{Attachment, Hub, HubConfig, LaunchSpec, Lifecycle, Secret, SshAuth, SshTarget};
pub use vigil_testkit::free_port;
use vigil_testkit::targets;
use vigil_wire::live::Participant;
use vigil_wire::live::{ClientMsg, ServerControl, ServerMsg};

pub const WAIT: Duration = Duration::from_secs(15);
pub const PORT_ENV: &str = "VIGIL_HUB_TEST_SSH_PORT";

pub struct Target {
    pub port: u16,
    pub pass_user: String,
    pub pass_pw: String,
    pub key_user: String,
    pub client_key: String,
    /// A valid key that is not the server's, to pin as a "changed" host key.
    pub other_key: String,
}

pub fn start_target() -> Result<Option<Target>> {
    let script = targets::scripts_dir().join("start-ssh.sh");
    let dir = std::env::temp_dir().join("vigil-hub-tests");
    // A child test process reuses its parent's server (a new port would restart it).
    let port = match std::env::var(PORT_ENV).ok().and_then(|p| p.parse().ok()) {
        Some(port) => port,
        None => free_port(),
    };
    let out = std::process::Command::new("bash")
        .arg(&script)
        .env("VIGIL_TARGETS_DIR", &dir)
        .env("SSH_PORT", port.to_string())
        .output()
        .context("running start-ssh.sh")?;
    if !Path::new("/usr/sbin/sshd").exists() {
        return Ok(None);
    }
    if !out.status.success() {
        bail!(
            "start-ssh.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ssh = dir.join("ssh");
    Ok(Some(Target {
        port,
        pass_user: targets::SSH_PASSWORD_ACCOUNT.into(),
        pass_pw: targets::SSH_PASSWORD.into(),
        key_user: targets::SSH_KEY_ACCOUNT.into(),
        client_key: std::fs::read_to_string(ssh.join("client_ed25519"))?,
        other_key: std::fs::read_to_string(ssh.join("client_ed25519.pub"))?,
    }))
}

/// The shared sshd, started once per test binary. `None`: skip (message printed).
pub fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    let t = TARGET.get_or_init(|| match start_target() {
        Ok(t) => t,
        Err(e) => panic!("cannot start the test sshd: {e:#}"),
    });
    if t.is_none() {
        eprintln!("SKIPPED: /usr/sbin/sshd is missing even after start-ssh.sh tried to install it");
    }
    t.as_ref()
}

pub struct Fixture {
    pub hub: Hub,
    pub lifecycle: mpsc::UnboundedReceiver<Lifecycle>,
    /// Holds the recordings until the test ends.
    _dir: tempfile::TempDir,
}

pub fn fixture(viewer_queue: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = HubConfig::new(dir.path().join("recordings"));
    config.connect_timeout = Duration::from_secs(5);
    config.viewer_queue = viewer_queue;
    config.thumbnail_interval = Duration::from_millis(100);
    let (tx, lifecycle) = mpsc::unbounded_channel();
    Fixture {
        hub: Hub::new(config, tx),
        lifecycle,
        _dir: dir,
    }
}

pub fn spec(
    id: &str,
    target: &Target,
    auth: SshAuth,
    port: u16,
    pinned: Option<String>,
) -> LaunchSpec {
    let username = match auth {
        SshAuth::Password(_) => target.pass_user.clone(),
        SshAuth::PrivateKey(_) => target.key_user.clone(),
    };
    LaunchSpec {
        session_id: id.into(),
        target: vigil_hub::Target::Ssh(SshTarget {
            host: "127.0.0.1".into(),
            port,
            username,
            auth,
            pinned_host_key: pinned,
        }),
        cols: 80,
        rows: 24,
        title: format!("test@{id}"),
    }
}

pub fn password(t: &Target) -> SshAuth {
    SshAuth::Password(Secret::new(t.pass_pw.clone()))
}

pub async fn next(att: &mut Attachment) -> Result<ServerMsg> {
    tokio::time::timeout(WAIT, att.rx.recv())
        .await?
        .context("stream ended")
}

/// Reads until a control message matching `want`; returns the terminal bytes seen.
pub async fn until_control(
    att: &mut Attachment,
    want: impl Fn(&ServerControl) -> bool,
) -> Result<Vec<u8>> {
    let mut seen = Vec::new();
    loop {
        match next(att).await? {
            ServerMsg::Output(b) | ServerMsg::Snapshot(b) => seen.extend(b),
            ServerMsg::Control(c) if want(&c) => return Ok(seen),
            ServerMsg::Control(_) | ServerMsg::Graphics { .. } | ServerMsg::DesktopSnapshot(_) => {}
        }
    }
}

/// Reads output until `needle` appears.
pub async fn until_output(att: &mut Attachment, needle: &str) -> Result<()> {
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match next(att).await? {
            ServerMsg::Output(b) | ServerMsg::Snapshot(b) => seen.extend(b),
            ServerMsg::Control(ServerControl::Ended { reason }) => {
                bail!("ended ({reason}) before {needle:?}")
            }
            ServerMsg::Control(_) | ServerMsg::Graphics { .. } | ServerMsg::DesktopSnapshot(_) => {}
        }
    }
    Ok(())
}

pub async fn type_line(att: &Attachment, line: &str) -> Result<()> {
    let input = att.input.as_ref().context("a user attachment has input")?;
    input
        .send(ClientMsg::Input(format!("{line}\r").into_bytes()))
        .await?;
    Ok(())
}

/// Collects lifecycle events of `id` up to and including its `Ended`.
pub async fn until_ended(rx: &mut mpsc::UnboundedReceiver<Lifecycle>) -> Result<Vec<Lifecycle>> {
    let mut events = Vec::new();
    loop {
        let e = tokio::time::timeout(WAIT, rx.recv())
            .await?
            .context("lifecycle closed")?;
        let done = matches!(e, Lifecycle::Ended { .. });
        events.push(e);
        if done {
            return Ok(events);
        }
    }
}

pub async fn connected_user(f: &Fixture, id: &str, target: &Target) -> Result<Attachment> {
    f.hub
        .launch(spec(id, target, password(target), target.port, None))?;
    let mut user = f.hub.attach(id, Participant::User).context("attach")?;
    until_control(&mut user, |c| *c == ServerControl::Connected).await?;
    Ok(user)
}

/// A cast's `[t, code, data]` lines.
pub type CastLines = Vec<(f64, String, String)>;

/// Every line of a cast: the header object, then `[t, code, data]` arrays.
pub fn parse_cast(path: &Path) -> Result<(serde_json::Value, CastLines)> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().context("header")?)?;
    let mut events = Vec::new();
    for line in lines {
        let (t, code, data): (f64, String, String) =
            serde_json::from_str(line).with_context(|| format!("line {line:?}"))?;
        events.push((t, code, data));
    }
    Ok((header, events))
}

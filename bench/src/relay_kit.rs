//! What the SSH benchmarks share: the project's sshd and the relay binary on loopback,
//! a logged-in API client, the session stream as a browser speaks it, and readings of
//! the relay process (`/proc`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
pub use vigil_testkit::free_port;
use vigil_testkit::targets::scripts_dir;
pub use vigil_testkit::targets::{SSH_PASSWORD, SSH_PASSWORD_ACCOUNT as SSH_USER};
use vigil_testkit::workspace_root;
use vigil_wire::codec::Frame;
use vigil_wire::live::{ClientControl, ClientMsg, ServerControl, ServerMsg};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Kills the child when dropped, so an error path leaves no process behind.
pub struct Guard(pub Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The project's sshd (`scripts/targets/start-ssh.sh`) on `port`, state under `state`;
/// stopped when dropped.
pub struct Sshd {
    state: PathBuf,
    pub port: u16,
}

impl Sshd {
    pub fn start(state: &Path) -> Result<Sshd> {
        let port = free_port();
        let out = Command::new("bash")
            .arg(scripts_dir().join("start-ssh.sh"))
            .env("VIGIL_TARGETS_DIR", state)
            .env("SSH_PORT", port.to_string())
            .output()?;
        if !out.status.success() {
            bail!(
                "sshd did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Sshd {
            state: state.to_path_buf(),
            port,
        })
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(scripts_dir().join("stop-ssh.sh"))
            .env("VIGIL_TARGETS_DIR", &self.state)
            .output();
    }
}

/// The relay binary: `$VIGIL_BIN`, else `target/release/vigil`.
pub fn vigil_bin() -> String {
    std::env::var("VIGIL_BIN").unwrap_or_else(|_| {
        workspace_root()
            .join("target/release/vigil")
            .to_string_lossy()
            .into_owned()
    })
}

/// The audit key of the relay on `data`: `<data>.audit.key`, beside (never inside) it.
pub fn audit_key_path(data: &Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.audit.key", data.display()))
}

/// Makes the audit key of `data` unless it exists (`vigil audit keygen`).
pub fn ensure_audit_key(data: &Path) -> Result<std::path::PathBuf> {
    let key = audit_key_path(data);
    if !key.exists() {
        let bin = vigil_bin();
        let out = Command::new(&bin)
            .args(["audit", "keygen", "--out"])
            .arg(&key)
            .output()
            .with_context(|| format!("running {bin}"))?;
        if !out.status.success() {
            bail!(
                "vigil audit keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(key)
}

/// Runs a `vigil` CLI command on `data`, with `envs` (passwords are passed by name).
pub fn vigil(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let bin = vigil_bin();
    let key = ensure_audit_key(data)?;
    let out = Command::new(&bin)
        .args(args)
        .env("VIGIL_DATA_DIR", data)
        .env("VIGIL_AUDIT_KEY_FILE", key)
        .envs(envs.iter().copied())
        .output()
        .with_context(|| format!("running {bin}"))?;
    if !out.status.success() {
        bail!("vigil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Adds an administrator `name` with `password`.
pub fn add_admin(data: &Path, name: &str, password: &str) -> Result<()> {
    vigil(
        data,
        &["user", "add", name, "--password-env", "BENCH_PW", "--admin"],
        &[("BENCH_PW", password)],
    )
}

/// Adds the project's sshd (on `port`) as the SSH asset `name`.
pub fn add_ssh_asset(data: &Path, name: &str, port: u16) -> Result<()> {
    let port = port.to_string();
    vigil(
        data,
        &[
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
            SSH_USER,
            "--password-env",
            "BENCH_SECRET",
        ],
        &[("BENCH_SECRET", SSH_PASSWORD)],
    )
}

/// `vigil serve` on `data` at `port`, logging at `log` (a `RUST_LOG` filter), with extra
/// `envs`. The file limit is raised to the hard limit first, for benchmarks with many sockets.
fn serve_command(data: &Path, port: u16, log: &str, envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg("ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" serve")
        .arg(vigil_bin())
        .env("VIGIL_DATA_DIR", data)
        .env("VIGIL_AUDIT_KEY_FILE", audit_key_path(data))
        .env("VIGIL_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", log)
        .envs(envs.iter().copied())
        .stdout(Stdio::null());
    cmd
}

/// Starts `vigil serve` on `data` at `port` with extra `envs`; killed when dropped.
pub fn serve(data: &Path, port: u16, envs: &[(&str, &str)]) -> Result<Guard> {
    ensure_audit_key(data)?;
    Ok(Guard(serve_command(data, port, "warn", envs).spawn()?))
}

/// Like [`serve`], and follows the relay's heap: its `vigil::memory` debug lines (see the
/// relay's `main.rs`) set the returned value, in KiB; every other line of its log goes on
/// to this process's stderr.
pub fn serve_watching_heap(
    data: &Path,
    port: u16,
    envs: &[(&str, &str)],
) -> Result<(Guard, std::sync::Arc<std::sync::atomic::AtomicU64>)> {
    use std::io::BufRead as _;
    ensure_audit_key(data)?;
    let child = serve_command(data, port, "warn,vigil::memory=debug", envs)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()?;
    let mut child = Guard(child);
    let stderr = child.0.stderr.take().context("the relay's stderr")?;
    let heap = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = heap.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            match heap_kib(&line) {
                Some(kib) => seen.store(kib, std::sync::atomic::Ordering::Relaxed),
                None => eprintln!("{line}"),
            }
        }
    });
    Ok((child, heap))
}

/// Like [`serve`], logging JSON lines (`log_format = json`) at `log` (a `RUST_LOG`
/// filter): the relay's stderr is returned, for the caller to read.
pub fn serve_logging_json(
    data: &Path,
    port: u16,
    log: &str,
    envs: &[(&str, &str)],
) -> Result<(Guard, std::process::ChildStderr)> {
    ensure_audit_key(data)?;
    let child = serve_command(data, port, log, envs)
        .env("VIGIL_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()?;
    let mut child = Guard(child);
    let stderr = child.0.stderr.take().context("the relay's stderr")?;
    Ok((child, stderr))
}

/// The `heap_kib` of a relay log line, without colours.
fn heap_kib(line: &str) -> Option<u64> {
    let rest = line.split_once("heap_kib=")?.1;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The relay's resident memory, KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

/// The relay's open file descriptors.
pub fn fd_count(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// The relay's open file descriptors by kind: `socket`, `pipe`, `anon_inode:…`, or the
/// file's extension for files (`.cast`, `.db-wal`…).
pub fn fd_kinds(pid: u32) -> Result<std::collections::BTreeMap<String, usize>> {
    let mut out = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        let kind = match t.split_once(':') {
            Some((k @ ("socket" | "pipe"), _)) => k.to_string(),
            Some(("anon_inode", what)) => format!("anon_inode:{what}"),
            _ => target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .and_then(|n| n.split_once('.').map(|(_, ext)| format!(".{ext}")))
                .unwrap_or_else(|| t.into_owned()),
        };
        *out.entry(kind).or_default() += 1;
    }
    Ok(out)
}

/// A logged-in API client.
pub struct Api {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Api {
    /// Logs in, retrying while the relay starts (up to 10 s).
    pub async fn login(port: u16, username: &str, password: &str) -> Result<Api> {
        let mut last = None;
        for _ in 0..100 {
            match Api::try_login(port, username, password).await {
                Ok(api) => return Ok(api),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("relay did not come up")))
    }

    async fn try_login(port: u16, username: &str, password: &str) -> Result<Api> {
        let base = format!("http://127.0.0.1:{port}");
        // The relay closes a kept-alive connection after 10 idle seconds (its header
        // timeout); a client that reused one at that instant would see it reset.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        let res = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("login failed: {}", res.status());
        }
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(vigil_wire::SESSION_COOKIE))
            .and_then(|v| v.split(';').next())
            .context("no session cookie")?
            .to_string();
        let me: serde_json::Value = res.json().await?;
        let csrf = me["csrf_token"].as_str().context("csrf token")?.to_string();
        Ok(Api {
            base,
            http,
            cookie,
            csrf,
        })
    }

    /// POSTs `body` to `/api/v1/{path}`; the answer's JSON, or an error with its status.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        let res = self
            .http
            .post(format!("{}/api/v1/{path}", self.base))
            .header("cookie", &self.cookie)
            .header(vigil_wire::CSRF_HEADER, &self.csrf)
            .json(&body)
            .send()
            .await?;
        let status = res.status();
        let text = res.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {text}");
        }
        Ok(if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// DELETEs `/api/v1/{path}`; an error with its status unless it succeeded.
    pub async fn delete(&self, path: &str) -> Result<()> {
        let res = self
            .http
            .delete(format!("{}/api/v1/{path}", self.base))
            .header("cookie", &self.cookie)
            .header(vigil_wire::CSRF_HEADER, &self.csrf)
            .send()
            .await?;
        let status = res.status();
        if !status.is_success() {
            bail!("DELETE {path}: {status} {}", res.text().await?);
        }
        Ok(())
    }

    /// GETs `/api/v1/{path}`: the body's bytes, or an error with its status.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let res = self
            .http
            .get(format!("{}/api/v1/{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await?;
        let status = res.status();
        let body = res.bytes().await?.to_vec();
        if !status.is_success() {
            bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// Starts an SSH session on `asset_id` (no request: an Admin Session); its id.
    pub async fn launch(&self, asset_id: i64) -> Result<String> {
        let v = self
            .post(
                "sessions",
                serde_json::json!({"asset_id": asset_id, "request_id": null, "cols": 80, "rows": 24}),
            )
            .await?;
        Ok(v["session_id"].as_str().context("session_id")?.to_string())
    }

    /// The first asset's id.
    pub async fn asset_id(&self) -> Result<i64> {
        let v: serde_json::Value = serde_json::from_slice(&self.get_bytes("assets").await?)?;
        v[0]["id"].as_i64().context("no asset")
    }

    /// Opens a WebSocket at `/api/v1/{path}` as the browser does (cookie, Origin).
    pub async fn ws(&self, path: &str) -> Result<Ws> {
        let url = format!("{}/api/v1/{path}", self.base.replace("http", "ws"));
        let mut req = url.into_client_request()?;
        req.headers_mut().insert("cookie", self.cookie.parse()?);
        req.headers_mut().insert("origin", self.base.parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(ws)
    }

    /// Attaches to session `id`'s stream and says hello.
    pub async fn stream(&self, id: &str) -> Result<Ws> {
        let mut ws = self.ws(&format!("sessions/{id}/stream")).await?;
        send(
            &mut ws,
            ClientMsg::Control(ClientControl::Hello {
                version: vigil_wire::PROTOCOL_VERSION,
            }),
        )
        .await?;
        Ok(ws)
    }
}

pub async fn send(ws: &mut Ws, msg: ClientMsg) -> Result<()> {
    let m = match msg.encode() {
        Frame::Text(t) => Message::text(t),
        Frame::Binary(b) => Message::binary(b),
    };
    ws.send(m).await?;
    Ok(())
}

pub async fn next_msg(ws: &mut Ws) -> Result<ServerMsg> {
    loop {
        let m = ws.next().await.context("stream closed")??;
        let frame = match m {
            Message::Text(t) => Frame::Text(t.to_string()),
            Message::Binary(b) => Frame::Binary(b.to_vec()),
            Message::Close(_) => bail!("stream closed"),
            _ => continue,
        };
        return Ok(ServerMsg::decode(&frame)?);
    }
}

/// Reads until `pred` holds for the terminal output seen since the call (15 s at most).
pub async fn wait_output(ws: &mut Ws, pred: impl Fn(&[u8]) -> bool) -> Result<()> {
    wait_output_collect(ws, pred).await.map(drop)
}

/// As [`wait_output`], returning the output seen.
pub async fn wait_output_collect(ws: &mut Ws, pred: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(15), next_msg(ws)).await?? {
            ServerMsg::Output(b) | ServerMsg::Snapshot(b) => {
                seen.extend_from_slice(&b);
                if pred(&seen) {
                    return Ok(seen);
                }
            }
            ServerMsg::Control(ServerControl::Error { code, message }) => {
                bail!("{code}: {message}")
            }
            ServerMsg::Control(ServerControl::Ended { reason }) => bail!("ended: {reason}"),
            ServerMsg::Control(_) | ServerMsg::Graphics { .. } | ServerMsg::DesktopSnapshot(_) => {}
        }
    }
}

/// Reads until a control message for which `pred` holds (15 s at most); output is skipped.
pub async fn wait_control(ws: &mut Ws, pred: impl Fn(&ServerControl) -> bool) -> Result<()> {
    loop {
        if let ServerMsg::Control(c) =
            tokio::time::timeout(Duration::from_secs(15), next_msg(ws)).await??
        {
            if pred(&c) {
                return Ok(());
            }
            if let ServerControl::Ended { reason } = c {
                bail!("ended: {reason}");
            }
        }
    }
}

/// Returns once the relay has read everything sent on `ws` so far: a ping's pong comes
/// back only after the relay's socket task read the frames before it.
pub async fn sync(ws: &mut Ws) -> Result<()> {
    ws.send(Message::Ping(b"sync".to_vec().into())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await?
            .context("stream closed")??
        {
            Message::Pong(p) if p.as_ref() == b"sync" => return Ok(()),
            Message::Close(_) => bail!("stream closed"),
            _ => {}
        }
    }
}

/// A shell prompt in `b`.
pub fn prompt_seen(b: &[u8]) -> bool {
    b.windows(2).any(|w| w == b"$ ")
}

/// `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The `p` quantile (0 to 1) of `sorted` (ascending, not empty), by nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Types a key at a shell prompt and waits for its echo, then erases it, `n` times;
/// returns the round trips.
pub async fn keystroke_round_trips(ws: &mut Ws, n: usize) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        send(ws, ClientMsg::Input(b"x".to_vec())).await?;
        wait_output(ws, |b| b.contains(&b'x')).await?;
        out.push(t.elapsed());
        send(ws, ClientMsg::Input(vec![0x7f])).await?;
        wait_output(ws, |b| b.contains(&0x08)).await?;
    }
    Ok(out)
}

/// Accepts any host key: the benchmarks' sshd is the project's own, on loopback.
pub struct Trusting;

impl russh::client::Handler for Trusting {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A russh client logged in to the sshd on `port` as the benchmark account, with a shell
/// in the relay's PTY (xterm-256color, 80×24); the prompt is not read yet.
pub async fn direct_pty_shell(
    port: u16,
) -> Result<(
    russh::client::Handle<Trusting>,
    russh::Channel<russh::client::Msg>,
)> {
    let config = std::sync::Arc::new(russh::client::Config::default());
    let mut session = russh::client::connect(config, ("127.0.0.1", port), Trusting).await?;
    if !session
        .authenticate_password(SSH_USER, SSH_PASSWORD)
        .await?
        .success()
    {
        bail!("direct ssh login refused");
    }
    let ch = session.channel_open_session().await?;
    ch.request_pty(false, "xterm-256color", 80, 24, 0, 0, &[])
        .await?;
    ch.request_shell(false).await?;
    Ok((session, ch))
}

//! `bench-ssh`: figures for Vigil's SSH path, each beside its baseline from the same run.
//!
//! 1. Keystroke round trip (type a key at a shell prompt, wait for its echo), p50 and p99:
//!    through the relay (browser-shaped WebSocket → relay → sshd) against a russh client
//!    straight to the same sshd.
//! 2. Relay memory per idle monitored session: the relay's RSS with N live sessions, each
//!    with its user and one observer attached, against the same relay before they opened.
//!
//! It starts its own sshd (the project's script) and relay on loopback, and stops both.
//! Usage: `bench-ssh [--sessions N] [--keys N]` (defaults 200 and 300).
//! The relay binary is `$VIGIL_BIN`, else `target/release/vigil`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vigil_wire::codec::Frame;
use vigil_wire::live::{ClientControl, ClientMsg, ServerControl, ServerMsg};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SSH_USER: &str = "gwpass";
const SSH_PASSWORD: &str = "gwpass-Secret1";
const ADMIN_PASSWORD: &str = "bench-Admin-1";

struct Args {
    sessions: usize,
    keys: usize,
}

fn args() -> Result<Args> {
    let mut out = Args {
        sessions: 200,
        keys: 300,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--sessions" => out.sessions = v.parse()?,
            "--keys" => out.keys = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(out)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Kills the child when dropped, so an error path leaves no process behind.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn start_sshd(state: &std::path::Path, port: u16) -> Result<()> {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/targets/start-ssh.sh"))
        .env("VIGIL_TARGETS_DIR", state)
        .env("SSH_PORT", port.to_string())
        .output()?;
    if !out.status.success() {
        bail!(
            "sshd did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn stop_sshd(state: &std::path::Path) {
    let _ = Command::new("bash")
        .arg(repo_root().join("scripts/targets/stop-ssh.sh"))
        .env("VIGIL_TARGETS_DIR", state)
        .output();
}

fn vigil(data: &std::path::Path, args: &[&str]) -> Result<()> {
    let bin = std::env::var("VIGIL_BIN").unwrap_or_else(|_| {
        repo_root()
            .join("target/release/vigil")
            .to_string_lossy()
            .into_owned()
    });
    let out = Command::new(&bin)
        .args(args)
        .env("VIGIL_DATA_DIR", data)
        .env("BENCH_SECRET", SSH_PASSWORD)
        .env("BENCH_ADMIN", ADMIN_PASSWORD)
        .output()
        .with_context(|| format!("running {bin}"))?;
    if !out.status.success() {
        bail!("vigil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn rss_kib(pid: u32) -> Result<u64> {
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (percentile(&v, 0.5), percentile(&v, 0.99))
}

struct Relay {
    base: String,
    origin: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Relay {
    async fn login(port: u16) -> Result<Relay> {
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().build()?;
        let res = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "bench", "password": ADMIN_PASSWORD}))
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
        Ok(Relay {
            origin: base.clone(),
            base,
            http,
            cookie,
            csrf,
        })
    }

    async fn launch(&self, asset_id: i64) -> Result<String> {
        let res = self
            .http
            .post(format!("{}/api/v1/sessions", self.base))
            .header("cookie", &self.cookie)
            .header(vigil_wire::CSRF_HEADER, &self.csrf)
            .json(&serde_json::json!({"asset_id": asset_id, "request_id": null, "cols": 80, "rows": 24}))
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("launch failed: {} {}", res.status(), res.text().await?);
        }
        let v: serde_json::Value = res.json().await?;
        Ok(v["session_id"].as_str().context("session_id")?.to_string())
    }

    async fn asset_id(&self) -> Result<i64> {
        let v: serde_json::Value = self
            .http
            .get(format!("{}/api/v1/assets", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await?
            .json()
            .await?;
        v[0]["id"].as_i64().context("no asset")
    }

    async fn stream(&self, id: &str) -> Result<Ws> {
        let url = format!(
            "{}/api/v1/sessions/{id}/stream",
            self.base.replace("http", "ws")
        );
        let mut req = url.into_client_request()?;
        req.headers_mut().insert("cookie", self.cookie.parse()?);
        req.headers_mut().insert("origin", self.origin.parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
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

async fn send(ws: &mut Ws, msg: ClientMsg) -> Result<()> {
    let m = match msg.encode() {
        Frame::Text(t) => Message::text(t),
        Frame::Binary(b) => Message::binary(b),
    };
    ws.send(m).await?;
    Ok(())
}

async fn next_msg(ws: &mut Ws) -> Result<ServerMsg> {
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

/// Reads until `pred` holds for the accumulated terminal output.
async fn wait_output(ws: &mut Ws, pred: impl Fn(&[u8]) -> bool) -> Result<()> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(15), next_msg(ws)).await?? {
            ServerMsg::Output(b) | ServerMsg::Snapshot(b) => {
                seen.extend_from_slice(&b);
                if pred(&seen) {
                    return Ok(());
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

fn prompt_seen(b: &[u8]) -> bool {
    b.windows(2).any(|w| w == b"$ ")
}

/// Types a key and waits for its echo, then erases it; returns the round trips.
async fn relay_round_trips(ws: &mut Ws, n: usize) -> Result<Vec<Duration>> {
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

struct Trusting;
impl russh::client::Handler for Trusting {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn direct_round_trips(port: u16, n: usize) -> Result<Vec<Duration>> {
    let config = Arc::new(russh::client::Config::default());
    let mut session = russh::client::connect(config, ("127.0.0.1", port), Trusting).await?;
    if !session
        .authenticate_password(SSH_USER, SSH_PASSWORD)
        .await?
        .success()
    {
        bail!("direct ssh login refused");
    }
    let mut ch = session.channel_open_session().await?;
    ch.request_pty(false, "xterm-256color", 80, 24, 0, 0, &[])
        .await?;
    ch.request_shell(false).await?;
    async fn wait(
        ch: &mut russh::Channel<russh::client::Msg>,
        pred: impl Fn(&[u8]) -> bool,
    ) -> Result<()> {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(15), ch.wait()).await? {
                Some(russh::ChannelMsg::Data { data }) => {
                    seen.extend_from_slice(&data);
                    if pred(&seen) {
                        return Ok(());
                    }
                }
                Some(_) => {}
                None => bail!("direct channel closed"),
            }
        }
    }
    wait(&mut ch, prompt_seen).await?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        ch.data(&b"x"[..]).await?;
        wait(&mut ch, |b| b.contains(&b'x')).await?;
        out.push(t.elapsed());
        ch.data(&[0x7f][..]).await?;
        wait(&mut ch, |b| b.contains(&0x08)).await?;
    }
    Ok(out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let targets = tmp.path().join("targets");
    let ssh_port = free_port()?;
    start_sshd(&targets, ssh_port)?;
    let result = run(&args, &data, ssh_port).await;
    stop_sshd(&targets);
    result
}

async fn run(args: &Args, data: &std::path::Path, ssh_port: u16) -> Result<()> {
    vigil(
        data,
        &[
            "user",
            "add",
            "bench",
            "--password-env",
            "BENCH_ADMIN",
            "--admin",
        ],
    )?;
    let port_s = ssh_port.to_string();
    vigil(
        data,
        &[
            "asset",
            "add",
            "bench-ssh",
            "--protocol",
            "ssh",
            "--host",
            "127.0.0.1",
            "--port",
            &port_s,
            "--account",
            SSH_USER,
            "--password-env",
            "BENCH_SECRET",
        ],
    )?;
    let relay_port = free_port()?;
    let bin = std::env::var("VIGIL_BIN").unwrap_or_else(|_| {
        repo_root()
            .join("target/release/vigil")
            .to_string_lossy()
            .into_owned()
    });
    let relay = Guard(
        Command::new(&bin)
            .arg("serve")
            .env("VIGIL_DATA_DIR", data)
            .env("VIGIL_BIND", format!("127.0.0.1:{relay_port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let pid = relay.0.id();
    let mut api = None;
    for _ in 0..100 {
        if let Ok(r) = Relay::login(relay_port).await {
            api = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let api = api.context("relay did not come up")?;
    let asset = api.asset_id().await?;

    println!(
        "== keystroke round trip ({} keys, loopback, sshd {ssh_port}) ==",
        args.keys
    );
    let direct = summary(direct_round_trips(ssh_port, args.keys).await?);
    let id = api.launch(asset).await?;
    let mut ws = api.stream(&id).await?;
    wait_output(&mut ws, prompt_seen).await?;
    let via = summary(relay_round_trips(&mut ws, args.keys).await?);
    println!("{:<28} {:>9} {:>9}", "path", "p50 ms", "p99 ms");
    println!(
        "{:<28} {:>9.3} {:>9.3}",
        "direct russh → sshd",
        ms(direct.0),
        ms(direct.1)
    );
    println!(
        "{:<28} {:>9.3} {:>9.3}",
        "websocket → relay → sshd",
        ms(via.0),
        ms(via.1)
    );
    println!(
        "{:<28} {:>9.3} {:>9.3}",
        "added by the relay",
        ms(via.0) - ms(direct.0),
        ms(via.1) - ms(direct.1)
    );
    drop(ws);

    println!(
        "\n== relay memory per idle monitored session ({} sessions) ==",
        args.sessions
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid)?;
    let mut sockets = Vec::new();
    for chunk in 0..args.sessions.div_ceil(20) {
        let mut batch = Vec::new();
        for _ in 0..20.min(args.sessions - chunk * 20) {
            let id = api.launch(asset).await?;
            let mut user = api.stream(&id).await?;
            batch.push(tokio::spawn(async move {
                wait_output(&mut user, prompt_seen)
                    .await
                    .map(|_| (id, user))
            }));
        }
        for b in batch {
            let (id, user) = b.await??;
            let observer = api.stream(&id).await?;
            sockets.push((user, observer));
        }
    }
    // Keep every socket drained while idle, as browsers would.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before)) as f64 / args.sessions as f64;
    println!("{:<40} {:>10}", "relay RSS before (KiB)", before);
    println!(
        "{:<40} {:>10}",
        format!("relay RSS with {} sessions (KiB)", args.sessions),
        after
    );
    println!("{:<40} {:>10.1}", "per idle monitored session (KiB)", per);
    drop(sockets);
    drop(relay);
    Ok(())
}

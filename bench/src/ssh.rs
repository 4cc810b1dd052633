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

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use vigil_bench::relay_kit::{
    add_admin, add_ssh_asset, free_port, keystroke_round_trips, percentile, prompt_seen, rss_kib,
    send, serve, wait_control, wait_output, wait_output_collect, Api, Sshd, SSH_PASSWORD, SSH_USER,
};
use vigil_wire::live::{ClientMsg, ServerControl};

const ADMIN_PASSWORD: &str = "bench-Admin-1";
/// Locks and unlocks "bench"'s sessions (nobody controls their own session).
const MONITOR: &str = "bench-monitor";
/// Watches a session until their logins are ended.
const WATCHER: &str = "bench-watcher";

struct Args {
    sessions: usize,
    keys: usize,
    locks: usize,
    revokes: usize,
}

fn args() -> Result<Args> {
    let mut out = Args {
        sessions: 200,
        keys: 300,
        locks: 100,
        revokes: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--sessions" => out.sessions = v.parse()?,
            "--keys" => out.keys = v.parse()?,
            "--locks" => out.locks = v.parse()?,
            "--revokes" => out.revokes = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(out)
}

fn summary(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (percentile(&v, 0.5), percentile(&v, 0.99))
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

/// How soon controls take effect, seen from outside the relay: lock (the monitor's
/// request sent → the user's stream told it is locked, after which the relay drops the
/// user's input) and revocation (an administrator ends a watcher's logins → the
/// watcher's stream is told and closed).
async fn controls(args: &Args, api: &Api, port: u16, asset: i64) -> Result<()> {
    println!(
        "\n== controls take effect ({} locks, {} revocations) ==",
        args.locks, args.revokes
    );
    let monitor = Api::login(port, MONITOR, ADMIN_PASSWORD).await?;
    let id = api.launch(asset).await?;
    let mut user = api.stream(&id).await?;
    wait_output(&mut user, prompt_seen).await?;
    let mut locks = Vec::with_capacity(args.locks);
    for _ in 0..args.locks {
        let t = Instant::now();
        let path = format!("sessions/{id}/lock");
        let lock = monitor.post(&path, serde_json::json!({}));
        let told = wait_control(&mut user, |c| matches!(c, ServerControl::Locked { .. }));
        let (lock, told) = tokio::join!(lock, told);
        lock?;
        told?;
        locks.push(t.elapsed());
        // Typed while locked: must never reach the shell.
        send(&mut user, ClientMsg::Input(b"#".to_vec())).await?;
        monitor
            .post(&format!("sessions/{id}/unlock"), serde_json::json!({}))
            .await?;
        wait_control(&mut user, |c| matches!(c, ServerControl::Unlocked)).await?;
    }
    // One key after the last unlock: its echo arrives, and no '#' came before it.
    send(&mut user, ClientMsg::Input(b"x".to_vec())).await?;
    let echoed = wait_output_collect(&mut user, |b| b.contains(&b'x')).await?;
    if echoed.contains(&b'#') {
        bail!("input typed while locked reached the shell");
    }
    drop(user);

    let mut revokes = Vec::with_capacity(args.revokes);
    for _ in 0..args.revokes {
        let watcher = Api::login(port, WATCHER, ADMIN_PASSWORD).await?;
        let mut ws = watcher.stream(&id).await?;
        wait_control(&mut ws, |c| matches!(c, ServerControl::Welcome { .. })).await?;
        let t = Instant::now();
        let path = format!("users/{WATCHER}/end-logins");
        let end = api.post(&path, serde_json::json!({}));
        let told = wait_control(
            &mut ws,
            |c| matches!(c, ServerControl::Error { code, .. } if *code == vigil_wire::end::ErrorCode::LoginEnded),
        );
        let (end, told) = tokio::join!(end, told);
        end?;
        told?;
        revokes.push(t.elapsed());
    }
    let (l50, l99) = summary(locks);
    let (r50, r99) = summary(revokes);
    println!("{:<36} {:>9} {:>9}", "control", "p50 ms", "p99 ms");
    println!(
        "{:<36} {:>9.3} {:>9.3}",
        // Both the lock's HTTP answer (after its audited commit) and `Locked` at the user;
        // the relay-side gate and first dropped input are `bench-lock`'s figures.
        "lock → answered and user told",
        ms(l50),
        ms(l99)
    );
    println!(
        "{:<36} {:>9.3} {:>9.3}",
        "end logins → watcher detached",
        ms(r50),
        ms(r99)
    );
    println!("input typed while locked that reached the shell: 0");
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let sshd = Sshd::start(&tmp.path().join("targets"))?;
    run(&args, &data, sshd.port).await
}

async fn run(args: &Args, data: &std::path::Path, ssh_port: u16) -> Result<()> {
    add_admin(data, "bench", ADMIN_PASSWORD)?;
    add_admin(data, MONITOR, ADMIN_PASSWORD)?;
    add_admin(data, WATCHER, ADMIN_PASSWORD)?;
    add_ssh_asset(data, "bench-ssh", ssh_port)?;
    let relay_port = free_port();
    // Every session is the one administrator's: lift the per-user cap past the count.
    let cap = (args.sessions + 10).to_string();
    let relay = serve(
        data,
        relay_port,
        &[
            ("VIGIL_MAX_SESSIONS_PER_USER", &cap),
            ("VIGIL_MAX_LIVE_SESSIONS", &cap),
        ],
    )?;
    let pid = relay.0.id();
    let api = Api::login(relay_port, "bench", ADMIN_PASSWORD).await?;
    let asset = api.asset_id().await?;

    println!(
        "== keystroke round trip ({} keys, loopback, sshd {ssh_port}) ==",
        args.keys
    );
    let direct = summary(direct_round_trips(ssh_port, args.keys).await?);
    let id = api.launch(asset).await?;
    let mut ws = api.stream(&id).await?;
    wait_output(&mut ws, prompt_seen).await?;
    let via = summary(keystroke_round_trips(&mut ws, args.keys).await?);
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

    controls(args, &api, relay_port, asset).await?;

    println!(
        "\n== relay memory per idle monitored session ({} sessions) ==",
        args.sessions
    );
    // Each reading waits for the relay's next return of free memory to the system, so that
    // what the start-up and the benchmarks before freed is not counted as the baseline.
    let settle = vigil_alloc::GIVE_BACK_EVERY + Duration::from_secs(1);
    tokio::time::sleep(settle).await;
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
    tokio::time::sleep(settle).await;
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

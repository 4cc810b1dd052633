//! `bench-ssh`: figures for Vigil's SSH path, each beside its baseline from the same run.
//!
//! 1. Keystroke round trip (type a key at a shell prompt, wait for its echo), p50 and p99:
//!    through the relay (browser-shaped WebSocket → relay → sshd) against a russh client
//!    straight to the same sshd.
//! 2. How soon Lock and revocation take effect, seen from outside the relay.
//! 3. Relay memory per idle monitored session: the relay's RSS (and live heap) with N live
//!    sessions, each with its user and one observer attached and recorded, against the same
//!    relay before they opened; then, with the N held, the keystroke round trip of a few
//!    typing sessions against as many russh clients typing straight to the same sshd.
//!
//! It starts its own sshd (the project's script) and relay on loopback, and stops both.
//! Both processes' file limits are raised to their hard limit (each session holds five
//! descriptors in the relay and two sockets here).
//! Usage: `bench-ssh [--sessions N] [--keys N] [--locks N] [--revokes N] [--typists N]`
//! (defaults 1000, 300, 100, 20 and 4).
//! The relay binary is `$VIGIL_BIN`, else `target/release/vigil`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use vigil_bench::relay_kit::{
    add_admin, add_ssh_asset, direct_pty_shell, fd_kinds, free_port, keystroke_round_trips,
    percentile, prompt_seen, rss_kib, send, serve_watching_heap, sync, wait_control, wait_output,
    wait_output_collect, Api, Guard, Sshd, Trusting, Ws,
};
use vigil_bench::rows::{self, Baseline, Goal, Measure, Row, Unit};
use vigil_wire::live::{ClientMsg, ServerControl};

const ADMIN_PASSWORD: &str = "bench-Admin-1";
/// Locks and unlocks "bench"'s sessions (nobody controls their own session).
const MONITOR: &str = "bench-monitor";
/// Watches a session until their logins are ended.
const WATCHER: &str = "bench-watcher";

#[global_allocator]
static ALLOCATOR: vigil_alloc::Allocator = vigil_alloc::ALLOCATOR;

struct Args {
    sessions: usize,
    keys: usize,
    locks: usize,
    revokes: usize,
    /// Sessions that type while the others are held idle.
    typists: usize,
}

fn args() -> Result<Args> {
    let mut out = Args {
        sessions: 1000,
        keys: 300,
        locks: 100,
        revokes: 20,
        typists: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--sessions" => out.sessions = v.parse()?,
            "--keys" => out.keys = v.parse()?,
            "--locks" => out.locks = v.parse()?,
            "--revokes" => out.revokes = v.parse()?,
            "--typists" => out.typists = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if out.typists == 0 || out.typists > out.sessions || out.keys == 0 {
        bail!("--typists must be between 1 and --sessions, and --keys above 0");
    }
    Ok(out)
}

fn summary(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (percentile(&v, 0.5), percentile(&v, 0.99))
}

/// A russh client logged in to sshd with a shell in an 80×24 PTY, its prompt read.
struct DirectShell {
    _session: russh::client::Handle<Trusting>,
    ch: russh::Channel<russh::client::Msg>,
}

impl DirectShell {
    async fn open(port: u16) -> Result<DirectShell> {
        let (session, ch) = direct_pty_shell(port).await?;
        let mut shell = DirectShell {
            _session: session,
            ch,
        };
        shell.wait(prompt_seen).await?;
        Ok(shell)
    }

    async fn wait(&mut self, pred: impl Fn(&[u8]) -> bool) -> Result<()> {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(15), self.ch.wait()).await? {
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

    async fn round_trips(&mut self, n: usize) -> Result<Vec<Duration>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            self.ch.data(&b"x"[..]).await?;
            self.wait(|b| b.contains(&b'x')).await?;
            out.push(t.elapsed());
            self.ch.data(&[0x7f][..]).await?;
            self.wait(|b| b.contains(&0x08)).await?;
        }
        Ok(out)
    }
}

async fn direct_round_trips(port: u16, n: usize) -> Result<Vec<Duration>> {
    DirectShell::open(port).await?.round_trips(n).await
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
        // Read by the relay before the unlock is asked for: input the relay reads after
        // an unlock belongs to the unlocked epoch, and would rightly reach the shell.
        sync(&mut user).await?;
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
    raise_file_limit()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let sshd = Sshd::start(&tmp.path().join("targets"))?;
    run(&args, &data, sshd.port).await
}

/// Raises this process's file limit to its hard limit: every held session is two
/// WebSockets here.
fn raise_file_limit() -> Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(())
}

async fn run(args: &Args, data: &std::path::Path, ssh_port: u16) -> Result<()> {
    add_admin(data, "bench", ADMIN_PASSWORD)?;
    add_admin(data, MONITOR, ADMIN_PASSWORD)?;
    add_admin(data, WATCHER, ADMIN_PASSWORD)?;
    add_ssh_asset(data, "bench-ssh", ssh_port)?;
    let relay_port = free_port();
    // Every session is the one administrator's: lift the per-user cap past the count.
    let cap = (args.sessions + 10).to_string();
    let relay = serve_watching_heap(
        data,
        relay_port,
        &[
            ("VIGIL_MAX_SESSIONS_PER_USER", &cap),
            ("VIGIL_MAX_LIVE_SESSIONS", &cap),
        ],
    )?;
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
    print_round_trips(direct, via);
    println!(
        "{:<28} {:>9.3} {:>9.3}",
        "added by the relay",
        ms(via.0) - ms(direct.0),
        ms(via.1) - ms(direct.1)
    );
    drop(ws);

    controls(args, &api, relay_port, asset).await?;

    held(args, &api, relay, ssh_port, asset).await
}

/// Sessions opened for the memory reading: each user's stream and its observer's.
struct Held {
    /// Each session's id and its user's stream, until the observers attach.
    users: Vec<(String, Ws)>,
    /// The first `--typists` users' streams, kept here to type on.
    typists: Vec<Ws>,
    /// Every other stream, each read (and discarded) by its own task, as a browser would.
    drains: Vec<tokio::task::JoinHandle<()>>,
}

/// Reads `ws` until it closes, as an idle browser tab does (answering pings).
fn drain(mut ws: Ws) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} })
}

/// Opens `args.sessions` sessions, 20 at a time, each user's stream reading its prompt.
async fn open_users(args: &Args, api: &Api, asset: i64) -> Result<Held> {
    let mut held = Held {
        users: Vec::with_capacity(args.sessions),
        typists: Vec::with_capacity(args.typists),
        drains: Vec::with_capacity(args.sessions * 2),
    };
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
            held.users.push(b.await??);
        }
    }
    Ok(held)
}

/// Attaches one observer to every held session; the users' streams (but the typists')
/// are drained from now on.
async fn attach_observers(args: &Args, api: &Api, held: &mut Held) -> Result<()> {
    for (id, user) in std::mem::take(&mut held.users) {
        let mut observer = api.stream(&id).await?;
        wait_control(&mut observer, |c| {
            matches!(c, ServerControl::Welcome { .. })
        })
        .await?;
        if held.typists.len() < args.typists {
            held.typists.push(user);
        } else {
            held.drains.push(drain(user));
        }
        held.drains.push(drain(observer));
    }
    Ok(())
}

/// A reading of the relay: resident set and live heap, KiB.
#[derive(Clone, Copy)]
struct Reading {
    rss: u64,
    heap: u64,
}

impl Reading {
    /// After the relay's next return of free memory and its next heap line.
    async fn take(relay: &RelayWatched) -> Result<Reading> {
        tokio::time::sleep(vigil_alloc::GIVE_BACK_EVERY + Duration::from_secs(1)).await;
        Ok(Reading {
            rss: rss_kib(relay.0 .0.id())?,
            heap: heap_kib(relay),
        })
    }

    /// KiB per item from `before` to `self`: (RSS, heap).
    fn per(self, before: Reading, n: usize) -> (f64, f64) {
        let n = n as f64;
        (
            self.rss.saturating_sub(before.rss) as f64 / n,
            self.heap.saturating_sub(before.heap) as f64 / n,
        )
    }
}

/// Heap of this process, KiB (it runs on the same counting allocator as the relay).
fn own_heap_kib() -> f64 {
    vigil_alloc::heap_bytes() as f64 / 1024.0
}

/// What two parts of a relay session take on the heap, measured in this process with
/// the same libraries: the screen model (an 80×24 `vt100` parser with no scrollback, as
/// the hub keeps) and a russh client logged in with an idle shell (as the relay's SSH leg).
async fn parts(ssh_port: u16) -> Result<(f64, f64)> {
    const N: usize = 20;
    let before = own_heap_kib();
    let mut screens: Vec<vt100::Parser> = (0..N).map(|_| vt100::Parser::new(24, 80, 0)).collect();
    for s in &mut screens {
        s.process(b"Last login: today\r\ngwpass@host:~$ ");
    }
    let screen = (own_heap_kib() - before) / N as f64;
    drop(screens);
    let before = own_heap_kib();
    let shells =
        futures_util::future::try_join_all((0..N).map(|_| DirectShell::open(ssh_port))).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = (own_heap_kib() - before) / N as f64;
    drop(shells);
    Ok((screen, client))
}

/// Memory per idle watched session, then keystrokes with the sessions held.
async fn held(
    args: &Args,
    api: &Api,
    relay: RelayWatched,
    ssh_port: u16,
    asset: i64,
) -> Result<()> {
    let pid = relay.0 .0.id();
    let n = args.sessions;
    println!(
        "\n== relay memory per idle monitored session ({n} sessions, each with its user and \
         one observer, recorded) =="
    );
    // Each reading waits for the relay's next return of free memory to the system, so that
    // what the start-up and the benchmarks before freed is not counted as the baseline.
    let before = Reading::take(&relay).await?;
    let threads_before = threads(pid)?;
    let t = Instant::now();
    let mut held = open_users(args, api, asset).await?;
    let users = Reading::take(&relay).await?;
    attach_observers(args, api, &mut held).await?;
    let opened = t.elapsed();
    let after = Reading::take(&relay).await?;
    let (per, heap_per) = after.per(before, n);
    let (user_rss, user_heap) = users.per(before, n);
    let (obs_rss, obs_heap) = after.per(users, n);
    let (screen, client) = parts(ssh_port).await?;
    println!(
        "opened in {:.1} s; relay threads {} → {}; relay descriptors {:?}",
        opened.as_secs_f64(),
        threads_before,
        threads(pid)?,
        fd_kinds(pid)?
    );
    println!("{:<48} {:>10} {:>10}", "", "RSS KiB", "heap KiB");
    println!(
        "{:<48} {:>10} {:>10}",
        "relay with no sessions (the baseline)", before.rss, before.heap
    );
    println!(
        "{:<48} {:>10} {:>10}",
        format!("relay with {n} sessions"),
        after.rss,
        after.heap
    );
    println!(
        "{:<48} {:>10.1} {:>10.1}",
        "per idle monitored session", per, heap_per
    );
    println!(
        "{:<48} {:>10.1} {:>10.1}",
        "  of which the session with its user", user_rss, user_heap
    );
    println!(
        "{:<48} {:>10.1} {:>10.1}",
        "  of which the observer", obs_rss, obs_heap
    );
    println!(
        "{:<48} {:>10} {:>10.1}",
        "  heap parts, measured here: screen model 80×24", "", screen
    );
    println!(
        "{:<48} {:>10} {:>10.1}",
        "  heap parts, measured here: russh client + shell", "", client
    );
    rows::emit(&Row {
        measure: Measure::MemoryPerSession,
        label: format!("RSS per idle watched session, {n} held"),
        value: per,
        unit: Unit::KiB,
        baseline: Some(Baseline {
            label: "relay with no sessions (RSS)".into(),
            value: before.rss as f64,
        }),
        goal: Goal::AtMost(150.0),
    })?;

    println!(
        "\n== keystroke round trip with the {n} sessions held ({} typing, {} keys each) ==",
        args.typists, args.keys
    );
    let direct = futures_util::future::try_join_all(
        (0..args.typists).map(|_| direct_round_trips(ssh_port, args.keys)),
    )
    .await?;
    let via = futures_util::future::try_join_all(
        held.typists
            .iter_mut()
            .map(|ws| keystroke_round_trips(ws, args.keys)),
    )
    .await?;
    let direct = summary(direct.into_iter().flatten().collect());
    let via = summary(via.into_iter().flatten().collect());
    print_round_trips(direct, via);
    rows::emit(&Row {
        measure: Measure::KeystrokeP99AtLoad,
        label: format!(
            "p99 over {} keys, {n} sessions held",
            args.keys * args.typists
        ),
        value: ms(via.1),
        unit: Unit::Ms,
        baseline: Some(Baseline {
            label: "russh straight to sshd, p99".into(),
            value: ms(direct.1),
        }),
        goal: Goal::Below(5.0),
    })?;
    for d in &held.drains {
        d.abort();
    }
    held.typists.clear();
    drop(relay);
    Ok(())
}

/// The keystroke round trip's table: p50 and p99 straight to sshd and through the relay.
fn print_round_trips(direct: (Duration, Duration), via: (Duration, Duration)) {
    println!("{:<28} {:>9} {:>9}", "path", "p50 ms", "p99 ms");
    for (path, (p50, p99)) in [
        ("direct russh → sshd", direct),
        ("websocket → relay → sshd", via),
    ] {
        println!("{path:<28} {:>9.3} {:>9.3}", ms(p50), ms(p99));
    }
}

/// The relay, and its live heap as it last logged it (KiB).
type RelayWatched = (Guard, Arc<std::sync::atomic::AtomicU64>);

/// The relay's last reported live heap, KiB.
fn heap_kib(relay: &RelayWatched) -> u64 {
    relay.1.load(std::sync::atomic::Ordering::Relaxed)
}

/// The relay's threads.
fn threads(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/task"))?.count())
}

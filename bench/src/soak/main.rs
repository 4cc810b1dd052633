//! `bench-soak`: many SSH sessions with churn, for a long time, against the real relay and
//! the project's sshd; it shows that nothing accumulates.
//!
//! Each of `--sessions` slots runs sessions back to back: launch, the user's stream waits
//! for the prompt, a monitor attaches as observer, the user types a command and both see
//! its output, the session is held (a random time around `--hold` seconds, both sockets
//! drained), one session in three is locked (typing then reaches nothing) and half of
//! those unlocked again (typing works again), and the monitor terminates it. Two monitors
//! keep Active Sessions (`/live`) open throughout. Slots start spread over the first
//! minute, and stop when `--minutes` have passed.
//!
//! It prints, every minute and at the end:
//! - the relay's RSS, with the least-squares slope after `--warmup` minutes (goal: under
//!   1 MB per 10 minutes; gated only when the window after warm-up is 10 minutes or more);
//! - its open file descriptors before, at the peak and after every session has ended
//!   (a leak shows as a count that grows with the sessions churned);
//! - every ended session's recording, fetched through the API and read whole: a valid
//!   header, every line an event, the typed command's output, the lock and unlock
//!   markers where they happened, and the terminate marker last.
//!
//! Exits non-zero if any session failed, any recording is not whole, descriptors leaked,
//! or (when gated) memory grew. Usage:
//! `bench-soak [--sessions 500] [--minutes 20] [--hold 60] [--warmup 5]`.
//! The relay binary is `$VIGIL_BIN`, else `target/release/vigil`.

mod recordings;
mod slope;
mod slots;

use recordings::check_recordings;
use slope::{slope, slope_at_constant_load};
use slots::run_slot;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use vigil_bench::relay_kit::{
    add_admin, add_ssh_asset, contains, fd_count, fd_kinds, free_port, prompt_seen, rss_kib, send,
    serve_watching_heap, sync, wait_control, wait_output, Api, Sshd, Ws,
};
use vigil_wire::live::{ClientMsg, ServerControl};

const PASSWORD: &str = "soak-Password-1";
/// Slots per owner: few enough that one owner's locked session (which blocks that owner's
/// next launch, as the lock rule requires) idles only a few slots.
const SLOTS_PER_OWNER: usize = 10;
const MONITORS: usize = 2;
/// The slack allowed in the relay's descriptors after the run: the database pool's
/// connections (up to 8, each with its database and WAL file) open and close as the pool
/// pleases.
const FD_SLACK: usize = 16;
/// How long after warm-up the RSS window must be before its slope is gated.
const GATED_WINDOW_SECS: f64 = 600.0;
/// The memory goal: growth after warm-up, MB per 10 minutes.
const SLOPE_GOAL_MB: f64 = 1.0;

#[derive(Debug, Clone, Copy)]
struct Args {
    sessions: usize,
    minutes: f64,
    hold_secs: f64,
    warmup_minutes: f64,
}

fn args() -> Result<Args> {
    let mut out = Args {
        sessions: 500,
        minutes: 20.0,
        hold_secs: 60.0,
        warmup_minutes: 5.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--sessions" => out.sessions = v.parse()?,
            "--minutes" => out.minutes = v.parse()?,
            "--hold" => out.hold_secs = v.parse()?,
            "--warmup" => out.warmup_minutes = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if out.sessions == 0 || out.minutes <= 0.0 {
        bail!("--sessions and --minutes must be positive");
    }
    Ok(out)
}

/// A session that ended as planned, to be checked in its recording.
#[derive(Debug, Clone)]
struct Ended {
    id: String,
    /// What the typed command printed (not what was typed).
    printed: String,
    locked: bool,
    unlocked: bool,
}

#[derive(Default)]
struct Tally {
    opened: AtomicU64,
    ended: Mutex<Vec<Ended>>,
    failures: Mutex<Vec<String>>,
    failure_kinds: Mutex<std::collections::HashSet<String>>,
    live: AtomicUsize,
    /// Launches refused while another of the owner's sessions was locked (as they must be).
    refused_locked: AtomicU64,
}

/// A small deterministic generator per slot (xorshift64*), for hold times and choices.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Ctx {
    owners: Vec<Api>,
    monitors: Vec<Api>,
    asset: i64,
    deadline: Instant,
    hold: Duration,
    tally: Tally,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let sshd = Sshd::start(&tmp.path().join("targets"))?;
    let ok = run(args, &data, sshd.port).await?;
    drop(sshd);
    if !ok {
        bail!("soak failed");
    }
    Ok(())
}

async fn run(args: Args, data: &std::path::Path, ssh_port: u16) -> Result<bool> {
    let owners_n = args.sessions.div_ceil(SLOTS_PER_OWNER);
    for i in 0..owners_n {
        add_admin(data, &format!("soak-owner-{i}"), PASSWORD)?;
    }
    for i in 0..MONITORS {
        add_admin(data, &format!("soak-monitor-{i}"), PASSWORD)?;
    }
    add_ssh_asset(data, "soak-ssh", ssh_port)?;
    let port = free_port();
    let per_user = (SLOTS_PER_OWNER + 10).to_string();
    let in_all = (args.sessions + 50).to_string();
    let (relay, heap) = serve_watching_heap(
        data,
        port,
        &[
            ("VIGIL_MAX_SESSIONS_PER_USER", &per_user),
            ("VIGIL_MAX_LIVE_SESSIONS", &in_all),
        ],
    )?;
    let pid = relay.0.id();
    let mut owners = Vec::new();
    for i in 0..owners_n {
        owners.push(Api::login(port, &format!("soak-owner-{i}"), PASSWORD).await?);
    }
    let mut monitors = Vec::new();
    for i in 0..MONITORS {
        monitors.push(Api::login(port, &format!("soak-monitor-{i}"), PASSWORD).await?);
    }
    let asset = owners[0].asset_id().await?;
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        owners,
        monitors,
        asset,
        deadline: start + Duration::from_secs_f64(args.minutes * 60.0),
        hold: Duration::from_secs_f64(args.hold_secs),
        tally: Tally::default(),
    });

    // Active Sessions, open and read throughout.
    let feed_msgs = Arc::new(AtomicU64::new(0));
    let mut feeds = Vec::new();
    for m in &ctx.monitors {
        let mut ws = m.ws("live").await?;
        let n = feed_msgs.clone();
        feeds.push(tokio::spawn(async move {
            while let Some(Ok(_)) = ws.next().await {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_before = fd_count(pid)?;
    let kinds_before = fd_kinds(pid)?;
    let rss_before = rss_kib(pid)?;
    println!(
        "== soak: {} SSH sessions with churn for {} min (hold ~{} s, warm-up {} min) ==",
        args.sessions, args.minutes, args.hold_secs, args.warmup_minutes
    );
    println!("relay before: RSS {rss_before} KiB, {fds_before} fds");

    let ramp = Duration::from_secs_f64((args.minutes * 60.0 / 4.0).min(60.0));
    let mut slots = Vec::new();
    for slot in 0..args.sessions {
        let ctx = ctx.clone();
        let delay = ramp.mul_f64(slot as f64 / args.sessions as f64);
        slots.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            run_slot(&ctx, slot).await;
        }));
    }

    // Samples every 10 s until every slot is done.
    let warmup = args.warmup_minutes * 60.0;
    let mut samples: Vec<(f64, f64)> = Vec::new();
    // (t, live sessions, the relay's heap), KiB: what it holds, beside what is resident.
    let mut heap_samples: Vec<(f64, f64, f64)> = Vec::new();
    // (t, live sessions, rss) for the slope with the live count held constant.
    let mut load_samples: Vec<(f64, f64, f64)> = Vec::new();
    let mut fds_peak = fds_before;
    let mut next_print = 0.0;
    while !slots.iter().all(|s| s.is_finished()) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let t = start.elapsed().as_secs_f64();
        let (Ok(rss), Ok(fds)) = (rss_kib(pid), fd_count(pid)) else {
            bail!("the relay (pid {pid}) is gone");
        };
        fds_peak = fds_peak.max(fds);
        if Instant::now() < ctx.deadline {
            samples.push((t, rss as f64));
            let live = ctx.tally.live.load(Ordering::Relaxed) as f64;
            load_samples.push((t, live, rss as f64));
            heap_samples.push((t, live, heap.load(Ordering::Relaxed) as f64));
        }
        if t >= next_print {
            next_print += 60.0;
            println!(
                "t={:>5.0}s live={:>4} opened={:>6} ended={:>6} failures={} rss={} KiB heap={} KiB fds={}",
                t,
                ctx.tally.live.load(Ordering::Relaxed),
                ctx.tally.opened.load(Ordering::Relaxed),
                lock(&ctx.tally.ended).len(),
                lock(&ctx.tally.failures).len(),
                rss,
                heap.load(Ordering::Relaxed),
                fds
            );
        }
    }
    for s in slots {
        s.await?;
    }
    let ended = lock(&ctx.tally.ended).clone();
    let failures = lock(&ctx.tally.failures).clone();
    let opened = ctx.tally.opened.load(Ordering::Relaxed);
    let refused_locked = ctx.tally.refused_locked.load(Ordering::Relaxed);
    let whole = check_recordings(&ctx.monitors[0], &ended).await;
    let feeds_alive = feeds.iter().all(|f| !f.is_finished());
    // Every session has ended: the API clients go too (their kept-alive connections are
    // the relay's sockets), and the relay gets a moment to close what it holds.
    drop(ctx);
    let mut fds_after = fd_count(pid)?;
    for _ in 0..20 {
        if fds_after <= fds_before + FD_SLACK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        fds_after = fd_count(pid)?;
    }
    let rss_after = rss_kib(pid)?;
    let kinds_after = fd_kinds(pid)?;
    for f in &feeds {
        f.abort();
    }

    let after_warmup: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t >= warmup)
        .collect();
    let window = match (after_warmup.first(), after_warmup.last()) {
        (Some(a), Some(b)) => b.0 - a.0,
        _ => 0.0,
    };
    let slope_mb = slope(&after_warmup) * 600.0 / 1024.0;
    let load_after_warmup: Vec<(f64, f64, f64)> = load_samples
        .iter()
        .copied()
        .filter(|(t, _, _)| *t >= warmup)
        .collect();
    let (time_kib_s, per_session_kib) = slope_at_constant_load(&load_after_warmup);
    let second_half: Vec<(f64, f64)> = after_warmup
        .iter()
        .copied()
        .filter(|(t, _)| {
            after_warmup
                .first()
                .is_some_and(|a| *t >= a.0 + window / 2.0)
        })
        .collect();
    let second_half_mb = slope(&second_half) * 600.0 / 1024.0;
    let heap_load_after_warmup: Vec<(f64, f64, f64)> = heap_samples
        .iter()
        .copied()
        .filter(|(t, _, _)| *t >= warmup)
        .collect();
    let heap_after_warmup: Vec<(f64, f64)> = heap_load_after_warmup
        .iter()
        .map(|&(t, _, heap)| (t, heap))
        .collect();
    let heap_slope_mb = slope(&heap_after_warmup) * 600.0 / 1024.0;
    let (heap_time_kib_s, heap_per_session_kib) = slope_at_constant_load(&heap_load_after_warmup);
    let gated = window >= GATED_WINDOW_SECS;
    let locked = ended.iter().filter(|e| e.locked).count();
    let unlocked = ended.iter().filter(|e| e.unlocked).count();
    let bad: Vec<&String> = whole.iter().filter_map(|r| r.as_ref().err()).collect();

    println!();
    println!(
        "soak: {} sessions for {:.1} min: {} opened, {} ended as planned ({} locked, {} of them unlocked again), {} failures",
        args.sessions,
        start.elapsed().as_secs_f64() / 60.0,
        opened,
        ended.len(),
        locked,
        unlocked,
        failures.len()
    );
    println!(
        "soak: launches refused while another of the owner's sessions was locked (as they must be): {}",
        refused_locked
    );
    for f in failures.iter().take(10) {
        println!("  failure: {f}");
    }
    println!(
        "soak: relay RSS {} KiB before, {} KiB at the end; slope after warm-up {:+.2} MB per 10 min over {:.1} min ({})",
        rss_before,
        rss_after,
        slope_mb,
        window / 60.0,
        if gated {
            format!("goal < {SLOPE_GOAL_MB}")
        } else {
            "not gated: window under 10 min".to_string()
        }
    );
    println!(
        "soak: the same window with the live count held constant (least squares on time and live sessions): {:+.2} MB per 10 min, {per_session_kib:.0} KiB per live session; the window's second half alone: {second_half_mb:+.2} MB per 10 min",
        time_kib_s * 600.0 / 1024.0
    );
    println!(
        "soak: the relay's heap (bytes it holds, not the allocator's pages): {:.1} MB at the warm-up's end, {:.1} MB at the last sample; slope {heap_slope_mb:+.2} MB per 10 min; with the live count held constant {:+.2} MB per 10 min, {heap_per_session_kib:.0} KiB per live session",
        heap_after_warmup.first().map_or(0.0, |h| h.1 / 1024.0),
        heap_after_warmup.last().map_or(0.0, |h| h.1 / 1024.0),
        heap_time_kib_s * 600.0 / 1024.0,
    );
    println!(
        "soak: relay fds {fds_before} before, {fds_peak} at the peak, {fds_after} after every session ended"
    );
    println!("soak: relay fds by kind before {kinds_before:?}, after {kinds_after:?}");
    println!(
        "soak: recordings whole: {} of {}",
        whole.len() - bad.len(),
        whole.len()
    );
    for b in bad.iter().take(10) {
        println!("  recording: {b}");
    }
    println!(
        "soak: Active Sessions feeds open throughout: {feeds_alive} ({} messages)",
        feed_msgs.load(Ordering::Relaxed)
    );
    drop(relay);

    let mut ok = true;
    let mut fail = |why: String| {
        println!("soak: FAILED: {why}");
        ok = false;
    };
    if !failures.is_empty() {
        fail(format!("{} sessions failed", failures.len()));
    }
    if ended.is_empty() {
        fail("no session ended as planned".into());
    }
    if !bad.is_empty() {
        fail(format!("{} recordings not whole", bad.len()));
    }
    if fds_after > fds_before + FD_SLACK {
        fail(format!(
            "descriptors leaked: {fds_after} after, {fds_before} before"
        ));
    }
    if gated && slope_mb >= SLOPE_GOAL_MB {
        fail(format!(
            "RSS grew {slope_mb:.2} MB per 10 min after warm-up"
        ));
    }
    if !feeds_alive {
        fail("an Active Sessions feed closed".into());
    }
    if ok {
        println!("soak: ok");
    }
    Ok(ok)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

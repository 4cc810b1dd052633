//! `bench-desktop-cpu`: the relay's CPU per active desktop, beside a bare TCP forward of
//! the same bytes in the same run.
//!
//! One RemoteFX session on the project's xrdp, the demo desktop: its clock ticks, `top`
//! refreshes, and the user's Chromium types a word into the terminal every ~1.5 s. The
//! relay reaches xrdp through a bare TCP forward run by this program (two OS threads per
//! connection copying bytes, nothing else): the baseline is those threads' CPU
//! (`/proc/self/task/<tid>/schedstat`), carrying exactly the bytes the relay reads and
//! writes on its RDP leg. The relay's figure is its process CPU (`/proc/<pid>/stat`,
//! utime + stime) over the steady window (after a warm-up), minus the same relay's CPU
//! over an equal window just before the session, with the same Chromium logged in and
//! idle. Both are in % of one core.
//!
//! The relay's own timers (histogram sums at `/metrics`, enabled for the run) break the
//! figure down by part: decode into its screen copy, the peek before it (fragments,
//! pointer tracking), snapshots, thumbnails, recording writes and WebSocket sends, each
//! as ms per second of session (10 ms/s = 1 % of a core). What they leave is TLS, the
//! stream split, the core and tokio.
//!
//! Usage: `bench-desktop-cpu [--seconds N] [--warmup N] [--size WxH]` (defaults 60, 10,
//! 1024x768). The relay is `$VIGIL_BIN`, else `target/release/vigil`; the app is the
//! benchmark bundle. Needs root (the RDP target scripts).

mod forward;
mod sample;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use forward::{Forward, ForwardSample};
use sample::{clock_ticks, relay_sample, RelaySample, PARTS};
use vigil_bench::rows::{self, Baseline, Goal, Measure, Row, Unit};
use vigil_rdp::DesktopSize;
use vigil_testkit::targets::rdp::RdpServer;
use vigil_testkit::{secs, unique_word, Api, Browser, Relay};

/// The goal, in % of one core.
const GOAL: f64 = 0.7;

struct Args {
    seconds: u64,
    warmup: u64,
    size: DesktopSize,
}

fn args() -> Result<Args> {
    let mut out = Args {
        seconds: 60,
        warmup: 10,
        size: DesktopSize::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--seconds" => out.seconds = v.parse()?,
            "--warmup" => out.warmup = v.parse()?,
            "--size" => out.size = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(out)
}

/// Keeps the desktop busy for `how_long`: a click into the terminal and a word typed
/// every ~1.5 s (the clock and `top` tick on their own).
async fn type_for(user: &Browser, how_long: Duration) -> Result<usize> {
    let start = Instant::now();
    let mut words = 0;
    while start.elapsed() < how_long {
        user.click_desktop("desktop-canvas", 300, 200).await?;
        user.type_desktop("desktop-canvas", &format!("{}\n", unique_word("busy")))
            .await?;
        words += 1;
        let left = how_long.saturating_sub(start.elapsed());
        tokio::time::sleep(left.min(Duration::from_millis(1500))).await;
    }
    Ok(words)
}

fn percent(seconds: f64, window: Duration) -> f64 {
    seconds / window.as_secs_f64() * 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = args()?;
    vigil_bench::desktop::use_bench_bundle();
    if std::env::var_os("VIGIL_BIN").is_none() {
        let release = vigil_testkit::target_dir().join("release").join("vigil");
        std::env::set_var("VIGIL_BIN", &release);
    }
    // The relay's per-part timers are read at /metrics (loopback only).
    std::env::set_var("VIGIL_METRICS_ENABLED", "true");
    println!(
        "bench-desktop-cpu: relay {}",
        vigil_testkit::vigil_bin().display()
    );
    let relay = Relay::start_with_rdp(&["cpu"])?;
    let cast = relay.cast("cpu");
    let xrdp = &vigil_testkit::rdp_targets().xrdp;
    let forward = Forward::start(xrdp.port)?;
    let asset = format!("{}-forwarded", cast.rdp.rfx);
    let via = RdpServer {
        kind: xrdp.kind,
        port: forward.port,
        base: xrdp.base.clone(),
    };
    vigil_testkit::add_rdp_asset(&relay, "cpu", &asset, &via, &args.size.to_string())?;
    let _admin = Api::login_as(&relay, &cast.admin).await?;
    let http = reqwest::Client::new();
    let metrics_url = relay.url("/metrics");
    let pid = relay.pid();
    let hz = clock_ticks();
    let window = Duration::from_secs(args.seconds);

    let user = Browser::open(&relay, "cpu-user").await?;
    user.login(&cast.isa).await?;

    // The idle relay, over an equal window: logged in, no session.
    let idle0 = relay_sample(&http, &metrics_url, pid).await?;
    let t = Instant::now();
    tokio::time::sleep(window).await;
    let idle1 = relay_sample(&http, &metrics_url, pid).await?;
    let idle_window = t.elapsed();
    let idle_pct = percent((idle1.ticks - idle0.ticks) as f64 / hz, idle_window);

    let sid = user.connect_directly(&asset).await?;
    let shown = user.wait_desktop("desktop-canvas", secs(40.0)).await?;
    println!(
        "session {sid} on xrdp through a bare TCP forward (port {} → {}): {}x{} desktop",
        forward.port, xrdp.port, shown.width, shown.height
    );
    type_for(&user, Duration::from_secs(args.warmup)).await?;

    let r0 = relay_sample(&http, &metrics_url, pid).await?;
    let f0 = forward.sample()?;
    let t = Instant::now();
    let words = type_for(&user, window).await?;
    let r1 = relay_sample(&http, &metrics_url, pid).await?;
    let f1 = forward.sample()?;
    let active_window = t.elapsed();
    user.close().await.ok();

    report(
        &args,
        Report {
            hz,
            idle_pct,
            idle_window,
            active_window,
            words,
            r: (r0, r1),
            f: (f0, f1),
        },
    )
}

struct Report {
    hz: f64,
    idle_pct: f64,
    idle_window: Duration,
    active_window: Duration,
    words: usize,
    r: (RelaySample, RelaySample),
    f: (ForwardSample, ForwardSample),
}

fn report(args: &Args, r: Report) -> Result<()> {
    let (r0, r1) = &r.r;
    let (f0, f1) = &r.f;
    let w = r.active_window.as_secs_f64();
    let active_pct = percent((r1.ticks - r0.ticks) as f64 / r.hz, r.active_window);
    let per_desktop = active_pct - r.idle_pct;
    let forward_pct = percent(
        f1.cpu_ns.saturating_sub(f0.cpu_ns) as f64 / 1e9,
        r.active_window,
    );
    let forwarded = f1.bytes.saturating_sub(f0.bytes) as f64;
    println!();
    println!(
        "{:.1} s steady window ({} s warm-up), {} words typed, {:.1} KB/s through the forward \
         (both ways), {:.1} KB/s of RDP read by the relay",
        w,
        args.warmup,
        r.words,
        forwarded / w / 1e3,
        (r1.rdp_bytes - r0.rdp_bytes) / w / 1e3
    );
    println!();
    println!("relay CPU (% of one core)");
    println!("  with the desktop            {active_pct:>8.3} %");
    println!(
        "  idle (no session, {:.0} s)    {:>8.3} %",
        r.idle_window.as_secs_f64(),
        r.idle_pct
    );
    println!(
        "  per desktop                 {per_desktop:>8.3} %   (goal ≤ {GOAL} %: {})",
        if per_desktop <= GOAL {
            "met"
        } else {
            "NOT met"
        }
    );
    println!("  bare TCP forward (baseline) {forward_pct:>8.3} %   (the same bytes, two threads)");
    println!();
    println!("the relay's parts, by its own timers (ms per second of session; 10 ms/s = 1 %)");
    let mut timed = 0.0;
    for (i, (label, _)) in PARTS.iter().enumerate() {
        let (s0, c0) = r0.parts.get(i).copied().unwrap_or_default();
        let (s1, c1) = r1.parts.get(i).copied().unwrap_or_default();
        let ms_per_s = (s1 - s0) * 1e3 / w;
        timed += ms_per_s;
        println!(
            "  {label:<36} {ms_per_s:>8.3} ms/s  ({} samples)",
            c1.saturating_sub(c0)
        );
    }
    println!(
        "  {:<36} {:>8.3} ms/s  (TLS, stream split, core, tokio; WebSocket sends overlap it)",
        "the rest of the relay's CPU",
        per_desktop * 10.0 - timed
    );

    rows::emit(&Row {
        measure: Measure::CpuPerDesktop,
        label: format!("xrdp demo desktop, {:.0} s", w),
        value: per_desktop,
        unit: Unit::PercentCore,
        baseline: Some(Baseline {
            label: "bare TCP forward".into(),
            value: forward_pct,
        }),
        goal: Goal::AtMost(GOAL),
    })
}

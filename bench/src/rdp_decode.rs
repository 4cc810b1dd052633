//! `bench-rdp`: browser-side RDP figures, each beside a baseline from the same run.
//!
//! 1. Decode speed (`decode`): records a RemoteFX session on the project's xrdp (a ticking
//!    clock, `top` and text typed into the terminal by the user's Chromium for `--seconds`),
//!    terminates it, then opens `/bench/decode/:id` in headless Chromium (real time; no
//!    virtual time, which freezes `performance.now`) and prints its JSON: frames/s, ms per
//!    frame and the slowest single decode, all timed in the page's decode worker; and for
//!    the page's main thread, its slowest draw and its long tasks (flagged: any task above
//!    50 ms). Baseline: the relay's native decoder (`vigil_rdp::Screen`) fed the same
//!    recording's records, timed per frame.
//! 2. Late observer (`xrdp`, `shadow`): while the session is ≥ 10 s old, an administrator's
//!    Chromium opens the player `--joins` times; each join is timed on the page's own clock
//!    from the navigation's start to the first complete frame presented (the snapshot
//!    drawn, then the next animation frame), with a breakdown (page and app load, socket,
//!    relay to snapshot arrival, worker decode and draw), beside the relay-side snapshot
//!    time of the same join (its `vigil::snapshot` log line). After each join the picture
//!    must equal the user's. On xrdp (a session of its own at the size the client asks)
//!    and on freerdp-shadow (NLA; a shadow server of the bench's own, its screen at
//!    `--size`).
//!
//! Usage: `bench-rdp [--seconds N] [--joins N] [--size WxH] [--parts decode,xrdp,shadow]`
//! (defaults 20, 20, 1920x1080 and all three parts). The relay binary is `$VIGIL_BIN`,
//! else `target/release/vigil`; the app is the benchmark bundle (`cargo xtask dist
//! --bench`); chromedriver is `$CHROMEDRIVER` or `/usr/bin/chromedriver`. Needs root (the
//! RDP target scripts). Rows: `late_join_xrdp`, `late_join_shadow`, `worker_decode_speed`.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use vigil_bench::desktop::{keyframe_pdus, screen_for};
use vigil_bench::late_join::{self, Probe, SnapshotLine, Spread};
use vigil_bench::rows::{emit, Baseline, Goal, Measure, Row, Unit};
use vigil_hub::snapshot_timing::LOG_TARGET as SNAPSHOT_TARGET;
use vigil_rdp::{DesktopSize, Screen};
use vigil_testkit::targets::rdp::StartedRdp;
use vigil_testkit::vigil_wire::api::Session;
use vigil_testkit::vigil_wire::desktop::DesktopParams;
use vigil_testkit::vigil_wire::recording::{Kind, Reader};
use vigil_testkit::{compare_canvases, secs, tid, unique_word, Api, Browser, RdpServer, Relay};

/// Which parts run (`--parts`, comma-separated).
struct Parts {
    decode: bool,
    xrdp: bool,
    shadow: bool,
}

impl std::str::FromStr for Parts {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Parts> {
        let mut p = Parts {
            decode: false,
            xrdp: false,
            shadow: false,
        };
        for part in s.split(',').map(str::trim) {
            match part {
                "decode" => p.decode = true,
                "xrdp" => p.xrdp = true,
                "shadow" => p.shadow = true,
                other => bail!("unknown part {other} (decode, xrdp, shadow)"),
            }
        }
        Ok(p)
    }
}

struct Args {
    seconds: u64,
    joins: usize,
    size: DesktopSize,
    parts: Parts,
}

fn args() -> Result<Args> {
    let mut out = Args {
        seconds: 20,
        joins: 20,
        size: "1920x1080".parse()?,
        parts: "decode,xrdp,shadow".parse()?,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--seconds" => out.seconds = v.parse()?,
            "--joins" => out.joins = v.parse()?,
            "--size" => out.size = v.parse()?,
            "--parts" => out.parts = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(out)
}

/// The relay's decoder over the recording: (graphics PDUs, keyframes, total ms of graphics
/// and keyframes, slowest graphics PDU ms, width, height).
struct Native {
    pdus: u64,
    keyframes: u64,
    total_ms: f64,
    max_ms: f64,
    width: u16,
    height: u16,
}

fn native_decode(file: &[u8]) -> Result<Native> {
    let mut reader = Reader::file(file)?;
    let mut screen: Option<Screen> = None;
    let mut n = Native {
        pdus: 0,
        keyframes: 0,
        total_ms: 0.0,
        max_ms: 0.0,
        width: 0,
        height: 0,
    };
    while let Some(r) = reader.next_record()? {
        match r.kind {
            Kind::Params => {
                let p: DesktopParams = serde_json::from_slice(r.payload)?;
                n.width = p.width;
                n.height = p.height;
                screen = Some(screen_for(&p));
            }
            Kind::Keyframe => {
                let s = screen.as_mut().context("keyframe before params")?;
                let t0 = Instant::now();
                for pdu in keyframe_pdus(r.payload)? {
                    s.feed(&pdu);
                }
                n.total_ms += t0.elapsed().as_secs_f64() * 1e3;
                n.keyframes += 1;
            }
            Kind::Graphics => {
                let s = screen.as_mut().context("graphics before params")?;
                let t0 = Instant::now();
                s.feed(r.payload);
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                n.total_ms += ms;
                n.max_ms = n.max_ms.max(ms);
                n.pdus += 1;
            }
            Kind::Marker => {}
        }
    }
    if let Some(s) = &screen {
        ensure!(
            s.errors() == 0,
            "the native decoder reported {} errors",
            s.errors()
        );
    }
    Ok(n)
}

fn num(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

/// Which target a desktop session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Xrdp,
    Shadow,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Xrdp => "xrdp",
            Target::Shadow => "freerdp-shadow",
        }
    }
}

/// One late join.
struct Join {
    probe: Probe,
    relay: SnapshotLine,
    /// Bench clock: before the navigation → the probe's record seen (polled).
    wall_ms: f64,
    diff: String,
    matched: bool,
}

/// One desktop session: its joins, and what is left of it once terminated.
struct SessionRun {
    sid: String,
    joins: Vec<Join>,
    words: usize,
    recorded_s: f64,
    live_stats: Value,
}

/// One desktop session to run.
struct Plan<'a> {
    target: Target,
    asset: &'a str,
    size: DesktopSize,
    /// At least this long.
    seconds: u64,
    joins: usize,
}

/// Opens a session on the plan's asset as the user, keeps it busy, lets the observer join
/// `joins` times once it is ≥ 10 s old, runs for at least `seconds`, then terminates it.
async fn run_session(
    relay: &Relay,
    admin: &Api,
    observer: &Browser,
    plan: &Plan<'_>,
) -> Result<SessionRun> {
    let Plan {
        target,
        asset,
        size,
        seconds,
        joins: joins_wanted,
    } = *plan;
    let cast = relay.cast("bench");
    let user = Browser::open(relay, &format!("bench-user-{}", target.name())).await?;
    user.login(&cast.isa).await?;
    let sid = user.connect_directly(asset).await?;
    let started = Instant::now();
    let shown = user.wait_desktop("desktop-canvas", secs(40.0)).await?;
    println!(
        "session {sid} on {} (RemoteFX, {size}): {}x{} desktop shown after {} ms",
        target.name(),
        shown.width,
        shown.height,
        started.elapsed().as_millis()
    );
    ensure!(
        (shown.width, shown.height) == (u32::from(size.width()), u32::from(size.height())),
        "the session came up at {}x{}, not {size}",
        shown.width,
        shown.height
    );

    // Keep the desktop busy: type a word into the terminal every ~1.5 s (top and the clock
    // tick on their own), and let late observers join once the session is ≥ 10 s old.
    let mut joins = Vec::new();
    let mut words = 0usize;
    let mut log_at = std::fs::metadata(&relay.log)?.len();
    let record_for = Duration::from_secs(seconds);
    while started.elapsed() < record_for || joins.len() < joins_wanted {
        user.click_desktop("desktop-canvas", 300, 200).await?;
        user.type_desktop("desktop-canvas", &format!("{}\n", unique_word("busy")))
            .await?;
        words += 1;
        if started.elapsed() >= Duration::from_secs(10) && joins.len() < joins_wanted {
            observer.goto("/active").await?;
            let (_, at) = late_join::read_from(&relay.log, log_at)?;
            log_at = at;
            let join = join_once(relay, observer, &user, &sid, &mut log_at).await?;
            joins.push(join);
        } else {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }
    let live_stats = user.decode_stats().await?.unwrap_or(Value::Null);
    let _: Session = admin
        .post(&format!("/api/v1/sessions/{sid}/terminate"), &json!({}))
        .await?;
    let recorded_s = started.elapsed().as_secs_f64();
    user.close().await.ok();
    Ok(SessionRun {
        sid,
        joins,
        words,
        recorded_s,
        live_stats,
    })
}

/// The observer opens the player of `sid`: timed to its first complete frame, then its
/// picture compared with the user's.
async fn join_once(
    relay: &Relay,
    observer: &Browser,
    user: &Browser,
    sid: &str,
    log_at: &mut u64,
) -> Result<Join> {
    let t0 = Instant::now();
    observer.goto(&format!("/sessions/{sid}")).await?;
    let probe: Probe = loop {
        let v = observer.js(late_join::PROBE_READ_JS, vec![]).await?;
        if !v.is_null() {
            break serde_json::from_value(v).context("the join probe's record")?;
        }
        if t0.elapsed() > Duration::from_secs(15) {
            bail!("the late observer got no complete frame within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wall_ms = t0.elapsed().as_secs_f64() * 1e3;
    ensure!(
        observer
            .canvas_shot("player-canvas")
            .await?
            .is_some_and(|s| s.shows_desktop()),
        "the observer's first frame does not show the desktop"
    );
    // The relay's line for this snapshot: the payload is the message less its tag byte.
    let want = probe.snapshot_bytes.saturating_sub(1);
    let mut relay_line = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while relay_line.is_none() {
        let (text, at) = late_join::read_from(&relay.log, *log_at)?;
        *log_at = at;
        relay_line = late_join::snapshot_lines(&text, sid)
            .into_iter()
            .find(|l| l.bytes == want);
        if relay_line.is_none() {
            ensure!(
                Instant::now() < deadline,
                "no vigil::snapshot line of {want} bytes for session {sid} in the relay's log"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let relay_line = relay_line.context("the relay's snapshot line")?;
    let (diff, matched) = compare_canvases(
        (user, "desktop-canvas"),
        (observer, "player-canvas"),
        6,
        0.01,
        Duration::from_secs(5),
    )
    .await?;
    Ok(Join {
        probe,
        relay: relay_line,
        wall_ms,
        diff: diff.to_string(),
        matched,
    })
}

/// Prints one target's joins with their breakdown; emits its row.
fn report_joins(target: Target, size: DesktopSize, run: &SessionRun) -> Result<()> {
    let joins = &run.joins;
    if joins.is_empty() {
        return Ok(());
    }
    let spread = |f: &dyn Fn(&Join) -> f64| Spread::of(&joins.iter().map(f).collect::<Vec<_>>());
    let opt = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let total = spread(&|j| j.probe.first_frame_ms());
    let relay = spread(&|j| j.relay.ms());
    println!();
    println!(
        "late observer on {} at {size}, session {} (>= 10 s old, {} words typed over {:.0} s), {} joins, ms:",
        target.name(),
        run.sid,
        run.words,
        run.recorded_s,
        joins.len()
    );
    println!("  open the player → first complete frame (page clock)   {total}   <-- the figure");
    println!("  relay-side snapshot (screen's PDUs + zlib)          {relay}   <-- baseline");
    println!("  breakdown:");
    println!(
        "    navigation → DOM loaded                           {}",
        spread(&|j| opt(j.probe.dom_loaded))
    );
    println!(
        "    navigation → wasm fetched                         {}",
        spread(&|j| opt(j.probe.wasm_fetched))
    );
    println!(
        "    navigation → session socket created (app up)      {}",
        spread(&|j| opt(j.probe.ws_created))
    );
    println!(
        "    socket created → open                             {}",
        spread(&|j| opt(j.probe.ws_open).max(0.0) - opt(j.probe.ws_created))
    );
    println!(
        "    socket open → snapshot message received           {}",
        spread(&|j| j.probe.snapshot_at - opt(j.probe.ws_open))
    );
    println!(
        "      relay: screen job ending in the snapshot        {}",
        spread(&|j| j.relay.job_ms())
    );
    println!(
        "    snapshot received → drawn (worker + page)         {}",
        spread(&|j| j.probe.drawn - j.probe.snapshot_at)
    );
    println!(
        "      worker: snapshot decode                         {}",
        spread(&|j| j.probe.stats.snapshot_total_ms)
    );
    println!(
        "      page: draws so far                              {}",
        spread(&|j| j.probe.stats.draw_total_ms)
    );
    println!(
        "    drawn → presented (next animation frame)          {}",
        spread(&|j| j.probe.painted - j.probe.drawn)
    );
    println!(
        "  snapshot bytes                                      {}",
        spread(&|j| j.probe.snapshot_bytes as f64)
    );
    println!(
        "  bench clock, before navigating → frame seen (polled every 20 ms) {}",
        spread(&|j| j.wall_ms)
    );
    let mismatches = joins.iter().filter(|j| !j.matched).count();
    for (i, j) in joins.iter().enumerate() {
        println!(
            "  join {:>2}: {:>6.1} ms (relay snapshot {:>5.1} ms, {} bytes); observer vs user: {}{}",
            i + 1,
            j.probe.first_frame_ms(),
            j.relay.ms(),
            j.relay.bytes,
            if j.matched { "" } else { "NO MATCH: " },
            j.diff
        );
    }
    if mismatches > 0 {
        println!("  <-- FLAG: {mismatches} joins did not show the user's picture");
    }
    emit(&Row {
        measure: match target {
            Target::Xrdp => Measure::LateJoinXrdp,
            Target::Shadow => Measure::LateJoinShadow,
        },
        label: format!("p95 over {} joins at {size}", joins.len()),
        value: total.p95,
        unit: Unit::Ms,
        baseline: Some(Baseline {
            label: "relay-side snapshot".into(),
            value: relay.p95,
        }),
        goal: Goal::Below(400.0),
    })
}

/// Part 1: the recording of `sid` decoded natively (the baseline) and in the page's
/// worker; emits its row.
async fn decode_part(admin: &Api, observer: &Browser, run: &SessionRun) -> Result<()> {
    let sid = &run.sid;
    let file = admin
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{sid}/recording"),
            None,
        )
        .await?
        .ok()?
        .body;
    let mut best_native: Option<Native> = None;
    for _ in 0..3 {
        let n = native_decode(&file)?;
        if best_native.as_ref().is_none_or(|b| n.total_ms < b.total_ms) {
            best_native = Some(n);
        }
    }
    let native = best_native.context("no native run")?;

    let mut runs = Vec::new();
    for _ in 0..2 {
        observer.goto(&format!("/bench/decode/{sid}")).await?;
        let v = observer
            .wait_js(
                "the decode benchmark's result",
                "(() => { const e = document.querySelector(arguments[0]); return e && e.textContent.trim() ? e.textContent : null; })()",
                vec![json!(tid("decode-bench-result"))],
                secs(180.0),
            )
            .await?;
        let v: Value = serde_json::from_str(v.as_str().unwrap_or("{}"))?;
        if v.get("error").is_some() {
            bail!("the benchmark page failed: {v}");
        }
        runs.push(v);
    }
    let browser = runs
        .iter()
        .min_by(|a, b| num(a, "total_ms").total_cmp(&num(b, "total_ms")))
        .cloned()
        .context("no browser run")?;

    let frames = num(&browser, "frames").max(1.0);
    let native_per_frame = native.total_ms / frames;
    let browser_per_frame = num(&browser, "ms_per_frame");
    let max_ms = num(&browser, "max_ms");
    println!();
    println!(
        "recording: {:.1} s of a RemoteFX session on xrdp, {} bytes, {} words typed, {} graphics PDUs, {} keyframes, {} frames ({})",
        run.recorded_s,
        file.len(),
        run.words,
        native.pdus,
        native.keyframes,
        frames,
        browser.get("frame_source").and_then(Value::as_str).unwrap_or("?")
    );
    println!(
        "browser decode (headless Chromium, wasm, best of {}): {browser}",
        runs.len()
    );
    for r in &runs {
        println!(
            "  run: total {} ms, wall {} ms",
            num(r, "total_ms"),
            num(r, "wall_ms")
        );
    }
    println!();
    println!(
        "decode at {}x{}              browser (wasm)      relay native (baseline)",
        native.width, native.height
    );
    println!(
        "  ms per frame              {:>10.3}          {:>10.3}",
        browser_per_frame, native_per_frame
    );
    println!(
        "  frames per second         {:>10.1}          {:>10.1}",
        num(&browser, "frames_per_s"),
        if native_per_frame > 0.0 {
            1000.0 / native_per_frame
        } else {
            0.0
        }
    );
    println!(
        "  total decode ms           {:>10.1}          {:>10.1}",
        num(&browser, "total_ms"),
        native.total_ms
    );
    println!(
        "  slowest graphics PDU ms   {:>10.3}          {:>10.3}   (in the decode worker)",
        max_ms, native.max_ms,
    );
    println!(
        "  slowest keyframe ms       {:>10.3}                       (in the decode worker)",
        num(&browser, "keyframe_max_ms")
    );
    println!(
        "  frames/s, queue to drawn  {:>10.1}                       (worker decode + page draw, pipelined)",
        num(&browser, "wall_frames_per_s")
    );
    let long_tasks = num(&browser, "long_tasks");
    println!(
        "  page main thread: slowest draw {:.3} ms over {} draws; long tasks (> 50 ms) {} (longest {:.1} ms){}",
        num(&browser, "draw_max_ms"),
        num(&browser, "draws"),
        long_tasks,
        num(&browser, "long_task_max_ms"),
        if long_tasks > 0.0 {
            "   <-- FLAG: the page's main thread blocked above 50 ms"
        } else {
            ""
        }
    );
    println!(
        "  browser/native ratio      {:>10.2}x   (goal: within 1.5x)",
        if native_per_frame > 0.0 {
            browser_per_frame / native_per_frame
        } else {
            0.0
        }
    );
    println!("live user view decode stats: {}", run.live_stats);
    emit(&Row {
        measure: Measure::WorkerDecodeSpeed,
        label: format!("worker ms per frame at {}x{}", native.width, native.height),
        value: browser_per_frame,
        unit: Unit::Ms,
        baseline: Some(Baseline {
            label: "native IronRDP".into(),
            value: native_per_frame,
        }),
        goal: Goal::WithinTimes(1.5),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let args = args()?;
    vigil_bench::desktop::use_bench_bundle();
    if std::env::var_os("VIGIL_BIN").is_none() {
        let release = vigil_testkit::target_dir().join("release").join("vigil");
        std::env::set_var("VIGIL_BIN", &release);
    }
    // The relay logs JSON, with its snapshot timings (read back per join).
    let log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    std::env::set_var("RUST_LOG", format!("{log},{SNAPSHOT_TARGET}=debug"));
    std::env::set_var("VIGIL_LOG_FORMAT", "json");
    println!("bench-rdp: relay {}", vigil_testkit::vigil_bin().display());
    let relay = Relay::start_with_rdp(&["bench"])?;
    let cast = relay.cast("bench");
    let targets = vigil_testkit::rdp_targets();
    let size = args.size;
    let admin = Api::login_as(&relay, &cast.admin).await?;
    let observer = Browser::open(&relay, "bench-observer").await?;
    observer.login(&cast.admin).await?;
    observer
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": late_join::PROBE_JS }),
        )
        .await?;

    if args.parts.xrdp || args.parts.decode {
        let asset = if size == DesktopSize::default() {
            cast.rdp.rfx.clone()
        } else {
            let name = format!("{}-{size}", cast.rdp.rfx);
            vigil_testkit::add_rdp_asset(&relay, "bench", &name, &targets.xrdp, &size.to_string())?;
            name
        };
        let joins = if args.parts.xrdp { args.joins } else { 0 };
        let plan = Plan {
            target: Target::Xrdp,
            asset: &asset,
            size,
            seconds: args.seconds,
            joins,
        };
        let run = run_session(&relay, &admin, &observer, &plan).await?;
        report_joins(Target::Xrdp, size, &run)?;
        if args.parts.decode {
            decode_part(&admin, &observer, &run).await?;
        }
    }
    if args.parts.shadow {
        // A shadow server of the bench's own: it shares its screen, so its size is the
        // display's. Same account and password as the shared targets.
        let geometry = size.to_string();
        let shadow = StartedRdp::start_with(
            "shadow",
            &[
                ("SHADOW_GEOMETRY", geometry.as_str()),
                ("RDP_USER", targets.account.as_str()),
                ("RDP_PW", targets.password.as_str()),
            ],
        );
        let server = RdpServer {
            kind: "shadow",
            port: shadow.port,
            base: shadow.dir.clone(),
        };
        let name = format!("{}-{size}", cast.rdp.nla);
        vigil_testkit::add_rdp_asset(&relay, "bench", &name, &server, &geometry)?;
        let plan = Plan {
            target: Target::Shadow,
            asset: &name,
            size,
            seconds: args.seconds,
            joins: args.joins,
        };
        let run = run_session(&relay, &admin, &observer, &plan).await?;
        report_joins(Target::Shadow, size, &run)?;
        drop(shadow);
    }
    observer.close().await.ok();
    Ok(())
}

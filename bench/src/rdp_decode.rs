//! `bench-rdp`: browser-side RDP figures, each beside a baseline from the same run.
//!
//! 1. Decode speed: records a RemoteFX session on the project's xrdp (a ticking clock,
//!    `top` and text typed into the terminal by the user's Chromium for `--seconds`),
//!    terminates it, then opens `/bench/decode/:id` in headless Chromium (real time; no
//!    virtual time, which freezes `performance.now`) and prints its JSON: frames/s, ms per
//!    frame and the slowest single decode, all timed in the page's decode worker; and for
//!    the page's main thread, its slowest draw and its long tasks (flagged: any task above
//!    50 ms). Baseline: the relay's native decoder (`vigil_rdp::Screen`) fed the same
//!    recording's records, timed per frame.
//! 2. Late observer: while the session is ≥ 10 s old, opens the player in another Chromium
//!    and times the first complete frame (the snapshot drawn and the canvas showing the
//!    desktop), then checks that the picture equals the user's. Repeated `--joins` times.
//!
//! Desktop size: `--size WxH` (default 1024x768). Any other size is a RemoteFX asset on the
//! same xrdp added through the CLI with `--rdp-size` (xrdp gives a session the size its
//! client asks for); the bench checks that the user's canvas came up at that size.
//!
//! Usage: `bench-rdp [--seconds N] [--joins N] [--size WxH]` (defaults 20, 3 and
//! 1024x768). The relay binary is `$VIGIL_BIN`, else `target/release/vigil`; the app is
//! the benchmark bundle (`cargo xtask dist --bench`); chromedriver is `$CHROMEDRIVER` or
//! `/usr/bin/chromedriver`. Needs root (the RDP target scripts).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use vigil_bench::desktop::{keyframe_pdus, percentile, screen_for};
use vigil_rdp::{DesktopSize, Screen};
use vigil_testkit::vigil_wire::api::{Asset, Session};
use vigil_testkit::vigil_wire::desktop::DesktopParams;
use vigil_testkit::vigil_wire::recording::{Kind, Reader};
use vigil_testkit::{compare_canvases, secs, tid, unique_word, Api, Browser, Relay};

struct Args {
    seconds: u64,
    joins: usize,
    size: DesktopSize,
}

fn args() -> Result<Args> {
    let mut out = Args {
        seconds: 20,
        joins: 3,
        size: DesktopSize::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--seconds" => out.seconds = v.parse()?,
            "--joins" => out.joins = v.parse()?,
            "--size" => out.size = v.parse()?,
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

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let args = args()?;
    vigil_bench::desktop::use_bench_bundle();
    if std::env::var_os("VIGIL_BIN").is_none() {
        let release = vigil_testkit::target_dir().join("release").join("vigil");
        std::env::set_var("VIGIL_BIN", &release);
    }
    println!("bench-rdp: relay {}", vigil_testkit::vigil_bin().display());
    let relay = Relay::start_with_rdp(&["bench"])?;
    let cast = relay.cast("bench");
    vigil_testkit::rdp_targets();
    let size = args.size;
    let asset = if size == DesktopSize::default() {
        cast.rdp.rfx.clone()
    } else {
        let name = format!("{}-{size}", cast.rdp.rfx);
        let xrdp = &vigil_testkit::rdp_targets().xrdp;
        vigil_testkit::add_rdp_asset(&relay, "bench", &name, xrdp, &size.to_string())?;
        name
    };
    let admin = Api::login_as(&relay, &cast.admin).await?;
    let assets: Vec<Asset> = admin.get("/api/v1/assets").await?;
    ensure!(
        assets.iter().any(|a| a.name == asset),
        "the RemoteFX asset {asset} is missing"
    );

    // The user: the ISA in Chromium, connected directly (its browser paces the frames).
    let user = Browser::open(&relay, "bench-user").await?;
    user.login(&cast.isa).await?;
    let sid = user.connect_directly(&asset).await?;
    let started = Instant::now();
    let shown = user.wait_desktop("desktop-canvas", secs(40.0)).await?;
    println!(
        "session {sid} on xrdp (RemoteFX, asked {size}): {}x{} desktop shown after {} ms",
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
    let observer = Browser::open(&relay, "bench-observer").await?;
    observer.login(&cast.admin).await?;
    let mut joins: Vec<f64> = Vec::new();
    let mut join_diffs = Vec::new();
    let mut words = 0usize;
    let record_for = Duration::from_secs(args.seconds);
    while started.elapsed() < record_for || joins.len() < args.joins {
        user.click_desktop("desktop-canvas", 300, 200).await?;
        user.type_desktop("desktop-canvas", &format!("{}\n", unique_word("busy")))
            .await?;
        words += 1;
        if started.elapsed() >= Duration::from_secs(10) && joins.len() < args.joins {
            observer.goto("/active").await?;
            let t0 = Instant::now();
            observer.goto(&format!("/sessions/{sid}")).await?;
            loop {
                let drawn = observer
                    .decode_stats()
                    .await?
                    .and_then(|s| s.get("snapshots").and_then(Value::as_u64))
                    .unwrap_or(0)
                    > 0;
                if drawn
                    && observer
                        .canvas_shot("player-canvas")
                        .await?
                        .is_some_and(|s| s.shows_desktop())
                {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(15) {
                    bail!("the late observer got no complete frame within 15 s");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            joins.push(t0.elapsed().as_secs_f64() * 1e3);
            let (diff, matched) = compare_canvases(
                (&user, "desktop-canvas"),
                (&observer, "player-canvas"),
                6,
                0.01,
                Duration::from_secs(5),
            )
            .await?;
            join_diffs.push(format!("{}{diff}", if matched { "" } else { "NO MATCH: " }));
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

    // The recording, decoded natively (the baseline) and in the browser.
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
    observer.close().await.ok();
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
        recorded_s,
        file.len(),
        words,
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
        "  browser/native ratio      {:>10.2}x",
        if native_per_frame > 0.0 {
            browser_per_frame / native_per_frame
        } else {
            0.0
        }
    );
    println!("live user view decode stats: {live_stats}");
    println!();
    let mut sorted = joins.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "late observer (session >= 10 s old), time from opening the player to the first complete frame, {} joins: {}; median {:.0} ms, max {:.0} ms",
        joins.len(),
        joins
            .iter()
            .map(|j| format!("{j:.0} ms"))
            .collect::<Vec<_>>()
            .join(", "),
        percentile(&sorted, 0.5),
        percentile(&sorted, 1.0)
    );
    for d in &join_diffs {
        println!("  observer vs user after the first frame: {d}");
    }
    Ok(())
}

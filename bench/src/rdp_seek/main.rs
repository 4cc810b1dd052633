//! `bench-rdp-seek`: does a seek anywhere in a one-hour desktop recording paint within 1 s?
//!
//! 1. Records a RemoteFX session on the project's xrdp for `--seconds` (its clock ticks, `top`
//!    runs, and the user's Chromium types a word into the terminal every ~1.5 s) and
//!    terminates it: the short recording, the baseline.
//! 2. Opens and terminates a second session, then replaces its `.desktop` file and
//!    `.desktop.idx` sidecar with a one-hour recording synthesised from the first
//!    ([`vigil_bench::desktop::repeat_to`]: the records from the first keyframe on, repeated
//!    with shifted timestamps, so every copy starts at a keyframe). The relay takes a
//!    replay's duration, size and keyframes from these files, not from the database.
//! 3. Opens `/replay/:id` of both in two headless Chromiums (HTTP cache off) and seeks both
//!    to the same positions (fractions of their own length, a backward jump, pseudo-random
//!    ones, a 3 s step back), interleaved. Per seek one script in the page sets the
//!    `replay-seek` slider, dispatches `input`, and reads the canvas every animation frame
//!    until its RGB hash equals the picture the relay's decoder (`vigil_rdp::Screen`) makes
//!    of what the page must apply (the span from the keyframe at or before the target, its
//!    records up to the target); it returns the `performance.now()` delta. Every figure is
//!    thus also a correctness check; no match within 10 s is a FAIL.
//!
//! Prints per seek the ms to the right picture (one hour, short; beside each, the page's own
//! `seek-stats` figure when it publishes one), the span bytes fetched and the fetch time;
//! p50 and max; seeks over 1000 ms are flagged. Also: file and index sizes, and the time to
//! open each page (the index request included).
//!
//! Usage: `bench-rdp-seek [--seconds N]` (default 75). The relay binary is `$VIGIL_BIN`,
//! else `target/release/vigil`; the app is the benchmark bundle (`cargo xtask dist --bench`);
//! chromedriver is `$CHROMEDRIVER` or `/usr/bin/chromedriver`. Needs root (the RDP target
//! scripts).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use vigil_bench::desktop::{index_sidecar, percentile, picture_at, repeat_to, Picture};
use vigil_testkit::vigil_wire::api::Session;
use vigil_testkit::vigil_wire::recording::{plan_seek, scan_index, RecordingIndex, Span};
use vigil_testkit::{secs, unique_word, Api, Browser, Cast, Relay};

mod page;
mod rec;

use page::*;
use rec::*;

/// The hub's keyframe spacing (`KEYFRAME_EVERY` in hub/src/desktop/session.rs).
const KEYFRAME_EVERY_MS: u32 = 10_000;
const ONE_HOUR_MS: u32 = 3_600_000;
/// The replay slider's step: the page only takes targets on this grid.
const SLIDER_STEP_MS: u32 = 100;
const GOAL_MS: f64 = 1000.0;
const SEEK_TIMEOUT_MS: f64 = 10_000.0;
const INDEX_RUNS: usize = 5;

fn args() -> Result<u64> {
    let mut seconds = 75;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--seconds" => seconds = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(seconds)
}

/// Connects the user's Chromium to the RemoteFX asset; returns the session id once the
/// desktop shows.
async fn connect(user: &Browser, cast: &Cast) -> Result<String> {
    let sid = user.connect_directly(&cast.rdp.rfx).await?;
    user.wait_desktop("desktop-canvas", secs(40.0)).await?;
    Ok(sid)
}

/// The page-side hash of the canvas: `"<fnv1a of RGB>:<w>x<h>"`, as [`want`] formats it.
fn mmss(ms: u32) -> String {
    let s = f64::from(ms) / 1000.0;
    format!("{:02}:{:04.1}", (s / 60.0) as u32, s % 60.0)
}

fn summary(seeks: &[&Seek]) -> (f64, f64, usize) {
    let mut ms: Vec<f64> = seeks.iter().filter(|s| s.ok).map(|s| s.ms).collect();
    ms.sort_by(f64::total_cmp);
    (
        percentile(&ms, 0.5),
        percentile(&ms, 1.0),
        seeks.iter().filter(|s| !s.ok || s.ms > GOAL_MS).count(),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let seconds = args()?;
    vigil_bench::desktop::use_bench_bundle();
    if std::env::var_os("VIGIL_BIN").is_none() {
        let release = vigil_testkit::target_dir().join("release").join("vigil");
        std::env::set_var("VIGIL_BIN", &release);
    }
    println!(
        "bench-rdp-seek: relay {}",
        vigil_testkit::vigil_bin().display()
    );
    let relay = Relay::start_with_rdp(&["seek"])?;
    let cast = relay.cast("seek");
    vigil_testkit::rdp_targets();
    let admin = Api::login_as(&relay, &cast.admin).await?;

    // 1. The short recording: a real session kept busy for `seconds`.
    let user = Browser::open(&relay, "seek-user").await?;
    user.login(&cast.isa).await?;
    let short_sid = connect(&user, cast).await?;
    let started = Instant::now();
    let mut words = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        user.click_desktop("desktop-canvas", 300, 200).await?;
        user.type_desktop("desktop-canvas", &format!("{}\n", unique_word("seek")))
            .await?;
        words += 1;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let _: Session = admin
        .post(
            &format!("/api/v1/sessions/{short_sid}/terminate"),
            &json!({}),
        )
        .await?;

    // 2. The session that will hold the one-hour recording.
    let long_sid = connect(&user, cast).await?;
    let _: Session = admin
        .post(
            &format!("/api/v1/sessions/{long_sid}/terminate"),
            &json!({}),
        )
        .await?;
    user.close().await.ok();

    let short = admin
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{short_sid}/recording"),
            None,
        )
        .await?
        .ok()?
        .body;
    let t0 = Instant::now();
    let long = repeat_to(&short, ONE_HOUR_MS, KEYFRAME_EVERY_MS)?;
    let synth_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t0 = Instant::now();
    let long_idx = scan_index(&long)?;
    let scan_ms = t0.elapsed().as_secs_f64() * 1e3;
    let sidecar = index_sidecar(&long_idx)?;
    let dir = relay.data_dir.join("recordings");
    // Let the terminated session's task finish its last writes, then swap the files in
    // whole (rename), so the relay never reads a half-written one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (name, bytes) in [
        (format!("{long_sid}.desktop"), &long[..]),
        (format!("{long_sid}.desktop.idx"), sidecar.as_bytes()),
    ] {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(&name))?;
    }

    // What the relay serves for both.
    let index_of = |sid: String| {
        let admin = &admin;
        async move {
            let r = admin
                .send(
                    reqwest::Method::GET,
                    &format!("/api/v1/sessions/{sid}/recording/index"),
                    None,
                )
                .await?
                .ok()?;
            let idx: RecordingIndex = r.json()?;
            anyhow::Ok((idx, r.body.len()))
        }
    };
    let (short_idx, short_idx_json) = index_of(short_sid.clone()).await?;
    let (served_long_idx, long_idx_json) = index_of(long_sid.clone()).await?;
    ensure!(
        served_long_idx == long_idx,
        "the relay serves another index for the one-hour recording"
    );
    ensure!(
        short_idx == scan_index(&short)?,
        "the relay's index of the short recording differs from a scan"
    );
    let short_sidecar = std::fs::metadata(dir.join(format!("{short_sid}.desktop.idx")))
        .map(|m| m.len())
        .unwrap_or(0);

    let short_info = (
        short_idx.duration_ms,
        short_idx.size,
        short_idx.keyframes.len(),
    );
    let short_idx_copy = short_idx.clone();
    let mut index_times = (0.0, 0.0);
    for (sid, out) in [
        (&long_sid, &mut index_times.0),
        (&short_sid, &mut index_times.1),
    ] {
        let mut ms = Vec::new();
        for _ in 0..INDEX_RUNS {
            let t0 = Instant::now();
            index_of(sid.clone()).await?;
            ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        *out = percentile(&ms, 0.5);
    }

    // 3. Both replay pages, seeked in step.
    let mut recs = Vec::new();
    for (name, file, idx) in [("1h", long, long_idx), ("short", short, short_idx)] {
        let browser = Browser::open(&relay, &format!("seek-{name}")).await?;
        browser.login(&cast.admin).await?;
        recs.push(Rec {
            name,
            file,
            idx,
            browser,
            showing: None,
        });
    }
    let mut opened = Vec::new();
    for (rec, sid) in recs.iter_mut().zip([&long_sid, &short_sid]) {
        opened.push(rec.open(sid).await?);
    }

    let mut positions: Vec<(String, Option<f64>)> = [
        ("1%", 0.01),
        ("10%", 0.10),
        ("25%", 0.25),
        ("50%", 0.50),
        ("75%", 0.75),
        ("90%", 0.90),
        ("99.9%", 0.999),
        ("5% (back)", 0.05),
    ]
    .into_iter()
    .map(|(l, f)| (l.to_string(), Some(f)))
    .collect();
    let mut x: u64 = 0x5eed_1234;
    for _ in 0..5 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let f = (x >> 11) as f64 / (1u64 << 53) as f64;
        positions.push((format!("{:.1}% (rand)", f * 100.0), Some(f)));
    }
    // A short scrub back from the last position.
    positions.push(("-3 s".to_string(), None));

    let mut rows: Vec<(String, Seek, Seek)> = Vec::new();
    for (label, frac) in &positions {
        let mut pair = Vec::new();
        for (i, rec) in recs.iter_mut().enumerate() {
            let t = match frac {
                Some(f) => rec.target(*f),
                None => rows
                    .last()
                    .map(|r| if i == 0 { r.1.t_ms } else { r.2.t_ms })
                    .unwrap_or(0)
                    .saturating_sub(3_000),
            };
            pair.push(rec.seek(t).await?);
        }
        let short = pair.pop().unwrap_or_default();
        let long = pair.pop().unwrap_or_default();
        rows.push((label.clone(), long, short));
    }
    // Measured on a canvas that now holds a desktop.
    let hash_cost = recs[0]
        .browser
        .js(&format!("{HASH_JS}{HASH_COST_JS}"), vec![])
        .await?
        .as_f64()
        .unwrap_or(0.0);
    for rec in recs {
        rec.browser.close().await.ok();
    }

    // Figures.
    println!();
    println!(
        "short recording: {:.1} s of a RemoteFX session on xrdp ({words} words typed), {} bytes, {} keyframes; sidecar {short_sidecar} bytes, index JSON {short_idx_json} bytes",
        f64::from(short_info.0) / 1000.0,
        short_info.1,
        short_info.2,
    );
    println!(
        "synthesised 1h recording: {} ms long, {} bytes, {} keyframes; sidecar {} bytes, index JSON {} bytes (built in {synth_ms:.0} ms; a scan of it takes {scan_ms:.0} ms natively)",
        served_long_idx.duration_ms,
        served_long_idx.size,
        served_long_idx.keyframes.len(),
        sidecar.len(),
        long_idx_json
    );
    for (name, o, idx) in [
        ("1h", &opened[0], &served_long_idx),
        ("short", &opened[1], &short_idx_copy),
    ] {
        println!(
            "{name}: page open -> {} {:.0} ms after navigation (index request {:.0} ms){}",
            if o.drew {
                "first picture"
            } else {
                "first span fetched"
            },
            o.ms,
            o.index_ms,
            if o.drew {
                String::new()
            } else {
                format!(
                    "; nothing due at the first keyframe ({} ms)",
                    idx.keyframes.first().map_or(0, |k| k.t_ms)
                )
            }
        );
    }
    println!(
        "index endpoint from the bench, median of {INDEX_RUNS}: 1h {:.1} ms, short {:.1} ms (record headers only, after the checked sidecar)",
        index_times.0, index_times.1
    );
    println!("canvas check in the page: {hash_cost:.1} ms per hash (the timing granularity is one animation frame plus this)");
    println!();
    println!(
        "{:<16} {:>10} {:>11} {:>11} {:>9} | {:>10} {:>11} {:>11} {:>9} | {:>9}",
        "seek",
        "1h target",
        "1h ms (app)",
        "1h bytes",
        "fetch ms",
        "short tgt",
        "short (app)",
        "short bytes",
        "fetch ms",
        "native ms"
    );
    for (label, l, s) in &rows {
        let cell = |x: &Seek| {
            let app = x.app_ms.map(|a| format!(" ({a:.0})")).unwrap_or_default();
            if x.ok {
                format!("{:.0}{app}", x.ms)
            } else {
                format!("FAIL{app}")
            }
        };
        let bytes = |x: &Seek| format!("{}{}", x.bytes, if x.measured_bytes { "" } else { "*" });
        let flag = [l, s]
            .iter()
            .filter(|x| !x.ok || x.ms > GOAL_MS)
            .map(|x| {
                if x.ok {
                    "  <-- over 1000 ms"
                } else {
                    "  <-- FAIL"
                }
            })
            .next()
            .unwrap_or("");
        let notes: Vec<String> = [("1h", l), ("short", s)]
            .iter()
            .filter(|(_, x)| !x.note.is_empty())
            .map(|(n, x)| format!("{n}: {}", x.note))
            .collect();
        println!(
            "{:<16} {:>10} {:>11} {:>11} {:>9.0} | {:>10} {:>11} {:>11} {:>9.0} | {:>9.1}{flag}{}",
            label,
            mmss(l.t_ms),
            cell(l),
            bytes(l),
            l.fetch_ms,
            mmss(s.t_ms),
            cell(s),
            bytes(s),
            s.fetch_ms,
            l.native_ms,
            if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            }
        );
    }
    println!(
        "ms: seek dispatched -> canvas read back with the right picture; (app): the page's own seek-stats figure for that seek; bytes: range response bodies (resource timing; * = the planned span); fetch ms: request start to response end; native ms: the relay's decoder doing the 1h seek's decode"
    );
    let (lp50, lmax, lbad) = summary(&rows.iter().map(|r| &r.1).collect::<Vec<_>>());
    let (sp50, smax, sbad) = summary(&rows.iter().map(|r| &r.2).collect::<Vec<_>>());
    println!();
    println!("seek -> right picture      one hour     short (baseline)");
    println!("  p50 ms               {lp50:>10.0}     {sp50:>10.0}");
    println!("  max ms               {lmax:>10.0}     {smax:>10.0}");
    println!("  over 1000 ms or FAIL {lbad:>10}     {sbad:>10}");
    println!(
        "goal (every seek in the one-hour recording shows the right picture within 1 s): {}",
        if lbad == 0 { "MET" } else { "NOT MET" }
    );
    Ok(())
}

//! `bench-assets`: the bytes a browser downloads from Vigil, measured in headless Chromium.
//!
//! Starts the relay (`$VIGIL_BIN`, else `target/release/vigil`) on the benchmark bundle
//! (`$VIGIL_DIST_DIR`, else `<target>/dist-bench`, from `cargo xtask dist --bench`), the
//! project's sshd and (unless `--no-desktop`) its RDP targets, and sums, per step, DevTools'
//! `Network.loadingFinished.encodedDataLength` (bytes on the wire, headers included) of
//! every HTTP response. Two Chromiums, each with a fresh profile (a cold cache):
//!
//! - the SSH browser: 1. the login page until its form works (`login.html`, outside the
//!   app: its script has taken the form over);
//!   2. logging in (the API calls and the first page); 3. opening an SSH session from the
//!   Assets page until the shell prompt shows; 4. a second visit to the login page in the
//!   same profile, until the app has started (the navigation names the user);
//! - the desktop browser: the login page, logging in, then 5. opening an xrdp desktop
//!   until its first picture is on the canvas.
//!
//! "Everything an SSH session needs" (and a desktop) is counted from a cold cache: the
//! login page, logging in and the session's own step; each step is printed too. The
//! decode worker's bytes are its files' responses within the desktop step.
//!
//! Beside each figure: its goal and, as the baseline from the same run, the same responses'
//! bodies uncompressed (`Network.dataReceived.dataLength`), which is what an uncompressed,
//! uncached server sends. KB are 1000 bytes. WebSocket traffic is not counted.
//!
//! Each goal figure is also a row for `bench-all` ([`vigil_bench::rows`]).

use std::time::Instant;

use anyhow::{Context, Result};
use vigil_bench::rows::{self, Baseline, Goal, Measure, Row, Unit};
use vigil_testkit::browser::Transfer;
use vigil_testkit::{secs, tid, Browser, Relay};

/// What a figure is held to, in bytes.
#[derive(Clone, Copy)]
enum Target {
    AtMost(u64),
    /// Only the page's revalidation: at most this many bytes.
    NearZero(u64),
    None,
}

/// The responses of one step (or of several, for a cold total).
struct Figure {
    name: &'static str,
    target: Target,
    transfers: Vec<Transfer>,
    ms: u128,
}

impl Figure {
    fn wire(&self) -> u64 {
        self.transfers.iter().map(|t| t.encoded).sum()
    }

    fn raw(&self) -> u64 {
        self.transfers.iter().map(|t| t.decoded).sum()
    }

    /// The responses of `steps` together, as a cold cache needs them.
    fn total(name: &'static str, target: Target, steps: &[&Figure]) -> Figure {
        Figure {
            name,
            target,
            transfers: steps
                .iter()
                .flat_map(|s| s.transfers.iter().cloned())
                .collect(),
            ms: steps.iter().map(|s| s.ms).sum(),
        }
    }

    /// Only the responses whose path `keep` accepts.
    fn only(&self, name: &'static str, target: Target, keep: impl Fn(&str) -> bool) -> Figure {
        Figure {
            name,
            target,
            transfers: self
                .transfers
                .iter()
                .filter(|t| keep(path_of(&t.url)))
                .cloned()
                .collect(),
            ms: self.ms,
        }
    }

    /// Its row for `bench-all`, in KB, beside the same responses uncompressed.
    fn emit(&self, measure: Measure, goal_kb: f64) -> Result<()> {
        rows::emit(&Row {
            measure,
            label: self.name.to_owned(),
            value: kb_f(self.wire()),
            unit: Unit::Kb,
            baseline: Some(Baseline {
                label: "uncompressed".to_owned(),
                value: kb_f(self.raw()),
            }),
            goal: Goal::AtMost(goal_kb),
        })
    }
}

fn kb_f(bytes: u64) -> f64 {
    bytes as f64 / 1000.0
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", kb_f(bytes))
}

fn path_of(url: &str) -> &str {
    url.splitn(4, '/').nth(3).unwrap_or(url)
}

/// The files of xterm.js (script, fit addon, stylesheet).
fn is_xterm(path: &str) -> bool {
    path.starts_with("xterm.") || path.starts_with("addon-fit.")
}

/// The files of the RDP decode worker (its module script, bindings and wasm).
fn is_decode_worker(path: &str) -> bool {
    path.starts_with("decode-worker.") || path.starts_with("vigil_decode_worker")
}

fn report(f: &Figure, detail: bool) -> bool {
    let (wire, raw) = (f.wire(), f.raw());
    let (goal, ok) = match f.target {
        Target::AtMost(g) => (format!("goal ≤ {}", kb(g)), wire <= g),
        Target::NearZero(g) => (format!("goal ≈ 0 (≤ {})", kb(g)), wire <= g),
        Target::None => ("no goal".to_owned(), true),
    };
    println!(
        "bench-assets: {:<34} {:>10} on the wire ({goal}{})  baseline uncompressed {:>10}  {} responses, {} ms",
        f.name,
        kb(wire),
        if ok { "" } else { ", OVER" },
        kb(raw),
        f.transfers.len(),
        f.ms
    );
    if detail {
        for t in &f.transfers {
            println!(
                "bench-assets:     {:<48} {:>10} wire {:>10} body",
                path_of(&t.url),
                kb(t.encoded),
                kb(t.decoded)
            );
        }
    }
    ok
}

/// Says which step downloaded a file it should not have; true when none did.
fn loads_only_what_it_needs(step: &Figure, unwanted: &str, is: fn(&str) -> bool) -> bool {
    let extra: Vec<&str> = step
        .transfers
        .iter()
        .map(|t| path_of(&t.url))
        .filter(|p| is(p))
        .collect();
    if extra.is_empty() {
        println!("bench-assets: {}: no {unwanted} downloaded", step.name);
        true
    } else {
        println!(
            "bench-assets: {}: downloaded {unwanted} it does not need: {}",
            step.name,
            extra.join(", ")
        );
        false
    }
}

/// Opens a fresh browser, loads the login page and logs in as the cast's ISA.
async fn login_cold(
    relay: &Relay,
    name: &str,
    cast: &vigil_testkit::Cast,
) -> Result<(Browser, Figure, Figure)> {
    let b = Browser::open(relay, name).await?;
    let t = Instant::now();
    b.goto("/login").await?;
    b.wait_login_form(secs(30.0)).await?;
    let login = Figure {
        name: "login page",
        target: Target::AtMost(200_000),
        transfers: b.take_transfers().await?,
        ms: t.elapsed().as_millis(),
    };
    let t = Instant::now();
    b.login(&cast.isa).await?;
    let logged_in = Figure {
        name: "log in",
        target: Target::None,
        transfers: b.take_transfers().await?,
        ms: t.elapsed().as_millis(),
    };
    Ok((b, login, logged_in))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let detail = std::env::args().any(|a| a == "--detail");
    let desktop = !std::env::args().any(|a| a == "--no-desktop");
    vigil_bench::desktop::use_bench_bundle();
    if std::env::var_os("VIGIL_BIN").is_none() {
        let release = vigil_testkit::target_dir().join("release").join("vigil");
        std::env::set_var("VIGIL_BIN", &release);
    }
    println!(
        "bench-assets: relay {}, bundle {}",
        vigil_testkit::vigil_bin().display(),
        vigil_testkit::dist_dir().display()
    );
    let relay = if desktop {
        Relay::start_with_rdp(&["assets"])?
    } else {
        Relay::start(&["assets"])?
    };
    let cast = relay.cast("assets");
    let mut ok = true;

    // The SSH browser: login page, log in, SSH session, second visit.
    let (b, login, logged_in) = login_cold(&relay, "assets-ssh", cast).await?;
    let t = Instant::now();
    b.connect_directly(&cast.web).await?;
    b.wait_terminal(&tid("terminal"), "$", secs(30.0))
        .await
        .context("the SSH session's prompt")?;
    let ssh = Figure {
        name: "SSH session (step)",
        target: Target::None,
        transfers: b.take_transfers().await?,
        ms: t.elapsed().as_millis(),
    };
    let t = Instant::now();
    b.goto("/login").await?;
    // Logged in, the login page goes on to the user's start page; the app has started
    // once the navigation names the user.
    b.wait_for_testid("nav-user", secs(30.0)).await?;
    let second = Figure {
        name: "second visit",
        target: Target::NearZero(5_000),
        transfers: b.take_transfers().await?,
        ms: t.elapsed().as_millis(),
    };
    b.close().await?;
    let ssh_cold = Figure::total(
        "SSH session (cold: login+log in+SSH)",
        Target::AtMost(400_000),
        &[&login, &logged_in, &ssh],
    );
    for f in [&login, &logged_in, &ssh, &ssh_cold, &second] {
        ok &= report(f, detail);
    }
    ok &= loads_only_what_it_needs(&login, "xterm.js", is_xterm);
    ok &= loads_only_what_it_needs(&login, "decode worker", is_decode_worker);
    ok &= loads_only_what_it_needs(&ssh, "decode worker", is_decode_worker);
    login.emit(Measure::LoginBytes, 200.0)?;
    ssh_cold.emit(Measure::SshSessionBytes, 400.0)?;
    second.emit(Measure::SecondVisitBytes, 5.0)?;

    // The desktop browser: login page, log in, an xrdp desktop.
    if desktop {
        let (b, d_login, d_logged_in) = login_cold(&relay, "assets-desktop", cast).await?;
        let t = Instant::now();
        b.connect_directly(&cast.rdp.rfx).await?;
        b.wait_desktop("desktop-canvas", secs(40.0))
            .await
            .context("the desktop's first picture")?;
        let rdp = Figure {
            name: "desktop session (step)",
            target: Target::None,
            transfers: b.take_transfers().await?,
            ms: t.elapsed().as_millis(),
        };
        b.close().await?;
        let rdp_cold = Figure::total(
            "desktop session (cold: login+log in+desktop)",
            Target::AtMost(DESKTOP_GOAL),
            &[&d_login, &d_logged_in, &rdp],
        );
        let mut worker = rdp.only("decode worker", Target::AtMost(100_000), is_decode_worker);
        let mut rdp_cold = rdp_cold;
        // The worker fetches its files itself, and the page's network log holds only the
        // page's responses: then its figure is its files' brotli bodies in the bundle (the
        // encoding the relay sends to Chromium), headers excluded, added to the cold total.
        if worker.transfers.is_empty() {
            worker = Figure {
                name: "decode worker (brotli bodies in the bundle)",
                target: Target::AtMost(100_000),
                transfers: worker_files(&vigil_testkit::dist_dir())?,
                ms: 0,
            };
            rdp_cold.transfers.extend(worker.transfers.iter().cloned());
        }
        for f in [&rdp, &rdp_cold, &worker] {
            ok &= report(f, detail);
        }
        ok &= loads_only_what_it_needs(&rdp, "xterm.js", is_xterm);
        rdp_cold.emit(Measure::DesktopSessionBytes, kb_f(DESKTOP_GOAL))?;
        worker.emit(Measure::DecodeWorkerBytes, 100.0)?;
    }
    drop(relay);
    println!(
        "bench-assets: {}",
        if ok {
            "every goal met"
        } else {
            "a goal was missed"
        }
    );
    Ok(())
}

/// The decode worker's files in the bundle at `dist`, as transfers: the `.br` copy's size
/// as the bytes sent (a file without one is sent as it is), the file's size uncompressed.
fn worker_files(dist: &std::path::Path) -> Result<Vec<Transfer>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_decode_worker(&name) || name.ends_with(".br") || name.ends_with(".gz") {
            continue;
        }
        let decoded = std::fs::metadata(&path)?.len();
        let encoded =
            std::fs::metadata(dist.join(format!("{name}.br"))).map_or(decoded, |m| m.len());
        out.push(Transfer {
            url: format!("/{name}"),
            encoded,
            decoded,
        });
    }
    anyhow::ensure!(
        !out.is_empty(),
        "no decode worker files in {}",
        dist.display()
    );
    Ok(out)
}

/// The issue sets no goal for a whole desktop session; this one is the SSH session's
/// budget (400 KB) less xterm.js plus the decode worker's (100 KB): a desktop should cost
/// no more than a terminal with the worker in xterm's place.
const DESKTOP_GOAL: u64 = 400_000;

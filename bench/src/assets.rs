//! `bench-assets`: the bytes a browser downloads from Vigil, measured in headless Chromium.
//!
//! Starts the relay (`$VIGIL_BIN`, else `target/release/vigil`) on the benchmark bundle
//! (`$VIGIL_DIST_DIR`, else `<target>/dist-bench`, from `cargo xtask dist --bench`) and the
//! project's sshd, opens one Chromium with a fresh profile and sums, per step, DevTools'
//! `Network.loadingFinished.encodedDataLength` (bytes on the wire, headers included) of
//! every HTTP response:
//!
//! 1. the login page until its form works (`login.html`, outside the app: its script has
//!    taken the form over);
//! 2. logging in (the API calls and the first page);
//! 3. opening an SSH session from the Assets page until the shell prompt shows;
//! 4. a second visit to the login page in the same profile, until the app has started.
//!
//! Beside each figure: its goal (login ≤ 200 KB, SSH session ≤ 400 KB, second visit ≈ 0
//! but index.html's revalidation) and, as the baseline from the same run, the same
//! responses' bodies uncompressed (`Network.dataReceived.dataLength`), which is what an
//! uncompressed, uncached server sends. KB are 1000 bytes. WebSocket traffic is not counted.

use std::time::Instant;

use anyhow::{Context, Result};
use vigil_testkit::browser::Transfer;
use vigil_testkit::{secs, tid, Browser, Relay};

struct Step {
    name: &'static str,
    goal: Goal,
    transfers: Vec<Transfer>,
    ms: u128,
}

#[derive(Clone, Copy)]
enum Goal {
    AtMost(u64),
    /// Only the page's revalidation: at most this many bytes.
    NearZero(u64),
    None,
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn path_of(url: &str) -> &str {
    url.splitn(4, '/').nth(3).unwrap_or(url)
}

fn report(step: &Step, detail: bool) -> bool {
    let wire: u64 = step.transfers.iter().map(|t| t.encoded).sum();
    let raw: u64 = step.transfers.iter().map(|t| t.decoded).sum();
    let (goal, ok) = match step.goal {
        Goal::AtMost(g) => (format!("goal ≤ {}", kb(g)), wire <= g),
        Goal::NearZero(g) => (format!("goal ≈ 0 (≤ {})", kb(g)), wire <= g),
        Goal::None => ("no goal".to_owned(), true),
    };
    println!(
        "bench-assets: {:<22} {:>10} on the wire ({goal}{})  baseline uncompressed {:>10}  {} responses, {} ms",
        step.name,
        kb(wire),
        if ok { "" } else { ", OVER" },
        kb(raw),
        step.transfers.len(),
        step.ms
    );
    if detail {
        for t in &step.transfers {
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let detail = std::env::args().any(|a| a == "--detail");
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
    let relay = Relay::start(&["assets"])?;
    let cast = relay.cast("assets");
    let b = Browser::open(&relay, "assets").await?;
    let mut steps = Vec::new();

    let t = Instant::now();
    b.goto("/login").await?;
    b.wait_login_form(secs(30.0)).await?;
    steps.push(Step {
        name: "login page",
        goal: Goal::AtMost(200_000),
        transfers: b.take_transfers().await?,
        ms: t.elapsed().as_millis(),
    });

    let t = Instant::now();
    b.login(&cast.isa).await?;
    steps.push(Step {
        name: "log in",
        goal: Goal::None,
        transfers: b.take_transfers().await?,
        ms: t.elapsed().as_millis(),
    });

    let t = Instant::now();
    b.connect_directly(&cast.web).await?;
    b.wait_terminal(&tid("terminal"), "$", secs(30.0))
        .await
        .context("the SSH session's prompt")?;
    steps.push(Step {
        name: "SSH session",
        goal: Goal::AtMost(400_000),
        transfers: b.take_transfers().await?,
        ms: t.elapsed().as_millis(),
    });

    let t = Instant::now();
    b.goto("/login").await?;
    // Logged in, the login page goes on to the user's start page; the app has started
    // once the navigation names the user.
    b.wait_for_testid("nav-user", secs(30.0)).await?;
    steps.push(Step {
        name: "second visit",
        goal: Goal::NearZero(5_000),
        transfers: b.take_transfers().await?,
        ms: t.elapsed().as_millis(),
    });

    let mut ok = true;
    for step in &steps {
        ok &= report(step, detail);
    }
    b.close().await?;
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

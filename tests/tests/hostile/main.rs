//! Hostile targets against the real relay binary. Fake SSH and RDP servers on loopback
//! (`vigil_testkit::targets::fake_ssh`, `vigil_testkit::targets::fake_rdp`) misbehave one after the other: an
//! output flood before and after the shell is ready, garbage after the version exchange
//! or once the desktop is up, a stall mid-handshake, a disconnect mid-packet, a huge
//! desktop at connect and at reactivation, endless fast-path fragments, malformed PDUs. For each one: the hostile session
//! ends within a bound, with its error code where one exists, told to its user's stream
//! and kept as the session's end reason; the relay still answers its API; a real session
//! on the test sshd, open all along, still echoes (also while the target misbehaves); and
//! the relay's resident set (`/proc/<pid>/status`) grows by less than 50 MiB over the whole
//! run, at its sampled peak as at the end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::json;
use vigil_testkit::targets::fake_rdp::{self, Misbehaviour};
use vigil_testkit::targets::fake_ssh::{self, Handshake, Shell};
use vigil_testkit::vigil_wire::api::{Launched, Me, Session};
use vigil_testkit::vigil_wire::end::{EndReason, ErrorCode};
use vigil_testkit::vigil_wire::live::{ClientMsg, ServerControl, ServerMsg};
use vigil_testkit::{secs, step, vigil_cli, Api, Cast, Relay, WsRecorder};

/// The relay may grow by less than this over the hostile run (sampled peak and end).
const MAX_RSS_GROWTH_MIB: f64 = 50.0;
/// What the target flooding the shell set-up tries to send (the relay stops it at 1 MiB).
const SETUP_FLOOD: usize = 64 * 1024 * 1024;
/// What the target flooding a live shell sends, all of which the session takes (live
/// output is not capped: it streams through bounded queues); 8 times the set-up cap.
const LIVE_FLOOD: usize = 8 * 1024 * 1024;

mod cases;
use cases::{cases, check, expect, rdp, Case, Outcome};

fn stream_path(id: &str) -> String {
    format!("/api/v1/sessions/{id}/stream")
}

/// Launches `asset` as `api`'s user and opens their stream.
async fn launch(api: &Api, asset: &str) -> Result<(String, WsRecorder)> {
    let id = api.asset_id(asset).await?;
    let launched: Launched = api
        .post(
            "/api/v1/sessions",
            &json!({"asset_id": id, "request_id": null, "cols": 80, "rows": 24}),
        )
        .await?;
    let ws = api.ws(&stream_path(&launched.session_id), true).await?;
    Ok((launched.session_id, ws))
}

/// The user's stream still carries their typing to the target and back.
async fn still_typing(user: &WsRecorder, n: u32) -> Result<()> {
    ensure!(user.closed().is_none(), "the real session's stream closed");
    // The shell computes the marker, so the echo of the typed line cannot match it.
    user.send(ClientMsg::Input(format!("echo alive-$(({n}+100000))\r").into_bytes()).encode())?;
    user.wait_output(&format!("alive-{}", n + 100_000), secs(15.0))
        .await
        .map(|_| ())
}

/// Waits for the hostile session's stream to say `Ended`; collects what it said before.
async fn ended(ws: &WsRecorder, started: Instant, bound: Duration) -> Result<Outcome> {
    let deadline = Instant::now() + bound;
    loop {
        let msgs = ws.server_msgs();
        let reason = msgs.iter().find_map(|m| match m {
            ServerMsg::Control(ServerControl::Ended { reason }) => Some(reason.clone()),
            _ => None,
        });
        if let Some(reason) = reason {
            let error = msgs.iter().find_map(|m| match m {
                ServerMsg::Control(ServerControl::Error { code, .. }) => Some(*code),
                _ => None,
            });
            // A stream that joins a live session gets its picture, not `Connected`.
            let went_live = msgs.iter().any(|m| {
                matches!(
                    m,
                    ServerMsg::Control(
                        ServerControl::Connected | ServerControl::DesktopActivated { .. }
                    ) | ServerMsg::Output(_)
                        | ServerMsg::Graphics { .. }
                )
            });
            return Ok(Outcome {
                error,
                reason,
                went_live,
                took: started.elapsed(),
            });
        }
        if Instant::now() >= deadline {
            bail!(
                "no Ended within {bound:?} (socket closed: {:?})",
                ws.closed()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The end reason the relay keeps for session `id` (it writes it as the session ends).
async fn kept_end_reason(api: &Api, id: &str) -> Result<Option<EndReason>> {
    let deadline = Instant::now() + secs(5.0);
    loop {
        let session: Session = api.get(&format!("/api/v1/sessions/{id}")).await?;
        if session.end_reason.is_some() || Instant::now() >= deadline {
            return Ok(session.end_reason);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The relay's resident set, in MiB.
fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("the relay (pid {pid}) is gone"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok(kib / 1024.0)
}

/// The highest resident set (MiB) a sampler saw since it was last reset.
#[derive(Clone, Default)]
struct Peak(Arc<std::sync::Mutex<f64>>);

impl Peak {
    fn see(&self, mib: f64) {
        if let Ok(mut peak) = self.0.lock() {
            *peak = peak.max(mib);
        }
    }

    /// The peak so far, and start over.
    fn take(&self) -> f64 {
        self.0
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or(0.0)
    }
}

/// Samples the relay's resident set every 20 ms into `peak` until the test ends.
fn sample_peak(pid: u32, peak: Peak) {
    tokio::spawn(async move {
        while let Ok(now) = rss_mib(pid) {
            peak.see(now);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// Adds a fake target as an asset of the cast (tagged like its Linux hosts, so the
/// cast's administrator and ISA rules cover it).
fn add_asset(relay: &Relay, cast: &Cast, name: &str, protocol: &str, port: u16) -> Result<()> {
    let port = port.to_string();
    let mut args = vec![
        "asset",
        "add",
        name,
        "--protocol",
        protocol,
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--account",
        "anyone",
        "--password-env",
        "VIGIL_FAKE_PASSWORD",
        "--tag",
        &cast.linux_tag,
    ];
    if protocol == "rdp" {
        args.extend(["--rdp-codec", "remotefx"]);
    }
    vigil_cli(
        &relay.data_dir,
        &args,
        &[("VIGIL_FAKE_PASSWORD", "anything")],
    )
    .map(|_| ())
}

/// Waits until `n` desktop PDUs reached the stream while its session stays live.
async fn passed_on(api: &Api, id: &str, ws: &WsRecorder, n: usize) -> Result<()> {
    let count = || {
        ws.server_msgs()
            .iter()
            .filter(|m| matches!(m, ServerMsg::Graphics { .. }))
            .count()
    };
    let deadline = Instant::now() + secs(10.0);
    while count() < n {
        ensure!(
            Instant::now() < deadline,
            "{} of {n} PDUs reached the user",
            count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let session: Session = api.get(&format!("/api/v1/sessions/{id}")).await?;
    ensure!(
        session.ended_at.is_none(),
        "the session ended on them: {:?}",
        session.end_reason
    );
    Ok(())
}

/// Runs `cases` one after the other against a fresh relay (cast `tag`), with the cast's
/// ISA user in a real session on the test sshd all along; fails naming every case that
/// ended otherwise than expected, and if the relay grew by 50 MiB or more.
async fn run(tag: &str, cases: Vec<Case>) -> Result<()> {
    let relay = Relay::start(&[tag])?;
    let cast = relay.cast(tag);
    let pid = relay.pid();

    // The real session, echoing before anything starts.
    let isa = Api::login_as(&relay, &cast.isa).await?;
    let (_, healthy) = launch(&isa, &cast.web).await?;
    healthy
        .wait_control("Connected", secs(20.0), |c| {
            matches!(c, ServerControl::Connected)
        })
        .await?;
    still_typing(&healthy, 0).await?;

    for case in &cases {
        let name = format!("{}-{}-{}", case.protocol, case.name, cast.tag);
        add_asset(&relay, cast, &name, case.protocol, case.port)?;
    }
    // The administrator launches every hostile session (one at a time).
    let admin = Api::login_as(&relay, &cast.admin).await?;
    let before = rss_mib(pid)?;
    let peak = Peak::default();
    sample_peak(pid, peak.clone());
    let mut run_peak = before;
    let run_started = Instant::now();
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let label = format!("hostile {} {}", case.protocol, case.name);
        step(&format!("{label}: launching"));
        let asset = format!("{}-{}-{}", case.protocol, case.name, cast.tag);
        peak.see(rss_mib(pid)?);
        let started = Instant::now();
        let (id, ws) = launch(&admin, &asset)
            .await
            .with_context(|| format!("{label}: launch"))?;
        let mut tolerated = Ok(());
        if let Some(cue) = &case.cue {
            ws.wait_control("DesktopActivated", secs(20.0), |c| {
                matches!(c, ServerControl::DesktopActivated { .. })
            })
            .await
            .with_context(|| format!("{label}: the desktop"))?;
            cue.give();
            if case.expect.tolerated > 0 {
                tolerated = passed_on(&admin, &id, &ws, case.expect.tolerated).await;
                cue.give();
            }
        }
        // While the target misbehaves, the real session echoes.
        let (outcome, echo) = tokio::join!(
            ended(&ws, started, secs(45.0)),
            still_typing(&healthy, 2 * n as u32 + 1)
        );
        echo.with_context(|| format!("{label}: the real session, during"))?;
        let outcome = outcome.with_context(|| format!("{label}: the hostile session"))?;
        let end_reason = kept_end_reason(&admin, &id).await?;
        // The relay is up: its API answers, and the real session still echoes.
        let me: Me = admin
            .get("/api/v1/me")
            .await
            .with_context(|| format!("{label}: the relay's API, after"))?;
        ensure!(me.username == cast.admin.username, "`/me` answered {me:?}");
        still_typing(&healthy, 2 * n as u32 + 2)
            .await
            .with_context(|| format!("{label}: the real session, after"))?;
        let now = rss_mib(pid)?;
        let case_peak = peak.take().max(now);
        run_peak = run_peak.max(case_peak);
        let line = format!(
            "{label}: ended {} after {:.1} s, rss {:+.1} MiB (peak {:+.1} MiB)",
            outcome.shown(),
            outcome.took.as_secs_f64(),
            now - before,
            case_peak - before,
        );
        println!("{line}");
        step(&line);
        lines.push(line);
        if let Err(e) = tolerated.and_then(|()| check(case, &outcome, end_reason.as_ref())) {
            failures.push(format!("{label}: {e:#}"));
        }
        ws.close();
    }
    let peak = run_peak - before;
    let end = rss_mib(pid)? - before;
    let summary = format!(
        "hostile targets: {} sessions in {:.1} s, {} as expected; relay rss {before:.1} MiB at the start, peak {peak:+.1} MiB, end {end:+.1} MiB",
        cases.len(),
        run_started.elapsed().as_secs_f64(),
        cases.len() - failures.len()
    );
    println!("{summary}");
    step(&summary);
    if peak >= MAX_RSS_GROWTH_MIB || end >= MAX_RSS_GROWTH_MIB {
        failures.push(format!(
            "the relay grew by {peak:.1} MiB at its peak and {end:.1} MiB at the end (bound {MAX_RSS_GROWTH_MIB} MiB)"
        ));
    }
    still_typing(&healthy, 10_000).await?;
    if !failures.is_empty() {
        bail!(
            "{}\n\nper case:\n{}\n\nrelay log:\n{}",
            failures.join("\n"),
            lines.join("\n"),
            relay.log_tail(60)
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_targets_end_with_a_clear_error_while_the_relay_and_a_real_session_go_on(
) -> Result<()> {
    let live_sent = Arc::new(AtomicUsize::new(0));
    run("hostile", cases(&live_sent).await?).await?;
    let took = live_sent.load(Ordering::SeqCst);
    ensure!(
        took == LIVE_FLOOD,
        "ssh flood-live: the session took {took} of {LIVE_FLOOD} bytes"
    );
    Ok(())
}

/// Fragments of 32,000 bytes until the bound on the reassembled size (8 MiB) ends the
/// session: every copy the relay keeps of the update (its stream splitter's, its screen's and
/// the screen's decoder's) is bounded, so the relay still grows by less than 50 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_big_fragments_cost_the_relay_under_50_mib() -> Result<()> {
    let case = rdp(
        "endless-big-fragments",
        Misbehaviour::EndlessFragments { len: 32_000 },
        expect(Some(ErrorCode::TargetFlood), "fragmented update", true),
    )
    .await?;
    run("bigfrag", vec![case]).await
}

//! Hostile targets: fake SSH and RDP servers on loopback (`vigil_testkit::targets::fake_ssh`,
//! `vigil_testkit::targets::fake_rdp`) that misbehave (an output flood at shell start, garbage
//! after the banner, a stall mid-handshake, a disconnect mid-packet; an RDP server
//! answering garbage, or closing mid-PDU), each in its own session, while one healthy
//! session (a fake SSH server that echoes) keeps running. Every hostile session must end, with a reason that names what went
//! wrong, within a bound; the healthy one must still echo afterwards; and the test
//! process must not have grown by more than a bound.

mod fake_target;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fake_target::ssh_spec;
use tokio::sync::mpsc;
use vigil_hub::{
    Attachment, Hub, HubConfig, LaunchSpec, Lifecycle, RdpCodec, RdpSize, RdpTarget, Secret, Target,
};
use vigil_testkit::targets::fake_rdp::{self, Misbehaviour};
use vigil_testkit::targets::fake_ssh::{self, Handshake, Shell};
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::{ClientMsg, Participant, ServerControl, ServerMsg};

/// Generous: most hostile sessions end in milliseconds, the stalled one after the 2 s
/// connect timeout, the live flood after its 8 MiB (about 2.5 s in a debug build).
const BOUND: Duration = Duration::from_secs(20);
/// What the target flooding the shell set-up tries to send (the hub stops it at 1 MiB).
const FLOOD: usize = 64 * 1024 * 1024;
/// What the target flooding a live session sends, all of which the session takes: 8
/// times the set-up cap, and small enough for a debug build's terminal emulator and
/// recorder (a few MB/s) to finish well within [`BOUND`].
const LIVE_FLOOD: usize = 8 * 1024 * 1024;
/// The test process may grow by less than this while the hostile sessions run.
const MAX_RSS_GROWTH_MIB: f64 = 50.0;

fn rdp_spec(id: &str, port: u16) -> LaunchSpec {
    LaunchSpec {
        session_id: id.into(),
        target: Target::Rdp(RdpTarget {
            host: "127.0.0.1".into(),
            port,
            username: "anyone".into(),
            password: Secret::new("anything"),
            domain: None,
            pinned_cert: None,
            codec: RdpCodec::default(),
            size: RdpSize::default(),
            keyboard_layout: Default::default(),
        }),
        cols: 80,
        rows: 24,
        title: format!("test@{id}"),
    }
}

/// The test process's resident set, in MiB.
fn rss_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("VmRSS has no value")?
        .parse()?;
    Ok(kib / 1024.0)
}

async fn next(att: &mut Attachment) -> Result<ServerMsg> {
    tokio::time::timeout(BOUND, att.rx.recv())
        .await
        .context("no message within the bound")?
        .context("stream ended")
}

/// Reads the healthy session's stream until `needle` appears in its output.
async fn until_output(att: &mut Attachment, needle: &str) -> Result<()> {
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match next(att).await? {
            ServerMsg::Output(b) | ServerMsg::Snapshot(b) => seen.extend(b),
            ServerMsg::Control(ServerControl::Ended { reason }) => {
                bail!("the healthy session ended ({reason}) before {needle:?}")
            }
            _ => {}
        }
    }
    Ok(())
}

/// Types `word` into the healthy session and waits for its echo.
async fn echoes(att: &mut Attachment, word: &str) -> Result<()> {
    let input = att.input.clone().context("a user attachment has input")?;
    input
        .send(ClientMsg::Input(format!("{word}\r").into_bytes()))
        .await?;
    until_output(att, word).await
}

#[tokio::test]
async fn hostile_targets_end_with_a_reason_while_a_healthy_session_keeps_running() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = HubConfig::new(dir.path().join("recordings"));
    config.connect_timeout = Duration::from_secs(2);
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(config, tx);

    // The healthy session, live and echoing before anything hostile starts.
    let echo_port = fake_ssh::serve(Shell::Echo, None).await?;
    hub.launch(ssh_spec("healthy", echo_port))?;
    let mut healthy = hub.attach("healthy", Participant::User).context("attach")?;
    loop {
        match next(&mut healthy).await? {
            ServerMsg::Control(ServerControl::Connected) => break,
            ServerMsg::Control(ServerControl::Ended { reason }) => bail!("ended: {reason}"),
            _ => {}
        }
    }
    echoes(&mut healthy, "before-hostile").await?;
    let rss_before = rss_mib()?;

    // Session id, target port, and the error code its reason must carry.
    let flood_port = fake_ssh::serve(Shell::FloodBeforeReady { bytes: FLOOD }, None).await?;
    let live_sent = Arc::new(AtomicUsize::new(0));
    let live_flood = Shell::FloodLive {
        bytes: LIVE_FLOOD,
        sent: live_sent.clone(),
    };
    let live_flood_port = fake_ssh::serve(live_flood, None).await?;
    let hostile: Vec<(&str, LaunchSpec, Option<ErrorCode>)> = vec![
        (
            "ssh-flood",
            ssh_spec("ssh-flood", flood_port),
            Some(ErrorCode::TargetFlood),
        ),
        // Live before the flood: the session takes all of it, then the target closes.
        (
            "ssh-flood-live",
            ssh_spec("ssh-flood-live", live_flood_port),
            None,
        ),
        (
            "ssh-garbage",
            ssh_spec(
                "ssh-garbage",
                fake_ssh::serve_broken(Handshake::Garbage).await?,
            ),
            Some(ErrorCode::TargetError),
        ),
        (
            "ssh-stall",
            ssh_spec("ssh-stall", fake_ssh::serve_broken(Handshake::Stall).await?),
            Some(ErrorCode::TargetUnreachable),
        ),
        (
            "ssh-half-packet",
            ssh_spec(
                "ssh-half-packet",
                fake_ssh::serve_broken(Handshake::HalfPacket).await?,
            ),
            Some(ErrorCode::TargetError),
        ),
        (
            "rdp-garbage",
            rdp_spec(
                "rdp-garbage",
                fake_rdp::serve(Misbehaviour::X224Garbage).await?,
            ),
            Some(ErrorCode::TargetError),
        ),
        (
            "rdp-half-pdu",
            rdp_spec(
                "rdp-half-pdu",
                fake_rdp::serve(Misbehaviour::X224HalfPdu).await?,
            ),
            Some(ErrorCode::TargetError),
        ),
    ];
    let started = Instant::now();
    let mut expected = HashMap::new();
    for (id, spec, code) in hostile {
        hub.launch(spec)?;
        expected.insert(id.to_string(), code);
    }

    let mut ended: HashMap<String, (EndReason, Duration)> = HashMap::new();
    tokio::time::timeout(BOUND, async {
        while ended.len() < expected.len() {
            match lifecycle.recv().await {
                Some(Lifecycle::Ended { id, reason }) => {
                    if id == "healthy" {
                        bail!("the healthy session ended: {reason}");
                    }
                    ended.insert(id, (reason, started.elapsed()));
                }
                Some(_) => {}
                None => bail!("the lifecycle channel closed"),
            }
        }
        Ok(())
    })
    .await
    .with_context(|| {
        format!(
            "not every hostile session ended within {BOUND:?}; ended: {:?}; live flood sent {} bytes",
            ended_ids(&expected, &ended),
            live_sent.load(Ordering::SeqCst)
        )
    })??;

    let mut ids: Vec<&String> = ended.keys().collect();
    ids.sort();
    for id in ids {
        let (reason, after) = &ended[id];
        println!("{id}: ended after {after:.2?}: {reason}");
        assert!(!reason.message.trim().is_empty(), "{id}: empty reason");
        let code = expected[id.as_str()];
        assert_eq!(reason.code, code, "{id}: the reason {reason:?}");
        assert!(!hub.is_live(id), "{id} is still live");
    }

    assert_eq!(
        live_sent.load(Ordering::SeqCst),
        LIVE_FLOOD,
        "the live session took the whole flood"
    );

    // The healthy session is still there and still echoes.
    assert!(hub.is_live("healthy"), "the healthy session is gone");
    echoes(&mut healthy, "after-hostile").await?;

    let rss_after = rss_mib()?;
    let grew = rss_after - rss_before;
    println!(
        "hostile targets: {} sessions ended, RSS grew {grew:.1} MiB ({rss_before:.1} -> {rss_after:.1} MiB)",
        ended.len()
    );
    assert!(
        grew < MAX_RSS_GROWTH_MIB,
        "RSS grew {grew:.1} MiB (bound {MAX_RSS_GROWTH_MIB} MiB)"
    );

    hub.terminate("healthy", "test over".into())?;
    tokio::time::timeout(BOUND, hub.shutdown())
        .await
        .context("shutdown")?;
    Ok(())
}

/// For the failure message: which sessions ended and which did not.
fn ended_ids(
    expected: &HashMap<String, Option<ErrorCode>>,
    ended: &HashMap<String, (EndReason, Duration)>,
) -> String {
    let mut missing: Vec<&String> = expected
        .keys()
        .filter(|id| !ended.contains_key(*id))
        .collect();
    missing.sort();
    format!("{} of {}, missing {missing:?}", ended.len(), expected.len())
}

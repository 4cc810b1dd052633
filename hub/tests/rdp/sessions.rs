//! Whole desktop sessions through the hub: input, Lock, a late observer, the recording,
//! a pinned certificate and NLA.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{Hub, HubConfig, Lifecycle, RdpCodec};
use vigil_rdp::screen::differing_pixels;
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::Participant;
use vigil_wire::RDP_LOCK_MESSAGE;

use crate::browser::*;
use crate::rdp_support::{pump, pump_until, spec, Server, PASSWORD, XRDP_TURN};

pub(crate) async fn wait_lifecycle_end(
    rx: &mut mpsc::UnboundedReceiver<Lifecycle>,
    id: &str,
) -> Result<EndReason> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            Ok(Some(Lifecycle::Ended { id: ended, reason })) if ended == id => return Ok(reason),
            Ok(None) => bail!("lifecycle closed"),
            _ => {}
        }
    }
    bail!("no Ended for {id}")
}

pub(crate) async fn typed_within(
    server: &Server,
    word: &str,
    browsers: &mut [&mut FakeBrowser],
    limit: Duration,
) -> Result<bool> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        pump(browsers, Duration::from_millis(200)).await?;
        if server.typed().contains(word) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One whole session through the hub: join, decode, late observer, input, lock, terminate.
async fn exercise(server: &Server, label: &str, codec: RdpCodec, trim: bool) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = HubConfig::new(dir.path().join("recordings"));
    config.thumbnail_interval = Duration::from_millis(500);
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(config, tx);
    let id = format!("rdp-{label}");
    hub.launch(spec(&id, server, PASSWORD, codec))?;
    let mut user = FakeBrowser::new(hub.attach(&id, Participant::User).context("attach")?);

    let activated = pump_until(&mut [&mut user], Duration::from_secs(30), |b| {
        b[0].activations > 0 || b[0].ended.is_some()
    })
    .await?;
    ensure!(
        activated && user.ended.is_none(),
        "[{label}] no activation: {:?} {:?}",
        user.error,
        user.ended
    );
    // xrdp needs ~2 s to start the X session and its clients.
    pump(&mut [&mut user], Duration::from_secs(4)).await?;
    ensure!(
        user.snapshots >= 1 && user.graphics > 0,
        "[{label}] user got {} snapshots, {} graphics",
        user.snapshots,
        user.graphics
    );
    let first = user.rgba().to_vec();
    pump(&mut [&mut user], Duration::from_secs(2)).await?;
    let changed = differing_pixels(&first, user.rgba());
    println!(
        "[{label}] user: first messages {:?}; {} graphics; {changed} px changed over 2 s",
        user.first, user.graphics
    );
    ensure!(changed > 0, "[{label}] the user's picture did not change");

    // A late observer: activation and snapshot first, then live; equal to the user's picture.
    let attached = Instant::now();
    let mut observer = FakeBrowser::new(
        hub.attach(&id, Participant::Observer)
            .context("attach observer")?,
    );
    pump_until(
        &mut [&mut user, &mut observer],
        Duration::from_secs(5),
        |b| b[1].snapshots > 0,
    )
    .await?;
    // For a desktop, the attachment's size is the desktop's.
    let width = usize::from(observer.att.cols);
    let to_snapshot = observer.snapshot_at.map(|t| t.duration_since(attached));
    ensure!(
        observer.first.starts_with(&["activated", "snapshot"]),
        "[{label}] observer started with {:?}",
        observer.first
    );
    // Both read the same stream, each at its own pace, and a desktop that keeps changing (a
    // clock) may differ at any one instant: compare the pictures after the same frame end.
    user.frame_digests = FrameDigests::new(trim);
    observer.frame_digests = FrameDigests::new(trim);
    let deadline = Instant::now() + Duration::from_secs(10);
    let common = loop {
        pump(&mut [&mut user, &mut observer], Duration::from_millis(300)).await?;
        let common = match (&user.frame_digests, &observer.frame_digests) {
            (Some(u), Some(o)) => u.latest_common(o),
            _ => None,
        };
        if common.is_some() || Instant::now() >= deadline {
            break common;
        }
    };
    let frames = |b: &mut FakeBrowser| b.frame_digests.take().map_or(0, |d| d.digests.len());
    let (user_frames, observer_frames) = (frames(&mut user), frames(&mut observer));
    let diff = differ(observer.rgba(), user.rgba(), width, trim);
    println!("[{label}] late observer: first complete frame after {to_snapshot:?}; frame ends {user_frames} (user), {observer_frames} (observer); latest both decoded (id, user's digest, observer's): {common:?}; {diff} px differ now");
    match common {
        Some((frame_id, ours, theirs)) => ensure!(
            ours == theirs,
            "[{label}] after frame {frame_id} the observer's picture differs from the user's"
        ),
        // No frame ended in 10 s: the desktop was still, so the pictures must agree now.
        None => ensure!(
            diff == 0,
            "[{label}] the observer's picture differs from the user's by {diff} px"
        ),
    }
    let thumb = hub.thumbnail(&id);
    ensure!(
        matches!(thumb, Some(vigil_wire::live::Thumbnail::Png { .. })),
        "[{label}] no PNG thumbnail"
    );

    // Typed keys reach the target and show as keystrokes.
    let word = unique_word(&format!("{}h", &label[..1]));
    user.send(typing(&word)).await?;
    let mut arrived = typed_within(
        server,
        &word,
        &mut [&mut user, &mut observer],
        Duration::from_secs(6),
    )
    .await?;
    if !arrived {
        // The typing xterm may have come up after the first attempt.
        user.send(typing(&word)).await?;
        arrived = typed_within(
            server,
            &word,
            &mut [&mut user, &mut observer],
            Duration::from_secs(6),
        )
        .await?;
    }
    ensure!(arrived, "[{label}] typed word {word} never arrived");
    let first_letter = word[..1].to_string();
    ensure!(
        observer.keystrokes.contains(&first_letter),
        "[{label}] observer saw no keystrokes"
    );
    ensure!(
        hub.keystrokes(&id)
            .is_some_and(|k| k.len() >= 2 * (word.len() + 1)),
        "[{label}] keystroke log incomplete"
    );

    // Locked: nothing arrives. Unlocked: it does again.
    hub.lock(&id)?;
    pump(&mut [&mut user, &mut observer], Duration::from_millis(300)).await?;
    ensure!(
        user.locked.as_deref() == Some(RDP_LOCK_MESSAGE),
        "[{label}] user not told about the lock"
    );
    let blocked = unique_word(&format!("{}l", &label[..1]));
    user.send(typing(&blocked)).await?;
    let leaked = typed_within(
        server,
        &blocked,
        &mut [&mut user, &mut observer],
        Duration::from_secs(3),
    )
    .await?;
    ensure!(!leaked, "[{label}] locked input {blocked} arrived");
    hub.unlock(&id)?;
    let again = unique_word(&format!("{}u", &label[..1]));
    user.send(typing(&again)).await?;
    ensure!(
        typed_within(
            server,
            &again,
            &mut [&mut user, &mut observer],
            Duration::from_secs(6)
        )
        .await?,
        "[{label}] input after unlock never arrived"
    );
    println!("[{label}] typed {word}, blocked {blocked} while locked, typed {again} after unlock");

    // Terminate: Ended to all, a recording that reads to its end with a keyframe.
    hub.terminate(&id, "terminated by test".into())?;
    pump_until(
        &mut [&mut user, &mut observer],
        Duration::from_secs(5),
        |b| b.iter().all(|b| b.ended.is_some()),
    )
    .await?;
    ensure!(
        user.ended.is_some() && observer.ended.is_some(),
        "[{label}] Ended missing"
    );
    let reason = wait_lifecycle_end(&mut lifecycle, &id).await?;
    ensure!(
        reason == EndReason::plain("terminated by test"),
        "[{label}] end reason {reason}"
    );
    let path = hub.desktop_recording_path(&id);
    let data = std::fs::read(&path)?;
    let mut reader = vigil_wire::recording::Reader::file(&data)?;
    let mut counts = [0usize; 5];
    while let Some(r) = reader.next_record()? {
        counts[r.kind as usize] += 1;
    }
    ensure!(
        reader.consumed() == data.len(),
        "[{label}] recording has a torn tail"
    );
    let index = vigil_hub::desktop_index(&path)?;
    println!(
        "[{label}] recording: {} bytes, {} params, {} graphics, {} keyframes, {} markers; index {} keyframes, {} ms",
        data.len(), counts[1], counts[2], counts[3], counts[4], index.keyframes.len(), index.duration_ms
    );
    ensure!(
        !index.keyframes.is_empty() && counts[2] > 0,
        "[{label}] recording incomplete"
    );
    ensure!(index.size == data.len() as u64, "[{label}] index size");
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xrdp_remotefx_session_through_the_hub() -> Result<()> {
    let _turn = XRDP_TURN.lock().await;
    let server = Server::start("xrdp");
    exercise(&server, "xrdp-rfx", RdpCodec::RemoteFx, false).await
}

/// The lifecycle events of `id` up to its `Connected` or `Ended`, whichever comes first.
async fn lifecycle_of(
    rx: &mut mpsc::UnboundedReceiver<Lifecycle>,
    id: &str,
) -> Result<Vec<Lifecycle>> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Ok(event) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await else {
            continue;
        };
        let event = event.context("lifecycle closed")?;
        let (of, last) = match &event {
            Lifecycle::Connected { id } | Lifecycle::Ended { id, .. } => (id.clone(), true),
            Lifecycle::HostKeyLearned { id, .. } | Lifecycle::HostKeyRefused { id, .. } => {
                (id.clone(), false)
            }
            Lifecycle::Locked { id } | Lifecycle::Unlocked { id } => (id.clone(), false),
        };
        if of == id {
            events.push(event);
            if last {
                return Ok(events);
            }
        }
    }
    bail!("no Connected or Ended for {id}: {events:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_certificate_pin_is_enforced_and_the_offered_one_reported() -> Result<()> {
    let _turn = XRDP_TURN.lock().await;
    let server = Server::start("xrdp");
    let dir = tempfile::tempdir()?;
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(HubConfig::new(dir.path().to_path_buf()), tx);
    let pinned = |id: &str, pin: &str| {
        let mut s = spec(id, &server, PASSWORD, RdpCodec::RemoteFx);
        if let vigil_hub::Target::Rdp(t) = &mut s.target {
            t.pinned_cert = Some(pin.to_string());
        }
        s
    };
    let wrong = format!("sha256:{}", "ab".repeat(32));
    hub.launch(pinned("rdp-pin1", &wrong))?;
    let events = lifecycle_of(&mut lifecycle, "rdp-pin1").await?;
    let offered = match events.as_slice() {
        [Lifecycle::HostKeyRefused { offered, .. }, Lifecycle::Ended { reason, .. }] => {
            ensure!(reason.code == Some(ErrorCode::CertChanged), "{reason}");
            offered.clone()
        }
        other => bail!("expected HostKeyRefused then Ended, got {other:?}"),
    };
    ensure!(
        offered.starts_with("sha256:") && offered.len() == 7 + 64 && offered != wrong,
        "{offered}"
    );
    // Pinned by what it offered: connects, learning nothing.
    hub.launch(pinned("rdp-pin2", &offered))?;
    let events = lifecycle_of(&mut lifecycle, "rdp-pin2").await?;
    ensure!(
        events
            == [Lifecycle::Connected {
                id: "rdp-pin2".into()
            }],
        "{events:?}"
    );
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_nla_session_through_the_hub_and_a_refused_password() -> Result<()> {
    let server = Server::start("shadow");
    exercise(&server, "shadow-rfx", RdpCodec::RemoteFx, true).await?;

    // A wrong password: auth_failed to the user, then Ended, with the code in the reason.
    let dir = tempfile::tempdir()?;
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(HubConfig::new(dir.path().to_path_buf()), tx);
    hub.launch(spec(
        "rdp-badpw",
        &server,
        "wrong-password",
        RdpCodec::RemoteFx,
    ))?;
    let mut user = FakeBrowser::new(
        hub.attach("rdp-badpw", Participant::User)
            .context("attach")?,
    );
    pump_until(&mut [&mut user], Duration::from_secs(30), |b| {
        b[0].ended.is_some()
    })
    .await?;
    let (code, message) = user.error.clone().context("no error shown")?;
    println!("[shadow] wrong password: {code}: {message}");
    ensure!(code == ErrorCode::AuthFailed, "code {code}");
    ensure!(user.ended.is_some(), "no Ended after the error");
    let reason = wait_lifecycle_end(&mut lifecycle, "rdp-badpw").await?;
    ensure!(
        reason.code == Some(ErrorCode::AuthFailed),
        "reason {reason}"
    );
    Ok(())
}

//! Desktop sessions through the hub against real RDP servers started by
//! `scripts/targets/start-xrdp.sh` (TLS, RemoteFX) and `start-shadow.sh` (NLA): what the
//! user and a late observer receive decodes to the relay's picture, input and Lock reach
//! (or do not reach) the target, and the recording reads to its end; a session asked for
//! 1920×1080 comes up at that size; a relay SIGKILLed mid-session leaves a recording that
//! plays up to the kill.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{Attachment, Hub, HubConfig, Lifecycle, RdpCodec, RdpSize};
use vigil_rdp::screen::differing_pixels;
use vigil_rdp::{Screen, SessionParams};
use vigil_wire::desktop::{DesktopParams, InputEvent};
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::recording::{Kind, Reader};
use vigil_wire::RDP_LOCK_MESSAGE;

mod rdp_support;
use rdp_support::{
    pump, pump_until, snapshot_pdus, spec, spec_at, Pumped, Server, PASSWORD, XRDP_TURN,
};

/// A fresh decoder for activation values, as a browser builds one.
fn screen_for(params: &DesktopParams) -> Screen {
    Screen::new(&SessionParams {
        io_channel_id: params.io_channel_id,
        user_channel_id: params.user_channel_id,
        share_id: params.share_id,
        width: params.width,
        height: params.height,
        input_flags: 0,
    })
}

/// Pixels that are not black (a fresh decoder's picture is all black).
fn lit(rgba: &[u8]) -> usize {
    rgba.chunks_exact(4)
        .filter(|p| p[..3].iter().any(|&c| c != 0))
        .count()
}

/// A browser: decodes what it receives, reports frames when it is the user.
struct FakeBrowser {
    att: Attachment,
    screen: Option<Screen>,
    activations: usize,
    /// The size of every `DesktopActivated`, in order.
    sizes: Vec<(u16, u16)>,
    snapshots: usize,
    graphics: usize,
    /// (first message kinds) for the order check.
    first: Vec<&'static str>,
    keystrokes: Vec<String>,
    locked: Option<String>,
    ended: Option<EndReason>,
    error: Option<(ErrorCode, String)>,
    snapshot_at: Option<Instant>,
    /// While set, a digest of the picture after each frame end, by frame id (the last 256).
    frame_digests: Option<FrameDigests>,
}

/// Pictures compared by frame: after the same frame end, the user and an observer have
/// decoded the same updates, whatever each one's pace.
struct FrameDigests {
    trim: bool,
    digests: std::collections::VecDeque<(u32, u64)>,
}

impl FrameDigests {
    fn new(trim: bool) -> Option<Self> {
        Some(FrameDigests {
            trim,
            digests: std::collections::VecDeque::new(),
        })
    }

    fn record(&mut self, frame_id: u32, rgba: &[u8], width: usize) {
        if self.digests.len() == 256 {
            self.digests.pop_front();
        }
        self.digests
            .push_back((frame_id, digest(rgba, width, self.trim)));
    }

    /// The latest frame both logs hold, with each one's digest.
    fn latest_common(&self, other: &FrameDigests) -> Option<(u32, u64, u64)> {
        self.digests.iter().rev().find_map(|&(id, ours)| {
            other
                .digests
                .iter()
                .rev()
                .find(|&&(theirs_id, _)| theirs_id == id)
                .map(|&(_, theirs)| (id, ours, theirs))
        })
    }
}

/// FNV-1a over the picture, without the last row and column when `trim` (cheap in a debug
/// build, unlike SipHash).
fn digest(rgba: &[u8], width: usize, trim: bool) -> u64 {
    let stride = width * 4;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    if !trim || stride == 0 {
        eat(rgba);
    } else {
        for row in rgba.chunks_exact(stride).take(rgba.len() / stride - 1) {
            eat(&row[..stride - 4]);
        }
    }
    h
}

impl Pumped for FakeBrowser {
    fn attachment(&mut self) -> &mut Attachment {
        &mut self.att
    }

    async fn handle(&mut self, msg: ServerMsg) -> Result<()> {
        FakeBrowser::handle(self, msg).await
    }
}

impl FakeBrowser {
    fn new(att: Attachment) -> FakeBrowser {
        FakeBrowser {
            att,
            screen: None,
            activations: 0,
            sizes: Vec::new(),
            snapshots: 0,
            graphics: 0,
            first: Vec::new(),
            keystrokes: Vec::new(),
            locked: None,
            ended: None,
            error: None,
            snapshot_at: None,
            frame_digests: None,
        }
    }

    async fn handle(&mut self, msg: ServerMsg) -> Result<()> {
        let kind = match &msg {
            ServerMsg::Graphics { .. } => "graphics",
            ServerMsg::DesktopSnapshot(_) => "snapshot",
            ServerMsg::Control(ServerControl::DesktopActivated { .. }) => "activated",
            ServerMsg::Control(_) => "control",
            _ => "other",
        };
        if self.first.len() < 8 {
            self.first.push(kind);
        }
        match msg {
            ServerMsg::Control(ServerControl::DesktopActivated { params }) => {
                self.activations += 1;
                self.sizes.push((params.width, params.height));
                self.screen = Some(screen_for(&params));
            }
            ServerMsg::DesktopSnapshot(z) => {
                self.snapshots += 1;
                let screen = self.screen.as_mut().context("snapshot before activation")?;
                for pdu in snapshot_pdus(&z)? {
                    screen.feed(&pdu);
                }
                self.snapshot_at.get_or_insert_with(Instant::now);
            }
            ServerMsg::Graphics { frame_end, pdu } => {
                self.graphics += 1;
                let screen = self.screen.as_mut().context("graphics before activation")?;
                screen.feed(&pdu);
                // The width from the activation: a user attached before it has no size.
                let width = self.sizes.last().map_or(0, |&(w, _)| usize::from(w));
                if let (Some(frame_id), Some(log)) = (frame_end, self.frame_digests.as_mut()) {
                    log.record(frame_id, screen.rgba(), width);
                }
                if let (Some(frame_id), Some(input)) = (frame_end, &self.att.input) {
                    let _ = input
                        .send(ClientMsg::Control(ClientControl::FrameDecoded { frame_id }))
                        .await;
                }
            }
            ServerMsg::Control(ServerControl::Keystroke { keystroke }) => {
                self.keystrokes.push(keystroke.key)
            }
            ServerMsg::Control(ServerControl::Locked { message }) => self.locked = Some(message),
            ServerMsg::Control(ServerControl::Unlocked) => self.locked = None,
            ServerMsg::Control(ServerControl::Ended { reason }) => self.ended = Some(reason),
            ServerMsg::Control(ServerControl::Error { code, message }) => {
                self.error = Some((code, message))
            }
            _ => {}
        }
        Ok(())
    }

    fn rgba(&self) -> &[u8] {
        self.screen.as_ref().map_or(&[], |s| s.rgba())
    }

    async fn send(&self, events: Vec<InputEvent>) -> Result<()> {
        let input = self.att.input.as_ref().context("not the user")?;
        input
            .send(ClientMsg::Control(ClientControl::Input { events }))
            .await?;
        Ok(())
    }
}

fn scancode(c: char) -> Option<u8> {
    let row = |s: &str, base: u8| {
        s.find(c)
            .and_then(|i| u8::try_from(i).ok())
            .map(|i| base + i)
    };
    row("qwertyuiop", 0x10)
        .or_else(|| row("asdfghjkl", 0x1e))
        .or_else(|| row("zxcvbnm", 0x2c))
}

fn typing(word: &str) -> Vec<InputEvent> {
    let mut events = vec![InputEvent::MouseMove { x: 300, y: 200 }];
    for (text, sc) in word
        .chars()
        .filter_map(|c| scancode(c).map(|s| (c.to_string(), s)))
        .chain([("Enter".to_string(), 0x1c)])
    {
        for down in [true, false] {
            events.push(InputEvent::Key {
                scancode: sc,
                extended: false,
                down,
                key_text: Some(text.clone()),
            });
        }
    }
    events
}

fn unique_word(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tail: String = format!("{n:09}")
        .chars()
        .map(|d| (b'a' + (d as u8 - b'0')) as char)
        .collect();
    format!("{prefix}{tail}")
}

/// Pixels that differ, ignoring the last row and column when `trim` (freerdp-shadow never
/// repaints them).
fn differ(a: &[u8], b: &[u8], width: usize, trim: bool) -> usize {
    if !trim || width == 0 {
        return differing_pixels(a, b);
    }
    let stride = width * 4;
    let rows = a.len() / stride;
    (0..rows.saturating_sub(1))
        .map(|y| {
            let r = y * stride..(y + 1) * stride - 4;
            differing_pixels(&a[r.clone()], &b[r])
        })
        .sum()
}

async fn wait_lifecycle_end(rx: &mut mpsc::Receiver<Lifecycle>, id: &str) -> Result<EndReason> {
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

async fn typed_within(
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
    let (tx, mut lifecycle) = mpsc::channel(64);
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
async fn lifecycle_of(rx: &mut mpsc::Receiver<Lifecycle>, id: &str) -> Result<Vec<Lifecycle>> {
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
    let (tx, mut lifecycle) = mpsc::channel(64);
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
    let (tx, mut lifecycle) = mpsc::channel(64);
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

/// The `Params` records of a desktop recording, as (t_ms, width, height).
fn recorded_params(data: &[u8]) -> Result<Vec<(u32, u16, u16)>> {
    let mut reader = Reader::file(data)?;
    let mut out = Vec::new();
    while let Some(r) = reader.next_record()? {
        if r.kind == Kind::Params {
            let p: DesktopParams = serde_json::from_slice(r.payload)?;
            out.push((r.t_ms, p.width, p.height));
        }
    }
    Ok(out)
}

/// A session asked for `size` on the server at `port` comes up at `expect`: the user's
/// `DesktopActivated`, the decoded picture (not blank), a joiner's attachment and the
/// recording's `Params` all say so.
async fn sized_session(port: u16, label: &str, size: RdpSize, expect: (u16, u16)) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (tx, mut lifecycle) = mpsc::channel(64);
    let hub = Hub::new(HubConfig::new(dir.path().to_path_buf()), tx);
    let id = format!("rdp-size-{label}");
    let started = Instant::now();
    hub.launch(spec_at(&id, port, PASSWORD, RdpCodec::RemoteFx, size))?;
    let mut user = FakeBrowser::new(hub.attach(&id, Participant::User).context("attach")?);
    let area = usize::from(expect.0) * usize::from(expect.1);
    // The desktop's background covers the screen once the session's X clients are up.
    let shown = pump_until(&mut [&mut user], Duration::from_secs(30), |b| {
        b[0].ended.is_some() || lit(b[0].rgba()) > area / 2
    })
    .await?;
    ensure!(
        shown && user.ended.is_none(),
        "[{label}] no desktop: {:?} {:?}; activations {:?}, {} lit pixels",
        user.error,
        user.ended,
        user.sizes,
        lit(user.rgba())
    );
    let screen = user.screen.as_ref().context("no screen")?;
    println!(
        "[{label}] asked {size}: activations {:?}, picture {}x{} with {} lit pixels after {} ms",
        user.sizes,
        screen.width(),
        screen.height(),
        lit(user.rgba()),
        started.elapsed().as_millis()
    );
    ensure!(
        user.sizes.last() == Some(&expect),
        "[{label}] activated at {:?}, not {expect:?}",
        user.sizes
    );
    ensure!(
        (screen.width(), screen.height()) == expect && screen.errors() == 0,
        "[{label}] the user's decoder is {}x{} with {} errors",
        screen.width(),
        screen.height(),
        screen.errors()
    );
    let observer = hub
        .attach(&id, Participant::Observer)
        .context("attach observer")?;
    ensure!(
        (observer.cols, observer.rows) == expect,
        "[{label}] a joiner is told {}x{}",
        observer.cols,
        observer.rows
    );
    drop(observer);
    hub.terminate(&id, "size checked".into())?;
    wait_lifecycle_end(&mut lifecycle, &id).await?;
    let data = std::fs::read(hub.desktop_recording_path(&id))?;
    let params = recorded_params(&data)?;
    ensure!(
        params.last().map(|p| (p.1, p.2)) == Some(expect),
        "[{label}] the recording's Params: {params:?}"
    );
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xrdp_session_at_1920x1080() -> Result<()> {
    let _turn = XRDP_TURN.lock().await;
    let server = Server::start("xrdp");
    let size = RdpSize::new(1920, 1080)?;
    sized_session(server.port, "xrdp-1080p", size, (1920, 1080)).await
}

/// freerdp-shadow shares its own screen: asked 1920×1080 on a 1920×1080 display it gives
/// that, and asked the default size it still gives its own (the server's answer wins).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_session_at_1920x1080() -> Result<()> {
    let server = Server::start_with("shadow", &[("SHADOW_GEOMETRY", "1920x1080")]);
    let size = RdpSize::new(1920, 1080)?;
    sized_session(server.port, "shadow-1080p", size, (1920, 1080)).await?;
    sized_session(
        server.port,
        "shadow-asked-default",
        RdpSize::default(),
        (1920, 1080),
    )
    .await
}

const KILL_DIR_ENV: &str = "VIGIL_HUB_RDP_SIGKILL_DIR";
const KILL_PORT_ENV: &str = "VIGIL_HUB_RDP_SIGKILL_PORT";
const KILL_ID: &str = "rdpkill1";

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Run only as the child of `sigkill_mid_rdp_session_leaves_a_recording_that_plays_to_the_kill`:
/// records an xrdp session with a user who decodes and acknowledges, writes `ready` (holding
/// the wall-clock time of the launch, in ms) once the recording holds a keyframe and a few
/// seconds of graphics, then keeps the session going until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of sigkill_mid_rdp_session_leaves_a_recording_that_plays_to_the_kill"]
async fn rdp_sigkill_child() -> Result<()> {
    let (Ok(dir), Ok(port)) = (std::env::var(KILL_DIR_ENV), std::env::var(KILL_PORT_ENV)) else {
        return Ok(());
    };
    let dir = PathBuf::from(dir);
    let (tx, mut lifecycle) = mpsc::channel(64);
    tokio::spawn(async move { while lifecycle.recv().await.is_some() {} });
    let hub = Hub::new(HubConfig::new(dir.clone()), tx);
    let launched = SystemTime::now();
    hub.launch(spec_at(
        KILL_ID,
        port.parse()?,
        PASSWORD,
        RdpCodec::RemoteFx,
        RdpSize::default(),
    ))?;
    let mut user = FakeBrowser::new(hub.attach(KILL_ID, Participant::User).context("attach")?);
    let path = hub.desktop_recording_path(KILL_ID);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut typed = false;
    loop {
        pump(&mut [&mut user], Duration::from_millis(250)).await?;
        ensure!(user.ended.is_none(), "the session ended: {:?}", user.ended);
        ensure!(Instant::now() < deadline, "no recording worth killing");
        if user.activations == 0 {
            continue;
        }
        if !typed {
            // Keys, so that the keystroke log has something to survive the kill with.
            user.send(typing("kill")).await?;
            typed = true;
        }
        let data = std::fs::read(&path)?;
        let index = vigil_wire::recording::scan_index(&data)?;
        let mut reader = Reader::file(&data)?;
        let mut graphics = Vec::new();
        while let Some(r) = reader.next_record()? {
            if r.kind == Kind::Graphics {
                graphics.push(r.t_ms);
            }
        }
        let span = graphics
            .last()
            .zip(graphics.first())
            .map_or(0, |(l, f)| l - f);
        if !index.keyframes.is_empty() && graphics.len() >= 10 && span >= 3000 {
            break;
        }
    }
    let tmp = dir.join("ready.tmp");
    std::fs::write(&tmp, epoch_ms(launched).to_string())?;
    std::fs::rename(&tmp, dir.join("ready"))?;
    // Until the kill (bounded, so an orphan does not run on), typing a key every 250 ms so
    // the terminal's echo keeps graphics coming between the clock's ticks.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        user.send(typing("k")).await?;
        pump(&mut [&mut user], Duration::from_millis(250)).await?;
    }
    bail!("the parent never killed this process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_rdp_session_leaves_a_recording_that_plays_to_the_kill() -> Result<()> {
    let _turn = XRDP_TURN.lock().await;
    let server = Server::start("xrdp");
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "rdp_sigkill_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_DIR_ENV, dir.path())
        .env(KILL_PORT_ENV, server.port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let ready = dir.path().join("ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the child session never got going");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let launched: u64 = std::fs::read_to_string(&ready)?.trim().parse()?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed = epoch_ms(SystemTime::now());
    child.kill()?; // SIGKILL
    child.wait()?;
    let alive_ms = killed.saturating_sub(launched);
    check_killed_recording(dir.path(), alive_ms)
}

/// What a SIGKILLed relay leaves must play up to the kill: whole records up to a possibly
/// torn tail, the last one stamped within 1.5 s of the kill, keyframes found by a scan
/// whatever the index file says, and a picture decoded from the last keyframe to the end.
fn check_killed_recording(dir: &Path, alive_ms: u64) -> Result<()> {
    let path = dir.join(format!("{KILL_ID}.desktop"));
    let data = std::fs::read(&path)?;
    let mut reader = Reader::file(&data)?;
    let (mut records, mut last_t) = (0usize, 0u32);
    while let Some(r) = reader.next_record()? {
        records += 1;
        last_t = r.t_ms;
    }
    let torn = data.len() - reader.consumed();
    println!(
        "[sigkill] {} bytes, {records} whole records, torn tail {torn} bytes; last record at {last_t} ms, process alive {alive_ms} ms",
        data.len()
    );
    // A torn tail can only be the start of one record.
    if torn >= vigil_wire::recording::HEADER_LEN {
        let tail = &data[reader.consumed()..];
        let len = u32::from_be_bytes([tail[5], tail[6], tail[7], tail[8]]) as usize;
        ensure!(
            torn < vigil_wire::recording::HEADER_LEN + len,
            "{torn} bytes after the last whole record"
        );
    }
    ensure!(
        u64::from(last_t) <= alive_ms && alive_ms - u64::from(last_t) <= 1500,
        "the last record is at {last_t} ms, the process lived {alive_ms} ms"
    );

    // The index: the scan finds every keyframe the sidecar lists (written after both records),
    // and the relay's reader falls back to the scan when the sidecar is short or missing.
    let scanned = vigil_wire::recording::scan_index(&data)?;
    ensure!(!scanned.keyframes.is_empty(), "no keyframe recorded");
    ensure!(scanned.size == reader.consumed() as u64, "index size");
    let idx_path = dir.join(format!("{KILL_ID}.desktop.idx"));
    let sidecar = std::fs::read_to_string(&idx_path).unwrap_or_default();
    for line in sidecar.lines() {
        let entry: vigil_wire::recording::IndexEntry = serde_json::from_str(line)?;
        ensure!(
            scanned.keyframes.contains(&entry),
            "the sidecar lists {entry:?}, which the scan does not find"
        );
    }
    std::fs::write(&idx_path, &sidecar[..sidecar.len() / 2])?;
    ensure!(
        vigil_hub::desktop_index(&path)? == scanned,
        "index from a short sidecar"
    );
    std::fs::remove_file(&idx_path)?;
    ensure!(
        vigil_hub::desktop_index(&path)? == scanned,
        "index without a sidecar"
    );

    // Replay from the last keyframe, as a seek does: Params, Keyframe, then the graphics.
    let last = scanned.keyframes.last().context("keyframe")?;
    let start = usize::try_from(last.offset)?;
    let mut reader = Reader::at(&data[start..], last.offset);
    let mut screen: Option<Screen> = None;
    let mut graphics = 0usize;
    while let Some(r) = reader.next_record()? {
        match r.kind {
            Kind::Params => screen = Some(screen_for(&serde_json::from_slice(r.payload)?)),
            Kind::Keyframe => {
                let s = screen.as_mut().context("keyframe before params")?;
                for pdu in snapshot_pdus(r.payload)? {
                    s.feed(&pdu);
                }
            }
            Kind::Graphics => {
                screen
                    .as_mut()
                    .context("graphics before params")?
                    .feed(r.payload);
                graphics += 1;
            }
            Kind::Marker => {}
        }
    }
    let screen = screen.context("nothing after the keyframe")?;
    let area = usize::from(screen.width()) * usize::from(screen.height());
    let shown = lit(screen.rgba());
    println!(
        "[sigkill] {} keyframes (last at {} ms); replay from it: {graphics} graphics PDUs, {shown} of {area} pixels lit, {} decode errors",
        scanned.keyframes.len(),
        last.t_ms,
        screen.errors()
    );
    ensure!(
        shown > area / 2 && screen.errors() == 0,
        "the replayed picture is blank or broken"
    );
    let keys = vigil_hub::read_keystrokes(&dir.join(format!("{KILL_ID}.keys.jsonl")))?;
    ensure!(!keys.is_empty(), "the keystroke log is empty");
    Ok(())
}

//! Desktop sessions through the hub against real RDP servers started by
//! `scripts/targets/start-xrdp.sh` (TLS, RemoteFX) and `start-shadow.sh` (NLA): what the
//! user and a late observer receive decodes to the relay's picture, input and Lock reach
//! (or do not reach) the target, and the recording reads to its end.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{
    Attachment, Hub, HubConfig, LaunchSpec, Lifecycle, RdpCodec, RdpTarget, Secret, Target,
};
use vigil_rdp::screen::differing_pixels;
use vigil_rdp::{Screen, SessionParams};
use vigil_wire::desktop::InputEvent;
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::RDP_LOCK_MESSAGE;

const USER: &str = "gwrdp";
const PASSWORD: &str = "gwrdp-Secret1";

struct Server {
    kind: &'static str,
    port: u16,
    dir: PathBuf,
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/targets")
}

impl Server {
    fn start(kind: &'static str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!("vigil-hub-rdp-{}-{kind}", std::process::id()));
        let port_var = if kind == "xrdp" {
            "XRDP_PORT"
        } else {
            "SHADOW_PORT"
        };
        let out = Command::new(scripts().join(format!("start-{kind}.sh")))
            .env("VIGIL_TARGETS_DIR", &dir)
            .env(port_var, port.to_string())
            .output()
            .expect("run the start script");
        assert!(
            out.status.success(),
            "start-{kind}.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Server { kind, port, dir }
    }

    fn typed(&self) -> String {
        std::fs::read_to_string(self.dir.join(self.kind).join("typed.txt")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(scripts().join(format!("stop-{}.sh", self.kind)))
            .env("VIGIL_TARGETS_DIR", &self.dir)
            .output();
    }
}

fn spec(id: &str, server: &Server, password: &str, codec: RdpCodec) -> LaunchSpec {
    LaunchSpec {
        session_id: id.into(),
        target: Target::Rdp(RdpTarget {
            host: "127.0.0.1".into(),
            port: server.port,
            username: USER.into(),
            password: Secret::new(password),
            domain: None,
            pinned_cert: None,
            codec,
        }),
        cols: 80,
        rows: 24,
        title: format!("test@{id}"),
    }
}

/// The fast-path PDUs of a `DesktopSnapshot` payload.
fn snapshot_pdus(z: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(z).read_to_end(&mut raw)?;
    let mut pdus = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        ensure!(rest.len() >= 2, "truncated snapshot");
        let len = if rest[1] & 0x80 != 0 {
            ensure!(rest.len() >= 3, "truncated snapshot");
            (usize::from(rest[1] & 0x7f) << 8) | usize::from(rest[2])
        } else {
            usize::from(rest[1])
        };
        ensure!(len > 0 && len <= rest.len(), "bad PDU length in snapshot");
        pdus.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    Ok(pdus)
}

/// A browser: decodes what it receives, reports frames when it is the user.
struct Browser {
    att: Attachment,
    screen: Option<Screen>,
    activations: usize,
    snapshots: usize,
    graphics: usize,
    /// (first message kinds) for the order check.
    first: Vec<&'static str>,
    keystrokes: Vec<String>,
    locked: Option<String>,
    ended: Option<String>,
    error: Option<(String, String)>,
    snapshot_at: Option<Instant>,
}

impl Browser {
    fn new(att: Attachment) -> Browser {
        Browser {
            att,
            screen: None,
            activations: 0,
            snapshots: 0,
            graphics: 0,
            first: Vec::new(),
            keystrokes: Vec::new(),
            locked: None,
            ended: None,
            error: None,
            snapshot_at: None,
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
                self.screen = Some(Screen::new(&SessionParams {
                    io_channel_id: params.io_channel_id,
                    user_channel_id: params.user_channel_id,
                    share_id: params.share_id,
                    width: params.width,
                    height: params.height,
                    input_flags: 0,
                }));
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

/// Pumps every browser for `dur` (or until all streams ended).
async fn pump(browsers: &mut [&mut Browser], dur: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + dur;
    loop {
        let mut any = false;
        for b in browsers.iter_mut() {
            while let Ok(msg) = b.att.rx.try_recv() {
                b.handle(msg).await?;
                any = true;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(());
        }
        if !any {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Pumps until `cond` holds.
async fn pump_until(
    browsers: &mut [&mut Browser],
    limit: Duration,
    cond: impl Fn(&[&mut Browser]) -> bool,
) -> Result<bool> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        pump(browsers, Duration::from_millis(50)).await?;
        if cond(browsers) {
            return Ok(true);
        }
    }
    Ok(false)
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

async fn wait_lifecycle_end(rx: &mut mpsc::Receiver<Lifecycle>, id: &str) -> Result<String> {
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
    browsers: &mut [&mut Browser],
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
    let mut user = Browser::new(hub.attach(&id, Participant::User).context("attach")?);

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
    let mut observer = Browser::new(
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
    pump(&mut [&mut user, &mut observer], Duration::from_millis(1500)).await?;
    let diff = differ(observer.rgba(), user.rgba(), width, trim);
    println!("[{label}] late observer: first complete frame after {to_snapshot:?}; {diff} px differ from the user after settling");
    ensure!(
        diff == 0,
        "[{label}] the observer's picture differs from the user's by {diff} px"
    );
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
        reason == "terminated by test",
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
    let server = Server::start("xrdp");
    exercise(&server, "xrdp-rfx", RdpCodec::RemoteFx, false).await
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
    let mut user = Browser::new(
        hub.attach("rdp-badpw", Participant::User)
            .context("attach")?,
    );
    pump_until(&mut [&mut user], Duration::from_secs(30), |b| {
        b[0].ended.is_some()
    })
    .await?;
    let (code, message) = user.error.clone().context("no error shown")?;
    println!("[shadow] wrong password: {code}: {message}");
    ensure!(code == "auth_failed", "code {code}");
    ensure!(user.ended.is_some(), "no Ended after the error");
    let reason = wait_lifecycle_end(&mut lifecycle, "rdp-badpw").await?;
    ensure!(reason.starts_with("auth_failed: "), "reason {reason}");
    Ok(())
}

//! A relay SIGKILLed mid-session leaves a desktop recording that plays up to the kill.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{Hub, HubConfig, RdpCodec, RdpSize};
use vigil_rdp::Screen;
use vigil_wire::live::Participant;
use vigil_wire::recording::{Kind, Reader};

use crate::browser::*;
use crate::rdp_support::{pump, snapshot_pdus, spec_at, Server, PASSWORD, XRDP_TURN};

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
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
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
            "kill::rdp_sigkill_child",
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

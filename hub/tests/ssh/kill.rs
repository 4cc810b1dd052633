//! A relay SIGKILLed mid-recording leaves a cast that parses, and its keystroke log.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;
use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{Hub, HubConfig};
use vigil_wire::live::{Participant, ServerControl};

const CHILD_DIR_ENV: &str = "VIGIL_HUB_SIGKILL_DIR";

/// Run only as the child of `sigkill_mid_recording_leaves_a_parseable_cast`.
#[tokio::test]
#[ignore = "child process of sigkill_mid_recording_leaves_a_parseable_cast"]
async fn sigkill_child() -> Result<()> {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return Ok(());
    };
    let t = target().context("sshd")?;
    let (tx, _lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(HubConfig::new(PathBuf::from(&dir)), tx);
    hub.launch(spec("kill1", t, password(t), t.port, None))?;
    let mut user = hub.attach("kill1", Participant::User).context("attach")?;
    until_control(&mut user, |c| *c == ServerControl::Connected).await?;
    type_line(&user, "while :; do echo tick-$RANDOM-é€; sleep 0.005; done").await?;
    until_output(&mut user, "tick-").await?;
    std::fs::write(Path::new(&dir).join("ready"), b"")?;
    loop {
        // Keep reading so that the user's queue never matters; wait for the kill.
        next(&mut user).await?;
    }
}

#[tokio::test]
async fn sigkill_mid_recording_leaves_a_parseable_cast() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "kill::sigkill_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir.path())
        .env(PORT_ENV, t.port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let ready = dir.path().join("ready");
    let deadline = Instant::now() + WAIT;
    while !ready.exists() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!("the child session never got going");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    child.kill()?; // SIGKILL
    child.wait()?;

    let (header, events) = parse_cast(&dir.path().join("kill1.cast"))?;
    assert_eq!(header["version"], 2);
    let ticks = events
        .iter()
        .filter(|e| e.1 == "o" && e.2.contains("-é€"))
        .count();
    assert!(ticks > 10, "only {ticks} output events recorded");
    let keys = vigil_hub::read_keystrokes(&dir.path().join("kill1.keys.jsonl"))?;
    assert!(keys.len() > 10);
    Ok(())
}

//! Input that reaches the relay while a session is locked never acts, even when the
//! session is unlocked before the session's task gets to it: the input waited in the
//! queue across the lock (found by the soak, `bench/src/soak.rs`).

mod fake_target;

use std::time::Duration;

use fake_target::ssh_spec;

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{Hub, HubConfig};
use vigil_testkit::targets::fake_ssh::{self, Shell};
use vigil_wire::live::{ClientMsg, Participant, ServerControl, ServerMsg};

const BOUND: Duration = Duration::from_secs(10);

/// Reads the user's stream until its output contains `needle`; the output seen.
async fn output_until(rx: &mut mpsc::Receiver<ServerMsg>, needle: &str) -> Result<String> {
    let mut seen = String::new();
    while !seen.contains(needle) {
        match tokio::time::timeout(BOUND, rx.recv())
            .await?
            .context("stream ended")?
        {
            ServerMsg::Output(b) | ServerMsg::Snapshot(b) => {
                seen.push_str(&String::from_utf8_lossy(&b))
            }
            ServerMsg::Control(ServerControl::Ended { reason }) => bail!("ended: {reason}"),
            _ => {}
        }
    }
    Ok(seen)
}

// One thread: the session's task cannot run between the test's lock, send and unlock,
// so the typed input is still queued when the unlock lands.
#[tokio::test(flavor = "current_thread")]
async fn input_received_while_locked_is_dropped_even_after_an_unlock() -> Result<()> {
    let port = fake_ssh::serve(Shell::Echo, None).await?;
    let dir = tempfile::tempdir()?;
    let (tx, _lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(HubConfig::new(dir.path().join("recordings")), tx);
    hub.launch(ssh_spec("race1", port))?;
    let mut user = hub.attach("race1", Participant::User).context("attach")?;
    let input = user.input.clone().context("a user attachment has input")?;
    input.send(ClientMsg::Input(b"before ".to_vec())).await?;
    output_until(&mut user.rx, "before ").await?;

    hub.lock("race1")?;
    input
        .send(ClientMsg::Input(b"typed-while-locked ".to_vec()))
        .await?;
    hub.unlock("race1")?;
    input
        .send(ClientMsg::Input(b"after-unlock".to_vec()))
        .await?;

    let seen = output_until(&mut user.rx, "after-unlock").await?;
    assert!(
        !seen.contains("typed-while-locked"),
        "input received while locked reached the target: {seen:?}"
    );
    let logged: Vec<String> = hub
        .keystrokes("race1")
        .unwrap_or_default()
        .into_iter()
        .map(|k| k.key)
        .collect();
    assert!(
        !logged.concat().contains("typed-while-locked"),
        "input received while locked was logged as a keystroke"
    );
    hub.terminate("race1", "done".into())?;
    Ok(())
}

//! The hub against a fake SSH target (`vigil_testkit::targets::fake_ssh`) that accepts the
//! login, the PTY and the shell, but never opens its channel window: every write to it
//! blocks forever. Terminate must still end the session promptly.

mod fake_target;

use std::time::Duration;

use fake_target::ssh_spec;

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{Hub, HubConfig, Lifecycle};
use vigil_testkit::targets::fake_ssh::{self, Shell};
use vigil_wire::end::EndReason;
use vigil_wire::live::{ClientMsg, Participant, ServerControl, ServerMsg};

/// Generous: a session that ends at all ends in milliseconds.
const BOUND: Duration = Duration::from_secs(10);

async fn next(rx: &mut mpsc::Receiver<ServerMsg>) -> Result<ServerMsg> {
    tokio::time::timeout(BOUND, rx.recv())
        .await?
        .context("stream ended")
}

#[tokio::test]
async fn terminate_lands_while_a_paste_is_stuck_on_a_target_that_never_reads() -> Result<()> {
    // The target never grants the client any room to send.
    let port = fake_ssh::serve(Shell::Silent, Some(0)).await?;
    let dir = tempfile::tempdir()?;
    let mut config = HubConfig::new(dir.path().join("recordings"));
    config.connect_timeout = Duration::from_secs(5);
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(config, tx);
    hub.launch(ssh_spec("stall1", port))?;
    let mut user = hub.attach("stall1", Participant::User).context("attach")?;
    loop {
        match next(&mut user.rx).await? {
            ServerMsg::Control(ServerControl::Connected) => break,
            ServerMsg::Control(ServerControl::Ended { reason }) => bail!("ended: {reason}"),
            _ => {}
        }
    }
    let input = user.input.clone().context("a user attachment has input")?;
    input.send(ClientMsg::Input(vec![b'p'; 1 << 20])).await?;
    // The first chunk is released (and logged), then its write blocks on the window.
    let released = tokio::time::timeout(BOUND, async {
        loop {
            let n = hub.keystrokes("stall1").map_or(0, |k| k.len());
            if n > 0 {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = hub.keystrokes("stall1").map_or(0, |k| k.len());
    assert_eq!(
        still, released,
        "nothing more is released while the write is stuck"
    );
    assert!(
        released <= 4096,
        "only one small chunk is logged: {released}"
    );

    hub.terminate("stall1", "admin terminated".into())?;
    let ended = tokio::time::timeout(BOUND, async {
        while let Some(event) = lifecycle.recv().await {
            if let Lifecycle::Ended { reason, .. } = event {
                return Some(reason);
            }
        }
        None
    })
    .await
    .context("the session did not end within the bound")?;
    assert_eq!(ended, Some(EndReason::plain("admin terminated")));
    assert!(!hub.is_live("stall1"));
    tokio::time::timeout(BOUND, hub.shutdown())
        .await
        .context("shutdown")?;
    Ok(())
}

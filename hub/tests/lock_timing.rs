//! Each lock is timed from its request, once per figure: the gate closed, the first of the
//! user's input dropped after it, the `Locked` notice written to the user's socket (which
//! the relay's socket task reports; here the test plays it).

mod fake_target;

use std::time::{Duration, Instant};

use fake_target::ssh_spec;

use anyhow::{bail, Context, Result};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::sync::mpsc;
use vigil_hub::metrics::{LOCK_APPLY_SECONDS, LOCK_FIRST_DROP_SECONDS, LOCK_NOTICE_SECONDS};
use vigil_hub::{Hub, HubConfig};
use vigil_testkit::targets::fake_ssh::{self, Shell};
use vigil_wire::live::{ClientMsg, Participant, ServerControl, ServerMsg};

const BOUND: Duration = Duration::from_secs(10);

/// Reads the user's stream until `pred` holds for a message.
async fn until(
    rx: &mut mpsc::Receiver<ServerMsg>,
    pred: impl Fn(&ServerMsg) -> bool,
) -> Result<()> {
    let mut seen = String::new();
    loop {
        let msg = tokio::time::timeout(BOUND, rx.recv())
            .await?
            .context("stream ended")?;
        if let ServerMsg::Output(b) = &msg {
            seen.push_str(&String::from_utf8_lossy(b));
        }
        if pred(&msg) {
            return Ok(());
        }
        if let ServerMsg::Control(ServerControl::Ended { reason }) = msg {
            bail!("ended: {reason} after {seen:?}");
        }
    }
}

fn echoed(needle: &'static str) -> impl Fn(&ServerMsg) -> bool {
    move |m| matches!(m, ServerMsg::Output(b) if String::from_utf8_lossy(b).contains(needle))
}

/// The samples of each histogram in `names` recorded since the last call (a snapshot
/// takes them all).
fn samples<const N: usize>(snap: &Snapshotter, names: [&str; N]) -> [Vec<f64>; N] {
    let taken = snap.snapshot().into_vec();
    names.map(|name| {
        taken
            .iter()
            .filter(|(k, ..)| k.key().name() == name)
            .flat_map(|(.., v)| match v {
                DebugValue::Histogram(v) => v.iter().map(|f| f.0).collect(),
                _ => Vec::new(),
            })
            .collect()
    })
}

// One thread: the session's task records into the test's local recorder.
#[tokio::test(flavor = "current_thread")]
async fn a_lock_is_timed_from_its_request_once_per_figure() -> Result<()> {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let port = fake_ssh::serve(Shell::Echo, None).await?;
    let dir = tempfile::tempdir()?;
    let (tx, _lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(HubConfig::new(dir.path().join("recordings")), tx);
    hub.launch(ssh_spec("timed1", port))?;
    let mut user = hub.attach("timed1", Participant::User).context("attach")?;
    let input = user.input.clone().context("a user attachment has input")?;
    let clock = user
        .lock_clock
        .clone()
        .context("a user attachment has a lock clock")?;
    input.send(ClientMsg::Input(b"before ".to_vec())).await?;
    until(&mut user.rx, echoed("before ")).await?;
    // Input that went through is no drop, and nothing is timed before a lock.
    let names = [
        LOCK_APPLY_SECONDS,
        LOCK_FIRST_DROP_SECONDS,
        LOCK_NOTICE_SECONDS,
    ];
    assert_eq!(samples(&snap, names), [Vec::<f64>::new(), vec![], vec![]]);

    // The request arrived 50 ms before the hub was told.
    let requested = Instant::now() - Duration::from_millis(50);
    hub.lock_requested_at("timed1", requested)?;
    input.send(ClientMsg::Input(b"one ".to_vec())).await?;
    input.send(ClientMsg::Input(b"two ".to_vec())).await?;
    until(&mut user.rx, |m| {
        matches!(m, ServerMsg::Control(ServerControl::Locked { .. }))
    })
    .await?;
    clock.notice_sent();
    // Written twice (a rejoin, say): still one notice for the lock.
    clock.notice_sent();
    // The session's task takes the two keys while still locked (this thread is its own
    // while the test sleeps); an unlock first would end the lock's figures untaken.
    tokio::time::sleep(Duration::from_millis(100)).await;
    hub.unlock("timed1")?;
    // In order after the two dropped keys: once echoed, both were handled.
    input.send(ClientMsg::Input(b"after ".to_vec())).await?;
    until(&mut user.rx, echoed("after ")).await?;

    let [applied, dropped, notice] = samples(&snap, names);
    assert_eq!((applied.len(), dropped.len(), notice.len()), (1, 1, 1));
    for s in applied.iter().chain(&dropped).chain(&notice) {
        assert!(*s >= 0.05, "a figure not measured from the request: {s}");
    }
    assert!(applied[0] <= dropped[0], "{applied:?} {dropped:?}");
    hub.terminate("timed1", "done".into())?;
    Ok(())
}

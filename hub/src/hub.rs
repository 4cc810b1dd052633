//! The registry of live sessions and the task that drives each one.
//!
//! Each session's core ([`Terminal`]) sits behind a std `Mutex` shared by its task and
//! the [`crate::Hub`] handle; the lock is only ever held for synchronous core calls,
//! never across an await. That is what lets `attach` take a snapshot and register the
//! viewer atomically with respect to output (no gap, no duplicate), and lets `lock`
//! close the gate before it returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vigil_wire::api::{Keystroke, SessionId};
use vigil_wire::end::EndReason;
use vigil_wire::live::{Participant, Thumbnail};

use crate::common::SessionCore;
use crate::desktop;
use crate::ended::EndedLog;
use crate::input::{InputSender, Stamped};
use crate::recording::FileRecorder;
use crate::ssh::{self, SshConn};
use crate::terminal::{TargetCmd, Terminal, TerminalParams};
use crate::{Attachment, HubConfig, HubError, HubEvent, LaunchSpec, Lifecycle, SshTarget, Target};

/// Capacity of the live-feed broadcast; a subscriber further behind misses events.
const EVENTS_CAPACITY: usize = 1024;
/// Capacity of a session's input queue: a user pasting faster than the target reads
/// waits on it (backpressure to the socket) rather than growing a buffer.
const INPUT_QUEUE: usize = 64;
/// How often lagging viewers are checked for room when the session is quiet.
const RESYNC_EVERY: Duration = Duration::from_millis(200);
/// Bound on the polite goodbye to a target that may have stopped reading.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) const SHUTDOWN_REASON: &str = "relay shutting down";

/// What the handle and the task share about one session.
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) core: Arc<Mutex<dyn SessionCore>>,
    pub(crate) started: Instant,
    /// Wakes the task when the handle left work in the core (lifecycle, deferred).
    pub(crate) wake: Arc<Notify>,
    /// Ends the task: terminate, shutdown.
    pub(crate) cancel: CancellationToken,
    input: mpsc::Sender<Stamped>,
}

/// Locks a session core. A panic inside a core call must not wedge the whole session:
/// its state is still the best we have, and the task will end it.
pub(crate) fn lock_core<T: ?Sized>(core: &Mutex<T>) -> MutexGuard<'_, T> {
    core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Live {
    fn core(&self) -> MutexGuard<'_, dyn SessionCore + 'static> {
        lock_core(&self.core)
    }

    pub(crate) fn at(&self) -> Duration {
        self.started.elapsed()
    }
}

pub(crate) type Registry = Arc<Mutex<HashMap<SessionId, Live>>>;

/// Sessions that have left the registry, with their end reasons (see [`EndedLog`]).
pub(crate) type Ended = Arc<Mutex<EndedLog>>;

pub(crate) struct Inner {
    config: HubConfig,
    lifecycle: mpsc::Sender<Lifecycle>,
    events: broadcast::Sender<HubEvent>,
    sessions: Registry,
    ended: Ended,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

fn registry(sessions: &Registry) -> MutexGuard<'_, HashMap<SessionId, Live>> {
    sessions
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Session ids become file names: only allow what cannot climb out of the directory.
fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A record file that could not be created. Record files are created exclusively (a record
/// is never overwritten): one that exists means another launch of this id got there first.
fn recording_error(id: &str, e: &std::io::Error) -> HubError {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        HubError::Duplicate(id.to_owned())
    } else {
        HubError::Recording(e.to_string())
    }
}

impl Inner {
    pub(crate) fn new(config: HubConfig, lifecycle: mpsc::Sender<Lifecycle>) -> Inner {
        let (events, _) = broadcast::channel(EVENTS_CAPACITY);
        Inner {
            config,
            lifecycle,
            events,
            sessions: Arc::default(),
            ended: Arc::default(),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        }
    }

    fn live(&self, id: &str) -> Option<Live> {
        registry(&self.sessions).get(id).cloned()
    }

    pub(crate) fn launch(&self, spec: LaunchSpec) -> Result<(), HubError> {
        let id = spec.session_id.clone();
        if !safe_id(&id) {
            return Err(HubError::Recording(format!(
                "session id `{id}` is not a safe file name"
            )));
        }
        if registry(&self.sessions).contains_key(&id) {
            return Err(HubError::Duplicate(id));
        }
        let (input, input_rx) = mpsc::channel(INPUT_QUEUE);
        let started = Instant::now();
        let live = |core: Arc<Mutex<dyn SessionCore>>| Live {
            core,
            started,
            wake: Arc::new(Notify::new()),
            cancel: self.shutdown.child_token(),
            input,
        };
        match spec.target.clone() {
            Target::Ssh(target) => {
                let recorder = FileRecorder::create(
                    &self.recording_path(&id),
                    &self.keystrokes_path(&id),
                    spec.cols,
                    spec.rows,
                    &spec.title,
                )
                .map_err(|e| recording_error(&id, &e))?;
                let core = Arc::new(Mutex::new(Terminal::new(TerminalParams {
                    id: id.clone(),
                    cols: spec.cols,
                    rows: spec.rows,
                    viewer_queue: self.config.viewer_queue,
                    thumbnail_interval: self.config.thumbnail_interval,
                    recorder: Box::new(recorder),
                    events: self.events.clone(),
                })));
                let driver = self.register(id, core.clone(), live(core))?;
                self.tracker.spawn(driver.run(target, spec, input_rx));
            }
            Target::Rdp(target) => {
                let recorder = desktop::recorder::FileDesktopRecorder::create(
                    &self.desktop_path(&id),
                    &self.desktop_index_path(&id),
                    &self.keystrokes_path(&id),
                )
                .map_err(|e| recording_error(&id, &e))?;
                let core = Arc::new(Mutex::new(desktop::Desktop::new(desktop::DesktopConfig {
                    id: id.clone(),
                    viewer_queue: self.config.desktop_viewer_queue,
                    thumbnail_interval: self.config.thumbnail_interval,
                    recorder: Box::new(recorder),
                    events: self.events.clone(),
                    keyboard_layout: target.keyboard_layout,
                })));
                let driver = self.register(id, core.clone(), live(core))?;
                self.tracker.spawn(driver.run(target, input_rx));
            }
        }
        Ok(())
    }

    /// Enters a new session in the registry and makes its driver. Its record files exist by
    /// now: they are created before, outside the registry's lock, so a slow disk delays only
    /// this launch, never another session's attach or control.
    fn register<C>(
        &self,
        id: SessionId,
        core: Arc<Mutex<C>>,
        live: Live,
    ) -> Result<Driver<C>, HubError> {
        {
            let mut sessions = registry(&self.sessions);
            if sessions.contains_key(&id) {
                return Err(HubError::Duplicate(id));
            }
            sessions.insert(id.clone(), live.clone());
        }
        let tick = self
            .config
            .thumbnail_interval
            .min(RESYNC_EVERY)
            .max(Duration::from_millis(10));
        Ok(Driver {
            id,
            core,
            live,
            sessions: self.sessions.clone(),
            ended: self.ended.clone(),
            lifecycle: lifecycle_outbox(&self.tracker, self.lifecycle.clone()),
            connect_timeout: self.config.connect_timeout,
            tick,
        })
    }

    pub(crate) fn attach(&self, id: &str, participant: Participant) -> Option<Attachment> {
        let live = self.live(id)?;
        let mut core = live.core();
        let rx = core.attach(participant)?;
        let (cols, rows) = core.size();
        let input = (participant == Participant::User)
            .then(|| InputSender::new(live.input.clone(), core.lock_epoch()));
        Some(Attachment {
            rx,
            input,
            cols,
            rows,
            locked: core.is_locked(),
        })
    }

    pub(crate) fn set_locked(&self, id: &str, locked: bool) -> Result<(), HubError> {
        let live = self
            .live(id)
            .ok_or_else(|| HubError::NotFound(id.to_string()))?;
        let mut core = live.core();
        if core.is_ended() {
            return Err(HubError::NotFound(id.to_string()));
        }
        core.set_locked(locked, live.at());
        drop(core);
        live.wake.notify_one();
        Ok(())
    }

    pub(crate) fn terminate(&self, id: &str, reason: String) -> Result<(), HubError> {
        let live = self
            .live(id)
            .ok_or_else(|| HubError::NotFound(id.to_string()))?;
        let mut core = live.core();
        if core.is_ended() {
            return Err(HubError::NotFound(id.to_string()));
        }
        // Participants and the recording learn it now; the task closes the connection.
        core.terminate(&reason, live.at());
        drop(core);
        live.cancel.cancel();
        Ok(())
    }

    pub(crate) fn end_reason(&self, id: &str) -> Option<EndReason> {
        lock_core(&self.ended).get(id).cloned()
    }

    pub(crate) fn forget_ended(&self, id: &str) {
        lock_core(&self.ended).forget(id);
    }

    pub(crate) fn is_live(&self, id: &str) -> bool {
        self.live(id).is_some_and(|l| !l.core().is_ended())
    }

    pub(crate) fn is_locked(&self, id: &str) -> Option<bool> {
        let live = self.live(id)?;
        let core = live.core();
        (!core.is_ended()).then(|| core.is_locked())
    }

    pub(crate) fn thumbnail(&self, id: &str) -> Option<Thumbnail> {
        Some(self.live(id)?.core().thumbnail())
    }

    pub(crate) fn keystrokes(&self, id: &str) -> Option<Vec<Keystroke>> {
        Some(self.live(id)?.core().keystrokes().to_vec())
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.events.subscribe()
    }

    pub(crate) async fn shutdown(&self) {
        let ids: Vec<SessionId> = registry(&self.sessions).keys().cloned().collect();
        for id in ids {
            // NotFound: it ended on its own meanwhile.
            let _ = self.terminate(&id, SHUTDOWN_REASON.to_string());
        }
        // Also stops sessions launched from now on, and lets `wait` return.
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    pub(crate) fn recording_path(&self, id: &str) -> PathBuf {
        self.config.recordings_dir.join(format!("{id}.cast"))
    }

    pub(crate) fn keystrokes_path(&self, id: &str) -> PathBuf {
        self.config.recordings_dir.join(format!("{id}.keys.jsonl"))
    }

    pub(crate) fn desktop_path(&self, id: &str) -> PathBuf {
        self.config.recordings_dir.join(format!("{id}.desktop"))
    }

    pub(crate) fn desktop_index_path(&self, id: &str) -> PathBuf {
        self.config.recordings_dir.join(format!("{id}.desktop.idx"))
    }
}

/// One session's way to the relay's lifecycle channel: events go, in order, through a
/// task of their own that waits for room there (the relay persists them, so none may be
/// lost). The session's driver never waits: a relay slow to persist (a busy database)
/// must not stall the session's input and output. The queue holds only what the session
/// itself reports (connected, locked, unlocked, a refused key, ended), a handful.
pub(crate) fn lifecycle_outbox(
    tracker: &TaskTracker,
    relay: mpsc::Sender<Lifecycle>,
) -> mpsc::UnboundedSender<Lifecycle> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tracker.spawn(async move {
        while let Some(event) = rx.recv().await {
            // An error means the relay dropped its receiver; nobody is left to tell.
            if relay.send(event).await.is_err() {
                break;
            }
        }
    });
    tx
}

/// Hands the relay what the core queued on its lifecycle channel.
pub(crate) fn deliver_lifecycle(live: &Live, lifecycle: &mpsc::UnboundedSender<Lifecycle>) {
    let events = live.core().take_lifecycle();
    for event in events {
        let _ = lifecycle.send(event);
    }
}

/// Leaves the registry (its end reason kept in `ended` until the relay has stored it), then
/// reports what is left, `Ended` last.
pub(crate) async fn finish(
    id: SessionId,
    live: &Live,
    sessions: &Registry,
    ended: &Ended,
    lifecycle: &mpsc::UnboundedSender<Lifecycle>,
) {
    let reason = live
        .core()
        .end_reason()
        .cloned()
        .unwrap_or_else(|| EndReason::plain("closed"));
    lock_core(ended).record(id.clone(), reason.clone());
    registry(sessions).remove(&id);
    deliver_lifecycle(live, lifecycle);
    let _ = lifecycle.send(Lifecycle::Ended { id, reason });
}

/// The task of one session: owns the target connection and drives the core
/// (`C`: [`Terminal`] here, [`desktop::Desktop`] in [`desktop::task`]).
pub(crate) struct Driver<C> {
    pub(crate) id: SessionId,
    pub(crate) core: Arc<Mutex<C>>,
    pub(crate) live: Live,
    pub(crate) sessions: Registry,
    pub(crate) ended: Ended,
    pub(crate) lifecycle: mpsc::UnboundedSender<Lifecycle>,
    pub(crate) connect_timeout: Duration,
    pub(crate) tick: Duration,
}

impl<C> Driver<C> {
    pub(crate) fn core(&self) -> MutexGuard<'_, C> {
        lock_core(&self.core)
    }

    pub(crate) fn deliver_lifecycle(&self) {
        deliver_lifecycle(&self.live, &self.lifecycle);
    }

    pub(crate) async fn finish(self) {
        finish(
            self.id,
            &self.live,
            &self.sessions,
            &self.ended,
            &self.lifecycle,
        )
        .await;
    }
}

impl Driver<Terminal> {
    async fn run(self, target: SshTarget, spec: LaunchSpec, input: mpsc::Receiver<Stamped>) {
        let connect = ssh::connect(&target, spec.cols, spec.rows, self.connect_timeout);
        let outcome = tokio::select! {
            r = connect => Some(r),
            _ = self.live.cancel.cancelled() => None,
        };
        match outcome {
            Some(Ok(conn)) => self.serve(conn, input).await,
            Some(Err(e)) => {
                tracing::info!(id = %self.id, code = %e.code, message = %e.message, "Connection failed");
                let mut core = self.core();
                if let Some(offered) = e.offered {
                    core.common_mut().host_key_refused(offered);
                }
                core.failed(e.code, &e.message, self.live.at());
            }
            // Terminated (or shut down) while connecting: the core already knows.
            None => self.core().terminate(SHUTDOWN_REASON, self.live.at()),
        }
        self.finish().await;
    }

    async fn serve(&self, mut conn: SshConn, mut input: mpsc::Receiver<Stamped>) {
        {
            let mut core = self.core();
            core.connected(conn.learned_host_key.take());
            let early = std::mem::take(&mut conn.early_output);
            if !early.is_empty() {
                core.target_output(&early, self.live.at());
            }
        }
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let closed = loop {
            self.deliver_lifecycle();
            let deferred = self.core().take_deferred();
            if self.perform(&conn, deferred).await.is_err() {
                break None;
            }
            if self.core().is_ended() {
                break None;
            }
            tokio::select! {
                // Terminate first: nothing more reaches the target once it is asked.
                biased;
                _ = self.live.cancel.cancelled() => break None,
                _ = self.live.wake.notified() => {}
                msg = conn.read.wait() => match msg {
                    Some(russh::ChannelMsg::Data { data })
                    | Some(russh::ChannelMsg::ExtendedData { data, .. }) => {
                        self.core().target_output(&data, self.live.at());
                    }
                    Some(russh::ChannelMsg::Close) | None => break Some("closed"),
                    Some(_) => {}
                },
                Some(stamped) = input.recv() => {
                    let cmds = {
                        let mut core = self.core();
                        if core.admits(&stamped) {
                            core.user_msg(stamped.msg, self.live.at())
                        } else {
                            Vec::new()
                        }
                    };
                    if self.perform(&conn, cmds).await.is_err() {
                        break None;
                    }
                    // The rest of a paste, one chunk at a time: the core is asked before
                    // each write, so a lock stops it within one chunk.
                    loop {
                        let next = self.core().next_input(self.live.at());
                        let Some(cmd) = next else { break };
                        if self.perform(&conn, vec![cmd]).await.is_err() {
                            break;
                        }
                    }
                    if self.live.cancel.is_cancelled() {
                        break None;
                    }
                }
                _ = tick.tick() => self.core().tick(self.live.at()),
            }
        };
        if let Some(reason) = closed {
            self.core().closed(reason, self.live.at());
        }
        let reason = self
            .core()
            .end_reason()
            .map_or_else(|| "closed".to_string(), |r| r.message.clone());
        // Bounded: a target that stopped reading may never take the goodbye.
        if tokio::time::timeout(CLOSE_TIMEOUT, conn.close(&reason))
            .await
            .is_err()
        {
            tracing::debug!(id = %self.id, "The target did not take the close in time");
        }
    }

    /// Performs the core's commands in order, each write racing the session's cancel
    /// token: a target that never opens its window cannot keep a terminate from
    /// landing. `Err(Cancelled)` once terminated (the rest is not written).
    async fn perform(&self, conn: &SshConn, cmds: Vec<TargetCmd>) -> Result<(), Cancelled> {
        for cmd in cmds {
            let write = async {
                match cmd {
                    TargetCmd::Data(bytes) => conn.write.data_bytes(bytes).await,
                    TargetCmd::WindowChange { cols, rows } => {
                        conn.write
                            .window_change(u32::from(cols), u32::from(rows), 0, 0)
                            .await
                    }
                }
            };
            let result = tokio::select! {
                biased;
                _ = self.live.cancel.cancelled() => {
                    tracing::debug!(id = %self.id, "Write to the target abandoned: the session was terminated");
                    return Err(Cancelled);
                }
                r = write => r,
            };
            // A broken channel shows up as its end on the read side, which ends the session.
            if let Err(error) = result {
                tracing::debug!(id = %self.id, %error, "Write to the target failed");
            }
        }
        Ok(())
    }
}

/// The session was terminated while a write to the target was under way.
#[derive(Debug, thiserror::Error)]
#[error("the session was terminated")]
pub(crate) struct Cancelled;

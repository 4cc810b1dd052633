//! The registry of live sessions, and what the relay asks of them (launch, attach, lock,
//! terminate, thumbnails). Each session's task is a [`Driver`] (`driver.rs`).
//!
//! Each session's core ([`Terminal`], [`desktop::Desktop`]) sits behind a std `Mutex` shared by its task and
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
use crate::driver::{ConnectSteps, DrivenCore, Driver};
use crate::ended::EndedLog;
use crate::input::{InputSender, Stamped};
use crate::lock_timing::LockClock;
use crate::recording::FileRecorder;
use crate::terminal::{self, Terminal, TerminalParams};
use crate::{Attachment, HubConfig, HubError, HubEvent, LaunchSpec, Lifecycle, Target};

/// Capacity of the live-feed broadcast; a subscriber further behind misses events.
const EVENTS_CAPACITY: usize = 1024;
/// Capacity of a session's input queue: a user pasting faster than the target reads
/// waits on it (backpressure to the socket) rather than growing a buffer.
const INPUT_QUEUE: usize = 64;
/// How often lagging viewers are checked for room when the session is quiet.
const RESYNC_EVERY: Duration = Duration::from_millis(200);

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
    /// The latest lock's timings (`crate::lock_timing`).
    pub(crate) lock_clock: LockClock,
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
    lifecycle: mpsc::UnboundedSender<Lifecycle>,
    events: broadcast::Sender<HubEvent>,
    sessions: Registry,
    ended: Ended,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

pub(crate) fn registry(sessions: &Registry) -> MutexGuard<'_, HashMap<SessionId, Live>> {
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
    pub(crate) fn new(config: HubConfig, lifecycle: mpsc::UnboundedSender<Lifecycle>) -> Inner {
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
        let lock_clock = LockClock::new(id.clone());
        let live = |core: Arc<Mutex<dyn SessionCore>>| Live {
            core,
            started,
            wake: Arc::new(Notify::new()),
            cancel: self.shutdown.child_token(),
            input,
            lock_clock,
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
                let steps = ConnectSteps::of(&core);
                let driver = self.register(id, core.clone(), live(core))?;
                let connect =
                    terminal::task::connect(target, spec, self.config.connect_timeout, steps);
                // Boxed: inline, the handshake's future would size the session's task for
                // its whole life (see `Driver::run`).
                self.tracker.spawn(driver.run(Box::pin(connect), input_rx));
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
                let steps = ConnectSteps::of(&core);
                let driver = self.register(id, core.clone(), live(core))?;
                let connect = desktop::task::connect(target, self.config.connect_timeout, steps);
                self.tracker.spawn(driver.run(Box::pin(connect), input_rx));
            }
        }
        Ok(())
    }

    /// Enters a new session in the registry and makes its driver. Its record files exist by
    /// now: they are created before, outside the registry's lock, so a slow disk delays only
    /// this launch, never another session's attach or control.
    fn register<C: DrivenCore>(
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
            lifecycle: self.lifecycle.clone(),
            tick,
        })
    }

    pub(crate) fn attach(&self, id: &str, participant: Participant) -> Option<Attachment> {
        let live = self.live(id)?;
        let mut core = live.core();
        let rx = core.attach(participant)?;
        let (cols, rows) = core.size();
        let user = participant == Participant::User;
        let input = user.then(|| InputSender::new(live.input.clone(), core.lock_epoch()));
        let locked = core.is_locked();
        drop(core);
        // A desktop joiner's picture is made by the session's task.
        live.wake.notify_one();
        Some(Attachment {
            rx,
            input,
            cols,
            rows,
            locked,
            lock_clock: user.then(|| live.lock_clock.clone()),
        })
    }

    /// Locks or unlocks; a lock's timings are measured from `requested`.
    pub(crate) fn set_locked(
        &self,
        id: &str,
        locked: bool,
        requested: Instant,
    ) -> Result<(), HubError> {
        let live = self
            .live(id)
            .ok_or_else(|| HubError::NotFound(id.to_string()))?;
        let mut core = live.core();
        if core.is_ended() {
            return Err(HubError::NotFound(id.to_string()));
        }
        let switching = core.is_locked() != locked;
        let at = live.at();
        if switching && locked {
            let user = core.common().fanout.has(Participant::User);
            live.lock_clock
                .lock(requested, user, || core.set_locked(true, at));
        } else {
            core.set_locked(locked, at);
            if switching {
                live.lock_clock.unlocked();
            }
        }
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

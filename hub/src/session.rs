//! The sans-IO core of one live session: lock gating, fan-out, recording order,
//! keystrokes and thumbnails, with no socket and no clock of its own.
//!
//! Inputs are method calls (`target_output`, `user_msg`, `lock`, `terminate`, `tick`…)
//! with the time since the session started; outputs are [`TargetCmd`]s for the target
//! adapter to perform, lifecycle events in [`Session::take_lifecycle`], and the
//! side effects the core does itself because they are synchronous and must keep its
//! order: viewer queues (`try_send`, never waits), the recorder, the event broadcast.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use vigil_wire::api::{Keystroke, SessionId};
use vigil_wire::keys::{hex, split_terminal_input};
use vigil_wire::live::{
    ClientControl, ClientMsg, Participant, ServerControl, ServerMsg, Thumbnail,
};
use vigil_wire::SSH_LOCK_MESSAGE;

use crate::fanout::Fanout;
use crate::recording::{CastEvent, Recorder, Utf8Carry};
use crate::screen::Screen;
use crate::{HubEvent, Lifecycle};

/// What the target adapter must do. These are the only bytes that reach the target,
/// and the core only produces them for the user's input while unlocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetCmd {
    Data(Vec<u8>),
    WindowChange { cols: u16, rows: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Live,
    Ended,
}

/// Largest terminal dimension accepted from a browser; bounds the screen model's memory.
const MAX_DIM: u16 = 1000;

pub(crate) struct Session {
    id: SessionId,
    phase: Phase,
    locked: bool,
    cols: u16,
    rows: u16,
    /// The user's latest size while locked, applied on unlock.
    pending_size: Option<(u16, u16)>,
    screen: Screen,
    fanout: Fanout,
    recorder: Box<dyn Recorder>,
    out_utf8: Utf8Carry,
    in_utf8: Utf8Carry,
    keystrokes: Vec<Keystroke>,
    thumbnail: Option<Thumbnail>,
    /// Output arrived since the last thumbnail.
    screen_dirty: bool,
    last_thumbnail_at: Option<Duration>,
    thumbnail_interval: Duration,
    events: broadcast::Sender<HubEvent>,
    /// Lifecycle events for the driver to deliver (it awaits the relay's channel).
    lifecycle: VecDeque<Lifecycle>,
    /// Target commands produced outside the driver (the size applied on unlock).
    deferred: Vec<TargetCmd>,
    end_reason: Option<String>,
}

pub(crate) struct SessionParams {
    pub id: SessionId,
    pub cols: u16,
    pub rows: u16,
    pub viewer_queue: usize,
    pub thumbnail_interval: Duration,
    pub recorder: Box<dyn Recorder>,
    pub events: broadcast::Sender<HubEvent>,
}

fn clamp_dim(v: u16) -> u16 {
    v.clamp(1, MAX_DIM)
}

impl Session {
    pub(crate) fn new(p: SessionParams) -> Session {
        let (cols, rows) = (clamp_dim(p.cols), clamp_dim(p.rows));
        Session {
            id: p.id,
            phase: Phase::Connecting,
            locked: false,
            cols,
            rows,
            pending_size: None,
            screen: Screen::new(cols, rows),
            fanout: Fanout::new(p.viewer_queue),
            recorder: p.recorder,
            out_utf8: Utf8Carry::default(),
            in_utf8: Utf8Carry::default(),
            keystrokes: Vec::new(),
            thumbnail: None,
            screen_dirty: true,
            last_thumbnail_at: None,
            thumbnail_interval: p.thumbnail_interval,
            events: p.events,
            lifecycle: VecDeque::new(),
            deferred: Vec::new(),
            end_reason: None,
        }
    }

    // ---- getters -------------------------------------------------------------------

    pub(crate) fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.locked
    }

    pub(crate) fn size(&self) -> (u16, u16) {
        (self.cols, self.rows)
    }

    pub(crate) fn keystrokes(&self) -> &[Keystroke] {
        &self.keystrokes
    }

    pub(crate) fn end_reason(&self) -> Option<&str> {
        self.end_reason.as_deref()
    }

    /// The latest thumbnail; before the first one, the screen as it is.
    pub(crate) fn thumbnail(&self) -> Thumbnail {
        self.thumbnail.clone().unwrap_or_else(|| Thumbnail::Text {
            rows: self.screen.text_rows(),
        })
    }

    /// Target commands produced by `set_locked`, for the driver to perform.
    pub(crate) fn take_deferred(&mut self) -> Vec<TargetCmd> {
        std::mem::take(&mut self.deferred)
    }

    /// Lifecycle events produced since the last call, oldest first.
    pub(crate) fn take_lifecycle(&mut self) -> Vec<Lifecycle> {
        self.lifecycle.drain(..).collect()
    }

    /// What a joiner gets first: the screen, then the lock state.
    fn join_messages(screen: &Screen, locked: bool) -> Vec<ServerMsg> {
        let mut msgs = vec![ServerMsg::Snapshot(screen.snapshot())];
        if locked {
            msgs.push(ServerMsg::Control(ServerControl::Locked {
                message: SSH_LOCK_MESSAGE.into(),
            }));
        }
        msgs
    }

    // ---- inputs --------------------------------------------------------------------

    /// A participant joins: its queue starts with a snapshot, the lock state, and
    /// `Connecting` while the target is not connected yet. `None` once ended.
    pub(crate) fn attach(&mut self, participant: Participant) -> Option<mpsc::Receiver<ServerMsg>> {
        if self.phase == Phase::Ended {
            return None;
        }
        let mut first = Self::join_messages(&self.screen, self.locked);
        if self.phase == Phase::Connecting {
            first.push(ServerMsg::Control(ServerControl::Connecting {
                message: "connecting to the target".into(),
            }));
        }
        Some(self.fanout.add(participant, first))
    }

    pub(crate) fn connected(&mut self, host_key_learned: Option<String>) {
        if self.phase != Phase::Connecting {
            return;
        }
        self.phase = Phase::Live;
        if let Some(host_key) = host_key_learned {
            self.lifecycle.push_back(Lifecycle::HostKeyLearned {
                id: self.id.clone(),
                host_key,
            });
        }
        self.lifecycle.push_back(Lifecycle::Connected {
            id: self.id.clone(),
        });
        self.fanout.control(ServerControl::Connected);
    }

    /// Bytes from the target: recorder first (it never drops), then the screen model,
    /// then the viewers (who may drop and be resynchronised from that model).
    pub(crate) fn target_output(&mut self, bytes: &[u8], at: Duration) {
        if self.phase != Phase::Live {
            return;
        }
        let text = self.out_utf8.push(bytes);
        if !text.is_empty() {
            self.record(at, CastEvent::Output(text));
        }
        self.screen.process(bytes);
        self.screen_dirty = true;
        let (screen, locked) = (&self.screen, self.locked);
        self.fanout.output(ServerMsg::Output(bytes.to_vec()), &|| {
            Self::join_messages(screen, locked)
        });
    }

    /// A message from the user's socket. Returns what to send to the target: nothing
    /// while locked (every byte and every resize is gated) or not live.
    pub(crate) fn user_msg(&mut self, msg: ClientMsg, at: Duration) -> Vec<TargetCmd> {
        if self.phase != Phase::Live {
            return Vec::new();
        }
        match msg {
            ClientMsg::Input(bytes) if !self.locked && !bytes.is_empty() => {
                self.user_input(bytes, at)
            }
            ClientMsg::Control(ClientControl::Resize { cols, rows }) => {
                let size = (clamp_dim(cols), clamp_dim(rows));
                if self.locked {
                    self.pending_size = Some(size);
                    return Vec::new();
                }
                self.apply_size(size, at)
            }
            // Input while locked is dropped: it is neither forwarded nor logged as a
            // keystroke, since the keystroke log is what reached the target.
            ClientMsg::Input(_) | ClientMsg::Control(ClientControl::Hello { .. }) => Vec::new(),
            // Desktop messages mean nothing to a terminal session.
            ClientMsg::Control(
                ClientControl::Input { .. } | ClientControl::FrameDecoded { .. },
            ) => Vec::new(),
        }
    }

    fn user_input(&mut self, bytes: Vec<u8>, at: Duration) -> Vec<TargetCmd> {
        let text = self.in_utf8.push(&bytes);
        if !text.is_empty() {
            self.record(at, CastEvent::Input(text));
        }
        let at_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        for key in split_terminal_input(&bytes) {
            let keystroke = Keystroke {
                seq: self.keystrokes.len() as u64,
                at_ms,
                key: key.name,
                raw: hex(&key.raw),
            };
            if let Err(e) = self.recorder.keystroke(&keystroke) {
                self.recording_failed(e);
                return Vec::new();
            }
            let msg = ServerMsg::Control(ServerControl::Keystroke {
                keystroke: keystroke.clone(),
            });
            let (screen, locked) = (&self.screen, self.locked);
            self.fanout.output_to(Participant::Observer, msg, &|| {
                Self::join_messages(screen, locked)
            });
            // Lossy by contract: no live-feed subscriber is an error, not a problem.
            let _ = self.events.send(HubEvent::Keystroke {
                id: self.id.clone(),
                keystroke: keystroke.clone(),
            });
            self.keystrokes.push(keystroke);
        }
        if self.phase != Phase::Live {
            return Vec::new();
        }
        vec![TargetCmd::Data(bytes)]
    }

    fn apply_size(&mut self, (cols, rows): (u16, u16), at: Duration) -> Vec<TargetCmd> {
        if (cols, rows) == (self.cols, self.rows) {
            return Vec::new();
        }
        (self.cols, self.rows) = (cols, rows);
        self.screen.resize(cols, rows);
        self.screen_dirty = true;
        self.record(at, CastEvent::Resize { cols, rows });
        self.fanout.control(ServerControl::Resized { cols, rows });
        vec![TargetCmd::WindowChange { cols, rows }]
    }

    /// Locks or unlocks. On unlock the target gets the size the user's terminal took
    /// while locked (deferred: the caller is not the driver).
    pub(crate) fn set_locked(&mut self, locked: bool, at: Duration) {
        if self.phase == Phase::Ended || self.locked == locked {
            return;
        }
        self.locked = locked;
        let id = self.id.clone();
        if locked {
            self.record(at, CastEvent::Marker("lock".into()));
            self.fanout.control(ServerControl::Locked {
                message: SSH_LOCK_MESSAGE.into(),
            });
            self.lifecycle.push_back(Lifecycle::Locked { id });
        } else {
            self.record(at, CastEvent::Marker("unlock".into()));
            self.fanout.control(ServerControl::Unlocked);
            self.lifecycle.push_back(Lifecycle::Unlocked { id });
            if let Some(size) = self
                .pending_size
                .take()
                .filter(|_| self.phase == Phase::Live)
            {
                let cmds = self.apply_size(size, at);
                self.deferred.extend(cmds);
            }
        }
    }

    /// Periodic work: a thumbnail if the screen changed and the interval has passed,
    /// and snapshots for lagging viewers that have room again.
    pub(crate) fn tick(&mut self, at: Duration) {
        let due = self
            .last_thumbnail_at
            .is_none_or(|last| at.saturating_sub(last) >= self.thumbnail_interval);
        if self.screen_dirty && due && self.phase == Phase::Live {
            self.screen_dirty = false;
            self.last_thumbnail_at = Some(at);
            let thumbnail = Thumbnail::Text {
                rows: self.screen.text_rows(),
            };
            if self.thumbnail.as_ref() != Some(&thumbnail) {
                self.thumbnail = Some(thumbnail.clone());
                let _ = self.events.send(HubEvent::Thumbnail {
                    id: self.id.clone(),
                    thumbnail,
                });
            }
        }
        let (screen, locked) = (&self.screen, self.locked);
        self.fanout.resync(&|| Self::join_messages(screen, locked));
    }

    /// The connection could not be made: the user sees the error, then the end.
    pub(crate) fn failed(&mut self, code: &str, message: &str, at: Duration) {
        if self.phase == Phase::Ended {
            return;
        }
        self.fanout.control(ServerControl::Error {
            code: code.into(),
            message: message.into(),
        });
        self.end(
            format!("{code}: {message}"),
            Some(format!("error: {code}")),
            at,
        );
    }

    /// Terminated by someone: the marker names the reason.
    pub(crate) fn terminate(&mut self, reason: &str, at: Duration) {
        self.end(reason.to_string(), Some(format!("terminate: {reason}")), at);
    }

    /// The target closed the shell (or the connection broke).
    pub(crate) fn closed(&mut self, reason: &str, at: Duration) {
        self.end(reason.to_string(), None, at);
    }

    fn end(&mut self, reason: String, marker: Option<String>, at: Duration) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        // A character cut by the very end still belongs in the record (as U+FFFD).
        let tail = self.out_utf8.finish();
        if !tail.is_empty() {
            self.record(at, CastEvent::Output(tail));
        }
        if let Some(marker) = marker {
            self.record(at, CastEvent::Marker(marker));
        }
        self.fanout.control(ServerControl::Ended {
            reason: reason.clone(),
        });
        self.fanout.close();
        self.end_reason = Some(reason);
    }

    fn record(&mut self, at: Duration, event: CastEvent) {
        if let Err(e) = self.recorder.event(at, &event) {
            self.recording_failed(e);
        }
    }

    /// A session that cannot be recorded must not go on unrecorded: end it.
    fn recording_failed(&mut self, error: std::io::Error) {
        tracing::error!(id = %self.id, %error, "Recording failed, ending the session");
        if self.phase != Phase::Ended {
            self.phase = Phase::Ended;
            let reason = format!("recording failed: {error}");
            self.fanout.control(ServerControl::Error {
                code: "recording_failed".into(),
                message: reason.clone(),
            });
            self.fanout.control(ServerControl::Ended {
                reason: reason.clone(),
            });
            self.fanout.close();
            self.end_reason = Some(reason);
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

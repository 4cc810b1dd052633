//! What the terminal core ([`crate::terminal::Terminal`]) and the desktop core
//! ([`crate::desktop::Desktop`]) share: the phase, the lock flag, the fan-out, the
//! keystroke log, the thumbnail, the lifecycle queue and the end reason ([`Common`]),
//! and how a session ends, fails or is terminated ([`SessionCore`]).
//!
//! Each core keeps its own recorder and model of the target; it hooks in through
//! [`SessionCore::write_marker`] and [`SessionCore::before_end`].

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use vigil_wire::api::{Keystroke, SessionId};
use vigil_wire::connect::ConnectStep;
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::{Participant, ServerControl, ServerMsg, Thumbnail};

use crate::fanout::Fanout;
use crate::input::{LockEpoch, Stamped};
use crate::{HubEvent, Lifecycle};

/// How many of the newest keystrokes a live session keeps in memory (between this and
/// twice this). The whole log is on disk (`<id>.keys.jsonl`) and read from there.
pub(crate) const KEYSTROKE_TAIL: usize = 1024;

/// What `Connecting` says to the people waiting (the steps say the rest).
pub(crate) const CONNECTING_MESSAGE: &str = "connecting to the target";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Connecting,
    Live,
    Ended,
}

/// The state both cores keep the same way.
pub(crate) struct Common {
    pub(crate) id: SessionId,
    pub(crate) phase: Phase,
    pub(crate) locked: bool,
    pub(crate) fanout: Fanout,
    /// The newest keystrokes (a bounded tail; see [`KEYSTROKE_TAIL`]).
    pub(crate) keystrokes: Vec<Keystroke>,
    /// Keystrokes logged so far: the next one's `seq`.
    keystroke_count: u64,
    pub(crate) thumbnail: Option<Thumbnail>,
    thumbnail_interval: Duration,
    last_thumbnail_at: Option<Duration>,
    events: broadcast::Sender<HubEvent>,
    /// Lifecycle events for the driver to deliver (it awaits the relay's channel).
    lifecycle: VecDeque<Lifecycle>,
    end_reason: Option<EndReason>,
    /// Advances with every lock switch; the user's input carries it (see `crate::input`).
    pub(crate) lock_epoch: LockEpoch,
    /// The last step of the connection done (while connecting).
    connect_done: Option<ConnectStep>,
}

impl Common {
    pub(crate) fn new(
        id: SessionId,
        viewer_queue: usize,
        thumbnail_interval: Duration,
        events: broadcast::Sender<HubEvent>,
    ) -> Common {
        Common {
            id,
            phase: Phase::Connecting,
            locked: false,
            fanout: Fanout::new(viewer_queue),
            keystrokes: Vec::new(),
            keystroke_count: 0,
            thumbnail: None,
            thumbnail_interval,
            last_thumbnail_at: None,
            events,
            lifecycle: VecDeque::new(),
            end_reason: None,
            lock_epoch: LockEpoch::default(),
            connect_done: None,
        }
    }

    /// `Connecting`, with the last step done so far: what a participant joining a
    /// connecting session is told first.
    pub(crate) fn connecting(&self) -> ServerControl {
        ServerControl::Connecting {
            message: CONNECTING_MESSAGE.into(),
            done: self.connect_done,
        }
    }

    /// A step of the connection is done: the participants learn it. Steps only go
    /// forward, and only while connecting; `false` (nothing sent) for a step that is not
    /// after the last one, or once live or ended.
    pub(crate) fn connect_step(&mut self, step: ConnectStep) -> bool {
        if self.phase != Phase::Connecting || self.connect_done.is_some_and(|d| d >= step) {
            return false;
        }
        self.connect_done = Some(step);
        self.fanout.control(self.connecting());
        true
    }

    /// Connecting → Live: the lifecycle learns it (and the pin learned on first use), the
    /// participants get `Connected`. `false` if the session was not connecting.
    pub(crate) fn connected(&mut self, host_key_learned: Option<String>) -> bool {
        if self.phase != Phase::Connecting {
            return false;
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
        true
    }

    /// The target's key was refused: the relay records `offered` (a fingerprint).
    pub(crate) fn host_key_refused(&mut self, offered: String) {
        self.lifecycle.push_back(Lifecycle::HostKeyRefused {
            id: self.id.clone(),
            offered,
        });
    }

    /// Takes the new lock state; `false` (nothing to do) once ended or if unchanged.
    pub(crate) fn switch_lock(&mut self, locked: bool) -> bool {
        if self.phase == Phase::Ended || self.locked == locked {
            return false;
        }
        self.locked = locked;
        self.lock_epoch.advance();
        true
    }

    /// Tells the participants and the lifecycle the lock state just taken.
    pub(crate) fn announce_lock(&mut self, lock_message: &str) {
        let id = self.id.clone();
        if self.locked {
            self.fanout.control(ServerControl::Locked {
                message: lock_message.into(),
            });
            self.lifecycle.push_back(Lifecycle::Locked { id });
        } else {
            self.fanout.control(ServerControl::Unlocked);
            self.lifecycle.push_back(Lifecycle::Unlocked { id });
        }
    }

    /// A thumbnail is due: none yet, or the interval has passed since the last one.
    pub(crate) fn thumbnail_due(&self, at: Duration) -> bool {
        self.last_thumbnail_at
            .is_none_or(|last| at.saturating_sub(last) >= self.thumbnail_interval)
    }

    pub(crate) fn thumbnail_taken(&mut self, at: Duration) {
        self.last_thumbnail_at = Some(at);
    }

    /// Keeps the thumbnail and tells the live feed.
    pub(crate) fn publish_thumbnail(&mut self, thumbnail: Thumbnail) {
        self.thumbnail = Some(thumbnail.clone());
        // Lossy by contract: no live-feed subscriber is an error, not a problem.
        let _ = self.events.send(HubEvent::Thumbnail {
            id: self.id.clone(),
            thumbnail,
        });
    }

    /// The next keystroke of the log (not yet recorded nor published).
    pub(crate) fn next_keystroke(&self, at: Duration, key: String, raw: String) -> Keystroke {
        Keystroke {
            seq: self.keystroke_count,
            at_ms: u64::try_from(at.as_millis()).unwrap_or(u64::MAX),
            key,
            raw,
            browser_text: None,
        }
    }

    /// A recorded keystroke goes to the observers (`resync` for lagging ones), the live
    /// feed and the log.
    pub(crate) fn publish_keystroke(
        &mut self,
        keystroke: Keystroke,
        resync: Option<&dyn Fn() -> Vec<ServerMsg>>,
    ) {
        let msg = ServerMsg::Control(ServerControl::Keystroke {
            keystroke: keystroke.clone(),
        });
        self.fanout
            .shed_with(Some(msg), Some(Participant::Observer), resync);
        // Lossy by contract: no live-feed subscriber is an error, not a problem.
        let _ = self.events.send(HubEvent::Keystroke {
            id: self.id.clone(),
            keystroke: keystroke.clone(),
        });
        self.keystrokes.push(keystroke);
        self.keystroke_count += 1;
        // Bounded, whatever is pasted: drop the older half once twice the tail is held.
        if self.keystrokes.len() >= 2 * KEYSTROKE_TAIL {
            let excess = self.keystrokes.len() - KEYSTROKE_TAIL;
            self.keystrokes.drain(..excess);
        }
    }

    /// The participants see `Ended` after what was queued, then the end of their stream.
    fn close(&mut self, reason: EndReason) {
        self.fanout.control(ServerControl::Ended {
            reason: reason.clone(),
        });
        self.fanout.close();
        self.end_reason = Some(reason);
    }

    /// A session that cannot be recorded must not go on unrecorded: end it.
    pub(crate) fn recording_failed(&mut self, error: std::io::Error) {
        crate::metrics::recording_failed();
        tracing::error!(id = %self.id, %error, "Recording failed, ending the session");
        if self.phase != Phase::Ended {
            self.phase = Phase::Ended;
            let reason = EndReason::failed(
                ErrorCode::RecordingFailed,
                format!("recording failed: {error}"),
            );
            self.fanout.control(ServerControl::Error {
                code: ErrorCode::RecordingFailed,
                message: reason.message.clone(),
            });
            self.close(reason);
        }
    }
}

/// A session core as the hub and the drivers see it. Every call is synchronous and made
/// under the session's std mutex.
pub(crate) trait SessionCore: Send {
    fn common(&self) -> &Common;
    fn common_mut(&mut self) -> &mut Common;

    /// A participant joins; `None` once ended.
    fn attach(&mut self, participant: Participant) -> Option<mpsc::Receiver<ServerMsg>>;
    /// The size to report to a joiner.
    fn size(&self) -> (u16, u16);
    fn set_locked(&mut self, locked: bool, at: Duration);
    fn thumbnail(&self) -> Thumbnail;

    /// Writes a marker into the recording.
    fn write_marker(&mut self, at: Duration, text: &str) -> std::io::Result<()>;

    /// Runs once as the session ends, before the end marker: what the recording still owes.
    fn before_end(&mut self, _at: Duration) {}

    fn is_ended(&self) -> bool {
        self.common().phase == Phase::Ended
    }

    fn is_locked(&self) -> bool {
        self.common().locked
    }

    /// The lock epoch, for the user's input sender.
    fn lock_epoch(&self) -> LockEpoch {
        self.common().lock_epoch.clone()
    }

    /// Whether the user's `stamped` message may still act: input stamped before the
    /// latest lock switch is dropped (see `crate::input`).
    fn admits(&self, stamped: &Stamped) -> bool {
        stamped.admitted(self.common().lock_epoch.now())
    }

    /// The newest keystrokes (at most twice [`KEYSTROKE_TAIL`]); the whole log is on disk.
    fn keystrokes(&self) -> &[Keystroke] {
        &self.common().keystrokes
    }

    fn end_reason(&self) -> Option<&EndReason> {
        self.common().end_reason.as_ref()
    }

    /// Lifecycle events produced since the last call, oldest first.
    fn take_lifecycle(&mut self) -> Vec<Lifecycle> {
        self.common_mut().lifecycle.drain(..).collect()
    }

    /// A marker in the recording; a failure to write it ends the session.
    fn marker(&mut self, at: Duration, text: &str) {
        if let Err(e) = self.write_marker(at, text) {
            self.common_mut().recording_failed(e);
        }
    }

    /// The connection could not be made: the user sees the error, then the end.
    fn failed(&mut self, code: ErrorCode, message: &str, at: Duration) {
        if self.is_ended() {
            return;
        }
        self.common_mut().fanout.control(ServerControl::Error {
            code,
            message: message.into(),
        });
        self.end(
            EndReason::failed(code, message),
            Some(format!("error: {code}")),
            at,
        );
    }

    /// Terminated by someone: the marker names the reason.
    fn terminate(&mut self, reason: &str, at: Duration) {
        self.end(
            EndReason::plain(reason),
            Some(format!("terminate: {reason}")),
            at,
        );
    }

    /// The target ended the session (or the connection broke).
    fn closed(&mut self, reason: &str, at: Duration) {
        self.end(EndReason::plain(reason), None, at);
    }

    fn end(&mut self, reason: EndReason, marker: Option<String>, at: Duration) {
        if self.is_ended() {
            return;
        }
        self.common_mut().phase = Phase::Ended;
        self.before_end(at);
        if let Some(marker) = marker {
            self.marker(at, &marker);
        }
        self.common_mut().close(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long paste must not grow the relay: the in-memory log stays a bounded tail while
    /// `seq` keeps counting every keystroke.
    #[test]
    fn the_keystroke_log_in_memory_is_a_bounded_tail() {
        let (events, _) = broadcast::channel(4);
        let mut common = Common::new("k".into(), 8, Duration::from_secs(1), events);
        let n = 10 * KEYSTROKE_TAIL as u64 + 7;
        for i in 0..n {
            let k = common.next_keystroke(Duration::from_millis(i), "a".into(), "a".into());
            assert_eq!(k.seq, i);
            common.publish_keystroke(k, None);
            assert!(common.keystrokes.len() < 2 * KEYSTROKE_TAIL);
        }
        let last = common.keystrokes.last().map(|k| k.seq);
        assert_eq!(last, Some(n - 1));
        assert!(common.keystrokes.len() >= KEYSTROKE_TAIL);
        let seqs: Vec<u64> = common.keystrokes.iter().map(|k| k.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "the tail is contiguous"
        );
    }
}

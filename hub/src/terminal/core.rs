//! The sans-IO core of one live session: lock gating, fan-out, recording order,
//! keystrokes and thumbnails, with no socket and no clock of its own.
//!
//! Inputs are method calls (`target_output`, `user_msg`, `lock`, `terminate`, `tick`…)
//! with the time since the session started; outputs are [`TargetCmd`]s for the target
//! adapter to perform, lifecycle events in [`Terminal::take_lifecycle`], and the
//! side effects the core does itself because they are synchronous and must keep its
//! order: viewer queues (`try_send`, never waits), the recorder, the event broadcast.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use vigil_wire::api::SessionId;
use vigil_wire::keys::{hex, split_terminal_input, TerminalKey};
use vigil_wire::live::{
    ClientControl, ClientMsg, Participant, ServerControl, ServerMsg, Thumbnail,
};
use vigil_wire::SSH_LOCK_MESSAGE;

use crate::common::{Common, Phase, SessionCore};
use crate::recording::{CastEvent, Recorder, Utf8Carry};
use crate::terminal::screen::TerminalScreen;
use crate::HubEvent;

/// What the target adapter must do. These are the only bytes that reach the target,
/// and the core only produces them for the user's input while unlocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetCmd {
    Data(Vec<u8>),
    WindowChange { cols: u16, rows: u16 },
}

/// Largest terminal dimension accepted from a browser; bounds the screen model's memory.
const MAX_DIM: u16 = 1000;

/// Largest single write of the user's input to the target. A paste is cut into writes
/// this size, and the driver asks the core for each one ([`Terminal::next_input`]), so a
/// lock or a terminate takes effect within one such write.
pub(crate) const INPUT_CHUNK: usize = 4096;

/// A piece of the user's input not yet released to the target: its bytes, cut between
/// keys, and those keys (logged only when the piece is released).
struct Chunk {
    bytes: Vec<u8>,
    keys: Vec<TerminalKey>,
}

pub(crate) struct Terminal {
    common: Common,
    cols: u16,
    rows: u16,
    /// The user's latest size while locked, applied on unlock.
    pending_size: Option<(u16, u16)>,
    screen: TerminalScreen,
    recorder: Box<dyn Recorder>,
    out_utf8: Utf8Carry,
    in_utf8: Utf8Carry,
    /// Output arrived since the last thumbnail.
    screen_dirty: bool,
    /// Target commands produced outside the driver (the size applied on unlock).
    deferred: Vec<TargetCmd>,
    /// The rest of the user's last input, released one chunk at a time.
    pending_input: VecDeque<Chunk>,
}

pub(crate) struct TerminalParams {
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

impl Terminal {
    pub(crate) fn new(p: TerminalParams) -> Terminal {
        let (cols, rows) = (clamp_dim(p.cols), clamp_dim(p.rows));
        Terminal {
            common: Common::new(p.id, p.viewer_queue, p.thumbnail_interval, p.events),
            cols,
            rows,
            pending_size: None,
            screen: TerminalScreen::new(cols, rows),
            recorder: p.recorder,
            out_utf8: Utf8Carry::default(),
            in_utf8: Utf8Carry::default(),
            screen_dirty: true,
            deferred: Vec::new(),
            pending_input: VecDeque::new(),
        }
    }

    /// Target commands produced by `set_locked`, for the driver to perform.
    pub(crate) fn take_deferred(&mut self) -> Vec<TargetCmd> {
        std::mem::take(&mut self.deferred)
    }

    /// What a joiner gets first: the screen, then the lock state.
    fn join_messages(screen: &TerminalScreen, locked: bool) -> Vec<ServerMsg> {
        let mut msgs = vec![ServerMsg::Snapshot(screen.snapshot())];
        if locked {
            msgs.push(ServerMsg::Control(ServerControl::Locked {
                message: SSH_LOCK_MESSAGE.into(),
            }));
        }
        msgs
    }

    // ---- inputs --------------------------------------------------------------------

    pub(crate) fn connected(&mut self, host_key_learned: Option<String>) {
        self.common.connected(host_key_learned);
    }

    /// Bytes from the target: recorder first (it never drops), then the screen model,
    /// then the viewers (who may drop and be resynchronised from that model).
    pub(crate) fn target_output(&mut self, bytes: &[u8], at: Duration) {
        if self.common.phase != Phase::Live {
            return;
        }
        let text = self.out_utf8.push(bytes);
        if !text.is_empty() {
            self.record(at, CastEvent::Output(text));
        }
        self.screen.process(bytes);
        self.screen_dirty = true;
        let (screen, locked) = (&self.screen, self.common.locked);
        self.common
            .fanout
            .output(ServerMsg::Output(bytes.to_vec()), &|| {
                Self::join_messages(screen, locked)
            });
    }

    /// A message from the user's socket. Returns what to send to the target: nothing
    /// while locked (every byte and every resize is gated) or not live.
    pub(crate) fn user_msg(&mut self, msg: ClientMsg, at: Duration) -> Vec<TargetCmd> {
        if self.common.phase != Phase::Live {
            return Vec::new();
        }
        match msg {
            ClientMsg::Input(bytes) if !self.common.locked && !bytes.is_empty() => {
                self.user_input(bytes, at)
            }
            ClientMsg::Control(ClientControl::Resize { cols, rows }) => {
                let size = (clamp_dim(cols), clamp_dim(rows));
                if self.common.locked {
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

    /// Cuts the input into chunks of at most [`INPUT_CHUNK`] bytes between keys (a key
    /// is never split), queues them, and releases the first.
    fn user_input(&mut self, bytes: Vec<u8>, at: Duration) -> Vec<TargetCmd> {
        let mut chunk = Chunk {
            bytes: Vec::new(),
            keys: Vec::new(),
        };
        for key in split_terminal_input(&bytes) {
            if !chunk.bytes.is_empty() && chunk.bytes.len() + key.raw.len() > INPUT_CHUNK {
                let full = std::mem::replace(
                    &mut chunk,
                    Chunk {
                        bytes: Vec::new(),
                        keys: Vec::new(),
                    },
                );
                self.pending_input.push_back(full);
            }
            chunk.bytes.extend_from_slice(&key.raw);
            chunk.keys.push(key);
        }
        if !chunk.bytes.is_empty() {
            self.pending_input.push_back(chunk);
        }
        self.next_input(at).into_iter().collect()
    }

    /// The next chunk of the user's input for the driver to write, asked for before
    /// each write. Once locked or ended the rest is dropped: it never reaches the
    /// target, so it is neither recorded nor logged as keystrokes.
    pub(crate) fn next_input(&mut self, at: Duration) -> Option<TargetCmd> {
        if self.common.phase != Phase::Live || self.common.locked {
            if !self.pending_input.is_empty() {
                tracing::debug!(id = %self.common.id, chunks = self.pending_input.len(), "Input dropped: the session is locked or ended");
                self.pending_input.clear();
            }
            return None;
        }
        let Chunk { bytes, keys } = self.pending_input.pop_front()?;
        let text = self.in_utf8.push(&bytes);
        if !text.is_empty() {
            self.record(at, CastEvent::Input(text));
        }
        for key in keys {
            let keystroke = self.common.next_keystroke(at, key.name, hex(&key.raw));
            if let Err(e) = self.recorder.keystroke(&keystroke) {
                self.common.recording_failed(e);
                break;
            }
            let (screen, locked) = (&self.screen, self.common.locked);
            self.common
                .publish_keystroke(keystroke, Some(&|| Self::join_messages(screen, locked)));
        }
        if self.common.phase != Phase::Live {
            self.pending_input.clear();
            return None;
        }
        Some(TargetCmd::Data(bytes))
    }

    fn apply_size(&mut self, (cols, rows): (u16, u16), at: Duration) -> Vec<TargetCmd> {
        if (cols, rows) == (self.cols, self.rows) {
            return Vec::new();
        }
        (self.cols, self.rows) = (cols, rows);
        self.screen.resize(cols, rows);
        self.screen_dirty = true;
        self.record(at, CastEvent::Resize { cols, rows });
        self.common
            .fanout
            .control(ServerControl::Resized { cols, rows });
        vec![TargetCmd::WindowChange { cols, rows }]
    }

    /// Periodic work: a thumbnail if the screen changed and the interval has passed,
    /// and snapshots for lagging viewers that have room again.
    pub(crate) fn tick(&mut self, at: Duration) {
        let due = self.common.thumbnail_due(at);
        if self.screen_dirty && due && self.common.phase == Phase::Live {
            self.screen_dirty = false;
            self.common.thumbnail_taken(at);
            let thumbnail = Thumbnail::Text {
                rows: self.screen.text_rows(),
            };
            if self.common.thumbnail.as_ref() != Some(&thumbnail) {
                self.common.publish_thumbnail(thumbnail);
            }
        }
        let (screen, locked) = (&self.screen, self.common.locked);
        self.common
            .fanout
            .resync(&|| Self::join_messages(screen, locked));
    }

    fn record(&mut self, at: Duration, event: CastEvent) {
        if let Err(e) = self.recorder.event(at, &event) {
            self.common.recording_failed(e);
        }
    }
}

impl SessionCore for Terminal {
    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }

    /// A participant joins: its queue starts with a snapshot, the lock state, and
    /// `Connecting` while the target is not connected yet. `None` once ended.
    fn attach(&mut self, participant: Participant) -> Option<mpsc::Receiver<ServerMsg>> {
        if self.common.phase == Phase::Ended {
            return None;
        }
        let mut first = Self::join_messages(&self.screen, self.common.locked);
        if self.common.phase == Phase::Connecting {
            first.push(ServerMsg::Control(self.common.connecting()));
        }
        Some(self.common.fanout.add(participant, first))
    }

    fn size(&self) -> (u16, u16) {
        (self.cols, self.rows)
    }

    /// Locks or unlocks. On unlock the target gets the size the user's terminal took
    /// while locked (deferred: the caller is not the driver).
    fn set_locked(&mut self, locked: bool, at: Duration) {
        if !self.common.switch_lock(locked) {
            return;
        }
        if locked {
            // The rest of a paste under way stops here.
            self.pending_input.clear();
        }
        self.marker(at, if locked { "lock" } else { "unlock" });
        self.common.announce_lock(SSH_LOCK_MESSAGE);
        if !locked {
            if let Some(size) = self
                .pending_size
                .take()
                .filter(|_| self.common.phase == Phase::Live)
            {
                let cmds = self.apply_size(size, at);
                self.deferred.extend(cmds);
            }
        }
    }

    /// The latest thumbnail; before the first one, the screen as it is.
    fn thumbnail(&self) -> Thumbnail {
        self.common
            .thumbnail
            .clone()
            .unwrap_or_else(|| Thumbnail::Text {
                rows: self.screen.text_rows(),
            })
    }

    fn write_marker(&mut self, at: Duration, text: &str) -> std::io::Result<()> {
        self.recorder.event(at, &CastEvent::Marker(text.into()))
    }

    /// A character cut by the very end still belongs in the record (as U+FFFD).
    fn before_end(&mut self, at: Duration) {
        let tail = self.out_utf8.finish();
        if !tail.is_empty() {
            self.record(at, CastEvent::Output(tail));
        }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "paste_tests.rs"]
mod paste_tests;

//! The sans-IO core of one desktop (RDP) session: fan-out of graphics with join and
//! resync at fragment boundaries, input gating and Lock, frame-acknowledgement policy,
//! keystrokes, where the user points (for observers and the recording), thumbnails and
//! the recording.
//!
//! The driver owns the sockets, the [`vigil_rdp::Stream`] and the relay's decoded screen
//! ([`ScreenCopy`](super::screen_copy::ScreenCopy)); it hands the core the stream's outputs and the user's messages,
//! performs the [`DeskCmd`]s it gets back, and runs the core's [`ScreenJob`]s off the
//! runtime. Nothing the core does decodes or encodes pixels: every call is cheap, so a
//! request handler that takes the core's mutex never waits for the screen.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use vigil_rdp::{InputGate, KeyMap, KeyboardLayout, SessionParams};
use vigil_wire::api::SessionId;
use vigil_wire::desktop::{raw_key, DesktopParams, InputEvent};
use vigil_wire::live::{
    ClientControl, ClientMsg, Participant, ServerControl, ServerMsg, Thumbnail,
};
use vigil_wire::recording::Kind;
use vigil_wire::RDP_LOCK_MESSAGE;

use super::ack::AckPacer;
use super::pointer::PointerPacer;
use super::recorder::DesktopRecorder;
use super::screen_copy::ScreenOp;
use crate::common::{Common, Phase, SessionCore};
use crate::HubEvent;

/// A keyframe at most this often (and only if graphics arrived since the last one).
pub(crate) const KEYFRAME_EVERY: Duration = Duration::from_secs(10);
/// Width of the thumbnails in the Active Sessions feed.
const THUMBNAIL_WIDTH: u16 = 320;

/// What the driver must do upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeskCmd {
    /// Framed bytes for the server (input, releases).
    Send(Vec<u8>),
    /// The user's browser decoded up to the end of this frame: `Stream::on_primary_decoded`.
    Ack(u32),
    /// `Stream::set_auto_ack`: on while no user's browser paces the server.
    AutoAck(bool),
}

/// The input gate and decoder values of the current activation.
struct Active {
    gate: InputGate,
    params: DesktopParams,
}

pub(crate) struct DesktopConfig {
    pub id: SessionId,
    pub viewer_queue: usize,
    pub thumbnail_interval: Duration,
    pub recorder: Box<dyn DesktopRecorder>,
    pub events: broadcast::Sender<HubEvent>,
    /// The layout announced to the server: the keystroke log reads keys in it.
    pub keyboard_layout: KeyboardLayout,
}

pub(crate) struct Desktop {
    common: Common,
    keyboard_layout: KeyboardLayout,
    active: Option<Active>,
    /// Between the server's Deactivate All and the next activation: no decoder.
    deactivated: bool,
    /// The last PDU forwarded left the stream outside any fragmented update: a fresh
    /// decoder may start here.
    at_boundary: bool,
    /// What the screen copy has yet to apply, and how many ops were queued in all.
    screen_ops: Vec<ScreenOp>,
    screen_ops_queued: u64,
    /// A keyframe is due at the next snapshot.
    keyframe_wanted: bool,
    recorder: Box<dyn DesktopRecorder>,
    graphics_since_thumbnail: bool,
    last_keyframe_at: Duration,
    deferred: Vec<DeskCmd>,
    /// Who acknowledges the server's frames: the user's browser or the relay.
    ack: AckPacer,
    /// The user's accepted mouse moves, shown to observers and recorded.
    pointer: PointerPacer,
}

pub(crate) fn wire_params(p: &SessionParams) -> DesktopParams {
    DesktopParams {
        io_channel_id: p.io_channel_id,
        user_channel_id: p.user_channel_id,
        share_id: p.share_id,
        width: p.width,
        height: p.height,
    }
}

pub(super) fn t_ms(at: Duration) -> u32 {
    u32::try_from(at.as_millis()).unwrap_or(u32::MAX)
}

impl Desktop {
    pub(crate) fn new(c: DesktopConfig) -> Desktop {
        Desktop {
            common: Common::new(c.id, c.viewer_queue, c.thumbnail_interval, c.events),
            keyboard_layout: c.keyboard_layout,
            active: None,
            deactivated: false,
            at_boundary: true,
            screen_ops: Vec::new(),
            screen_ops_queued: 0,
            keyframe_wanted: false,
            recorder: c.recorder,
            graphics_since_thumbnail: false,
            last_keyframe_at: Duration::ZERO,
            deferred: Vec::new(),
            ack: AckPacer::default(),
            pointer: PointerPacer::default(),
        }
    }

    // ---- getters -------------------------------------------------------------------

    /// Commands produced outside the driver (the releases of a lock).
    pub(crate) fn take_deferred(&mut self) -> Vec<DeskCmd> {
        std::mem::take(&mut self.deferred)
    }

    fn can_snapshot(&self) -> bool {
        !self.deactivated && self.active.is_some() && self.at_boundary
    }

    fn queue_screen_op(&mut self, op: ScreenOp) {
        self.screen_ops.push(op);
        self.screen_ops_queued += 1;
    }

    // ---- inputs --------------------------------------------------------------------

    /// Connected and activated: `learned_pin` is the certificate pin on first use.
    pub(crate) fn connected(
        &mut self,
        params: &SessionParams,
        learned_pin: Option<String>,
        at: Duration,
    ) {
        if self.common.connected(learned_pin) {
            self.activated(params, at);
        }
    }

    /// A (re)activation: fresh screen and encoder values; every viewer rebuilds its
    /// decoder; the recording gets `Params` and a (blank) keyframe.
    pub(crate) fn activated(&mut self, params: &SessionParams, at: Duration) {
        if self.common.phase != Phase::Live {
            return;
        }
        let wire = wire_params(params);
        match &mut self.active {
            Some(a) => {
                a.gate.set_params(params);
                a.params = wire.clone();
            }
            None => {
                let mut gate = InputGate::new(params, KeyMap::new(self.keyboard_layout));
                if self.common.locked {
                    // Locked before the connection: nothing is held yet.
                    let _ = gate.lock();
                }
                self.active = Some(Active {
                    gate,
                    params: wire.clone(),
                });
            }
        }
        self.queue_screen_op(ScreenOp::Reset(params.clone()));
        self.deactivated = false;
        self.at_boundary = true;
        self.pointer.clear();
        self.common
            .fanout
            .control(ServerControl::DesktopActivated { params: wire });
        let blank = blank_payload();
        self.write_keyframe(at, &blank);
        let (active, locked) = (&self.active, self.common.locked);
        if let Some(active) = active {
            // Every viewer starts from a picture, as a joiner does (here the blank one);
            // lagging ones get the whole join instead.
            self.common
                .fanout
                .output(ServerMsg::DesktopSnapshot(blank.clone()), &|| {
                    join_messages(active, &blank, locked)
                });
        }
    }

    /// The server deactivated the session: hold everything until it is activated again.
    pub(crate) fn deactivated(&mut self) {
        self.deactivated = true;
    }

    /// One fast-path PDU for the browsers: recorder first (it never drops), then the
    /// relay's screen (queued for the screen copy), then the viewers (who may drop; the
    /// next snapshot resynchronises them). `at_boundary`: the stream is outside any
    /// fragmented update after this PDU.
    pub(crate) fn graphics(
        &mut self,
        pdu: Bytes,
        frame_end: Option<u32>,
        at_boundary: bool,
        at: Duration,
    ) {
        if self.common.phase != Phase::Live || self.deactivated || self.active.is_none() {
            return;
        }
        if let Err(e) = self.recorder.record(Kind::Graphics, t_ms(at), &pdu) {
            self.common.recording_failed(e);
            return;
        }
        let msg = ServerMsg::Graphics {
            frame_end,
            pdu: pdu.to_vec(),
        };
        self.queue_screen_op(ScreenOp::Feed(pdu));
        self.at_boundary = at_boundary;
        self.graphics_since_thumbnail = true;
        if let Some(id) = frame_end {
            self.ack.frame_ended(id, at);
        }
        self.common.fanout.output_no_resync(msg);
        if at_boundary {
            if at.saturating_sub(self.last_keyframe_at) >= KEYFRAME_EVERY {
                self.keyframe_wanted = true;
            }
            self.show_pointer(at, false);
        }
    }

    /// A message from a participant. Only the user's count: observers can neither type
    /// nor pace the server (their `FrameDecoded` is ignored).
    pub(crate) fn client_msg(
        &mut self,
        from: Participant,
        msg: ClientMsg,
        at: Duration,
    ) -> Vec<DeskCmd> {
        if from != Participant::User || self.common.phase != Phase::Live {
            return Vec::new();
        }
        match msg {
            ClientMsg::Control(ClientControl::FrameDecoded { frame_id }) => {
                self.ack.decoded(frame_id)
            }
            ClientMsg::Control(ClientControl::Input { events }) => self.input(&events, at),
            // Terminal messages mean nothing to a desktop.
            ClientMsg::Input(_)
            | ClientMsg::Control(ClientControl::Hello { .. } | ClientControl::Resize { .. }) => {
                Vec::new()
            }
        }
    }

    /// The user's input through the gate. While locked the gate drops everything: there is
    /// no other path to the server (no clipboard or other virtual channel is attached at
    /// all, so there is no client → server clipboard to gate either).
    fn input(&mut self, events: &[InputEvent], at: Duration) -> Vec<DeskCmd> {
        if self.common.locked || self.deactivated {
            return Vec::new();
        }
        let Some(active) = self.active.as_mut() else {
            return Vec::new();
        };
        let out = match active.gate.handle(events) {
            Ok(out) => out,
            Err(error) => {
                tracing::warn!(id = %self.common.id, %error, "Desktop input not encoded");
                return Vec::new();
            }
        };
        if let Some(to) = out.moved_to {
            self.pointer.moved(to);
        }
        for entry in out.keystrokes {
            // The text is the relay's reading of the scancodes; the browser's only a flag.
            let raw = raw_key(entry.scancode, entry.extended, entry.down);
            let mut keystroke = self.common.next_keystroke(at, entry.key, raw);
            keystroke.browser_text = entry.browser_text;
            if let Err(e) = self.recorder.keystroke(&keystroke) {
                self.common.recording_failed(e);
                return Vec::new();
            }
            // Lagging observers are resynchronised by the next snapshot.
            self.common.publish_keystroke(keystroke, None);
        }
        self.show_pointer(at, false);
        out.to_server.into_iter().map(DeskCmd::Send).collect()
    }

    /// When the driver should call [`Desktop::show_pointer`] next, so that the last
    /// position of a burst of moves is not left pending. `None` while no position could go
    /// out (inside a fragmented update the next graphics at a boundary sends it instead).
    pub(crate) fn pointer_due(&self) -> Option<Duration> {
        if self.common.phase != Phase::Live || !self.can_snapshot() {
            return None;
        }
        self.pointer.due()
    }

    /// The user's latest accepted pointer position as a PTR_POSITION update, for the
    /// observers, the recording and the relay's screen (so joiners and keyframes carry it),
    /// but not for the user, whose browser shows its own cursor. Paced (`force` skips
    /// that), and only at a fragment boundary, where a PDU may start a new update.
    pub(crate) fn show_pointer(&mut self, at: Duration, force: bool) {
        if self.common.phase != Phase::Live || !self.can_snapshot() {
            return;
        }
        let Some((x, y)) = self.pointer.take(at, force) else {
            return;
        };
        let pdu = match vigil_rdp::pointer::position_pdu(x, y) {
            Ok(pdu) => pdu,
            Err(error) => {
                tracing::debug!(%error, "Pointer position not encoded");
                return;
            }
        };
        if let Err(e) = self.recorder.record(Kind::Graphics, t_ms(at), &pdu) {
            self.common.recording_failed(e);
            return;
        }
        self.queue_screen_op(ScreenOp::Feed(Bytes::from(pdu.clone())));
        let msg = ServerMsg::Graphics {
            frame_end: None,
            pdu,
        };
        self.common
            .fanout
            .shed_with(Some(msg), Some(Participant::Observer), None);
    }

    /// Periodic work: the user leaving (release what they held, pace by auto-ack), the
    /// acknowledgement mode and the pointer. (Thumbnails and lagging viewers with room
    /// again are the next [`ScreenJob`]'s.)
    pub(crate) fn tick(&mut self, at: Duration) -> Vec<DeskCmd> {
        let mut cmds = Vec::new();
        if self.common.phase != Phase::Live {
            return cmds;
        }
        if self
            .ack
            .user_left(self.common.fanout.has(Participant::User))
        {
            cmds.extend(self.release_all().into_iter().map(DeskCmd::Send));
        }
        cmds.extend(self.ack.tick(at));
        self.show_pointer(at, false);
        cmds
    }

    /// Releases for every key and button the user holds (user left, disconnect).
    pub(crate) fn release_all(&mut self) -> Vec<Vec<u8>> {
        let Some(active) = self.active.as_mut() else {
            return Vec::new();
        };
        active.gate.release_all().unwrap_or_else(|error| {
            tracing::warn!(%error, "Release PDUs not encoded");
            Vec::new()
        })
    }
}

impl SessionCore for Desktop {
    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }

    /// A participant joins. Once live, its queue starts out lagging: the next snapshot
    /// (the driver's next [`ScreenJob`], at a fragment boundary) gives it the activation
    /// values and the picture, then it carries on live. The hub wakes the driver.
    fn attach(&mut self, participant: Participant) -> Option<mpsc::Receiver<ServerMsg>> {
        let rx = match self.common.phase {
            Phase::Ended => return None,
            Phase::Connecting => {
                let mut first = vec![ServerMsg::Control(self.common.connecting())];
                if self.common.locked {
                    first.push(ServerMsg::Control(ServerControl::Locked {
                        message: RDP_LOCK_MESSAGE.into(),
                    }));
                }
                self.common.fanout.add(participant, first)
            }
            Phase::Live => self.common.fanout.add_pending(participant),
        };
        if participant == Participant::User {
            self.ack.user_joined();
        }
        Some(rx)
    }

    fn size(&self) -> (u16, u16) {
        self.active
            .as_ref()
            .map_or((0, 0), |a| (a.params.width, a.params.height))
    }

    /// Lock: the gate releases whatever the user holds (deferred to the driver, which
    /// the hub wakes), then drops all input. Unlock lets input through again.
    fn set_locked(&mut self, locked: bool, at: Duration) {
        if !self.common.switch_lock(locked) {
            return;
        }
        if locked {
            // Moves accepted before the lock still show (unless mid-fragment); nothing is
            // injected while locked.
            self.show_pointer(at, true);
            self.pointer.clear();
        }
        if let Some(active) = self.active.as_mut() {
            if locked {
                match active.gate.lock() {
                    Ok(pdus) => self.deferred.extend(pdus.into_iter().map(DeskCmd::Send)),
                    Err(error) => {
                        tracing::warn!(id = %self.common.id, %error, "Release PDUs not encoded")
                    }
                }
            } else {
                active.gate.unlock();
            }
        }
        self.marker(at, if locked { "lock" } else { "unlock" });
        self.common.announce_lock(RDP_LOCK_MESSAGE);
    }

    fn thumbnail(&self) -> Thumbnail {
        self.common
            .thumbnail
            .clone()
            .unwrap_or(Thumbnail::Text { rows: Vec::new() })
    }

    fn write_marker(&mut self, at: Duration, text: &str) -> std::io::Result<()> {
        self.recorder
            .record(Kind::Marker, t_ms(at), text.as_bytes())
    }
}

#[path = "snapshots.rs"]
mod snapshots;

pub(crate) use snapshots::snapshot_payload;
use snapshots::{blank_payload, join_messages};

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "lock_hold_tests.rs"]
mod lock_hold;

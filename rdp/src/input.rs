//! Sans-IO input gate: typed input events from the user's browser → RDP input PDUs, with a
//! keystroke log and Lock. Browsers never send raw input PDUs; everything upstream is built
//! here from typed events, so a locked session provably sends nothing but the releases.

use ironrdp_core::WriteBuf;
use ironrdp_input::{Database, MouseButton, MousePosition, Operation, Scancode, WheelRotations};
use ironrdp_pdu::input::fast_path::{
    FastPathInput, FastPathInputEvent, KeyboardFlags as FpKeyFlags,
};
use ironrdp_pdu::input::scan_code::KeyboardFlags as ScanFlags;
use ironrdp_pdu::input::sync::SyncToggleFlags;
use ironrdp_pdu::input::unicode::KeyboardFlags as UnicodeFlags;
use ironrdp_pdu::input::{
    InputEvent as SlowEvent, InputEventPdu, ScanCodePdu, SyncPdu, UnicodePdu,
};
use ironrdp_pdu::rdp::headers::ShareDataPdu;
use serde::{Deserialize, Serialize};
pub use vigil_wire::desktop::InputEvent;

use crate::error::StreamError;
use crate::keymap::KeyMap;
use crate::SessionParams;

/// The most events one fast-path input PDU may carry (its count is 4 bits).
const MAX_EVENTS_PER_PDU: usize = 15;

/// The most characters of a browser's key text kept when it is flagged.
const MAX_BROWSER_TEXT: usize = 32;

/// One keystroke-log line: what the relay sent to the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeystrokeEntry {
    pub scancode: u8,
    pub extended: bool,
    pub down: bool,
    /// The relay's reading of the key in the session's layout ([`crate::keymap`]).
    pub key: String,
    /// The browser's text for the key, only when it disagrees with `key` (at most 32
    /// characters, then `…`).
    pub browser_text: Option<String>,
}

/// The effects of one batch of input events.
#[derive(Debug, Default)]
pub struct InputOutput {
    /// Framed PDUs for the server, in order.
    pub to_server: Vec<Vec<u8>>,
    /// One entry per key event that went upstream.
    pub keystrokes: Vec<KeystrokeEntry>,
    /// Events dropped because the session is locked (or the event was invalid).
    pub dropped: usize,
    /// Where the last mouse move that went upstream put the pointer (clamped to the desktop).
    pub moved_to: Option<(u16, u16)>,
}

pub struct InputGate {
    db: Database,
    params: SessionParams,
    locked: bool,
    /// Reads the forwarded keys as text, following the same events as the target.
    keymap: KeyMap,
}

impl InputGate {
    /// `keymap` reads the keys in the layout announced to the server for this session.
    pub fn new(params: &SessionParams, keymap: KeyMap) -> Self {
        Self {
            db: Database::new(),
            params: params.clone(),
            locked: false,
            keymap,
        }
    }

    /// New activation values (after a reactivation): the encoding may change.
    pub fn set_params(&mut self, params: &SessionParams) {
        self.params = params.clone();
    }

    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// Translate events to input PDUs; nothing at all while locked.
    pub fn handle(&mut self, events: &[InputEvent]) -> Result<InputOutput, StreamError> {
        let mut out = InputOutput::default();
        if self.locked {
            out.dropped = events.len();
            return Ok(out);
        }
        let mut fp_events = Vec::new();
        for event in events {
            if *event == InputEvent::ReleaseAll {
                // The user's page lost focus: nothing stays held on the target.
                fp_events.extend(self.db.release_all());
                self.keymap.release_all();
                continue;
            }
            let Some(op) = self.operation(event) else {
                out.dropped += 1;
                continue;
            };
            let move_to = match &op {
                Operation::MouseMove(to) => Some((to.x, to.y)),
                _ => None,
            };
            let produced = self.db.apply([op]);
            if !produced.is_empty() && move_to.is_some() {
                out.moved_to = move_to;
            }
            if let InputEvent::Key {
                scancode,
                extended,
                down,
                key_text,
            } = event
            {
                // Log only what actually goes upstream: the database suppresses a release of
                // a key that is not down (and repeats are sent as presses). The text is the
                // relay's reading; the browser's is kept only where it disagrees.
                if !produced.is_empty() {
                    let read = self.keymap.key(*scancode, *extended, *down);
                    let browser_text = key_text
                        .as_deref()
                        .filter(|t| !t.is_empty() && !read.agrees_with(t))
                        .map(bounded);
                    out.keystrokes.push(KeystrokeEntry {
                        scancode: *scancode,
                        extended: *extended,
                        down: *down,
                        key: read.text,
                        browser_text,
                    });
                }
            }
            fp_events.extend(produced);
        }
        out.to_server = self.encode(fp_events)?;
        Ok(out)
    }

    /// Lock: release every key and button the relay forwarded as pressed (so nothing stays
    /// held on the target), then drop all input until [`InputGate::unlock`].
    pub fn lock(&mut self) -> Result<Vec<Vec<u8>>, StreamError> {
        self.locked = true;
        let releases: Vec<FastPathInputEvent> = self.db.release_all().into_iter().collect();
        self.keymap.release_all();
        self.encode(releases)
    }

    pub fn unlock(&mut self) {
        self.locked = false;
    }

    /// Releases for a disconnect (the same PDUs as `lock`, without locking).
    pub fn release_all(&mut self) -> Result<Vec<Vec<u8>>, StreamError> {
        let releases: Vec<FastPathInputEvent> = self.db.release_all().into_iter().collect();
        self.keymap.release_all();
        self.encode(releases)
    }

    fn operation(&self, event: &InputEvent) -> Option<Operation> {
        Some(match *event {
            InputEvent::Key {
                scancode,
                extended,
                down,
                ..
            } => {
                let code = Scancode::from_u8(extended, scancode);
                if down {
                    Operation::KeyPressed(code)
                } else {
                    Operation::KeyReleased(code)
                }
            }
            InputEvent::MouseMove { x, y } => Operation::MouseMove(MousePosition {
                x: x.min(self.params.width.saturating_sub(1)),
                y: y.min(self.params.height.saturating_sub(1)),
            }),
            InputEvent::MouseButton { button, down } => {
                let button = MouseButton::from_web_button(button)?;
                if down {
                    Operation::MouseButtonPressed(button)
                } else {
                    Operation::MouseButtonReleased(button)
                }
            }
            InputEvent::Wheel { delta, horizontal } => {
                if horizontal && !self.params.horizontal_wheel() {
                    return None;
                }
                Operation::WheelRotations(WheelRotations {
                    is_vertical: !horizontal,
                    rotation_units: delta,
                })
            }
            InputEvent::ReleaseAll => return None,
        })
    }

    /// Fast-path input when the server allows it, else slow-path Input PDUs.
    fn encode(&self, events: Vec<FastPathInputEvent>) -> Result<Vec<Vec<u8>>, StreamError> {
        let enc = |e: ironrdp_core::EncodeError| StreamError::Encode(e.to_string());
        let mut pdus = Vec::new();
        for chunk in events.chunks(MAX_EVENTS_PER_PDU) {
            if self.params.fast_path_input() {
                let pdu = FastPathInput::new(chunk.to_vec())
                    .map_err(|e| StreamError::Encode(e.to_string()))?;
                pdus.push(ironrdp_core::encode_vec(&pdu).map_err(enc)?);
            } else {
                let slow = InputEventPdu(chunk.iter().filter_map(to_slow_path).collect());
                let mut w = WriteBuf::new();
                ironrdp_pdu::rdp::headers::encode_share_data(
                    self.params.user_channel_id,
                    self.params.io_channel_id,
                    self.params.share_id,
                    ShareDataPdu::Input(slow),
                    &mut w,
                )
                .map_err(enc)?;
                pdus.push(w.into_inner());
            }
        }
        Ok(pdus)
    }
}

/// A browser's text as logged: at most [`MAX_BROWSER_TEXT`] characters.
fn bounded(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_BROWSER_TEXT).collect();
    if text.chars().nth(MAX_BROWSER_TEXT).is_some() {
        out.push('…');
    }
    out
}

/// The slow-path equivalent of a fast-path input event (MS-RDPBCGR 2.2.8.1.1.3.1.1).
fn to_slow_path(event: &FastPathInputEvent) -> Option<SlowEvent> {
    Some(match event {
        FastPathInputEvent::KeyboardEvent(flags, code) => {
            let mut f = ScanFlags::empty();
            f.set(ScanFlags::RELEASE, flags.contains(FpKeyFlags::RELEASE));
            f.set(ScanFlags::EXTENDED, flags.contains(FpKeyFlags::EXTENDED));
            f.set(ScanFlags::EXTENDED_1, flags.contains(FpKeyFlags::EXTENDED1));
            SlowEvent::ScanCode(ScanCodePdu {
                flags: f,
                key_code: u16::from(*code),
            })
        }
        FastPathInputEvent::UnicodeKeyboardEvent(flags, code) => SlowEvent::Unicode(UnicodePdu {
            flags: if flags.contains(FpKeyFlags::RELEASE) {
                UnicodeFlags::RELEASE
            } else {
                UnicodeFlags::empty()
            },
            unicode_code: *code,
        }),
        FastPathInputEvent::MouseEvent(m) => SlowEvent::Mouse(*m),
        FastPathInputEvent::MouseEventEx(m) => SlowEvent::MouseX(*m),
        FastPathInputEvent::MouseEventRel(m) => SlowEvent::MouseRel(*m),
        FastPathInputEvent::SyncEvent(flags) => SlowEvent::Sync(SyncPdu {
            flags: SyncToggleFlags::from_bits_truncate(u32::from(flags.bits())),
        }),
        FastPathInputEvent::QoeEvent(_) => return None,
    })
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;

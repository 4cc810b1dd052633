//! Vigil's RDP relay core.
//!
//! The relay connects to an RDP target with the asset's managed credential ([`connect`]), then
//! splits the server's byte stream ([`stream`]): X.224 traffic is answered here, graphics are
//! normalised to fast-path PDUs that browsers decode themselves (with
//! `ironrdp_session::fast_path::Processor`, built from the plain values in [`SessionParams`]).
//! The relay keeps its own decoded copy of the screen ([`screen`]) for late joiners, thumbnails
//! and replay keyframes, and gates user input for Lock ([`input`]), reading the keys it forwards
//! as text in the session's keyboard layout ([`keymap`]).
//!
//! Everything but [`connect`] is sans-IO: bytes in, effects out, testable without sockets.

// Protocol code converts between integer widths with `From`/`TryFrom` only: an `as` cast
// truncates silently.
#![warn(clippy::as_conversions)]

pub mod connect;
mod error;
mod fastpath;
pub mod input;
pub mod keymap;
pub mod pointer;
pub mod screen;
mod size;
pub mod stream;

use ironrdp_pdu::rdp::capability_sets::InputFlags;
use serde::{Deserialize, Serialize};

pub use connect::{connect, connect_reporting, ConnectOptions, Connected, OnStep, Target};
pub use error::{ConnectError, ConnectErrorKind, ScreenError, StreamError};
pub use input::{InputEvent, InputGate, InputOutput, KeystrokeEntry};
pub use keymap::{KeyMap, KeyText};
pub use screen::Screen;
pub use size::{DesktopSize, SizeError};
pub use stream::{Output, Stream};
pub use vigil_wire::desktop::KeyboardLayout;

/// How the relay asks the server to encode graphics.
///
/// Neither choice enables bulk compression or the graphics pipeline (EGFX): both keep decoder
/// state out of the stream, so a late joiner can start from a relay snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// RemoteFX surface bits (with frame markers and acknowledgements).
    #[default]
    RemoteFx,
    /// Legacy bitmap updates (xrdp sends these over the slow path; the relay re-wraps them).
    Bitmap,
}

/// The values a browser needs to build its fast-path decoder, sent on activation and again after
/// every reactivation. Plain values only: no connector types cross to the browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionParams {
    pub io_channel_id: u16,
    pub user_channel_id: u16,
    pub share_id: u32,
    pub width: u16,
    pub height: u16,
    /// The server's input capability flags (`TS_INPUT_CAPABILITYSET.inputFlags`).
    pub input_flags: u16,
}

impl SessionParams {
    /// Fast-path input is only allowed when the server advertises it (MS-RDPBCGR 2.2.7.1.6);
    /// some servers drop the connection on unsolicited fast-path input.
    pub fn fast_path_input(&self) -> bool {
        InputFlags::from_bits_truncate(self.input_flags)
            .intersects(InputFlags::FASTPATH_INPUT | InputFlags::FASTPATH_INPUT_2)
    }

    /// Horizontal wheel events need `TS_INPUT_FLAG_MOUSE_HWHEEL`.
    pub fn horizontal_wheel(&self) -> bool {
        InputFlags::from_bits_truncate(self.input_flags).contains(InputFlags::TS_MOUSE_HWHEEL)
    }
}

/// Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, see `scripts/fuzz.sh`): thin
/// wrappers that reach the crate-private fast-path peek and pointer state with arbitrary bytes.
/// Not an API; each function must return normally on any input.
#[doc(hidden)]
pub mod fuzzing {
    use ironrdp_pdu::fast_path::UpdateCode;
    use ironrdp_pdu::Action;

    use crate::fastpath::{Peek, MAX_REASSEMBLED};
    use crate::pointer::{self, PointerState};

    /// Splits `data` into PDUs the way [`crate::Stream::feed`] does (`find_size`, stopping at a
    /// framing error or a torn tail), runs every fast-path one through a pointer-tracking
    /// [`Peek`] (fragment reassembly, surface commands, RFX headers, pointer state), then builds
    /// what a snapshot would replay: the RFX prelude and the pointer PDUs.
    pub fn fastpath_peek(data: &[u8]) {
        let mut peek = Peek::tracking_pointer();
        let mut rest = data;
        while let Ok(Some(info)) = ironrdp_pdu::find_size(rest) {
            let Some(pdu) = rest.get(..info.length).filter(|p| !p.is_empty()) else {
                break;
            };
            rest = &rest[info.length..];
            if info.action == Action::FastPath {
                let result = peek.inspect(pdu);
                assert!(peek.reassembly_len() <= MAX_REASSEMBLED);
                if result.too_large {
                    assert!(!peek.in_fragment());
                }
            }
        }
        let _ = peek.rfx_prelude();
        if let Some(pointer) = peek.pointer() {
            let _ = pointer.replay();
        }
    }

    /// The first byte picks an update code, the rest is its payload, fed to a [`PointerState`];
    /// the same bytes also go through the slow-path pointer mapping. The state's replay, fed
    /// to a fresh peek, must replay identically (a late joiner ends up with the same pointer).
    pub fn pointer_update(data: &[u8]) {
        const CODES: [UpdateCode; 12] = [
            UpdateCode::Orders,
            UpdateCode::Bitmap,
            UpdateCode::Palette,
            UpdateCode::Synchronize,
            UpdateCode::SurfaceCommands,
            UpdateCode::HiddenPointer,
            UpdateCode::DefaultPointer,
            UpdateCode::PositionPointer,
            UpdateCode::ColorPointer,
            UpdateCode::CachedPointer,
            UpdateCode::NewPointer,
            UpdateCode::LargePointer,
        ];
        let Some((&selector, payload)) = data.split_first() else {
            return;
        };
        let mut state = PointerState::default();
        state.update(CODES[usize::from(selector) % CODES.len()], payload);
        if let Some((code, attribute)) = pointer::slow_path_to_fast_path(data) {
            state.update(code, attribute);
        }
        let Ok(replay) = state.replay() else {
            return;
        };
        let mut peek = Peek::tracking_pointer();
        for pdu in &replay {
            let result = peek.inspect(pdu);
            assert!(!result.malformed && !result.too_large);
        }
        let again = peek.pointer().map(PointerState::replay);
        assert!(matches!(again, Some(Ok(ref r)) if *r == replay));
    }
}

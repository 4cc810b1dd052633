//! Vigil's RDP relay core.
//!
//! The relay connects to an RDP target with the asset's managed credential ([`connect`]), then
//! splits the server's byte stream ([`stream`]): X.224 traffic is answered here, graphics are
//! normalised to fast-path PDUs that browsers decode themselves (with
//! `ironrdp_session::fast_path::Processor`, built from the plain values in [`SessionParams`]).
//! The relay keeps its own decoded copy of the screen ([`screen`]) for late joiners, thumbnails
//! and replay keyframes, and gates user input for Lock ([`input`]).
//!
//! Everything but [`connect`] is sans-IO: bytes in, effects out, testable without sockets.

pub mod connect;
mod error;
mod fastpath;
pub mod input;
pub mod pointer;
pub mod screen;
mod size;
pub mod stream;

use ironrdp_pdu::rdp::capability_sets::InputFlags;
use serde::{Deserialize, Serialize};

pub use connect::{connect, ConnectOptions, Connected, Target};
pub use error::{ConnectError, ConnectErrorKind, ScreenError, StreamError};
pub use input::{InputEvent, InputGate, InputOutput, KeystrokeEntry};
pub use screen::Screen;
pub use size::{DesktopSize, SizeError};
pub use stream::{Output, Stream};

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

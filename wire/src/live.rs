//! Messages on Vigil's WebSockets.
//!
//! - The session stream (`/api/v1/sessions/{id}/stream`): one socket per participant.
//!   The session's owner is the interactive user; everyone else the relay lets in is a
//!   read-only observer. Terminal bytes travel as binary frames, everything else as
//!   typed control messages (see [`crate::codec`]).
//! - The Active Sessions feed (`/api/v1/live`): pushes the list and its thumbnails.

use serde::{Deserialize, Serialize};

use crate::api::{Keystroke, Session, SessionId};
use crate::desktop::{DesktopParams, InputEvent};
use crate::end::{EndReason, ErrorCode};

/// From the browser to the relay on a session stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// Bytes the user typed (binary frame). Dropped by the relay for observers and while locked.
    Input(Vec<u8>),
    Control(ClientControl),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientControl {
    /// First message on every socket.
    Hello { version: u16 },
    /// The user's terminal changed size. Ignored from observers and while locked.
    Resize { cols: u16, rows: u16 },
    /// Desktop input from the user. Dropped for observers and while locked.
    Input { events: Vec<InputEvent> },
    /// The browser has decoded the graphics up to the end of frame `frame_id`. Only the
    /// user's reports pace the server (frame acknowledgements); observers' are ignored.
    FrameDecoded { frame_id: u32 },
}

/// From the relay to the browser on a session stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg {
    /// Live terminal output (binary frame).
    Output(Vec<u8>),
    /// The whole current screen, sent once to a joiner before live output:
    /// the browser resets its terminal and writes it (binary frame).
    Snapshot(Vec<u8>),
    /// One fast-path PDU of desktop graphics or pointer updates (binary frame). `frame_end`
    /// is set when the PDU ends frame N: the user's browser reports it back with
    /// `FrameDecoded`. Observers also get the user's pointer positions this way.
    Graphics {
        frame_end: Option<u32>,
        pdu: Vec<u8>,
    },
    /// A complete desktop picture for a joiner or a replay seek: fast-path PDUs
    /// (RemoteFX headers, the screen as uncompressed tiles, then the pointer cache, the
    /// current pointer and its position), concatenated and deflate-compressed (zlib
    /// format) (binary frame).
    DesktopSnapshot(Vec<u8>),
    Control(ServerControl),
}

/// The participant's part in a session, as the relay decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Participant {
    /// The session's owner: input goes to the target (unless locked).
    User,
    /// Read-only: nothing from an observer reaches the target.
    Observer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerControl {
    /// Answer to `Hello`.
    Welcome {
        version: u16,
        participant: Participant,
        session: Session,
        cols: u16,
        rows: u16,
    },
    /// The session is connecting to its target (sent to the user while waiting): once
    /// on attach, then again as each step of the connection completes, `done` naming the
    /// last step done (`None` before the first). `done` is omitted when `None`, and an
    /// older peer ignores it: no version bump.
    Connecting {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        done: Option<crate::connect::ConnectStep>,
    },
    /// The target is connected and the stream is live.
    Connected,
    /// A desktop session is (re)activated: (re)build the decoder with these values.
    DesktopActivated {
        params: DesktopParams,
    },
    /// The user's terminal size as the target now has it.
    Resized {
        cols: u16,
        rows: u16,
    },
    /// Input is blocked; `message` is what the locked user must see.
    Locked {
        message: String,
    },
    Unlocked,
    Keystroke {
        keystroke: Keystroke,
    },
    /// The session has ended; no more messages follow.
    Ended {
        reason: EndReason,
    },
    /// A failure the participant must see (target unreachable, authentication refused…).
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The session's live participants: sent on attach and on every change, only to
    /// viewers with monitoring rights on the session (never to link viewers, nor to the
    /// session's own user unless they monitor the asset).
    Participants {
        participants: Vec<crate::share::LiveParticipant>,
    },
}

/// A thumbnail of a session's current screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Thumbnail {
    /// Text of a terminal screen, one string per row.
    Text { rows: Vec<String> },
    /// A PNG of a desktop, base64 encoded.
    Png { base64: String },
}

/// The Active Sessions feed. Each socket only ever receives sessions its user may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedMsg {
    /// The complete list, sent first.
    Sessions { sessions: Vec<Session> },
    /// A session started or changed (locked, unlocked…).
    Upsert { session: Session },
    /// A session left Active Sessions.
    Removed {
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        id: SessionId,
    },
    Thumbnail {
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        id: SessionId,
        thumbnail: Thumbnail,
    },
}

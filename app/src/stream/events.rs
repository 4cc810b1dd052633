//! What a stream is told ([`Input`]) and what it asks of its page ([`Effect`], with the
//! [`Notice`]s written in the terminal), for [`super::StreamState::apply`].

use vigil_wire::api::{Keystroke, Session};
use vigil_wire::desktop::DesktopParams;
use vigil_wire::live::{ClientMsg, ServerControl, ServerMsg};

/// What a stream is told.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A socket is being opened (first, or again after a failure).
    Opening,
    /// The socket is open.
    Opened,
    /// A message from the relay.
    Server(ServerMsg),
    /// The socket closed, or could not open: a refused upgrade looks like a close.
    Closed(Close),
    /// What `GET /sessions/:id` answered after that close ([`Effect::Check`]).
    Checked(Close, Check),
    /// The session as a control (Lock, Terminate…) returned it.
    Refreshed(Session),
    /// The stream cannot run: its terminal or its socket could not be made. `retry`: a
    /// new socket may help.
    Failed { message: String, retry: bool },
}

impl From<ServerMsg> for Input {
    fn from(msg: ServerMsg) -> Self {
        Input::Server(msg)
    }
}

impl From<ServerControl> for Input {
    fn from(c: ServerControl) -> Self {
        Input::Server(ServerMsg::Control(c))
    }
}

/// How a socket closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    /// It had opened (a lost connection), rather than never opening.
    pub was_open: bool,
}

/// What the relay's REST API says of a session whose stream closed.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// It does not exist, or the viewer may no longer see it.
    Unavailable,
    Found(Session),
    /// The API could not be asked (the message says why).
    Failed(String),
}

/// A line the page writes in the terminal itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The lock message, as the locked user must see it.
    Locked(String),
    Unlocked,
    /// The end reason.
    Ended(String),
    /// This viewer's access ended; the session goes on without them.
    AccessEnded(String),
    /// The relay's failure, `message (code)`.
    Error(String),
}

impl Notice {
    /// The line, coloured, on a line of its own.
    pub fn line(&self) -> String {
        let (colour, text) = match self {
            Notice::Locked(m) => (31, m.clone()),
            Notice::Unlocked => (32, "Your session has been unlocked.".to_string()),
            Notice::Ended(r) => (33, format!("Session ended: {r}")),
            Notice::AccessEnded(m) => (33, m.clone()),
            Notice::Error(e) => (31, format!("Error: {e}")),
        };
        format!("\r\n\x1b[1;{colour}m{text}\x1b[0m\r\n")
    }
}

/// What the page must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this to the relay.
    Send(ClientMsg),
    /// Write terminal output.
    Write(Vec<u8>),
    /// A whole screen: reset the terminal, then write it.
    Screen(Vec<u8>),
    /// Write a line of the page's own.
    Notice(Notice),
    /// The terminal takes no more typing.
    ReadOnly,
    /// Give the terminal the target's size.
    Resize {
        cols: u16,
        rows: u16,
    },
    /// The launch guessed `cols`×`rows`: send the terminal's real size if it differs.
    ReportSize {
        cols: u16,
        rows: u16,
    },
    /// Start the desktop decoder (its wasm loads while the stream starts).
    PrepareDesktop,
    /// (Re)build the desktop decoder.
    ActivateDesktop(DesktopParams),
    Graphics {
        pdu: Vec<u8>,
        frame_end: Option<u32>,
    },
    DesktopSnapshot(Vec<u8>),
    /// Focus the desktop canvas, or else the terminal.
    Focus {
        desktop: bool,
    },
    /// A keystroke for the Keystrokes panel.
    Keystroke(Keystroke),
    /// Ask the relay what became of the session, then apply [`Input::Checked`].
    Check(Close),
}

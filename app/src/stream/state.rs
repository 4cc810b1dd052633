//! One session stream's state machine. Pure: [`StreamState::apply`] changes the state
//! and returns what the page must do about it, as [`Effect`]s; `use_session_stream`
//! performs them (terminal, desktop decoder, socket, REST).

use vigil_wire::api::{Keystroke, Protocol, Session};
use vigil_wire::desktop::DesktopParams;
use vigil_wire::end::EndReason;
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::PROTOCOL_VERSION;

use super::status::StreamStatus;
use crate::util::NOT_AVAILABLE;

/// The page a stream feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `/connect/:id`: the user's own terminal or desktop. Its terminal fits the page and
    /// tells the target its size; it takes the focus once the target connects, and the
    /// lock, the unlock and errors are written in the terminal as well as shown.
    Connect,
    /// `/sessions/:id`: watching. The terminal keeps the target's size, and nothing but
    /// the target's output and the end is written in it.
    Watch,
}

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

/// Everything the page shows of one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamState {
    pub role: Role,
    pub status: StreamStatus,
    /// The session as last heard of (the page's REST load, `Welcome`, a control).
    pub session: Option<Session>,
    pub participant: Option<Participant>,
    /// A desktop (RDP) session: a canvas, not a terminal.
    pub desktop: bool,
    /// Progress beside the status (connecting…), gone once live.
    pub detail: Option<String>,
    /// While locked: the message the locked user must see.
    pub lock: Option<String>,
    /// Once ended: why.
    pub ended: Option<String>,
    pub error: Option<String>,
    /// The stream stopped in a way a new socket may mend (Reconnect).
    pub can_retry: bool,
}

/// What a locked user of `protocol` is told when nothing more precise was said.
pub fn lock_message(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Ssh => vigil_wire::SSH_LOCK_MESSAGE,
        Protocol::Rdp => vigil_wire::RDP_LOCK_MESSAGE,
    }
}

fn reason_text(reason: Option<&EndReason>, otherwise: &str) -> String {
    reason.map_or_else(|| otherwise.to_string(), ToString::to_string)
}

impl StreamState {
    /// A stream not yet opened, of `session` when the page already loaded it (an ended
    /// one is shown ended, and needs no stream).
    pub fn new(role: Role, session: Option<Session>) -> Self {
        let mut state = StreamState {
            role,
            status: StreamStatus::Connecting,
            session: None,
            participant: None,
            desktop: false,
            detail: None,
            lock: None,
            ended: None,
            error: None,
            can_retry: false,
        };
        if let Some(s) = session {
            state.desktop = s.protocol == Protocol::Rdp;
            if s.ended_at.is_some() {
                state.end(reason_text(s.end_reason.as_ref(), "closed"));
            } else {
                state.lock = state.lock_of(&s);
            }
            state.session = Some(s);
        }
        state
    }

    /// Over: ended, or not available to this viewer. Nothing more will come.
    pub fn finished(&self) -> bool {
        self.ended.is_some() || self.status == StreamStatus::Unavailable
    }

    /// The viewer is the session's user (the one whose input reaches the target).
    pub fn is_user(&self) -> bool {
        self.participant == Some(Participant::User)
    }

    /// The user's typing and terminal size go to the target (the relay drops the typing
    /// while locked, and applies the last size on unlock).
    pub fn sends_terminal_input(&self) -> bool {
        self.is_user() && !self.finished() && !self.desktop
    }

    /// The desktop canvas captures keyboard and mouse: the user's, live and not locked.
    pub fn captures_desktop(&self) -> bool {
        self.is_user() && self.lock.is_none() && !self.finished() && !self.status.stopped()
    }

    /// The line beside the status: progress, else what an observer of the connect page
    /// may do.
    pub fn note(&self) -> Option<String> {
        let observing = self.role == Role::Connect
            && self.participant == Some(Participant::Observer)
            && !self.finished();
        self.detail
            .clone()
            .or_else(|| observing.then(|| "You are watching this session (read-only).".to_string()))
    }

    /// Gives a session that ended on the stream the time it is now: the relay's `Ended`
    /// carries none, and the page shows its duration.
    pub fn stamp_end(&mut self, now_ms: i64) {
        if self.ended.is_some() {
            if let Some(s) = &mut self.session {
                s.ended_at.get_or_insert(now_ms);
            }
        }
    }

    /// Takes in what happened; returns what the page must do about it, in order.
    pub fn apply(&mut self, input: impl Into<Input>) -> Vec<Effect> {
        match input.into() {
            Input::Opening => {
                self.status = StreamStatus::Connecting;
                self.error = None;
                self.can_retry = false;
                self.detail = Some("Connecting to the relay…".into());
                Vec::new()
            }
            Input::Opened => {
                self.detail = Some("Waiting for the session…".into());
                vec![Effect::Send(ClientMsg::Control(ClientControl::Hello {
                    version: PROTOCOL_VERSION,
                }))]
            }
            Input::Server(msg) => self.server(msg),
            Input::Closed(close) => {
                if self.finished() {
                    return Vec::new();
                }
                self.detail = None;
                vec![Effect::Check(close)]
            }
            Input::Checked(close, check) => self.checked(close, check),
            Input::Refreshed(session) => self.refreshed(session),
            Input::Failed { message, retry } => {
                self.status = StreamStatus::Error;
                self.detail = None;
                self.error = Some(message);
                self.can_retry = retry;
                Vec::new()
            }
        }
    }

    /// The first screen arrived: `Connected` only reaches those attached when the target
    /// connected, not later joiners.
    fn go_live(&mut self) {
        if self.status == StreamStatus::Connecting {
            self.status = if self.lock.is_some() {
                StreamStatus::Locked
            } else {
                StreamStatus::Connected
            };
            self.detail = None;
        }
    }

    /// The lock as `session` has it: the message heard, else the protocol's.
    fn lock_of(&self, session: &Session) -> Option<String> {
        session.locked.then(|| {
            self.lock
                .clone()
                .unwrap_or_else(|| lock_message(session.protocol).into())
        })
    }

    fn set_locked(&mut self, lock: Option<String>) {
        if let Some(s) = &mut self.session {
            s.locked = lock.is_some();
        }
        self.lock = lock;
    }

    fn end(&mut self, reason: String) -> Vec<Effect> {
        self.set_locked(None);
        self.detail = None;
        self.status = StreamStatus::Ended;
        self.ended = Some(reason);
        self.can_retry = false;
        vec![Effect::ReadOnly]
    }

    fn server(&mut self, msg: ServerMsg) -> Vec<Effect> {
        let effect = match msg {
            ServerMsg::Output(bytes) => Effect::Write(bytes),
            ServerMsg::Snapshot(bytes) => Effect::Screen(bytes),
            ServerMsg::Graphics { frame_end, pdu } => Effect::Graphics { pdu, frame_end },
            ServerMsg::DesktopSnapshot(zlib) => Effect::DesktopSnapshot(zlib),
            ServerMsg::Control(c) => return self.control(c),
        };
        self.go_live();
        vec![effect]
    }

    fn control(&mut self, c: ServerControl) -> Vec<Effect> {
        let connect = self.role == Role::Connect;
        match c {
            ServerControl::Welcome {
                participant,
                session,
                cols,
                rows,
                ..
            } => self.welcome(participant, session, cols, rows),
            ServerControl::Connecting { message } => {
                if self.status != StreamStatus::Locked {
                    self.status = StreamStatus::Connecting;
                }
                self.detail = Some(message);
                Vec::new()
            }
            ServerControl::Connected => {
                self.go_live();
                self.detail = None;
                let desktop = self.desktop;
                connect
                    .then_some(Effect::Focus { desktop })
                    .into_iter()
                    .collect()
            }
            ServerControl::DesktopActivated { params } => {
                self.desktop = true;
                // A joiner's stream starts here (the session connected before it attached).
                self.go_live();
                vec![Effect::ActivateDesktop(params)]
            }
            ServerControl::Resized { cols, rows } => match self.role {
                Role::Watch => vec![Effect::Resize { cols, rows }],
                Role::Connect => Vec::new(),
            },
            ServerControl::Locked { message } => {
                self.status = StreamStatus::Locked;
                self.set_locked(Some(message.clone()));
                connect
                    .then_some(Effect::Notice(Notice::Locked(message)))
                    .into_iter()
                    .collect()
            }
            ServerControl::Unlocked => {
                self.set_locked(None);
                if self.status == StreamStatus::Locked {
                    self.status = StreamStatus::Connected;
                }
                connect
                    .then_some(Effect::Notice(Notice::Unlocked))
                    .into_iter()
                    .collect()
            }
            ServerControl::Keystroke { keystroke } => vec![Effect::Keystroke(keystroke)],
            ServerControl::Ended { reason } => {
                let text = reason.to_string();
                if let Some(s) = &mut self.session {
                    s.end_reason = Some(reason);
                }
                let mut fx = vec![Effect::Notice(Notice::Ended(text.clone()))];
                fx.extend(self.end(text));
                fx
            }
            ServerControl::Error { code, message } => {
                let text = format!("{message} ({code})");
                self.status = StreamStatus::Error;
                self.detail = None;
                self.error = Some(text.clone());
                connect
                    .then_some(Effect::Notice(Notice::Error(text)))
                    .into_iter()
                    .collect()
            }
        }
    }

    fn welcome(
        &mut self,
        participant: Participant,
        session: Session,
        cols: u16,
        rows: u16,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.participant = Some(participant);
        self.desktop = session.protocol == Protocol::Rdp;
        if self.desktop {
            fx.push(Effect::PrepareDesktop);
        }
        match self.role {
            Role::Watch => fx.push(Effect::Resize { cols, rows }),
            Role::Connect if participant == Participant::Observer => fx.push(Effect::ReadOnly),
            // Tell the target our real size if the launch guessed another.
            Role::Connect if !self.desktop => fx.push(Effect::ReportSize { cols, rows }),
            Role::Connect => {}
        }
        self.lock = self.lock_of(&session);
        if self.lock.is_some() {
            self.status = StreamStatus::Locked;
        } else if self.status == StreamStatus::Locked {
            self.status = StreamStatus::Connecting;
        }
        self.session = Some(session);
        fx
    }

    fn checked(&mut self, close: Close, check: Check) -> Vec<Effect> {
        if self.finished() {
            return Vec::new();
        }
        match check {
            Check::Unavailable => {
                self.status = StreamStatus::Unavailable;
                self.error = Some(NOT_AVAILABLE.into());
                self.can_retry = false;
                Vec::new()
            }
            Check::Found(s) if s.ended_at.is_some() => {
                let reason = reason_text(s.end_reason.as_ref(), "closed");
                self.session = Some(s);
                self.end(reason)
            }
            // Keep the relay's own error (target unreachable…) on screen.
            _ if self.status == StreamStatus::Error => {
                self.can_retry = true;
                Vec::new()
            }
            other => {
                let Close { code, was_open } = close;
                let why = if was_open {
                    format!("The connection to the relay was lost (code {code}).")
                } else {
                    format!("Could not open the session stream (code {code}).")
                };
                self.error = Some(match other {
                    Check::Failed(e) => format!("{why} {e}"),
                    _ => why,
                });
                self.status = StreamStatus::Disconnected;
                self.can_retry = true;
                Vec::new()
            }
        }
    }

    fn refreshed(&mut self, session: Session) -> Vec<Effect> {
        if session.ended_at.is_some() {
            let reason = reason_text(session.end_reason.as_ref(), "terminated");
            self.session = Some(session);
            return self.end(reason);
        }
        let lock = self.lock_of(&session);
        self.session = Some(session);
        self.set_locked(lock);
        if matches!(self.status, StreamStatus::Connected | StreamStatus::Locked) {
            self.status = if self.lock.is_some() {
                StreamStatus::Locked
            } else {
                StreamStatus::Connected
            };
        }
        Vec::new()
    }
}

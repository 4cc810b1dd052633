//! One session stream's state machine. Pure: [`StreamState::apply`] changes the state
//! and returns what the page must do about it, as [`Effect`]s; `use_session_stream`
//! performs them (terminal, desktop decoder, socket, REST).

use vigil_wire::api::{Protocol, Session};
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::share::LiveParticipant;
use vigil_wire::PROTOCOL_VERSION;

pub use super::events::{Check, Close, Effect, Input, Notice};
use super::status::StreamStatus;
use super::steps::ConnectProgress;
use crate::util::{code_next_step, end_text, NOT_AVAILABLE};

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
    /// This viewer was cut off while the session went on (a revoked or expired share
    /// link, a right or a login lost): what they are told. Nothing more comes.
    pub access_ended: Option<String>,
    /// The session's live participants, for viewers with monitoring rights: `None` until
    /// the relay sends them (it never does to the others).
    pub participants: Option<Vec<LiveParticipant>>,
    pub error: Option<String>,
    /// The stream stopped in a way a new socket may mend (Reconnect).
    pub can_retry: bool,
    /// The target connection's steps, once the relay says it is connecting (a viewer
    /// who joins a session already live never sees them).
    pub connect: Option<ConnectProgress>,
}

/// What a viewer who came in through a share link is told when the link is revoked or
/// expires.
pub const LINK_ACCESS_ENDED: &str = "Your access through the shared link has ended.";

/// What a viewer cut off with `code` is told, for the codes that end one viewer's access
/// rather than the session: the link's own words and what to do next, else the relay's
/// message (which says what to do next itself).
fn access_end_text(code: ErrorCode, message: &str) -> Option<String> {
    match code {
        ErrorCode::LinkRevoked | ErrorCode::LinkExpired => {
            Some(format!("{LINK_ACCESS_ENDED} {}", code_next_step(code)))
        }
        ErrorCode::AccessRevoked | ErrorCode::LoginEnded => Some(message.to_string()),
        _ => None,
    }
}

/// What a locked user of `protocol` is told when nothing more precise was said.
pub fn lock_message(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Ssh => vigil_wire::SSH_LOCK_MESSAGE,
        Protocol::Rdp => vigil_wire::RDP_LOCK_MESSAGE,
    }
}

fn reason_text(reason: Option<&EndReason>, otherwise: &str) -> String {
    reason.map_or_else(|| otherwise.to_string(), end_text)
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
            access_ended: None,
            participants: None,
            error: None,
            can_retry: false,
            connect: None,
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

    /// Over: ended, or not (or no longer) available to this viewer. Nothing more will come.
    pub fn finished(&self) -> bool {
        self.ended.is_some()
            || self.access_ended.is_some()
            || self.status == StreamStatus::Unavailable
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

    /// This viewer's access ended while the session goes on.
    fn cut_off(&mut self, text: String) -> Vec<Effect> {
        self.set_locked(None);
        self.detail = None;
        self.error = None;
        self.can_retry = false;
        self.status = StreamStatus::Unavailable;
        self.participants = None;
        self.access_ended = Some(text.clone());
        vec![Effect::Notice(Notice::AccessEnded(text)), Effect::ReadOnly]
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
            ServerControl::Connecting { message, done } => {
                if self.status != StreamStatus::Locked {
                    self.status = StreamStatus::Connecting;
                }
                self.detail = Some(message);
                self.connect.get_or_insert_default().step_done(done);
                Vec::new()
            }
            ServerControl::Connected => {
                if let Some(c) = &mut self.connect {
                    c.connected();
                }
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
            // A viewer cut off hears `Ended` too: the session itself goes on.
            ServerControl::Ended { .. } if self.access_ended.is_some() => Vec::new(),
            ServerControl::Ended { reason } => {
                let text = end_text(&reason);
                if let Some(s) = &mut self.session {
                    s.end_reason = Some(reason);
                }
                let mut fx = vec![Effect::Notice(Notice::Ended(text.clone()))];
                fx.extend(self.end(text));
                fx
            }
            ServerControl::Participants { participants } => {
                self.participants = Some(participants);
                Vec::new()
            }
            ServerControl::Error { code, message } => {
                if let Some(text) = access_end_text(code, &message) {
                    return self.cut_off(text);
                }
                let text = format!(
                    "{} ({code}). {}",
                    message.trim_end_matches('.'),
                    code_next_step(code)
                );
                if let Some(c) = &mut self.connect {
                    c.failed();
                }
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
                    format!("The connection to the relay was lost (code {code}). Check your network connection, then press Reconnect.")
                } else {
                    format!("Could not open the session stream (code {code}). Press Reconnect; if it keeps failing, reload the page.")
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

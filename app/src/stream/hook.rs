//! [`use_session_stream`]: one live session stream for a page. It owns the socket, the
//! terminal and the desktop, feeds everything that happens to [`StreamState::apply`] and
//! performs the effects that come back.

use leptos::html::Div;
use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::api::{Keystroke, Session};
use vigil_wire::desktop::InputEvent;
use vigil_wire::live::{ClientControl, ClientMsg, ServerMsg};

use super::state::{Check, Close, Effect as StreamEffect, Input, Role, StreamState};
use crate::api;
use crate::desktop::engine::Desktop;
use crate::term::{Term, TermOptions};
use crate::term_files;
use crate::util;
use crate::widgets::now_ms;
use crate::ws::{Socket, SocketEvent};

/// A page's live session stream. `state` is everything it shows; `keys` the keystrokes
/// heard on it (merged with those the page loads).
#[derive(Clone, Copy)]
pub struct SessionStream {
    id: StoredValue<String>,
    pub state: RwSignal<StreamState>,
    pub keys: RwSignal<Vec<Keystroke>>,
    pub desktop: Desktop,
    term: StoredValue<Option<Term>, LocalStorage>,
    socket: StoredValue<Option<Socket>, LocalStorage>,
}

/// The stream of session `id` for a page in `role`. `session` is the session when the
/// page loaded it first (the player does; an ended one gets no stream). The terminal
/// opens in `host` once it mounts and xterm.js has loaded, then the stream; a session
/// known to be a desktop needs no terminal (nor xterm.js) and opens its stream at once.
/// The user's page does not load the session first: it asks for it before loading
/// xterm.js, so that a desktop never downloads it.
pub fn use_session_stream(
    id: String,
    role: Role,
    session: Option<Session>,
    host: NodeRef<Div>,
) -> SessionStream {
    let session_known = session.is_some();
    let state = StreamState::new(role, session);
    let (finished, desktop) = (state.finished(), state.desktop);
    let stream = SessionStream {
        id: StoredValue::new(id),
        state: RwSignal::new(state),
        keys: RwSignal::new(Vec::new()),
        desktop: Desktop::new(),
        term: StoredValue::new_local(None),
        socket: StoredValue::new_local(None),
    };
    // Only the user's reports pace the server; observers never send them.
    stream.desktop.on_frame(Callback::new(move |frame_id: u32| {
        if stream.holds(|s| s.is_user() && !s.finished()) {
            stream.send(ClientMsg::Control(ClientControl::FrameDecoded { frame_id }));
        }
    }));
    if finished {
        // Nothing more to hear.
    } else if desktop {
        // The decoder loads while the socket opens; the canvas mounts with the view and
        // decoding starts before it does.
        stream.desktop.prepare();
        stream.open();
    } else {
        let started = StoredValue::new(false);
        let known = session_known;
        Effect::new(move |_| {
            let Some(el) = host.get() else { return };
            if started.get_value() {
                return;
            }
            started.set_value(true);
            spawn_local(stream.start_terminal(el.into(), role, known));
        });
    }
    on_cleanup(move || {
        stream.socket.set_value(None);
        stream.term.set_value(None);
    });
    stream
}

impl SessionStream {
    /// A part of the state, for a view: it changes only when that part does.
    pub fn pick<T>(self, f: impl Fn(&StreamState) -> T + Send + Sync + 'static) -> Memo<T>
    where
        T: PartialEq + Clone + Send + Sync + 'static,
    {
        Memo::new(move |_| self.state.with(&f))
    }

    /// Whether the state (still there) says so.
    fn holds(&self, f: impl FnOnce(&StreamState) -> bool) -> bool {
        self.state.try_with_untracked(f).unwrap_or(false)
    }

    /// (Re)opens the socket: on mount, and on Reconnect. Never from the socket's own
    /// handler (dropping the old one detaches it).
    pub fn open(self) {
        self.socket.set_value(None);
        self.feed(Input::Opening);
        let path = api::stream_path(&self.id.get_value());
        let socket = Socket::connect(&path, move |ev| match ev {
            SocketEvent::Open => self.feed(Input::Opened),
            SocketEvent::Frame(frame) => match ServerMsg::decode(&frame) {
                Ok(msg) => self.feed(msg),
                Err(e) => leptos::logging::warn!("session stream: {e}"),
            },
            SocketEvent::Closed { code, was_open, .. } => {
                self.feed(Input::Closed(Close { code, was_open }))
            }
        });
        match socket {
            Ok(s) => self.socket.set_value(Some(s)),
            Err(e) => self.feed(Input::Failed {
                message: format!("Cannot open the session stream: {e} Press Reconnect; if it keeps failing, reload the page."),
                retry: true,
            }),
        }
    }

    /// The session as a control (Lock, Terminate…) returned it.
    pub fn refresh(self, session: Session) {
        self.feed(Input::Refreshed(session));
    }

    /// The user's input on the desktop canvas.
    pub fn desktop_input(self, events: Vec<InputEvent>) {
        if self.holds(StreamState::captures_desktop) {
            self.send(ClientMsg::Control(ClientControl::Input { events }));
        }
    }

    fn send(&self, msg: ClientMsg) {
        self.socket.with_value(|s| {
            if let Some(s) = s {
                s.send(&msg.encode());
            }
        });
    }

    fn term(&self, f: impl FnOnce(&Term)) {
        self.term.with_value(|t| {
            if let Some(t) = t {
                f(t)
            }
        });
    }

    /// Whether the page still holds the stream (it may have gone while a load ran).
    fn alive(self) -> bool {
        self.id.try_with_value(|_| ()).is_some()
    }

    /// Opens the terminal once xterm.js has loaded, then the stream. When the page did not
    /// know the session (the user's page), it asks for it first: a desktop then opens its
    /// stream without a terminal, and an ended session shows ended.
    async fn start_terminal(self, el: web_sys::HtmlElement, role: Role, known: bool) {
        if !known {
            // A failed request leaves the kind unknown: a terminal, as the stream opens.
            if let Ok(session) = api::session(&self.id.get_value()).await {
                if !self.alive() {
                    return;
                }
                self.state.set(StreamState::new(role, Some(session)));
                let (finished, desktop) = self.state.with_untracked(|s| (s.finished(), s.desktop));
                if finished {
                    return;
                }
                if desktop {
                    self.desktop.prepare();
                    self.open();
                    return;
                }
            }
        }
        let loaded = term_files::load().await;
        if !self.alive() {
            return;
        }
        match loaded.and_then(|()| self.open_term(&el, role)) {
            Ok(()) => self.open(),
            Err(message) => self.feed(Input::Failed {
                message: format!("{message} Reload the page; if it keeps failing, try another browser or tell an administrator."),
                retry: false,
            }),
        }
    }

    /// The user's terminal fits its host and sends what is typed; a watcher's is
    /// read-only at the target's size.
    fn open_term(self, el: &web_sys::HtmlElement, role: Role) -> Result<(), String> {
        let mut term = match role {
            Role::Connect => Term::open(el, TermOptions::interactive())?,
            Role::Watch => Term::open(el, TermOptions::read_only())?,
        };
        if role == Role::Connect {
            if let Err(e) = term.fit_to(el) {
                leptos::logging::warn!("{e}");
            }
            let sends = move || self.holds(StreamState::sends_terminal_input);
            term.on_data(move |data| {
                if sends() {
                    self.send(ClientMsg::Input(data.into_bytes()));
                }
            });
            term.on_resize(move |cols, rows| {
                if sends() {
                    self.send(ClientMsg::Control(ClientControl::Resize { cols, rows }));
                }
            });
            term.focus();
        }
        self.term.set_value(Some(term));
        Ok(())
    }

    /// Applies `input`, then performs what it calls for.
    fn feed(self, input: impl Into<Input>) {
        let input = input.into();
        let effects = self.state.try_maybe_update(|s| {
            let before = s.clone();
            let effects = s.apply(input);
            s.stamp_end(now_ms());
            (*s != before, effects)
        });
        for effect in effects.unwrap_or_default() {
            self.perform(effect);
        }
    }

    fn perform(self, effect: StreamEffect) {
        match effect {
            StreamEffect::Send(msg) => self.send(msg),
            StreamEffect::Write(bytes) => self.term(|t| t.write_bytes(&bytes)),
            StreamEffect::Screen(bytes) => self.term(|t| {
                t.reset();
                t.write_bytes(&bytes);
            }),
            StreamEffect::Notice(notice) => self.term(|t| t.write(&notice.line())),
            StreamEffect::ReadOnly => self.term(|t| t.set_read_only(true)),
            StreamEffect::Resize { cols, rows } => self.term(|t| t.resize(cols, rows)),
            StreamEffect::ReportSize { cols, rows } => self.term(|t| {
                if (t.cols(), t.rows()) != (cols, rows) {
                    self.send(ClientMsg::Control(ClientControl::Resize {
                        cols: t.cols(),
                        rows: t.rows(),
                    }));
                }
            }),
            StreamEffect::PrepareDesktop => self.desktop.prepare(),
            StreamEffect::ActivateDesktop(params) => self.desktop.activate(&params),
            StreamEffect::Graphics { pdu, frame_end } => self.desktop.graphics(&pdu, frame_end),
            StreamEffect::DesktopSnapshot(zlib) => self.desktop.snapshot(&zlib),
            StreamEffect::Focus { desktop: true } => {
                if let Some(c) = self.desktop.canvas_element() {
                    let _ = c.focus();
                }
            }
            StreamEffect::Focus { desktop: false } => self.term(Term::focus),
            StreamEffect::Keystroke(k) => {
                let _ = self.keys.try_update(|log| util::merge_keystroke(log, k));
            }
            StreamEffect::Check(close) => {
                let Some(id) = self.id.try_get_value() else {
                    return;
                };
                spawn_local(async move {
                    let check = match api::session(&id).await {
                        Err(e) if e.is_not_available() => Check::Unavailable,
                        Ok(s) => Check::Found(s),
                        Err(e) => Check::Failed(e.to_string()),
                    };
                    self.feed(Input::Checked(close, check));
                });
            }
        }
    }
}

/// The stream's error, with Reconnect while a new socket may help.
#[component]
pub fn StreamError(stream: SessionStream) -> impl IntoView {
    let error = stream.pick(|s| s.error.clone());
    let can_retry = stream.pick(|s| s.can_retry);
    move || {
        error.get().map(|e| {
            view! {
                <div class="banner banner-error" data-testid="session-error" role="alert">
                    <span>{e}</span>
                    {move || can_retry.get().then(|| view! {
                        <button type="button" class="btn btn-small" on:click=move |_| stream.open()>"Reconnect"</button>
                    })}
                </div>
            }
        })
    }
}

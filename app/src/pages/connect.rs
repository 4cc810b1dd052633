//! `/connect/:id`: the user's own live terminal.
//!
//! The terminal fills the page and follows its size (fit addon → `Resize`). What the
//! relay says is always visible: connecting, locked (the lock message is written in
//! the terminal and shown in a banner), unlocked, ended, errors, a lost connection.

use leptos::html::Div;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use vigil_wire::api::{Protocol, Session};
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::PROTOCOL_VERSION;

use crate::api;
use crate::app::set_title;
use crate::desktop::view::{Desktop, DesktopView};
use crate::stream_status::StreamStatus;
use crate::term::{Term, TermOptions};
use crate::widgets::StatusPill;
use crate::ws::{Socket, SocketEvent};

pub const NOT_AVAILABLE: &str = "Session not found or not available to you";

#[component]
pub fn ConnectPage() -> impl IntoView {
    let params = use_params_map();
    move || {
        let id = params.with(|p| p.get("id")).unwrap_or_default();
        view! { <ConnectView id/> }
    }
}

#[derive(Clone, Copy)]
struct Ctx {
    id: StoredValue<String>,
    status: RwSignal<StreamStatus>,
    detail: RwSignal<Option<String>>,
    lock: RwSignal<Option<String>>,
    ended: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
    can_retry: RwSignal<bool>,
    session: RwSignal<Option<Session>>,
    participant: RwSignal<Option<Participant>>,
    term: StoredValue<Option<Term>, LocalStorage>,
    socket: StoredValue<Option<Socket>, LocalStorage>,
    /// The session is a desktop (RDP): the canvas replaces the terminal.
    rdp: RwSignal<bool>,
    desktop: Desktop,
}

impl Ctx {
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

    fn finished(&self) -> bool {
        self.ended.with_untracked(Option::is_some)
            || self.status.get_untracked() == StreamStatus::Unavailable
    }

    fn is_user(&self) -> bool {
        self.participant.get_untracked() != Some(Participant::Observer)
    }

    fn is_rdp(&self) -> bool {
        self.rdp.get_untracked()
    }
}

/// The stream is live once the first screen arrives: `Connected` is only sent to those
/// attached when the target connected, not to later joiners.
fn mark_live(ctx: Ctx) {
    if ctx.status.get_untracked() == StreamStatus::Connecting {
        ctx.status.set(StreamStatus::Connected);
        ctx.detail.set(None);
    }
}

fn handle(ctx: Ctx, msg: ServerMsg) {
    match msg {
        ServerMsg::Output(bytes) => {
            ctx.term(|t| t.write_bytes(&bytes));
            mark_live(ctx);
        }
        ServerMsg::Snapshot(bytes) => {
            ctx.term(|t| {
                t.reset();
                t.write_bytes(&bytes);
            });
            mark_live(ctx);
        }
        ServerMsg::Graphics { frame_end, pdu } => {
            // The worker reports the frame once drawn (`Desktop::on_frame`).
            ctx.desktop.graphics(&pdu, frame_end);
            if ctx.status.get_untracked() == StreamStatus::Connecting {
                ctx.status.set(StreamStatus::Connected);
            }
        }
        ServerMsg::DesktopSnapshot(zlib) => {
            ctx.desktop.snapshot(&zlib);
            if ctx.status.get_untracked() == StreamStatus::Connecting {
                ctx.status.set(StreamStatus::Connected);
            }
        }
        ServerMsg::Control(c) => match c {
            ServerControl::Welcome {
                participant,
                session,
                cols,
                rows,
                ..
            } => {
                ctx.participant.set(Some(participant));
                let rdp = session.protocol == Protocol::Rdp;
                if rdp {
                    ctx.desktop.prepare();
                }
                ctx.rdp.set(rdp);
                set_title(&format!(
                    "{} — {}",
                    session.asset_name,
                    if rdp { "desktop" } else { "terminal" }
                ));
                let locked = session.locked;
                let lock_message = match session.protocol {
                    vigil_wire::api::Protocol::Ssh => vigil_wire::SSH_LOCK_MESSAGE,
                    vigil_wire::api::Protocol::Rdp => vigil_wire::RDP_LOCK_MESSAGE,
                };
                ctx.session.set(Some(session));
                if participant == Participant::Observer {
                    ctx.term(|t| t.set_read_only(true));
                    ctx.detail
                        .set(Some("You are watching this session (read-only).".into()));
                } else if !rdp {
                    // Tell the target our real size if the launch guessed another.
                    ctx.term(|t| {
                        if (t.cols(), t.rows()) != (cols, rows) {
                            ctx.send(ClientMsg::Control(ClientControl::Resize {
                                cols: t.cols(),
                                rows: t.rows(),
                            }));
                        }
                    });
                }
                if locked {
                    ctx.status.set(StreamStatus::Locked);
                    ctx.lock.update(|l| {
                        l.get_or_insert_with(|| lock_message.to_string());
                    });
                }
            }
            ServerControl::Connecting { message } => {
                if ctx.status.get_untracked() != StreamStatus::Locked {
                    ctx.status.set(StreamStatus::Connecting);
                }
                ctx.detail.set(Some(message));
            }
            ServerControl::DesktopActivated { params } => {
                ctx.rdp.set(true);
                ctx.desktop.activate(&params);
                // A joiner's stream starts here (the session connected before it attached).
                mark_live(ctx);
            }
            ServerControl::Connected => {
                if ctx.status.get_untracked() != StreamStatus::Locked {
                    ctx.status.set(StreamStatus::Connected);
                }
                ctx.detail.set(None);
                if ctx.is_rdp() {
                    if let Some(c) = ctx.desktop.canvas_element() {
                        let _ = c.focus();
                    }
                } else {
                    ctx.term(|t| t.focus());
                }
            }
            ServerControl::Resized { .. } => {}
            ServerControl::Locked { message } => {
                ctx.term(|t| t.write(&format!("\r\n\x1b[1;31m{message}\x1b[0m\r\n")));
                ctx.status.set(StreamStatus::Locked);
                ctx.lock.set(Some(message));
            }
            ServerControl::Unlocked => {
                ctx.term(|t| t.write("\r\n\x1b[1;32mYour session has been unlocked.\x1b[0m\r\n"));
                ctx.lock.set(None);
                ctx.status.set(StreamStatus::Connected);
            }
            ServerControl::Keystroke { .. } => {}
            ServerControl::Ended { reason } => {
                let reason = reason.to_string();
                ctx.term(|t| {
                    t.write(&format!("\r\n\x1b[1;33mSession ended: {reason}\x1b[0m\r\n"));
                    t.set_read_only(true);
                });
                ctx.lock.set(None);
                ctx.detail.set(None);
                ctx.status.set(StreamStatus::Ended);
                ctx.ended.set(Some(reason));
                ctx.can_retry.set(false);
            }
            ServerControl::Error { code, message } => {
                ctx.term(|t| {
                    t.write(&format!(
                        "\r\n\x1b[1;31mError: {message} ({code})\x1b[0m\r\n"
                    ))
                });
                ctx.status.set(StreamStatus::Error);
                ctx.detail.set(None);
                ctx.error.set(Some(format!("{message} ({code})")));
            }
        },
    }
}

/// The stream closed without `Ended`: find out why (a refused upgrade looks like a close).
fn closed(ctx: Ctx, code: u16, was_open: bool) {
    if ctx.finished() {
        return;
    }
    let id = ctx.id.get_value();
    let _ = ctx.detail.try_set(None);
    spawn_local(async move {
        match api::session(&id).await {
            Err(e) if e.is_not_available() => {
                let _ = ctx.status.try_set(StreamStatus::Unavailable);
                let _ = ctx.error.try_set(Some(NOT_AVAILABLE.to_string()));
                let _ = ctx.can_retry.try_set(false);
            }
            Ok(s) if s.ended_at.is_some() => {
                let reason = s
                    .end_reason
                    .map_or_else(|| "closed".into(), |r| r.to_string());
                ctx.term(|t| t.set_read_only(true));
                let _ = ctx.status.try_set(StreamStatus::Ended);
                let _ = ctx.lock.try_set(None);
                let _ = ctx.ended.try_set(Some(reason));
                let _ = ctx.can_retry.try_set(false);
            }
            _ if ctx.status.get_untracked() == StreamStatus::Error => {
                // Keep the relay's own error (target unreachable…) on screen.
                let _ = ctx.can_retry.try_set(true);
            }
            other => {
                let why = if was_open {
                    format!("The connection to the relay was lost (code {code}).")
                } else {
                    format!("Could not open the session stream (code {code}).")
                };
                let why = match other {
                    Err(e) => format!("{why} {e}"),
                    Ok(_) => why,
                };
                let _ = ctx.status.try_set(StreamStatus::Disconnected);
                let _ = ctx.error.try_set(Some(why));
                let _ = ctx.can_retry.try_set(true);
            }
        }
    });
}

fn open_stream(ctx: Ctx) {
    ctx.socket.set_value(None);
    ctx.status.set(StreamStatus::Connecting);
    ctx.error.set(None);
    ctx.can_retry.set(false);
    ctx.detail.set(Some("Connecting to the relay…".into()));
    let path = api::stream_path(&ctx.id.get_value());
    let socket = Socket::connect(&path, move |ev| match ev {
        SocketEvent::Open => {
            ctx.send(ClientMsg::Control(ClientControl::Hello {
                version: PROTOCOL_VERSION,
            }));
            let _ = ctx.detail.try_set(Some("Waiting for the session…".into()));
        }
        SocketEvent::Frame(frame) => match ServerMsg::decode(&frame) {
            Ok(msg) => handle(ctx, msg),
            Err(e) => leptos::logging::warn!("session stream: {e}"),
        },
        SocketEvent::Closed { code, was_open, .. } => closed(ctx, code, was_open),
    });
    match socket {
        Ok(s) => ctx.socket.set_value(Some(s)),
        Err(e) => {
            ctx.status.set(StreamStatus::Error);
            ctx.error
                .set(Some(format!("Cannot open the session stream: {e}")));
            ctx.can_retry.set(true);
        }
    }
}

#[component]
fn ConnectView(id: String) -> impl IntoView {
    set_title("Terminal");
    let ctx = Ctx {
        id: StoredValue::new(id),
        status: RwSignal::new(StreamStatus::Connecting),
        detail: RwSignal::new(None),
        lock: RwSignal::new(None),
        ended: RwSignal::new(None),
        error: RwSignal::new(None),
        can_retry: RwSignal::new(false),
        session: RwSignal::new(None),
        participant: RwSignal::new(None),
        term: StoredValue::new_local(None),
        socket: StoredValue::new_local(None),
        rdp: RwSignal::new(false),
        desktop: Desktop::new(),
    };
    // Only the user's reports pace the server; observers never send them.
    ctx.desktop.on_frame(Callback::new(move |frame_id: u32| {
        if ctx.participant.get_untracked() == Some(Participant::User) && !ctx.finished() {
            ctx.send(ClientMsg::Control(ClientControl::FrameDecoded { frame_id }));
        }
    }));
    let node = NodeRef::<Div>::new();
    Effect::new(move |_| {
        let Some(el) = node.get() else { return };
        if ctx.term.with_value(Option::is_some) {
            return;
        }
        let mut term = match Term::open(
            &el,
            TermOptions {
                read_only: false,
                font_size: 14,
                cursor_blink: true,
            },
        ) {
            Ok(t) => t,
            Err(e) => {
                ctx.status.set(StreamStatus::Error);
                ctx.error.set(Some(e));
                return;
            }
        };
        if let Err(e) = term.fit_to(&el) {
            leptos::logging::warn!("{e}");
        }
        term.on_data(move |data| {
            if !ctx.finished() && ctx.is_user() && !ctx.is_rdp() {
                ctx.send(ClientMsg::Input(data.into_bytes()));
            }
        });
        term.on_resize(move |cols, rows| {
            if !ctx.finished() && ctx.is_user() && !ctx.is_rdp() {
                ctx.send(ClientMsg::Control(ClientControl::Resize { cols, rows }));
            }
        });
        term.focus();
        ctx.term.set_value(Some(term));
        open_stream(ctx);
    });
    on_cleanup(move || {
        ctx.socket.set_value(None);
        ctx.term.set_value(None);
    });

    let title = move || {
        ctx.session.with(|s| match s {
            Some(s) => format!(
                "{}@{} ({})",
                s.user,
                s.asset_name,
                s.protocol.as_str().to_uppercase()
            ),
            None => "Terminal".to_string(),
        })
    };
    let locked = Signal::derive(move || ctx.lock.with(Option::is_some));
    // Input goes out only from the user, while the session is live and not locked.
    let capture = Signal::derive(move || {
        ctx.participant.get() == Some(Participant::User)
            && ctx.lock.with(Option::is_none)
            && ctx.ended.with(Option::is_none)
            && !ctx.status.get().stopped()
    });
    let on_input = Callback::new(move |events: Vec<vigil_wire::desktop::InputEvent>| {
        if !ctx.finished() && ctx.is_user() && ctx.lock.with_untracked(Option::is_none) {
            ctx.send(ClientMsg::Control(ClientControl::Input { events }));
        }
    });
    view! {
        <section class="term-page">
            <div class="term-bar">
                <StatusPill status=Signal::derive(move || ctx.status.get())/>
                <span class="term-title">{title}</span>
                <span class="term-detail muted">{move || ctx.detail.get()}</span>
                <span class="spacer"></span>
                <a class="btn btn-small" href="/assets">"Back to Assets"</a>
            </div>
            {move || ctx.lock.get().map(|m| view! {
                <div class="banner banner-lock" data-testid="lock-banner" role="alert">
                    {m}
                </div>
            })}
            {move || ctx.ended.get().map(|r| view! {
                <div class="banner banner-ended" data-testid="session-ended" role="alert">
                    {format!("Session ended: {r}")}
                </div>
            })}
            {move || ctx.error.get().map(|e| view! {
                <div class="banner banner-error" data-testid="session-error" role="alert">
                    <span>{e}</span>
                    {move || ctx.can_retry.get().then(|| view! {
                        <button type="button" class="btn btn-small" on:click=move |_| open_stream(ctx)>"Reconnect"</button>
                    })}
                </div>
            })}
            <div class="term-host term-fill" class:hidden=move || ctx.rdp.get() data-testid="terminal" node_ref=node></div>
            {move || ctx.rdp.get().then(|| view! {
                <div class="desktop-fill">
                    <DesktopView desktop=ctx.desktop testid="desktop-canvas" locked capture on_input/>
                </div>
            })}
        </section>
    }
}

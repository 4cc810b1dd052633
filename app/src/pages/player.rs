//! `/sessions/:id`: watch a live session (read-only), control it, read its Keystrokes.

use leptos::html::Div;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use vigil_wire::api::{Keystroke, Protocol, Session};
use vigil_wire::end::EndReason;
use vigil_wire::live::{ClientControl, ClientMsg, ServerControl, ServerMsg};
use vigil_wire::PROTOCOL_VERSION;

use super::connect::NOT_AVAILABLE;
use super::{ErrorBox, Loading};
use crate::api;
use crate::app::set_title;
use crate::desktop::view::{Desktop, DesktopView};
use crate::stream_status::StreamStatus;
use crate::term::{Term, TermOptions};
use crate::util;
use crate::widgets::{
    load_keystrokes, local_time, now_ms, use_now, KeystrokesPanel, SessionControlsBar, StatusPill,
};
use crate::ws::{Socket, SocketEvent};

#[component]
pub fn PlayerPage() -> impl IntoView {
    let params = use_params_map();
    move || {
        let id = params.with(|p| p.get("id")).unwrap_or_default();
        view! { <PlayerLoader id/> }
    }
}

/// Asks the relay for the session first: an outsider gets the same answer for an id
/// that does not exist and one they may not watch.
#[component]
fn PlayerLoader(id: String) -> impl IntoView {
    set_title("Live session");
    let fetch_id = id.clone();
    let session = LocalResource::new(move || {
        let id = fetch_id.clone();
        async move { api::session(&id).await }
    });
    move || {
        match session.get() {
        None => view! { <section class="page"><Loading text="Loading session…"/></section> }.into_any(),
        Some(Err(e)) if e.is_not_available() => view! {
            <section class="page">
                <div class="alert alert-error" role="alert" data-testid="session-unavailable">{NOT_AVAILABLE}</div>
                <p><a href="/active">"Back to Active Sessions"</a></p>
            </section>
        }
        .into_any(),
        Some(Err(e)) => view! {
            <section class="page"><ErrorBox message=format!("Could not load the session: {e}")/></section>
        }
        .into_any(),
        Some(Ok(s)) => view! { <LivePlayer initial=s/> }.into_any(),
    }
    }
}

#[derive(Clone, Copy)]
struct Ctx {
    id: StoredValue<String>,
    session: RwSignal<Session>,
    status: RwSignal<StreamStatus>,
    error: RwSignal<Option<String>>,
    keys: RwSignal<Vec<Keystroke>>,
    term: StoredValue<Option<Term>, LocalStorage>,
    socket: StoredValue<Option<Socket>, LocalStorage>,
    /// Desktop sessions are drawn here instead of a terminal. Observers never send input
    /// or frame acknowledgements.
    desktop: Desktop,
}

impl Ctx {
    fn term(&self, f: impl FnOnce(&Term)) {
        self.term.with_value(|t| {
            if let Some(t) = t {
                f(t)
            }
        });
    }

    fn ended(&self) -> bool {
        self.session.with_untracked(|s| s.ended_at.is_some())
    }

    fn set_ended(&self, reason: EndReason) {
        self.session.update(|s| {
            s.ended_at.get_or_insert_with(now_ms);
            s.end_reason = Some(reason);
            s.locked = false;
        });
        self.status.set(StreamStatus::Ended);
    }
}

fn handle(ctx: Ctx, msg: ServerMsg) {
    let live = |ctx: Ctx| {
        if ctx.status.get_untracked() == StreamStatus::Connecting {
            ctx.status.set(if ctx.session.with_untracked(|s| s.locked) {
                StreamStatus::Locked
            } else {
                StreamStatus::Connected
            });
        }
    };
    match msg {
        ServerMsg::Output(bytes) => {
            ctx.term(|t| t.write_bytes(&bytes));
            live(ctx);
        }
        ServerMsg::Snapshot(bytes) => {
            ctx.term(|t| {
                t.reset();
                t.write_bytes(&bytes);
            });
            live(ctx);
        }
        ServerMsg::Graphics { frame_end, pdu } => {
            ctx.desktop.graphics(&pdu, frame_end);
            live(ctx);
        }
        ServerMsg::DesktopSnapshot(zlib) => {
            ctx.desktop.snapshot(&zlib);
            live(ctx);
        }
        ServerMsg::Control(c) => match c {
            ServerControl::Welcome {
                session,
                cols,
                rows,
                ..
            } => {
                ctx.term(|t| t.resize(cols, rows));
                let locked = session.locked;
                ctx.session.set(session);
                ctx.status.set(if locked {
                    StreamStatus::Locked
                } else {
                    StreamStatus::Connected
                });
            }
            ServerControl::Connecting { .. } => ctx.status.set(StreamStatus::Connecting),
            ServerControl::DesktopActivated { params } => ctx.desktop.activate(&params),
            ServerControl::Connected => live(ctx),
            ServerControl::Resized { cols, rows } => ctx.term(|t| t.resize(cols, rows)),
            ServerControl::Locked { .. } => {
                ctx.session.update(|s| s.locked = true);
                ctx.status.set(StreamStatus::Locked);
            }
            ServerControl::Unlocked => {
                ctx.session.update(|s| s.locked = false);
                ctx.status.set(StreamStatus::Connected);
            }
            ServerControl::Keystroke { keystroke } => ctx.keys.update(|k| {
                util::merge_keystroke(k, keystroke);
            }),
            ServerControl::Ended { reason } => {
                ctx.term(|t| t.write(&format!("\r\n\x1b[1;33mSession ended: {reason}\x1b[0m\r\n")));
                ctx.set_ended(reason);
            }
            ServerControl::Error { code, message } => {
                ctx.status.set(StreamStatus::Error);
                ctx.error.set(Some(format!("{message} ({code})")));
            }
        },
    }
}

fn closed(ctx: Ctx, code: u16) {
    if ctx.ended() {
        return;
    }
    let id = ctx.id.get_value();
    spawn_local(async move {
        match api::session(&id).await {
            Err(e) if e.is_not_available() => {
                let _ = ctx.status.try_set(StreamStatus::Unavailable);
                let _ = ctx.error.try_set(Some(NOT_AVAILABLE.into()));
            }
            Ok(s) if s.ended_at.is_some() => {
                let _ = ctx.session.try_set(s);
                let _ = ctx.status.try_set(StreamStatus::Ended);
            }
            _ if ctx.status.get_untracked() == StreamStatus::Error => {}
            _ => {
                let _ = ctx.status.try_set(StreamStatus::Disconnected);
                let _ = ctx
                    .error
                    .try_set(Some(format!("The connection to the relay was lost (code {code}). Reload the page to watch again.")));
            }
        }
    });
}

fn open_stream(ctx: Ctx) {
    let socket = Socket::connect(&api::stream_path(&ctx.id.get_value()), move |ev| match ev {
        SocketEvent::Open => ctx.socket.with_value(|s| {
            if let Some(s) = s {
                s.send(
                    &ClientMsg::Control(ClientControl::Hello {
                        version: PROTOCOL_VERSION,
                    })
                    .encode(),
                );
            }
        }),
        SocketEvent::Frame(frame) => match ServerMsg::decode(&frame) {
            Ok(msg) => handle(ctx, msg),
            Err(e) => leptos::logging::warn!("session stream: {e}"),
        },
        SocketEvent::Closed { code, .. } => closed(ctx, code),
    });
    match socket {
        Ok(s) => ctx.socket.set_value(Some(s)),
        Err(e) => {
            ctx.status.set(StreamStatus::Error);
            ctx.error
                .set(Some(format!("Cannot open the session stream: {e}")));
        }
    }
}

#[component]
fn LivePlayer(initial: Session) -> impl IntoView {
    set_title(&format!(
        "{} on {} — live",
        initial.user, initial.asset_name
    ));
    let was_ended = initial.ended_at.is_some();
    let ctx = Ctx {
        id: StoredValue::new(initial.id.clone()),
        status: RwSignal::new(if was_ended {
            StreamStatus::Ended
        } else {
            StreamStatus::Connecting
        }),
        session: RwSignal::new(initial),
        error: RwSignal::new(None),
        keys: RwSignal::new(Vec::new()),
        term: StoredValue::new_local(None),
        socket: StoredValue::new_local(None),
        desktop: Desktop::new(),
    };
    let rdp = ctx.session.with_untracked(|s| s.protocol == Protocol::Rdp);
    let now = use_now();
    let keys_status = RwSignal::new(Some("Loading keystrokes…".to_string()));
    let action_error = RwSignal::new(None::<String>);

    let id = ctx.id.get_value();
    load_keystrokes(id, ctx.keys, keys_status);

    let node = NodeRef::<Div>::new();
    if !was_ended && rdp {
        // The decoder loads while the socket opens; the canvas mounts with the view and
        // decoding starts before it does.
        ctx.desktop.prepare();
        open_stream(ctx);
    } else if !was_ended {
        Effect::new(move |_| {
            let Some(el) = node.get() else { return };
            if ctx.term.with_value(Option::is_some) {
                return;
            }
            match Term::open(
                &el,
                TermOptions {
                    read_only: true,
                    font_size: 14,
                    cursor_blink: false,
                },
            ) {
                Ok(t) => {
                    ctx.term.set_value(Some(t));
                    open_stream(ctx);
                }
                Err(e) => {
                    ctx.status.set(StreamStatus::Error);
                    ctx.error.set(Some(e));
                }
            }
        });
    }
    on_cleanup(move || {
        ctx.socket.set_value(None);
        ctx.term.set_value(None);
    });

    let s = ctx.session;
    let active = Signal::derive(move || s.with(|s| s.ended_at.is_none()));
    let on_done = Callback::new(move |new: Session| {
        if new.ended_at.is_some() {
            let reason = new
                .end_reason
                .clone()
                .unwrap_or_else(|| EndReason::plain("terminated"));
            ctx.session.set(new);
            ctx.set_ended(reason);
        } else {
            let locked = new.locked;
            ctx.session.set(new);
            if !matches!(
                ctx.status.get_untracked(),
                StreamStatus::Ended | StreamStatus::Error | StreamStatus::Disconnected
            ) {
                ctx.status.set(if locked {
                    StreamStatus::Locked
                } else {
                    StreamStatus::Connected
                });
            }
        }
    });
    let on_error = Callback::new(move |e: String| action_error.set(Some(e)));
    let id_for_link = ctx.id.get_value();

    view! {
        <section class="page player-page">
            <header class="page-head">
                <h1>{move || s.with(|s| format!("{} on {}", s.user, s.asset_name))}</h1>
                <StatusPill status=Signal::derive(move || ctx.status.get())/>
                <span class="spacer"></span>
                <SessionControlsBar session=Signal::derive(move || Some(s.get())) on_done on_error/>
            </header>
            <dl class="meta">
                <div><dt>"Protocol"</dt><dd>{move || s.with(|s| s.protocol.as_str().to_uppercase())}</dd></div>
                <div><dt>"Kind"</dt><dd>{move || s.with(|s| format!("{:?}", s.kind))}</dd></div>
                <div><dt>"Started"</dt><dd>{move || s.with(|s| local_time(s.started_at))}</dd></div>
                <div><dt>"Duration"</dt><dd class="mono">{move || s.with(|s| util::duration(s.ended_at.unwrap_or_else(|| now.get()) - s.started_at))}</dd></div>
                <div><dt>"State"</dt><dd>{move || s.with(|s| if s.ended_at.is_some() { "Ended" } else if s.locked { "Locked" } else { "Active" })}</dd></div>
            </dl>
            {move || action_error.get().map(|e| view! { <ErrorBox message=e/> })}
            {move || s.with(|s| s.locked && s.ended_at.is_none()).then(|| view! {
                <div class="banner banner-lock" data-testid="lock-banner" role="status">"This session is locked: the user's input is blocked."</div>
            })}
            {move || s.with(|s| s.ended_at.map(|_| s.end_reason.as_ref().map_or_else(|| "closed".into(), ToString::to_string))).map(|r| {
                let href = format!("/replay/{}", api::seg(&id_for_link));
                view! {
                    <div class="banner banner-ended" data-testid="session-ended" role="status">
                        {format!("Session ended: {r}")} " " <a href=href>"Replay it"</a>
                    </div>
                }
            })}
            {move || ctx.error.get().map(|e| view! { <div class="banner banner-error" data-testid="session-error" role="alert">{e}</div> })}
            <div class="player-body">
                <div class="term-scroll">
                    {(!was_ended && !rdp).then(|| view! { <div class="term-host" data-testid="player-terminal" node_ref=node></div> })}
                    {(!was_ended && rdp).then(|| view! {
                        <DesktopView desktop=ctx.desktop testid="player-canvas" locked=false capture=false/>
                    })}
                </div>
                <KeystrokesPanel keys=ctx.keys selectable=Signal::derive(move || !active.get()) status=keys_status/>
            </div>
        </section>
    }
}

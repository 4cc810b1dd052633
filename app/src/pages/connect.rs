//! `/connect/:id`: the user's own live terminal or desktop.
//!
//! The terminal fills the page and follows its size (fit addon → `Resize`). What the
//! relay says is always visible: connecting, locked (the lock message is written in
//! the terminal and shown in a banner), unlocked, ended, errors, a lost connection.

use leptos::html::Div;
use leptos::prelude::*;
use vigil_wire::api::Protocol;

use crate::desktop::view::DesktopView;
use crate::focus_escape::dom::FocusEscapeHint;
use crate::live_region::{announce_changes, LiveRegion};
use crate::shell::{for_route_id, set_title};
use crate::stream::announce::Facts;
use crate::stream::hook::{use_session_stream, StreamError};
use crate::stream::{Role, StreamState};
use crate::widgets::{ConnectSteps, StatusPill};

#[component]
pub fn ConnectPage() -> impl IntoView {
    for_route_id(|id| view! { <ConnectView id/> })
}

#[component]
fn ConnectView(id: String) -> impl IntoView {
    set_title("Terminal");
    let host = NodeRef::<Div>::new();
    let stream = use_session_stream(id, Role::Connect, None, host);
    let status = stream.pick(|s| s.status);
    let session = stream.pick(|s| s.session.clone());
    let desktop = stream.pick(|s| s.desktop);
    let note = stream.pick(StreamState::note);
    let lock = stream.pick(|s| s.lock.clone());
    let ended = stream.pick(|s| s.ended.clone());
    let access_ended = stream.pick(|s| s.access_ended.clone());
    // Input goes out only from the user, while the session is live and not locked.
    let capture = stream.pick(StreamState::captures_desktop);
    let on_input = Callback::new(move |events| stream.desktop_input(events));
    let said = announce_changes(stream.pick(Facts::of_stream));
    let steps = stream.pick(|s| s.connect);
    let protocol = stream.pick(|s| match &s.session {
        Some(s) => s.protocol,
        None if s.desktop => Protocol::Rdp,
        None => Protocol::Ssh,
    });

    Effect::new(move |_| {
        if let Some(s) = session.get() {
            let what = if desktop.get() { "desktop" } else { "terminal" };
            set_title(&format!("{} — {what}", s.asset_name));
        }
    });
    let title = move || {
        session.with(|s| match s {
            Some(s) => format!(
                "{}@{} ({})",
                s.user,
                s.asset_name,
                s.protocol.as_str().to_uppercase()
            ),
            None => "Terminal".to_string(),
        })
    };
    view! {
        <section class="term-page">
            <div class="term-bar">
                <StatusPill status/>
                <span class="term-title">{title}</span>
                <span class="term-detail muted">{move || note.get()}</span>
                <span class="spacer"></span>
                <a class="btn btn-small" href="/assets">"Back to Assets"</a>
            </div>
            {move || lock.get().map(|m| view! {
                <div class="banner banner-lock" data-testid="lock-banner">
                    {m}
                </div>
            })}
            {move || ended.get().map(|r| view! {
                <div class="banner banner-ended" data-testid="session-ended">
                    {format!("Session ended: {r}")}
                </div>
            })}
            {move || access_ended.get().map(|m| view! {
                <div class="banner banner-ended" data-testid="access-ended">{m}</div>
            })}
            <StreamError stream/>
            <LiveRegion said/>
            <ConnectSteps progress=steps protocol/>
            <div class="term-host term-fill" class:hidden=move || desktop.get() data-testid="terminal" node_ref=host></div>
            {move || desktop.get().then(|| view! {
                <div class="desktop-fill">
                    <DesktopView desktop=stream.desktop testid="desktop-canvas"
                        locked=Signal::derive(move || lock.with(Option::is_some)) capture on_input/>
                </div>
            })}
            <div class="term-foot">
                <FocusEscapeHint what=Signal::derive(move || if desktop.get() { "desktop" } else { "terminal" })/>
            </div>
        </section>
    }
}

//! `/sessions/:id`: watch a live session (read-only), control it, read its Keystrokes.

use leptos::html::Div;
use leptos::prelude::*;
use vigil_wire::api::{Protocol, Session};
use vigil_wire::share::ShareKind;

use crate::api;
use crate::desktop::view::DesktopView;
use crate::focus_escape::dom::FocusEscapeHint;
use crate::live_region::{announce_changes, LiveRegion};
use crate::sharing::panel::SharePanel;
use crate::sharing::watchers::WhoIsWatching;
use crate::shell::{for_route_id, load_for, set_title, ErrorBox, Loading};
use crate::stream::announce::Facts;
use crate::stream::hook::{use_session_stream, StreamError};
use crate::stream::Role;
use crate::util::{self, NOT_AVAILABLE};
use crate::widgets::{
    load_keystrokes, local_time, use_now, AuditTrailLink, ConnectSteps, KeystrokesPanel,
    SessionControlsBar, StatusPill,
};

#[component]
pub fn PlayerPage() -> impl IntoView {
    for_route_id(|id| view! { <PlayerLoader id/> })
}

/// Asks the relay for the session first: an outsider gets the same answer for an id
/// that does not exist and one they may not watch.
#[component]
fn PlayerLoader(id: String) -> impl IntoView {
    set_title("Live session");
    let session = load_for(&id, |id| async move { api::session(&id).await });
    move || {
        match session.get() {
        None => view! { <section class="page"><Loading text="Loading session…"/></section> }.into_any(),
        Some(Err(e)) if e.is_not_available() => view! {
            <section class="page">
                <div class="alert alert-error" role="alert" data-testid="session-unavailable">{NOT_AVAILABLE}</div>
                <p><a href=back_href()>"Back to Active Sessions"</a></p>
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

/// Active Sessions: the kiosk's in the kiosk.
fn back_href() -> &'static str {
    if crate::kiosk::in_kiosk() {
        crate::kiosk::paths::ACTIVE
    } else {
        "/active"
    }
}

#[component]
fn LivePlayer(initial: Session) -> impl IntoView {
    set_title(&format!(
        "{} on {} — live",
        initial.user, initial.asset_name
    ));
    let id = initial.id.clone();
    let was_ended = initial.ended_at.is_some();
    let rdp = initial.protocol == Protocol::Rdp;
    // The kiosk leaves out what leads to other pages (audit, replay, share links).
    let kiosk = crate::kiosk::in_kiosk();
    let host = NodeRef::<Div>::new();
    let stream = use_session_stream(id.clone(), Role::Watch, Some(initial.clone()), host);
    let status = stream.pick(|s| s.status);
    let ended = stream.pick(|s| s.ended.clone());
    // Watching always has a session: the one loaded, as the stream and controls update it.
    let s = stream.pick(move |st| st.session.clone().unwrap_or_else(|| initial.clone()));
    let now = use_now();
    let keys_status = RwSignal::new(Some("Loading keystrokes…".to_string()));
    let action_error = RwSignal::new(None::<String>);
    load_keystrokes(id.clone(), stream.keys, keys_status);

    let active = Signal::derive(move || s.with(|s| s.ended_at.is_none()));
    let on_done = Callback::new(move |new: Session| stream.refresh(new));
    let on_error = Callback::new(move |e: String| action_error.set(Some(e)));
    let replay_href = format!("/replay/{}", api::seg(&id));
    let access_ended = stream.pick(|s| s.access_ended.clone());
    let participants = stream.pick(|s| s.participants.clone());
    // Share follows the session's controls: never for link viewers, nor the session's user.
    let may_share =
        Memo::new(move |_| !kiosk && s.with(|s| s.controls.share && s.ended_at.is_none()));
    let share_id = id.clone();
    // Each change of the participants (a join through a link) may add a link's use.
    let joins = RwSignal::new(0usize);
    let said = announce_changes(stream.pick(Facts::of_stream));
    Effect::new(move |_| {
        participants.track();
        joins.update(|n| *n += 1);
    });

    view! {
        <section class="page player-page">
            <header class="page-head">
                <h1>{move || s.with(|s| format!("{} on {}", s.user, s.asset_name))}</h1>
                <StatusPill status/>
                <span class="spacer"></span>
                {(!kiosk).then(|| view! { <AuditTrailLink id=id.clone()/> })}
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
                <div class="banner banner-lock" data-testid="lock-banner">"This session is locked: the user's input is blocked."</div>
            })}
            {move || ended.get().map(|r| {
                let href = replay_href.clone();
                view! {
                    <div class="banner banner-ended" data-testid="session-ended">
                        {format!("Session ended: {r}")} " "
                        {(!kiosk).then(|| view! { <a href=href>"Replay it"</a> })}
                    </div>
                }
            })}
            {move || access_ended.get().map(|m| view! {
                <div class="banner banner-ended" data-testid="access-ended">{m}</div>
            })}
            <StreamError stream/>
            <LiveRegion said/>
            {(kiosk && rdp && !was_ended).then(|| view! { <crate::kiosk::KeyboardLockStatus/> })}
            <ConnectSteps progress=stream.pick(|s| s.connect) protocol=Signal::derive(move || s.with(|s| s.protocol))/>
            <div class="player-body">
                <div class="term-scroll">
                    {(!was_ended && !rdp).then(|| view! { <div class="term-host" data-testid="player-terminal" node_ref=host></div> })}
                    {(!was_ended && rdp).then(|| view! {
                        <DesktopView desktop=stream.desktop testid="player-canvas" locked=false capture=false/>
                    })}
                    {(!was_ended && !rdp).then(|| view! { <FocusEscapeHint what="terminal"/> })}
                </div>
                <KeystrokesPanel keys=stream.keys selectable=Signal::derive(move || !active.get()) status=keys_status/>
            </div>
            <WhoIsWatching participants/>
            {move || may_share.get().then(|| view! { <SharePanel id=share_id.clone() kind=ShareKind::Live reload_on=joins/> })}
        </section>
    }
}

//! The kiosk's bar around the app's own Active Sessions and player pages: the user, the
//! full-screen button, Log out, and nothing else to go to. Full screen is entered on
//! the first click or tap anywhere in the kiosk (browsers allow it only on a user
//! gesture); the large "Enter full screen" button is there to be that tap. An idle
//! timer with the administrator's value logs the kiosk out.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_location;

use super::idle::{warning_text, Idle, IdleTimer};
use super::paths;
use crate::api;
use crate::pages::{active::ActivePage, player::PlayerPage};
use crate::shell::use_auth;

/// The idle time until the relay's answer arrives (the relay's own default).
const DEFAULT_IDLE_SECS: u32 = 300;

/// Whether the page shown is a kiosk page (`/kiosk…`): the pages shared with the app
/// leave out their links to other pages there.
pub fn in_kiosk() -> bool {
    web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .is_some_and(|p| paths::is_kiosk_path(&p))
}

/// Its children everywhere but on the kiosk's pages (the app's navigation). They are made
/// again only when the browser enters or leaves the kiosk, not on every page change (that
/// would drop the keyboard focus they hold, such as Menu's).
#[component]
pub fn HideInKiosk(children: ChildrenFn) -> impl IntoView {
    let location = use_location();
    let in_kiosk = Memo::new(move |_| paths::is_kiosk_path(&location.pathname.get()));
    move || (!in_kiosk.get()).then(|| children())
}

/// `/kiosk`: Active Sessions in the kiosk.
#[component]
pub fn KioskActivePage() -> impl IntoView {
    view! { <KioskShell><ActivePage/></KioskShell> }
}

/// `/kiosk/sessions/:id`: the live player in the kiosk.
#[component]
pub fn KioskPlayerPage() -> impl IntoView {
    view! { <KioskShell><PlayerPage/></KioskShell> }
}

pub(super) fn is_fullscreen() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.fullscreen_element().is_some())
}

fn fullscreen_enabled() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.fullscreen_enabled())
}

/// Asks for full screen (the whole page); only works during a user gesture.
fn enter_fullscreen() {
    let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    else {
        return;
    };
    if let Err(error) = root.request_fullscreen() {
        leptos::logging::warn!("full screen refused: {error:?}");
    }
}

/// Logs out through the API (as any logout) and opens the login page, which brings the
/// next user back to the kiosk.
fn log_out() {
    spawn_local(async move {
        // Whatever the relay answers, the kiosk is left: forget the login locally.
        let _ = api::logout().await;
        api::set_csrf("");
        if let Some(location) = web_sys::window().map(|w| w.location()) {
            if let Err(error) = location.replace(paths::LOGIN) {
                leptos::logging::error!("could not open the login page: {error:?}");
            }
        }
    });
}

/// Restarts on every touch, click, key or wheel; logs out when it runs out.
fn use_idle_logout() -> RwSignal<Idle> {
    let timer = StoredValue::new(IdleTimer::new(DEFAULT_IDLE_SECS, js_sys::Date::now()));
    let idle = RwSignal::new(Idle::Active);
    spawn_local(async move {
        match api::kiosk_settings().await {
            Ok(s) => {
                let _ = timer.try_update_value(|t| t.set_limit(s.idle_secs));
            }
            Err(error) => leptos::logging::warn!("kiosk settings: {error}"),
        }
    });
    let handles: Vec<_> = ["pointerdown", "keydown", "touchstart", "wheel"]
        .into_iter()
        .map(|name| {
            window_event_listener_untyped(name, move |_| {
                timer.update_value(|t| t.input(js_sys::Date::now()));
                if idle.get_untracked() != Idle::Active {
                    idle.set(Idle::Active);
                }
            })
        })
        .collect();
    on_cleanup(move || handles.into_iter().for_each(|h| h.remove()));
    let left = StoredValue::new(false);
    let tick = move || {
        let Some(state) = timer.try_with_value(|t| t.state(js_sys::Date::now())) else {
            return;
        };
        let _ = idle.try_set(state);
        if state == Idle::Expired && !left.get_value() {
            left.set_value(true);
            leptos::logging::log!("kiosk idle: logging out");
            log_out();
        }
    };
    if let Ok(handle) = set_interval_with_handle(tick, Duration::from_millis(500)) {
        on_cleanup(move || handle.clear());
    }
    idle
}

#[component]
fn KioskShell(children: Children) -> impl IntoView {
    let auth = use_auth();
    let location = use_location();
    let fullscreen = RwSignal::new(is_fullscreen());
    let can_fullscreen = fullscreen_enabled();
    let handle = window_event_listener_untyped("fullscreenchange", move |_| {
        let _ = fullscreen.try_set(is_fullscreen());
    });
    on_cleanup(move || handle.remove());
    let idle = use_idle_logout();
    let busy = RwSignal::new(false);
    let name = move || {
        auth.me.with(|m| {
            m.as_ref()
                .map(|m| {
                    if m.display_name.trim().is_empty() {
                        m.username.clone()
                    } else {
                        m.display_name.clone()
                    }
                })
                .unwrap_or_default()
        })
    };
    let on_active = move || location.pathname.get() == paths::ACTIVE;

    view! {
        <div
            class="kiosk"
            data-testid="kiosk"
            data-fullscreen=move || fullscreen.get().to_string()
            on:click=move |_| {
                if can_fullscreen && !is_fullscreen() {
                    enter_fullscreen();
                }
            }
        >
            <header class="kiosk-bar">
                <span class="brand" aria-label="Vigil">
                    <img src=crate::assets::Asset::Logo.url() alt="" width="20" height="20"/>
                    "Vigil"
                </span>
                <nav class="kiosk-nav" aria-label="Kiosk">
                    <a class="btn kiosk-btn" href=paths::ACTIVE data-testid="kiosk-active"
                        aria-current=move || on_active().then_some("page")>
                        "Active Sessions"
                    </a>
                </nav>
                <span class="spacer"></span>
                <span class="who-name" data-testid="nav-user">{name}</span>
                {move || match (can_fullscreen, fullscreen.get()) {
                    (false, _) => Some(view! {
                        <span class="kiosk-note" data-testid="kiosk-no-fullscreen">"This browser cannot show Vigil in full screen."</span>
                    }.into_any()),
                    (true, false) => Some(view! {
                        // The kiosk's own click handler enters full screen.
                        <button type="button" class="btn btn-primary kiosk-btn" data-testid="kiosk-fullscreen">
                            "Enter full screen"
                        </button>
                    }.into_any()),
                    (true, true) => None,
                }}
                <button
                    type="button"
                    class="btn kiosk-btn"
                    data-testid="logout"
                    disabled=move || busy.get()
                    on:click=move |_| {
                        busy.set(true);
                        log_out();
                    }
                >
                    "Log out"
                </button>
            </header>
            {move || match idle.get() {
                Idle::Warning { secs_left } => Some(view! {
                    <div class="alert alert-warn kiosk-idle" data-testid="kiosk-idle-warning" role="alert">
                        {warning_text(secs_left)}
                    </div>
                }),
                _ => None,
            }}
            {children()}
        </div>
    }
}

//! Pieces shared by several pages: session controls, the Keystrokes panel, clocks,
//! table heads.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::api::{Keystroke, Protocol, Session};

use crate::api::{self, ApiError, SessionAction};
use crate::stream::steps::{ConnectProgress, StepState};
use crate::stream::StreamStatus;
use crate::util::{self, Fetched};

/// Local date and time (`2024-05-01 13:04:05`) of a Unix-milliseconds timestamp.
pub fn local_time(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds()
    )
}

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A clock that ticks every second while the calling component lives.
pub fn use_now() -> ReadSignal<i64> {
    let (now, set_now) = signal(now_ms());
    if let Ok(handle) = set_interval_with_handle(
        move || {
            let _ = set_now.try_set(now_ms());
        },
        Duration::from_secs(1),
    ) {
        on_cleanup(move || handle.clear());
    }
    now
}

/// Lock / Unlock, Terminate, Terminate and Cancel, as the session's `controls` allow.
/// `on_done` gets the session as the relay returns it; `on_error` a message.
#[component]
pub fn SessionControlsBar(
    #[prop(into)] session: Signal<Option<Session>>,
    #[prop(into)] on_done: Callback<Session>,
    #[prop(into)] on_error: Callback<String>,
) -> impl IntoView {
    let busy = RwSignal::new(false);
    let act = move |action: SessionAction| {
        let Some(id) = session.with_untracked(|s| s.as_ref().map(|s| s.id.clone())) else {
            return;
        };
        busy.set(true);
        spawn_local(async move {
            let result = api::session_action(&id, action).await;
            let _ = busy.try_set(false);
            match result {
                Ok(s) => on_done.run(s),
                Err(e) => {
                    let what = match action {
                        SessionAction::Lock => "Lock",
                        SessionAction::Unlock => "Unlock",
                        SessionAction::Terminate => "Terminate",
                        SessionAction::TerminateAndCancel => "Terminate and Cancel",
                    };
                    on_error.run(format!("{what} failed: {e}"));
                }
            }
        });
    };
    let live = move || session.with(|s| s.as_ref().is_some_and(|s| s.ended_at.is_none()));
    let controls = move || session.with(|s| s.as_ref().map(|s| (s.controls, s.locked)));
    view! {
        <div class="controls" role="group" aria-label="Session controls">
            {move || {
                let (c, locked) = controls()?;
                if !live() {
                    return None;
                }
                Some(view! {
                    {c.lock.then(|| if locked {
                        view! {
                            <button type="button" class="btn btn-warn" data-testid="unlock-button"
                                disabled=move || busy.get()
                                on:click=move |_| act(SessionAction::Unlock)>"Unlock"</button>
                        }.into_any()
                    } else {
                        view! {
                            <button type="button" class="btn btn-warn" data-testid="lock-button"
                                disabled=move || busy.get()
                                on:click=move |_| act(SessionAction::Lock)>"Lock"</button>
                        }.into_any()
                    })}
                    {c.terminate.then(|| view! {
                        <button type="button" class="btn btn-danger" data-testid="terminate-button"
                            disabled=move || busy.get()
                            on:click=move |_| act(SessionAction::Terminate)>"Terminate"</button>
                    })}
                    {c.terminate_and_cancel.then(|| view! {
                        <button type="button" class="btn btn-danger" data-testid="terminate-cancel-button"
                            disabled=move || busy.get()
                            on:click=move |_| act(SessionAction::TerminateAndCancel)>"Terminate and Cancel"</button>
                    })}
                })
            }}
        </div>
    }
}

/// Loads a session's keystroke log into `keys`; `status` says why it is missing
/// (`None` once loaded).
pub fn load_keystrokes(
    id: String,
    keys: RwSignal<Vec<Keystroke>>,
    status: RwSignal<Option<String>>,
) {
    spawn_local(async move {
        match api::keystrokes(&id).await {
            Ok(list) => {
                let _ = keys.try_update(|k| util::merge_keystrokes(k, list));
                let _ = status.try_set(None);
            }
            Err(ApiError::Http {
                status: 403 | 404, ..
            }) => {
                let _ = status.try_set(Some(
                    "Keystrokes are not available to you. Ask an administrator if you need them."
                        .into(),
                ));
            }
            Err(e) => {
                let _ = status.try_set(Some(format!("Could not load keystrokes: {e}")));
            }
        }
    });
}

/// The Keystrokes panel. While `selectable` is false the entries cannot be selected
/// (CSS `user-select: none`). With `on_pick`, each entry is a button (replay: seek).
#[component]
pub fn KeystrokesPanel(
    #[prop(into)] keys: Signal<Vec<Keystroke>>,
    #[prop(into)] selectable: Signal<bool>,
    #[prop(into)] status: Signal<Option<String>>,
    #[prop(optional, into)] on_pick: Option<Callback<u64>>,
) -> impl IntoView {
    let newest_first = RwSignal::new(false);
    let ordered = move || {
        let mut v = keys.get();
        if newest_first.get() {
            v.reverse();
        }
        v
    };
    view! {
        <section
            class="keystrokes"
            class:no-select=move || !selectable.get()
            data-testid="keystrokes"
            aria-labelledby="keystrokes-heading"
        >
            <div class="keystrokes-head">
                <h2 id="keystrokes-heading">"Keystrokes"</h2>
                <span class="count">{move || keys.with(Vec::len)}</span>
                <button
                    type="button"
                    class="btn btn-small"
                    data-testid="keystroke-sort"
                    title="Change the order"
                    on:click=move |_| newest_first.update(|n| *n = !*n)
                >
                    {move || util::sort_label(newest_first.get())}
                </button>
            </div>
            {move || status.get().map(|s| view! { <p class="state">{s}</p> })}
            <ol class="keystroke-list">
                <For each=ordered key=|k| k.seq let:k>
                    {
                        let time = util::mmss(k.at_ms);
                        let at = k.at_ms;
                        let key = k.key.clone();
                        let raw = k.raw.clone();
                        // The relay's reading is the entry; a browser that said otherwise
                        // is flagged, its claim in the title.
                        let flag = k.browser_text.as_deref().map(|claim| {
                            let title = util::browser_text_title(claim);
                            view! {
                                <span class="k-flag" data-testid="keystroke-flag" title=title.clone() aria-label=title>"⚠"</span>
                            }
                        });
                        match on_pick {
                            Some(cb) => view! {
                                <li data-testid="keystroke" class="keystroke">
                                    <button type="button" class="keystroke-pick" title="Go to this moment"
                                        on:click=move |_| cb.run(at)>
                                        <span class="k-time">{time}</span>
                                        <span class="k-key">{key}{flag}</span>
                                        <span class="k-raw">{raw}</span>
                                    </button>
                                </li>
                            }.into_any(),
                            None => view! {
                                <li data-testid="keystroke" class="keystroke">
                                    <span class="k-time">{time}</span>
                                    <span class="k-key">{key}{flag}</span>
                                    <span class="k-raw">{raw}</span>
                                </li>
                            }.into_any(),
                        }
                    }
                </For>
            </ol>
            {move || keys.with(Vec::is_empty).then(|| view! { <p class="empty">"No keystrokes yet."</p> })}
        </section>
    }
}

/// A table's header row: a heading for each column in `cols`, then the actions column.
#[component]
pub fn GridHead(cols: &'static [&'static str], actions: &'static str) -> impl IntoView {
    view! {
        <thead>
            <tr>
                {cols.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}
                <th scope="col" class="actions-col">{actions}</th>
            </tr>
        </thead>
    }
}

/// The pill that shows a session's connection state (`data-testid="session-status"`).
#[component]
pub fn StatusPill(#[prop(into)] status: Signal<StreamStatus>) -> impl IntoView {
    view! {
        <span class="pill" data-testid="session-status" data-status=move || status.get().as_str() role="status">
            {move || status.get().as_str()}
        </span>
    }
}

/// The steps of connecting the session to its target, while they are under way or
/// when the connection failed (`data-testid="connect-steps"`), in a `role="status"`
/// region so a screen reader hears each step as it completes. Once connected the list
/// stays in the page, hidden, its steps all done.
#[component]
pub fn ConnectSteps(
    #[prop(into)] progress: Signal<Option<ConnectProgress>>,
    #[prop(into)] protocol: Signal<Protocol>,
) -> impl IntoView {
    // The region stays put while its list changes: a live region that is replaced
    // instead of updated is not announced.
    let shown = move || progress.get().is_some_and(|p| p.under_way());
    view! {
        <div class="connect-steps" data-testid="connect-steps" role="status"
            aria-label="Connecting to the target" hidden=move || !shown()>
            {move || progress.get().map(|p| view! {
                <ol>
                    {p.labelled(protocol.get()).into_iter().map(|(label, state)| view! {
                        <li data-testid="connect-step" data-state=state.as_str()
                            aria-current=(state == StepState::Current).then_some("step")>
                            <span class="step-mark" aria-hidden="true"></span>
                            {label}
                            <span class="sr-only">{format!(": {}", state.spoken())}</span>
                        </li>
                    }).collect_view()}
                </ol>
            })}
        </div>
    }
}

/// A download under way (`data-testid="fetch-progress"`): a `<progress>` of the bytes
/// received out of the announced size (indeterminate when the relay announced none), and
/// the same in words beside it. Hidden when nothing is downloading.
#[component]
pub fn FetchProgress(
    #[prop(into)] progress: Signal<Option<Fetched>>,
    /// What is downloading, e.g. "Downloading the recording".
    what: &'static str,
) -> impl IntoView {
    let bar = move || progress.get().and_then(|f| f.bar());
    let text = move || progress.get().map(|f| f.text()).unwrap_or_default();
    view! {
        <div class="fetch-progress" data-testid="fetch-progress" hidden=move || progress.get().is_none()
            data-received=move || progress.get().map(|f| f.received.to_string())
            data-total=move || progress.get().and_then(|f| f.known_total()).map(|t| t.to_string())>
            <span class="fetch-what">{what}</span>
            <progress aria-label=what value=move || bar().map(|(v, _)| v.to_string())
                max=move || bar().map(|(_, m)| m.to_string())>{text}</progress>
            <span class="fetch-text muted" data-testid="fetch-progress-text">{text}</span>
        </div>
    }
}

/// Playback speeds offered by both replay players.
pub(crate) const SPEEDS: [(&str, &str); 5] = [
    ("0.5", "0.5×"),
    ("1", "1×"),
    ("2", "2×"),
    ("4", "4×"),
    ("8", "8×"),
];

/// Play/Pause, the seek slider, the time and the speed of a replay. `overlay` is drawn
/// over the slider (e.g. lock and terminate markers).
#[component]
pub fn ReplayControls(
    playing: RwSignal<bool>,
    at: RwSignal<f64>,
    speed: RwSignal<f64>,
    duration_ms: f64,
    on_toggle: Callback<()>,
    on_seek: Callback<f64>,
    #[prop(optional)] overlay: Option<ViewFn>,
) -> impl IntoView {
    let time_text = move || {
        format!(
            "{} / {}",
            util::mmss(at.get() as u64),
            util::mmss(duration_ms as u64)
        )
    };
    view! {
        <div class="replay-controls" role="group" aria-label="Playback">
            <button type="button" class="btn btn-primary play" data-testid="replay-play"
                aria-pressed=move || playing.get().to_string()
                on:click=move |_| on_toggle.run(())>
                {move || if playing.get() { "Pause" } else { "Play" }}
            </button>
            <label class="sr-only" for="replay-seek">"Position"</label>
            <div class="seek-wrap">
                <input id="replay-seek" class="seek" type="range" data-testid="replay-seek"
                    min="0" max=duration_ms.ceil().to_string() step="100"
                    prop:value=move || at.get().round().to_string()
                    on:input=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                            on_seek.run(v);
                        }
                    }/>
                <div class="markers">{overlay.map(|f| f.run())}</div>
            </div>
            <span class="time mono" data-testid="replay-time" aria-live="off">{time_text}</span>
            <label for="replay-speed">"Speed"</label>
            <select id="replay-speed" data-testid="replay-speed"
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                        speed.set(v);
                    }
                }>
                {SPEEDS.iter().map(|(v, label)| view! {
                    <option value=*v selected=*v == "1">{*label}</option>
                }).collect_view()}
            </select>
        </div>
    }
}

/// "Audit trail": the session's own entries on the Audit page, for administrators only.
#[component]
pub fn AuditTrailLink(#[prop(into)] id: String) -> impl IntoView {
    let auth = crate::shell::use_auth();
    let href = format!("/audit?session={}", api::seg(&id));
    move || {
        auth.me
            .with(|m| m.as_ref().is_some_and(|m| m.is_admin))
            .then(|| {
                view! {
                    <a class="btn btn-small" data-testid="audit-trail-link" href=href.clone()>"Audit trail"</a>
                }
            })
    }
}

//! `/active`: Active Sessions, pushed by the `/api/v1/live` feed (no polling).
//!
//! One session can be selected (its row's radio button: Tab reaches the group, the arrow
//! keys move the selection, Space selects; or a click on the row): the toolbar below the
//! list (`toolbar.rs`) acts on it, and the page's live region announces its lock, unlock
//! and end. The selection stays while the list updates and goes when the session ends.

use std::collections::HashMap;
use std::time::Duration;

use leptos::prelude::*;
use vigil_wire::api::{Session, SessionId};
use vigil_wire::live::{FeedMsg, Thumbnail};

mod emergency;
mod toolbar;

use crate::api;
use crate::live_region::{announce_changes, LiveRegion};
use crate::selection;
use crate::sharing::describe;
use crate::shell::{set_title, use_auth};
use crate::stream::announce::Facts;
use crate::util;
use crate::widgets::{local_time, use_now, GridHead, SessionControlsBar};
use crate::ws::{Socket, SocketEvent};
use emergency::EmergencyControl;
use toolbar::SelectionToolbar;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Feed {
    Connecting,
    Live,
    Reconnecting(String),
}

#[derive(Clone, Copy)]
struct FeedState {
    sessions: RwSignal<Vec<Session>>,
    thumbs: RwSignal<HashMap<SessionId, Thumbnail>>,
    feed: RwSignal<Feed>,
    received: RwSignal<bool>,
    socket: StoredValue<Option<Socket>, LocalStorage>,
    alive: StoredValue<bool>,
}

fn sort(v: &mut [Session]) {
    v.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| a.id.cmp(&b.id))
    });
}

fn upsert(state: FeedState, s: Session) {
    state.sessions.update(|v| {
        match v.iter_mut().find(|x| x.id == s.id) {
            Some(x) => *x = s,
            None => v.push(s),
        }
        sort(v);
    });
}

fn apply(state: FeedState, msg: FeedMsg) {
    match msg {
        FeedMsg::Sessions { mut sessions } => {
            sort(&mut sessions);
            state
                .thumbs
                .update(|t| t.retain(|id, _| sessions.iter().any(|s| &s.id == id)));
            state.sessions.set(sessions);
            state.received.set(true);
        }
        FeedMsg::Upsert { session } => {
            if session.ended_at.is_some() {
                let id = session.id;
                state.sessions.update(|v| v.retain(|s| s.id != id));
            } else {
                upsert(state, session);
            }
        }
        FeedMsg::Removed { id } => {
            state.sessions.update(|v| v.retain(|s| s.id != id));
            state.thumbs.update(|t| {
                t.remove(&id);
            });
        }
        FeedMsg::Thumbnail { id, thumbnail } => state.thumbs.update(|t| {
            t.insert(id, thumbnail);
        }),
    }
}

fn connect(state: FeedState) {
    if !state.alive.try_get_value().unwrap_or(false) {
        return;
    }
    let socket = Socket::connect(&api::live_path(), move |ev| match ev {
        SocketEvent::Open => {
            let _ = state.feed.try_set(Feed::Live);
        }
        SocketEvent::Frame(frame) => match FeedMsg::decode(&frame) {
            Ok(msg) => apply(state, msg),
            Err(e) => leptos::logging::warn!("live feed: {e}"),
        },
        SocketEvent::Closed { code, .. } => {
            let _ = state.feed.try_set(Feed::Reconnecting(format!(
                "Live feed disconnected (code {code}); reconnecting… If it does not come back, check your network connection and reload the page."
            )));
            // A lapsed login shows up as a refused upgrade: ask, so a 401 redirects.
            leptos::task::spawn_local(async {
                let _ = api::me().await;
            });
            // Reconnect from a timer, never from inside the socket's own handler.
            set_timeout(move || connect(state), Duration::from_secs(2));
        }
    });
    match socket {
        Ok(s) => state.socket.set_value(Some(s)),
        Err(e) => {
            let _ = state.feed.try_set(Feed::Reconnecting(format!(
                "Cannot open the live feed ({e}); retrying… If it does not come back, check your network connection and reload the page."
            )));
            set_timeout(move || connect(state), Duration::from_secs(5));
        }
    }
}

#[component]
pub fn ActivePage() -> impl IntoView {
    set_title("Active Sessions");
    let state = FeedState {
        sessions: RwSignal::new(Vec::new()),
        thumbs: RwSignal::new(HashMap::new()),
        feed: RwSignal::new(Feed::Connecting),
        received: RwSignal::new(false),
        socket: StoredValue::new_local(None),
        alive: StoredValue::new(true),
    };
    let action_error = RwSignal::new(None::<String>);
    let now = use_now();
    let auth = use_auth();
    // Only administrators may use the emergency control; the relay refuses anyone else.
    let is_admin = move || auth.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    connect(state);
    on_cleanup(move || {
        state.alive.set_value(false);
        state.socket.set_value(None);
    });

    let selected_id = RwSignal::new(None::<SessionId>);
    // The selected session as the list has it now: none once it ended or left the list.
    // `selected_id` itself is kept, so that its end is announced.
    let selected = Memo::new(move |_| {
        let id = selected_id.get();
        state
            .sessions
            .with(|v| selection::selected(id.as_ref(), v).cloned())
    });
    let facts = Memo::new(move |_| match selected_id.get() {
        Some(id) => state
            .sessions
            .with(|v| Facts::of_listed(&id, v.iter().find(|s| s.id == id))),
        None => Facts::default(),
    });
    let said = announce_changes(facts);
    let on_done = Callback::new(move |s: Session| {
        if s.ended_at.is_some() {
            let id = s.id;
            state.sessions.update(|v| v.retain(|x| x.id != id));
        } else {
            upsert(state, s);
        }
    });
    let on_error = Callback::new(move |e: String| action_error.set(Some(e)));
    // Only when the list turns empty or not: the table is not made again on each change
    // (a focused radio button or toolbar button would lose the focus).
    let empty = Memo::new(move |_| state.sessions.with(Vec::is_empty));

    let ids = move || {
        state
            .sessions
            .with(|v| v.iter().map(|s| s.id.clone()).collect::<Vec<_>>())
    };
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Active Sessions"</h1>
                {move || is_admin().then(|| view! { <EmergencyControl sessions=state.sessions/> })}
                <span class="feed-state" role="status">
                    {move || match state.feed.get() {
                        Feed::Connecting => view! { <span class="dot dot-wait"></span>"Connecting…" }.into_any(),
                        Feed::Live => view! { <span class="dot dot-live"></span>"Live" }.into_any(),
                        Feed::Reconnecting(_) => view! { <span class="dot dot-off"></span>"Offline" }.into_any(),
                    }}
                </span>
            </header>
            {move || match state.feed.get() {
                Feed::Reconnecting(m) => Some(view! { <div class="alert alert-warn" role="alert">{m}</div> }),
                _ => None,
            }}
            {move || action_error.get().map(|e| view! {
                <div class="alert alert-error" role="alert">
                    {e}
                    <button type="button" class="btn btn-small btn-ghost-dark" on:click=move |_| action_error.set(None)>"Dismiss"</button>
                </div>
            })}
            {move || {
                if !state.received.get() {
                    view! { <p class="state state-loading" role="status">"Loading active sessions…"</p> }.into_any()
                } else if empty.get() {
                    view! { <p class="empty" data-testid="sessions-empty">"No active sessions."</p> }.into_any()
                } else {
                    view! {
                        <table class="grid sessions" aria-describedby="select-help">
                            <GridHead cols=&["Select", "Screen", "User", "Asset", "Protocol", "Started", "Duration", "State"] actions="Controls"/>
                            <tbody>
                                <For each=ids key=|id| id.clone() let:id>
                                    <SessionRow id state now selected_id on_done on_error/>
                                </For>
                            </tbody>
                        </table>
                        <p id="select-help" class="muted small select-help">
                            "Select a session with its radio button (arrow keys move the selection, Space selects) or by clicking its row; the toolbar below acts on it."
                        </p>
                        <SelectionToolbar selected on_done on_error/>
                    }.into_any()
                }
            }}
            <LiveRegion said/>
        </section>
    }
}

#[component]
fn SessionRow(
    id: SessionId,
    state: FeedState,
    now: ReadSignal<i64>,
    selected_id: RwSignal<Option<SessionId>>,
    on_done: Callback<Session>,
    on_error: Callback<String>,
) -> impl IntoView {
    let auth = use_auth();
    let sid = id.clone();
    let session = Memo::new(move |_| {
        state
            .sessions
            .with(|v| v.iter().find(|s| s.id == sid).cloned())
    });
    let tid = id.clone();
    let thumb = Memo::new(move |_| state.thumbs.with(|t| t.get(&tid).cloned()));
    let field = move |f: fn(&Session) -> String| {
        move || session.with(|s| s.as_ref().map(f).unwrap_or_default())
    };
    let locked = move || session.with(|s| s.as_ref().is_some_and(|s| s.locked));
    // Where the thumbnail leads: the live player for watchers; the owner's own terminal
    // otherwise. In the kiosk, only the kiosk's player.
    let kiosk = crate::kiosk::in_kiosk();
    let href = move || {
        session.with(|s| {
            let s = s.as_ref()?;
            if s.controls.watch && kiosk {
                Some(crate::kiosk::paths::player(&api::seg(&s.id)))
            } else if s.controls.watch {
                Some(format!("/sessions/{}", api::seg(&s.id)))
            } else if s.user == auth.username() && !kiosk {
                Some(format!("/connect/{}", api::seg(&s.id)))
            } else {
                None
            }
        })
    };
    let thumb_view = move || match thumb.get() {
        Some(Thumbnail::Text { rows }) => {
            view! { <pre class="thumb-text">{rows.join("\n")}</pre> }.into_any()
        }
        Some(Thumbnail::Png { base64 }) => {
            view! { <img class="thumb-img" src=format!("data:image/png;base64,{base64}") alt=""/> }
                .into_any()
        }
        None => view! { <span class="thumb-none">"No preview yet"</span> }.into_any(),
    };
    let label = move || {
        session.with(|s| {
            s.as_ref()
                .map(|s| format!("Watch {}'s session on {}", s.user, s.asset_name))
                .unwrap_or_default()
        })
    };
    let sel_id = id.clone();
    let is_selected = Memo::new(move |_| selected_id.with(|s| s.as_ref() == Some(&sel_id)));
    let pick_id = id.clone();
    let pick = move || selected_id.set(Some(pick_id.clone()));
    let pick_on_row = pick.clone();
    // A click anywhere on the row selects it, except on its own links and buttons.
    let on_row_click = move |ev: web_sys::MouseEvent| {
        use wasm_bindgen::JsCast;
        let on_control = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| {
                el.closest("a, button, input, select, textarea")
                    .ok()
                    .flatten()
            })
            .is_some();
        if !on_control {
            pick_on_row();
        }
    };
    let select_label = move || {
        session.with(|s| {
            s.as_ref()
                .map(|s| format!("Select {}'s session on {}", s.user, s.asset_name))
                .unwrap_or_default()
        })
    };

    view! {
        <tr data-testid="session-row" data-session-id=id.clone() data-locked=move || locked().to_string()
            data-selected=move || is_selected.get().to_string()
            class:locked=locked class:selected=move || is_selected.get()
            on:click=on_row_click>
            <td class="select-cell">
                <input type="radio" name="session-select" data-testid="session-select"
                    aria-label=select_label
                    prop:checked=move || is_selected.get()
                    on:change=move |_| pick()/>
            </td>
            <td class="thumb-cell">
                {move || match href() {
                    Some(h) => view! {
                        <a class="thumb" data-testid="thumbnail" href=h title=label>
                            <span class="sr-only">{label}</span>
                            <span class="thumb-view" aria-hidden="true">{thumb_view}</span>
                        </a>
                    }.into_any(),
                    None => view! { <div class="thumb" data-testid="thumbnail">{thumb_view}</div> }.into_any(),
                }}
            </td>
            <td class="strong" data-label="User">{field(|s| s.user.clone())}</td>
            <td data-label="Asset">{field(|s| s.asset_name.clone())}</td>
            <td data-label="Protocol"><span class="proto">{field(|s| s.protocol.as_str().to_uppercase())}</span></td>
            <td class="nowrap" data-label="Started">{field(|s| local_time(s.started_at))}</td>
            <td class="nowrap mono" data-label="Duration">
                {move || session.with(|s| s.as_ref().map(|s| util::duration(now.get() - s.started_at)).unwrap_or_default())}
            </td>
            <td data-label="State">
                {move || if locked() {
                    view! { <span class="badge badge-locked">"Locked"</span> }.into_any()
                } else {
                    view! { <span class="badge badge-live">"Active"</span> }.into_any()
                }}
                // Only people with monitoring rights are told how many watch.
                {move || session.with(|s| s.as_ref().and_then(|s| s.watchers)).map(|n| view! {
                    <span class="watchers-count" data-testid="watchers-count" data-count=n.to_string()>
                        {describe::watchers_text(n)}
                    </span>
                })}
            </td>
            <td class="actions">
                <SessionControlsBar session=Signal::derive(move || session.get()) on_done on_error/>
            </td>
        </tr>
    }
}

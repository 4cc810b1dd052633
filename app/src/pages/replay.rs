//! `/replay`: Replay Sessions, the ended sessions the user may see.

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::api::Session;

use crate::api::{self, ApiError};
use crate::shell::{set_title, ErrorBox, Loading};
use crate::util;
use crate::widgets::{local_time, GridHead};

#[component]
pub fn ReplayListPage() -> impl IntoView {
    set_title("Replay Sessions");
    let sessions = LocalResource::new(|| api::sessions("ended"));
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Replay Sessions"</h1>
                <button type="button" class="btn" on:click=move |_| sessions.refetch()>"Refresh"</button>
            </header>
            {move || match sessions.get() {
                None => view! { <Loading text="Loading recorded sessions…"/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox message=format!("Could not load sessions: {e}")/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty">"No recorded sessions yet."</p>
                }.into_any(),
                Some(Ok(mut list)) => {
                    list.sort_by(|a, b| b.ended_at.cmp(&a.ended_at).then(b.started_at.cmp(&a.started_at)));
                    view! {
                        <table class="grid">
                            <GridHead cols=&["User", "Asset", "Protocol", "Started", "Ended", "Duration", "End reason", "Legal hold"] actions="Recording"/>
                            <tbody>
                                {list.into_iter().map(|s| row(s, sessions)).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            }}
        </section>
    }
}

type Sessions = LocalResource<Result<Vec<Session>, ApiError>>;

fn row(s: Session, sessions: Sessions) -> impl IntoView {
    let seg = api::seg(&s.id);
    let download_name = format!("vigil-{}-{}-{}.cast", s.asset_name, s.user, s.id);
    let deleted = s.recording_deleted_at.is_some();
    let held = s.legal_hold.is_some();
    let error = RwSignal::new(None::<String>);
    let id = s.id.clone();
    // Place or release the hold: a reason is asked for (required to place one).
    let toggle = move |_| {
        let question = if held {
            "Release the legal hold? Retention applies to this recording again.\n\nReason (optional):"
        } else {
            "Place a legal hold: retention keeps this recording until it is released.\n\nReason:"
        };
        let Some(reason) =
            web_sys::window().and_then(|w| w.prompt_with_message(question).ok().flatten())
        else {
            return;
        };
        let id = id.clone();
        error.set(None);
        spawn_local(async move {
            match api::set_legal_hold(&id, !held, reason).await {
                Ok(_) => sessions.refetch(),
                Err(e) => {
                    let _ = error.try_set(Some(format!("Could not change the hold: {e}")));
                }
            }
        });
    };
    let hold_text = s
        .legal_hold
        .as_ref()
        .map(|h| format!("{} ({})", h.reason, h.by));
    view! {
        <tr data-testid="replay-row" data-session-id=s.id.clone()>
            <td class="strong">{s.user.clone()}</td>
            <td>{s.asset_name.clone()}</td>
            <td><span class="proto">{s.protocol.as_str().to_uppercase()}</span></td>
            <td class="nowrap">{local_time(s.started_at)}</td>
            <td class="nowrap">{s.ended_at.map(local_time).unwrap_or_else(|| "—".into())}</td>
            <td class="nowrap mono">{s.ended_at.map(|e| util::duration(e - s.started_at)).unwrap_or_default()}</td>
            <td class="wrap">{s.end_reason.as_ref().map_or_else(|| "—".into(), ToString::to_string)}</td>
            <td class="wrap" data-testid="hold-cell" data-held=held.to_string()>
                {match hold_text {
                    Some(t) => {
                        let title = t.clone();
                        view! { <span class="badge" title=title>"On hold: "{t}</span> }.into_any()
                    }
                    None => view! { <span>"—"</span> }.into_any(),
                }}
                {move || error.get().map(|e| view! { <span class="error">{e}</span> })}
            </td>
            <td class="actions">
                {s.controls.legal_hold.then(|| view! {
                    <button type="button" class="btn" data-testid="hold-button" on:click=toggle.clone()>
                        {if held { "Release hold" } else { "Hold" }}
                    </button>
                })}
                {deleted.then(|| view! { <span class="muted" data-testid="recording-deleted">"Deleted by retention"</span> })}
                {(!deleted).then(|| view! {
                    <a class="btn btn-primary" data-testid="replay-link" href=format!("/replay/{seg}")>"Replay"</a>
                })}
                // Same-tab download: `download` makes the router and the browser leave the page alone.
                {(s.controls.download && !deleted).then(|| view! {
                    <a class="btn" data-testid="download-link" href=api::recording_url(&s.id) download=download_name rel="external">
                        "Download"
                    </a>
                })}
            </td>
        </tr>
    }
}

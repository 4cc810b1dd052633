//! `/replay`: Replay Sessions, the ended sessions the user may see.

use leptos::prelude::*;
use vigil_wire::api::Session;

use crate::api;
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
                            <GridHead cols=&["User", "Asset", "Protocol", "Started", "Ended", "Duration", "End reason"] actions="Recording"/>
                            <tbody>
                                {list.into_iter().map(row).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            }}
        </section>
    }
}

fn row(s: Session) -> impl IntoView {
    let seg = api::seg(&s.id);
    let download_name = format!("vigil-{}-{}-{}.cast", s.asset_name, s.user, s.id);
    view! {
        <tr data-testid="replay-row" data-session-id=s.id.clone()>
            <td class="strong">{s.user.clone()}</td>
            <td>{s.asset_name.clone()}</td>
            <td><span class="proto">{s.protocol.as_str().to_uppercase()}</span></td>
            <td class="nowrap">{local_time(s.started_at)}</td>
            <td class="nowrap">{s.ended_at.map(local_time).unwrap_or_else(|| "—".into())}</td>
            <td class="nowrap mono">{s.ended_at.map(|e| util::duration(e - s.started_at)).unwrap_or_default()}</td>
            <td class="wrap">{s.end_reason.as_ref().map_or_else(|| "—".into(), ToString::to_string)}</td>
            <td class="actions">
                <a class="btn btn-primary" data-testid="replay-link" href=format!("/replay/{seg}")>"Replay"</a>
                // Same-tab download: `download` makes the router and the browser leave the page alone.
                {s.controls.download.then(|| view! {
                    <a class="btn" data-testid="download-link" href=api::recording_url(&s.id) download=download_name rel="external">
                        "Download"
                    </a>
                })}
            </td>
        </tr>
    }
}

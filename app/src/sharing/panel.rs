//! Share, in both players, for the people who may share the session: the Share button and
//! its dialog, and the session's links (who made each, for whom, when it expires, who has
//! used it) with Revoke.

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::share::{ShareKind, ShareLink};

use super::describe::{self, LinkState};
use super::dialog::ShareDialog;
use crate::api;
use crate::shell::ErrorBox;
use crate::widgets::{local_time, use_now};

/// Share and the links of session `id`, sharing it as a link of `kind`. The list loads again
/// each time `reload_on` changes (the live player: whenever someone joins or leaves), and on
/// Refresh.
#[component]
pub fn SharePanel(
    id: String,
    kind: ShareKind,
    #[prop(optional, into)] reload_on: Option<Signal<usize>>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let links = RwSignal::new(None::<Result<Vec<ShareLink>, String>>);
    let error = RwSignal::new(None::<String>);
    let sid = StoredValue::new(id.clone());
    let load = move || {
        spawn_local(async move {
            let answer = api::shares(&sid.get_value())
                .await
                .map_err(|e| format!("Could not load the share links: {e}"));
            let _ = links.try_set(Some(answer));
        });
    };
    load();
    if let Some(changed) = reload_on {
        Effect::new(move |first: Option<()>| {
            changed.track();
            if first.is_some() {
                load();
            }
        });
    }
    let revoke = Callback::new(move |link_id: String| {
        error.set(None);
        spawn_local(async move {
            match api::revoke_share(&link_id).await {
                Ok(link) => {
                    let _ = links.try_update(|l| {
                        if let Some(Ok(list)) = l {
                            if let Some(x) = list.iter_mut().find(|x| x.id == link.id) {
                                *x = link;
                            }
                        }
                    });
                }
                Err(e) => {
                    let _ = error.try_set(Some(format!("Revoke failed: {e}")));
                }
            }
        });
    });
    let now = use_now();

    view! {
        <section class="sharing" data-testid="sharing" aria-labelledby="sharing-heading">
            <div class="sharing-head">
                <h2 id="sharing-heading">"Share links"</h2>
                <button type="button" class="btn btn-primary btn-small" data-testid="share-button"
                    aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)>"Share"</button>
                <button type="button" class="btn btn-small" data-testid="share-refresh"
                    on:click=move |_| load()>"Refresh"</button>
            </div>
            {move || open.get().then(|| view! {
                <ShareDialog id=sid.get_value() kind
                    on_made=Callback::new(move |()| load())
                    on_close=Callback::new(move |()| open.set(false))/>
            })}
            {move || error.get().map(|e| view! { <ErrorBox message=e/> })}
            {move || match links.get() {
                None => view! { <p class="state">"Loading share links…"</p> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox message=e/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty" data-testid="share-links-empty">"No share links yet."</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="grid share-links">
                        <thead><tr>
                            <th scope="col">"Made by"</th>
                            <th scope="col">"For"</th>
                            <th scope="col">"Expires"</th>
                            <th scope="col">"Used by"</th>
                            <th scope="col">"State"</th>
                            <th scope="col" class="actions-col"></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|l| view! { <LinkRow link=l now revoke/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn LinkRow(link: ShareLink, now: ReadSignal<i64>, revoke: Callback<String>) -> impl IntoView {
    let expires_at = link.expires_at;
    let revoked = link.revoked_at.is_some();
    let state = move || describe::state_at(revoked, expires_at, now.get());
    let extras = [
        link.has_code.then_some("code"),
        (link.kind == ShareKind::Recording && link.allow_download).then_some("download"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let for_whom = describe::audience_text(&link.audience);
    let used = describe::used_by(&link);
    let made = format!("{} at {}", link.created_by, local_time(link.created_at));
    let revoked_text = link
        .revoked_by
        .as_ref()
        .map(|by| format!(" by {by}"))
        .unwrap_or_default();
    let id = link.id.clone();
    view! {
        <tr data-testid="share-link-row" data-link-id=link.id.clone()
            data-state=move || state().label().1>
            <td class="nowrap">{made}</td>
            <td class="wrap" data-testid="share-link-for">{for_whom}
                {(!extras.is_empty()).then(|| view! { <span class="muted">{format!(" ({extras})")}</span> })}
            </td>
            <td class="nowrap">{local_time(expires_at)}</td>
            <td class="wrap" data-testid="share-link-used">{used}</td>
            <td>
                <span class="badge" class:badge-live=move || state() == LinkState::Active>
                    {move || state().label().0}
                </span>
                {revoked_text}
            </td>
            <td class="actions">
                {move || (state() == LinkState::Active).then(|| {
                    let id = id.clone();
                    view! {
                        <button type="button" class="btn btn-danger btn-small" data-testid="share-revoke"
                            on:click=move |_| revoke.run(id.clone())>"Revoke"</button>
                    }
                })}
            </td>
        </tr>
    }
}

//! `/assets`: the assets the user holds a role on; Connect or Request access.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use vigil_wire::api::{Asset, NewAccessRequest};

use crate::api;
use crate::shell::{set_title, use_auth, use_connect, ErrorBox, Loading};
use crate::widgets::GridHead;

#[component]
pub fn AssetsPage() -> impl IntoView {
    set_title("Assets");
    let assets = LocalResource::new(api::assets);
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Assets"</h1>
                <button type="button" class="btn" on:click=move |_| assets.refetch()>"Refresh"</button>
            </header>
            {move || match assets.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox message=format!("Could not load assets: {e}")/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty">"No assets are available to you. Ask an administrator for access."</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="grid">
                        <GridHead cols=&["Name", "Protocol", "Host", "Account", "Tags"] actions="Actions"/>
                        <tbody>
                            {list.into_iter().map(|a| view! { <AssetRow asset=a/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn AssetRow(asset: Asset) -> impl IntoView {
    let navigate = use_navigate();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let form_open = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let duration = RwSignal::new("60".to_string());
    let asset_id = asset.id;

    let connect = StoredValue::new_local(use_connect(asset_id, None, busy, error));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let r = reason.get_untracked().trim().to_string();
        let minutes = duration
            .get_untracked()
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|m| *m > 0);
        let Some(duration_minutes) = minutes else {
            error.set(Some(
                "Enter a duration in minutes (a whole number above 0).".into(),
            ));
            return;
        };
        if r.is_empty() {
            error.set(Some("Enter the reason for the request.".into()));
            return;
        }
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::new_request(NewAccessRequest {
                asset_id,
                reason: r,
                duration_minutes,
            })
            .await
            {
                // The Requests page shows it with its status (auto-approved or pending).
                Ok(_) => navigate("/requests", Default::default()),
                Err(e) => {
                    let _ = busy.try_set(false);
                    let _ = error.try_set(Some(format!("Could not submit the request: {e}")));
                }
            }
        });
    };
    let submit = StoredValue::new_local(submit);

    // A refused host key, for administrators: shown with the pin, accepted after a confirm.
    let is_admin = use_auth().me.get_untracked().is_some_and(|m| m.is_admin);
    let offered = RwSignal::new(asset.host_key_offered.clone().filter(|_| is_admin));
    let pinned = asset.host_key.clone().unwrap_or_else(|| "none".into());
    let asset_name = asset.name.clone();
    let accept = move |_| {
        let Some(fingerprint) = offered.get_untracked() else {
            return;
        };
        let question = format!(
            "Accept the host key {fingerprint} for {asset_name}?\n\nCompare it with the \
             target's own fingerprint first: a key you did not expect may be an attacker's."
        );
        let confirmed = web_sys::window()
            .and_then(|w| w.confirm_with_message(&question).ok())
            .unwrap_or(false);
        if !confirmed {
            return;
        }
        error.set(None);
        spawn_local(async move {
            match api::accept_host_key(asset_id, fingerprint).await {
                Ok(_) => {
                    let _ = offered.try_set(None);
                }
                Err(e) => {
                    let _ = error.try_set(Some(format!("Could not accept the host key: {e}")));
                }
            }
        });
    };
    let accept = StoredValue::new_local(accept);

    let tags = asset.tags.clone();
    let form_id = format!("request-form-{}", asset.id);
    let form_id2 = form_id.clone();
    view! {
        <tr data-testid="asset-row" data-asset-name=asset.name.clone() data-asset-id=asset.id>
            <td class="strong">{asset.name.clone()}</td>
            <td><span class="proto">{asset.protocol.as_str().to_uppercase()}</span></td>
            <td class="mono">{format!("{}:{}", asset.host, asset.port)}</td>
            <td class="mono">{asset.account.clone()}</td>
            <td>{tags.into_iter().map(|t| view! { <span class="tag">{t}</span> }).collect_view()}</td>
            <td class="actions">
                {asset.can_launch_directly.then(|| view! {
                    <button type="button" class="btn btn-primary" data-testid="connect-button"
                        disabled=move || busy.get()
                        on:click=move |_| connect.with_value(|f| f())>
                        {move || if busy.get() { "Connecting…" } else { "Connect" }}
                    </button>
                })}
                {(!asset.can_launch_directly && asset.can_request).then(|| view! {
                    <button type="button" class="btn" data-testid="request-button"
                        aria-expanded=move || form_open.get().to_string()
                        aria-controls=form_id.clone()
                        on:click=move |_| form_open.update(|o| *o = !*o)>
                        "Request access"
                    </button>
                })}
                {(!asset.can_launch_directly && !asset.can_request).then(|| view! {
                    <span class="muted">"No access"</span>
                })}
            </td>
        </tr>
        {move || offered.get().map(|fp| view! {
            <tr class="row-note" data-testid="host-key-offered">
                <td colspan="6">
                    <div class="alert alert-warn" role="alert">
                        <span>"The target presented another host key; sessions are refused until it is accepted."</span>
                        <span class="mono">"Pinned: "{pinned.clone()}</span>
                        <span class="mono" data-testid="host-key-offered-fingerprint">"Offered: "{fp}</span>
                        <button type="button" class="btn" data-testid="accept-host-key"
                            on:click=move |ev| accept.with_value(|f| f(ev))>
                            "Accept offered key…"
                        </button>
                    </div>
                </td>
            </tr>
        })}
        {move || error.get().map(|e| view! {
            <tr class="row-note"><td colspan="6"><ErrorBox message=e/></td></tr>
        })}
        {move || form_open.get().then(|| {
            let form_id = form_id2.clone();
            view! {
                <tr class="row-form">
                    <td colspan="6">
                        <form id=form_id class="inline-form" on:submit=move |ev| submit.with_value(|f| f(ev))>
                            <div class="field grow">
                                <label for=format!("reason-{asset_id}")>"Reason"</label>
                                <input id=format!("reason-{asset_id}") type="text" data-testid="request-reason"
                                    required placeholder="Why do you need access?"
                                    prop:value=move || reason.get()
                                    on:input=move |ev| reason.set(event_target_value(&ev))/>
                            </div>
                            <div class="field">
                                <label for=format!("duration-{asset_id}")>"Duration (minutes)"</label>
                                <input id=format!("duration-{asset_id}") type="number" min="1" step="1"
                                    data-testid="request-duration" required
                                    prop:value=move || duration.get()
                                    on:input=move |ev| duration.set(event_target_value(&ev))/>
                            </div>
                            <button type="submit" class="btn btn-primary" data-testid="request-submit"
                                disabled=move || busy.get()>"Submit request"</button>
                            <button type="button" class="btn btn-ghost-dark" on:click=move |_| form_open.set(false)>"Cancel"</button>
                        </form>
                    </td>
                </tr>
            }
        })}
    }
}

//! `/requests`: the user's own access requests, and those they may approve.

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::api::{AccessRequest, RequestStatus};

use crate::api::{self, RequestAction};
use crate::shell::{set_title, use_auth, use_connect, ErrorBox, Loading};
use crate::util::status_label;
use crate::widgets::{local_time, GridHead};

#[component]
pub fn RequestsPage() -> impl IntoView {
    set_title("Requests");
    let requests = LocalResource::new(api::requests);
    let refresh = Callback::new(move |()| requests.refetch());
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Requests"</h1>
                <button type="button" class="btn" on:click=move |_| requests.refetch()>"Refresh"</button>
            </header>
            {move || match requests.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox message=format!("Could not load requests: {e}")/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty">"No requests. Request access to an asset from the " <a href="/assets">"Assets"</a> " page."</p>
                }.into_any(),
                Some(Ok(mut list)) => {
                    list.sort_by_key(|r| std::cmp::Reverse(r.created_at));
                    view! {
                        <table class="grid">
                            <GridHead cols=&["Asset", "Requested by", "Reason", "Duration", "Status", "Requested", "Expires"] actions="Actions"/>
                            <tbody>
                                {list.into_iter().map(|r| view! { <RequestRow req=r refresh/> }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            }}
        </section>
    }
}

#[component]
fn RequestRow(req: AccessRequest, refresh: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let mine = req.user == auth.username();
    let (status_value, status_text) = status_label(req.status);
    let (id, asset_id) = (req.id, req.asset_id);

    let act = move |action: RequestAction| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::request_action(id, action).await {
                Ok(_) => refresh.run(()),
                Err(e) => {
                    let _ = busy.try_set(false);
                    let _ = error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    let connect = StoredValue::new_local(use_connect(asset_id, Some(id), busy, error));
    let approved = req.status == RequestStatus::Approved;
    let pending = req.status == RequestStatus::Pending;

    view! {
        <tr data-testid="request-row" data-status=status_value data-request-id=req.id>
            <td class="strong">{req.asset_name.clone()}</td>
            <td>{req.user.clone()}</td>
            <td class="wrap">{req.reason.clone()}</td>
            <td>{format!("{} min", req.duration_minutes)}</td>
            <td>
                <span class=format!("badge badge-{status_value}")>{status_text}</span>
                {req.decided_by.clone().map(|d| view! { <span class="muted small">" by " {d}</span> })}
            </td>
            <td class="nowrap">{local_time(req.created_at)}</td>
            <td class="nowrap">{req.expires_at.map(local_time).unwrap_or_else(|| "—".into())}</td>
            <td class="actions">
                {(mine && approved).then(|| view! {
                    <button type="button" class="btn btn-primary" data-testid="connect-button"
                        disabled=move || busy.get()
                        on:click=move |_| connect.with_value(|f| f())>"Connect"</button>
                    <button type="button" class="btn" data-testid="checkin-button"
                        disabled=move || busy.get()
                        on:click=move |_| act(RequestAction::CheckIn)>"Check in"</button>
                })}
                {(req.can_approve && pending).then(|| view! {
                    <button type="button" class="btn btn-primary" data-testid="approve-button"
                        disabled=move || busy.get()
                        on:click=move |_| act(RequestAction::Approve)>"Approve"</button>
                    <button type="button" class="btn btn-danger" data-testid="deny-button"
                        disabled=move || busy.get()
                        on:click=move |_| act(RequestAction::Deny)>"Deny"</button>
                })}
            </td>
        </tr>
        {move || error.get().map(|e| view! {
            <tr class="row-note"><td colspan="8"><ErrorBox message=e/></td></tr>
        })}
    }
}

//! `/audit`: the audit log, for administrators. The chain's check at the top, filters by
//! session, user, action and time kept in the address (so `/audit?session=ID` is a deep
//! link), the export of what the filters select as JSON Lines, and the entries.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use vigil_wire::audit::{AuditAction, AuditEntry, AuditQuery, AuditVerification};

use crate::api;
use crate::shell::{set_title, ErrorBox, Loading};
use crate::widgets::{local_time, GridHead};

/// Entries per page.
const PAGE: i64 = 200;

/// The filters as the address holds them: `from`/`to` as the time inputs give them
/// (local `YYYY-MM-DDTHH:MM`), `before` the page's upper seq.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filters {
    session: String,
    actor: String,
    action: String,
    from: String,
    to: String,
    before: Option<i64>,
}

impl Filters {
    fn from_query(q: &ParamsMap) -> Filters {
        let get = |k: &str| q.get(k).unwrap_or_default().trim().to_string();
        Filters {
            session: get("session"),
            actor: get("actor"),
            action: get("action"),
            from: get("from"),
            to: get("to"),
            before: q.get("before").and_then(|b| b.parse().ok()),
        }
    }

    /// The address of the page with these filters.
    fn href(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("session", &self.session),
            ("actor", &self.actor),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                parts.push(format!(
                    "{k}={}",
                    String::from(js_sys::encode_uri_component(v))
                ));
            }
        }
        if let Some(b) = self.before {
            parts.push(format!("before={b}"));
        }
        if parts.is_empty() {
            "/audit".into()
        } else {
            format!("/audit?{}", parts.join("&"))
        }
    }

    /// The API's query for these filters.
    fn query(&self) -> AuditQuery {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        AuditQuery {
            session: text(&self.session),
            actor: text(&self.actor),
            action: self.action.parse().ok(),
            since: local_ms(&self.from),
            until: local_ms(&self.to),
            before_seq: self.before,
            limit: Some(PAGE),
        }
    }
}

/// Unix milliseconds of a local `YYYY-MM-DDTHH:MM` (a time input's value).
fn local_ms(value: &str) -> Option<i64> {
    if value.is_empty() {
        return None;
    }
    let t = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(value)).get_time();
    t.is_finite().then_some(t as i64)
}

#[component]
pub fn AuditPage() -> impl IntoView {
    set_title("Audit");
    let query = use_query_map();
    let filters = Memo::new(move |_| query.with(Filters::from_query));
    let entries = LocalResource::new(move || {
        let q = filters.get().query();
        async move { api::audit(&q).await }
    });
    let verification = LocalResource::new(api::audit_verify);
    view! {
        <section class="page audit-page">
            <header class="page-head">
                <h1>"Audit"</h1>
                <VerificationStatus verification/>
                <span class="spacer"></span>
                <button type="button" class="btn" data-testid="audit-refresh" on:click=move |_| {
                    verification.refetch();
                    entries.refetch();
                }>"Check again"</button>
            </header>
            <FilterForm filters/>
            {move || {
                let q = AuditQuery { before_seq: None, limit: None, ..filters.get().query() };
                let href = api::audit_export_url(&q);
                view! {
                    <p>
                        <a class="btn btn-small" data-testid="audit-export" href=href rel="external" download="vigil-audit.jsonl">
                            "Export JSON Lines"
                        </a>
                    </p>
                }
            }}
            {move || match entries.get() {
                None => view! { <Loading text="Loading the audit log…"/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox message=format!("Could not load the audit log: {e}")/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty" data-testid="audit-empty">"No entries match these filters."</p>
                }.into_any(),
                Some(Ok(list)) => {
                    let older = (i64::try_from(list.len()).unwrap_or(0) == PAGE)
                        .then(|| list.last().map(|e| e.seq))
                        .flatten()
                        .map(|seq| Filters { before: Some(seq), ..filters.get_untracked() }.href());
                    view! {
                        <table class="grid audit-grid">
                            <GridHead cols=&["Seq", "Time", "Actor", "Source", "Action", "Session"] actions="Detail"/>
                            <tbody>
                                {list.into_iter().map(row).collect_view()}
                            </tbody>
                        </table>
                        {older.map(|href| view! { <p><a class="btn" href=href>"Older entries"</a></p> })}
                    }.into_any()
                }
            }}
        </section>
    }
}

/// "Verified: N entries" or "Broken at entry N: …".
#[component]
fn VerificationStatus(
    verification: LocalResource<Result<AuditVerification, api::ApiError>>,
) -> impl IntoView {
    move || {
        match verification.get() {
        None => view! { <span class="muted" data-testid="audit-status" data-ok="pending">"Checking the chain…"</span> }.into_any(),
        Some(Err(e)) => view! {
            <span class="badge badge-denied" data-testid="audit-status" data-ok="error">{format!("Not checked: {e}")}</span>
        }.into_any(),
        Some(Ok(v)) => match v.broken {
            None => view! {
                <span class="badge badge-approved" data-testid="audit-status" data-ok="true"
                    title=format!("head seq {} hash {}", v.head_seq, v.head_hash)>
                    {format!("Verified: {} entries", v.entries)}
                </span>
            }.into_any(),
            Some(b) => view! {
                <span class="badge badge-denied" data-testid="audit-status" data-ok="false" data-seq=b.seq title=b.detail.clone()>
                    {format!("Broken at entry {}: {}", b.seq, b.problem.describe())}
                </span>
            }.into_any(),
        },
    }
    }
}

#[component]
fn FilterForm(filters: Memo<Filters>) -> impl IntoView {
    let navigate = use_navigate();
    let now = filters.get_untracked();
    let session = RwSignal::new(now.session);
    let actor = RwSignal::new(now.actor);
    let action = RwSignal::new(now.action);
    let from = RwSignal::new(now.from);
    let to = RwSignal::new(now.to);
    // The form follows the address (a deep link, the browser's back button).
    Effect::new(move |_| {
        let f = filters.get();
        session.set(f.session);
        actor.set(f.actor);
        action.set(f.action);
        from.set(f.from);
        to.set(f.to);
    });
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = Filters {
            session: session.get_untracked().trim().to_string(),
            actor: actor.get_untracked().trim().to_string(),
            action: action.get_untracked(),
            from: from.get_untracked(),
            to: to.get_untracked(),
            before: None,
        };
        navigate(&f.href(), Default::default());
    };
    view! {
        <form class="inline-form audit-filters" data-testid="audit-filters" on:submit=apply>
            <label class="field">"Session"
                <input type="text" data-testid="audit-filter-session" prop:value=move || session.get() on:input=move |ev| session.set(event_target_value(&ev))/>
            </label>
            <label class="field">"User"
                <input type="text" data-testid="audit-filter-actor" prop:value=move || actor.get() on:input=move |ev| actor.set(event_target_value(&ev))/>
            </label>
            <label class="field">"Action"
                <select data-testid="audit-filter-action" prop:value=move || action.get()
                    on:change=move |ev| action.set(event_target_value(&ev))>
                    <option value="">"Any"</option>
                    {AuditAction::ALL.iter().map(|a| view! { <option value=a.as_str()>{a.as_str()}</option> }).collect_view()}
                </select>
            </label>
            <label class="field">"From"
                <input type="datetime-local" data-testid="audit-filter-from" prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev))/>
            </label>
            <label class="field">"To"
                <input type="datetime-local" data-testid="audit-filter-to" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="btn btn-primary" data-testid="audit-apply">"Apply"</button>
            <a class="btn" href="/audit">"Clear"</a>
        </form>
    }
}

fn row(e: AuditEntry) -> impl IntoView {
    let session = e.session_id.clone().map(|id| {
        let href = format!("/sessions/{}", api::seg(&id));
        view! { <a class="mono" href=href>{id}</a> }
    });
    view! {
        <tr data-testid="audit-row" data-seq=e.seq data-action=e.action.as_str() data-actor=e.actor.clone()>
            <td class="mono">{e.seq}</td>
            <td class="nowrap">{local_time(e.at)}</td>
            <td class="strong">{e.actor.clone()}</td>
            <td class="mono">{e.source.clone().unwrap_or_else(|| "—".into())}</td>
            <td><span class="tag">{e.action.as_str()}</span></td>
            <td>{session}</td>
            <td class="wrap">{e.detail.clone()}</td>
        </tr>
    }
}

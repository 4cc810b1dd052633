//! The selection toolbar below Active Sessions' list: Lock, Unlock, Terminate and
//! Terminate and Cancel for the selected session, each usable only where it applies
//! (`crate::selection::Action::applies`), and Watch.
//!
//! A button that does not apply is `aria-disabled`, not `disabled`: it stays in the Tab
//! order and keeps the focus when the session changes under it (Lock, once pressed, no
//! longer applies), and screen readers still name it, "dimmed".

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::api::Session;

use crate::api::{self, SessionAction};
use crate::selection::Action;

fn api_action(a: Action) -> SessionAction {
    match a {
        Action::Lock => SessionAction::Lock,
        Action::Unlock => SessionAction::Unlock,
        Action::Terminate => SessionAction::Terminate,
        Action::TerminateAndCancel => SessionAction::TerminateAndCancel,
    }
}

#[component]
pub fn SelectionToolbar(
    selected: Memo<Option<Session>>,
    on_done: Callback<Session>,
    on_error: Callback<String>,
) -> impl IntoView {
    let busy = RwSignal::new(false);
    let act = move |action: Action| {
        if busy.get_untracked() {
            return;
        }
        let Some(id) = selected.with_untracked(|s| {
            s.as_ref()
                .filter(|s| action.applies(Some(s)))
                .map(|s| s.id.clone())
        }) else {
            return;
        };
        busy.set(true);
        spawn_local(async move {
            let result = api::session_action(&id, api_action(action)).await;
            let _ = busy.try_set(false);
            match result {
                Ok(s) => on_done.run(s),
                Err(e) => on_error.run(format!(
                    "{} failed: {e}. Try again; if it fails again, reload the page to see the session's current state.",
                    action.label()
                )),
            }
        });
    };
    let label = move || {
        selected.with(|s| match s {
            Some(s) => format!("Selected: {}'s session on {}", s.user, s.asset_name),
            None => {
                "No session selected: choose one above to lock, unlock or terminate it.".to_string()
            }
        })
    };
    // Its own memo: the link is made again only when the address changes, not on every
    // change of the session (a focused link would lose the focus).
    let watch = Memo::new(move |_| {
        selected.with(|s| {
            s.as_ref()
                .filter(|s| s.controls.watch && s.ended_at.is_none())
                .map(|s| format!("/sessions/{}", api::seg(&s.id)))
        })
    });
    let buttons = Action::ALL
        .into_iter()
        .map(|a| {
            let usable = move || !busy.get() && selected.with(|s| a.applies(s.as_ref()));
            let class = match a {
                Action::Lock | Action::Unlock => "btn btn-warn",
                Action::Terminate | Action::TerminateAndCancel => "btn btn-danger",
            };
            view! {
                <button type="button" class=class data-testid=a.testid()
                    aria-disabled=move || (!usable()).to_string()
                    on:click=move |_| act(a)>
                    {a.label()}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="selection-bar" role="group" aria-labelledby="selection-label" data-testid="selection-toolbar">
            <span id="selection-label" class="selection-label" data-testid="selection-label">{label}</span>
            <div class="selection-buttons">
                {buttons}
                {move || watch.get().map(|href| view! {
                    <a class="btn" data-testid="toolbar-watch" href=href>"Watch"</a>
                })}
            </div>
        </div>
    }
}

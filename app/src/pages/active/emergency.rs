//! The emergency control on Active Sessions (administrators only): Lock or Terminate
//! every live session of one user or one asset, after a confirmation in the page.

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::api::{EmergencyAction, EmergencyRequest, EmergencyScope, Session};

use crate::api;
use crate::shell::ErrorBox;
use crate::util;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Choosing user or asset, the name, Lock or Terminate.
    Choose,
    /// Asking to confirm this request.
    Confirm(EmergencyRequest),
    /// Sent; waiting for the relay.
    Busy(EmergencyRequest),
    /// Done: the outcome to show.
    Done(String),
}

/// The button that opens the emergency dialog. `sessions` (the live sessions shown) only
/// suggests names; the relay decides which sessions are in scope.
#[component]
pub fn EmergencyControl(#[prop(into)] sessions: Signal<Vec<Session>>) -> impl IntoView {
    let open = RwSignal::new(false);
    let step = RwSignal::new(Step::Choose);
    let scope = RwSignal::new(EmergencyScope::User);
    let action = RwSignal::new(EmergencyAction::Lock);
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);

    let close = move || {
        open.set(false);
        step.set(Step::Choose);
        name.set(String::new());
        error.set(None);
    };
    let review = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked().trim().to_string();
        if n.is_empty() {
            error.set(Some(match scope.get_untracked() {
                EmergencyScope::User => "Enter the user's name.".into(),
                EmergencyScope::Asset => "Enter the asset's name.".into(),
            }));
            return;
        }
        error.set(None);
        step.set(Step::Confirm(EmergencyRequest {
            scope: scope.get_untracked(),
            name: n,
            action: action.get_untracked(),
        }));
    };
    let confirm = move |req: EmergencyRequest| {
        step.set(Step::Busy(req.clone()));
        spawn_local(async move {
            let what = req.action;
            match api::emergency(req.clone()).await {
                Ok(done) => {
                    let _ = step.try_set(Step::Done(util::emergency_outcome(
                        what,
                        done.sessions.len(),
                    )));
                }
                Err(e) => {
                    let _ = error.try_set(Some(format!("The emergency control failed: {e}")));
                    let _ = step.try_set(Step::Confirm(req));
                }
            }
        });
    };
    let suggestions = move || util::emergency_names(&sessions.get(), scope.get());
    let radio = move |group: &'static str,
                      label: &'static str,
                      checked: bool,
                      set: Callback<()>| {
        view! {
            <label class="choice">
                <input type="radio" name=group data-testid=format!("emergency-{}", label.to_lowercase())
                    prop:checked=checked on:change=move |_| set.run(())/>
                {label}
            </label>
        }
    };

    view! {
        <button type="button" class="btn btn-danger" data-testid="emergency-open"
            aria-haspopup="dialog" on:click=move |_| open.set(true)>
            "Emergency Lock / Terminate"
        </button>
        {move || open.get().then(|| view! {
            <div class="dialog-backdrop">
                <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="emergency-title"
                    data-testid="emergency-dialog"
                    on:keydown=move |ev| if ev.key() == "Escape" && !matches!(step.get_untracked(), Step::Busy(_)) { close() }>
                    <h2 id="emergency-title">"Lock or Terminate every live session"</h2>
                    {move || error.get().map(|e| view! { <ErrorBox message=e/> })}
                    {move || match step.get() {
                        Step::Choose => view! {
                            <form class="dialog-form" on:submit=review>
                                <fieldset>
                                    <legend>"Of"</legend>
                                    {radio("emergency-scope", "User", scope.get_untracked() == EmergencyScope::User,
                                        Callback::new(move |()| scope.set(EmergencyScope::User)))}
                                    {radio("emergency-scope", "Asset", scope.get_untracked() == EmergencyScope::Asset,
                                        Callback::new(move |()| scope.set(EmergencyScope::Asset)))}
                                </fieldset>
                                <div class="field">
                                    <label for="emergency-name">
                                        {move || match scope.get() {
                                            EmergencyScope::User => "User name",
                                            EmergencyScope::Asset => "Asset name",
                                        }}
                                    </label>
                                    <input id="emergency-name" type="text" list="emergency-names" required
                                        data-testid="emergency-name" autocomplete="off"
                                        prop:value=move || name.get()
                                        on:input=move |ev| name.set(event_target_value(&ev))/>
                                    <datalist id="emergency-names">
                                        {move || suggestions().into_iter()
                                            .map(|n| view! { <option value=n></option> })
                                            .collect_view()}
                                    </datalist>
                                </div>
                                <fieldset>
                                    <legend>"Action"</legend>
                                    {radio("emergency-action", "Lock", action.get_untracked() == EmergencyAction::Lock,
                                        Callback::new(move |()| action.set(EmergencyAction::Lock)))}
                                    {radio("emergency-action", "Terminate", action.get_untracked() == EmergencyAction::Terminate,
                                        Callback::new(move |()| action.set(EmergencyAction::Terminate)))}
                                </fieldset>
                                <p class="muted small">"Your own sessions are left alone."</p>
                                <div class="dialog-buttons">
                                    <button type="submit" class="btn btn-danger" data-testid="emergency-review">"Continue"</button>
                                    <button type="button" class="btn btn-ghost-dark" on:click=move |_| close()>"Cancel"</button>
                                </div>
                            </form>
                        }.into_any(),
                        Step::Confirm(req) | Step::Busy(req) => {
                            let busy = matches!(step.get_untracked(), Step::Busy(_));
                            let question = util::emergency_question(&req);
                            let verb = match req.action {
                                EmergencyAction::Lock => "Lock",
                                EmergencyAction::Terminate => "Terminate",
                            };
                            let confirm_req = req.clone();
                            view! {
                                <p class="strong" data-testid="emergency-question">{question}</p>
                                <div class="dialog-buttons">
                                    <button type="button" class="btn btn-danger" data-testid="emergency-confirm"
                                        disabled=busy on:click=move |_| confirm(confirm_req.clone())>{verb}</button>
                                    <button type="button" class="btn btn-ghost-dark" disabled=busy
                                        on:click=move |_| { error.set(None); step.set(Step::Choose); }>"Back"</button>
                                </div>
                            }.into_any()
                        }
                        Step::Done(outcome) => view! {
                            <p role="status" data-testid="emergency-outcome">{outcome}</p>
                            <div class="dialog-buttons">
                                <button type="button" class="btn" data-testid="emergency-close"
                                    on:click=move |_| close()>"Close"</button>
                            </div>
                        }.into_any(),
                    }}
                </div>
            </div>
        })}
    }
}

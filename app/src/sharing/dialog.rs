//! The Share dialog: an in-page panel that asks who may open the link, for how long, with
//! a verification code or not (and, for a recording, whether it may be downloaded); then
//! shows the link once, with Copy link, and the code apart.

use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::share::{CreatedShareLink, ShareKind};

use super::clipboard;
use super::form::{ShareForm, Who, EXPIRIES};
use crate::api;
use crate::shell::ErrorBox;

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Form,
    Busy,
    /// Made: the link and its code, shown this once.
    Made(CreatedShareLink),
}

/// The dialog for session `id`. `on_made` runs once a link exists (the list reloads);
/// `on_close` when the sharer is done.
#[component]
pub fn ShareDialog(
    id: String,
    kind: ShareKind,
    #[prop(into)] on_made: Callback<()>,
    #[prop(into)] on_close: Callback<()>,
) -> impl IntoView {
    let form = RwSignal::new(ShareForm::default());
    let step = RwSignal::new(Step::Form);
    let error = RwSignal::new(None::<String>);
    let id = StoredValue::new(id);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if step.get_untracked() == Step::Busy {
            return;
        }
        let body = match form.with_untracked(|f| f.request(kind)) {
            Ok(b) => b,
            Err(e) => {
                error.set(Some(e.to_string()));
                return;
            }
        };
        error.set(None);
        step.set(Step::Busy);
        spawn_local(async move {
            match api::create_share(&id.get_value(), body).await {
                Ok(made) => {
                    let _ = step.try_set(Step::Made(made));
                    on_made.run(());
                }
                Err(e) => {
                    let _ = error.try_set(Some(format!("Could not share the session: {e}")));
                    let _ = step.try_set(Step::Form);
                }
            }
        });
    };
    let submit = StoredValue::new_local(submit);
    let title = match kind {
        ShareKind::Live => "Share this live session",
        ShareKind::Recording => "Share this recording",
    };

    view! {
        <div class="share-dialog" role="dialog" aria-labelledby="share-title" data-testid="share-dialog"
            on:keydown=move |ev| if ev.key() == "Escape" && step.get_untracked() != Step::Busy { on_close.run(()) }>
            <h3 id="share-title">{title}</h3>
            {move || error.get().map(|e| view! { <ErrorBox message=e/> })}
            {move || match step.get() {
                Step::Made(made) => view! { <Made made on_close/> }.into_any(),
                Step::Form | Step::Busy => view! {
                    <form class="dialog-form" on:submit=move |ev| submit.with_value(|f| f(ev)) novalidate>
                        <Audience form/>
                        <div class="field">
                            <label for="share-expiry">"Expires after"</label>
                            <select id="share-expiry" data-testid="share-expiry"
                                on:change=move |ev| {
                                    if let Ok(m) = event_target_value(&ev).parse::<u32>() {
                                        form.update(|f| f.expires_in_minutes = m);
                                    }
                                }>
                                {EXPIRIES.iter().map(|(m, label)| {
                                    let selected = form.with_untracked(|f| f.expires_in_minutes == *m);
                                    view! { <option value=m.to_string() selected=selected>{*label}</option> }
                                }).collect_view()}
                            </select>
                        </div>
                        <label class="choice">
                            <input type="checkbox" data-testid="share-with-code"
                                prop:checked=move || form.with(|f| f.with_code)
                                on:change=move |ev| form.update(|f| f.with_code = event_target_checked(&ev))/>
                            "Require a verification code"
                        </label>
                        {(kind == ShareKind::Recording).then(|| view! {
                            <label class="choice">
                                <input type="checkbox" data-testid="share-allow-download"
                                    prop:checked=move || form.with(|f| f.allow_download)
                                    on:change=move |ev| form.update(|f| f.allow_download = event_target_checked(&ev))/>
                                "Allow download"
                            </label>
                        })}
                        <p class="muted small">"A link is read-only: it never allows input, Lock or Terminate. Whoever opens it must log in to Vigil first."</p>
                        <div class="dialog-buttons">
                            <button type="submit" class="btn btn-primary" data-testid="share-create"
                                disabled=move || step.get() == Step::Busy>"Create link"</button>
                            <button type="button" class="btn" on:click=move |_| on_close.run(())>"Cancel"</button>
                        </div>
                    </form>
                }.into_any(),
            }}
        </div>
    }
}

/// Who may open the link: named users and groups, or any logged-in Vigil user.
#[component]
fn Audience(form: RwSignal<ShareForm>) -> impl IntoView {
    let named = move || form.with(|f| f.who == Who::Named);
    view! {
        <fieldset>
            <legend>"Who may open it"</legend>
            <label class="choice">
                <input type="radio" name="share-who" data-testid="share-who-named"
                    prop:checked=named on:change=move |_| form.update(|f| f.who = Who::Named)/>
                "Named users and groups"
            </label>
            <label class="choice">
                <input type="radio" name="share-who" data-testid="share-who-any"
                    prop:checked=move || !named() on:change=move |_| form.update(|f| f.who = Who::AnyUser)/>
                "Any logged-in Vigil user"
            </label>
        </fieldset>
        {move || named().then(|| view! {
            <div class="field">
                <label for="share-users">"Users (separated by commas)"</label>
                <input id="share-users" type="text" data-testid="share-users" autocomplete="off"
                    prop:value=move || form.with(|f| f.users.clone())
                    on:input=move |ev| form.update(|f| f.users = event_target_value(&ev))/>
            </div>
            <div class="field">
                <label for="share-groups">"Groups (separated by commas)"</label>
                <input id="share-groups" type="text" data-testid="share-groups" autocomplete="off"
                    prop:value=move || form.with(|f| f.groups.clone())
                    on:input=move |ev| form.update(|f| f.groups = event_target_value(&ev))/>
            </div>
        })}
    }
}

/// The link made, shown once, with Copy link; the code apart.
#[component]
fn Made(made: CreatedShareLink, on_close: Callback<()>) -> impl IntoView {
    let field = NodeRef::<Input>::new();
    let copied = RwSignal::new(None::<bool>);
    let url = StoredValue::new(made.url.clone());
    let copy = move |_| {
        let el: Option<web_sys::HtmlElement> = field.get_untracked().map(Into::into);
        spawn_local(async move {
            let done = clipboard::copy(&url.get_value(), el).await;
            let _ = copied.try_set(Some(done));
        });
    };
    view! {
        <p class="strong">"The link is shown only this once."</p>
        <div class="share-url">
            <label class="sr-only" for="share-url">"Link"</label>
            <input id="share-url" type="text" readonly data-testid="share-url" node_ref=field
                prop:value=made.url.clone() on:focus=move |ev| { event_target::<web_sys::HtmlInputElement>(&ev).select(); }/>
            <button type="button" class="btn btn-primary" data-testid="share-copy" on:click=copy>"Copy link"</button>
        </div>
        {move || copied.get().map(|done| if done {
            view! { <p role="status" data-testid="share-copied">"Copied."</p> }.into_any()
        } else {
            view! { <p role="status" class="muted">"Select the link and copy it."</p> }.into_any()
        })}
        {made.code.clone().map(|code| view! {
            <p class="share-code">
                "Verification code: " <strong class="mono" data-testid="share-code-value">{code}</strong>
            </p>
            <p class="muted">"Give this code to them separately."</p>
        })}
        <div class="dialog-buttons">
            <button type="button" class="btn" data-testid="share-done" on:click=move |_| on_close.run(())>"Done"</button>
        </div>
    }
}

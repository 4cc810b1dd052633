//! `/share#<token>`: opens a share link. The token is read from the fragment (which no
//! browser sends to a server), taken out of the address at once, and sent only in the body
//! of `POST /shares/redeem`; a link with a verification code asks for it. Then on to the
//! player the link opens.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;
use wasm_bindgen::JsValue;

use crate::api::{self, ApiError};
use crate::sharing::redeem::{after_redeem, token_from_hash, Refusal, Step};
use crate::shell::{set_title, Loading};

/// The fragment of the page's address, then the address without it.
fn take_fragment() -> Option<String> {
    let window = web_sys::window()?;
    let token = token_from_hash(&window.location().hash().ok()?);
    if token.is_some() {
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some("/share"));
        }
    }
    token
}

fn refusal(e: ApiError) -> Refusal {
    match e {
        ApiError::Http { code, message, .. } => Refusal::from_code(&code, &message),
        other => Refusal::Other(other.to_string()),
    }
}

#[component]
pub fn ShareLinkPage() -> impl IntoView {
    set_title("Shared session");
    let navigate = use_navigate();
    let token = StoredValue::new(take_fragment());
    let step = RwSignal::new(if token.with_value(Option::is_some) {
        Step::Opening
    } else {
        Step::NoToken
    });
    let code = RwSignal::new(String::new());
    let redeem = move |with_code: Option<String>| {
        let Some(t) = token.get_value() else { return };
        let given = with_code.is_some();
        step.set(Step::Opening);
        spawn_local(async move {
            let answer = api::redeem(t, with_code).await.map_err(refusal);
            let _ = step.try_set(after_redeem(answer, given));
        });
    };
    if step.get_untracked() == Step::Opening {
        redeem(None);
    }
    // Another link pasted into the address bar while on this page changes only the
    // fragment: the page stays, and opens that link.
    let handle = window_event_listener(leptos::ev::hashchange, move |_| {
        if let Some(t) = take_fragment() {
            token.set_value(Some(t));
            code.set(String::new());
            redeem(None);
        }
    });
    on_cleanup(move || handle.remove());
    Effect::new(move |_| {
        if let Step::Go(path) = step.get() {
            navigate(
                &path,
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let c = code.get_untracked().trim().to_string();
        if !c.is_empty() {
            redeem(Some(c));
        }
    };

    view! {
        <section class="page share-page">
            <h1>"Shared session"</h1>
            {move || match step.get() {
                Step::NoToken => view! {
                    <div class="alert alert-error" role="alert" data-testid="share-refused" data-reason="no_token">
                        "This address holds no share link. Open the link exactly as you were given it."
                    </div>
                }.into_any(),
                Step::Opening | Step::Go(_) => view! { <Loading text="Opening the shared link…"/> }.into_any(),
                Step::AskCode { wrong } => view! {
                    <form class="inline-form" on:submit=submit data-testid="share-code-form">
                        {wrong.then(|| view! {
                            <div class="alert alert-error" role="alert" data-testid="share-code-wrong">
                                {Refusal::WrongCode.message()}
                            </div>
                        })}
                        <div class="field">
                            <label for="share-code-input">"Verification code"</label>
                            <input id="share-code-input" type="text" inputmode="numeric" autocomplete="one-time-code"
                                data-testid="share-code-input" required
                                prop:value=move || code.get()
                                on:input=move |ev| code.set(event_target_value(&ev))/>
                        </div>
                        <button type="submit" class="btn btn-primary" data-testid="share-code-submit">"Open"</button>
                        <p class="muted">"The person who shared this link gave you the code separately."</p>
                    </form>
                }.into_any(),
                Step::Refused(r) => view! {
                    <div class="alert alert-error" role="alert" data-testid="share-refused" data-reason=r.reason()>
                        {r.message()}
                    </div>
                    <p><a href="/active">"Go to Active Sessions"</a></p>
                }.into_any(),
            }}
        </section>
    }
}

//! `/login`: username and password; afterwards back to where the user was going.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::api;
use crate::shell::{set_title, take_return_to, use_auth};
use crate::util::{return_to, safe_next};

#[component]
pub fn LoginPage() -> impl IntoView {
    set_title("Log in");
    let auth = use_auth();
    let query = use_query_map();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // `next` is a path and query; an address with a fragment (a share link) was kept aside
    // before the login and comes back only for that same path.
    let next = move || {
        let next = safe_next(query.with_untracked(|q| q.get("next")).as_deref());
        return_to(&next, take_return_to().as_deref())
    };

    // Already logged in (or the session cookie is still good): go straight on.
    // Logged in (just now, or the session cookie is still good): go on to `next`.
    Effect::new(move |_| {
        if auth.loaded.get() && auth.me.with(Option::is_some) {
            navigate(
                &next(),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (u, p) = (username.get_untracked(), password.get_untracked());
        if u.trim().is_empty() || p.is_empty() {
            error.set(Some("Enter your username and password.".into()));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::login(u.trim().to_string(), p).await {
                Ok(me) => {
                    password.set(String::new());
                    busy.set(false);
                    auth.loaded.set(true);
                    auth.me.set(Some(me));
                }
                Err(e) => {
                    busy.set(false);
                    let msg = match (e.status(), e.code()) {
                        (Some(401), _) => "Incorrect username or password.".to_string(),
                        (Some(429), _) => {
                            "Too many login attempts. Wait a few minutes, then try again."
                                .to_string()
                        }
                        _ => format!("Login failed: {e}"),
                    };
                    error.set(Some(msg));
                }
            }
        });
    };
    let submit = StoredValue::new_local(submit);

    view! {
        <section class="login">
            <form class="login-card" on:submit=move |ev| submit.with_value(|f| f(ev)) novalidate>
                <h1>
                    <img src=crate::assets::Asset::Logo.url() alt="" width="28" height="28"/>
                    "Vigil"
                </h1>
                <p class="muted">"Privileged session gateway"</p>
                {move || error.get().map(|e| view! {
                    <div class="alert alert-error" role="alert" data-testid="login-error">{e}</div>
                })}
                <label for="login-username">"Username"</label>
                <input
                    id="login-username"
                    data-testid="login-username"
                    type="text"
                    name="username"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                    autofocus
                    prop:value=move || username.get()
                    on:input=move |ev| username.set(event_target_value(&ev))
                />
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    data-testid="login-password"
                    type="password"
                    name="password"
                    autocomplete="current-password"
                    required
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
                <button type="submit" class="btn btn-primary btn-block" data-testid="login-submit"
                    disabled=move || busy.get()>
                    {move || if busy.get() { "Logging in…" } else { "Log in" }}
                </button>
            </form>
        </section>
    }
}

//! One module per page.

pub mod active;
pub mod assets;
pub mod bench;
pub mod connect;
pub mod desktop_replay;
pub mod emergency;
pub mod login;
pub mod player;
pub mod replay;
pub mod replay_player;
pub mod requests;

use leptos::prelude::*;

/// An error box that screen readers announce.
#[component]
pub fn ErrorBox(#[prop(into)] message: String) -> impl IntoView {
    view! { <div class="alert alert-error" role="alert">{message}</div> }
}

/// Loading text.
#[component]
pub fn Loading(#[prop(into, default = "Loading…".to_string())] text: String) -> impl IntoView {
    view! { <p class="state state-loading" role="status">{text}</p> }
}

//! What every page shares with the app around it: who is logged in, the title, the
//! route's id, errors and loading text, the clock, and launching a session. `app` (the
//! routes) and the pages both import it; it imports no page.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use vigil_wire::api::{AssetId, LaunchRequest, Me, RequestId};

use crate::api;
use crate::term::estimate_size;

/// Who is logged in. `loaded` turns true once the first `GET /me` has answered.
#[derive(Debug, Clone, Copy)]
pub struct Auth {
    pub me: RwSignal<Option<Me>>,
    pub loaded: RwSignal<bool>,
}

impl Auth {
    pub fn username(&self) -> String {
        self.me
            .with_untracked(|m| m.as_ref().map(|m| m.username.clone()).unwrap_or_default())
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// Where the session storage keeps the address (with its fragment) a login interrupted.
const RETURN_TO_KEY: &str = "vigil.return_to";

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// Keeps `path` (which may carry a fragment, such as a share link's token) for after the
/// login: in this tab's session storage, never in a URL. The login page
/// (`public/login.js`) reads it back, under the same key, and forgets it.
pub fn keep_return_to(path: &str) {
    if let Some(s) = session_storage() {
        let _ = s.set_item(RETURN_TO_KEY, path);
    }
}

/// Sets the document title (`Vigil — …`).
pub fn set_title(title: &str) {
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        doc.set_title(&format!("{title} — Vigil"));
    }
}

/// Milliseconds from the page's high-resolution clock.
pub fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// A page for the route's `:id`, made again whenever the id changes.
pub fn for_route_id<V: IntoView + 'static>(
    page: impl Fn(String) -> V + Send + Sync + 'static,
) -> impl IntoView {
    let params = use_params_map();
    move || page(params.with(|p| p.get("id")).unwrap_or_default())
}

/// What `load` gives for the page's `id`, once (the page is made again for another id).
pub fn load_for<T, Fut>(id: &str, load: impl Fn(String) -> Fut + 'static) -> LocalResource<T>
where
    T: 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let id = id.to_string();
    LocalResource::new(move || load(id.clone()))
}

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

/// Connect: launches a session on `asset_id` (under `request_id`, if any) and opens its
/// page. `busy` is set while it runs; a failure goes to `error`.
pub fn use_connect(
    asset_id: AssetId,
    request_id: Option<RequestId>,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
) -> impl Fn() + Clone + 'static {
    let navigate = use_navigate();
    move || {
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        let (cols, rows) = estimate_size();
        spawn_local(async move {
            let launch = LaunchRequest {
                asset_id,
                request_id,
                cols,
                rows,
            };
            match api::launch(launch).await {
                Ok(l) => navigate(
                    &format!("/connect/{}", api::seg(&l.session_id)),
                    Default::default(),
                ),
                Err(e) => {
                    let _ = busy.try_set(false);
                    let _ = error.try_set(Some(format!("Could not connect: {e}")));
                }
            }
        });
    }
}

//! The app: the login it keeps, the navigation, the routes. The login page itself is
//! outside the app (`public/login.html`, served at `/login`): the app sends the browser
//! there with a full page load, and reads its login back from `GET /me` when it starts.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{Redirect, Route, Router, Routes, A};
use leptos_router::hooks::use_location;
use leptos_router::{path, MatchNestedRoutes};

use crate::api;
use crate::kiosk::{HideInKiosk, KioskActivePage, KioskPlayerPage};
use crate::pages::{
    active::ActivePage, assets::AssetsPage, audit::AuditPage, connect::ConnectPage,
    player::PlayerPage, replay::ReplayListPage, replay_player::ReplayPlayerPage,
    requests::RequestsPage, share::ShareLinkPage,
};
use crate::shell::{keep_return_to, set_title, use_auth, Auth};

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth {
        me: RwSignal::new(None),
        loaded: RwSignal::new(false),
    };
    provide_context(auth);
    api::on_unauthenticated(move || auth.me.set(None));
    spawn_local(async move {
        if let Ok(me) = api::me().await {
            auth.me.set(Some(me));
        }
        auth.loaded.set(true);
    });

    view! {
        <Router>
            <div class="app">
                <HideInKiosk><Nav/></HideInKiosk>
                <main class="content" id="main">
                    <Routes fallback=|| view! { <NotFound/> }>
                        <Route path=path!("/") view=|| view! { <Redirect path="/active"/> }/>
                        <Route path=path!("/active") view=|| view! { <Protected><ActivePage/></Protected> }/>
                        <Route path=path!("/replay") view=|| view! { <Protected><ReplayListPage/></Protected> }/>
                        <Route path=path!("/assets") view=|| view! { <Protected><AssetsPage/></Protected> }/>
                        <Route path=path!("/requests") view=|| view! { <Protected><RequestsPage/></Protected> }/>
                        <Route path=path!("/audit") view=|| view! { <Protected><AuditPage/></Protected> }/>
                        <Route path=path!("/sessions/:id") view=|| view! { <Protected><PlayerPage/></Protected> }/>
                        <Route path=path!("/replay/:id") view=|| view! { <Protected><ReplayPlayerPage/></Protected> }/>
                        <Route path=path!("/share") view=|| view! { <Protected><ShareLinkPage/></Protected> }/>
                        <BenchRoute/>
                        <Route path=path!("/connect/:id") view=|| view! { <Protected><ConnectPage/></Protected> }/>
                        <Route path=path!("/kiosk") view=|| view! { <Protected><KioskActivePage/></Protected> }/>
                        <Route path=path!("/kiosk/sessions/:id") view=|| view! { <Protected><KioskPlayerPage/></Protected> }/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthState {
    Loading,
    LoggedOut,
    LoggedIn,
}

/// Leaves the app for the login page (a full page load: it is not a route of the app).
/// `replace`: the page left behind is not kept in the history (it would only send the
/// browser back to the login page).
fn go_to_login(to: &str, replace: bool) {
    if let Some(location) = web_sys::window().map(|w| w.location()) {
        let done = if replace {
            location.replace(to)
        } else {
            location.assign(to)
        };
        if let Err(error) = done {
            leptos::logging::error!("could not open the login page: {error:?}");
        }
    }
}

/// Shows its children only to a logged-in user; otherwise sends them to the login
/// page with `next` set to where they were going.
#[component]
fn Protected(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    let state = Memo::new(move |_| {
        if !auth.loaded.get() {
            AuthState::Loading
        } else if auth.me.with(Option::is_some) {
            AuthState::LoggedIn
        } else {
            AuthState::LoggedOut
        }
    });
    let location = use_location();
    move || match state.get() {
        AuthState::Loading => {
            view! { <p class="state state-loading" role="status">"Loading…"</p> }.into_any()
        }
        AuthState::LoggedOut => {
            let here = format!(
                "{}{}",
                location.pathname.get_untracked(),
                location.search.get_untracked()
            );
            // A fragment (a share link's token) never goes into `next`, a query string:
            // the session storage keeps it until the login page returns here.
            let hash = web_sys::window()
                .and_then(|w| w.location().hash().ok())
                .unwrap_or_default();
            if hash.len() > 1 {
                keep_return_to(&format!("{here}{hash}"));
            }
            let to = format!(
                "/login?next={}",
                String::from(js_sys::encode_uri_component(&here))
            );
            go_to_login(&to, true);
            view! { <p class="state state-loading" role="status">"Loading…"</p> }.into_any()
        }
        AuthState::LoggedIn => children().into_any(),
    }
}

/// The top bar. On narrow screens (CSS, `base.css`) the links and the user's part fold
/// into the panel that **Menu** opens (`aria-expanded`, `aria-controls`); Escape closes
/// it and gives the focus back to Menu, and so does choosing a link. On wide screens
/// Menu is hidden and the panel is always shown.
#[component]
fn Nav() -> impl IntoView {
    let auth = use_auth();
    let busy = RwSignal::new(false);
    let open = RwSignal::new(false);
    let menu = NodeRef::<leptos::html::Button>::new();
    let close = move || {
        if open.get_untracked() {
            open.set(false);
            if let Some(b) = menu.get_untracked() {
                let _ = b.focus();
            }
        }
    };
    // Any change of page (a link, Back) closes it.
    let location = use_location();
    Effect::new(move |_| {
        location.pathname.track();
        open.set(false);
    });
    let logout = move |_| {
        busy.set(true);
        spawn_local(async move {
            // Whatever the relay answers, the user wanted out: forget them locally.
            let _ = api::logout().await;
            api::set_csrf("");
            busy.set(false);
            go_to_login("/login", false);
        });
    };
    let logout = StoredValue::new_local(logout);
    move || {
        auth.me.get().map(|me| {
            let name = if me.display_name.trim().is_empty() { me.username.clone() } else { me.display_name.clone() };
            let role = if me.is_admin {
                "Administrator"
            } else if me.is_isa {
                "ISA"
            } else if me.is_reviewer {
                "Reviewer"
            } else {
                "User"
            };
            view! {
                <header class="topbar" on:keydown=move |ev| {
                    if ev.key() == "Escape" && open.get_untracked() {
                        ev.prevent_default();
                        close();
                    }
                }>
                    <a class="skip-link" href="#main">"Skip to content"</a>
                    <span class="brand">
                        <img src=crate::assets::Asset::Logo.url() alt="" width="20" height="20"/>
                        "Vigil"
                    </span>
                    <button
                        type="button"
                        class="btn btn-ghost nav-toggle"
                        data-testid="nav-menu"
                        aria-controls="nav-panel"
                        aria-expanded=move || open.get().to_string()
                        node_ref=menu
                        on:click=move |_| open.update(|o| *o = !*o)
                    >
                        <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
                            <path fill="currentColor" d="M1 3h14v2H1zm0 4h14v2H1zm0 4h14v2H1z"/>
                        </svg>
                        "Menu"
                    </button>
                    <div id="nav-panel" class="nav-panel" class:open=move || open.get() data-testid="nav-panel">
                        <nav data-testid="nav" class="nav" aria-label="Main" on:click=move |ev| {
                            use wasm_bindgen::JsCast;
                            let on_link = ev
                                .target()
                                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                                .and_then(|el| el.closest("a").ok().flatten())
                                .is_some();
                            if on_link {
                                close();
                            }
                        }>
                            <A href="/active">"Active Sessions"</A>
                            <A href="/replay">"Replay Sessions"</A>
                            <A href="/assets">"Assets"</A>
                            <A href="/requests">"Requests"</A>
                            {me.is_admin.then(|| view! { <A href="/audit">"Audit"</A> })}
                        </nav>
                        <div class="who">
                            <span class="who-name" data-testid="nav-user" title=me.username.clone()>{name}</span>
                            <span class="who-role">{role}</span>
                            <button
                                type="button"
                                class="btn btn-ghost"
                                data-testid="logout"
                                disabled=move || busy.get()
                                on:click=move |ev| logout.with_value(|f| f(ev))
                            >
                                "Log out"
                            </button>
                        </div>
                    </div>
                </header>
            }
        })
    }
}

#[component]
fn NotFound() -> impl IntoView {
    set_title("Not found");
    view! {
        <section class="page">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <A href="/active">"Go to Active Sessions"</A></p>
        </section>
    }
}

/// `/bench/decode/:id`, the decode benchmark: in benchmark builds only.
#[cfg(feature = "bench")]
#[component(transparent)]
fn BenchRoute() -> impl MatchNestedRoutes + Clone + Send {
    use crate::pages::bench::BenchPage;
    view! { <Route path=path!("/bench/decode/:id") view=|| view! { <Protected><BenchPage/></Protected> }/> }
        .into_inner()
}

/// Without the benchmark, the same path is not found. A real route, not `()`: an empty
/// route in the list matches every path without consuming it, so every route after it
/// (`/connect/:id`) would be "Page not found".
#[cfg(not(feature = "bench"))]
#[component(transparent)]
fn BenchRoute() -> impl MatchNestedRoutes + Clone + Send {
    view! { <Route path=path!("/bench/decode/:id") view=NotFound/> }.into_inner()
}

//! Vigil's browser app: a Leptos client-side app compiled to wasm32.
//!
//! - [`cast`], [`util`], the stream's state machine ([`stream::state`]) and what its
//!   changes announce ([`stream::announce`]), the share links' forms and texts
//!   ([`sharing`]), Active Sessions' selection ([`selection`]), the focus escape chord
//!   ([`focus_escape`]), the kiosk's paths, idle timer and keyboard-lock words ([`kiosk`])
//!   and the desktop's input mapping and recording reader are pure and build natively
//!   (`cargo test -p vigil-app --lib`).
//! - Everything else touches the DOM and only builds for `wasm32`:
//!   `api` (REST through gloo-net), `ws` (WebSockets framed by `vigil_wire::codec`),
//!   `term` (bindings to the xterm.js UMD globals), `term_files` (loads xterm.js when a
//!   terminal is about to open), `shell` (what the pages share with
//!   the app: login, title, route id, errors), `app` (routes and navigation), `live_region` (the
//!   screen readers' announcements), the
//!   stream hook (`stream::hook`) and one module per page under `pages`.

pub mod assets;
pub mod cast;
pub mod desktop;
pub mod focus_escape;
pub mod kiosk;
pub mod selection;
pub mod sharing;
pub mod stream;
pub mod util;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod live_region;
#[cfg(target_arch = "wasm32")]
mod pages;
#[cfg(target_arch = "wasm32")]
mod shell;
#[cfg(target_arch = "wasm32")]
mod term;
#[cfg(target_arch = "wasm32")]
mod term_files;
#[cfg(target_arch = "wasm32")]
mod widgets;
#[cfg(target_arch = "wasm32")]
mod ws;

/// Entry point, run by `init()` from `boot.js`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}

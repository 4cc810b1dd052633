//! Vigil's browser app: a Leptos client-side app compiled to wasm32.
//!
//! - [`cast`], [`stream_status`] and [`util`] are pure and build natively (`cargo test -p vigil-app --lib`).
//! - Everything else touches the DOM and only builds for `wasm32`:
//!   `api` (REST through gloo-net), `ws` (WebSockets framed by `vigil_wire::codec`),
//!   `term` (bindings to the xterm.js UMD globals), `app` (routes, auth, navigation)
//!   and one module per page under `pages`.

pub mod cast;
pub mod desktop;
pub mod stream_status;
pub mod util;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod pages;
#[cfg(target_arch = "wasm32")]
mod term;
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

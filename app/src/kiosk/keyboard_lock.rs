//! The Keyboard Lock API on a desktop session in the kiosk: in full screen, the page
//! asks `navigator.keyboard.lock()` so that Alt+Tab, the Windows key and Escape reach the
//! page instead of the browser or the system; it unlocks when the player closes. Reached
//! through `Reflect` (web-sys has the API only behind its unstable flag).

use js_sys::{Function, Promise, Reflect};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::keyboard::KeyboardLock;
use super::view::is_fullscreen;

/// `navigator.keyboard` and its method `name`, where the browser has them.
fn keyboard_method(name: &str) -> Option<(JsValue, Function)> {
    let navigator = Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).ok()?;
    let keyboard = Reflect::get(&navigator, &JsValue::from_str("keyboard")).ok()?;
    if keyboard.is_undefined() || keyboard.is_null() {
        return None;
    }
    let method = Reflect::get(&keyboard, &JsValue::from_str(name))
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    Some((keyboard, method))
}

/// The message of a rejection (a `DOMException` or an `Error`).
fn message(e: &JsValue) -> String {
    Reflect::get(e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "no reason given".into())
}

async fn lock() -> KeyboardLock {
    let Some((keyboard, lock)) = keyboard_method("lock") else {
        return KeyboardLock::Unsupported;
    };
    let promise = match lock.call0(&keyboard).map(JsCast::dyn_into::<Promise>) {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => return KeyboardLock::Failed("not a promise".into()),
        Err(e) => return KeyboardLock::Failed(message(&e)),
    };
    match JsFuture::from(promise).await {
        Ok(_) => KeyboardLock::Locked,
        Err(e) => KeyboardLock::Failed(message(&e)),
    }
}

fn unlock() {
    if let Some((keyboard, unlock)) = keyboard_method("unlock") {
        let _ = unlock.call0(&keyboard);
    }
}

/// Locks the keyboard whenever the page is in full screen, and says how it went
/// (`data-keyboard-lock`: `waiting`, `asking`, `locked`, `unsupported` or `failed`).
#[component]
pub fn KeyboardLockStatus() -> impl IntoView {
    let state = RwSignal::new(KeyboardLock::Waiting);
    let update = move || {
        if keyboard_method("lock").is_none() {
            let _ = state.try_set(KeyboardLock::Unsupported);
        } else if !is_fullscreen() {
            let _ = state.try_set(KeyboardLock::Waiting);
        } else {
            let _ = state.try_set(KeyboardLock::Asking);
            spawn_local(async move {
                let outcome = lock().await;
                let _ = state.try_set(outcome);
            });
        }
    };
    update();
    let handle = window_event_listener_untyped("fullscreenchange", move |_| update());
    on_cleanup(move || {
        handle.remove();
        unlock();
    });
    view! {
        <p class="kiosk-keys" data-testid="keyboard-lock"
            data-keyboard-lock=move || state.with(KeyboardLock::attr) role="status">
            {move || state.with(KeyboardLock::text)}
        </p>
    }
}

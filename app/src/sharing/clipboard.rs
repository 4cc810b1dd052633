//! Copy link: the Clipboard API when the page may use it, else the field selected and the
//! document's copy command. Never a pop-up.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// `obj[name]` as a function, if it is one.
fn method(obj: &JsValue, name: &str) -> Option<Function> {
    Reflect::get(obj, &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
}

/// Copies `text`; `field` (the read-only field that shows it) is selected for the
/// fallback. Whether it was copied.
pub async fn copy(text: &str, field: Option<web_sys::HtmlElement>) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let clipboard = Reflect::get(&window, &JsValue::from_str("navigator"))
        .ok()
        .and_then(|n| Reflect::get(&n, &JsValue::from_str("clipboard")).ok())
        .filter(|c| c.is_object());
    if let Some(clipboard) = clipboard {
        if let Some(write) = method(&clipboard, "writeText") {
            if let Ok(promise) = write.call1(&clipboard, &JsValue::from_str(text)) {
                if let Ok(promise) = promise.dyn_into::<js_sys::Promise>() {
                    if JsFuture::from(promise).await.is_ok() {
                        return true;
                    }
                }
            }
        }
    }
    // No Clipboard API (or it refused): select the field and copy the selection.
    let Some(field) = field else {
        return false;
    };
    let _ = field.focus();
    if let Some(select) = method(&field, "select") {
        let _ = select.call0(&field);
    }
    let Some(document) = window.document() else {
        return false;
    };
    method(&document, "execCommand")
        .and_then(|exec| exec.call1(&document, &JsValue::from_str("copy")).ok())
        .and_then(|done| done.as_bool())
        .unwrap_or(false)
}

//! xterm.js's files, loaded only when a terminal is about to open: the login page, the
//! lists and a desktop never download them.
//!
//! [`load`] adds xterm.css, xterm.js and addon-fit.js to the page (their hashed URLs from
//! [`crate::assets`]; same-origin, so the CSP's `script-src 'self'` allows them) and
//! resolves once all three have loaded. The page adds them once: every later call awaits
//! the same promise, and a failed load is tried again by the next terminal.

use std::cell::RefCell;

use js_sys::{Array, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, HtmlElement, HtmlLinkElement, HtmlScriptElement};

use crate::assets::Asset;

thread_local! {
    /// The load under way or done, shared by every terminal of the page.
    static LOADING: RefCell<Option<Promise>> = const { RefCell::new(None) };
}

/// Resolves once xterm.js, its fit addon and stylesheet are in the page; fails with a
/// message for people when one did not load.
pub async fn load() -> Result<(), String> {
    let promise = match LOADING.with_borrow(Clone::clone) {
        Some(p) => p,
        None => {
            let p = start().map_err(|e| format!("The terminal component did not load: {e:?}"))?;
            LOADING.set(Some(p.clone()));
            p
        }
    };
    match JsFuture::from(promise).await {
        Ok(_) => Ok(()),
        Err(_) => {
            // Forget the failed load so that the next terminal tries again.
            LOADING.set(None);
            Err(
                "The terminal component (xterm.js) did not load. Reload the page to try again."
                    .to_owned(),
            )
        }
    }
}

fn start() -> Result<Promise, JsValue> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let head = document
        .head()
        .ok_or_else(|| JsValue::from_str("no <head>"))?;
    // xterm.css goes before the page's own stylesheets, as if index.html linked it
    // first: terminal.css refines it.
    let css: HtmlLinkElement = document.create_element("link")?.unchecked_into();
    css.set_rel("stylesheet");
    css.set_href(&Asset::XtermCss.url());
    let first_sheet = head.query_selector("link[rel=\"stylesheet\"]")?;
    let css_loaded = loaded(&css);
    head.insert_before(&css, first_sheet.as_deref())?;
    // Not async: they run in the order they were added (xterm.js, then its addon).
    let xterm = script(&document, Asset::Xterm)?;
    let fit = script(&document, Asset::XtermFit)?;
    let (xterm_loaded, fit_loaded) = (loaded(&xterm), loaded(&fit));
    head.append_child(&xterm)?;
    head.append_child(&fit)?;
    Ok(Promise::all(&Array::of3(
        &css_loaded,
        &xterm_loaded,
        &fit_loaded,
    )))
}

fn script(document: &Document, asset: Asset) -> Result<HtmlScriptElement, JsValue> {
    let script: HtmlScriptElement = document.create_element("script")?.unchecked_into();
    script.set_async(false);
    script.set_src(&asset.url());
    Ok(script)
}

/// A promise that resolves on the element's `load` and rejects on its `error`.
fn loaded(element: &HtmlElement) -> Promise {
    let element = element.clone();
    Promise::new(&mut |resolve, reject| {
        element.set_onload(Some(&resolve));
        element.set_onerror(Some(&reject));
    })
}

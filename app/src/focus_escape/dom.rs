//! The chord in the page: reading it from a `KeyboardEvent`, moving the focus to the hint
//! beside the terminal or canvas, and the hint itself.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, KeyboardEvent};

use super::{is_escape_chord, KeyDown, CHORD};

/// The class of the hint the focus moves to.
const HINT_CLASS: &str = "focus-hint";

/// Whether `ev` (a `keydown`) completes the chord.
pub fn is_chord(ev: &KeyboardEvent) -> bool {
    let (key, code) = (ev.key(), ev.code());
    is_escape_chord(&KeyDown {
        key: &key,
        code: &code,
        ctrl: ev.ctrl_key(),
        alt: ev.alt_key(),
        shift: ev.shift_key(),
        alt_graph: ev.get_modifier_state("AltGraph"),
        repeat: ev.repeat(),
    })
}

/// For a `keydown` handler: when `ev` completes the chord, keeps it from the page and
/// the target, moves the focus out of the element it went to, and returns true.
pub fn escape_on(ev: &KeyboardEvent) -> bool {
    if !is_chord(ev) {
        return false;
    }
    ev.prevent_default();
    ev.stop_propagation();
    if let Some(el) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) {
        leave(&el);
    }
    true
}

/// Moves the focus out of `from` (a terminal's or canvas's element) to the nearest hint
/// around it, where Tab goes on through the page and Shift+Tab comes back; without a
/// hint, the focused element only loses the focus.
pub fn leave(from: &Element) {
    let mut at = from.parent_element();
    while let Some(el) = at {
        if let Ok(Some(hint)) = el.query_selector(&format!(".{HINT_CLASS}")) {
            if let Ok(hint) = hint.dyn_into::<HtmlElement>() {
                let _ = hint.focus();
                return;
            }
        }
        at = el.parent_element();
    }
    if let Some(active) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .and_then(|a| a.dyn_into::<HtmlElement>().ok())
    {
        let _ = active.blur();
    }
}

/// The line beside a terminal or the desktop canvas that says how to leave it; the focus
/// lands on it when the chord is pressed. `what`: "terminal" or "desktop".
#[component]
pub fn FocusEscapeHint(#[prop(into)] what: Signal<&'static str>) -> impl IntoView {
    view! {
        <p class=HINT_CLASS tabindex="-1" data-testid="focus-escape-hint">
            "Keyboard: press " <kbd>{CHORD}</kbd> {move || format!(" to move the focus out of the {}; Tab then goes on through the page.", what.get())}
        </p>
    }
}

//! [`DesktopView`]: the canvas of a [`Desktop`], shared by the live pages, the replay and
//! the decode benchmark, with the lock overlay, the server pointer and, for the user,
//! the input capture.

use leptos::html::Canvas as CanvasTag;
use leptos::prelude::*;
use vigil_wire::desktop::InputEvent;

use super::capture::{capture_input, Listener};
use super::engine::Desktop;
use super::pointer;

/// The desktop canvas. `on_input` (the user's view only) receives batched input while
/// `capture` is true; observers and replays pass none. The lock overlay shows while
/// `locked` is true.
#[component]
pub fn DesktopView(
    desktop: Desktop,
    testid: &'static str,
    #[prop(into)] locked: Signal<bool>,
    #[prop(into)] capture: Signal<bool>,
    #[prop(optional, into)] on_input: Option<Callback<Vec<InputEvent>>>,
) -> impl IntoView {
    let node = NodeRef::<CanvasTag>::new();
    let listeners = StoredValue::new_local(Vec::<Listener>::new());
    Effect::new(move |_| {
        let Some(el) = node.get() else { return };
        if desktop.canvas_element().is_some() {
            return;
        }
        if let Err(e) = desktop.attach(el.clone()) {
            leptos::logging::error!("desktop canvas: {e}");
            return;
        }
        if let Some(cb) = on_input {
            listeners.set_value(capture_input(&el, capture, cb));
            let _ = el.focus();
        }
    });
    on_cleanup(move || {
        listeners.set_value(Vec::new());
        desktop.detach();
    });
    let interactive = on_input.is_some();
    let overlay = if interactive {
        pointer::follow_shape(desktop, node);
        None
    } else {
        Some(pointer::overlay(desktop, node))
    };
    let label = if interactive {
        "Remote desktop: click to type and use the mouse"
    } else {
        "Remote desktop (view only)"
    };
    #[cfg(feature = "bench")]
    let stats = super::stats::hidden(desktop);
    #[cfg(not(feature = "bench"))]
    let stats = ();
    view! {
        <div class="desktop-host" class:desktop-locked=move || locked.get()>
            <canvas
                class="desktop-canvas"
                class:interactive=interactive
                data-testid=testid
                tabindex=if interactive { "0" } else { "-1" }
                aria-label=label
                // Sized by `Canvas::resize` only: setting width/height clears a canvas.
                class:sized=move || desktop.size.with(Option::is_some)
                width="0"
                height="0"
                node_ref=node
            ></canvas>
            {overlay}
            {move || desktop.size.with(Option::is_none).then(|| view! {
                <p class="desktop-waiting muted" role="status">"Waiting for the desktop…"</p>
            })}
            {move || locked.get().then(|| view! {
                <div class="lock-overlay" data-testid="lock-overlay" role="alert">
                    <svg class="lock-icon" viewBox="0 0 24 24" width="56" height="56" aria-hidden="true">
                        <path fill="currentColor" d="M12 1a5 5 0 0 0-5 5v4H6a2 2 0 0 0-2 2v9a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-9a2 2 0 0 0-2-2h-1V6a5 5 0 0 0-5-5zm-3 5a3 3 0 0 1 6 0v4H9V6zm3 8a2 2 0 0 1 1 3.73V20h-2v-2.27A2 2 0 0 1 12 14z"/>
                    </svg>
                    <p class="lock-text">{vigil_wire::RDP_LOCK_MESSAGE}</p>
                </div>
            })}
            {move || desktop.error.get().map(|e| view! {
                <p class="alert alert-error" role="alert" data-testid="desktop-error">{e}</p>
            })}
            {stats}
        </div>
    }
}

//! The user's keyboard, mouse and wheel on the desktop canvas, as batches of
//! [`InputEvent`]s (one per animation frame). Listeners are removed when dropped.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use vigil_wire::desktop::InputEvent;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{
    AddEventListenerOptions, Event, EventTarget, HtmlCanvasElement, KeyboardEvent, MouseEvent,
    WheelEvent,
};

use super::input::{key_text, scancode, to_desktop, ClientBox, WheelAcc};
use super::modifiers::{Flags, KeyEdge, ModifierSync};

/// Batches input events per animation frame (consecutive mouse moves collapse to the last).
struct Batcher {
    queue: Vec<InputEvent>,
    scheduled: bool,
    send: Callback<Vec<InputEvent>>,
}

type Shared = Rc<RefCell<Batcher>>;

fn flush(b: &Shared) {
    let events = {
        let mut b = b.borrow_mut();
        b.scheduled = false;
        std::mem::take(&mut b.queue)
    };
    if !events.is_empty() {
        let send = b.borrow().send;
        send.run(events);
    }
}

fn push(b: &Shared, ev: InputEvent) {
    let schedule = {
        let mut bm = b.borrow_mut();
        match (bm.queue.last_mut(), &ev) {
            (Some(last @ InputEvent::MouseMove { .. }), InputEvent::MouseMove { .. }) => *last = ev,
            _ => bm.queue.push(ev),
        }
        !std::mem::replace(&mut bm.scheduled, true)
    };
    if schedule {
        let b2 = b.clone();
        let cb = Closure::once_into_js(move || flush(&b2));
        let ok = web_sys::window()
            .map(|w| w.request_animation_frame(cb.unchecked_ref()).is_ok())
            .unwrap_or(false);
        if !ok {
            flush(b);
        }
    }
}

/// An event listener removed when dropped.
pub struct Listener {
    target: EventTarget,
    name: &'static str,
    f: Closure<dyn FnMut(Event)>,
}

impl Listener {
    fn new(target: &EventTarget, name: &'static str, f: impl FnMut(Event) + 'static) -> Self {
        let f = Closure::<dyn FnMut(Event)>::new(f);
        let opts = AddEventListenerOptions::new();
        // Not passive: wheel and keys are prevented from scrolling the page.
        opts.set_passive(false);
        let _ = target.add_event_listener_with_callback_and_add_event_listener_options(
            name,
            f.as_ref().unchecked_ref(),
            &opts,
        );
        Listener {
            target: target.clone(),
            name,
            f,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.name, self.f.as_ref().unchecked_ref());
    }
}

/// The modifier flags `ev` carries itself.
fn flags(ev: &KeyboardEvent) -> Flags {
    let state = |name: &str| ev.get_modifier_state(name);
    Flags {
        shift: ev.shift_key() || state("Shift"),
        control: ev.ctrl_key() || state("Control"),
        alt: ev.alt_key() || state("Alt"),
        alt_graph: state("AltGraph"),
        meta: ev.meta_key() || state("Meta"),
        caps_lock: state("CapsLock"),
        num_lock: state("NumLock"),
    }
}

/// Queues the modifier edges [`ModifierSync`] asks for.
fn push_edges(b: &Shared, edges: Vec<KeyEdge>) {
    for e in edges {
        if let Some((scancode, extended)) = scancode(e.code) {
            push(
                b,
                InputEvent::Key {
                    scancode,
                    extended,
                    down: e.down,
                    key_text: Some(e.key.to_string()),
                },
            );
        }
    }
}

fn client_box(el: &HtmlCanvasElement) -> ClientBox {
    let r = el.get_bounding_client_rect();
    ClientBox {
        left: r.left(),
        top: r.top(),
        width: r.width(),
        height: r.height(),
    }
}

/// Keyboard, mouse and wheel on the canvas → `on_input` batches, while `capture` is true.
pub fn capture_input(
    el: &HtmlCanvasElement,
    capture: Signal<bool>,
    on_input: Callback<Vec<InputEvent>>,
) -> Vec<Listener> {
    let batch: Shared = Rc::new(RefCell::new(Batcher {
        queue: Vec::new(),
        scheduled: false,
        send: on_input,
    }));
    let buttons = Rc::new(RefCell::new(0u8));
    let wheel = Rc::new(RefCell::new(WheelAcc::default()));
    let mods = Rc::new(RefCell::new(ModifierSync::default()));
    let target: &EventTarget = el.as_ref();
    let active = move || capture.try_get_untracked().unwrap_or(false);
    let release_all = {
        let (b, buttons, mods) = (batch.clone(), buttons.clone(), mods.clone());
        move || {
            *buttons.borrow_mut() = 0;
            mods.borrow_mut().reset();
            push(&b, InputEvent::ReleaseAll);
            flush(&b);
        }
    };
    let mut ls = Vec::new();

    for (name, down) in [("keydown", true), ("keyup", false)] {
        let (b, mods) = (batch.clone(), mods.clone());
        ls.push(Listener::new(target, name, move |ev| {
            let Ok(ev) = ev.dyn_into::<KeyboardEvent>() else {
                return;
            };
            if down && crate::focus_escape::dom::escape_on(&ev) {
                return;
            }
            if !active() {
                return;
            }
            let Some((sc, extended)) = scancode(&ev.code()) else {
                return;
            };
            ev.prevent_default();
            ev.stop_propagation();
            let code = ev.code();
            let flags = flags(&ev).with_typed(&ev.key());
            push_edges(&b, mods.borrow_mut().before(&code, flags));
            push(
                &b,
                InputEvent::Key {
                    scancode: sc,
                    extended,
                    down,
                    key_text: key_text(&ev.key()),
                },
            );
            push_edges(&b, mods.borrow_mut().after(&code, down));
        }));
    }

    let el2 = el.clone();
    let size = move || el2.width() > 0 && el2.height() > 0;
    let pos = {
        let el = el.clone();
        move |ev: &MouseEvent| {
            to_desktop(
                f64::from(ev.client_x()),
                f64::from(ev.client_y()),
                client_box(&el),
                u16::try_from(el.width()).unwrap_or(u16::MAX),
                u16::try_from(el.height()).unwrap_or(u16::MAX),
            )
        }
    };
    {
        let (b, pos) = (batch.clone(), pos.clone());
        let size = size.clone();
        ls.push(Listener::new(target, "mousemove", move |ev| {
            let Ok(ev) = ev.dyn_into::<MouseEvent>() else {
                return;
            };
            if !active() || !size() {
                return;
            }
            if let Some((x, y)) = pos(&ev) {
                push(&b, InputEvent::MouseMove { x, y });
            }
        }));
    }
    {
        let (b, pos, buttons, el) = (batch.clone(), pos.clone(), buttons.clone(), el.clone());
        ls.push(Listener::new(target, "mousedown", move |ev| {
            let Ok(ev) = ev.dyn_into::<MouseEvent>() else {
                return;
            };
            let _ = el.focus();
            ev.prevent_default();
            if !active() {
                return;
            }
            let button = u8::try_from(ev.button()).unwrap_or(0).min(4);
            if let Some((x, y)) = pos(&ev) {
                push(&b, InputEvent::MouseMove { x, y });
            }
            *buttons.borrow_mut() |= 1 << button;
            push(&b, InputEvent::MouseButton { button, down: true });
        }));
    }
    // Button releases are watched on the window: a drag may end outside the canvas.
    if let Some(win) = web_sys::window() {
        let (b, pos, buttons) = (batch.clone(), pos.clone(), buttons.clone());
        ls.push(Listener::new(win.as_ref(), "mouseup", move |ev| {
            let Ok(ev) = ev.dyn_into::<MouseEvent>() else {
                return;
            };
            let button = u8::try_from(ev.button()).unwrap_or(0).min(4);
            let held = *buttons.borrow() & (1 << button) != 0;
            if !held {
                return;
            }
            *buttons.borrow_mut() &= !(1 << button);
            if !active() {
                return;
            }
            if let Some((x, y)) = pos(&ev) {
                push(&b, InputEvent::MouseMove { x, y });
            }
            push(
                &b,
                InputEvent::MouseButton {
                    button,
                    down: false,
                },
            );
        }));
    }
    ls.push(Listener::new(target, "contextmenu", |ev| {
        ev.prevent_default()
    }));
    {
        let (b, wheel) = (batch.clone(), wheel.clone());
        ls.push(Listener::new(target, "wheel", move |ev| {
            let Ok(ev) = ev.dyn_into::<WheelEvent>() else {
                return;
            };
            ev.prevent_default();
            if !active() {
                return;
            }
            let (v, h) = wheel
                .borrow_mut()
                .add(ev.delta_x(), ev.delta_y(), ev.delta_mode());
            if v != 0 {
                push(
                    &b,
                    InputEvent::Wheel {
                        delta: v,
                        horizontal: false,
                    },
                );
            }
            if h != 0 {
                push(
                    &b,
                    InputEvent::Wheel {
                        delta: h,
                        horizontal: true,
                    },
                );
            }
        }));
    }
    {
        let release = release_all.clone();
        ls.push(Listener::new(target, "blur", move |_| {
            if active() {
                release();
            }
        }));
    }
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        let d2 = doc.clone();
        ls.push(Listener::new(doc.as_ref(), "visibilitychange", move |_| {
            if d2.hidden() && active() {
                release_all();
            }
        }));
    }
    ls
}

//! The desktop view shared by the live pages, the replay and the decode benchmark: a
//! [`Desktop`] (decode worker + canvas + timing stats) and the [`DesktopView`] component
//! (canvas, lock overlay, hidden stats, and for the user the input capture).

use std::cell::RefCell;
use std::rc::Rc;

use leptos::html::Canvas as CanvasTag;
use leptos::prelude::*;
use vigil_decode::protocol::PointerShape;
use vigil_decode::{DecodeStats, ToWorker};
use vigil_wire::desktop::{DesktopParams, InputEvent};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{
    AddEventListenerOptions, Event, EventTarget, HtmlCanvasElement, KeyboardEvent, MouseEvent,
    WheelEvent,
};

use super::canvas::Canvas;
use super::input::{key_text, scancode, to_desktop, ClientBox, WheelAcc};
use super::worker::{DecodeWorker, Reply};

pub fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// The worker's decode timings and the page's drawing timings, published as JSON for
/// tests and benchmarks (`decode-stats`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub decode: DecodeStats,
    /// Updates drawn on the page's main thread, and the time that took.
    pub draws: u64,
    pub draw_total_ms: f64,
    pub draw_max_ms: f64,
}

impl Stats {
    pub fn json(&self) -> String {
        let d = &self.decode;
        format!(
            r#"{{"pdus":{},"frames":{},"total_ms":{:.3},"max_ms":{:.3},"snapshots":{},"snapshot_total_ms":{:.3},"snapshot_max_ms":{:.3},"errors":{},"draws":{},"draw_total_ms":{:.3},"draw_max_ms":{:.3}}}"#,
            d.pdus,
            d.frames,
            d.total_ms,
            d.max_ms,
            d.snapshots,
            d.snapshot_total_ms,
            d.snapshot_max_ms,
            d.errors,
            self.draws,
            self.draw_total_ms,
            self.draw_max_ms
        )
    }
}

type Fence = Box<dyn FnOnce()>;

#[derive(Default)]
struct Engine {
    worker: Option<DecodeWorker>,
    canvas: Option<Canvas>,
    params: Option<DesktopParams>,
    stats: Stats,
    on_frame: Option<Callback<u32>>,
    fences: Vec<(u32, Fence)>,
    next_fence: u32,
    failed: bool,
}

impl Engine {
    fn send(&self, msg: &ToWorker<'_>) {
        if let Some(w) = &self.worker {
            w.send(msg);
        }
    }
}

/// A desktop picture, decoded by its own Web Worker and drawn on a canvas. Decodes even
/// before its canvas is mounted; attaching draws what it has.
#[derive(Clone, Copy)]
pub struct Desktop {
    engine: StoredValue<Engine, LocalStorage>,
    pub stats: RwSignal<String>,
    pub size: RwSignal<Option<(u16, u16)>>,
    /// Set when the decoder cannot run; the view shows it.
    pub error: RwSignal<Option<String>>,
    /// The server pointer: its look, and where it is (desktop pixels) when known.
    pub pointer: RwSignal<PointerLook>,
    pub pointer_at: RwSignal<Option<(u16, u16)>>,
}

/// How to show the server pointer.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PointerLook {
    /// Nothing heard yet: the browser's own arrow for the user, nothing for observers.
    #[default]
    Unknown,
    Hidden,
    Default,
    Image {
        url: String,
        hot_x: u16,
        hot_y: u16,
        width: u16,
        height: u16,
    },
}

/// A plain arrow for observers when the server asks for its default pointer.
const ARROW_URL: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='12' height='19' viewBox='0 0 12 19'%3E%3Cpath d='M.5.5v16l4-4 3 6 2-1-3-6h5.5z' fill='%23fff' stroke='%23000'/%3E%3C/svg%3E";

/// A pointer bitmap as a PNG `data:` URL (allowed by the CSP's `img-src`).
fn image_url(width: u16, height: u16, rgba: &[u8]) -> Option<String> {
    let doc = web_sys::window()?.document()?;
    let canvas: HtmlCanvasElement = doc.create_element("canvas").ok()?.dyn_into().ok()?;
    canvas.set_width(u32::from(width));
    canvas.set_height(u32::from(height));
    let ctx: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let img = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        wasm_bindgen::Clamped(rgba),
        u32::from(width),
        u32::from(height),
    )
    .ok()?;
    ctx.put_image_data(&img, 0.0, 0.0).ok()?;
    canvas.to_data_url().ok()
}

impl PointerLook {
    fn from_shape(shape: PointerShape) -> PointerLook {
        match shape {
            PointerShape::Hidden => PointerLook::Hidden,
            PointerShape::Default => PointerLook::Default,
            PointerShape::Bitmap {
                width,
                height,
                hot_x,
                hot_y,
                rgba,
            } => match image_url(width, height, &rgba) {
                Some(url) if width > 0 && height > 0 => PointerLook::Image {
                    url,
                    hot_x,
                    hot_y,
                    width,
                    height,
                },
                _ => PointerLook::Default,
            },
        }
    }

    /// The CSS `cursor` for the user's own canvas.
    fn css_cursor(&self) -> String {
        match self {
            PointerLook::Unknown | PointerLook::Default => "default".into(),
            PointerLook::Hidden => "none".into(),
            PointerLook::Image {
                url, hot_x, hot_y, ..
            } => format!("url({url}) {hot_x} {hot_y}, default"),
        }
    }
}

impl Default for Desktop {
    fn default() -> Self {
        Self::new()
    }
}

impl Desktop {
    pub fn new() -> Self {
        Desktop {
            engine: StoredValue::new_local(Engine::default()),
            stats: RwSignal::new(Stats::default().json()),
            size: RwSignal::new(None),
            error: RwSignal::new(None),
            pointer: RwSignal::new(PointerLook::Unknown),
            pointer_at: RwSignal::new(None),
        }
    }

    /// Starts the worker (and the fetch and compile of its wasm) ahead of the first
    /// activation. Called by itself on first use; a terminal session never starts one.
    pub fn prepare(&self) {
        if self.engine.with_value(|e| e.worker.is_some()) {
            return;
        }
        let desktop = *self;
        match DecodeWorker::spawn(move |reply| desktop.on_reply(reply)) {
            Ok(w) => self.engine.update_value(|e| e.worker = Some(w)),
            Err(e) => {
                let _ = self.error.try_set(Some(e));
            }
        }
    }

    fn on_reply(self, reply: Reply) {
        let (update, pixels, at) = match reply {
            Reply::Update { update, pixels, at } => (update, pixels, at),
            Reply::Failed(why) => {
                leptos::logging::error!("desktop decoder: {why}");
                let _ = self.error.try_set(Some(why));
                // Nothing more will be drawn: release whoever waits for a fence.
                let waiting = self
                    .engine
                    .try_update_value(|e| {
                        e.failed = true;
                        std::mem::take(&mut e.fences)
                    })
                    .unwrap_or_default();
                for (_, f) in waiting {
                    f();
                }
                return;
            }
        };
        let t0 = perf_now();
        let Some((on_frame, fence)) = self.engine.try_update_value(|e| {
            if let Some(c) = &e.canvas {
                if update.width > 0 && update.height > 0 {
                    c.resize(update.width, update.height);
                }
                c.draw(&update.rects, &pixels, at);
            }
            let ms = perf_now() - t0;
            e.stats.decode = update.stats;
            if !update.rects.is_empty() {
                e.stats.draws += 1;
                e.stats.draw_total_ms += ms;
                e.stats.draw_max_ms = e.stats.draw_max_ms.max(ms);
            }
            let fence = update.fence.and_then(|token| {
                let i = e.fences.iter().position(|(t, _)| *t == token)?;
                Some(e.fences.swap_remove(i).1)
            });
            (update.frame.and(e.on_frame), fence)
        }) else {
            return;
        };
        self.publish();
        if let Some(shape) = update.pointer {
            let _ = self.pointer.try_set(PointerLook::from_shape(shape));
        }
        if let Some(at) = update.pointer_at {
            let _ = self.pointer_at.try_set(Some(at));
        }
        if let (Some(cb), Some(frame)) = (on_frame, update.frame) {
            cb.run(frame);
        }
        if let Some(f) = fence {
            f();
        }
    }

    pub fn attach(&self, el: HtmlCanvasElement) -> Result<(), String> {
        let canvas = Canvas::new(el)?;
        self.engine.update_value(|e| {
            if let Some(p) = &e.params {
                canvas.resize(p.width, p.height);
            }
            e.canvas = Some(canvas);
            e.send(&ToWorker::Redraw);
        });
        Ok(())
    }

    pub fn detach(&self) {
        let _ = self.engine.try_update_value(|e| e.canvas = None);
    }

    pub fn canvas_element(&self) -> Option<HtmlCanvasElement> {
        self.engine
            .try_with_value(|e| e.canvas.as_ref().map(|c| c.element().clone()))
            .flatten()
    }

    /// Called with each frame id once that frame is decoded and drawn (the user's page
    /// reports these to the relay, which paces the server's acknowledgements on them).
    pub fn on_frame(&self, cb: Callback<u32>) {
        self.engine.update_value(|e| e.on_frame = Some(cb));
    }

    /// (Re)builds the decoder for `params` (a blank picture until the next snapshot).
    pub fn activate(&self, params: &DesktopParams) {
        self.prepare();
        self.engine.update_value(|e| {
            e.params = Some(params.clone());
            e.send(&ToWorker::Activate(params.clone()));
        });
        let _ = self.size.try_set(Some((params.width, params.height)));
    }

    pub fn params(&self) -> Option<DesktopParams> {
        self.engine.try_with_value(|e| e.params.clone()).flatten()
    }

    /// Queues one Graphics PDU; `frame` is the frame it ends, if any.
    pub fn graphics(&self, pdu: &[u8], frame: Option<u32>) {
        let _ = self
            .engine
            .try_with_value(|e| e.send(&ToWorker::Graphics { frame, pdu }));
    }

    /// Queues a `DesktopSnapshot` / keyframe.
    pub fn snapshot(&self, zlib: &[u8]) {
        let _ = self
            .engine
            .try_with_value(|e| e.send(&ToWorker::Snapshot(zlib)));
    }

    /// While quiet, decoding does not draw; leaving quiet draws the whole picture once.
    pub fn set_quiet(&self, quiet: bool) {
        let _ = self
            .engine
            .try_with_value(|e| e.send(&ToWorker::Quiet(quiet)));
    }

    /// Runs `then` once everything queued so far is decoded and drawn.
    pub fn fence(&self, then: impl FnOnce() + 'static) {
        let then: Fence = Box::new(then);
        let idle = self.engine.try_update_value(|e| {
            if e.worker.is_none() || e.failed {
                return Some(then);
            }
            e.next_fence = e.next_fence.wrapping_add(1);
            let token = e.next_fence;
            e.fences.push((token, then));
            e.send(&ToWorker::Fence(token));
            None
        });
        // Nothing is queued without a worker.
        if let Some(Some(then)) = idle {
            then();
        }
    }

    /// A future that resolves once everything queued so far is decoded and drawn.
    pub async fn drawn(&self) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            self.fence(move || {
                let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
            });
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    pub fn current_stats(&self) -> Stats {
        self.engine.with_value(|e| e.stats)
    }

    fn publish(&self) {
        if let Some(json) = self.engine.try_with_value(|e| e.stats.json()) {
            let _ = self.stats.try_set(json);
        }
    }
}

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
struct Listener {
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
fn capture_input(
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
    let target: &EventTarget = el.as_ref();
    let active = move || capture.try_get_untracked().unwrap_or(false);
    let release_all = {
        let (b, buttons) = (batch.clone(), buttons.clone());
        move || {
            *buttons.borrow_mut() = 0;
            push(&b, InputEvent::ReleaseAll);
            flush(&b);
        }
    };
    let mut ls = Vec::new();

    for (name, down) in [("keydown", true), ("keyup", false)] {
        let b = batch.clone();
        ls.push(Listener::new(target, name, move |ev| {
            let Ok(ev) = ev.dyn_into::<KeyboardEvent>() else {
                return;
            };
            if !active() {
                return;
            }
            let Some((sc, extended)) = scancode(&ev.code()) else {
                return;
            };
            ev.prevent_default();
            ev.stop_propagation();
            push(
                &b,
                InputEvent::Key {
                    scancode: sc,
                    extended,
                    down,
                    key_text: key_text(&ev.key()),
                },
            );
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
    if interactive {
        // The user moves their own pointer; the server only chooses its shape.
        Effect::new(move |_| {
            let cursor = desktop.pointer.with(PointerLook::css_cursor);
            if let Some(el) = node.get() {
                let _ = web_sys::HtmlElement::style(&el).set_property("cursor", &cursor);
            }
        });
    }
    // Observers and replays draw the pointer over the canvas, where the user points.
    let overlay = move || {
        if interactive {
            return None;
        }
        let (x, y) = desktop.pointer_at.get()?;
        let (url, hot_x, hot_y, w, h) = desktop.pointer.with(|p| match p {
            PointerLook::Image {
                url,
                hot_x,
                hot_y,
                width,
                height,
            } => Some((url.clone(), *hot_x, *hot_y, *width, *height)),
            PointerLook::Default => Some((ARROW_URL.to_string(), 0, 0, 12, 19)),
            PointerLook::Unknown | PointerLook::Hidden => None,
        })?;
        let el = node.get()?;
        desktop.size.track();
        let scale = f64::from(el.offset_width()) / f64::from(el.width().max(1));
        let left = f64::from(el.offset_left()) + (f64::from(x) - f64::from(hot_x)) * scale;
        let top = f64::from(el.offset_top()) + (f64::from(y) - f64::from(hot_y)) * scale;
        let style = format!(
            "left:{left:.1}px;top:{top:.1}px;width:{:.1}px;height:{:.1}px",
            f64::from(w) * scale,
            f64::from(h) * scale
        );
        Some(view! {
            <img class="pointer-overlay" data-testid="pointer-overlay" alt="" src=url style=style
                data-x=x data-y=y/>
        })
    };
    let label = if interactive {
        "Remote desktop: click to type and use the mouse"
    } else {
        "Remote desktop (view only)"
    };
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
            <div hidden data-testid="decode-stats">{move || desktop.stats.get()}</div>
        </div>
    }
}

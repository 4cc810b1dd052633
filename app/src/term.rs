//! Thin bindings to the xterm.js 6 UMD globals (`Terminal`, `FitAddon.FitAddon`),
//! loaded by `index.html` as classic scripts, plus a small owning wrapper.
//!
//! The DOM renderer (xterm's default) is used on purpose: tests read `.xterm-rows`.

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

use crate::focus_escape;

#[wasm_bindgen]
extern "C" {
    /// `Terminal` from `@xterm/xterm`.
    #[derive(Clone)]
    pub type Terminal;

    #[wasm_bindgen(constructor, catch)]
    fn new(options: &JsValue) -> Result<Terminal, JsValue>;

    #[wasm_bindgen(method)]
    fn open(this: &Terminal, parent: &HtmlElement);

    #[wasm_bindgen(method, js_name = write)]
    fn write_str(this: &Terminal, data: &str);

    #[wasm_bindgen(method, js_name = write)]
    fn write_u8(this: &Terminal, data: &Uint8Array);

    #[wasm_bindgen(method)]
    fn reset(this: &Terminal);

    #[wasm_bindgen(method)]
    fn focus(this: &Terminal);

    #[wasm_bindgen(method)]
    fn resize(this: &Terminal, cols: u16, rows: u16);

    #[wasm_bindgen(method)]
    fn dispose(this: &Terminal);

    #[wasm_bindgen(method, js_name = loadAddon)]
    fn load_addon(this: &Terminal, addon: &JsValue);

    #[wasm_bindgen(method, js_name = onData)]
    fn on_data(this: &Terminal, cb: &js_sys::Function) -> Disposable;

    #[wasm_bindgen(method, js_name = onResize)]
    fn on_resize(this: &Terminal, cb: &js_sys::Function) -> Disposable;

    #[wasm_bindgen(method, getter)]
    fn cols(this: &Terminal) -> u16;

    #[wasm_bindgen(method, getter)]
    fn rows(this: &Terminal) -> u16;

    #[wasm_bindgen(method, getter)]
    fn options(this: &Terminal) -> Object;

    /// Called before xterm.js handles each key event; `false` keeps it from xterm.js.
    #[wasm_bindgen(method, js_name = attachCustomKeyEventHandler)]
    fn attach_custom_key_event_handler(this: &Terminal, cb: &js_sys::Function);

    /// `IDisposable`.
    pub type Disposable;

    #[wasm_bindgen(method, js_name = dispose)]
    fn dispose_it(this: &Disposable);
}

#[wasm_bindgen(js_namespace = FitAddon)]
extern "C" {
    /// `FitAddon.FitAddon` from `@xterm/addon-fit`.
    #[wasm_bindgen(js_name = FitAddon)]
    #[derive(Clone)]
    pub type Fit;

    #[wasm_bindgen(constructor, js_class = FitAddon, catch)]
    fn new() -> Result<Fit, JsValue>;

    #[wasm_bindgen(method, js_class = FitAddon)]
    fn fit(this: &Fit);
}

#[derive(Debug, Clone, Copy)]
pub struct TermOptions {
    pub read_only: bool,
    pub font_size: u16,
    pub cursor_blink: bool,
}

impl TermOptions {
    /// The user's own terminal: typing goes to the target, the cursor blinks.
    pub fn interactive() -> Self {
        TermOptions {
            read_only: false,
            font_size: 14,
            cursor_blink: true,
        }
    }

    /// Watching or replaying: nothing typed, a still cursor.
    pub fn read_only() -> Self {
        TermOptions {
            read_only: true,
            font_size: 14,
            cursor_blink: false,
        }
    }
}

/// An xterm.js terminal opened in an element, with its addons and listeners.
/// Dropping it disposes the terminal and detaches everything.
pub struct Term {
    term: Terminal,
    _fit: Option<Fit>,
    observer: Option<web_sys::ResizeObserver>,
    disposables: Vec<Disposable>,
    _closures: Vec<Box<dyn std::any::Any>>,
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

impl Term {
    /// Opens a terminal in `parent`. Fails (with a message for people) when xterm.js
    /// did not load. The focus escape chord (`crate::focus_escape`) moves the focus out
    /// of it, to the hint beside `parent`; xterm.js never sees that key.
    pub fn open(parent: &HtmlElement, opts: TermOptions) -> Result<Term, String> {
        let options = Object::new();
        set(&options, "disableStdin", opts.read_only);
        set(&options, "cursorBlink", opts.cursor_blink);
        set(&options, "fontSize", opts.font_size);
        set(
            &options,
            "fontFamily",
            "ui-monospace, 'DejaVu Sans Mono', 'Liberation Mono', Menlo, Consolas, monospace",
        );
        set(&options, "scrollback", 5000);
        set(&options, "allowProposedApi", false);
        let theme = Object::new();
        set(&theme, "background", "#0d1117");
        set(&theme, "foreground", "#e6edf3");
        set(
            &theme,
            "cursor",
            if opts.read_only { "#0d1117" } else { "#e6edf3" },
        );
        set(&options, "theme", theme);
        let term = Terminal::new(&options)
            .map_err(|e| format!("The terminal component (xterm.js) did not load: {e:?}"))?;
        term.open(parent);
        let escape = Closure::<dyn FnMut(web_sys::KeyboardEvent) -> bool>::new(
            |ev: web_sys::KeyboardEvent| {
                !(ev.type_() == "keydown" && focus_escape::dom::escape_on(&ev))
            },
        );
        term.attach_custom_key_event_handler(escape.as_ref().unchecked_ref());
        Ok(Term {
            term,
            _fit: None,
            observer: None,
            disposables: Vec::new(),
            _closures: vec![Box::new(escape)],
        })
    }

    /// Loads the fit addon and keeps the terminal sized to `parent` as it changes.
    pub fn fit_to(&mut self, parent: &HtmlElement) -> Result<(), String> {
        let fit = Fit::new().map_err(|e| format!("The terminal fit addon did not load: {e:?}"))?;
        self.term.load_addon(&fit);
        fit.fit();
        let fit2 = fit.clone();
        let cb = Closure::<dyn FnMut()>::new(move || fit2.fit());
        let observer = web_sys::ResizeObserver::new(cb.as_ref().unchecked_ref())
            .map_err(|e| format!("{e:?}"))?;
        observer.observe(parent);
        self._fit = Some(fit);
        self.observer = Some(observer);
        self._closures.push(Box::new(cb));
        Ok(())
    }

    /// Calls `cb` with what the user types (already encoded by xterm as a string).
    pub fn on_data(&mut self, cb: impl FnMut(String) + 'static) {
        let closure = Closure::<dyn FnMut(String)>::new(cb);
        self.disposables
            .push(self.term.on_data(closure.as_ref().unchecked_ref()));
        self._closures.push(Box::new(closure));
    }

    /// Calls `cb(cols, rows)` whenever the terminal's size changes.
    pub fn on_resize(&mut self, mut cb: impl FnMut(u16, u16) + 'static) {
        let closure = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let get = |k: &str| {
                Reflect::get(&ev, &JsValue::from_str(k))
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0) as u16
            };
            cb(get("cols"), get("rows"));
        });
        self.disposables
            .push(self.term.on_resize(closure.as_ref().unchecked_ref()));
        self._closures.push(Box::new(closure));
    }

    pub fn write(&self, text: &str) {
        if !text.is_empty() {
            self.term.write_str(text);
        }
    }

    /// Writes bytes (copied: xterm may process them later).
    pub fn write_bytes(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.term.write_u8(&Uint8Array::from(bytes));
        }
    }

    pub fn reset(&self) {
        self.term.reset();
    }

    pub fn focus(&self) {
        self.term.focus();
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        if cols > 0 && rows > 0 && (cols != self.cols() || rows != self.rows()) {
            self.term.resize(cols, rows);
        }
    }

    pub fn cols(&self) -> u16 {
        self.term.cols()
    }

    pub fn rows(&self) -> u16 {
        self.term.rows()
    }

    pub fn set_read_only(&self, read_only: bool) {
        let options = self.term.options();
        set(&options, "disableStdin", read_only);
        set(&options, "cursorBlink", !read_only);
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Some(o) = self.observer.take() {
            o.disconnect();
        }
        for d in self.disposables.drain(..) {
            d.dispose_it();
        }
        self.term.dispose();
    }
}

/// A first guess at the terminal size for `POST /sessions`, from the window size and
/// the font metrics the terminal uses; the connect page fits and sends `Resize` anyway.
pub fn estimate_size() -> (u16, u16) {
    let Some(w) = web_sys::window() else {
        return (80, 24);
    };
    let px = |v: Result<JsValue, JsValue>| v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
    let (width, height) = (px(w.inner_width()), px(w.inner_height()));
    // 14px monospace: about 8.4px by 17px a cell; minus the nav and status bar.
    let cols = ((width - 24.0) / 8.4).floor().clamp(40.0, 400.0) as u16;
    let rows = ((height - 120.0) / 17.0).floor().clamp(10.0, 200.0) as u16;
    (cols, rows)
}

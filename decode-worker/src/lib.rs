//! The RDP decode Web Worker: [`vigil_decode::Engine`] behind `postMessage`.
//!
//! `decode-worker.js` (a module worker) loads this wasm and calls [`run`] with the messages
//! that arrived while it loaded. Each message is an `ArrayBuffer` (a `ToWorker`); each
//! reply is an `ArrayBuffer` (an `Update` and its pixels), transferred, not copied. A
//! string reply is a fatal error for the page to show.

#[cfg(target_arch = "wasm32")]
mod glue {
    use std::cell::RefCell;
    use std::rc::Rc;

    use js_sys::{Array, ArrayBuffer, Uint8Array};
    use vigil_decode::Engine;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

    fn handle(engine: &RefCell<Engine>, scope: &DedicatedWorkerGlobalScope, data: &JsValue) {
        let Some(buf) = data.dyn_ref::<ArrayBuffer>() else {
            web_sys::console::warn_1(&"decode worker: ignored a message that is not bytes".into());
            return;
        };
        let msg = Uint8Array::new(buf).to_vec();
        let perf = scope.performance();
        let mut now = || perf.as_ref().map_or(0.0, |p| p.now());
        let reply = engine.borrow_mut().handle(&msg, &mut now);
        match reply {
            Ok(Some(bytes)) => {
                let out = Uint8Array::from(bytes.as_slice());
                let buffer = out.buffer();
                if let Err(e) = scope.post_message_with_transfer(&buffer, &Array::of1(&buffer)) {
                    web_sys::console::error_2(&"decode worker: postMessage failed".into(), &e);
                }
            }
            Ok(None) => {}
            Err(e) => web_sys::console::warn_1(&format!("decode worker: {e}").into()),
        }
    }

    /// Takes over the worker's messages; `early` holds those that arrived while loading.
    #[wasm_bindgen]
    pub fn run(early: Array) {
        console_error_panic_hook::set_once();
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let engine = Rc::new(RefCell::new(Engine::new()));
        for data in early.iter() {
            handle(&engine, &scope, &data);
        }
        let s2 = scope.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            handle(&engine, &s2, &ev.data());
        });
        scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The handler lives as long as the worker.
        on_message.forget();
    }
}

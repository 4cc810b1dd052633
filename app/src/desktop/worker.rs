//! The page's end of a decode worker (`decode-worker.js`, running `vigil-decode-worker`):
//! sends [`ToWorker`] messages and hands each [`Update`] back with the buffer its pixels
//! sit in. Dropping it terminates the worker.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, ArrayBuffer, Uint8Array};
use vigil_decode::{ToWorker, Update};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, MessageEvent, Worker, WorkerOptions, WorkerType};

pub enum Reply {
    /// Draw `update.rects` from `pixels`, starting at byte `at`.
    Update {
        update: Update,
        pixels: ArrayBuffer,
        at: u32,
    },
    /// The worker cannot decode (it failed to load or start); the text says why.
    Failed(String),
}

pub struct DecodeWorker {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

/// Reads one worker message: an update buffer, or a string saying the worker failed.
fn read(data: JsValue) -> Reply {
    if let Some(text) = data.as_string() {
        return Reply::Failed(text);
    }
    let Ok(buf) = data.dyn_into::<ArrayBuffer>() else {
        return Reply::Failed("the desktop decoder sent an unexpected message".into());
    };
    let total = buf.byte_length();
    let bytes = |from: u32, len: u32| -> Option<Vec<u8>> {
        (from.checked_add(len)? <= total)
            .then(|| Uint8Array::new_with_byte_offset_and_length(&buf, from, len).to_vec())
    };
    let parsed = bytes(0, Update::LEN_PREFIX as u32)
        .and_then(|prefix| Update::header_len(&prefix).ok())
        .and_then(|len| u32::try_from(len).ok())
        .and_then(|len| Some((bytes(0, len)?, len)))
        .and_then(|(header, len)| Some((Update::decode_header(&header).ok()?, len)));
    match parsed {
        Some((update, at)) => {
            let pixels: usize = update.pixel_lens().sum();
            if u64::from(at) + pixels as u64 > u64::from(total) {
                return Reply::Failed("the desktop decoder sent a short update".into());
            }
            Reply::Update {
                update,
                pixels: buf,
                at,
            }
        }
        None => Reply::Failed("the desktop decoder sent a malformed update".into()),
    }
}

impl DecodeWorker {
    pub fn spawn(on_reply: impl FnMut(Reply) + 'static) -> Result<DecodeWorker, String> {
        let opts = WorkerOptions::new();
        opts.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(&crate::assets::Asset::DecodeWorker.url(), &opts)
            .map_err(|e| format!("cannot start the desktop decoder: {e:?}"))?;
        let on_reply = Rc::new(RefCell::new(on_reply));
        let r2 = on_reply.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let reply = read(ev.data());
            (r2.borrow_mut())(reply);
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // A script that does not load (missing, refused by CSP) only shows as an error event.
        let on_error = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            ev.prevent_default();
            (on_reply.borrow_mut())(Reply::Failed("The desktop decoder failed to load.".into()));
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(DecodeWorker {
            worker,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    pub fn send(&self, msg: &ToWorker<'_>) {
        let bytes = Uint8Array::from(msg.encode().as_slice());
        let buffer = bytes.buffer();
        if let Err(e) = self
            .worker
            .post_message_with_transfer(&buffer, &Array::of1(&buffer))
        {
            leptos::logging::error!("desktop decoder: postMessage failed: {e:?}");
        }
    }
}

impl Drop for DecodeWorker {
    fn drop(&mut self) {
        // Detach the handlers first: a reply already queued must not reach a dropped closure.
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

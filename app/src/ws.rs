//! WebSockets to the relay: `web_sys::WebSocket` carrying `vigil_wire::codec::Frame`s.
//!
//! A [`Socket`] owns its JS callbacks; dropping it detaches them and closes the
//! socket, so no callback runs after its page is gone. Never drop a `Socket` from
//! inside its own event handler: defer that (the pages replace sockets from timers
//! or user actions only).

use std::cell::RefCell;
use std::rc::Rc;

use vigil_wire::codec::Frame;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

#[derive(Debug, Clone, PartialEq)]
pub enum SocketEvent {
    Open,
    Frame(Frame),
    /// The socket closed (or could not open: a refused upgrade looks the same).
    Closed {
        code: u16,
        reason: String,
        was_open: bool,
    },
}

pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

fn absolute_url(path: &str) -> String {
    let loc = web_sys::window().map(|w| w.location());
    let protocol = loc
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .unwrap_or_default();
    let host = loc.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
    crate::util::ws_url(&protocol, &host, path)
}

impl Socket {
    /// Opens a socket to an API path (`/api/v1/...`) on the page's own origin.
    pub fn connect(
        path: &str,
        on_event: impl FnMut(SocketEvent) + 'static,
    ) -> Result<Socket, String> {
        let ws = WebSocket::new(&absolute_url(path)).map_err(|e| format!("{e:?}"))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let handler = Rc::new(RefCell::new(on_event));
        let opened = Rc::new(std::cell::Cell::new(false));

        let (h, o) = (handler.clone(), opened.clone());
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_| {
            o.set(true);
            (h.borrow_mut())(SocketEvent::Open);
        });
        let h = handler.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let data = ev.data();
            let frame = if let Some(text) = data.as_string() {
                Frame::Text(text)
            } else if let Ok(buf) = data.dyn_into::<js_sys::ArrayBuffer>() {
                Frame::Binary(js_sys::Uint8Array::new(&buf).to_vec())
            } else {
                return;
            };
            (h.borrow_mut())(SocketEvent::Frame(frame));
        });
        let (h, o) = (handler, opened);
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            (h.borrow_mut())(SocketEvent::Closed {
                code: ev.code(),
                reason: ev.reason(),
                was_open: o.get(),
            });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }

    /// Sends a frame if the socket is open; returns whether it was sent.
    pub fn send(&self, frame: &Frame) -> bool {
        if !self.is_open() {
            return false;
        }
        match frame {
            Frame::Text(t) => self.ws.send_with_str(t).is_ok(),
            Frame::Binary(b) => self.ws.send_with_u8_array(b).is_ok(),
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let state = self.ws.ready_state();
        if state == WebSocket::CONNECTING || state == WebSocket::OPEN {
            let _ = self.ws.close_with_code(1000);
        }
    }
}

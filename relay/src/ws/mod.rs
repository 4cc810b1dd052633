//! The WebSockets: a session's stream (`session`) and the Active Sessions feed (`feed`).
//!
//! Both refuse the upgrade (403) unless the Origin is the relay's own, and decide
//! everything through `policy` before upgrading.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use vigil_wire::codec::Frame;
use vigil_wire::live::{ServerControl, ServerMsg};

use crate::auth;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub mod feed;
pub mod session;
pub mod watching;

const MAX_FRAME: usize = 1024 * 1024;
/// Each socket's read buffer, allocated (and zeroed) at the upgrade and held for the
/// socket's life: two per watched session. What a browser sends is small (keys, pointer
/// moves, frame acknowledgements); a larger frame (a paste) still arrives whole, the
/// buffer growing for it. (The WebSocket library's default is 128 KiB.)
const READ_BUFFER: usize = 2 * 1024;

pub(super) fn check_origin(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    match auth::origin_matches(state, headers) {
        Some(true) => Ok(()),
        _ => Err(AppError::Origin),
    }
}

pub(super) fn upgrade(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> AppResult<WebSocketUpgrade> {
    ws.map(|w| {
        w.max_message_size(MAX_FRAME)
            .max_frame_size(MAX_FRAME)
            .read_buffer_size(READ_BUFFER)
    })
    .map_err(|_| AppError::BadRequest("expected a WebSocket upgrade".into()))
}

pub(super) fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(t) => Message::Text(t.into()),
        Frame::Binary(b) => Message::Binary(b.into()),
    }
}

pub(super) async fn close(socket: &mut WebSocket) {
    let _ = socket.send(Message::Close(None)).await;
}

pub(super) async fn send(socket: &mut WebSocket, msg: &ServerMsg) -> bool {
    socket.send(to_message(msg.encode())).await.is_ok()
}

pub(super) async fn send_control(socket: &mut WebSocket, c: ServerControl) -> bool {
    send(socket, &ServerMsg::Control(c)).await
}

/// The next data frame from the peer; `None` when the socket is closed.
pub(super) async fn next_frame(socket: &mut WebSocket) -> Option<Frame> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(t)) => return Some(Frame::Text(t.to_string())),
            Ok(Message::Binary(b)) => return Some(Frame::Binary(b.to_vec())),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
        }
    }
}

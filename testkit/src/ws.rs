//! WebSockets that keep every frame they receive ([`WsRecorder`]), opened by an [`Api`]
//! client with its cookie: the session stream and the live feed as a browser speaks them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite;
use vigil_wire::codec::Frame;

use crate::api::Api;
use crate::POLL;

impl Api {
    /// Opens a WebSocket at `path` with this user's cookie and the relay's own Origin;
    /// `hello` sends the protocol's `Hello` first. Every frame received is kept.
    pub async fn ws(&self, path: &str, hello: bool) -> Result<WsRecorder> {
        match self.ws_try(path, hello).await? {
            Ok(ws) => Ok(ws),
            Err(status) => bail!("WebSocket {path} refused with HTTP {status}"),
        }
    }

    /// Opens session `sid`'s stream (with `Hello`) and waits up to `within` for the
    /// relay's `Welcome`.
    pub async fn session_stream(&self, sid: &str, within: Duration) -> Result<WsRecorder> {
        let stream = self
            .ws(&format!("/api/v1/sessions/{sid}/stream"), true)
            .await?;
        stream
            .wait_control("Welcome", within, |c| {
                matches!(c, vigil_wire::live::ServerControl::Welcome { .. })
            })
            .await?;
        Ok(stream)
    }

    /// Requests access to the SSH asset `asset` (a Smart Rule that approves at once),
    /// launches a session under the request and opens its stream; returns the session's
    /// id and the stream once the shell prompts (`$`).
    pub async fn launch_ssh_by_request(
        &self,
        asset: &str,
        reason: &str,
    ) -> Result<(String, WsRecorder)> {
        use vigil_wire::api::{AccessRequest, Launched, RequestStatus};
        let asset_id = self.asset_id(asset).await?;
        let req: AccessRequest = self
            .post(
                "/api/v1/requests",
                &serde_json::json!({"asset_id": asset_id, "reason": reason, "duration_minutes": 30}),
            )
            .await?;
        anyhow::ensure!(
            req.status == RequestStatus::Approved,
            "the request is {:?}, not auto-approved",
            req.status
        );
        let launched: Launched = self
            .post(
                "/api/v1/sessions",
                &serde_json::json!({"asset_id": asset_id, "request_id": req.id, "cols": 100, "rows": 30}),
            )
            .await?;
        let sid = launched.session_id;
        let stream = self
            .ws(&format!("/api/v1/sessions/{sid}/stream"), true)
            .await?;
        stream.wait_output("$", Duration::from_secs(20)).await?;
        Ok((sid, stream))
    }

    /// Like [`Api::ws`], but a refused upgrade is `Ok(Err(status))`.
    pub async fn ws_try(
        &self,
        path: &str,
        hello: bool,
    ) -> Result<std::result::Result<WsRecorder, u16>> {
        let origin = self.base.clone();
        self.ws_try_origin(path, hello, &origin).await
    }

    /// Like [`Api::ws_try`], with another `Origin` header.
    pub async fn ws_try_origin(
        &self,
        path: &str,
        hello: bool,
        origin: &str,
    ) -> Result<std::result::Result<WsRecorder, u16>> {
        use tungstenite::client::IntoClientRequest as _;
        let ws_url = format!("{}{path}", self.base.replacen("http", "ws", 1));
        let mut req = ws_url.as_str().into_client_request()?;
        req.headers_mut().insert("Origin", origin.parse()?);
        if let Some(cookie) = self.cookie_header() {
            req.headers_mut().insert("Cookie", cookie.parse()?);
        }
        let (socket, _) = match tokio_tungstenite::connect_async(req).await {
            Ok(ok) => ok,
            Err(tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                if let Some(body) = resp.body() {
                    self.bodies.lock().expect("bodies lock").push(body.clone());
                }
                return Ok(Err(status));
            }
            Err(e) => return Err(anyhow!("WebSocket {path}: {e}")),
        };
        let (mut sink, mut stream) = socket.split();
        if hello {
            let frame =
                vigil_wire::live::ClientMsg::Control(vigil_wire::live::ClientControl::Hello {
                    version: vigil_wire::PROTOCOL_VERSION,
                })
                .encode();
            sink.send(to_message(frame)).await?;
        }
        let frames = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(None));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Frame>();
        let (f2, c2) = (frames.clone(), closed.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = stream.next() => match msg {
                        Some(Ok(tungstenite::Message::Text(t))) => f2.lock().expect("frames").push(Frame::Text(t.to_string())),
                        Some(Ok(tungstenite::Message::Binary(b))) => f2.lock().expect("frames").push(Frame::Binary(b.to_vec())),
                        Some(Ok(tungstenite::Message::Close(c))) => {
                            *c2.lock().expect("closed") = Some(c.map(|c| format!("{} {}", c.code, c.reason)).unwrap_or_default());
                            break;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => { *c2.lock().expect("closed") = Some(format!("error: {e}")); break; }
                        None => { *c2.lock().expect("closed") = Some("eof".into()); break; }
                    },
                    out = rx.recv() => match out {
                        Some(frame) => { if sink.send(to_message(frame)).await.is_err() { break; } }
                        None => { let _ = sink.close().await; break; }
                    },
                }
            }
        });
        Ok(Ok(WsRecorder {
            frames,
            closed,
            tx,
            task,
        }))
    }
}

fn to_message(frame: Frame) -> tungstenite::Message {
    match frame {
        Frame::Text(t) => tungstenite::Message::Text(t.into()),
        Frame::Binary(b) => tungstenite::Message::Binary(b.into()),
    }
}

/// A WebSocket whose every received frame is kept.
pub struct WsRecorder {
    frames: Arc<Mutex<Vec<Frame>>>,
    closed: Arc<Mutex<Option<String>>>,
    tx: tokio::sync::mpsc::UnboundedSender<Frame>,
    task: tokio::task::JoinHandle<()>,
}

impl WsRecorder {
    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().expect("frames").clone()
    }

    /// Frame payloads as bytes (text frames as UTF-8).
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.frames()
            .into_iter()
            .map(|f| match f {
                Frame::Text(t) => t.into_bytes(),
                Frame::Binary(b) => b,
            })
            .collect()
    }

    /// `Some(reason)` once the socket has closed.
    pub fn closed(&self) -> Option<String> {
        self.closed.lock().expect("closed").clone()
    }

    pub fn send(&self, frame: Frame) -> Result<()> {
        self.tx
            .send(frame)
            .map_err(|_| anyhow!("the WebSocket is closed"))
    }

    /// Decoded session-stream messages received so far (undecodable frames skipped).
    pub fn server_msgs(&self) -> Vec<vigil_wire::live::ServerMsg> {
        self.frames()
            .iter()
            .filter_map(|f| vigil_wire::live::ServerMsg::decode(f).ok())
            .collect()
    }

    /// All terminal bytes received (snapshots and live output), as text.
    pub fn terminal_output(&self) -> String {
        let mut out = Vec::new();
        for m in self.server_msgs() {
            match m {
                vigil_wire::live::ServerMsg::Output(b)
                | vigil_wire::live::ServerMsg::Snapshot(b) => out.extend(b),
                _ => {}
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Waits until the terminal output contains `needle`.
    pub async fn wait_output(&self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.terminal_output();
            if out.contains(needle) {
                return Ok(out);
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {needle:?} in the stream's output (closed: {:?}); output so far:\n{out}",
                    self.closed()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for a control message satisfying `pred`.
    pub async fn wait_control(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&vigil_wire::live::ServerControl) -> bool,
    ) -> Result<vigil_wire::live::ServerControl> {
        let deadline = Instant::now() + timeout;
        loop {
            for m in self.server_msgs() {
                if let vigil_wire::live::ServerMsg::Control(c) = m {
                    if pred(&c) {
                        return Ok(c);
                    }
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {what} on the stream (closed: {:?})",
                    self.closed()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Decoded feed messages received so far.
    pub fn feed_msgs(&self) -> Vec<vigil_wire::live::FeedMsg> {
        self.frames()
            .iter()
            .filter_map(|f| vigil_wire::live::FeedMsg::decode(f).ok())
            .collect()
    }

    /// Waits until a frame satisfies `pred`.
    pub async fn wait_frame(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Frame) -> bool,
    ) -> Result<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.frames().into_iter().find(|f| pred(f)) {
                return Ok(f);
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for a frame: {what}; closed: {:?}",
                    self.closed()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn close(self) {
        drop(self.tx);
        let task = self.task;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        });
    }
}

// ---------------------------------------------------------------------------------
// Secrets

//! The baseline: a bare TCP⇄WebSocket splice. A task accepts one browser-shaped WebSocket
//! and one TCP connection on loopback, then copies every read of the TCP side, unparsed,
//! into one binary frame (the wire codec's output frame, as the relay sends it) until EOF.
//! Each read takes at most `frame` bytes, so that the splice sends frames of the size the
//! relay sent (a WebSocket's cost is mostly per frame).

use anyhow::Result;
use futures_util::SinkExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use vigil_wire::codec::Frame;
use vigil_wire::live::ServerMsg;

/// A listening splice: where its source connects (TCP) and where its reader connects (WebSocket).
pub struct Splice {
    pub tcp_port: u16,
    pub ws_port: u16,
    pub task: tokio::task::JoinHandle<Result<()>>,
}

/// Starts a splice that wraps each read with `wrap` (terminal output, or a desktop PDU).
pub async fn start(frame: usize, wrap: fn(Vec<u8>) -> ServerMsg) -> Result<Splice> {
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let ws = TcpListener::bind("127.0.0.1:0").await?;
    let (tcp_port, ws_port) = (tcp.local_addr()?.port(), ws.local_addr()?.port());
    let task = tokio::spawn(async move {
        // No TCP_NODELAY: the relay does not set it on browser sockets either.
        let (sock, _) = ws.accept().await?;
        let mut ws = tokio_tungstenite::accept_async(sock).await?;
        let (mut src, _) = tcp.accept().await?;
        let mut buf = vec![0u8; frame.max(1)];
        loop {
            let n = src.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            let frame = match wrap(buf[..n].to_vec()).encode() {
                Frame::Binary(b) => Message::binary(b),
                Frame::Text(t) => Message::text(t),
            };
            ws.send(frame).await?;
        }
        ws.close(None).await.ok();
        Ok(())
    });
    Ok(Splice {
        tcp_port,
        ws_port,
        task,
    })
}
